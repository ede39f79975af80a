"""weightscope.WeightWatcher against weightwatcher 0.7.7's output recorded in
tests/fixtures/python (*.ww.json): same rows in the same order, same layer_id, name, longname,
layer_type, weightwatcher's columns in its order, numbers to 1e-9 relative, get_summary to
1e-9. weightwatcher itself is never installed or run here."""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import weightscope as ww

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "python"
MODELS = ("cnn", "lstm", "transformer", "gpt2")
RTOL = 1e-9


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: blocked in sys.modules
        return False


HAS_TORCH = installed("torch")
HAS_SAFETENSORS = installed("safetensors")
needs_torch = pytest.mark.skipif(
    not (HAS_TORCH and HAS_SAFETENSORS), reason="torch and safetensors not installed"
)

#: Columns weightscope computes differently on purpose (see weightscope.compat): sv_min of a
#: pooled Conv2d layer is the true minimum over its maps (weightwatcher's is not: it is checked
#: to be <= weightwatcher's). Failed fits (NaN alpha, weightwatcher's -1) do not occur here.
IDENTITY = ("layer_id", "name", "longname", "layer_type", "status", "warning", "has_esd")

#: The largest relative difference seen per column, over every comparison (reported at the end).
MAX_REL: dict[str, float] = {}


def fixture(name: str) -> dict:
    with open(FIXTURES / f"{name}.ww.json") as f:
        return json.load(f)


def models():
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        import ww_models
    finally:
        sys.path.pop(0)
    return ww_models


def missing(v) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def rel(a: float, b: float) -> float:
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def assert_matches(df: pd.DataFrame, run: dict) -> None:
    """df against one recorded run: columns (weightwatcher's in its order, then ours), rows,
    identity columns exactly, numbers to RTOL."""
    cols = run["columns"]
    assert list(df.columns[: len(cols)]) == cols
    assert all(c not in cols for c in df.columns[len(cols) :])
    expected = run["details"]
    assert len(df) == len(expected)
    for i, row in enumerate(expected):
        for c in cols:
            v = df[c].iloc[i]
            e = row[c]
            where = f"row {i} ({row['longname']}) column {c}"
            if c in IDENTITY or isinstance(e, str):
                assert (v.item() if hasattr(v, "item") else v) == e, f"{where}: {v!r} vs {e!r}"
            elif c == "sv_min" and row["layer_type"] == "conv2d":
                assert float(v) <= float(e), f"{where}: {v!r} vs {e!r}"
            elif e is None:
                assert missing(v), f"{where}: {v!r} vs NaN"
            else:
                assert not missing(v), f"{where}: NaN vs {e!r}"
                r = rel(float(v), float(e))
                MAX_REL[c] = max(MAX_REL.get(c, 0.0), r)
                assert r <= RTOL, f"{where}: {v!r} vs {e!r} (rel {r:.2e})"


