"""weightscope.smooth on a torch module: each layer keeps the number of singular components
weightwatcher 0.7.7's SVDSmoothing keeps (tests/fixtures/smooth/, written by
tools/make_smooth_fixtures.py), the kept part is the exact truncated SVD (numpy's), and the
input module is left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import weightscope as ws

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "smooth"
METHODS = {"detX": "detx", "rmt": "rmt", "alpha_min": "alpha_min"}


def fixture_net():
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 12, 3, bias=False)
            self.fc1 = nn.Linear(60, 120)
            self.fc2 = nn.Linear(120, 40)

    net = Net()
    net.load_state_dict(safetensors_torch.load_file(str(FIXTURES / "model.safetensors")))
    return net


def truncated(w: np.ndarray, k: int) -> np.ndarray:
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vt[:k]


def matrices(w: np.ndarray) -> list[np.ndarray]:
    """The matrices weightwatcher smooths: a dense weight, or each kernel slice W[:, :, i, j]."""
    if w.ndim == 2:
        return [w]
    return [w[:, :, i, j] for i in range(w.shape[2]) for j in range(w.shape[3])]


@pytest.mark.parametrize("run", json.loads((FIXTURES / "smooth.json").read_text())["runs"])
def test_kept_components_equal_weightwatcher(run):
    net = fixture_net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = ws.smooth(net, method=METHODS[run["method"]])
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), f"input changed: {k}"
    smoothed = out.state_dict()
    assert torch.equal(smoothed["fc1.bias"], before["fc1.bias"])
    for layer in run["layers"]:
        name, kept = layer["longname"], layer["kept_per_matrix"]
        orig = before[name].double().numpy()
        new = smoothed[name].double().numpy()
        assert smoothed[name].dtype == before[name].dtype
        for w0, w1 in zip(matrices(orig), matrices(new)):
            s = np.linalg.svd(w1, compute_uv=False)
            assert int((s > 1e-4 * s[0]).sum()) == min(kept, min(w0.shape)), name
            exact = truncated(w0, kept)
            assert np.abs(w1 - exact).max() <= 1e-6 * np.abs(exact).max(), name


def test_smooth_refuses_what_it_cannot_smooth():
    with pytest.raises(ValueError, match="method"):
        ws.smooth(fixture_net(), method="svd")
    with pytest.raises(TypeError):
        ws.smooth(str(FIXTURES / "model.safetensors"))
