"""Overhead of the Ray executor (issue 15): `weightscope.analyze(path, executor="ray")` on a
local Ray cluster of this machine's cores against `weightscope.analyze(path)` in one local
process, side by side in one run, on a seeded checkpoint of a few hundred MB. Target: the Ray
run at most 10% slower.

    python bench/ray_overhead.py [MB] [REPEATS]     (default 300 MB, 5 repeats; best and median)

The checkpoint (bench/out/ray-overhead-<MB>mb.safetensors, git-ignored) holds float32 layers
of LLaMA-like shapes (1024×1024 attention, 2816×1024 and 1024×2816 MLP) until it reaches MB.
The cluster is started once before timing (as a user's session holds it); each Ray run
includes planning the shares, scheduling the tasks, each worker opening the file and
analysing its layers, returning the parts and joining them. Both runs use every core: the
local run with its threads, the Ray run with one task per CPU (one thread each), two shares
per CPU (the default). Needs numpy, safetensors, ray and the weightscope package.
"""

import os
import statistics
import sys
import time

import numpy as np
import ray
import weightscope as ws
import weightscope.ray as wsray
from safetensors.numpy import save_file

mb = int(sys.argv[1]) if len(sys.argv) > 1 else 300
repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
os.makedirs("bench/out", exist_ok=True)
path = f"bench/out/ray-overhead-{mb}mb.safetensors"
if not os.path.exists(path):
    rng = np.random.default_rng(15)
    shapes = [(1024, 1024)] * 4 + [(2816, 1024), (2816, 1024), (1024, 2816)]
    tensors, size, b = {}, 0, 0
    while size < mb * 1e6:
        for j, s in enumerate(shapes):
            tensors[f"layers.{b}.w{j}.weight"] = rng.standard_normal(s, dtype=np.float32) * 0.02
            size += s[0] * s[1] * 4
        b += 1
    save_file(tensors, path + ".tmp")
    os.replace(path + ".tmp", path)
size = os.path.getsize(path) / 1e6

cpus = os.cpu_count() or 1
ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
t = time.perf_counter()
wsray.analyze(path, layers="w0")  # start the workers once (a session's first call)
warm = time.perf_counter() - t

local_times, ray_times = [], []
for _ in range(repeats):
    # Alternate, so that a slow spell of the machine hits both.
    t = time.perf_counter()
    local = ws.analyze(path)
    local_times.append(time.perf_counter() - t)
    t = time.perf_counter()
    remote = ws.analyze(path, executor="ray")
    ray_times.append(time.perf_counter() - t)
    if not local.equals(remote):
        sys.exit("the Ray run differs from the local run")
ray.shutdown()

lo, ra = min(local_times), min(ray_times)
mlo, mra = statistics.median(local_times), statistics.median(ray_times)
print(f"checkpoint: {size:.0f} MB float32, {len(local)} layers; {cpus} CPUs")
print(f"first Ray call (workers start): {warm:.2f} s")
print(f"local process : {' '.join(f'{x:.2f}' for x in local_times)} s → best {lo:.2f} s")
print(f"executor='ray': {' '.join(f'{x:.2f}' for x in ray_times)} s → best {ra:.2f} s")
pairs = sorted(r / q for r, q in zip(ray_times, local_times))
print(f"ratio of each pair (run back to back): {' '.join(f'{x:.3f}' for x in pairs)}, median {statistics.median(pairs):.3f}")
print(f"ratio ray/local: best {ra / lo:.3f} ({100 * (ra / lo - 1):+.1f}%), median {mra / mlo:.3f} ({100 * (mra / mlo - 1):+.1f}%); target ≤ +10%")
