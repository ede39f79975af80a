"""weightscope's Python API against the command line's output (the golden CSVs the CLI's own
golden test checks, and the CLI binary itself when WEIGHTSCOPE_CLI names it), and across
inputs: a path, a dict of numpy arrays, a torch module (when torch is installed)."""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import weightscope as ws

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mnist-cnn" / "model.safetensors"
GOLDEN = ROOT / "tests" / "golden"

# The golden files were written on another CPU, where a last digit may move: the CLI's own
# golden test allows 1e-9 relative. Between two runs on this machine the numbers are equal
# to 1e-12 (in practice bit-equal).
GOLDEN_RTOL = 1e-9
RTOL = 1e-12


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def cell_equal(csv_cell: str, value, kind: str, rtol: float) -> bool:
    """A CSV cell (the CLI's text) against a DataFrame value."""
    if kind == "text":
        return csv_cell == ("" if value is None else value)
    missing = value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    if csv_cell == "":
        return missing
    if missing:
        return csv_cell == "NaN"
    if kind == "int":
        return int(csv_cell) == int(value)
    x = float(csv_cell)
    if math.isinf(x) or math.isinf(value):
        return x == value
    return x == value or abs(x - value) <= rtol * max(abs(x), abs(value))


def assert_frame_matches_csv(df: pd.DataFrame, path: Path, rtol: float) -> int:
    """Every column and cell of `df` equals the CSV at `path`; returns the cells compared."""
    header, rows = read_csv(path)
    assert list(df.columns) == header
    assert len(df) == len(rows)
    kinds = dict(zip(ws.columns()["name"], ws.columns()["kind"]))
    n = 0
    for i, row in enumerate(rows):
        for j, name in enumerate(header):
            v = df.iloc[i, j]
            assert cell_equal(row[j], v, kinds[name], rtol), (
                f"row {i} ({df['longname'].iloc[i]}) column {name}: CSV {row[j]!r} vs {v!r}"
            )
            n += 1
    return n


def assert_frames_equal(a: pd.DataFrame, b: pd.DataFrame, rtol: float = RTOL, skip=()) -> None:
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for c in a.columns:
        if c in skip:
            continue
        x, y = a[c], b[c]
        assert x.dtype == y.dtype, c
        if x.dtype == np.float64:
            np.testing.assert_allclose(x.to_numpy(), y.to_numpy(), rtol=rtol, atol=0, err_msg=c)
        else:
            assert x.astype(object).tolist() == y.astype(object).tolist(), c


# --- a path, against the CLI ------------------------------------------------------------


def test_path_equals_golden_csv():
    df = ws.analyze(EXAMPLE)
    n = assert_frame_matches_csv(df, GOLDEN / "example.csv", GOLDEN_RTOL)
    assert n == len(df) * len(df.columns) > 0


def test_path_all_equals_golden_csv():
    df = ws.analyze(str(EXAMPLE), all=True, seed=3)
    assert "phase" in df.columns and "best_fit" in df.columns
    assert_frame_matches_csv(df, GOLDEN / "example-all.csv", GOLDEN_RTOL)


def test_dtypes():
    df = ws.analyze(EXAMPLE)
    kinds = dict(zip(ws.columns()["name"], ws.columns()["kind"]))
    for c in df.columns:
        want = {"int": "Int64", "float": "float64", "text": "object"}[kinds[c]]
        assert str(df[c].dtype) == want, c
    assert df["slice_id"].isna().all()


CLI = os.environ.get("WEIGHTSCOPE_CLI")


@pytest.mark.skipif(not CLI, reason="WEIGHTSCOPE_CLI (the weightscope binary) not set")
@pytest.mark.parametrize(
    "flags, options",
    [
        ([], {}),
        (
            ["--conv-maps", "--fix-fingers", "clip-xmax"],
            {"conv_maps": True, "fix_fingers": "clip-xmax"},
        ),
        (
            ["--mp-fit", "--xmax", "2", "--layers", "conv"],
            {"mp_fit": True, "xmax": 2, "layers": "conv"},
        ),
        (["--all", "--seed", "7", "--no-conv-norm"], {"all": True, "seed": 7, "conv_norm": False}),
        (
            ["--esd", "farms", "--farms-q", "3", "--farms-xmin", "ks"],
            {"esd": "farms", "farms_q": 3.0, "farms_xmin": "ks"},
        ),
    ],
)
def test_path_equals_cli(tmp_path, flags, options):
    out = tmp_path / "cli.csv"
    subprocess.run(
        [CLI, "analyze", str(EXAMPLE), "--quiet", "--csv", str(out), *flags],
        check=True,
        capture_output=True,
    )
    assert_frame_matches_csv(ws.analyze(EXAMPLE, **options), out, RTOL)


