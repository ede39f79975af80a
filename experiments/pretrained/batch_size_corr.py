#!/usr/bin/env python3
"""Pearson and Spearman correlation of α and α̂ with test accuracy over the batch-size runs.

Two sources, standard library only:
- results/batch_size/rank_*.csv (`weightscope rank`, rank_batch_size.sh): the correlations
  recomputed here from rank's own per-model columns, as a check of its .corr.csv;
- experiments/batch_size/results/results.csv (the committed per-layer numbers of all ten runs,
  b2 included, whose checkpoint we could not regenerate in time): mean α and α̂ = mean of
  α·log10(λmax) over fc1 and fc2, the way rank computes them from a checkpoint.

Writes results/batch_size/correlations.csv and prints it.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "results" / "batch_size"


def pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy)


def ranks(x):
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):  # ties share the mean rank
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman(x, y):
    return pearson(ranks(x), ranks(y))


def main():
    rows = []
    for name in ["rank_all", "rank_fc1_fc2", "rank_fc1_fc2_no_l2"]:
        p = OUT / f"{name}.csv"
        if not p.exists():
            continue
        data = list(csv.DictReader(p.open()))
        acc = [float(d["accuracy"]) for d in data]
        for metric in ["alpha", "alpha_weighted", "stable_rank", "log_spectral_norm"]:
            v = [float(d[metric]) for d in data]
            rows.append((name, metric, len(v), pearson(v, acc), spearman(v, acc)))

    committed = ROOT / "experiments" / "batch_size" / "results" / "results.csv"
    per_run = defaultdict(dict)
    for d in csv.DictReader(committed.open()):
        if d["layer"] in ("fc1", "fc2"):
            per_run[d["run"]][d["layer"]] = d
    for label, keep in [
        ("committed_fc1_fc2", lambda r: True),
        ("committed_fc1_fc2_no_l2", lambda r: "_wd" not in r),
    ]:
        runs = [r for r in per_run if keep(r)]
        acc = [float(per_run[r]["fc1"]["test_acc"]) for r in runs]
        alpha = [sum(float(per_run[r][la]["alpha"]) for la in ("fc1", "fc2")) / 2 for r in runs]
        alpha_w = [
            sum(
                float(per_run[r][la]["alpha"]) * math.log10(float(per_run[r][la]["lambda_max"]))
                for la in ("fc1", "fc2")
            )
            / 2
            for r in runs
        ]
        for metric, v in [("alpha", alpha), ("alpha_weighted", alpha_w)]:
            rows.append((label, metric, len(v), pearson(v, acc), spearman(v, acc)))

    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "correlations.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["source", "metric", "runs", "pearson", "spearman"])
        for r in rows:
            w.writerow([r[0], r[1], r[2], f"{r[3]:.4f}", f"{r[4]:.4f}"])
    print((OUT / "correlations.csv").read_text(), end="")


if __name__ == "__main__":
    main()
