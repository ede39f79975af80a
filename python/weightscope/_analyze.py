"""``analyze``: a model (file, torch module, state dict, numpy arrays) → a DataFrame of
per-layer metrics, with exactly the columns of the command line's CSV.

Tensors held by Python are handed to the Rust core as names, shapes and dtypes only; their
data is read one tensor at a time through a ``fetch(i)`` callback (torch tensors are copied to
CPU float32/float64 there, one at a time), so the model is never converted whole and never
modified.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import _native
from .errors import Error

#: The option names ``analyze`` accepts (the command line's flags with underscores).
OPTIONS: tuple[str, ...] = tuple(_native.option_names())

#: Keys of a checkpoint dict that hold the model's state dict (unwrapped, first match).
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module")

Progress = Callable[[float, float, str], Any]


@dataclass(frozen=True)
class Report:
    """The result of :func:`analyze_report`.

    Attributes:
        details: one row per analysed matrix; the columns of the CLI's CSV.
        summary: model-level means (weightwatcher's ``get_summary``) and counts.
        skipped: the tensors not analysed and why (layer_id, longname, shape, reason).
        source: what was analysed. format: the checkpoint format ("python" for tensors held
        by Python). files: the files read. version: the weightscope version.
        json: the full report as JSON text (with ``json=True``), else None.
    """

    details: pd.DataFrame
    summary: dict[str, Any]
    skipped: pd.DataFrame
    source: str = ""
    format: str = ""
    files: list[str] = field(default_factory=list)
    version: str = ""
    json: str | None = None


def columns() -> pd.DataFrame:
    """The column registry: every per-layer column once (name, the option that adds it or
    None for the default columns, kind int/float/text, meaning), in CSV order."""
    return pd.DataFrame(_native.columns(), columns=["name", "option", "kind", "meaning"])


def analyze(model: Any, *, progress: Progress | bool | None = None, **options: Any) -> pd.DataFrame:
    """Analyse a model; one row per analysed matrix.

    Args:
        model: a checkpoint path (str or os.PathLike: any format the command line reads), a
            ``torch.nn.Module`` (names as in its ``state_dict()``), a state dict or a
            checkpoint dict (``{"state_dict": ...}`` / ``{"model": ...}`` unwrapped), a dict of
            numpy arrays, or a single numpy array / torch tensor.
        progress: ``progress(done_flops, total_flops, layer_name)`` called after each layer,
            or True for a one-line progress display on stderr.
        **options: the command line's options with underscores, e.g. ``min_evals=8``,
            ``layers="attn"``, ``mp_fit=True``, ``fix_fingers="clip-xmax"``, ``all=True``
            (see ``weightscope.OPTIONS``).

    Returns:
        A DataFrame with exactly the columns of ``weightscope analyze --csv`` for the same
        options: int columns as nullable ``Int64``, float columns ``float64`` (missing: NaN),
        text columns ``object`` (missing: "").

    Raises:
        OptionError: an unknown option or a bad value. ReadError: an unreadable checkpoint.
        Error: a model without weights, or on the meta device.
    """
    return analyze_report(model, progress=progress, **options).details


def analyze_report(
    model: Any, *, progress: Progress | bool | None = None, json: bool = False, **options: Any
) -> Report:
    """As :func:`analyze`, with the summary, the skipped tensors and (``json=True``) the
    full report as JSON text."""
    cb = _progress_callback(progress)
    path = _as_path(model)
    if path is not None:
        out = _native.analyze_path(path, options, cb, json)
    else:
        names, shapes, dtypes, fetch, label = _tensors(model)
        out = _native.analyze_tensors(names, shapes, dtypes, fetch, options, cb, label, json)
    if progress is True:
        sys.stderr.write("\n")
    return _report(out)


def summary(details: pd.DataFrame | Report) -> dict[str, Any]:
    """Model-level means of a details DataFrame (weightwatcher's ``get_summary``), as the
    command line's summary: α-based means (alpha, alpha_weighted, log_alpha_norm) over rows
    whose fit succeeded, the others over rows with an ESD (status not "error"); non-finite
    values are left out. Works on a filtered frame too. For a :class:`Report`, its summary
    (which also counts the skipped tensors)."""
    if isinstance(details, Report):
        return dict(details.summary)
    df = details
    status = df["status"].astype(object)
    with_esd = df[status != "error"]
    fitted = df[status == "success"]

    def mean(frame: pd.DataFrame, col: str) -> float | None:
        if col not in frame.columns:
            return None
        s, n = 0.0, 0
        # In row order, as the Rust summary adds them (same bits).
        for v in frame[col].tolist():
            if v is not None and not pd.isna(v) and math.isfinite(v):
                s += float(v)
                n += 1
        return s / n if n else None

    out: dict[str, Any] = {
        "layers_analyzed": len(with_esd),
        "layers_failed": int((status == "failed").sum()),
        "layers_error": int((status == "error").sum()),
        "alpha": mean(fitted, "alpha"),
        "alpha_weighted": mean(fitted, "alpha_weighted"),
        "log_alpha_norm": mean(fitted, "log_alpha_norm"),
        "log_norm": mean(with_esd, "log_norm"),
        "log_spectral_norm": mean(with_esd, "log_spectral_norm"),
        "stable_rank": mean(with_esd, "stable_rank"),
        "entropy": mean(with_esd, "entropy"),
        "mp_softrank": mean(with_esd, "mp_softrank"),
    }
    if "phase" in df.columns:
        phases = df["phase"].astype(object)
        counts = phases[phases != ""].value_counts()
        out["phases"] = {str(k): int(v) for k, v in sorted(counts.items())}
    else:
        out["phases"] = {}
    return out


# --- conversion of the native result ----------------------------------------------------


def _frame(cols: list[str], kinds: list[str], rows: list[list[Any]]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for j, (name, kind) in enumerate(zip(cols, kinds)):
        values = [r[j] for r in rows]
        if kind == "int":
            data[name] = pd.array(values, dtype="Int64")
        elif kind == "float":
            data[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            data[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(data, columns=cols)


def _report(out: dict[str, Any]) -> Report:
    skipped = pd.DataFrame(out["skipped"], columns=["layer_id", "longname", "shape", "reason"])
    return Report(
        details=_frame(out["columns"], out["kinds"], out["rows"]),
        summary=out["summary"],
        skipped=skipped,
        source=out["source"],
        format=out["format"],
        files=list(out["files"]),
        version=out["version"],
        json=out["json"],
    )


def _progress_callback(progress: Progress | bool | None) -> Progress | None:
    if progress is None or progress is False:
        return None
    if progress is True:

        def show(done: float, total: float, name: str) -> None:
            pct = 100.0 * done / total if total > 0 else 100.0
            sys.stderr.write(f"\rweightscope: {pct:5.1f}% of flops  {name[:60]:<60}")
            sys.stderr.flush()

        return show
    if not callable(progress):
        raise TypeError("progress must be a callable(done_flops, total_flops, name) or True")
    return progress


# --- inputs ------------------------------------------------------------------------------


def _as_path(model: Any) -> str | None:
    if isinstance(model, (str, os.PathLike)):
        return os.fspath(model)
    return None


def _torch() -> Any:
    """torch if it is already imported (a torch object can only come from there)."""
    return sys.modules.get("torch")


def _is_torch_module(x: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.nn.Module)


def _is_torch_tensor(x: Any) -> bool:
    torch = _torch()
    return torch is not None and isinstance(x, torch.Tensor)


def _tensors(model: Any) -> tuple[list[str], list[list[int]], list[str], Callable[[int], Any], str]:
    """Names, shapes, dtypes, fetch and a label for the tensors of a Python model."""
    if _is_torch_module(model):
        label = f"<torch module {type(model).__name__}>"
        items = list(model.state_dict().items())
    elif isinstance(model, np.ndarray) or _is_torch_tensor(model):
        label = "<array>"
        items = [("array", model)]
    elif isinstance(model, Mapping):
        label = "<dict>"
        sd: Any = model
        for key in _WRAPPER_KEYS:
            inner = sd.get(key) if isinstance(sd, Mapping) else None
            if isinstance(inner, Mapping) or _is_torch_module(inner):
                sd = inner.state_dict() if _is_torch_module(inner) else inner
                label = f"<dict[{key!r}]>"
                break
        items = [
            (str(k), v) for k, v in sd.items() if isinstance(v, np.ndarray) or _is_torch_tensor(v)
        ]
        if not items and len(sd) > 0:
            raise Error(
                f"{label}: no numpy arrays or torch tensors among its {len(sd)} values "
                f"(keys {', '.join(map(str, list(sd)[:5]))}{', ...' if len(sd) > 5 else ''})"
            )
    else:
        kind = f"{type(model).__module__}.{type(model).__qualname__}"
        raise TypeError(
            "weightscope.analyze takes a path, a torch.nn.Module, a state dict or dict of "
            f"numpy arrays, or a numpy array; got {kind}"
        )
    if not items:
        raise Error(f"{label}: the model has no weights (no tensors)")
    names = [k for k, _ in items]
    shapes: list[list[int]] = []
    dtypes: list[str] = []
    meta: list[str] = []
    for name, t in items:
        shapes.append([int(d) for d in t.shape])
        if _is_torch_tensor(t):
            dtypes.append(str(t.dtype).replace("torch.", ""))
            if t.is_meta:
                meta.append(name)
        else:
            dtypes.append(_numpy_dtype_name(t.dtype))
    if meta:
        raise Error(
            f"{label}: {len(meta)} tensor(s) are on the meta device and hold no values "
            f"(first: {meta[0]}); load the weights first (e.g. load_state_dict(..., assign=True) "
            "or to_empty() and a checkpoint)"
        )
    tensors = [t for _, t in items]

    def fetch(i: int) -> Any:
        return _to_numpy(tensors[i])

    return names, shapes, dtypes, fetch, label


def _numpy_dtype_name(dt: np.dtype) -> str:
    return str(dt.name)


_NATIVE_FLOATS = ("float16", "float32", "float64")


def _to_numpy(t: Any) -> np.ndarray:
    """One tensor as a numpy float16/32/64 array, without touching the original: torch
    tensors are detached and copied to the CPU (bf16/f16/other floats as float32, float64
    kept), numpy arrays of other float types (ml_dtypes' bfloat16, ...) cast to float32."""
    if _is_torch_tensor(t):
        torch = _torch()
        keep = t.dtype in (torch.float32, torch.float64)
        c = t.detach().to("cpu", t.dtype if keep else torch.float32)
        return c.resolve_conj().resolve_neg().numpy()
    a = np.asarray(t)
    if a.dtype.name in _NATIVE_FLOATS:
        return a
    return a.astype(np.float32)
