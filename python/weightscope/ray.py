"""Analyse a checkpoint on a Ray cluster: its layers are split in shares balanced by estimated
flops (the split of ``weightscope analyze --shard I/N``), each share is a Ray task that
analyses its layers in a worker, and the driver joins the parts into the DataFrame of a local
run, value for value (the CSV and JSON of :func:`analyze_report` are the same bytes).

>>> import weightscope as ws
>>> details = ws.analyze("/shared/llama-70b", executor="ray")          # defaults
>>> import weightscope.ray
>>> details = weightscope.ray.analyze("/shared/llama-70b", address="auto", num_cpus_per_task=4)

Every worker opens the checkpoint itself: the path must be readable at the same place on
every node (a shared file system, or the same copy on each node; a hub id ``org/name`` is
looked up in each node's own Hugging Face cache). Workers need weightscope installed in the
Python they run (a local cluster started by the driver uses the driver's interpreter; on a
cluster, the nodes' environment or a ``runtime_env``). The analysis itself runs on CPUs;
``num_gpus_per_task`` only reserves GPUs (to place tasks on GPU nodes).

A task whose worker process dies (killed, out of memory, a node lost) is run again, up to
``max_retries`` times; each share is identified by its index and its rows placed by layer
position, so no layer is lost or counted twice (the join refuses a share missing or given
twice). An error in a share (an unreadable tensor) is raised as the same weightscope
exception as in a local run.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import pandas as pd

try:
    import ray
    import ray.exceptions
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "weightscope.ray needs Ray: pip install 'ray>=2.9' (weightscope's tests use 2.60.0)"
    ) from e

from . import _native
from ._analyze import Progress, Report, _frame, _progress_callback
from .errors import ClusterError, Error

__all__ = ["analyze", "analyze_report", "ClusterError"]

#: Called in the worker before each share is analysed, with (index, count) of the share.
Setup = Callable[[int, int], Any]


def _run_share(
    path: str,
    source: str,
    index: int,
    count: int,
    options: dict[str, Any],
    setup: Setup | None,
) -> bytes:
    """One share in a Ray worker: the part's JSON bytes (as ``analyze --shard --part``)."""
    if setup is not None:
        setup(index, count)
    if options.get("max_memory") is None:
        cap = _task_memory_cap()
        if cap is not None:
            options = {**options, "max_memory": cap}
    return bytes(_native.analyze_share(path, index, count, options, None, source))


_remote_share = ray.remote(_run_share)


def _task_memory_cap() -> int | None:
    """This task's part of its node's memory: 3/4 of ``MemAvailable`` (the local default
    cap) times the task's share of the node's CPUs. Without it every task on a node would
    take 3/4 of the node's memory for itself, and several together could exhaust it. None
    (the local default) where the node's memory or CPUs are unknown. Never changes a row
    but the error rows of layers over the cap (the cap is not part of the options a merge
    compares)."""
    ctx = ray.get_runtime_context()
    mine = ctx.get_assigned_resources().get("CPU", 0.0)
    node = next((n for n in ray.nodes() if n.get("NodeID") == ctx.get_node_id()), None)
    total = (node or {}).get("Resources", {}).get("CPU", 0.0)
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        available = int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None
    if mine <= 0 or total <= 0:
        return None
    return max(1 << 20, int(available * 0.75 * min(1.0, mine / total)))


