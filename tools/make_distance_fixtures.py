#!/usr/bin/env python3
"""Fixtures of tests/fixtures/distances/: weightwatcher 0.7.7's `WeightWatcher.distances`
between small seeded PyTorch models, for every method (raw, euclidean, cka), with its defaults.

    python tools/make_distance_fixtures.py [OUT_DIR]

Environment (pinned, see tools/requirements-oracle.txt): Python 3.11.7, weightwatcher 0.7.7,
torch 2.15.0 (CPU use only), numpy 2.4.6, pandas 3.1.1, safetensors 0.8.0.

weightwatcher reads PyTorch tensors through `RMT_Util.torch_T_to_np`, which casts them to
float32, so its own results carry float32 rounding (~1e-7 relative). Each pair is therefore run
twice on the same float64 models: as shipped (`"precision": "float32"`), and with that one
converter replaced by one that keeps float64 (`"precision": "float64"`), which runs
weightwatcher's own formulas unchanged on the exact weights, so that weightscope (which
computes in float64) can be compared to ~1e-12. Their layers cover the
cases that decide how weightwatcher forms its matrices: dense layers taller and wider than
square (with biases: `raw` reports ‖b₁ − b₂‖), convolutions with more and fewer output than
input channels (each kernel slice made tall), and a kernel whose spatial size exceeds its
channels (weightwatcher's shape rule then reads it kernel-first: slices W[i, j, :, :], made
wide). Pairs: a model against a perturbed copy of itself (as after fine-tuning) and against
an independently initialised one.

Writes base.safetensors, tuned.safetensors, other.safetensors (tensors by module name) and
distances.json: per pair and method, weightwatcher's (avg_dW, avg_db) and its table's rows.
"""

import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

import weightwatcher as ww
import weightwatcher.weightwatcher as ww_module

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else (
    Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "distances")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 2, 5)     # 2+3 < 5+5: weightwatcher reads it kernel-first
        self.conv1 = nn.Conv2d(6, 20, 3)    # out > in
        self.conv2 = nn.Conv2d(20, 12, 3)   # out < in: slices transposed
        self.fc1 = nn.Linear(40, 24)        # (out, in) wide
        self.fc2 = nn.Linear(30, 50)        # tall


def make(seed: int) -> Net:
    torch.manual_seed(seed)
    return Net().double()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    base = make(0)
    tuned = copy.deepcopy(base)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen, dtype=torch.float64))
    other = make(1)
    models = {"base": base, "tuned": tuned, "other": other}
    for name, m in models.items():
        save_file({k: v.contiguous() for k, v in m.state_dict().items()},
                  str(OUT / f"{name}.safetensors"))

    watcher = ww.WeightWatcher()
    as_shipped = ww_module.torch_T_to_np
    pairs = []
    for precision in ["float32", "float64"]:
      ww_module.torch_T_to_np = (as_shipped if precision == "float32"
                                 else lambda t: t.to("cpu").numpy())
      for a, b in [("base", "tuned"), ("base", "other")]:
        for method in ["raw", "euclidean", "cka"]:
            avg_dw, avg_db, df = watcher.distances(models[a], models[b], method=method)
            rows = []
            for layer_id, r in df.iterrows():
                rows.append({
                    "layer_id": int(layer_id),
                    "name": str(r["name"]),
                    "delta_W": float(r["delta_W"]),
                    "delta_b": float(r["delta_b"]),
                    "M": int(r["M"]),
                    "N": int(r["N"]),
                    "b_shape": str(r["b_shape"]),
                })
            pairs.append({"model_1": a, "model_2": b, "method": method, "precision": precision,
                          "avg_dW": float(avg_dw), "avg_db": float(avg_db), "rows": rows})
    meta = {"weightwatcher": ww.__version__, "torch": torch.__version__,
            "numpy": np.__version__}
    (OUT / "distances.json").write_text(
        json.dumps({"versions": meta, "pairs": pairs}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