def assert_summary(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for k, e in want.items():
        r = rel(float(got[k]), float(e))
        MAX_REL["summary." + k] = max(MAX_REL.get("summary." + k, 0.0), r)
        assert r <= RTOL, f"summary {k}: {got[k]!r} vs {e!r}"


def check(model, run: dict, **kw) -> None:
    watcher = ww.WeightWatcher(model=model)
    df = watcher.analyze(**kw)
    assert_matches(df, run)
    assert watcher.get_details() is df
    assert_summary(watcher.get_summary(), run["summary"])
    assert_summary(watcher.get_summary(df), run["summary"])


@needs_torch
@pytest.mark.parametrize("name", MODELS)
def test_module(name):
    fx = fixture(name)
    m = models().load(name, FIXTURES / f"{name}.safetensors")
    check(m, fx["runs"]["module"])


@needs_torch
@pytest.mark.parametrize("name", MODELS)
def test_module_mp_fit(name):
    fx = fixture(name)
    m = models().load(name, FIXTURES / f"{name}.safetensors")
    check(m, fx["runs"]["module_mp_fit"], mp_fit=True, randomize=False)


@needs_torch
@pytest.mark.parametrize("name", MODELS)
def test_state_dict(name):
    fx = fixture(name)
    m = models().load(name, FIXTURES / f"{name}.safetensors")
    check(m.state_dict(), fx["runs"]["state_dict"])
    # A checkpoint dict with a "state_dict" entry is unwrapped (input_kinds.json).
    check({"state_dict": m.state_dict(), "epoch": 3}, fx["runs"]["state_dict"])


@pytest.mark.parametrize("name", MODELS)
def test_folder(name, tmp_path):
    fx = fixture(name)
    shutil.copy(FIXTURES / f"{name}.safetensors", tmp_path / "model.safetensors")
    check(str(tmp_path), fx["runs"]["folder"])


def test_sharded_with_index():
    fx = fixture("gpt2_sharded")
    check(str(FIXTURES / "gpt2_sharded"), fx["runs"]["with_index"])


def test_sharded_no_index(tmp_path):
    fx = fixture("gpt2_sharded")
    for f in (FIXTURES / "gpt2_sharded").glob("model-*.safetensors"):
        shutil.copy(f, tmp_path / f.name)
    check(tmp_path, fx["runs"]["no_index"])


@needs_torch
def test_start_ids():
    with open(FIXTURES / "input_kinds.json") as f:
        kinds = json.load(f)
    m = models().load("cnn", FIXTURES / "cnn.safetensors")
    w = ww.WeightWatcher(model=m)
    assert list(w.analyze(start_ids=1)["layer_id"]) == kinds["module_start_ids_1"]["ids"]
    from safetensors.torch import load_file

    # The file's dict (keys sorted), as input_kinds.json was made.
    sd = ww.WeightWatcher(model=load_file(FIXTURES / "cnn.safetensors")).analyze(start_ids=0)
    assert list(sd["layer_id"]) == kinds["state_dict_start_ids_0"]["ids"]


@needs_torch
def test_layers_filter():
    run = fixture("transformer")["runs"]["module"]
    m = models().load("transformer", FIXTURES / "transformer.safetensors")
    w = ww.WeightWatcher(model=m)
    ids = [r["layer_id"] for r in run["details"]]

    def picked(**kw):
        return list(w.analyze(**kw)["layer_id"])

    assert picked(layers=[6, 24]) == [6, 24]
    assert picked(layers=[-6, -24]) == [i for i in ids if i not in (6, 24)]
    assert picked(layers=["out_proj"]) == [6, 16]
    assert picked(layers=["-out_proj", "-head"]) == [1, 7, 9, 17, 19]
    assert picked(layers=["embedding"]) == [1]
    assert picked(layers=24) == [24]
    # The rows kept have the numbers of the full run.
    df = w.analyze(layers=["dense"])
    assert_matches(
        df, {**run, "details": [r for r in run["details"] if r["layer_type"] == "dense"]}
    )
    assert len(w.analyze(layers=[999])) == 0
    with pytest.raises(ww.OptionError):
        w.analyze(layers=[3, -4])


@pytest.mark.parametrize(
    "kw",
    [
        {"glorot_fix": True},
        {"intra": True},
        {"stacked": True},
        {"channels": "first"},
        {"sparsify": False},
        {"base_model": {}},
        {"peft": True},
        {"inverse": True},
        {"fit": "TPL"},
        {"tolerance": 1e-4},
        {"xmax": "force"},
        {"fix_fingers": "xmin_fit"},
        {"max_fingers": 5},
        {"min_size": 10},
    ],
)
def test_unsupported_keyword_raises(kw, tmp_path):
    shutil.copy(FIXTURES / "cnn.safetensors", tmp_path / "model.safetensors")
    name = next(iter(kw))
    with pytest.raises(ww.OptionError, match=name):
        ww.WeightWatcher(model=str(tmp_path)).analyze(**kw)


def test_constructor():
    with pytest.raises(TypeError):
        ww.WeightWatcher(model=None, verbose=True)
    with pytest.raises(ww.OptionError):
        ww.WeightWatcher(framework="keras")
    with pytest.raises(ww.Error):
        ww.WeightWatcher().analyze()
    with pytest.raises(ww.Error, match="single"):
        ww.WeightWatcher(model=str(FIXTURES / "cnn.safetensors")).analyze()
    with pytest.raises(NotImplementedError):
        ww.WeightWatcher(model=str(FIXTURES / "gpt2_sharded")).get_ESD(layer=0, random=True)


def test_supported_keywords_map(tmp_path):
    """Options weightscope has run and add their columns (values are the CLI's, tested there)."""
    shutil.copy(FIXTURES / "cnn.safetensors", tmp_path / "model.safetensors")
    w = ww.WeightWatcher(model=str(tmp_path))
    base = w.analyze()
    ids = list(base["layer_id"])
    # One row per 3x3 map of features.3 (id 4); features.0's maps (M = 3) are too small.
    assert list(w.analyze(pool=False)["layer_id"]).count(4) == 9
    assert list(w.analyze(ww2x=True)["layer_id"]).count(4) == 9
    assert list(w.analyze(min_evals=50)["layer_id"]) == [
        i for i, n in zip(ids, base.num_evals) if n >= 50
    ]
    assert list(w.analyze(max_N=100)["layer_id"]) == [i for i, n in zip(ids, base.N) if n <= 100]
    assert "rand_num_spikes" in w.analyze(randomize=True).columns
    assert "detX_num" in w.analyze(detX=True).columns
    w.analyze(fix_fingers="clip_xmax")
    w.analyze(pl_package="powerlaw")
    w.analyze(xmax=-1)
    w.analyze(svd_method="accurate")
    w.analyze(conv2d_norm=False)


@needs_torch
@pytest.mark.parametrize("name", MODELS)
def test_describe(name):
    """describe() lists the rows analyze() gives, with the same M, N, rf, num_evals."""
    fx = fixture(name)
    m = models().load(name, FIXTURES / f"{name}.safetensors")
    d = ww.WeightWatcher(model=m).describe()
    rows = fx["runs"]["module"]["details"]
    cols = "layer_id name M N Q layer_type longname num_evals rf".split()
    assert list(d.columns) == cols
    for c in ("layer_id", "name", "longname", "layer_type", "M", "N", "rf", "num_evals"):
        assert list(d[c]) == [r[c] for r in rows], c
    np.testing.assert_allclose(d["Q"], [r["Q"] for r in rows], rtol=RTOL)


@needs_torch
def test_root_module_is_a_layer():
    """A root module that is itself a layer: id 0, name = longname = its class name."""
    import torch

    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 32)
    df = ww.WeightWatcher(model=lin).analyze()
    assert list(df["layer_id"]) == [0]
    assert list(df["name"]) == ["Linear"] and list(df["longname"]) == ["Linear"]
    assert list(df["layer_type"]) == ["dense"]
    # The numbers are weightscope's for the same matrix.
    alone = ww.analyze({"w.weight": lin.weight})["alpha"].iloc[0]
    assert df["alpha"].iloc[0] == alone


