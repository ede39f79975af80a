"""The Ray executor (weightscope.ray) on a real local Ray cluster (2 CPUs, started once for the
module): the same DataFrame, CSV and JSON bytes as a local run, progress per finished task, a
worker process killed mid-run recovered with every layer once, errors from workers raised as
weightscope's, and address="auto" with and without a running cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import weightscope as ws
from weightscope import _native

ray = pytest.importorskip("ray")
import weightscope.ray as wsray  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mnist-cnn" / "model.safetensors"
# The example's analysed layers (the golden CSV tests/golden/example.csv has these rows).
EXAMPLE_LAYER_IDS = [1, 3, 5, 7, 9]


def _env_without_ray_address() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)
    return env


def _ray_cluster_running() -> bool:
    """Whether a Ray GCS server runs on this machine (what address="auto" would find)."""
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return any("gcs_server" in line for line in out.splitlines())


# First in the module: before the cluster fixture starts one.
def test_auto_without_cluster_raises_cluster_error():
    if _ray_cluster_running():
        pytest.skip("a Ray cluster already runs on this machine: address='auto' would find it")
    code = (
        "import weightscope as ws, weightscope.ray as r\n"
        "try:\n"
        f"    r.analyze({str(EXAMPLE)!r}, address='auto')\n"
        "except ws.ClusterError as e:\n"
        "    print('ClusterError:', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env_without_ray_address(),
    )
    assert "ClusterError: cannot connect to a Ray cluster" in out.stdout, out.stderr[-2000:]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_same_dataframe_as_local_run(cluster):
    local = ws.analyze(EXAMPLE)
    got = ws.analyze(EXAMPLE, executor="ray")
    assert got["layer_id"].tolist() == EXAMPLE_LAYER_IDS
    pd.testing.assert_frame_equal(got, local, check_exact=True)


@pytest.mark.parametrize("tasks", [1, 2, 5])
def test_csv_and_json_bytes_equal_local_run(cluster, tasks):
    local = ws.Report(EXAMPLE, all=True, seed=3)
    rep = wsray.analyze_report(EXAMPLE, tasks=tasks, all=True, seed=3)
    assert rep.to_csv() == local.to_csv()
    assert rep.to_json() == local.to_json()
    assert rep.summary == local.summary
    pd.testing.assert_frame_equal(rep.details, local.details, check_exact=True)


def test_layers_filter_and_more_tasks_than_layers(cluster):
    local = ws.analyze(EXAMPLE, layers="fc_layers")
    got = wsray.analyze(EXAMPLE, tasks=16, layers="fc_layers")
    assert len(local) == 2
    pd.testing.assert_frame_equal(got, local, check_exact=True)


def test_progress_moves_once_per_task(cluster):
    calls: list[tuple[float, float, str]] = []
    wsray.analyze(EXAMPLE, tasks=3, progress=lambda d, t, n: calls.append((d, t, n)))
    assert len(calls) == 3
    done = [d for d, _, _ in calls]
    assert done == sorted(done) and all(d > 0 for d in done)
    total = calls[0][1]
    # The shares' flops add up to the whole model's estimate.
    assert done[-1] == pytest.approx(total, rel=1e-12)
    assert sorted(n.split(" ")[1] for _, _, n in calls) == ["0/3", "1/3", "2/3"]


def _kill_first_attempt(marker: str):
    """A setup hook that kills its own worker process the first time any task runs it."""

    def setup(index: int, count: int) -> None:
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, f"{os.getpid()} {index}/{count}\n".encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    return setup


def test_killed_worker_is_retried_and_no_layer_lost_or_doubled(cluster, tmp_path):
    marker = tmp_path / "killed"
    local = ws.Report(EXAMPLE)
    rep = wsray.analyze_report(
        EXAMPLE, tasks=5, max_retries=2, setup=_kill_first_attempt(str(marker))
    )
    # A worker was killed (its pid and share are in the marker), and the run still has every
    # layer exactly once, in order, with the local run's values and bytes.
    pid, share = marker.read_text().split()
    assert int(pid) != os.getpid() and share.endswith("/5")
    assert rep.details["layer_id"].tolist() == EXAMPLE_LAYER_IDS
    assert rep.to_csv() == local.to_csv()


def test_worker_dying_more_than_max_retries_raises(cluster, tmp_path):
    def always_die(index: int, count: int) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(ws.ClusterError, match=r"share 0/1: its worker died 1 time\(s\)"):
        wsray.analyze(EXAMPLE, tasks=1, max_retries=0, setup=always_die)


def test_weightscope_error_in_a_worker_is_raised_as_itself(cluster):
    def fail(index: int, count: int) -> None:
        raise ws.ReadError(f"share {index}/{count}: disk gone")

    with pytest.raises(ws.ReadError, match=r"share 0/1: disk gone"):
        wsray.analyze(EXAMPLE, tasks=1, setup=fail)


def test_option_error_raised_in_the_driver(cluster):
    with pytest.raises(ws.OptionError, match="min_evals"):
        wsray.analyze(EXAMPLE, min_evals="many")


def test_a_task_larger_than_the_cluster_is_refused(cluster):
    # The fixture's cluster has 2 CPUs and no GPU: such a task would wait for ever.
    with pytest.raises(ws.ClusterError, match=r"asks for 1 GPU\(s\) but the Ray cluster has 0"):
        wsray.analyze(EXAMPLE, num_gpus_per_task=1)
    with pytest.raises(ws.ClusterError, match=r"asks for 3 CPU\(s\) but the Ray cluster has 2"):
        wsray.analyze(EXAMPLE, num_cpus_per_task=3)


def test_tensors_held_by_python_are_refused(cluster):
    with pytest.raises(TypeError, match="checkpoint path that every worker can read"):
        ws.analyze({"w": np.ones((16, 16), dtype=np.float32)}, executor="ray")
    with pytest.raises(ValueError, match="executor"):
        ws.analyze(EXAMPLE, executor="dask")


def test_auto_connects_to_the_running_cluster(cluster):
    # Another process finds the fixture's cluster with address="auto"; its workers import
    # weightscope from this Python.
    code = (
        "import sys, weightscope.ray as r\n"
        f"rep = r.analyze_report({str(EXAMPLE)!r}, address='auto', tasks=2)\n"
        "sys.stdout.write(rep.to_csv())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=180,
        env=_env_without_ray_address(),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout == ws.Report(EXAMPLE).to_csv()


# --- the native join, without Ray -------------------------------------------------------


def test_merge_refuses_a_missing_or_doubled_share():
    p0 = _native.analyze_share(str(EXAMPLE), 0, 2)
    p1 = _native.analyze_share(str(EXAMPLE), 1, 2)
    merged = _native.merge_parts([p1, p0], ["b", "a"])
    assert merged["native"].csv() == ws.Report(EXAMPLE).to_csv()
    with pytest.raises(ws.ShardError, match=r"share\(s\) 1/2 missing"):
        _native.merge_parts([p0], ["a"])
    with pytest.raises(ws.ShardError, match="share 0/2 is given twice: a and again"):
        _native.merge_parts([p0, p0, p1], ["a", "again", "b"])
    other = _native.analyze_share(str(EXAMPLE), 1, 2, {"min_evals": 20})
    with pytest.raises(ws.ShardError, match="other options"):
        _native.merge_parts([p0, other], ["a", "c"])


@pytest.mark.skipif(not os.environ.get("WEIGHTSCOPE_CLI"), reason="WEIGHTSCOPE_CLI not set")
def test_a_share_is_the_command_lines_part_byte_for_byte(tmp_path):
    # `weightscope analyze --shard I/N --part FILE` and the Ray task's share are one format:
    # the same bytes, and parts of either kind merge together.
    cli = os.environ["WEIGHTSCOPE_CLI"]
    part = tmp_path / "part-1.json"
    subprocess.run(
        [cli, "analyze", str(EXAMPLE), "--shard", "1/2", "--part", str(part), "-q"],
        check=True,
        capture_output=True,
    )
    assert part.read_bytes() == _native.analyze_share(str(EXAMPLE), 1, 2)
    p0 = _native.analyze_share(str(EXAMPLE), 0, 2)
    merged = _native.merge_parts([p0, part.read_bytes()], ["python", str(part)])
    assert merged["native"].csv() == ws.Report(EXAMPLE).to_csv()


def test_each_task_gets_its_share_of_the_node_memory(cluster):
    # The fixture's node has 2 CPUs: a 1-CPU task's default cap is half of the local
    # default (3/4 of MemAvailable, read here from /proc/meminfo independently).
    cap = ray.get(ray.remote(num_cpus=1)(wsray._task_memory_cap).remote())
    with open("/proc/meminfo") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
    want = kb * 1024 * 0.75 / 2
    assert cap is not None and abs(cap - want) < 0.1 * want, (cap, want)