def test_report_summary_and_skipped():
    rep = ws.analyze_report(EXAMPLE)
    import json

    golden = json.loads((GOLDEN / "example.json").read_text())
    for k, v in golden["summary"].items():
        got = rep.summary[k]
        assert got == pytest.approx(v, rel=GOLDEN_RTOL), k
    assert rep.skipped.to_dict("records") == golden["skipped"]
    assert rep.format == "safetensors"
    assert json.loads(rep.json)["layers"][0]["longname"] == rep.details["longname"][0]
    # summary() of the details frame: the same means, the same bits.
    s = ws.summary(rep.details)
    for k in ("alpha", "alpha_weighted", "log_alpha_norm", "log_norm", "stable_rank", "entropy"):
        assert s[k] == rep.summary[k], k
    assert ws.summary(rep) == rep.summary


def test_progress_is_called_per_layer():
    calls = []
    df = ws.analyze(EXAMPLE, progress=lambda done, total, name: calls.append((done, total, name)))
    assert len(calls) == len(df)
    assert sorted(n for _, _, n in calls) == sorted(df["longname"])
    assert max(d for d, _, _ in calls) == pytest.approx(calls[0][1])


def test_progress_exception_propagates():
    def boom(done, total, name):
        raise ValueError("stop here")

    with pytest.raises(ValueError, match="stop here"):
        ws.analyze(EXAMPLE, progress=boom)


# --- numpy ------------------------------------------------------------------------------


def load_numpy() -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(EXAMPLE))


def test_numpy_dict_equals_path():
    arrays = load_numpy()
    by_path = ws.analyze(EXAMPLE, all=True, seed=3)
    # More workers than cores: fetch is called from several threads at once.
    by_dict = ws.analyze(arrays, all=True, seed=3, threads=4)
    # Same tensors in the same order → same layer ids; every column equal.
    assert_frames_equal(by_dict, by_path)


def test_numpy_in_any_order_and_layout():
    """Big-endian, float64 and non-contiguous arrays give the same numbers; a shuffled dict
    changes only the layer ids."""
    arrays = load_numpy()
    ref = ws.analyze(arrays).set_index("longname")
    odd = {}
    for i, (k, a) in enumerate(reversed(list(arrays.items()))):
        if i % 3 == 0:
            a = a.astype(">f4")
        elif i % 3 == 1:
            a = np.asfortranarray(a)
        odd[k] = a
    got = ws.analyze(odd).set_index("longname").loc[ref.index]
    assert_frames_equal(got.drop(columns="layer_id"), ref.drop(columns="layer_id"))
    f64 = ws.analyze({k: a.astype(np.float64) for k, a in arrays.items()})
    assert (f64["dtype"] == "F64").all()
    assert_frames_equal(f64, ws.analyze(arrays), rtol=1e-12, skip=("dtype",))


def test_single_array_and_checkpoint_wrappers():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((300, 100)).astype(np.float32)
    df = ws.analyze(w)
    assert len(df) == 1 and df["N"][0] == 300 and df["M"][0] == 100
    assert df["status"][0] == "success"
    arrays = load_numpy()
    ref = ws.analyze(arrays)
    for key in ("state_dict", "model"):
        assert_frames_equal(ws.analyze({key: arrays, "epoch": 3}), ref)


def test_fetch_reads_one_tensor_at_a_time_and_only_analysed_ones():
    arrays = load_numpy()
    names = list(arrays)
    seen = []

    def fetch(i):
        seen.append(i)
        return arrays[names[i]]

    from weightscope import _native

    out = _native.analyze_tensors(
        names,
        [list(a.shape) for a in arrays.values()],
        [a.dtype.name for a in arrays.values()],
        fetch,
        {"threads": 1},
    )
    assert sorted(seen) == sorted(r[0] for r in out["rows"])  # layer_id is the first column
    assert len(seen) < len(names)  # biases are never fetched


