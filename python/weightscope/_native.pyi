"""Type stubs of the native module ``weightscope._native`` (crates/weightscope-python)."""

import os
from typing import Any, Callable

from typing_extensions import TypeAlias

__version__: str

class Error(Exception):
    """Base class of weightscope's errors."""

class ReadError(Error):
    """A checkpoint or tensor could not be read (the message names the file and the tensor)."""

class OptionError(Error):
    """A bad option: an unknown name, a value of the wrong type, a layers filter that matches
    nothing."""

class ShardError(Error):
    """Parts of a sharded run that do not join into one report (another checkpoint, other
    options, a share missing or given twice)."""

_Progress: TypeAlias = Callable[[float, float, str], Any]

class NativeReport:
    """The Rust report of one analysis, kept for its eigenvalues, plots and writers."""

    def esd(self, index: int) -> list[float] | None: ...
    def rand_esd(self, index: int) -> list[float] | None: ...
    def layer_plot_kinds(self, index: int) -> list[str]: ...
    def layer_plot(self, index: int, kind: str, format: str) -> bytes: ...
    def model_plot(self, kind: str, format: str) -> bytes: ...
    def html(self) -> str: ...
    def json(self) -> str: ...
    def csv(self) -> str: ...

def analyze_path(
    path: str | os.PathLike[str],
    options: dict[str, Any] | None = None,
    progress: _Progress | None = None,
    want_json: bool = False,
    keep_esd: bool = False,
) -> dict[str, Any]:
    """Analyse a checkpoint file or model folder. Returns a dict with ``columns``, ``kinds``
    ("int"/"float"/"text"), ``rows``, ``summary``, ``skipped``, ``source``, ``format``,
    ``files``, ``version``, ``json`` (None unless ``want_json``) and ``native`` (a
    :class:`NativeReport`; its ESDs are kept with ``keep_esd``)."""

def analyze_tensors(
    names: list[str],
    shapes: list[list[int]],
    dtypes: list[str],
    fetch: Callable[[int], Any],
    options: dict[str, Any] | None = None,
    progress: _Progress | None = None,
    source: str = "<python>",
    want_json: bool = False,
    keep_esd: bool = False,
) -> dict[str, Any]:
    """Analyse tensors held by Python. ``fetch(i)`` returns tensor i as a numpy
    float16/32/64 array or a ``(bytes, "<f4")`` pair; it is called from worker threads (with
    the GIL taken), one tensor at a time, only for tensors that are analysed."""

def share_plan(
    path: str | os.PathLike[str], count: int, options: dict[str, Any] | None = None
) -> list[tuple[int, float]]:
    """How ``count`` shares split the layers of a checkpoint (``analyze --shard I/N``'s
    split): (layers, estimated flops) of each share."""

def analyze_share(
    path: str | os.PathLike[str],
    index: int,
    count: int,
    options: dict[str, Any] | None = None,
    progress: _Progress | None = None,
    source: str | None = None,
) -> bytes:
    """Analyse share ``index`` of ``count``; the part's JSON bytes (those of ``weightscope
    analyze --shard I/N --part FILE``). ``source``: the report's source (default: path)."""

def merge_parts(parts: list[bytes], labels: list[str], want_json: bool = False) -> dict[str, Any]:
    """Join the parts of every share (labels name them in errors) into the dict of
    :func:`analyze_path`; raises ShardError for parts that do not fit together."""

def columns() -> list[dict[str, Any]]:
    """The column registry: dicts with name, option (None for the default columns), kind,
    meaning."""

def option_names() -> list[str]:
    """The option names ``analyze_*`` accept."""

def plot_kinds() -> list[tuple[str, str, str]]:
    """Every plot kind as (scope "layer"/"model", name, caption)."""

def sparsity_ratios(
    metrics: list[float],
    params: list[int],
    target: float,
    epsilon: float,
    groups: list[int] | None = None,
) -> list[float]:
    """AlphaPruning's sparsity ratios (``weightscope::act::sparsity_ratios``)."""

def block_groups(names: list[str]) -> list[int]:
    """The transformer block of each layer name, as group ids."""

def in_block(names: list[str]) -> list[bool]:
    """Whether each layer name lies in a numbered transformer block."""

def reference_alpha(
    eigs: list[float], metric: str, xmin_pos: float = 2.0, bins: int = 100
) -> tuple[float, float, float] | None:
    """(alpha, D, xmin) of the AlphaPruning/TempBalance estimator ``metric`` ("alpha_peak" or
    "alpha_mid") on ascending eigenvalues."""

def layer_distance(
    w1: list[float],
    w2: list[float],
    shape: list[int],
    method: str,
    b1: list[float] | None = None,
    b2: list[float] | None = None,
) -> tuple[float, float, int, int]:
    """weightwatcher's distance of one layer of two models: (delta_W, delta_b, M, N)."""

def smooth_tensor(values: list[float], shape: list[int], num_smooth: int) -> list[float] | None: ...
