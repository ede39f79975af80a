"""A drop-in for weightwatcher 0.7.7's ``WeightWatcher`` class, so that a notebook written for
weightwatcher runs on weightscope with ``import weightscope as ww``::

    watcher = ww.WeightWatcher(model=model)
    details = watcher.analyze(min_evals=8, mp_fit=True)
    summary = watcher.get_summary()

The rows, ``layer_id``, ``name``, ``longname``, ``layer_type`` and the numbers are
weightwatcher 0.7.7's for the same input (checked against its output in
``tests/fixtures/python``), with these deliberate differences:

- a power-law fit that fails has ``status`` ``"failed"`` and an empty (NaN) ``alpha``, where
  weightwatcher writes α = −1 and labels the layer over-trained; ``get_summary`` therefore
  averages α over the successful fits only (weightwatcher averages the −1 in);
- ``sv_min`` of a pooled Conv2d layer is the true minimum over its maps;
- weightscope's own columns that weightwatcher lacks (``zero_mass``, ``alpha_hill``, ``mu``,
  ``universality``, ``dtype``, ``message``, ``slice_id``, ...) follow weightwatcher's columns.

Inputs: a ``torch.nn.Module``, a state dict (or a dict with a ``"state_dict"`` entry), or the
path of a folder of ``model*.safetensors`` files (with or without
``model.safetensors.index.json``). Other inputs weightwatcher reads (Keras, ONNX,
``pytorch_model*.bin`` / ``adapter_model*`` / ``.npy`` / ``.h5`` folders) raise
``weightscope.Error``; use :func:`weightscope.analyze` for those.

``analyze(plot=True)`` draws weightscope's plots of each layer (shown inline under IPython)
and, with ``savefig`` (default ``'ww-img'``), saves them as weightwatcher names its files:
``ww.layer{layer_id}.esd.png`` (log-log ESD with the power-law fit), ``.esd2.png`` (linear
axes, with the MP fit when ``mp_fit=True``), ``.esd3.png`` (log-linear), ``.esd4.png`` (D and
α against xmin) and, with ``randomize=True``, ``.randesd1.png``; a per-map row of
``pool=False`` is ``ww.layer{layer_id}_{slice_id}``. The pictures are weightscope's, not
copies of weightwatcher's matplotlib figures.

Keywords of weightwatcher's ``analyze`` that weightscope does not implement
(``glorot_fix``, ``intra``, ``stacked``, ``channels``, ``base_model``, ``peft``, ``fit`` other
than ``'PL'``, ...) raise ``weightscope.OptionError`` when given a value other than
weightwatcher's default; they are never silently ignored.
"""

from __future__ import annotations

import glob
import json
import math
import numbers
import os
import struct
import sys
import warnings
from collections.abc import Mapping
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import _analyze, _native
from .errors import Error, OptionError

__all__ = ["WeightWatcher"]

#: weightwatcher's layer types a ``layers`` filter can name (constants.LAYER_TYPES_SUPPORTED).
_LAYER_TYPES = ("conv2d", "conv1d", "dense", "embedding", "norm")

#: Layer types that give a row (``WWLayerIterator.layer_supported``).
_ROW_TYPES = ("dense", "conv1d", "conv2d", "embedding")

#: Columns weightwatcher 0.7.7 writes (``WWLayer.get_row`` and every ``add_column``); those
#: weightscope also has are put in weightwatcher's order (sorted), the others after them.
_WW_COLUMNS = frozenset(
    """layer_id name longname layer_type N M rf Q D ERG_gap Lambda W_scale Xflag alpha
    alpha_weighted best_fit bulk_max bulk_min detX_num detX_val detX_val_unrescaled entropy
    fit_entropy has_esd lambda_max log_alpha_norm log_norm log_spectral_norm matrix_rank
    max_rand_eval mp_softrank norm num_ERG_spikes num_evals num_fingers num_pl_spikes
    num_spikes num_traps rand_W_scale rand_bulk_max rand_bulk_min rand_distance
    rand_mp_softrank rand_num_spikes rand_sigma_mp rank_loss raw_alpha sigma sigma_mp
    spectral_norm stable_rank status sv_max sv_min warning weak_rank_loss ww_maxdist
    ww_softrank xmax xmin""".split()
)

#: ``get_summary``'s metrics, in its order.
_SUMMARY_METRICS = (
    "log_norm",
    "alpha",
    "alpha_weighted",
    "log_alpha_norm",
    "log_spectral_norm",
    "stable_rank",
    "mp_softrank",
)

_DEF_SAVE_DIR = "ww-img"