def test_ctrl_c_stops_the_run():
    """SIGINT during a run (here sent from the first fetch) raises KeyboardInterrupt
    promptly: the remaining layers are not read."""
    rng = np.random.default_rng(1)
    arrays = {f"l{i}.weight": rng.standard_normal((200, 100)) for i in range(200)}
    names = list(arrays)
    fetched = []

    def fetch(i):
        fetched.append(i)
        if len(fetched) == 1:
            os.kill(os.getpid(), signal.SIGINT)
            threading.Event().wait(0.3)  # let the main thread see it
        else:
            # Each later read takes a little while (as a real one does), so that a busy
            # machine that delays the main thread still sees most layers unread.
            threading.Event().wait(0.01)
        return arrays[names[i]]

    from weightscope import _native

    # Python installs its KeyboardInterrupt handler only when SIGINT is not ignored at start,
    # and a shell ignores SIGINT in the jobs it starts in the background (`cmd &`): set it
    # here so that the test does not depend on how the test run was started.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _native.analyze_tensors(
                names, [[200, 100]] * len(names), ["float64"] * len(names), fetch, {"threads": 1}
            )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(fetched) < len(names) // 2


def test_fetch_exception_is_a_read_error():
    def fetch(i):
        raise RuntimeError("disk on fire")

    from weightscope import _native

    with pytest.raises(ws.ReadError, match="disk on fire") as e:
        _native.analyze_tensors(["a.weight"], [[64, 32]], ["float32"], fetch, {})
    assert "a.weight" in str(e.value)
    assert isinstance(e.value.__cause__, RuntimeError)


# --- options and errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    "options, match",
    [
        ({"min_eval": 8}, "unknown option 'min_eval'"),
        ({"min_evals": "8"}, "min_evals: expected an integer"),
        ({"min_evals": -1}, "min_evals"),
        ({"mp_fit": 1}, "mp_fit: expected True or False"),
        ({"pl_method": "scipy"}, "pl_method: 'scipy' is not one of"),
        ({"fix_fingers": "clip"}, "fix_fingers"),
        ({"layers": "/(/"}, "bad regex"),
        ({"layers": "no-such-layer"}, "matches no tensor"),
        ({"threads": 0}, "threads"),
        ({"max_memory": "2X"}, "max_memory"),
    ],
)
def test_bad_option_raises_option_error(options, match):
    with pytest.raises(ws.OptionError, match=match):
        ws.analyze(EXAMPLE, **options)
    assert issubclass(ws.OptionError, ws.Error)


def test_good_options_are_accepted():
    df = ws.analyze(
        EXAMPLE,
        layers="conv,/fc/",
        min_evals=8,
        max_evals=None,
        solver="svd",
        precision="f32",
        pl_method="powerlaw",
        mp_method="bulk_cdf",
        fix_fingers="xmin_peak",
        threads=1,
        max_memory="1G",
        tail_fits=True,
        bootstrap=2,
    )
    assert len(df) > 0 and "best_fit" in df.columns and "tpl_alpha" in df.columns
    assert set(ws.OPTIONS) >= {"min_evals", "layers", "fix_fingers", "max_memory"}


def test_corrupt_file_raises_read_error_naming_the_file(tmp_path):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ws.ReadError, match="broken.safetensors"):
        ws.analyze(bad)
    with pytest.raises(ws.ReadError, match="missing.safetensors"):
        ws.analyze(tmp_path / "missing.safetensors")


def test_no_weights_and_wrong_type():
    with pytest.raises(ws.Error, match="no weights"):
        ws.analyze({})
    with pytest.raises(ws.Error, match="no numpy arrays"):
        ws.analyze({"epoch": 3})
    with pytest.raises(TypeError):
        ws.analyze(42)


def test_columns_registry():
    cols = ws.columns()
    assert list(cols.columns) == ["name", "option", "kind", "meaning"]
    header, _ = read_csv(GOLDEN / "example-all.csv")
    # --all adds every group but those of --fix-fingers, --bootstrap and --esd farms.
    rest = cols[~cols["option"].isin(["fix_fingers", "bootstrap", "esd"])]
    assert list(rest["name"]) == header
    assert cols["option"].isna().sum() == len(read_csv(GOLDEN / "example.csv")[0])
    assert cols.set_index("name").loc["alpha", "kind"] == "float"


# --- torch ------------------------------------------------------------------------------


