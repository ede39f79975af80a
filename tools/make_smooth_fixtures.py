#!/usr/bin/env python3
"""Fixtures of tests/fixtures/smooth/: weightwatcher's SVDSmoothing on a small seeded model.

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install weightwatcher==0.7.7 \
        scikit-learn==1.9.1 torch==2.15.0 safetensors==0.8.0 numpy==2.4.6
    /tmp/venv/bin/python tools/make_smooth_fixtures.py

CUDA is hidden, so weightwatcher takes its CPU path: each layer's top-k singular triplets
from scikit-learn's randomized `TruncatedSVD(n_iter=7, random_state=42)`, run on the weights
converted to float32 (`torch_T_to_np`), so its result carries float32 rounding (~1e-6
relative); the model is float32 so that both sides start from the same values, and the exact
float64 truncation is recorded next to it.

Writes:
- model.safetensors: a float32 network (two dense layers and a 3×3 convolution, with biases),
  each weight a seeded Gaussian plus a few planted rank-one spikes so that every method keeps
  a non-trivial number of components.
- smooth.json: per method (detX, rmt, alpha_min) and analysed layer, the number of
  components weightwatcher keeps (`detX_num`, MP `num_spikes`, `num_pl_spikes` from its own
  analyze, the quantities `SVDSmoothing` reads), the smoothed weight as weightwatcher writes it
  back, and the same weight from an exact (LAPACK) truncated SVD, with the largest gap between
  the two (the randomized solver's error).
"""

import copy
import json
import os
import sys

os.environ["CUDA_VISIBLE_DEVICES"] = ""

import numpy as np
import torch
import weightwatcher as ww
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "smooth")


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 12, 3, bias=False)
        self.fc1 = torch.nn.Linear(60, 120)
        self.fc2 = torch.nn.Linear(120, 40)


def planted(shape, rng, spikes):
    """Gaussian N(0, 1/fan_in) plus `spikes` rank-one components of decreasing strength."""
    out_f, in_f = shape
    w = rng.standard_normal(shape) / np.sqrt(in_f)
    for s in range(spikes):
        u = rng.standard_normal(out_f)
        v = rng.standard_normal(in_f)
        w += (4.0 - 0.5 * s) * np.outer(u / np.linalg.norm(u), v / np.linalg.norm(v))
    return w


def exact_truncation(w, k):
    """Rank-k truncated SVD of w by a full LAPACK SVD (what weightscope computes)."""
    u, s, vh = np.linalg.svd(w, full_matrices=False)
    return (u[:, :k] * s[:k]) @ vh[:k]


def singular_values(w):
    """Singular values of a dense weight, or of every kernel slice of a convolution, concatenated."""
    if w.ndim == 4:
        return np.concatenate([np.linalg.svd(w[:, :, i, j], compute_uv=False)
                               for i in range(w.shape[2]) for j in range(w.shape[3])])
    return np.linalg.svd(w, compute_uv=False)


def main():
    rng = np.random.default_rng(2024)
    net = Net()
    with torch.no_grad():
        conv = np.stack([planted((12, 8), rng, 2) for _ in range(9)], axis=-1).reshape(12, 8, 3, 3)
        net.conv.weight.copy_(torch.from_numpy(conv))
        net.fc1.weight.copy_(torch.from_numpy(planted((120, 60), rng, 5)))
        net.fc1.bias.copy_(torch.from_numpy(rng.standard_normal(120)))
        net.fc2.weight.copy_(torch.from_numpy(planted((40, 120), rng, 3)))
        net.fc2.bias.copy_(torch.from_numpy(rng.standard_normal(40)))
    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()},
              os.path.join(OUT, "model.safetensors"))

    details = ww.WeightWatcher(model=copy.deepcopy(net)).analyze(detX=True, mp_fit=True)
    columns = {"detX": "detX_num", "rmt": "num_spikes", "alpha_min": "num_pl_spikes"}
    runs = []
    for method, column in columns.items():
        smoothed = ww.WeightWatcher().SVDSmoothing(model=copy.deepcopy(net), method=method)
        state = smoothed.state_dict()
        layers = []
        for _, row in details.iterrows():
            name = row["longname"]
            key = f"{name}.weight"
            num_smooth = int(row[column])
            rf = int(row["rf"])
            original = net.state_dict()[key].numpy().astype(np.float64)
            got = state[key].numpy().astype(np.float64)
            # weightwatcher's rule: a convolution keeps ceil(num_smooth / rf) per kernel slice.
            k = int(np.ceil(num_smooth / rf))
            if k == 0:
                exact = original.copy()
            elif original.ndim == 4:
                exact = np.zeros_like(original)
                for i in range(original.shape[2]):
                    for j in range(original.shape[3]):
                        exact[:, :, i, j] = exact_truncation(original[:, :, i, j], k)
            else:
                exact = exact_truncation(original, k)
            layers.append({
                "longname": key,
                "rf": rf,
                "num_smooth": num_smooth,
                "kept_per_matrix": k,
                "shape": list(original.shape),
                "weightwatcher_frobenius": float(np.linalg.norm(got)),
                "weightwatcher_singular_values": singular_values(got).tolist(),
                "exact": exact.ravel().tolist(),
                "max_abs_gap": float(np.max(np.abs(got - exact))),
            })
            # Biases are never touched.
            bias = f"{name}.bias"
            if bias in state:
                assert torch.equal(state[bias], net.state_dict()[bias])
        runs.append({"method": method, "layers": layers})
        print(method, [(l["longname"], l["num_smooth"], l["kept_per_matrix"], l["max_abs_gap"])
                       for l in layers], file=sys.stderr)
    doc = {
        "weightwatcher": ww.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "runs": runs,
    }
    with open(os.path.join(OUT, "smooth.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
