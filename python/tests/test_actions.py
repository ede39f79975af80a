"""Acting on the diagnosis: AlphaPruning's sparsity ratios and TempBalance's learning rates
against the reference code's own numbers (tests/fixtures/actions/, written by
tools/make_action_fixtures.py), and TempBalance in a short real training run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import weightscope as ws
from weightscope import _native
from weightscope.tempbalance import TempBalance, layer_learning_rates

torch = pytest.importorskip("torch")

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "actions"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_sparsity_ratios_equal_alphapruning():
    for setup in load("alphapruning.json")["setups"]:
        groups = _native.block_groups(setup["names"])
        for case in setup["cases"]:
            got = _native.sparsity_ratios(
                setup["alphas"],
                setup["params"],
                case["target"],
                case["epsilon"],
                groups if case["mapping_type"] == "block_wise" else None,
            )
            np.testing.assert_allclose(got, case["ratios"], rtol=0, atol=1e-12)


def test_sparsity_of_a_model_is_the_target_on_average():
    torch.manual_seed(0)
    blocks = torch.nn.ModuleDict(
        {
            "layers": torch.nn.ModuleList(
                [
                    torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.Linear(96, 64))
                    for _ in range(3)
                ]
            )
        }
    )
    table = ws.sparsity(blocks, target=0.6)
    assert len(table) == 6
    mean = float(np.sum(table["sparsity"] * table["params"]) / np.sum(table["params"]))
    assert mean == pytest.approx(0.6, abs=1e-12)
    # Block-wise: the two layers of a block share a factor, so their ratios are equal.
    np.testing.assert_allclose(
        table["sparsity"][0::2].to_numpy(), table["sparsity"][1::2].to_numpy(), rtol=1e-15
    )
    # The smallest α is pruned least.
    layer_wise = ws.sparsity(blocks, target=0.6, mapping="layer_wise")
    assert layer_wise["sparsity"].idxmin() == layer_wise["alpha"].idxmin()


def test_learning_rate_maps_equal_tempbalance():
    for case in load("tempbalance.json")["maps"]:
        got = layer_learning_rates(
            case["alphas"],
            case["untuned_lr"],
            case["assign_func"],
            case["lr_min_ratio"],
            case["lr_max_ratio"],
        )
        np.testing.assert_allclose(
            got, case["lrs"], rtol=1e-13, atol=0, err_msg=case["assign_func"]
        )


class SmallNet(torch.nn.Module):
    """The net of tools/make_action_fixtures.py (same names and shapes)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(16)
        self.conv2 = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(16)
        self.conv3 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.bn3 = torch.nn.BatchNorm2d(32)
        self.fc1 = torch.nn.Linear(32, 64)
        self.fc2 = torch.nn.Linear(64, 64)
        self.fc3 = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.relu(self.bn3(self.conv3(x)))
        x = x.mean(dim=(2, 3))
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def reference_net() -> SmallNet:
    from safetensors.torch import load_file

    net = SmallNet().double()
    net.load_state_dict(load_file(str(FIXTURES / "tempbalance_net.safetensors")))
    return net


@pytest.mark.parametrize(
    "pl_fitting,metric", [("median", "alpha_mid"), ("fix-finger", "alpha_peak")]
)
def test_param_groups_equal_tempbalance(pl_fitting, metric):
    fx = load("tempbalance.json")
    run = next(r for r in fx["runs"] if r["pl_fitting"] == pl_fitting)
    net = reference_net()
    tb = TempBalance(net, metric=metric)
    stats = tb.layer_stats(fx["untuned_lr"])
    want_alpha = {layer["longname"]: layer["alpha"] for layer in run["layers"]}
    for name, alpha in zip(stats["longname"], stats["alpha"]):
        assert alpha == pytest.approx(want_alpha[name], rel=1e-9), name
    groups = tb.param_groups(fx["untuned_lr"])
    names = {id(p): n for n, p in net.named_parameters()}
    assert len(groups) == len(run["groups"])
    for got, want in zip(groups, run["groups"]):
        assert [names[id(p)] for p in got["params"]] == want["params"]
        assert got["lr"] == pytest.approx(want["lr"], rel=1e-9)


def test_tempbalance_in_a_short_training_run():
    torch.manual_seed(0)
    net = SmallNet()
    x = torch.randn(64, 3, 8, 8)
    y = torch.randint(0, 10, (64,))
    tb = TempBalance(net)
    base_lr = 0.05
    opt = torch.optim.SGD(tb.param_groups(base_lr), lr=base_lr, momentum=0.9)
    losses = []
    for epoch in range(4):
        for _ in range(10):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
        losses.append(loss.item())
        lr = base_lr * 0.5**epoch
        tb.step(opt, lr)
        stats = tb.layer_stats(lr)
        tuned = stats[stats["tuned"]]
        # The tuned layers span [0.5, 1.5]·lr by the default linear map; the rest get lr.
        assert tuned["lr"].min() == pytest.approx(0.5 * lr)
        assert tuned["lr"].max() == pytest.approx(1.5 * lr)
        assert opt.param_groups[-1]["lr"] == lr
        assert sorted({g["lr"] for g in opt.param_groups[:-1]}) == sorted(set(tuned["lr"]))
    assert losses[-1] < losses[0]
