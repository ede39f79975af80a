"""TempBalance: a learning rate per layer from its α, updated every epoch.

Zhou et al., "Temperature Balancing, Layer-wise Weight Analysis, and Neural Network
Training", NeurIPS 2023 (YefanZhou/TempBalance, ``tempbalance.py``); also the basis of
Model Balancing (Liu et al., EMNLP 2024). Layers with a smaller α (heavier-tailed, better
trained) get a lower learning rate, under-trained ones a higher one.

The analysis runs in weightscope on the in-memory model; α comes from the reference's own
estimators (``weightscope::act::reference_alpha``): the default ``pl_fitting="median"`` is
``metric="alpha_mid"``, ``"fix-finger"`` is ``metric="alpha_peak"``; ``metric="alpha"``
uses weightscope's own fit instead. The reference's ``goodness-of-fit`` search (every xmin)
is not provided. Defaults, layer-skipping rules and learning-rate maps are the reference's:

- the Conv2d and Linear layers, in module order; the first and the last are not tuned, nor
  layers with fewer than ``eigs_thresh`` = 50 eigenvalues;
- ``tb_linear_map`` (default): lr linear in α from ``lr_min_ratio``·lr at the smallest α to
  ``lr_max_ratio``·lr at the largest (0.5 and 1.5); ``tb_sqrt`` / ``tb_log2``: lr
  proportional to √α / log2 α with the same mean as lr; ``tb_step``: by the rank of α,
  lr·(lr_min_ratio + (lr_max_ratio − lr_min_ratio)·rank/n);
- a BatchNorm2d layer follows the conv layer of the same name with ``bn`` → ``conv``
  (``batchnorm_type="name"``) or the conv layer just before it (``"order"``); with
  ``layernorm=True`` a LayerNorm follows the Linear just before it;
- every other parameter is in a last group at the untuned lr.

>>> tb = TempBalance(net)
>>> opt = torch.optim.SGD(tb.param_groups(lr), lr=lr, momentum=0.9)
>>> for epoch in range(epochs):
...     train_one_epoch(net, opt)
...     tb.step(opt, lr_schedule(epoch))   # re-analyses the weights, sets each group's lr
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import _native
from ._analyze import Report

ASSIGN_FUNCS = ("tb_linear_map", "tb_sqrt", "tb_log2", "tb_step")


def layer_learning_rates(
    alphas: Any,
    untuned_lr: float,
    assign_func: str = "tb_linear_map",
    lr_min_ratio: float = 0.5,
    lr_max_ratio: float = 1.5,
) -> np.ndarray:
    """The learning rate of each layer from its α by one of TempBalance's maps (see the
    module doc)."""
    a = np.asarray(alphas, dtype=np.float64)
    n = len(a)
    if assign_func == "tb_linear_map":
        # Linear interpolation between the extreme α's; np.interp as the reference, so that
        # equal α's (a flat map) give what it gives.
        return np.interp(
            a, [a.min(), a.max()], [lr_min_ratio * untuned_lr, lr_max_ratio * untuned_lr]
        )
    if assign_func == "tb_sqrt":
        return np.sqrt(a) / np.sum(np.sqrt(a)) * n * untuned_lr
    if assign_func == "tb_log2":
        return np.log2(a) / np.sum(np.log2(a)) * n * untuned_lr
    if assign_func == "tb_step":
        rank = np.empty(n, dtype=np.int64)
        rank[np.argsort(a)] = np.arange(n)  # np.argsort's default order, as the reference
        return np.array(
            [untuned_lr * (lr_min_ratio + (lr_max_ratio - lr_min_ratio) * r / n) for r in rank]
        )
    raise ValueError(f"assign_func must be one of {ASSIGN_FUNCS}, not {assign_func!r}")


class TempBalance:
    """Per-layer learning rates from α (see the module doc for the rules).

    Args:
        net: the ``torch.nn.Module`` being trained.
        metric: "alpha_mid" (the reference's default ``median``), "alpha_peak"
            (``fix-finger``) or "alpha" (weightscope's fit).
        assign_func, lr_min_ratio, lr_max_ratio: the map (see :func:`layer_learning_rates`).
        remove_first_layer, remove_last_layer, eigs_thresh: the layers left untuned.
        batchnorm, batchnorm_type, layernorm: which norm layers follow a tuned layer.
        xmin_pos: for "alpha_mid", xmin at index ⌊N/xmin_pos⌋ of the ascending ESD.
        **options: weightscope analysis options (by default every Conv2d/Linear is analysed:
            ``min_evals=0``; convolutions pooled and scaled by 1/√2 as the reference's
            ``conv_norm=0.5``).
    """

    def __init__(
        self,
        net: Any,
        *,
        metric: str = "alpha_mid",
        assign_func: str = "tb_linear_map",
        lr_min_ratio: float = 0.5,
        lr_max_ratio: float = 1.5,
        remove_first_layer: bool = True,
        remove_last_layer: bool = True,
        eigs_thresh: int = 50,
        batchnorm: bool = True,
        batchnorm_type: str = "name",
        layernorm: bool = False,
        xmin_pos: float = 2.0,
        **options: Any,
    ) -> None:
        import torch.nn as nn

        if metric not in ("alpha_mid", "alpha_peak", "alpha"):
            raise ValueError(f"metric must be alpha_mid, alpha_peak or alpha, not {metric!r}")
        if assign_func not in ASSIGN_FUNCS:
            raise ValueError(f"assign_func must be one of {ASSIGN_FUNCS}, not {assign_func!r}")
        if batchnorm_type not in ("name", "order"):
            raise ValueError(f"batchnorm_type must be 'name' or 'order', not {batchnorm_type!r}")
        self.net = net
        self.metric = metric
        self.assign_func = assign_func
        self.lr_min_ratio = lr_min_ratio
        self.lr_max_ratio = lr_max_ratio
        self.remove_first_layer = remove_first_layer
        self.remove_last_layer = remove_last_layer
        self.eigs_thresh = eigs_thresh
        self.batchnorm = batchnorm
        self.layernorm = layernorm
        self.xmin_pos = xmin_pos
        self.options = {"min_evals": 0, **options}
        self.layers = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        # Which norm layer follows which weight layer. As the reference, "before" counts only
        # conv and batch-norm modules for batch norms, linear and layer-norm ones for layer norms.
        self.follows: dict[str, str] = {}
        prev_conv: tuple[str, type] | None = None
        prev_linear: tuple[str, type] | None = None
        for name, m in net.named_modules():
            if batchnorm and isinstance(m, nn.BatchNorm2d):
                if batchnorm_type == "name":
                    if name.replace("bn", "conv") in self.layers:
                        self.follows[name] = name.replace("bn", "conv")
                elif prev_conv is not None and prev_conv[1] is nn.Conv2d:
                    self.follows[name] = prev_conv[0]
            if layernorm and isinstance(m, nn.LayerNorm):
                if prev_linear is not None and prev_linear[1] is nn.Linear:
                    self.follows[name] = prev_linear[0]
            if isinstance(m, (nn.Conv2d, nn.BatchNorm2d)):
                prev_conv = (name, type(m))
            if isinstance(m, (nn.Linear, nn.LayerNorm)):
                prev_linear = (name, type(m))

    def layer_stats(self, untuned_lr: float) -> pd.DataFrame:
        """Analyse the net now: per Conv2d/Linear layer its α, number of eigenvalues, whether
        it is tuned, and its learning rate (the untuned lr where not tuned)."""
        import torch

        with torch.no_grad():
            rep = Report(self.net, **self.options)
        d = rep.details
        row_of = {str(n): i for i, n in enumerate(d["longname"])}
        alphas, counts = [], []
        for name in self.layers:
            i = row_of.get(f"{name}.weight" if name else "weight")
            esd = None if i is None else rep.esd(row=i)
            if esd is None:
                alphas.append(np.nan)
                counts.append(0)
                continue
            counts.append(len(esd))
            if self.metric == "alpha":
                alphas.append(float(d["alpha"].iloc[i]))
            else:
                fit = _native.reference_alpha(esd.tolist(), self.metric, self.xmin_pos)
                alphas.append(np.nan if fit is None else fit[0])
        stats = pd.DataFrame({"longname": self.layers, "alpha": alphas, "eigs_num": counts})
        tuned = np.ones(len(stats), dtype=bool)
        if self.remove_first_layer and len(stats):
            tuned[0] = False
        if self.remove_last_layer and len(stats):
            tuned[-1] = False
        tuned &= stats["eigs_num"].to_numpy() >= self.eigs_thresh
        # A layer whose α could not be fitted is left untuned (the reference would fail).
        tuned &= np.isfinite(stats["alpha"].to_numpy())
        stats["tuned"] = tuned
        lr = np.full(len(stats), float(untuned_lr))
        if tuned.any():
            lr[tuned] = layer_learning_rates(
                stats["alpha"].to_numpy()[tuned],
                untuned_lr,
                self.assign_func,
                self.lr_min_ratio,
                self.lr_max_ratio,
            )
        stats["lr"] = lr
        return stats

    def _groups(self, untuned_lr: float) -> list[tuple[list[Any], float]]:
        stats = self.layer_stats(untuned_lr)
        lr_of = {n: lr for n, lr, t in zip(stats["longname"], stats["lr"], stats["tuned"]) if t}
        groups: list[tuple[list[Any], float]] = []
        for name, m in self.net.named_modules():
            owner = name if name in lr_of else self.follows.get(name)
            if owner in lr_of:
                groups.append((list(m.parameters()), float(lr_of[owner])))
        return groups

    def param_groups(self, untuned_lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups: one per tuned layer (and norm layer following one) with
        its lr, in module order, then every other parameter at ``untuned_lr``."""
        groups = self._groups(untuned_lr)
        tuned_ids = {id(p) for ps, _ in groups for p in ps}
        out = [{"params": ps, "lr": lr} for ps, lr in groups]
        out.append(
            {
                "params": [p for p in self.net.parameters() if id(p) not in tuned_ids],
                "lr": untuned_lr,
            }
        )
        return out

    def step(self, optimizer: Any, untuned_lr: float) -> None:
        """Re-analyse the weights and set each group's lr (call once per epoch, with the
        scheduled global lr); ``optimizer`` must have been built from :meth:`param_groups`."""
        groups = self._groups(untuned_lr)
        for i, group in enumerate(optimizer.param_groups):
            group["lr"] = groups[i][1] if i < len(groups) else untuned_lr