#: Keywords of weightwatcher 0.7.7's ``analyze`` that weightscope does not implement, with
#: their defaults there: any other value raises OptionError.
_UNSUPPORTED = {
    "min_size": None,
    "max_size": None,
    "glorot_fix": False,
    "plot": False,
    "savefig": _DEF_SAVE_DIR,
    "conv2d_fft": False,
    "fft": False,
    "deltas": False,
    "intra": False,
    "channels": None,
    "stacked": False,
    "xmin_max": None,
    "max_fingers": 10,
    "finger_thresh": 1.0,
    "sparsify": True,
    "base_model": None,
    "peft": False,
    "inverse": False,
}

#: ``describe``'s unsupported keywords (a subset of analyze's) and their defaults.
_DESCRIBE_UNSUPPORTED = (
    "min_size",
    "max_size",
    "glorot_fix",
    "savefig",
    "conv2d_fft",
    "fft",
    "intra",
    "channels",
    "stacked",
    "base_model",
    "peft",
)


def _unsupported(given: dict[str, Any], names: Any) -> None:
    for name in names:
        default = _UNSUPPORTED[name]
        value = given[name]
        same = value is default or (
            type(value) is type(default) and value == default  # noqa: E721
        )
        if not same:
            raise OptionError(
                f"WeightWatcher.analyze: {name}={value!r} is not supported by weightscope "
                f"(only weightwatcher's default {default!r})"
            )


class _Candidate:
    """A weight matrix weightwatcher would make a row of (before the size limits)."""

    __slots__ = ("layer_id", "name", "longname", "layer_type", "tensor", "shape", "dtype")

    def __init__(self, layer_id, name, longname, layer_type, tensor, shape, dtype):
        self.layer_id = layer_id
        self.name = name
        self.longname = longname
        self.layer_type = layer_type
        self.tensor = tensor  # a torch tensor, numpy array, or a zero-argument loader
        self.shape = [int(d) for d in shape]
        self.dtype = dtype


# --- what weightwatcher iterates, per input kind ---------------------------------------


def _torch_layer_type(module: Any) -> str:
    """``PyTorchLayer.layer_type``: by isinstance or by a substring of the type's string."""
    import torch

    typestr = str(type(module)).lower()
    if isinstance(module, torch.nn.Linear) or "linear" in typestr:
        return "dense"
    if isinstance(module, torch.nn.Conv1d) or "conv1d" in typestr:
        return "conv1d"
    if isinstance(module, torch.nn.Conv2d) or "conv2d" in typestr:
        return "conv2d"
    if isinstance(module, torch.nn.Embedding) or "embedding" in typestr:
        return "embedding"
    if "norm" in typestr:
        return "norm"
    return "unknown"


def _dtype_name(t: Any) -> str:
    if _analyze._is_torch_tensor(t):
        return str(t.dtype).replace("torch.", "")
    return str(t.dtype.name)


def _module_candidates(model: Any, start_ids: int) -> list[_Candidate]:
    """``PyTorchLayer.get_layer_iterator``: every module of ``named_modules()`` takes an id
    (from start_ids); a row needs a ``weight`` tensor and a dense/conv/embedding type."""
    out = []
    for i, (longname, module) in enumerate(model.named_modules()):
        the_type = _torch_layer_type(module)
        w = getattr(module, "weight", None)
        if the_type not in _ROW_TYPES or not _analyze._is_torch_tensor(w):
            continue
        if w.is_meta:
            raise Error(
                f"{longname or type(module).__name__}.weight is on the meta device and holds "
                "no values; load the weights first"
            )
        if longname == "":
            # FrameworkLayer's fallback: the root module's name is its class's str() up to "(".
            name = longname = str(module).split("(")[0]
        else:
            name = longname.split(".")[-1]
        out.append(_Candidate(start_ids + i, name, longname, the_type, w, w.shape, _dtype_name(w)))
    return out


def _rank_type(shape: Any) -> str | None:
    """``PyStateDictLayer.layer_type``: by the tensor's rank only."""
    return {2: "dense", 4: "conv2d"}.get(len(shape))


def _state_dict_candidates(sd: Mapping, start_ids: int) -> list[_Candidate]:
    """``PyStateDictLayer.get_layer_iterator``: the ``.weight`` keys in order, ids from 1 (or
    start_ids when > 0), every ``.weight`` key taking one."""
    out = []
    layer_id = start_ids if start_ids else 1
    for key, t in sd.items():
        if not str(key).endswith(".weight"):
            continue
        if isinstance(t, np.ndarray) or _analyze._is_torch_tensor(t):
            the_type = _rank_type(t.shape)
            if the_type is not None:
                name = str(key)[: -len(".weight")]
                out.append(_Candidate(layer_id, name, name, the_type, t, t.shape, _dtype_name(t)))
        layer_id += 1
    return out


_ST_DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def _safetensors_header(path: str) -> tuple[dict[str, Any], int]:
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


