#!/usr/bin/env python3
"""Summarise the weightscope runs of experiments/pretrained against the paper's claims.

Reads results/models.json (fetch_models.py) and results/layers/<model>.json
(`weightscope analyze --all --esd farms --json`), writes results/summary.csv (one row per
model) and results/results.md (the tables of README.md, and one table per model with every
layer). Standard library only.
"""

from __future__ import annotations

import csv
import json
import math
import re
import statistics
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
RES = HERE / "results"
PHASES = [
    "Random-like",
    "Bleeding-out",
    "Bulk+Spikes",
    "Bulk-decay",
    "Heavy-Tailed",
    "Rank-collapse",
]
LEVEL = 0.05


def fnum(v, nd=2):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{nd}f}"


def fp(p):
    if p is None:
        return "–"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def fitted(rows):
    return [r for r in rows if r.get("status") == "success" and r.get("alpha") is not None]


def lr_outcome(r, p):
    """R > 0 favours the power law; 'PL' / alternative when p ≤ 0.05, else undecided."""
    if r is None or p is None:
        return "n/a"
    if p > LEVEL:
        return "undecided"
    return "PL" if r > 0 else "alt"


def localized(layer, key):
    v = layer.get("vectors") or {}
    t, b = v.get(f"tail_mean_{key}"), v.get(f"bulk_mean_{key}")
    if t is None or b is None or layer.get("num_pl_spikes", 0) < 1:
        return None
    # Lower is more localized (§3.3); vector entropy and both ratios alike.
    return t < b


def model_stats(name, rows):
    ok = fitted(rows)
    alphas = [r["alpha"] for r in ok]
    # Layers that are one matrix (rf = 1: dense, embeddings, 1×1 convolutions), like the
    # paper's linear layers of Fig. 12 / Table 5; depthwise 3×3 convolutions (M = 1) pool only
    # nine eigenvalues and say little.
    dense = [r for r in ok if r["rf"] == 1]
    n = len(alphas)

    def frac(pred, xs):
        return sum(1 for a in xs if pred(a)) / len(xs) if xs else float("nan")

    s = {
        "model": name,
        "layers": len(rows),
        "fitted": n,
        "dense_fitted": len(dense),
        "alpha_median": statistics.median(alphas) if alphas else float("nan"),
        "frac_alpha_2_4": frac(lambda a: 2 <= a <= 4, alphas),
        "frac_alpha_lt2": frac(lambda a: a < 2, alphas),
        "frac_alpha_4_6": frac(lambda a: 4 < a <= 6, alphas),
        "frac_alpha_gt6": frac(lambda a: a > 6, alphas),
        "dense_frac_alpha_2_4": frac(lambda a: 2 <= a <= 4, [r["alpha"] for r in dense]),
        "farms_frac_alpha_2_4": frac(
            lambda a: 2 <= a <= 4,
            [r["farms"]["farms_alpha"] for r in ok if (r.get("farms") or {}).get("farms_alpha")],
        ),
        "farms_alpha_median": statistics.median(
            [r["farms"]["farms_alpha"] for r in ok if (r.get("farms") or {}).get("farms_alpha")]
            or [float("nan")]
        ),
    }
    tails = [r for r in ok if r.get("tail")]
    best = Counter(r["tail"]["best_fit"] for r in tails)
    for b in ["PL", "TPL", "EXP", "LOG_N", "S_EXP"]:
        s[f"best_{b}"] = best.get(b, 0)
    for b in ["PL", "TPL"]:
        a = [r["alpha"] for r in tails if r["tail"]["best_fit"] == b]
        s[f"alpha_median_best_{b}"] = statistics.median(a) if a else float("nan")
    for alt in ["exp", "logn", "sexp"]:
        c = Counter(lr_outcome(r["tail"][f"R_{alt}"], r["tail"][f"p_{alt}"]) for r in tails)
        s[f"{alt}_PL"], s[f"{alt}_alt"], s[f"{alt}_undecided"] = c["PL"], c["alt"], c["undecided"]
    s["tpl_better"] = sum(
        1 for r in tails if r["tail"]["R_tpl"] < 0 and r["tail"]["p_tpl"] <= LEVEL
    )
    ph = Counter((r.get("phase") or {}).get("phase") for r in rows if r.get("phase"))
    for p in PHASES:
        s[f"phase_{p}"] = ph.get(p, 0)
    # Analysed layers with fewer than 100 eigenvalues per matrix get no phase (docs/phases.md).
    s["phase_none"] = sum(1 for r in ok if not r.get("phase"))
    for key in ["vec_entropy", "loc_ratio", "part_ratio"]:
        # Eigenvectors of M < 8 entries (depthwise convolutions: M = 1) cannot be localized.
        flags = [localized(r, key) for r in ok if r["M"] >= 8]
        flags = [f for f in flags if f is not None]
        s[f"loc_{key}_tail_lower"] = sum(flags)
        s[f"loc_{key}_layers"] = len(flags)
    for key in ["loc_ratio", "part_ratio"]:
        ratios = [
            r["vectors"][f"tail_mean_{key}"] / r["vectors"][f"bulk_mean_{key}"]
            for r in ok
            if r["M"] >= 8
            and (r.get("vectors") or {}).get(f"tail_mean_{key}")
            and r["vectors"].get(f"bulk_mean_{key}")
        ]
        s[f"loc_{key}_ratio_median"] = statistics.median(ratios) if ratios else float("nan")
    runner = Counter(
        r["phase"]["phase_runner_up"]
        for r in rows
        if r.get("phase") and r["phase"].get("phase_runner_up")
    )
    s["runner_up"] = ", ".join(f"{k} {v}" for k, v in sorted(runner.items()))
    s["zero_mass_layers"] = sum(1 for r in rows if (r.get("zero_mass") or 0) > 0)
    return s


