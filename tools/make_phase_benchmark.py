#!/usr/bin/env python3
"""Benchmark for the 5+1 phase classifier (paper §5, Table 7): matrices with a known phase.

Requires numpy==1.26.4 (any recent numpy gives the same labels; the eigenvalues depend on
its RNG streams, which are stable across versions since 1.17):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy==1.26.4
    OPENBLAS_NUM_THREADS=1 /tmp/venv/bin/python tools/make_phase_benchmark.py

Writes tests/fixtures/phases/{train,heldout}.csv (one row per matrix: phase, generating
family, N, M, scale, parameters) and {train,heldout}.f32 (the M eigenvalues of WᵀW/N of each
matrix, ascending, little-endian f32, concatenated in row order). The eigenvalues are squared
singular values from numpy's SVD, whose absolute accuracy (ε·σmax) keeps the small
eigenvalues of rank-deficient and very heavy-tailed matrices meaningful.

The generators know nothing of weightscope's classifier: each label is the phase of the
generating process, W ≃ W_rand + Δ (Eqn. 13), decided from the generating parameters only.
Notation: N×M, N ≥ M, Q = N/M; W_rand has i.i.d. entries of variance 1 (Gaussian, uniform
or Rademacher); a rank-one term θ·u vᵀ with unit u, v has the BBP threshold
θc = (NM)^(1/4) and, above it, puts an outlier of WᵀW/N at
    λ/σ² = (t + √Q)(t√Q + 1)/(Q t),  t = (θ/θc)²
(Benaych-Georges & Nadakuditi 2012; the paper's λmax formula in §5.3), against the bulk edge
λ⁺ = (1 + 1/√Q)². Every matrix is multiplied by a scale drawn log-uniformly from
[1e-3, 1e3]: the classifier must be scale-free.

  Random-like   W_rand, possibly plus 1–5 rank-one terms below the threshold (θ ≤ 0.7 θc).
  Bleeding-out  W_rand + K = 2–6 rank-one terms whose outliers lie just above λ⁺: between
                4 Tracy–Widom scales above λ⁺ and the outlier of θ = 1.35 θc.
  Bulk+Spikes   W_rand + K = 1–min(20, M/20) rank-one terms, θ/θc log-uniform from 1.5 to
                the strength that puts the outlier at 50 λ⁺ (K ≪ M: spikes well above λ⁺).
  Bulk-decay    W_rand + a rank-K signal, K = 10–30% of M, with strengths decaying as a power
                law from an outlier at 5–50 λ⁺ down to 0.5 θc: a continuum of eigenvalues
                leaving the bulk plus far spikes (§5.4).
  Heavy-Tailed  i.i.d. heavy-tailed entries (§3.2, Eqn. 10): Pareto with tail exponent
                μ ∈ [0.5, 3.5] and random signs, or Student-t with ν ∈ [1, 3.5]. Table 7 calls
                an ESD Heavy-Tailed when it is "better described by Heavy-Tailed RMT than
                Gaussian RMT … no good λ⁺; λmax ≫ λ⁺"; at these sizes a matrix with μ near 3.5
                is an MP bulk with a handful of outliers, which Table 7 would not call so. We
                keep a draw only if the variance is infinite (μ ≤ 2), or if at least
                max(4, 2% of M) of its entries have x² above the Gaussian edge
                σ²(√N + √M)² of a matrix with the same variance (each such entry makes an
                eigenvalue beyond the bulk); otherwise μ is redrawn.
  Rank-collapse W of rank r = 5–60% of M (a product of Gaussian factors, or the same with
                M − r columns copies of others or dead) plus noise 1e-7–1e-4 times the entry
                scale: a large mass of eigenvalues at (numerically) zero (§5.6).

Train and held-out splits differ only in their seeds; parameters are continuous, so held-out
values lie in between the training ones.

A third split, `continuum` (`--only continuum` writes it alone), holds Rank-collapse of
another kind, the one strong L2 leaves in real layers (§6.4, experiments/batch_size): W_rand
whose units (columns) die, a share f ∈ [0.1, 0.9] of them, each at its own step, and shrink
geometrically from then on, so that the log10 of a dead unit's scale is uniform in [−d, 0],
d ∈ [4, 16] decades. Its eigenvalues form a continuum reaching down to zero, with no gap.
It was made after the classifier's rule for such ESDs, to test that rule on matrices it
was not set with; it is not part of the benchmark's train/held-out targets.
"""

