#!/usr/bin/env python3
"""Reference values for FARMS (crates/weightscope/src/fit/farms.rs), from the reference
implementation of Hu et al., "Eigenspectrum Analysis of Neural Networks without Aspect Ratio
Bias" (ICML 2025), repository github.com/HUST-AI-HYZ/FARMS.

Usage: tools/make_farms_fixtures.py PATH_TO_FARMS [OUT_DIR]

PATH_TO_FARMS is a checkout of that repository, or a bare git directory of it (its HEAD is
exported to a temporary folder). The commit is recorded in every fixture. OUT_DIR defaults to
tests/fixtures/farms.

What is run: the reference's `sampling.fixed_sampling` (the windows and the pooled ESD, as
`net_esd_estimator_farms` calls it for a Linear layer) and `esd_utils_farms.analysis_esd`
(the fit) from LLM_Pruning/lib, on float64 tensors. `net_esd_estimator_farms` itself casts the
weights to float32 first; float64 is used here so that the comparison can be made to ~1e-9
rather than to float32's 1e-6. Each matrix is given to the reference in its wide orientation
(rows ≤ cols), as weightscope reads it, and only in shapes where the reference's windows fit
(cols ≥ ⌊min(rows, r)·Q⌋), the cases where weightscope follows the reference exactly.

The matrices come from a seeded splitmix64 generator that the Rust test re-implements
(Gaussian entries by Box–Muller, symmetric Pareto entries by inversion), so the fixtures hold
only seeds and results; each records the sum and first entries of its matrix so the test
checks that both generators agree.

Environment (pinned): Python 3.11.7, numpy 2.4.6, torch 2.15.0 (CPU use only), tqdm 4.70.1
(imported by the reference).
"""

import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next_u64(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform_open(self):
        """Uniform in (0, 1]."""
        return ((self.next_u64() >> 11) + 1) * 2.0**-53


def matrix(rows, cols, dist, seed, mu):
    """rows × cols, row-major, as the Rust test builds it."""
    g = SplitMix64(seed)
    out = np.empty(rows * cols)
    for k in range(rows * cols):
        if dist == "gaussian":
            u1, u2 = g.uniform_open(), g.uniform_open()
            out[k] = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
        else:  # symmetric Pareto with tail exponent mu: |x| = u^(-1/mu)
            u, s = g.uniform_open(), g.next_u64()
            out[k] = (u ** (-1.0 / mu)) * (1.0 if s & 1 else -1.0)
    return out.reshape(rows, cols)


# (rows, cols, distribution, seed, mu, options): rows ≤ cols; aspect ratios 1 to 8;
# options = (num_row_samples, Q_ratio, sampling_ops_per_dim, fit).
DEFAULT = (100, 2.0, 10, "median")
CASES = [
    (200, 200, "gaussian", 1, None, DEFAULT),
    (150, 300, "gaussian", 2, None, DEFAULT),
    (120, 480, "gaussian", 3, None, DEFAULT),
    (100, 800, "gaussian", 4, None, DEFAULT),
    (250, 400, "gaussian", 5, None, DEFAULT),
    (200, 200, "pareto", 6, 2.5, DEFAULT),
    (150, 300, "pareto", 7, 1.5, DEFAULT),
    (100, 800, "pareto", 8, 3.0, DEFAULT),
    (64, 256, "gaussian", 9, None, DEFAULT),  # fewer rows than a window: r = 64
    (160, 240, "gaussian", 10, None, (50, 1.0, 5, "median")),
    (120, 480, "pareto", 11, 2.0, (40, 3.0, 4, "ks")),
    (90, 180, "gaussian", 12, None, (30, 2.0, 3, "ks")),
]


def reference_source(path):
    """The folder holding LLM_Pruning/lib, and the commit."""
    if os.path.isfile(os.path.join(path, "LLM_Pruning", "lib", "sampling.py")):
        commit = subprocess.run(
            ["git", "-C", path, "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        return path, commit or "unknown"
    commit = subprocess.run(
        ["git", "--git-dir", path, "rev-parse", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    out = tempfile.mkdtemp(prefix="farms-ref-")
    archive = subprocess.run(
        ["git", "--git-dir", path, "archive", "HEAD", "LLM_Pruning/lib"],
        capture_output=True, check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", out], input=archive, check=True)
    return out, commit


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root, commit = reference_source(sys.argv[1])
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), "..", "tests", "fixtures", "farms"
    )
    os.makedirs(out_dir, exist_ok=True)
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    sys.path.insert(0, os.path.join(root, "LLM_Pruning"))
    import torch  # noqa: E402
    from lib import sampling, esd_utils_farms  # noqa: E402

    torch.set_num_threads(1)
    fit_names = {"median": "xmin_mid", "ks": None}
    for rows, cols, dist, seed, mu, (r, q, ops, fit) in CASES:
        w = matrix(rows, cols, dist, seed, mu)
        t = torch.tensor(w, dtype=torch.float64)
        eigs = sampling.fixed_sampling(
            t, isconv2d=False, conv_norm=0.5, num_row_samples=r, Q_ratio=q,
            sampling_ops_per_dim=ops,
        )
        res = esd_utils_farms.analysis_esd(
            {k: [] for k in ["alpha", "spectral_norm", "D", "longname", "eigs", "norm",
                             "alpha_hat", "stable_rank", "norm_stable_rank"]},
            eigs, fix_fingers=fit_names[fit], xmin_pos=2, filter_zeros=False, device="cpu",
        )
        e = eigs.numpy()
        if fit == "median":
            xmin = float(e[len(e) // 2])
        else:
            # analysis_esd does not return xmin in this branch: recover it from α.
            xmin = None
        name = f"{dist}_{rows}x{cols}_s{seed}.json"
        fixture = {
            "reference": "github.com/HUST-AI-HYZ/FARMS",
            "commit": commit,
            "functions": "LLM_Pruning/lib/sampling.py::fixed_sampling, "
                         "LLM_Pruning/lib/esd_utils_farms.py::analysis_esd (float64)",
            "rows": rows, "cols": cols, "dist": dist, "seed": seed, "mu": mu,
            "matrix_sum": float(w.sum()),
            "matrix_first": [float(x) for x in w.reshape(-1)[:4]],
            "num_row_samples": r, "Q_ratio": q, "sampling_ops_per_dim": ops,
            "fit": fit,
            "num_evals": int(len(e)),
            "evals_sum": float(e.sum()),
            "evals_max": float(e[-1]),
            "alpha": res["alpha"][0],
            "D": res["D"][0],
            "xmin": xmin,
        }
        with open(os.path.join(out_dir, name), "w") as f:
            json.dump(fixture, f, indent=1)
            f.write("\n")
        print(name, fixture["num_evals"], fixture["alpha"], fixture["D"])


if __name__ == "__main__":
    main()
