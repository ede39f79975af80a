"""WeightWatcher.distances against weightwatcher 0.7.7 (tests/fixtures/distances/, written by
tools/make_distance_fixtures.py from the same seeded models, loaded here from their files)."""

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import load_file  # noqa: E402

import weightscope as ws  # noqa: E402

FIX = Path(__file__).resolve().parent.parent.parent / "tests" / "fixtures" / "distances"


class Net(torch.nn.Module):
    """The architecture of tools/make_distance_fixtures.py."""

    def __init__(self):
        super().__init__()
        self.conv0 = torch.nn.Conv2d(3, 2, 5)
        self.conv1 = torch.nn.Conv2d(6, 20, 3)
        self.conv2 = torch.nn.Conv2d(20, 12, 3)
        self.fc1 = torch.nn.Linear(40, 24)
        self.fc2 = torch.nn.Linear(30, 50)


def model(name):
    m = Net().double()
    m.load_state_dict(load_file(str(FIX / f"{name}.safetensors")))
    return m


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_distances_equal_weightwatcher(precision):
    fixture = json.loads((FIX / "distances.json").read_text())
    tol = 1e-12 if precision == "float64" else 1e-6
    for pair in fixture["pairs"]:
        if pair["precision"] != precision:
            continue
        avg_dw, avg_db, df = ws.WeightWatcher().distances(
            model(pair["model_1"]), model(pair["model_2"]), method=pair["method"]
        )
        assert list(df.columns) == ["method", "name", "delta_W", "delta_b", "M", "N",
                                    "b_shape", "longname"]  # fmt: skip
        assert df.index.name == "layer_id"
        want = pair["rows"]
        assert [int(i) for i in df.index] == [r["layer_id"] for r in want]
        for (_, got), w in zip(df.iterrows(), want):
            assert got["name"] == w["name"]
            assert got["M"] == w["M"] and got["N"] == w["N"]
            assert str(got["b_shape"]).strip("(),") == w["b_shape"].strip("(),")
            np.testing.assert_allclose(got["delta_W"], w["delta_W"], rtol=tol, atol=tol)
            np.testing.assert_allclose(got["delta_b"], w["delta_b"], rtol=tol, atol=tol)
        np.testing.assert_allclose(avg_dw, pair["avg_dW"], rtol=tol)
        np.testing.assert_allclose(avg_db, pair["avg_db"], rtol=tol, atol=tol)
