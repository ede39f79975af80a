"""Acting on the diagnosis: AlphaPruning's per-layer sparsity ratios.

Lu et al., "AlphaPruning: Using Heavy-Tailed Self Regularization Theory for Improved
Layer-wise Pruning of Large Language Models", NeurIPS 2024. The numerics are the Rust
library's (``weightscope::act``), equal to the reference's ``ww_sparsity`` on fixtures.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from . import _native
from ._analyze import Report

METRICS = ("alpha_peak", "alpha_mid", "alpha")
MAPPINGS = ("block_wise", "layer_wise")


def layer_alphas(rep: Report, metric: str) -> pd.DataFrame:
    """Per analysed row of ``rep``: longname, params (N·M·rf, the matrix analysed) and the α of
    ``metric`` ("alpha_peak" / "alpha_mid": the AlphaPruning/TempBalance estimators on the
    row's eigenvalues; "alpha": weightscope's fit), NaN where none could be fitted."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, not {metric!r}")
    d = rep.details
    alphas = []
    for i in range(len(d)):
        if str(d["status"].iloc[i]) == "error":
            alphas.append(np.nan)
        elif metric == "alpha":
            alphas.append(float(d["alpha"].iloc[i]))
        else:
            esd = rep.esd(row=i)
            fit = None if esd is None else _native.reference_alpha(esd.tolist(), metric)
            alphas.append(np.nan if fit is None else fit[0])
    rf = d["rf"].astype("float64").fillna(1.0).clip(lower=1.0)
    params = (d["N"].astype("float64") * d["M"].astype("float64") * rf).astype("int64")
    return pd.DataFrame({"name": d["longname"].astype(str), "params": params, "alpha": alphas})


def sparsity(
    model: Any,
    target: float,
    *,
    epsilon: float = 0.3,
    metric: str = "alpha_peak",
    mapping: str = "block_wise",
    **options: Any,
) -> pd.DataFrame:
    """Per-layer sparsity ratios for pruning (AlphaPruning): α mapped linearly onto
    [1−ε, 1+ε] (smallest α, the best-trained layer, least pruned), scaled so that the
    parameter-weighted mean sparsity is ``target``. The same numbers as
    ``weightscope sparsity``.

    Args:
        model: as for :func:`weightscope.analyze` (a path, a torch module, a state dict...).
        target: the mean sparsity, in [0, 1).
        epsilon: half-width of the map (the reference's default 0.3).
        metric: "alpha_peak" (the reference's default), "alpha_mid", or "alpha" (weightscope's).
        mapping: "block_wise" (the reference's default: each layer gets its transformer
            block's mean α; layers outside numbered blocks are left out) or "layer_wise".
        **options: analysis options, as for :func:`weightscope.analyze`.

    Returns:
        A DataFrame with name, params, alpha and sparsity, one row per allocated layer, in
        checkpoint order. Layers without an α are left out (a warning names them).
    """
    if mapping not in MAPPINGS:
        raise ValueError(f"mapping must be one of {MAPPINGS}, not {mapping!r}")
    rep = Report(model, **options)
    table = layer_alphas(rep, metric)
    if mapping == "block_wise":
        table = table[_native.in_block(table["name"].tolist())]
    missing = table[~np.isfinite(table["alpha"])]
    if len(missing):
        import warnings

        warnings.warn(f"no alpha for {list(missing['name'])}: they get no ratio", stacklevel=2)
    table = table[np.isfinite(table["alpha"])].reset_index(drop=True)
    names = table["name"].tolist()
    groups = _native.block_groups(names) if mapping == "block_wise" else None
    table["sparsity"] = _native.sparsity_ratios(
        table["alpha"].tolist(), table["params"].tolist(), float(target), float(epsilon), groups
    )
    return table


# weightwatcher's SVDSmoothing methods: the option that computes each one's count of kept
# components, and the details column holding it.
SMOOTH_METHODS = {
    "detx": ({"detx": True}, "detX_num"),
    "rmt": ({"mp_fit": True, "mp_method": "ww"}, "num_spikes"),
    "alpha_min": ({}, "num_pl_spikes"),
}


def smooth(model: Any, method: str = "detx", **options: Any) -> Any:
    """weightwatcher's SVD smoothing of a torch module: a deep copy in which each analysed
    layer keeps only its largest singular components (the rest, mostly noise, removed), as
    ``weightscope smooth`` does for a file. The input module is not modified.

    Args:
        model: a ``torch.nn.Module``.
        method: how many components a layer keeps, as weightwatcher's ``SVDSmoothing``:
            "detx" (``detX_num``, its default), "rmt" (the spikes above the
            Marchenko–Pastur bulk of weightwatcher's MP fit) or "alpha_min" (the
            eigenvalues at or above the power-law fit's xmin). A convolution keeps
            ⌈k / (kh·kw)⌉ components in each kernel slice.
        **options: analysis options, as for :func:`weightscope.analyze` (``layers=`` to
            smooth only some layers).

    Returns:
        The smoothed copy. Layers without a count (failed fit, skipped) are left as they are.
    """
    import copy

    import torch

    if method not in SMOOTH_METHODS:
        raise ValueError(f"method must be one of {tuple(SMOOTH_METHODS)}, not {method!r}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError("smooth takes a torch.nn.Module (for files: `weightscope smooth`)")
    wanted, column = SMOOTH_METHODS[method]
    details = Report(model, **{**options, **wanted}).details
    out = copy.deepcopy(model)
    params = dict(out.named_parameters())
    params.update(dict(out.named_buffers()))
    with torch.no_grad():
        for _, row in details.iterrows():
            k = row.get(column)
            if str(row["status"]) == "error" or pd.isna(k) or row["longname"] not in params:
                continue
            p = params[row["longname"]]
            values = p.detach().to("cpu", torch.float64).reshape(-1).tolist()
            smoothed = _native.smooth_tensor(values, list(p.shape), int(k))
            if smoothed is not None:
                new = torch.tensor(smoothed, dtype=torch.float64).reshape(p.shape)
                p.copy_(new.to(device=p.device, dtype=p.dtype))
    return out