@needs_torch
@pytest.mark.parametrize("name", MODELS)
def test_get_esd(name):
    """get_ESD by id and by name: num_evals eigenvalues, the largest analyze's lambda_max
    (for Conv2d times conv2d_norm's factor 1/2, conv2d_count/2 with conv2d_count = 1 when
    pooled: 0.7.7's get_ESD does not normalise). By hand,
    weightwatcher 0.7.7's get_ESD gave the same arrays bit for bit on cnn and gpt2."""
    rows = fixture(name)["runs"]["module"]["details"]
    w = ww.WeightWatcher(model=models().load(name, FIXTURES / f"{name}.safetensors"))
    for r in rows:
        scale = 0.5 if r["layer_type"] == "conv2d" else 1.0
        for key in (r["layer_id"], r["name"]):
            e = w.get_ESD(layer=key)
            if key == r["name"] and [x["name"] for x in rows].index(key) != rows.index(r):
                continue  # a repeated name: get_ESD takes the first layer of that name
            assert len(e) == r["num_evals"]
            assert np.all(np.diff(e) >= 0)
            got = float(e[-1]) * scale
            MAX_REL["get_ESD.max"] = max(MAX_REL.get("get_ESD.max", 0.0), rel(got, r["lambda_max"]))
            assert rel(got, r["lambda_max"]) <= RTOL
    with pytest.warns(UserWarning):
        assert w.get_ESD(layer=9999) == []


def test_zz_report_agreement():
    """Prints the largest relative difference per column over the runs above (pytest -s)."""
    for k in sorted(MAX_REL):
        print(f"max rel diff {k}: {MAX_REL[k]:.3e}")


def test_plot_saves_weightwatchers_file_names(tmp_path):
    # analyze(plot=True) saves weightscope's plots under weightwatcher's file names, the same
    # images as Report.plot of the same layer; savefig=False saves nothing.
    shutil.copy(FIXTURES / "cnn.safetensors", tmp_path / "model.safetensors")
    w = ww.WeightWatcher(model=str(tmp_path))
    out = tmp_path / "imgs"
    details = w.analyze(plot=True, savefig=str(out), randomize=True)
    names = sorted(p.name for p in out.iterdir())
    ids = [int(i) for i in details["layer_id"]]
    want = sorted(
        f"ww.layer{i}.{s}.png" for i in ids for s in ("esd", "esd2", "esd3", "esd4", "randesd1")
    )
    assert names == want
    rep = ww.Report(str(tmp_path / "model.safetensors"), randomize=True)
    first = details["longname"].iloc[0] + ".weight"
    png = (out / f"ww.layer{ids[0]}.esd.png").read_bytes()
    assert png == rep.plot(first, "esd_loglog", format="png").data
    before = sorted(tmp_path.iterdir())
    w.analyze(plot=True, savefig=False)
    assert sorted(tmp_path.iterdir()) == before
    with pytest.raises(ww.OptionError, match="savefig"):
        w.analyze(plot=True, savefig=3)
