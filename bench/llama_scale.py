"""LLaMA-7B-shaped scale run (issue 6): writes a seeded bf16 safetensors checkpoint with the
shapes of LLaMA-7B — BLOCKS of the 32 transformer blocks (q,k,v,o 4096×4096; gate, up 11008×4096;
down 4096×11008) plus embed_tokens and lm_head (32000×4096) — runs `weightscope analyze` on it,
and prints wall time, peak RSS, time per layer kind, the extrapolation to all 32 blocks, and
the ratio to the FLOP-limit estimate at the GEMM peak measured in the same run.

    python bench/llama_scale.py [BLOCKS] [THREADS] [MAX_MEMORY]   (default 2 blocks, 2 threads, 2G)

Needs numpy (bench/.venv has it) and `cargo build --release`. Files go to bench/out/ (git-ignored).
"""
import json
import os
import subprocess
import sys
import time

# The GEMM peak below is one thread's: set before numpy loads OpenBLAS.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
import numpy as np  # noqa: E402

blocks = int(sys.argv[1]) if len(sys.argv) > 1 else 2
threads = sys.argv[2] if len(sys.argv) > 2 else "2"
max_memory = sys.argv[3] if len(sys.argv) > 3 else "2G"
H, F, V = 4096, 11008, 32000
shapes = [("model.embed_tokens.weight", (V, H))]
for b in range(blocks):
    p = f"model.layers.{b}"
    shapes += [(f"{p}.self_attn.{x}_proj.weight", (H, H)) for x in "qkvo"]
    shapes += [(f"{p}.mlp.gate_proj.weight", (F, H)), (f"{p}.mlp.up_proj.weight", (F, H))]
    shapes += [(f"{p}.mlp.down_proj.weight", (H, F))]
shapes.append(("lm_head.weight", (V, H)))

os.makedirs("bench/out", exist_ok=True)
path = f"bench/out/llama7b-{blocks}blocks.safetensors"
header, off = {}, 0
for name, s in shapes:
    n = s[0] * s[1] * 2
    header[name] = {"dtype": "BF16", "shape": list(s), "data_offsets": [off, off + n]}
    off += n
if not os.path.exists(path) or os.path.getsize(path) < off:
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    rng = np.random.default_rng(7)
    with open(path + ".tmp", "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for name, s in shapes:
            w = rng.standard_normal(s, dtype=np.float32) * 0.02
            # bf16 = the top 16 bits of the f32 (round to nearest even).
            u = w.view(np.uint32)
            u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
            f.write(u.astype("<u2").tobytes())
    os.replace(path + ".tmp", path)
gib = os.path.getsize(path) / 2**30

out = f"bench/out/llama7b-{blocks}blocks.json"
t = time.time()
child = subprocess.Popen(["target/release/weightscope", "analyze", path, "--json", out, "-q", "--threads", threads,
                          "--max-memory", max_memory], stdout=subprocess.DEVNULL)
# The peak RSS of this child alone (wait4), not of every child this script ran.
_, status, usage = os.wait4(child.pid, 0)
child.returncode = os.waitstatus_to_exitcode(status)
wall = time.time() - t
if child.returncode != 0:
    sys.exit(f"weightscope exited with {child.returncode}")
rss = usage.ru_maxrss / 1024  # KiB on Linux

# GEMM peak of this machine now (f64, one thread), for the FLOP-limit estimate.
a = np.random.default_rng(1).standard_normal((2048, 2048))
t0 = time.time()
for _ in range(3):
    a @ a
peak = 3 * 2 * 2048**3 / (time.time() - t0)

def flops(n, m):  # symmetric Gram product + tridiagonalisation (issue 6's estimate)
    return n * m * m + 4 / 3 * m**3

per_block = 4 * flops(H, H) + 3 * flops(F, H)
emb = 2 * flops(V, H)
report = json.load(open(out))
layers = report["layers"]
print(f"checkpoint: {gib:.2f} GiB bf16, {len(layers)} layers ({blocks} of 32 blocks + embeddings)")
print(f"weightscope analyze --threads {threads} --max-memory {max_memory}: {wall:.1f} s wall, peak RSS {rss:.0f} MiB")
failed = [l["longname"] for l in layers if l.get("status") != "success"]
print(f"layers not fitted: {failed or 'none'}")
measured_flops = emb + blocks * per_block
rate = measured_flops / wall
full = emb + 32 * per_block
print(f"flops of this run {measured_flops:.3g} → {rate / 1e9:.1f} GFLOP/s effective")
print(f"GEMM peak (numpy f64, 1 thread) {peak / 1e9:.1f} GFLOP/s")
print(f"LLaMA-7B (32 blocks) estimate: {full:.3g} flops; FLOP limit {full / peak / 60:.1f} min at that peak;"
      f" extrapolated weightscope {full / rate / 60:.1f} min ({full / rate / (full / peak):.2f}× the limit)")
