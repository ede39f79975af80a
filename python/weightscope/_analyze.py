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
import tempfile
from collections.abc import Mapping
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


class Plot:
    """One plot as SVG or PNG bytes. Shown inline by Jupyter (``_repr_svg_`` /
    ``_repr_png_``); ``save(path)`` writes it.

    Attributes:
        data: the image bytes. format: "svg" or "png". title: what it shows.
    """

    def __init__(self, data: bytes, format: str, title: str) -> None:
        self.data = data
        self.format = format
        self.title = title

    def _repr_svg_(self) -> str | None:
        return self.data.decode("utf-8") if self.format == "svg" else None

    def _repr_png_(self) -> bytes | None:
        return self.data if self.format == "png" else None

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the image to ``path`` (atomically: a temporary file, then a rename)."""
        _write_atomic(path, self.data)

    def __repr__(self) -> str:
        return f"<weightscope.Plot {self.title!r}: {self.format}, {len(self.data)} bytes>"


class Report:
    """An analysis of a model with everything the command line can make of it: the details
    DataFrame, the summary, each layer's eigenvalues, its plots and the HTML report.

    >>> rep = ws.Report(model, mp_fit=True)       # analyses the model (same inputs as analyze)
    >>> rep.details                               # the DataFrame of ``analyze``
    >>> rep.esd("encoder.layer.0.attention.self.query.weight")   # eigenvalues, ascending
    >>> rep.plot("encoder.layer.0.attention.self.query.weight", "esd_loglog")  # inline
    >>> rep.plot(kind="depth_alpha")              # a model plot: α against depth
    >>> rep.to_html("report.html")                # the command line's --html report

    Args:
        model: as for :func:`analyze` (a path, a torch module, a state dict, arrays).
        progress: as for :func:`analyze`.
        **options: the command line's options with underscores (see ``weightscope.OPTIONS``).

    Attributes:
        details: one row per analysed matrix; the columns of the CLI's CSV.
        summary: model-level means (weightwatcher's ``get_summary``) and counts.
        skipped: the tensors not analysed and why (layer_id, longname, shape, reason).
        source: what was analysed. format: the checkpoint format ("python" for tensors held
        by Python). files: the files read. version: the weightscope version.
    """

    details: pd.DataFrame
    summary: dict[str, Any]
    skipped: pd.DataFrame
    source: str
    format: str
    files: list[str]
    version: str

    def __init__(
        self, model: Any, *, progress: Progress | bool | None = None, **options: Any
    ) -> None:
        self._set(_run(model, progress, options, keep_esd=True))

    @classmethod
    def _from_output(cls, out: dict[str, Any]) -> Report:
        rep = cls.__new__(cls)
        rep._set(out)
        return rep

    def _set(self, out: dict[str, Any]) -> None:
        self.details = _frame(out["columns"], out["kinds"], out["rows"])
        self.summary = out["summary"]
        self.skipped = pd.DataFrame(
            out["skipped"], columns=["layer_id", "longname", "shape", "reason"]
        )
        self.source = out["source"]
        self.format = out["format"]
        self.files = list(out["files"])
        self.version = out["version"]
        self._native = out["native"]

    @property
    def json(self) -> str:
        """The report as the command line's ``--json`` writes it."""
        return str(self._native.json())

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The command line's ``--json`` text; written to ``path`` when given."""
        text = self.json
        if path is not None:
            _write_atomic(path, text.encode("utf-8"))
        return text

    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """The command line's ``--csv`` text (the same bytes); written to ``path`` when given."""
        text = str(self._native.csv())
        if path is not None:
            _write_atomic(path, text.encode("utf-8"))
        return text

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """The self-contained HTML report of the command line's ``--html`` (summary, table,
        every plot inline); written to ``path`` when given."""
        text = str(self._native.html())
        if path is not None:
            _write_atomic(path, text.encode("utf-8"))
        return text

    def esd(self, layer: int | str | None = None, *, row: int | None = None) -> np.ndarray | None:
        """The eigenvalues of WᵀW (ascending, as analysed: after ``normalize`` or conv
        scaling when those options apply) of one layer, or None for a row without a spectrum
        (status "error").

        Args:
            layer: the ``layer_id`` (int) or the ``longname`` / ``name`` (str) of a row.
            row: instead of ``layer``, the row's position in ``details`` (for layers split in
                several rows, such as Conv2d maps with ``conv_maps=True``).
        """
        got = self._native.esd(self._row(layer, row))
        return None if got is None else np.asarray(got, dtype=np.float64)

    def plot_kinds(self, layer: int | str | None = None, *, row: int | None = None) -> list[str]:
        """The plot kinds available: of a layer (those its row can show), or with no layer
        the model plots."""
        if layer is None and row is None:
            return [k for scope, k, _ in _native.plot_kinds() if scope == "model"]
        return list(self._native.layer_plot_kinds(self._row(layer, row)))

    def plot(
        self,
        layer: int | str | None = None,
        kind: str | None = None,
        *,
        row: int | None = None,
        format: str = "svg",
    ) -> Plot:
        """One plot, drawn by the same code as ``weightscope plot``; shown inline in Jupyter.

        Args:
            layer: a ``layer_id`` or ``longname`` / ``name`` for a layer plot; None for a
                model plot.
            kind: layer plots: "esd" (default), "esd_zoom", "esd_loglog", "ccdf",
                "esd_loglin", "singular_values", "scree", "randomized" (with
                ``randomize=True``), "xmin_scan". Model plots: "depth_alpha" (default),
                "depth_alpha_weighted", "depth_stable_rank", "depth_mp_softrank",
                "depth_log_spectral_norm", "alpha_histogram".
            row: instead of ``layer``, the row's position in ``details``.
            format: "svg" or "png".
        """
        captions = {k: c for _, k, c in _native.plot_kinds()}
        if layer is None and row is None:
            kind = kind or "depth_alpha"
            data = self._native.model_plot(kind, format)
            return Plot(bytes(data), format, captions.get(kind, kind))
        i = self._row(layer, row)
        kind = kind or "esd"
        data = self._native.layer_plot(i, kind, format)
        title = f"{self.details['longname'].iloc[i]}: {captions.get(kind, kind)}"
        return Plot(bytes(data), format, title)

    def _row(self, layer: int | str | None, row: int | None) -> int:
        """The position in ``details`` of the row a user names."""
        n = len(self.details)
        if row is not None:
            if layer is not None:
                raise TypeError("give layer or row, not both")
            if not isinstance(row, (int, np.integer)) or not -n <= row < n:
                raise IndexError(f"row {row!r} out of range: the report has {n} rows")
            return int(row) % n
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
            hits = np.flatnonzero(self.details["layer_id"].to_numpy(dtype=object) == int(layer))
            what = f"layer_id {layer}"
        elif isinstance(layer, str):
            hits = np.flatnonzero(self.details["longname"].to_numpy(dtype=object) == layer)
            if len(hits) == 0:
                hits = np.flatnonzero(self.details["name"].to_numpy(dtype=object) == layer)
            what = f"layer {layer!r}"
        else:
            raise TypeError(f"layer must be a layer_id (int) or a name (str), not {layer!r}")
        if len(hits) == 0:
            names = ", ".join(map(str, self.details["longname"].head(5)))
            more = ", ..." if n > 5 else ""
            raise KeyError(f"{what} is not a row of this report (rows: {names}{more})")
        if len(hits) > 1:
            raise KeyError(
                f"{what} has {len(hits)} rows (positions {', '.join(map(str, hits[:8]))}): "
                "pick one with row="
            )
        return int(hits[0])

    def __repr__(self) -> str:
        a = self.summary.get("alpha")
        alpha = "n/a" if a is None else f"{a:.3f}"
        return (
            f"<weightscope.Report of {self.source!r}: {len(self.details)} rows, mean alpha {alpha}>"
        )


def columns() -> pd.DataFrame:
    """The column registry: every per-layer column once (name, the option that adds it or
    None for the default columns, kind int/float/text, meaning), in CSV order."""
    return pd.DataFrame(_native.columns(), columns=["name", "option", "kind", "meaning"])


def analyze(
    model: Any,
    *,
    progress: Progress | bool | None = None,
    executor: str = "local",
    **options: Any,
) -> pd.DataFrame:
    """Analyse a model; one row per analysed matrix.

    Args:
        model: a checkpoint path (str or os.PathLike: any format the command line reads, a
            Hugging Face hub id ``"org/name[@revision]"`` read from the local hub cache, or an
            ``https://`` / ``s3://`` URL read by byte range, with the ``config.json``
            beside it; gated hub models take the token of ``HF_TOKEN`` or
            ``~/.cache/huggingface/token``), a
            ``torch.nn.Module`` (names as in its ``state_dict()``), a state dict or a
            checkpoint dict (``{"state_dict": ...}`` / ``{"model": ...}`` unwrapped), a dict of
            numpy arrays, or a single numpy array / torch tensor.
        progress: ``progress(done_flops, total_flops, layer_name)`` called after each layer,
            or True for a one-line progress display on stderr.
        executor: "local" (this process's threads) or "ray": the layers spread over a Ray
            cluster as tasks, with the defaults of :func:`weightscope.ray.analyze` (which
            takes the cluster address, the resources per task and the retries); the same
            DataFrame. ``model`` must then be a path every worker can read.
        **options: the command line's options with underscores, e.g. ``min_evals=8``,
            ``layers="attn"``, ``mp_fit=True``, ``fix_fingers="clip-xmax"``, ``all=True``
            (see ``weightscope.OPTIONS``).

    Returns:
        A DataFrame with exactly the columns of ``weightscope analyze --csv`` for the same
        options: int columns as nullable ``Int64``, float columns ``float64`` (missing: NaN),
        text columns ``object`` (missing: ""). For a URL, ``frame.attrs["bytes_read"]`` is
        the number of bytes fetched (headers, config.json and the analysed tensors' byte
        ranges).

    Raises:
        OptionError: an unknown option or a bad value. ReadError: an unreadable checkpoint.
        Error: a model without weights, or on the meta device. ClusterError: with
        executor="ray", no cluster, or a task's worker died more often than retried.
    """
    if executor == "ray":
        from . import ray as ws_ray

        return ws_ray.analyze(model, progress=progress, **options)
    if executor != "local":
        raise ValueError(f'executor must be "local" or "ray", not {executor!r}')
    out = _run(model, progress, options, keep_esd=False)
    frame = _frame(out["columns"], out["kinds"], out["rows"])
    if "bytes_read" in out:
        frame.attrs["bytes_read"] = out["bytes_read"]
    return frame


def analyze_report(
    model: Any, *, progress: Progress | bool | None = None, **options: Any
) -> Report:
    """As :func:`analyze`, as a :class:`Report` (the summary, the skipped tensors, each
    layer's eigenvalues and plots, the HTML report); the same as ``Report(model, ...)``."""
    return Report(model, progress=progress, **options)


def _run(
    model: Any, progress: Progress | bool | None, options: dict[str, Any], keep_esd: bool
) -> dict[str, Any]:
    """Analyse ``model`` in the native module; its output dict."""
    cb, finish = _progress_callback(progress)
    try:
        path = _as_path(model)
        if path is not None:
            return _native.analyze_path(path, options, cb, False, keep_esd)
        names, shapes, dtypes, fetch, label = _tensors(model)
        return _native.analyze_tensors(
            names, shapes, dtypes, fetch, options, cb, label, False, keep_esd
        )
    finally:
        finish()


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


def _progress_callback(
    progress: Progress | bool | None,
) -> tuple[Progress | None, Callable[[], None]]:
    """The callback handed to the native module, and what to call when the run ends.
    ``True``: a tqdm bar over the estimated flops (so its rate and ETA weigh each layer by
    its cost, as the command line's bar) when tqdm is installed, else one line on stderr."""
    if progress is None or progress is False:
        return None, lambda: None
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            bars: list[Any] = []

            def update(done: float, total: float, name: str) -> None:
                if not bars:
                    bars.append(
                        tqdm(
                            total=total,
                            unit="flop",
                            unit_scale=True,
                            desc="weightscope",
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} flops "
                            "[{elapsed}<{remaining}]{postfix}",
                        )
                    )
                bar = bars[0]
                bar.update(done - bar.n)
                bar.set_postfix_str(name[-60:], refresh=False)

            def close() -> None:
                if bars:
                    bars[0].close()

            return update, close

        def show(done: float, total: float, name: str) -> None:
            pct = 100.0 * done / total if total > 0 else 100.0
            sys.stderr.write(f"\rweightscope: {pct:5.1f}% of flops  {name[:60]:<60}")
            sys.stderr.flush()

        return show, lambda: sys.stderr.write("\n")
    if not callable(progress):
        raise TypeError("progress must be a callable(done_flops, total_flops, name) or True")
    return progress, lambda: None


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


def _write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename,
    so a reader never sees half a file."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".weightscope-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