def _connect(address: str | None) -> None:
    """Use the Ray session of this process, else connect to ``address`` (or start one)."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=True)
    except ConnectionError as e:
        where = "RAY_ADDRESS or a cluster on this machine" if address == "auto" else address
        raise ClusterError(
            f"cannot connect to a Ray cluster ({where}): {e}; start one with `ray start "
            "--head`, give its address, or use address=None to start a local one"
        ) from e


def _slots(num_cpus: float, num_gpus: float) -> int:
    """How many tasks of this size the cluster runs at once (at least 1). A task larger than
    the whole cluster would wait for ever: refused."""
    res = ray.cluster_resources()
    for name, need in (("CPU", num_cpus), ("GPU", num_gpus)):
        if need > res.get(name, 0):
            raise ClusterError(
                f"a task asks for {need:g} {name}(s) but the Ray cluster has "
                f"{res.get(name, 0):g} in all: it could never run (lower "
                f"num_{name.lower()}s_per_task, or add nodes)"
            )
    fits = []
    if num_cpus > 0:
        fits.append(int(res.get("CPU", 0) // num_cpus))
    if num_gpus > 0:
        fits.append(int(res.get("GPU", 0) // num_gpus))
    return max(1, min(fits) if fits else 1)


def _parts(
    model: str | os.PathLike[str],
    *,
    address: str | None,
    num_cpus_per_task: float,
    num_gpus_per_task: float,
    tasks: int | None,
    max_retries: int,
    progress: Progress | bool | None,
    setup: Setup | None,
    options: dict[str, Any],
) -> dict[str, Any]:
    """Run every share as a Ray task and join the parts: the dict of ``analyze_path``."""
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(
            "the Ray executor analyses a checkpoint path that every worker can read; got "
            f"{type(model).__module__}.{type(model).__qualname__} (save it first, e.g. with "
            "safetensors, or analyse it locally)"
        )
    source = os.fspath(model)
    # Workers may not share the driver's working directory: give them an absolute path,
    # but keep the path as given as the report's source (a local run's).
    path = os.path.abspath(source) if os.path.exists(source) else source
    if num_cpus_per_task <= 0 and num_gpus_per_task <= 0:
        raise ValueError("num_cpus_per_task or num_gpus_per_task must be positive")
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, got {max_retries}")
    opts = dict(options)
    if "threads" not in opts and num_cpus_per_task >= 1:
        # One thread per CPU the task holds, not every core of the node.
        opts["threads"] = int(num_cpus_per_task)
    _connect(address)
    slots = _slots(num_cpus_per_task, num_gpus_per_task)
    if tasks is None:
        # Twice the tasks the cluster runs at once: the shares are balanced by an estimate,
        # so a second round evens out what it misses; and the progress moves more often.
        tasks = 2 * slots
    if tasks < 1:
        raise ValueError(f"tasks must be >= 1, got {tasks}")
    plan = _native.share_plan(path, tasks, opts)
    layers = sum(n for n, _ in plan)
    if layers and tasks > layers:
        # More shares than layers would leave shares empty: one layer each instead.
        tasks = layers
        plan = _native.share_plan(path, tasks, opts)
    total = float(sum(f for _, f in plan))

    cb, finish = _progress_callback(progress)
    remote = _remote_share.options(
        num_cpus=num_cpus_per_task, num_gpus=num_gpus_per_task, max_retries=max_retries
    )
    refs = {remote.remote(path, source, i, tasks, opts, setup): i for i in range(tasks)}
    parts: dict[int, bytes] = {}
    pending = list(refs)
    done_flops = 0.0
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in ready:
                i = refs[ref]
                parts[i] = _get(ref, i, tasks, max_retries)
                done_flops += plan[i][1]
                if cb is not None:
                    cb(done_flops, total, f"share {i}/{tasks} ({plan[i][0]} layers)")
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        finish()
    labels = [f"share {i}/{tasks}" for i in sorted(parts)]
    return _native.merge_parts([parts[i] for i in sorted(parts)], labels, False)


def _get(ref: Any, index: int, count: int, max_retries: int) -> bytes:
    """A task's part; its error as weightscope raises it locally."""
    try:
        return bytes(ray.get(ref))
    except ray.exceptions.RayTaskError as e:
        cause = e.cause
        if isinstance(cause, Error):
            raise type(cause)(*cause.args) from None
        raise
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as e:
        raise ClusterError(
            f"share {index}/{count}: its worker died {max_retries + 1} time(s) "
            f"(max_retries={max_retries}): {e}"
        ) from e


def analyze(
    model: str | os.PathLike[str],
    *,
    address: str | None = None,
    num_cpus_per_task: float = 1,
    num_gpus_per_task: float = 0,
    tasks: int | None = None,
    max_retries: int = 3,
    progress: Progress | bool | None = None,
    setup: Setup | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Analyse a checkpoint on a Ray cluster; the DataFrame of :func:`weightscope.analyze`.

    Args:
        model: a checkpoint path (or hub id) that every worker can read at that path.
        address: the cluster: None uses this process's Ray session if there is one, else
            ``ray.init()``'s lookup (``RAY_ADDRESS``, the last cluster started here), else
            starts a local one; ``"auto"`` connects to a running cluster and raises
            :class:`ClusterError` when there is none; or a concrete address.
        num_cpus_per_task, num_gpus_per_task: Ray resources of each task; the analysis in a
            task runs ``num_cpus_per_task`` threads unless ``threads`` is given. A task that
            asks for more than the whole cluster has raises :class:`ClusterError`.
        tasks: how many shares (default: twice the tasks the cluster runs at once, at most
            one per layer).
        max_retries: how many times a task whose worker died is run again.
        progress: as for :func:`weightscope.analyze` (True: a tqdm bar over the estimated
            flops), moved as each task finishes.
        setup: ``setup(index, count)`` called in the worker before each share (e.g. to mount
            or copy the checkpoint); it must be picklable.
        **options: the analysis options of :func:`weightscope.analyze`.

    Raises:
        ClusterError: no cluster at ``address``, or a task's worker died more than
            ``max_retries`` times. ReadError, OptionError: as a local run.
    """
    out = _parts(
        model,
        address=address,
        num_cpus_per_task=num_cpus_per_task,
        num_gpus_per_task=num_gpus_per_task,
        tasks=tasks,
        max_retries=max_retries,
        progress=progress,
        setup=setup,
        options=options,
    )
    return _frame(out["columns"], out["kinds"], out["rows"])


def analyze_report(
    model: str | os.PathLike[str],
    *,
    address: str | None = None,
    num_cpus_per_task: float = 1,
    num_gpus_per_task: float = 0,
    tasks: int | None = None,
    max_retries: int = 3,
    progress: Progress | bool | None = None,
    setup: Setup | None = None,
    **options: Any,
) -> Report:
    """As :func:`analyze`, as a :class:`weightscope.Report` (its ``to_csv`` / ``to_json`` are
    the bytes of a local run). The eigenvalues stay in the workers: ``esd`` and the layer
    plots are not available; the summary, the tables and the model plots are."""
    out = _parts(
        model,
        address=address,
        num_cpus_per_task=num_cpus_per_task,
        num_gpus_per_task=num_gpus_per_task,
        tasks=tasks,
        max_retries=max_retries,
        progress=progress,
        setup=setup,
        options=options,
    )
    return Report._from_output(out)
