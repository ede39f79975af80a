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
