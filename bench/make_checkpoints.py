"""Write the seeded synthetic benchmark checkpoints (safetensors, float32).

Usage: python bench/make_checkpoints.py OUT_DIR [--quick]

Files (skipped when an existing file was written from the same spec):
  large.safetensors  Gaussian N(0,1) matrices: 4096x4096 and 4096x11008
                     (--quick: 1024x1024 and 1024x4096)
  gpt2.safetensors   GPT-2-small-shaped: 12 blocks (--quick: 2) of
                     attn.c_attn 768x2304, attn.c_proj 768x768, mlp.c_fc 768x3072,
                     mlp.c_proj 3072x768 (HF Conv1D layout, weight = [in, out]),
                     plus their biases and LayerNorms, wte 50257x768, wpe 1024x768.
                     Matrix entries are Student-t with a per-layer degree of freedom
                     in [2.2, 4.5] (heavy-tailed entries give a heavy-tailed, power-law
                     ESD tail, as in trained layers) plus a rank-4 spike, scaled to
                     GPT-2's init std 0.02.

Needs numpy and safetensors only.
"""

import json
import os
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

SPEC_KEY = "weightscope_bench_spec"


def large_spec(quick):
    if quick:
        shapes = {"layers.0.self_attn.q_proj.weight": [1024, 1024],
                  "layers.0.mlp.down_proj.weight": [1024, 4096]}
    else:
        shapes = {"layers.0.self_attn.q_proj.weight": [4096, 4096],
                  "layers.0.mlp.down_proj.weight": [4096, 11008]}
    return {"kind": "gaussian", "seed": 20240501, "shapes": shapes, "version": 1}


def gpt2_spec(quick):
    return {"kind": "gpt2-small-heavy-tailed", "seed": 20240502,
            "blocks": 2 if quick else 12, "d": 768, "vocab": 50257, "ctx": 1024,
            "version": 2}


def existing_spec(path):
    if not os.path.exists(path):
        return None
    try:
        with safe_open(path, "np") as f:
            meta = f.metadata() or {}
        return json.loads(meta.get(SPEC_KEY, "null"))
    except Exception:
        return None


def write(path, tensors, spec):
    tmp = path + ".tmp"
    save_file(tensors, tmp, metadata={SPEC_KEY: json.dumps(spec, sort_keys=True)})
    os.replace(tmp, path)


def make_large(spec):
    rng = np.random.default_rng(spec["seed"])
    return {k: rng.standard_normal(tuple(s), dtype=np.float32)
            for k, s in spec["shapes"].items()}


def heavy_tailed(rng, shape, std=0.02):
    """Student-t entries (df in [2.2, 4.5]) plus a small rank-4 spike, float32."""
    df = rng.uniform(2.2, 4.5)
    w = rng.standard_t(df, size=shape)
    w *= std / np.sqrt(df / (df - 2.0))          # unit variance, then GPT-2's std
    k = 4
    u = rng.standard_normal((shape[0], k))
    v = rng.standard_normal((k, shape[1]))
    w += (std * 3.0 / np.sqrt(max(shape))) * (u @ v)  # a few outlying singular values
    return w.astype(np.float32)


def make_gpt2(spec):
    rng = np.random.default_rng(spec["seed"])
    d, t = spec["d"], {}
    t["wte.weight"] = heavy_tailed(rng, (spec["vocab"], d))
    t["wpe.weight"] = heavy_tailed(rng, (spec["ctx"], d), std=0.01)
    for i in range(spec["blocks"]):
        p = f"h.{i}."
        t[p + "ln_1.weight"] = np.ones(d, np.float32)
        t[p + "ln_1.bias"] = np.zeros(d, np.float32)
        t[p + "attn.c_attn.weight"] = heavy_tailed(rng, (d, 3 * d))
        t[p + "attn.c_attn.bias"] = np.zeros(3 * d, np.float32)
        t[p + "attn.c_proj.weight"] = heavy_tailed(rng, (d, d))
        t[p + "attn.c_proj.bias"] = np.zeros(d, np.float32)
        t[p + "ln_2.weight"] = np.ones(d, np.float32)
        t[p + "ln_2.bias"] = np.zeros(d, np.float32)
        t[p + "mlp.c_fc.weight"] = heavy_tailed(rng, (d, 4 * d))
        t[p + "mlp.c_fc.bias"] = np.zeros(4 * d, np.float32)
        t[p + "mlp.c_proj.weight"] = heavy_tailed(rng, (4 * d, d))
        t[p + "mlp.c_proj.bias"] = np.zeros(d, np.float32)
    t["ln_f.weight"] = np.ones(d, np.float32)
    t["ln_f.bias"] = np.zeros(d, np.float32)
    return t


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv[1:]
    out = args[0] if args else os.path.join(os.path.dirname(__file__), "out")
    os.makedirs(out, exist_ok=True)
    suffix = "-quick" if quick else ""
    for name, spec, make in (("large", large_spec(quick), make_large),
                             ("gpt2", gpt2_spec(quick), make_gpt2)):
        path = os.path.join(out, f"{name}{suffix}.safetensors")
        if existing_spec(path) == spec:
            print(f"  {path}: up to date")
            continue
        write(path, make(spec), spec)
        print(f"  {path}: written ({os.path.getsize(path) / 2**20:.0f} MiB)")


if __name__ == "__main__":
    main()
