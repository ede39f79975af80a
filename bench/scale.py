"""Memory on a checkpoint much larger than one layer: writes a seeded safetensors file of
COUNT float32 SIZE×SIZE matrices (default 100 × 2048², 1.56 GiB) and prints weightscope's wall
time and peak RSS. Run from the repository root after `cargo build --release`:

    python3 bench/scale.py [COUNT] [SIZE]

Standard library only. The file goes to bench/out/scale.safetensors (git-ignored).
"""
import array
import json
import os
import random
import resource
import struct
import subprocess
import sys
import time

count = int(sys.argv[1]) if len(sys.argv) > 1 else 100
size = int(sys.argv[2]) if len(sys.argv) > 2 else 2048
os.makedirs("bench/out", exist_ok=True)
path = "bench/out/scale.safetensors"
nbytes = size * size * 4
header = {
    f"layers.{i}.weight": {"dtype": "F32", "shape": [size, size], "data_offsets": [i * nbytes, (i + 1) * nbytes]}
    for i in range(count)
}
h = json.dumps(header).encode()
h += b" " * ((8 - len(h) % 8) % 8)
rng = random.Random(1)
# One Gaussian block of 1/16 of a matrix, rotated per part: cheap to write, not low-rank.
block = array.array("f", [rng.gauss(0, 1) for _ in range(size * size // 16)]).tobytes()
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for i in range(count):
        for k in range(16):
            f.write(block[(4 * (k + i)) % len(block):] + block[: (4 * (k + i)) % len(block)])
gib = os.path.getsize(path) / 2**30
t = time.time()
p = subprocess.run(["./target/release/weightscope", "analyze", path, "-q"], capture_output=True, text=True)
wall = time.time() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"checkpoint {gib:.2f} GiB ({count} x {size}x{size} f32): exit {p.returncode}, {wall:.1f} s, peak RSS {rss:.0f} MiB")