def make_net():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3))
            self.norm = nn.BatchNorm2d(32)
            self.fc1 = nn.Linear(512, 256)
            self.fc2 = nn.Linear(256, 10)
            self.emb = nn.Embedding(300, 64)

    torch.manual_seed(0)
    return Net()


def test_torch_module_equals_saved_file(tmp_path):
    make_net()
    import torch
    from safetensors.torch import save_file

    net = make_net()
    path = tmp_path / "net.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    # Everything but --randomize, whose shuffles are seeded by the layer id.
    opts = dict(mp_fit=True, phase=True, tail_fits=True, vectors=True, detx=True)
    by_module = ws.analyze(net, **opts)
    by_file = ws.analyze(path, **opts)
    # save_file orders tensors by dtype and name: layer ids differ, rows are the same.
    a = by_module.set_index("longname").sort_index()
    b = by_file.set_index("longname").sort_index()
    assert_frames_equal(a.drop(columns="layer_id"), b.drop(columns="layer_id"))
    # Layer ids are state_dict indices.
    keys = list(net.state_dict())
    assert [keys[i] for i in by_module["layer_id"]] == list(by_module["longname"])
    assert len(by_module) == 5
    assert torch.is_tensor(net.fc1.weight)


def test_torch_module_is_not_modified():
    import copy

    make_net()
    import torch

    net = make_net()
    before = copy.deepcopy(net.state_dict())
    versions = {k: p._version for k, p in net.named_parameters()}
    grads = {k: p.requires_grad for k, p in net.named_parameters()}
    ws.analyze(net, randomize=True)
    after = net.state_dict()
    for k, v in before.items():
        assert torch.equal(v, after[k]) and v.dtype == after[k].dtype, k
    assert versions == {k: p._version for k, p in net.named_parameters()}
    assert grads == {k: p.requires_grad for k, p in net.named_parameters()}


@pytest.mark.parametrize("dtype, name", [("bfloat16", "BF16"), ("float16", "F16")])
def test_torch_half_precision(dtype, name):
    make_net()
    import torch

    net = make_net()
    ref = ws.analyze(net)
    half = make_net().to(getattr(torch, dtype))
    got = ws.analyze(half)
    assert (got["dtype"] == name).all()
    assert (got["status"] == "success").all()
    # The half weights read as exactly their float32 values.
    exact = ws.analyze(make_net().to(getattr(torch, dtype)).float())
    assert_frames_equal(got, exact, skip=("dtype",))
    # Close to the float32 model's numbers.
    for c in ("lambda_max", "norm", "stable_rank", "entropy", "sv_max"):
        np.testing.assert_allclose(got[c], ref[c], rtol=2e-2, err_msg=c)


def test_torch_meta_module_raises():
    torch = pytest.importorskip("torch")
    net = torch.nn.Linear(64, 32, device="meta")
    with pytest.raises(ws.Error, match="meta"):
        ws.analyze(net)


def test_torch_module_without_weights_raises():
    torch = pytest.importorskip("torch")
    with pytest.raises(ws.Error, match="no weights"):
        ws.analyze(torch.nn.ReLU())


def test_torch_state_dict_and_checkpoint():
    make_net()
    net = make_net()
    ref = ws.analyze(net)
    assert_frames_equal(ws.analyze(net.state_dict()), ref)
    assert_frames_equal(ws.analyze({"state_dict": net.state_dict(), "epoch": 1}), ref)
    assert_frames_equal(ws.analyze({"model": net}), ref)


def test_hub_id_reads_the_local_hugging_face_cache(tmp_path, monkeypatch):
    """ws.analyze("org/name[@revision]") resolves in the local hub cache (through the same
    Rust function as the command line): snapshot files are symlinks to blobs."""
    commit = "3f2a9c1e5b7d4a6c8e0f1a2b3c4d5e6f7a8b9c0d"
    repo = tmp_path / "hub" / "models--org--mnist"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "blobs" / "blob-a").write_bytes(EXAMPLE.read_bytes())
    os.symlink("../../blobs/blob-a", snap / "model.safetensors")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)

    want = ws.analyze(EXAMPLE)
    for model in ["org/mnist", "org/mnist@main", "org/mnist@3f2a9c"]:
        got = ws.analyze(model)
        pd.testing.assert_frame_equal(got, want)
    with pytest.raises(Exception, match="no revision 'v2'"):
        ws.analyze("org/mnist@v2")
