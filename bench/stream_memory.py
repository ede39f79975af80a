"""Peak memory of `weightscope analyze` on large quantized GGUF checkpoints (issue 14): the
layers stream by row panels, so memory should follow M² plus one panel, not the largest tensor.

Writes, with llama.cpp's `gguf` Python package, two seeded models into a temporary folder:

  gemma  Gemma-3-270M-shaped, Q4_0: token embedding 262144 × 640 plus 2 transformer blocks
         (q 1024×640, k/v 256×640, o 640×1024, gate/up 2048×640, down 640×2048)
  llama  LLaMA-3-8B-shaped, Q8_0: token embedding 128256 × 4096 plus 1 transformer block
         (q/o 4096², k/v 1024×4096, gate/up 14336×4096, down 4096×14336)

(gguf-py quantizes Q4_0 and Q8_0, not the K-quants.) Then runs
`weightscope analyze FILE --csv OUT` under `/usr/bin/time -v` for each binary given and
prints wall time and peak RSS.

    python bench/stream_memory.py [--bin target/release/weightscope] [--bin OTHER ...]
                                  [--models gemma,llama] [--keep DIR] [--threads 1]

`--bin` may be repeated (e.g. main's binary, to compare). The models are deleted at the end
unless `--keep DIR` is given: they are written there and reused on the next run. Targets: gemma ≤ 400 MB, llama ≤ 2 GiB peak RSS.

Environment (pinned): Python 3.11, gguf==0.19.0, numpy==2.4.6
    python3 -m venv /tmp/venv-bench && /tmp/venv-bench/bin/pip install gguf==0.19.0 numpy==2.4.6
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter
from gguf.quants import quantize

MODELS = {
    # name: (architecture, quant type, embedding (vocab, hidden), block shapes (out, in), blocks)
    "gemma": (
        "gemma3",
        GGMLQuantizationType.Q4_0,
        (262144, 640),
        {
            "attn_q": (1024, 640),
            "attn_k": (256, 640),
            "attn_v": (256, 640),
            "attn_output": (640, 1024),
            "ffn_gate": (2048, 640),
            "ffn_up": (2048, 640),
            "ffn_down": (640, 2048),
        },
        2,
    ),
    "llama": (
        "llama",
        GGMLQuantizationType.Q8_0,
        (128256, 4096),
        {
            "attn_q": (4096, 4096),
            "attn_k": (1024, 4096),
            "attn_v": (1024, 4096),
            "attn_output": (4096, 4096),
            "ffn_gate": (14336, 4096),
            "ffn_up": (14336, 4096),
            "ffn_down": (4096, 14336),
        },
        1,
    ),
}


def quantized(shape, qtype, rng):
    """Gaussian weights of `shape` (rows, cols), scaled like an initialised layer, quantized
    a few thousand rows at a time so that the float copy never exists whole."""
    rows, cols = shape
    out = None
    step = max(1, (1 << 25) // cols)
    for r in range(0, rows, step):
        x = rng.standard_normal((min(step, rows - r), cols), dtype=np.float32)
        x *= np.float32(1.0 / np.sqrt(cols))
        q = quantize(x, qtype)
        if out is None:
            out = np.empty((rows, q.shape[1]), dtype=np.uint8)
        out[r : r + q.shape[0]] = q
    return out


def write_model(name, path):
    arch, qtype, embedding, block, blocks = MODELS[name]
    rng = np.random.default_rng(14)
    w = GGUFWriter(path, arch)
    w.add_tensor("token_embd.weight", quantized(embedding, qtype, rng), raw_dtype=qtype)
    for b in range(blocks):
        for kind, shape in block.items():
            w.add_tensor(f"blk.{b}.{kind}.weight", quantized(shape, qtype, rng), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def peak_rss(binary, model, out, threads):
    """Wall seconds, peak RSS in bytes, and the exit code of one analysis."""
    cmd = ["/usr/bin/time", "-v", binary, "analyze", model, "--csv", out, "--threads", threads]
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) * 1024 if m else None
    if p.returncode not in (0, 1):
        sys.stderr.write(p.stderr[-2000:])
    return wall, rss, p.returncode


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", action="append", help="weightscope binary (repeatable)")
    ap.add_argument("--models", default="gemma,llama")
    ap.add_argument("--keep", help="folder for the models, reused when present")
    ap.add_argument("--threads", default="1")
    args = ap.parse_args()
    binaries = args.bin or ["target/release/weightscope"]
    folder = args.keep or tempfile.mkdtemp(prefix="ws-stream-memory-")
    os.makedirs(folder, exist_ok=True)
    print(f"{'model':8} {'file MB':>8} {'binary':40} {'wall s':>7} {'peak RSS MB':>12} rc")
    for name in args.models.split(","):
        path = os.path.join(folder, f"{name}.gguf")
        if not os.path.exists(path):
            t = time.time()
            write_model(name, path)
            print(f"# wrote {path} in {time.time() - t:.0f} s", file=sys.stderr)
        size = os.path.getsize(path) / 1e6
        for binary in binaries:
            out = os.path.join(folder, f"{name}.csv")
            wall, rss, rc = peak_rss(binary, path, out, args.threads)
            shown = f"{rss / 1e6:.0f}" if rss else "?"
            print(f"{name:8} {size:8.0f} {binary:40} {wall:7.1f} {shown:>12} {rc}", flush=True)
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