def layer_table(rows):
    out = [
        "| layer | type | N×M | Q | α | D | FARMS α | best fit | R, p vs TPL | R, p vs EXP "
        "| R, p vs LOG_N | phase | tail/bulk L(v) |",
        "|---|---|---|---:|---:|---:|---:|---|---|---|---|---|---:|",
    ]
    for r in rows:
        t = r.get("tail") or {}
        v = r.get("vectors") or {}
        ph = (r.get("phase") or {}).get("phase", "")
        loc = (
            v["tail_mean_loc_ratio"] / v["bulk_mean_loc_ratio"]
            if v.get("tail_mean_loc_ratio") and v.get("bulk_mean_loc_ratio")
            else None
        )
        if r.get("status") == "error":
            out.append(f"| {r['name']} | {r.get('layer_type', '')} | | | error: "
                       f"{r.get('message', '')} | | | | | | | | |")  # fmt: skip
            continue

        def rp(k, t=t):
            if t.get(f"R_{k}") is None:
                return "–"
            return f"{t[f'R_{k}']:.1f}, {fp(t[f'p_{k}'])}"

        out.append(
            f"| {r['name']} | {r['layer_type']} | {r['N']}×{r['M']} | {r['Q']:.2f} "
            f"| {fnum(r.get('alpha'))} | {fnum(r.get('D'), 3)} "
            f"| {fnum((r.get('farms') or {}).get('farms_alpha'))} | {t.get('best_fit', '–')} "
            f"| {rp('tpl')} | {rp('exp')} | {rp('logn')} | {ph} | {fnum(loc)} |"
        )
    return out