def _safetensors_loader(path: str, info: dict[str, Any], base: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        begin, end = info["data_offsets"]
        dt = info["dtype"]
        shape = tuple(info["shape"])
        raw = np.memmap(path, dtype=np.uint8, mode="r", offset=base + begin, shape=(end - begin,))
        if dt == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            return bits.view(np.float32).reshape(shape)
        a = np.frombuffer(raw, dtype="<" + {"F64": "f8", "F32": "f4", "F16": "f2"}[dt])
        return a.reshape(shape)

    return load


def _folder_candidates(folder: str, start_ids: int) -> list[_Candidate]:
    """``PyStateDictDir``: a folder of ``model*safetensors``. Without an index: files sorted by
    name, keys sorted by name within a file, and (0.7.7's bookkeeping, issue #268) shard j
    starts at the start of shard j-1 plus the ``.weight`` keys of shards 1..j-1. With
    ``*.safetensors.index.json``: the weight_map's keys grouped by file (files sorted), in
    the map's order, ids counted through. Ids from start_ids (0)."""
    files = sorted(glob.glob(os.path.join(folder, "model*safetensors")))
    if not files:
        raise Error(
            f"{folder}: no model*.safetensors files; WeightWatcher here reads only folders of "
            "model*.safetensors (use weightscope.analyze for other formats)"
        )
    indexes = sorted(glob.glob(os.path.join(folder, "*.safetensors.index.json")))
    headers = {f: _safetensors_header(f) for f in files}
    per_file: list[tuple[str, list[str]]] = []
    if indexes:
        with open(indexes[0]) as fh:
            weight_map = json.load(fh)["weight_map"]
        for f in files:
            base = os.path.basename(f)
            per_file.append((f, [k for k, v in weight_map.items() if v == base]))
    else:
        per_file = [(f, sorted(headers[f][0])) for f in files]
    out = []
    start = start_ids
    seen = 0
    for f, keys in per_file:
        header, base = headers[f]
        layer_id = start
        for key in keys:
            if not key.endswith(".weight"):
                continue
            info = header.get(key)
            if info is not None and info["dtype"] in _ST_DTYPES:
                the_type = _rank_type(info["shape"])
                if the_type is not None:
                    name = key[: -len(".weight")]
                    loader = _safetensors_loader(f, info, base)
                    out.append(
                        _Candidate(
                            layer_id,
                            name,
                            name,
                            the_type,
                            loader,
                            info["shape"],
                            _ST_DTYPES[info["dtype"]],
                        )
                    )
            layer_id += 1
        n_weights = sum(1 for k in keys if k.endswith(".weight"))
        if indexes:
            start = layer_id
        else:
            seen += n_weights
            start = start + seen
    return out


def _candidates(model: Any, start_ids: int) -> list[_Candidate]:
    if _analyze._is_torch_module(model):
        return _module_candidates(model, start_ids)
    if isinstance(model, Mapping):
        sd = model
        if "state_dict" in sd and isinstance(sd["state_dict"], Mapping):  # issue #243
            sd = sd["state_dict"]
        return _state_dict_candidates(sd, start_ids)
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if os.path.isdir(path):
            return _folder_candidates(path, start_ids)
        raise Error(
            f"{path}: WeightWatcher takes a folder of model*.safetensors files, not a single "
            "file (as weightwatcher 0.7.7); use weightscope.analyze(path) for a file"
        )
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    raise Error(
        "WeightWatcher takes a torch.nn.Module, a state dict or a folder of "
        f"model*.safetensors files; got {kind} (weightscope.analyze reads more formats)"
    )


# --- the layers filter -----------------------------------------------------------------


class _Filter:
    """``WWLayerIterator``'s filters: layer types, then ids, then names, each deciding in
    turn (a later kind overrides an earlier one), as 0.7.7's ``apply_filters``."""

    def __init__(self, layers: Any):
        if not isinstance(layers, list):
            layers = [layers]
        self.types: list[str] = []
        self.ids: list[int] = []
        self.names: list[str] = []
        for f in layers:
            if type(f) is str and f in _LAYER_TYPES:
                self.types.append(f)
            elif isinstance(f, numbers.Integral):
                self.ids.append(int(f))
            elif type(f) is str:
                self.names.append(f)
            else:
                raise OptionError(
                    f"WeightWatcher.analyze: layers: {f!r} is neither a layer id, a name nor a "
                    f"layer type ({', '.join(_LAYER_TYPES)})"
                )
        if self.ids and min(self.ids) < 0 < max(self.ids):
            raise OptionError(
                f"WeightWatcher.analyze: layers: ids must be all >= 0 (keep) or all < 0 (skip), "
                f"got {self.ids}"
            )
        if self.names:
            dashed = ["-" in x for x in self.names]
            if any(dashed) and not all(dashed):
                raise OptionError(
                    "WeightWatcher.analyze: layers: names must be all to keep or all '-name' to "
                    f"skip, got {self.names}"
                )

    def skipped(self, c: _Candidate) -> bool:
        skip = False
        if self.types:
            skip = c.layer_type not in self.types
        if self.ids:
            if min(self.ids) >= 0:
                skip = c.layer_id not in self.ids
            else:
                skip = -c.layer_id in self.ids
        if self.names:
            if not any("-" in x for x in self.names):
                skip = c.name not in self.names
            else:
                skip = f"-{c.name}" in self.names
        return skip


# --- options ---------------------------------------------------------------------------


def _fingers(fix_fingers: Any) -> str | None:
    if fix_fingers is None or fix_fingers is False:
        return None
    table = {"xmin_peak": "xmin-peak", "clip_xmax": "clip-xmax"}
    if fix_fingers not in table:
        raise OptionError(
            f"WeightWatcher.analyze: fix_fingers={fix_fingers!r}: expected False, 'xmin_peak' "
            "or 'clip_xmax'"
        )
    return table[fix_fingers]


def _native_options(
    *,
    min_evals: Any,
    max_evals: Any,
    max_N: Any,
    randomize: Any,
    mp_fit: Any,
    conv2d_norm: Any,
    pool: Any,
    vectors: Any,
    fix_fingers: Any,
    fit: Any,
    detX: Any,
    svd_method: Any,
    tolerance: Any,
    pl_package: Any,
    xmax: Any,
) -> dict[str, Any]:
    """weightwatcher's keywords → weightscope's options (values checked there)."""
    opts: dict[str, Any] = {
        "min_evals": min_evals,
        "max_evals": max_evals if max_evals else None,  # 0: no limit, as weightwatcher
        "max_n": max_N,
        "randomize": bool(randomize),
        "mp_fit": bool(mp_fit),
        "vectors": bool(vectors),
        "detx": bool(detX),
        "conv_norm": bool(conv2d_norm),
        "conv_maps": not pool,
    }
    if mp_fit or randomize:
        opts["mp_method"] = "ww"  # weightwatcher's MP fit (weightscope's default is bulk-cdf)
    ff = _fingers(fix_fingers)
    if ff is not None:
        opts["fix_fingers"] = ff
    if fit != "PL":
        raise OptionError(
            f"WeightWatcher.analyze: fit={fit!r} is not supported by weightscope (only 'PL')"
        )
    if svd_method not in ("fast", "accurate"):
        raise OptionError(
            f"WeightWatcher.analyze: svd_method={svd_method!r}: expected 'fast' or 'accurate'"
        )
    if tolerance != 1e-6:
        raise OptionError(
            f"WeightWatcher.analyze: tolerance={tolerance!r} is not supported by weightscope "
            "(weak_rank_loss counts eigenvalues below weightwatcher's default 1e-6)"
        )
    pkg = str(pl_package).lower() if isinstance(pl_package, str) else pl_package
    if pkg not in ("ww", "powerlaw"):
        raise OptionError(
            f"WeightWatcher.analyze: pl_package={pl_package!r}: expected 'ww' or 'powerlaw'"
        )
    if pkg != "ww":
        opts["pl_method"] = pkg
    if xmax is not None:
        if isinstance(xmax, bool) or not isinstance(xmax, numbers.Integral) or xmax >= 0:
            raise OptionError(
                f"WeightWatcher.analyze: xmax={xmax!r} is not supported by weightscope (None, "
                "or a negative int -k to leave out the top k eigenvalues)"
            )
        opts["xmax"] = -int(xmax)
    return opts


# --- the DataFrame ---------------------------------------------------------------------


def _ww_frame(df: pd.DataFrame, cands: list[_Candidate]) -> pd.DataFrame:
    """weightscope's rows (layer_id = index into cands) → weightwatcher's identity columns,
    order of rows and columns."""
    if len(df) == 0:
        return pd.DataFrame(columns=[])
    idx = [int(i) for i in df["layer_id"]]
    df = df.copy()
    df["layer_id"] = np.array([cands[i].layer_id for i in idx], dtype=np.int64)
    df["name"] = pd.Series([cands[i].name for i in idx], dtype=object, index=df.index)
    df["longname"] = pd.Series([cands[i].longname for i in idx], dtype=object, index=df.index)
    df["layer_type"] = pd.Series([cands[i].layer_type for i in idx], dtype=object, index=df.index)
    df["has_esd"] = (df["status"].astype(object) != "error").to_numpy(dtype=bool)
    df = df.assign(_order=idx).sort_values("_order", kind="stable").drop(columns="_order")
    df = df.reset_index(drop=True)
    lead = ["layer_id", "name"]
    ww = sorted(c for c in df.columns if c in _WW_COLUMNS and c not in lead)
    rest = [c for c in df.columns if c not in _WW_COLUMNS]
    return df[lead + ww + rest]


def _run_native(
    cands: list[_Candidate], opts: dict[str, Any], keep_esd: bool = False
) -> tuple[pd.DataFrame, Any]:
    names = [f"{c.longname}.weight" for c in cands]
    shapes = [c.shape for c in cands]
    dtypes = [c.dtype for c in cands]

    def fetch(i: int) -> Any:
        t = cands[i].tensor
        if callable(t):
            t = t()
        return _analyze._to_numpy(t)

    out = _native.analyze_tensors(
        names, shapes, dtypes, fetch, opts, None, "<WeightWatcher>", False, keep_esd
    )
    return _analyze._frame(out["columns"], out["kinds"], out["rows"]), out["native"]


#: weightwatcher's plot file suffixes → weightscope's layer plots (see the module docstring).
_WW_PLOTS = (
    ("esd", "esd_loglog"),
    ("esd2", "esd"),
    ("esd3", "esd_loglin"),
    ("esd4", "xmin_scan"),
    ("randesd1", "randomized"),
)


def _plot_layers(
    native: Any, frame: pd.DataFrame, cands: list[_Candidate], savefig: Any
) -> list[str]:
    """``analyze(plot=True)``: each row's plots, shown under IPython and saved into the
    ``savefig`` folder (``True``: ``'ww-img'``; ``False``/``None``: not saved). Returns the
    files written."""
    folder = _DEF_SAVE_DIR if savefig is True else savefig
    if folder not in (None, False) and not isinstance(folder, (str, os.PathLike)):
        raise OptionError(
            f"WeightWatcher.analyze: savefig={savefig!r}: expected a folder, True or False"
        )
    display = _ipython_display()
    written: list[str] = []
    slices = frame["slice_id"] if "slice_id" in frame.columns else None
    for i in range(len(frame)):
        available = set(native.layer_plot_kinds(i))
        plot_id = str(cands[int(frame["layer_id"].iloc[i])].layer_id)
        if slices is not None and not pd.isna(slices.iloc[i]):
            plot_id += f"_{int(slices.iloc[i])}"
        for suffix, kind in _WW_PLOTS:
            if kind not in available:
                continue
            data = bytes(native.layer_plot(i, kind, "png"))
            if display is not None:
                display(_analyze.Plot(data, "png", f"layer {plot_id}: {kind}"))
            if folder not in (None, False):
                os.makedirs(folder, exist_ok=True)
                path = os.path.join(os.fspath(folder), f"ww.layer{plot_id}.{suffix}.png")
                _analyze._write_atomic(path, data)
                written.append(path)
    return written


def _ipython_display() -> Any:
    """IPython's ``display`` when running under IPython (a notebook), else None."""
    ipython = sys.modules.get("IPython")
    if ipython is None or ipython.get_ipython() is None:
        return None
    from IPython.display import display

    return display


class WeightWatcher:
    """weightwatcher 0.7.7's ``WeightWatcher``, computed by weightscope.

    ``WeightWatcher(model=None, log_level=None)``; ``framework`` and ``base_model`` are
    accepted as keywords only when None (anything else raises ``OptionError``).

    Differences from weightwatcher, on purpose: a failed power-law fit has ``status``
    ``"failed"`` and NaN ``alpha`` (weightwatcher: α = −1, warning over-trained), so
    ``get_summary``'s α means leave it out; ``sv_min`` of a pooled Conv2d layer is the true
    minimum over its maps; weightscope's extra columns follow weightwatcher's. ``get_ESD``
    is computed in Python (numpy), without ``random``.
    """

    def __init__(self, model: Any = None, framework: Any = None, base_model: Any = None,
                 log_level: Any = None):  # fmt: skip
        if framework is not None:
            raise OptionError(
                f"WeightWatcher: framework={framework!r} is not supported by weightscope "
                "(the framework is inferred from the model)"
            )
        if base_model is not None:
            raise OptionError("WeightWatcher: base_model is not supported by weightscope")
        self.model = model
        self.log_level = log_level
        self.details: pd.DataFrame | None = None
        self.results = None

    def _model(self, model: Any) -> Any:
        if model is not None:
            self.model = model
        if self.model is None:
            raise Error("WeightWatcher: no model (pass model= to the constructor or analyze)")
        return self.model

    def analyze(
        self,
        model: Any = None,
        layers: Any = [],  # noqa: B006 (weightwatcher's signature; never modified)
        min_evals: int = 8,
        max_evals: int = 15000,
        min_size: Any = None,
        max_size: Any = None,
        max_N: int = 50000,
        glorot_fix: bool = False,
        plot: bool = False,
        randomize: bool = False,
        savefig: Any = _DEF_SAVE_DIR,
        mp_fit: bool = False,
        conv2d_norm: bool = True,
        ww2x: bool = False,
        pool: bool = True,
        conv2d_fft: bool = False,
        fft: bool = False,
        deltas: bool = False,
        intra: bool = False,
        vectors: bool = False,
        channels: Any = None,
        stacked: bool = False,
        fix_fingers: Any = False,
        xmin_max: Any = None,
        max_fingers: int = 10,
        finger_thresh: float = 1.0,
        fit: str = "PL",
        sparsify: bool = True,
        detX: bool = False,
        ERG: bool = False,
        svd_method: str = "fast",
        tolerance: float = 1e-6,
        start_ids: int = 0,
        pl_package: str = "ww",
        xmax: Any = None,
        base_model: Any = None,
        peft: bool = False,
        inverse: bool = False,
    ) -> pd.DataFrame:
        """weightwatcher 0.7.7's ``analyze``: one row per weight matrix, weightwatcher's
        ``layer_id``/``name``/``longname``/``layer_type``, columns ``layer_id``, ``name``, then
        weightwatcher's columns sorted by name (as 0.7.7 with pandas ≥ 2 gives them; ``has_esd``
        included), then weightscope's own columns.

        Supported keywords: ``layers`` (ids, names, layer types; negative ids / ``"-name"``
        skip), ``min_evals``, ``max_evals``, ``max_N``, ``randomize``, ``mp_fit``,
        ``conv2d_norm``, ``pool`` / ``ww2x`` (per-map ESDs), ``vectors``, ``fix_fingers``
        (``'xmin_peak'``, ``'clip_xmax'``), ``detX`` / ``ERG``, ``pl_package`` (``'ww'``,
        ``'powerlaw'``), ``xmax`` (None or -k), ``start_ids``, ``plot`` and ``savefig``
        (weightscope's plots under weightwatcher's file names), ``svd_method`` (both values
        give the same, exact, spectrum), ``fit='PL'``, ``tolerance=1e-6``. Any other keyword with a
        value other than weightwatcher's default raises ``weightscope.OptionError``.

        Differences: a failed fit has status "failed" and NaN alpha (weightwatcher: -1 and
        "over-trained"); ``sv_min`` of pooled Conv2d is the true minimum over its maps.
        """
        given = dict(locals())
        _unsupported(given, [k for k in _UNSUPPORTED if k not in ("plot", "savefig")])
        if ww2x:
            pool = False
        if ERG:
            detX = True
        if isinstance(start_ids, bool) or not isinstance(start_ids, numbers.Integral):
            raise OptionError(f"WeightWatcher.analyze: start_ids={start_ids!r}: expected an int")
        opts = _native_options(
            min_evals=min_evals,
            max_evals=max_evals,
            max_N=max_N,
            randomize=randomize,
            mp_fit=mp_fit,
            conv2d_norm=conv2d_norm,
            pool=pool,
            vectors=vectors,
            fix_fingers=fix_fingers,
            fit=fit,
            detX=detX,
            svd_method=svd_method,
            tolerance=tolerance,
            pl_package=pl_package,
            xmax=xmax,
        )
        cands = _candidates(self._model(model), int(start_ids))
        filt = _Filter(layers)
        cands = [c for c in cands if not filt.skipped(c)]
        if not cands:
            details = pd.DataFrame(columns=[])
        else:
            frame, native = _run_native(cands, opts, keep_esd=bool(plot))
            if plot:
                _plot_layers(native, frame, cands, savefig)
            details = _ww_frame(frame, cands)
        self.details = details
        return details

    def distances(
        self,
        model_1: Any,
        model_2: Any,
        method: str = "raw",
        layers: Any = [],  # noqa: B006 (weightwatcher's signature; never modified)
        start_ids: int = 0,
        pool: bool = True,
        channels: Any = None,
    ) -> tuple[float, float, pd.DataFrame]:
        """weightwatcher 0.7.7's ``distances``: ``(avg_dW, avg_db, df)`` with ``df`` indexed by
        ``layer_id``, columns ``method, name, delta_W, delta_b, M, N, b_shape, longname``.

        ``raw``: ‖W₁ − W₂‖_F of the whole weight tensor and ‖b₁ − b₂‖ of a dense layer's bias
        (``b_shape`` its shape; ``'unknown'`` and 0 otherwise); ``euclidean``: the mean over the
        layer's matrices (one per conv kernel position) of ‖W₁ − W₂‖_F; ``cka``: the same mean
        of uncentred CKA. Computed by weightscope in float64, where weightwatcher casts PyTorch
        weights to float32 first (values then agree to float32 rounding). Both models must be
        ``torch.nn.Module``s of the same architecture; ``pool=False`` and ``channels`` are not
        supported (weightwatcher's defaults only); its default size limits choose the layers
        (M·rf ≥ 8, M·rf ≤ 15000, N ≤ 50000).
        """
        if not pool or channels is not None:
            raise OptionError(
                "WeightWatcher.distances: only pool=True and channels=None are supported"
            )
        method = "raw" if method is None else str(method).lower()
        if method not in ("raw", "euclidean", "cka"):
            raise Error(f"WeightWatcher.distances: method {method!r} is not raw, euclidean or cka")
        if not (_analyze._is_torch_module(model_1) and _analyze._is_torch_module(model_2)):
            raise Error("WeightWatcher.distances: both models must be torch.nn.Module")
        filt = _Filter(layers)

        def rows(model: Any) -> list[_Candidate]:
            out = []
            for c in _module_candidates(model, int(start_ids)):
                if filt.skipped(c) or c.layer_type not in ("dense", "conv2d", "embedding"):
                    continue
                if len(c.shape) not in (2, 4):
                    continue
                m, n = min(c.shape[:2]), max(c.shape[:2])
                rf = c.shape[2] * c.shape[3] if len(c.shape) == 4 else 1
                # weightwatcher's default size limits (min_evals 8, max_evals 15000, max_N).
                if m * rf < 8 or m * rf > 15000 or n > 50000:
                    continue
                out.append(c)
            return out

        def as_f64(t: Any) -> list[float]:
            return np.asarray(_analyze._to_numpy(t), dtype=np.float64).ravel().tolist()

        records = []
        for c1, c2 in zip(rows(model_1), rows(model_2)):
            b_shape: Any = "unknown"
            b1 = b2 = None
            if c1.layer_type == "dense" and method == "raw":
                m1 = model_1.get_submodule(c1.longname)
                m2 = model_2.get_submodule(c2.longname)
                if getattr(m1, "bias", None) is not None and getattr(m2, "bias", None) is not None:
                    if m1.bias.shape == m2.bias.shape:
                        b1, b2 = as_f64(m1.bias.data), as_f64(m2.bias.data)
                        b_shape = tuple(int(d) for d in m1.bias.shape)
            if c1.shape != c2.shape:
                raise Error(
                    f"WeightWatcher.distances: {c1.longname}: shapes differ "
                    f"({c1.shape} and {c2.shape})"
                )
            dw, db, m, n = _native.layer_distance(
                as_f64(c1.tensor.data), as_f64(c2.tensor.data), c1.shape, method, b1, b2
            )
            if method != "raw":
                b_shape = "unknown"
            records.append(
                {
                    "layer_id": c1.layer_id,
                    "name": c1.name,
                    "longname": c1.longname,
                    "method": method,
                    "M": m,
                    "N": n,
                    "delta_W": dw,
                    "b_shape": b_shape,
                    "delta_b": db,
                }  # fmt: skip
            )
        lead = ["method", "layer_id", "name", "delta_W", "delta_b", "M", "N", "b_shape"]
        df = pd.DataFrame.from_records(records, columns=lead + ["longname"])
        df = df.set_index("layer_id")
        avg_dw = float(np.mean(df["delta_W"].to_numpy())) if len(df) else float("nan")
        avg_db = float(np.mean(df["delta_b"].to_numpy())) if len(df) else float("nan")
        return avg_dw, avg_db, df

    def get_details(self) -> pd.DataFrame | None:
        """The details of the last ``analyze`` (None before)."""
        return self.details

    def get_summary(self, details: pd.DataFrame | None = None) -> dict[str, float]:
        """weightwatcher's ``get_summary``: the mean of each of log_norm, alpha,
        alpha_weighted, log_alpha_norm, log_spectral_norm, stable_rank, mp_softrank present
        in the details (NaN left out: a failed fit's NaN α is not averaged in, where
        weightwatcher averages its −1)."""
        if details is None:
            details = self.details
        out: dict[str, float] = {}
        if details is None:
            return out
        for metric in _SUMMARY_METRICS:
            if metric in details.columns:
                out[metric] = details[metric].astype("float64").mean()
        return out

    def describe(
        self,
        model: Any = None,
        layers: Any = [],  # noqa: B006
        min_evals: int = 8,
        max_evals: int = 15000,
        min_size: Any = None,
        max_size: Any = None,
        max_N: int = 50000,
        glorot_fix: bool = False,
        savefig: Any = _DEF_SAVE_DIR,
        ww2x: bool = False,
        pool: bool = True,
        conv2d_fft: bool = False,
        fft: bool = False,
        conv2d_norm: bool = True,
        intra: bool = False,
        channels: Any = None,
        stacked: bool = False,
        start_ids: int = 0,
        base_model: Any = None,
        peft: bool = False,
    ) -> pd.DataFrame:
        """weightwatcher's ``describe``: the layers ``analyze`` would analyse, without the
        maths, from the weights' shapes: ``layer_id``, ``name``, ``M``, ``N``, ``Q``,
        ``layer_type``, ``longname``, ``num_evals`` (M·rf, or M with ``pool=False``), ``rf``.
        Same columns and rows as 0.7.7's ``describe`` on the fixture modules (checked by hand
        with weightwatcher; no recorded fixture, so CI compares with ``analyze``'s rows)."""
        given = dict(locals())
        _unsupported(given, _DESCRIBE_UNSUPPORTED)
        if ww2x:
            pool = False
        cands = _candidates(self._model(model), int(start_ids))
        filt = _Filter(layers)
        rows = []
        for c in _sized(cands, min_evals, max_evals, max_N, pool):
            if filt.skipped(c):
                continue
            M, N, rf = _dims(c)
            n = M * rf if pool else M  # layer_supported's num_evals
            rows.append(
                {
                    "layer_id": c.layer_id,
                    "name": c.name,
                    "M": M,
                    "N": N,
                    "Q": N / M if M > 0 else -1,
                    "layer_type": c.layer_type,
                    "longname": c.longname,
                    "num_evals": n,
                    "rf": rf,
                }
            )
        if not rows:
            return pd.DataFrame(columns=[])
        return pd.DataFrame(rows)

    def get_ESD(
        self, model: Any = None, layer: Any = None, random: bool = False, params: Any = None
    ) -> Any:
        """weightwatcher's ``get_ESD``: the eigenvalues of W^T W of one layer (by layer id or
        name; the first match), sorted ascending, as 0.7.7 computes them in ``get_ESD``: the
        squared singular values of the weight matrix in float64, for a Conv2d layer those of
        its kh·kw maps together, *without* the conv2d_norm scaling that ``analyze`` applies
        (0.7.7's ``get_ESD`` does not normalise: a pooled Conv2d's ``lambda_max`` is half the
        largest of these). An id or name that is not a layer gives
        ``[]`` and a warning, as 0.7.7. ``random=True`` (a random permutation's ESD),
        ``params``, channels-first Conv2d kernels and 3-D Conv1d weights raise
        NotImplementedError / OptionError."""
        if random:
            raise NotImplementedError(
                "WeightWatcher.get_ESD(random=True) is not available in weightscope"
            )
        if params is not None:
            raise OptionError("WeightWatcher.get_ESD: params is not supported by weightscope")
        cands = _sized(_candidates(self._model(model), 0), 8, 15000, 50000, True)
        if isinstance(layer, numbers.Integral) and layer not in [c.layer_id for c in cands]:
            warnings.warn(f"get_ESD: no layer with id {layer}", stacklevel=2)
            return []
        if type(layer) is str and layer not in [c.name for c in cands]:
            warnings.warn(f"get_ESD: no layer named {layer!r}", stacklevel=2)
            return []
        filt = _Filter([layer])
        c = next(c for c in cands if not filt.skipped(c))
        t = c.tensor() if callable(c.tensor) else c.tensor
        w = np.asarray(_analyze._to_numpy(t), dtype=np.float64)
        if w.ndim == 2:
            mats = [w]
        elif w.ndim == 4 and w.shape[0] + w.shape[1] >= w.shape[2] + w.shape[3]:
            mats = [w[:, :, i, j] for i in range(w.shape[2]) for j in range(w.shape[3])]
        else:
            raise NotImplementedError(
                f"WeightWatcher.get_ESD: a {w.ndim}-D weight of shape {list(w.shape)} "
                "(channels-first Conv2d or Conv1d) is not available in weightscope"
            )
        evals = [np.linalg.svd(m, compute_uv=False) ** 2 for m in mats]
        return np.sort(np.concatenate(evals))


def _sized(cands: list[_Candidate], min_evals, max_evals, max_N, pool) -> list[_Candidate]:
    """The candidates within ``WWLayerIterator.layer_supported``'s size limits."""
    out = []
    for c in cands:
        M, N, rf = _dims(c)
        n = M * rf if pool else M
        if (min_evals and n < min_evals) or (max_evals and n > max_evals) or N > max_N:
            continue
        out.append(c)
    return out


def _dims(c: _Candidate) -> tuple[int, int, int]:
    """M, N, rf of a weight shape: 2-D (a, b) → min, max, 1; conv (out, in, k...) →
    min(out, in), max(out, in), the product of the kernel sizes."""
    s = c.shape
    a, b = s[0], s[1]
    rf = math.prod(s[2:]) if len(s) > 2 else 1
    return min(a, b), max(a, b), rf
