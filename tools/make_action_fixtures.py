#!/usr/bin/env python3
"""Fixtures of tests/fixtures/actions/: AlphaPruning's sparsity ratios and TempBalance's
learning rates, computed by the reference repositories' own functions.

    git clone https://github.com/haiquanlu/AlphaPruning /tmp/AlphaPruning      # at 5f0e984
    git clone https://github.com/YefanZhou/TempBalance /tmp/TempBalance        # at 9f0d9c7
    python tools/make_action_fixtures.py --alphapruning /tmp/AlphaPruning \
        --tempbalance /tmp/TempBalance

Needs torch (tested with 2.15.0), numpy (2.4.6), pandas (3.1.1) and safetensors (0.8.0).
The references' training-time dependencies (datasets, transformers, weightwatcher) are not
needed: `lib/prune.py` imports them at the top but `ww_sparsity` does not use them, so empty
stand-in modules are registered when they are missing. TempBalance's estimator moves a
`torch.arange` to CUDA; on a machine without one, `Tensor.cuda` is made the identity (the
numbers do not depend on the device).

Writes:
- alphapruning.json: `ww_sparsity` (both mapping types, several targets and ε) on seeded α
  vectors over LLaMA-7B-shaped blocks, and on the repository's own LLaMA-7B `alpha_peak.npy`.
- tempbalance.json: `Tempbalance.get_layer_temps` (every map) on seeded α vectors; and a small
  float64 CNN (tempbalance_net.safetensors) through `Tempbalance(net)` with its defaults
  (`build_optimizer_param_group`): per layer the eigenvalues, α of both estimators
  (`median` = alpha_mid, `fix-finger` = alpha_peak) and the learning rate of each group.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "actions"

# LLaMA-7B's seven linear layers of a decoder block, (out, in), in module order.
LLAMA7B_BLOCK = [
    ("self_attn.q_proj", 4096, 4096),
    ("self_attn.k_proj", 4096, 4096),
    ("self_attn.v_proj", 4096, 4096),
    ("self_attn.o_proj", 4096, 4096),
    ("mlp.gate_proj", 11008, 4096),
    ("mlp.down_proj", 4096, 11008),
    ("mlp.up_proj", 11008, 4096),
]


def commit_of(path: Path, given: str | None) -> str:
    if given:
        return given
    return subprocess.check_output(["git", "-C", str(path), "rev-parse", "HEAD"], text=True).strip()


def stub_missing(*names: str) -> None:
    for name in names:
        try:
            __import__(name)
        except ImportError:
            stub = types.ModuleType(name)
            stub.__getattr__ = lambda attr: None  # any `from name import x` gets None
            sys.modules[name] = stub


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.self_attn = nn.Module()
        self.mlp = nn.Module()
        for name, out_f, in_f in LLAMA7B_BLOCK:
            parent, child = name.split(".")
            # The meta device: shapes and parameter counts without the memory.
            setattr(getattr(self, parent), child, nn.Linear(in_f, out_f, bias=False, device="meta"))


def llama_like(n_blocks: int) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        model=types.SimpleNamespace(layers=nn.ModuleList([Block() for _ in range(n_blocks)]))
    )


def alphapruning(root: Path, commit: str) -> dict:
    stub_missing("datasets", "transformers", "weightwatcher")
    sys.path.insert(0, str(root))
    from lib.prune import find_layers, ww_sparsity  # the reference's own code

    setups_out = []
    rng = np.random.default_rng(17)
    with tempfile.TemporaryDirectory() as cache:
        setups = [
            ("seeded-4-blocks", 4, rng.uniform(2.0, 6.0, 4 * 7)),
            ("seeded-12-blocks", 12, rng.uniform(1.5, 9.0, 12 * 7)),
        ]
        llama7b = np.load(root / "data" / "llama-7b-hf" / "alpha_peak.npy")
        setups.append(("llama-7b-alpha_peak.npy", 32, llama7b.astype(np.float64)))
        for label, n_blocks, alphas in setups:
            model = llama_like(n_blocks)
            layers = find_layers(model.model.layers)
            metric = f"m{len(setups_out)}"
            np.save(Path(cache) / f"{metric}.npy", np.asarray(alphas, dtype=np.float64))
            cases = []
            for mapping in ("block_wise", "layer_wise"):
                for target, eps in ((0.5, 0.3), (0.7, 0.3), (0.7, 0.2), (0.6, 0.05)):
                    args = types.SimpleNamespace(
                        model="llama-7b",
                        ww_metric_cache=cache,
                        ww_metric=metric,
                        mapping_type=mapping,
                        sparsity_ratio=target,
                        epsilon=eps,
                    )
                    # As the reference's prune_*_ww do.
                    s1, s2 = 1.0 - args.epsilon, 1.0 + args.epsilon
                    ratios = ww_sparsity(args, model, "cpu", s1, s2)
                    cases.append(
                        {
                            "mapping_type": mapping,
                            "target": target,
                            "epsilon": eps,
                            "ratios": [float(r) for r in ratios],
                        }
                    )
            setups_out.append(
                {
                    "label": label,
                    "names": [f"model.layers.{n}.weight" for n in layers],
                    "params": [int(m.weight.numel()) for m in layers.values()],
                    "alphas": [float(a) for a in alphas],
                    "cases": cases,
                }
            )
    return {
        "reference": "haiquanlu/AlphaPruning lib/prune.py ww_sparsity",
        "commit": commit,
        "setups": setups_out,
    }


class SmallNet(nn.Module):
    """Conv layers with BatchNorm named for TempBalance's bn→conv rule, and linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.conv3 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn3 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32, 64)  # 32 eigenvalues: below TempBalance's eigs_thresh = 50
        self.fc2 = nn.Linear(64, 64)
        self.fc3 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        x = torch.relu(self.bn3(self.conv3(x)))
        x = x.mean(dim=(2, 3))
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def tempbalance(root: Path, commit: str) -> dict:
    if not torch.cuda.is_available():
        torch.Tensor.cuda = lambda self, *a, **k: self  # see the module doc
    sys.path.insert(0, str(root))
    from tempbalance import Tempbalance  # the reference's own code

    maps = []
    rng = np.random.default_rng(23)
    for n in (5, 12, 40):
        alphas = rng.uniform(1.5, 8.0, n)
        for lo, hi in ((0.5, 1.5), (0.1, 1.9)):
            bounds = types.SimpleNamespace(lr_min_ratio=lo, lr_max_ratio=hi)
            for func in ("tb_linear_map", "tb_sqrt", "tb_log2", "tb_step"):
                lrs = Tempbalance.get_layer_temps(
                    bounds, assign_func=func, metric_scores=alphas, untuned_lr=0.05
                )
                maps.append(
                    {
                        "assign_func": func,
                        "lr_min_ratio": lo,
                        "lr_max_ratio": hi,
                        "untuned_lr": 0.05,
                        "alphas": alphas.tolist(),
                        "lrs": [float(x) for x in lrs],
                    }
                )

    torch.manual_seed(0)
    net = SmallNet().double()
    from safetensors.torch import save_file

    save_file(
        {k: v.contiguous() for k, v in net.state_dict().items()},
        str(OUT / "tempbalance_net.safetensors"),
    )
    runs = []
    for pl_fitting in ("median", "fix-finger"):
        tb = Tempbalance(net=net, pl_fitting=pl_fitting)
        esd = tb.net_esd_estimator()
        groups, layer_count = tb.build_optimizer_param_group(untuned_lr=0.1, initialize=True)
        param_name = {id(p): n for n, p in net.named_parameters()}
        group_rows = []
        for g in groups:
            ps = list(g["params"])
            group_rows.append({"params": [param_name[id(p)] for p in ps], "lr": float(g["lr"])})
        runs.append(
            {
                "pl_fitting": pl_fitting,
                "layers": [
                    {"longname": n, "alpha": float(a), "D": float(d), "eigs": [float(x) for x in e]}
                    for n, a, d, e in zip(esd["longname"], esd["alpha"], esd["D"], esd["eigs"])
                ],
                "layer_count": layer_count,
                "groups": group_rows,
            }
        )
    return {
        "reference": "YefanZhou/TempBalance tempbalance.py Tempbalance",
        "commit": commit,
        "torch": torch.__version__,
        "maps": maps,
        "net": "tempbalance_net.safetensors (SmallNet in tools/make_action_fixtures.py, "
        "float64, torch.manual_seed(0))",
        "untuned_lr": 0.1,
        "runs": runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--alphapruning", type=Path, required=True, help="checkout of haiquanlu/AlphaPruning"
    )
    ap.add_argument("--alphapruning-commit", help="its commit, if the folder is not a git checkout")
    ap.add_argument(
        "--tempbalance", type=Path, required=True, help="checkout of YefanZhou/TempBalance"
    )
    ap.add_argument("--tempbalance-commit", help="its commit, if the folder is not a git checkout")
    a = ap.parse_args()
    torch.set_default_dtype(torch.float64)  # the reference's float32 tensors become float64
    OUT.mkdir(parents=True, exist_ok=True)
    ap_out = alphapruning(a.alphapruning, commit_of(a.alphapruning, a.alphapruning_commit))
    (OUT / "alphapruning.json").write_text(json.dumps(ap_out, indent=1) + "\n")
    tb_out = tempbalance(a.tempbalance, commit_of(a.tempbalance, a.tempbalance_commit))
    (OUT / "tempbalance.json").write_text(json.dumps(tb_out, indent=1) + "\n")
    print(
        f"wrote {OUT}/alphapruning.json ({len(ap_out['setups'])} setups), tempbalance.json "
        f"({len(tb_out['maps'])} maps, {len(tb_out['runs'])} runs)"
    )


if __name__ == "__main__":
    main()