def main():
    models = json.loads((RES / "models.json").read_text())
    stats, details = [], {}
    for m in models:
        path = RES / "layers" / f"{m['name']}.json"
        if not path.exists():
            continue
        rep = json.loads(path.read_text())
        details[m["name"]] = rep["layers"]
        stats.append(model_stats(m["name"], rep["layers"]))

    with (RES / "summary.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(stats[0]), lineterminator="\n")
        w.writeheader()
        for s in stats:
            w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in s.items()})

    md = ["# Pretrained models: every layer", ""]
    md += ["Generated by `summarize.py` from `results/layers/*.json`. See ../README.md.", ""]
    md += [
        "## Sources",
        "",
        "| model | package | version | file | sha256 |",
        "|---|---|---|---|---|",
    ]
    for m in models:
        md.append(
            f"| {m['name']} | {m['package']} | {m['version']} | {m['file']} | `{m['sha256']}` |"
        )
    md += ["", "## α (Fig. 12)", ""]
    md += [
        "| model | layers fitted | of them rf = 1 | median α | α∈[2,4] | α<2 | 4<α≤6 | α>6 "
        "| rf = 1: α∈[2,4] | median FARMS α | FARMS α∈[2,4] |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in stats:
        md.append(
            f"| {s['model']} | {s['fitted']} | {s['dense_fitted']} | {fnum(s['alpha_median'])} "
            f"| {s['frac_alpha_2_4']:.0%} | {s['frac_alpha_lt2']:.0%} | {s['frac_alpha_4_6']:.0%} "
            f"| {s['frac_alpha_gt6']:.0%} | "
            + (f"{s['dense_frac_alpha_2_4']:.0%}" if s["dense_fitted"] else "–")
            + f" | {fnum(s['farms_alpha_median'])} | {s['farms_frac_alpha_2_4']:.0%} |"
        )
    md += ["", "## Tail distribution (Table 5): likelihood-ratio tests, p ≤ 0.05", ""]
    md += [
        "| model | best PL | best TPL | best EXP | best LOG_N | best S_EXP | TPL ≻ PL "
        "| PL vs EXP (PL / EXP / undecided) | PL vs LOG_N | PL vs S_EXP "
        "| median α: best PL / best TPL |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---|---|",
    ]
    for s in stats:
        md.append(
            f"| {s['model']} | {s['best_PL']} | {s['best_TPL']} | {s['best_EXP']} "
            f"| {s['best_LOG_N']} | {s['best_S_EXP']} | {s['tpl_better']} "
            f"| {s['exp_PL']} / {s['exp_alt']} / {s['exp_undecided']} "
            f"| {s['logn_PL']} / {s['logn_alt']} / {s['logn_undecided']} "
            f"| {s['sexp_PL']} / {s['sexp_alt']} / {s['sexp_undecided']} "
            f"| {fnum(s['alpha_median_best_PL'])} / {fnum(s['alpha_median_best_TPL'])} |"
        )
    md += ["", "## Phases (Table 7)", ""]
    md += [
        "| model | " + " | ".join(PHASES) + " | no phase (M < 100) | runner-up phase (near a "
        "boundary) |",
        "|---|" + "---:|" * (len(PHASES) + 1) + "---|",
    ]
    for s in stats:
        cells = " | ".join(str(s[f"phase_{p}"]) for p in [*PHASES, "none"])
        md.append(f"| {s['model']} | {cells} | {s['runner_up'] or '–'} |")
    md += ["", "## Eigenvector localization (§3.3): layers whose tail eigenvectors are more "
           "localized than the bulk's (lower mean)", ""]  # fmt: skip
    md += ["| model | vector entropy | localization ratio L(v) | participation ratio P(v) "
           "| median tail/bulk L(v) | median tail/bulk P(v) |",
           "|---|---|---|---|---:|---:|"]  # fmt: skip
    for s in stats:
        cells = [
            f"{s[f'loc_{k}_tail_lower']} of {s[f'loc_{k}_layers']}"
            for k in ["vec_entropy", "loc_ratio", "part_ratio"]
        ]
        cells += [
            fnum(s["loc_loc_ratio_ratio_median"], 3),
            fnum(s["loc_part_ratio_ratio_median"], 3),
        ]
        md.append(f"| {s['model']} | " + " | ".join(cells) + " |")
    md += ["", "## Layers of the same kind (names with the block number replaced by *; "
           "groups of ≥ 3)", ""]  # fmt: skip
    md += ["| model | layers | N×M | n | median α | α range | α∈[2,4] | best fit PL/TPL/other "
           "| median FARMS α |", "|---|---|---|---:|---:|---|---:|---|---:|"]  # fmt: skip
    for name, rows in details.items():
        groups = {}
        for r in fitted(rows):
            # Depthwise convolutions (M = 1) apart from the layers around them.
            g = re.sub(r"\d+", "*", r["name"]) + (" (M = 1)" if r["M"] == 1 else "")
            groups.setdefault(g, []).append(r)
        for g, rs in groups.items():
            if len(rs) < 3:
                continue
            a = sorted(r["alpha"] for r in rs)
            bf = Counter((r.get("tail") or {}).get("best_fit") for r in rs)
            other = len(rs) - bf["PL"] - bf["TPL"]
            shapes = sorted({f"{r['N']}×{r['M']}" for r in rs})
            fa = [
                r["farms"]["farms_alpha"] for r in rs if (r.get("farms") or {}).get("farms_alpha")
            ]
            md.append(
                f"| {name} | {g} | {', '.join(shapes) if len(shapes) < 3 else 'various'} "
                f"| {len(rs)} | {fnum(statistics.median(a))} | {fnum(a[0])}–{fnum(a[-1])} "
                f"| {sum(1 for x in a if 2 <= x <= 4) / len(a):.0%} "
                f"| {bf['PL']}/{bf['TPL']}/{other} "
                f"| {fnum(statistics.median(fa)) if fa else '–'} |"
            )
    for name, rows in details.items():
        md += ["", f"## {name}", ""] + layer_table(rows)
    (RES / "results.md").write_text("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
