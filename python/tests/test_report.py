"""``weightscope.Report``: a layer's eigenvalues against numpy's SVD of the same weights, its
plots and HTML report against the command line's files (the same bytes, drawn by the same
code), and the progress bar."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

import weightscope as ws

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mnist-cnn" / "model.safetensors"
CLI = os.environ.get("WEIGHTSCOPE_CLI")
needs_cli = pytest.mark.skipif(not CLI, reason="WEIGHTSCOPE_CLI not set")


@pytest.fixture(scope="module")
def rep() -> ws.Report:
    return ws.Report(str(EXAMPLE))


def test_report_has_the_details_of_analyze(rep):
    df = ws.analyze(str(EXAMPLE))
    assert list(rep.details.columns) == list(df.columns)
    assert rep.details.equals(df)
    assert rep.summary == ws.analyze_report(str(EXAMPLE)).summary


def test_esd_is_the_squared_singular_values(rep):
    weights = load_file(str(EXAMPLE))
    dense = rep.details[rep.details["longname"].str.startswith("fc")]
    assert len(dense) >= 2
    for longname in dense["longname"]:
        w = weights[longname].astype(np.float64)
        want = np.sort(np.linalg.svd(w, compute_uv=False) ** 2)
        got = rep.esd(longname)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12 * want.max())
        # The same row by layer_id and by position.
        i = int(np.flatnonzero(rep.details["longname"] == longname)[0])
        layer_id = int(rep.details["layer_id"].iloc[i])
        np.testing.assert_array_equal(rep.esd(layer_id), got)
        np.testing.assert_array_equal(rep.esd(row=i), got)
        # λmax of the details is the largest eigenvalue.
        assert rep.details["lambda_max"].iloc[i] == pytest.approx(got[-1], rel=1e-12)


def test_unknown_layer_and_kind_are_clear_errors(rep):
    with pytest.raises(KeyError, match="not a row"):
        rep.esd("no.such.layer")
    with pytest.raises(ws.Error, match="esd_loglog"):
        rep.plot(row=0, kind="histogram")
    with pytest.raises(ws.Error, match="randomize"):
        rep.plot(row=0, kind="randomized")
    with pytest.raises(ws.Error, match="svg"):
        rep.plot(row=0, format="gif")


def test_plots_show_inline(rep):
    p = rep.plot(row=0, kind="esd_loglog")
    svg = p._repr_svg_()
    assert p._repr_png_() is None
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    png = rep.plot(kind="alpha_histogram", format="png")
    assert png._repr_svg_() is None
    assert png._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rep.plot_kinds()[0] == "depth_alpha"
    assert "esd" in rep.plot_kinds(row=0) and "randomized" not in rep.plot_kinds(row=0)


@needs_cli
def test_plots_and_html_are_the_cli_files(tmp_path):
    # `weightscope plot` and `report` turn on the MP fit and the phase (for the MP overlay and
    # the phase colours): the same options here.
    rep = ws.Report(str(EXAMPLE), mp_fit=True, phase=True)
    subprocess.run(
        [CLI, "plot", str(EXAMPLE), "-o", str(tmp_path / "plots"), "--format", "svg,png"],
        check=True,
        capture_output=True,
    )
    layer_dirs = sorted((tmp_path / "plots" / "layers").iterdir())
    assert len(layer_dirs) == len(rep.details)
    compared = 0
    for i, d in enumerate(layer_dirs):
        for f in sorted(d.iterdir()):
            kind, ext = f.stem, f.suffix[1:]
            assert kind in rep.plot_kinds(row=i)
            assert rep.plot(row=i, kind=kind, format=ext).data == f.read_bytes(), f
            compared += 1
    for f in sorted((tmp_path / "plots" / "model").iterdir()):
        assert rep.plot(kind=f.stem, format=f.suffix[1:]).data == f.read_bytes(), f
        compared += 1
    assert compared > 20
    subprocess.run(
        [CLI, "report", str(EXAMPLE), "-o", str(tmp_path / "cli.html")],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "py.html"
    text = rep.to_html(out)
    assert out.read_bytes() == (tmp_path / "cli.html").read_bytes()
    assert text.encode() == out.read_bytes()
    subprocess.run(
        [CLI, "analyze", str(EXAMPLE), "--quiet", "--csv", str(tmp_path / "cli.csv")],
        check=True,
        capture_output=True,
    )
    plain = ws.Report(str(EXAMPLE))
    assert plain.to_csv().encode() == (tmp_path / "cli.csv").read_bytes()


def test_plot_save_writes_the_bytes(rep, tmp_path):
    p = rep.plot(row=0)
    p.save(tmp_path / "esd.svg")
    assert (tmp_path / "esd.svg").read_bytes() == p.data
    assert [f.name for f in tmp_path.iterdir()] == ["esd.svg"]


def test_report_of_a_module_and_randomize():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.ReLU(), torch.nn.Linear(96, 32))
    rep = ws.Report(model, randomize=True)
    w = model[0].weight.detach().double().numpy()
    want = np.sort(np.linalg.svd(w, compute_uv=False) ** 2)
    np.testing.assert_allclose(rep.esd("0.weight"), want, rtol=1e-10, atol=1e-12 * want.max())
    assert "randomized" in rep.plot_kinds("0.weight")
    assert rep.plot("0.weight", "randomized")._repr_svg_().lstrip().startswith("<")


def test_progress_true_draws_a_tqdm_bar(capsys):
    pytest.importorskip("tqdm")
    ws.analyze(str(EXAMPLE), progress=True)
    err = capsys.readouterr().err
    assert "weightscope" in err and "100%" in err and "flops" in err


def test_large_module_tensors_stream_by_panels(tmp_path):
    # Tensors held by Python with more rows than one panel (2048) are sliced panel by panel,
    # tall (an embedding) and wide (a Linear with fewer outputs than inputs, stored out × in),
    # and a transposed (non-contiguous) numpy view: the eigenvalues are numpy's, and the rows
    # are those of the same weights read from a safetensors file.
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(1)
    model = torch.nn.ModuleDict(
        {"emb": torch.nn.Embedding(5000, 48), "proj": torch.nn.Linear(4500, 40, bias=False)}
    )
    rep = ws.Report(model)
    for name in ("emb.weight", "proj.weight"):
        w = model.state_dict()[name].double().numpy()
        want = np.sort(np.linalg.svd(w, compute_uv=False) ** 2)
        np.testing.assert_allclose(rep.esd(name), want, rtol=1e-10, atol=1e-12 * want.max())
    path = tmp_path / "m.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    from_file = ws.analyze(str(path))
    assert rep.details.drop(columns=[]).equals(from_file)
    arrays = {k: v.numpy().T.copy().T for k, v in model.state_dict().items()}
    assert not arrays["emb.weight"].flags["C_CONTIGUOUS"]
    assert ws.analyze(arrays).equals(from_file)
