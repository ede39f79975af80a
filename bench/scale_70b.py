"""Scale figures at LLaMA-3-70B/405B shapes (issue 15): measures the cost of each layer kind at
70B shapes on this machine, and predicts the wall time of a whole LLaMA-3-70B (80 blocks) and
LLaMA-3.1-405B (126 blocks) on 1, 8 and 64 workers of this machine kind, with the Ray overhead
measured here and the bandwidth that would make reading the weights the bound.

    python bench/scale_70b.py [THREADS] [EMBED_ROWS]     (default 2 threads, 16384 rows)

Measured (seeded bf16 safetensors, `target/release/weightscope analyze --layers`, one layer
per run, THREADS threads): one 70B block's distinct shapes — q_proj 8192×8192 (o_proj is the
same shape), k_proj 1024×8192 (v_proj the same), gate_proj 28672×8192 (up_proj the same),
down_proj 8192×28672 — and a cut-down embedding EMBED_ROWS×8192.

Extrapolated, from the cost model t(N, M) = a·N·M² + b·M³ + c (Gram matrix, then the
eigenvalues of the M×M Gram matrix, then a fixed part) fitted to the measured layers:
the full embedding / lm_head (128256×8192), and every 405B layer (hidden 16384, FFN 53248:
M = 16384 costs 8× the eigenvalues of M = 8192, assumed at the same rate). The prediction
for W workers is the makespan of the shares `--shard I/W` would make (largest-first to the
least-loaded worker, by estimated flops, as weightscope::shard::partition) plus the Ray
overhead measured by bench/ray_overhead.py-style runs here (fixed seconds per run and per
task); a share cannot finish before its largest layer, which bounds 64 workers.

Needs numpy, `cargo build --release -p weightscope-cli`, and for the Ray overhead the
weightscope package and ray in the running Python (else it is left out and said so). Files
go to bench/out/ (git-ignored; ~1.7 GB, deleted at the end unless KEEP=1).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

threads = sys.argv[1] if len(sys.argv) > 1 else "2"
embed_rows = int(sys.argv[2]) if len(sys.argv) > 2 else 16384
BIN = "target/release/weightscope"
OUT = "bench/out"
H70, F70, V = 8192, 28672, 128256
KV = 1024  # 8 key/value heads of 128
H405, F405 = 16384, 53248

measured = [
    ("q_proj", (H70, H70)),
    ("k_proj", (KV, H70)),
    ("gate_proj", (F70, H70)),
    ("down_proj", (H70, F70)),
    ("embed_cut", (embed_rows, H70)),
]


def write_bf16(path, shape, seed):
    """One seeded bf16 tensor as a safetensors file (N(0, 0.02²), rounded to nearest even)."""
    n = shape[0] * shape[1] * 2
    header = {"w.weight": {"dtype": "BF16", "shape": list(shape), "data_offsets": [0, n]}}
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    if os.path.exists(path) and os.path.getsize(path) == 8 + len(h) + n:
        return
    rng = np.random.default_rng(seed)
    with open(path + ".tmp", "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        # By row blocks, to keep the memory small.
        for r0 in range(0, shape[0], 2048):
            rows = min(2048, shape[0] - r0)
            w = rng.standard_normal((rows, shape[1]), dtype=np.float32) * 0.02
            u = w.view(np.uint32)
            u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
            f.write(u.astype("<u2").tobytes())
    os.replace(path + ".tmp", path)


def run(path):
    """Wall seconds of `weightscope analyze` on one file."""
    t = time.perf_counter()
    subprocess.run(
        [BIN, "analyze", path, "-q", "--threads", threads, "--json", path + ".json"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - t
    with open(path + ".json") as f:
        status = json.load(f)["layers"][0]["status"]
    return wall, status


os.makedirs(OUT, exist_ok=True)
times = {}
print(f"measured on this machine ({os.cpu_count()} cores), --threads {threads}, release binary:")
for seed, (kind, shape) in enumerate(measured):
    path = f"{OUT}/scale70b-{kind}.safetensors"
    write_bf16(path, shape, seed)
    wall, status = run(path)
    times[kind] = (shape, wall)
    print(f"  {kind:10s} {shape[0]:6d}×{shape[1]:<6d} {wall:8.1f} s  ({status})")
if os.environ.get("KEEP") != "1":
    for kind, _ in measured:
        for ext in ("", ".json"):
            p = f"{OUT}/scale70b-{kind}.safetensors{ext}"
            if os.path.exists(p):
                os.remove(p)


def nm(shape):
    """(N, M): N ≥ M, the Gram matrix is M×M."""
    return max(shape), min(shape)


# Fit t = a·N·M² + b·M³ + c by least squares on the measured layers (the fixed part c: process
# start, header, the power-law fit).
X = np.array([[n * m * m, m**3, 1.0] for n, m in (nm(s) for s, _ in times.values())])
y = np.array([w for _, w in times.values()])
(a, b, c), *_ = np.linalg.lstsq(X, y, rcond=None)
c = max(c, 0.0)


def cost(shape):
    n, m = nm(shape)
    return a * n * m * m + b * m**3 + c


print(
    f"cost model: a = {a:.3g} s per N·M² (Gram), b = {b:.3g} s per M³ (eigenvalues), "
    f"c = {c:.2f} s; fitted vs measured:"
)
for kind, (shape, wall) in times.items():
    print(f"  {kind:10s} {cost(shape):8.1f} s predicted, {wall:8.1f} s measured")


def model_layers(h, f, blocks):
    block = [(h, h), (KV, h), (KV, h), (h, h), (f, h), (f, h), (h, f)]
    return [(V, h)] + block * blocks + [(V, h)]


def shares(costs, w):
    """Makespan of largest-first to the least-loaded of w workers (shard::partition)."""
    load = [0.0] * w
    for t in sorted(costs, reverse=True):
        i = load.index(min(load))
        load[i] += t
    return max(load)


# Ray overhead, measured here: a run on a small seeded checkpoint through executor="ray" (on
# a local 2-CPU cluster already started) against the same run in this process.
overhead_fixed = overhead_task = None
try:
    import ray
    import weightscope as ws
    import weightscope.ray as wsray

    small = f"{OUT}/scale70b-ray-small.safetensors"
    rng = np.random.default_rng(11)
    tensors = {f"l{i}.weight": rng.standard_normal((512, 256), dtype=np.float32) for i in range(16)}
    from safetensors.numpy import save_file

    save_file(tensors, small)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    wsray.analyze(small, tasks=2)  # warm the workers (a cluster is started once)
    t = time.perf_counter()
    ws.analyze(small)
    local = time.perf_counter() - t
    per = {}
    for k in (2, 16):
        t = time.perf_counter()
        wsray.analyze(small, tasks=k)
        per[k] = time.perf_counter() - t
    # Tasks run 2 at a time: 16 tasks are 8 rounds, 2 tasks 1 round.
    overhead_task = max(0.0, (per[16] - per[2]) / 7)
    overhead_fixed = max(0.0, per[2] - local - overhead_task)
    ray.shutdown()
    os.remove(small)
    print(
        f"Ray overhead (local 2-CPU cluster, tiny model): {overhead_fixed:.2f} s per run + "
        f"{overhead_task:.3f} s per task round (local run {local:.2f} s, ray 2 tasks "
        f"{per[2]:.2f} s, 16 tasks {per[16]:.2f} s)"
    )
except ImportError as e:
    print(f"Ray overhead not measured ({e}); predictions leave it out")

models = {
    "LLaMA-3-70B": (H70, F70, 80),
    "LLaMA-3.1-405B": (H405, F405, 126),
}
print()
print("predicted wall time (hours) on W workers of this machine kind (2 cores each):")
print(f"{'model':16s} {'layers':>6s} {'GB bf16':>8s} {'W=1':>8s} {'W=8':>8s} {'W=64':>8s}  largest layer")
net = {}
for name, (h, f, blocks) in models.items():
    layers = model_layers(h, f, blocks)
    costs = [cost(s) for s in layers]
    gb = sum(s[0] * s[1] * 2 for s in layers) / 1e9
    row = []
    for w in (1, 8, 64):
        span = shares(costs, w)
        if overhead_fixed is not None:
            # 2 tasks per worker (the default), a round each.
            span += overhead_fixed + 2 * overhead_task
        row.append(span / 3600)
    print(
        f"{name:16s} {len(layers):6d} {gb:8.0f} {row[0]:8.2f} {row[1]:8.2f} {row[2]:8.2f}  "
        f"{max(costs) / 3600:.2f} h ({V}×{h})"
    )
    net[name] = (gb, sum(costs), layers, costs)

print()
print("where the network bounds it: each worker reads its layers' bytes once; compute per")
print("byte read is the layer's time over its bf16 bytes. W workers pulling from one store")
print("at bandwidth B are bound by it from W ≥ B · (compute seconds) / (bytes) on:")
for name, (gb, total, layers, costs) in net.items():
    rate = gb * 1e9 / total  # bytes per second of compute, one worker
    worst = max(s[0] * s[1] * 2 / t for s, t in zip(layers, costs))
    for label, bw in (("1 Gb/s", 1e9 / 8), ("10 Gb/s", 10e9 / 8), ("1 GB/s", 1e9)):
        print(
            f"  {name:16s} {label:8s}: one worker needs {rate / 1e6:.2f} MB/s on average "
            f"({worst / 1e6:.1f} MB/s at its most read-heavy layer) → bound from "
            f"W ≈ {bw / rate:.0f} workers; the whole checkpoint ({gb:.0f} GB) takes "
            f"{gb * 1e9 / bw / 60:.1f} min to move at {label}"
        )