import csv
import math
import os
import sys

import numpy as np

PHASES = [
    "Random-like",
    "Bleeding-out",
    "Bulk+Spikes",
    "Bulk-decay",
    "Heavy-Tailed",
    "Rank-collapse",
]
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "phases")


def shape(rng):
    """M mostly 100–600 (one in seven up to 1000), Q log-uniform in [1, 8]."""
    if rng.random() < 0.85:
        m = int(rng.integers(100, 601))
    else:
        m = int(rng.integers(600, 1001))
    q = math.exp(rng.uniform(0.0, math.log(8.0)))
    return max(m, int(round(q * m))), m


def noise(rng, n, m):
    kind = rng.choice(["gaussian", "uniform", "rademacher"])
    if kind == "gaussian":
        x = rng.standard_normal((n, m))
    elif kind == "uniform":
        x = rng.uniform(-math.sqrt(3.0), math.sqrt(3.0), (n, m))
    else:
        x = rng.choice([-1.0, 1.0], (n, m))
    return x, str(kind)


def orthonormal(rng, n, k):
    qm, _ = np.linalg.qr(rng.standard_normal((n, k)))
    return qm


def outlier_ratio(c, q):
    """Outlier of θ = c·θc over λ⁺ (module docstring)."""
    t = c * c
    lam = (t + math.sqrt(q)) * (t * math.sqrt(q) + 1.0) / (q * t)
    return lam / (1.0 + 1.0 / math.sqrt(q)) ** 2


def strength_for_ratio(ratio, q):
    """θ/θc whose outlier lies at `ratio`·λ⁺ (inverse of `outlier_ratio`)."""
    lam = ratio * (1.0 + 1.0 / math.sqrt(q)) ** 2
    b = q * lam - 1.0 - q
    t = (b + math.sqrt(max(b * b - 4.0 * q, 0.0))) / (2.0 * math.sqrt(q))
    return math.sqrt(t)


def tw_relative(n, m):
    """Tracy–Widom scale of λmax relative to λ⁺ (Johnstone 2001)."""
    sn, sm = math.sqrt(n), math.sqrt(m)
    return (1.0 / sn + 1.0 / sm) ** (1.0 / 3.0) / (sn + sm)


def add_spikes(rng, x, strengths):
    n, m = x.shape
    k = len(strengths)
    u = orthonormal(rng, n, k)
    v = orthonormal(rng, m, k)
    theta = np.asarray(strengths) * (n * m) ** 0.25
    return x + (u * theta) @ v.T


def random_like(rng):
    n, m = shape(rng)
    x, kind = noise(rng, n, m)
    k = int(rng.integers(0, 6))
    cs = rng.uniform(0.1, 0.7, k)
    if k:
        x = add_spikes(rng, x, cs)
    return x, f"{kind} K={k} c={','.join(f'{c:.2f}' for c in cs)}"


def bleeding_out(rng):
    while True:
        n, m = shape(rng)
        q = n / m
        lo = 1.0 + 4.0 * tw_relative(n, m)
        hi = outlier_ratio(1.35, q)
        if lo < hi:
            break
    x, kind = noise(rng, n, m)
    k = int(rng.integers(2, 7))
    ratios = rng.uniform(lo, hi, k)
    cs = [strength_for_ratio(r, q) for r in ratios]
    x = add_spikes(rng, x, cs)
    return x, f"{kind} K={k} c={','.join(f'{c:.2f}' for c in cs)}"


