#!/usr/bin/env python3
"""Time AlphaPruning's α (`alpha_peak`) on LLaMA-7B-shaped layers: the reference's own
estimator (`lib/esd_utils.py` `net_esd_estimator`, torch on CPU) against
`weightscope sparsity` on the same weights, and compare the α's.

    python tools/bench_alphapruning.py --alphapruning /tmp/AlphaPruning \
        --weightscope target/release/weightscope [--layers q_proj,up_proj]

Needs torch, numpy and safetensors (versions as tools/make_action_fixtures.py).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch
import torch.nn as nn

SHAPES = {  # (out, in) of LLaMA-7B's linear layers
    "q_proj": (4096, 4096),
    "k_proj": (4096, 4096),
    "v_proj": (4096, 4096),
    "o_proj": (4096, 4096),
    "gate_proj": (11008, 4096),
    "down_proj": (4096, 11008),
    "up_proj": (11008, 4096),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--alphapruning", type=Path, required=True)
    ap.add_argument("--weightscope", type=Path, required=True)
    ap.add_argument("--layers", default="q_proj,up_proj")
    a = ap.parse_args()
    for name in ("datasets", "transformers", "weightwatcher"):
        stub = types.ModuleType(name)
        stub.__getattr__ = lambda attr: None
        sys.modules.setdefault(name, stub)
    sys.path.insert(0, str(a.alphapruning))
    from lib.esd_utils import net_esd_estimator
    from safetensors.torch import save_file

    torch.manual_seed(0)
    block = nn.Module()
    tensors = {}
    for name in a.layers.split(","):
        out_f, in_f = SHAPES[name]
        lin = nn.Linear(in_f, out_f, bias=False)
        setattr(block, name, lin)
        tensors[f"model.layers.0.{name}.weight"] = lin.weight.data.contiguous()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "block.safetensors"
        save_file(tensors, str(path))
        t0 = time.perf_counter()
        ref = net_esd_estimator(block, fix_fingers="xmin_peak")
        t_ref = time.perf_counter() - t0
        out = Path(tmp) / "ratios.json"
        t0 = time.perf_counter()
        subprocess.run(
            [str(a.weightscope), "sparsity", str(path), "--target", "0.7", "-o", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        t_ws = time.perf_counter() - t0
        ours = {row["name"]: row["alpha"] for row in json.loads(out.read_text())["layers"]}
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(
        f"reference net_esd_estimator(xmin_peak): {t_ref:.1f} s; weightscope sparsity: {t_ws:.1f} s"
    )
    for name, alpha in zip(ref["longname"], ref["alpha"]):
        mine = ours[f"model.layers.0.{name}.weight"]
        print(f"  {name}: reference α {alpha:.6f} (float32 SVD), weightscope {mine:.6f}")


if __name__ == "__main__":
    main()
