"""weightscope: diagnose trained neural networks from their weights alone, with random
matrix theory (Martin & Mahoney). The numbers are weightwatcher 0.7.7's, computed by a Rust
core many times faster.

>>> import weightscope as ws
>>> details = ws.analyze("model.safetensors")      # or a torch.nn.Module, a state dict, ...
>>> ws.summary(details)["alpha"]

``analyze`` returns a pandas DataFrame with exactly the columns of the command line's CSV for
the same options. ``Report(model, ...)`` keeps the whole analysis: the summary, the skipped
tensors, each layer's eigenvalues (``rep.esd``), its plots (``rep.plot``, inline in Jupyter)
and the HTML report (``rep.to_html``).

``sparsity(model, target=0.7)`` gives AlphaPruning's per-layer sparsity ratios, and
``weightscope.tempbalance.TempBalance`` TempBalance's per-layer learning rates (README,
"Acting on the diagnosis").

``analyze(path, executor="ray")`` spreads the layers over a Ray cluster (``weightscope.ray``:
the address, resources per task, retries), with the same result as a local run.

``WeightWatcher`` is weightwatcher 0.7.7's class (``import weightscope as ww``): the same
rows, layer ids, names and numbers (see ``weightscope.compat``).
"""

from ._analyze import OPTIONS, Plot, Report, analyze, analyze_report, columns, summary
from ._native import __version__
from .actions import smooth, sparsity
from .compat import WeightWatcher
from .errors import ClusterError, Error, OptionError, ReadError, ShardError

__all__ = [
    "OPTIONS",
    "ClusterError",
    "Error",
    "OptionError",
    "Plot",
    "ReadError",
    "Report",
    "ShardError",
    "WeightWatcher",
    "__version__",
    "analyze",
    "analyze_report",
    "columns",
    "smooth",
    "sparsity",
    "summary",
]