def bulk_spikes(rng):
    n, m = shape(rng)
    q = n / m
    x, kind = noise(rng, n, m)
    k = int(rng.integers(1, min(20, m // 20) + 1))
    cmax = strength_for_ratio(50.0, q)
    cs = np.exp(rng.uniform(math.log(1.5), math.log(cmax), k))
    x = add_spikes(rng, x, cs)
    return x, f"{kind} K={k} c={','.join(f'{c:.2f}' for c in cs)}"


def bulk_decay(rng):
    n, m = shape(rng)
    q = n / m
    x, kind = noise(rng, n, m)
    k = int(round(m * rng.uniform(0.1, 0.3)))
    top = math.exp(rng.uniform(math.log(5.0), math.log(50.0)))
    c1 = strength_for_ratio(top, q)
    gamma = math.log(c1 / 0.5) / math.log(k)
    cs = c1 * np.arange(1, k + 1, dtype=float) ** (-gamma)
    x = add_spikes(rng, x, cs)
    return x, f"{kind} K={k} top={top:.1f}λ+ decay={gamma:.2f}"


def heavy_tailed(rng):
    n, m = shape(rng)
    edge2 = (math.sqrt(n) + math.sqrt(m)) ** 2
    while True:
        if rng.random() < 0.5:
            mu = rng.uniform(0.5, 3.5)
            # Pareto (Eqn. 10) with x_min = 1: |x| = U^(-1/μ); E x² = μ/(μ-2) for μ > 2.
            x = rng.random((n, m)) ** (-1.0 / mu) * rng.choice([-1.0, 1.0], (n, m))
            var = mu / (mu - 2.0) if mu > 2.0 else math.inf
            what = f"pareto mu={mu:.2f}"
        else:
            mu = rng.uniform(1.0, 3.5)
            x = rng.standard_t(mu, (n, m))
            var = mu / (mu - 2.0) if mu > 2.0 else math.inf
            what = f"student-t nu={mu:.2f}"
        if math.isinf(var):
            return x, what
        beyond = int(np.count_nonzero(x * x > var * edge2))
        if beyond >= max(4, 0.02 * m):
            return x, f"{what} entries-beyond-edge={beyond}"


def rank_collapse(rng):
    n, m = shape(rng)
    r = max(1, int(round(m * rng.uniform(0.05, 0.6))))
    if rng.random() < 0.5:
        x = rng.standard_normal((n, r)) @ rng.standard_normal((r, m)) / math.sqrt(r)
        what = f"product r={r}"
    else:
        base, _ = noise(rng, n, r)
        # The other columns copy kept ones (scaled) or are dead (zero).
        src = rng.integers(0, r, m - r)
        gain = rng.uniform(-1.0, 1.0, m - r) * (rng.random(m - r) < 0.5)
        x = np.concatenate([base, base[:, src] * gain], axis=1)
        x = x[:, rng.permutation(m)]
        what = f"copies r={r}"
    eps = math.exp(rng.uniform(math.log(1e-7), math.log(1e-4)))
    x = x + eps * rng.standard_normal((n, m))
    return x, f"{what} noise={eps:.1e}"


def rank_collapse_continuum(rng):
    n, m = shape(rng)
    x, kind = noise(rng, n, m)
    share = rng.uniform(0.1, 0.9)
    decades = rng.uniform(4.0, 16.0)
    dead = rng.random(m) < share
    scale = np.where(dead, 10.0 ** -rng.uniform(0.0, decades, m), 1.0)
    # Units shrunk by 3+ decades (eigenvalues by 6+): the mass "at zero".
    gone = np.count_nonzero(scale <= 1e-3) / m
    x = x * scale[None, :]
    return x, f"{kind} dead={dead.mean():.2f} decades={decades:.1f} gone={gone:.3f}"


GENERATORS = [random_like, bleeding_out, bulk_spikes, bulk_decay, heavy_tailed, rank_collapse]


def make_split(name, seed, per_phase, generators=None):
    rows, evals = [], []
    for pi, (phase, gen) in enumerate(generators or zip(PHASES, GENERATORS)):
        for i in range(per_phase):
            rng = np.random.default_rng([seed, pi, i])
            while True:
                x, params = gen(rng)
                scale = math.exp(rng.uniform(math.log(1e-3), math.log(1e3)))
                n, m = x.shape
                s = np.linalg.svd(x, compute_uv=False)
                lam = np.sort((s * scale) ** 2 / n).astype(np.float32)
                # f32 must hold every eigenvalue (very heavy tails at a large scale can overflow).
                if np.all(np.isfinite(lam)):
                    break
            rows.append([len(rows), phase, params, n, m, f"{scale:.6g}"])
            evals.append(lam)
        print(f"{name}: {phase} done", file=sys.stderr)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, f"{name}.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["index", "phase", "generator", "n", "m", "scale"])
        w.writerows(rows)
    np.concatenate(evals).astype("<f4").tofile(os.path.join(OUT, f"{name}.f32"))


if __name__ == "__main__":
    args = sys.argv[1:]
    only = None
    if args[:1] == ["--only"]:
        only, args = args[1], args[2:]
    per = int(args[0]) if args else 100
    if only in (None, "train"):
        make_split("train", 20261205, per)
    if only in (None, "heldout"):
        make_split("heldout", 90210417, per)
    if only in (None, "continuum"):
        make_split("continuum", 31415926, 2 * per, [("Rank-collapse", rank_collapse_continuum)])
