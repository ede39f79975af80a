#!/usr/bin/env python3
"""Write the streaming fixtures of weightscope-formats (tests/fixtures/stream/).

Needs torch, numpy and safetensors (the oracle venv of tools/setup-oracle.sh has them;
versions used: torch 2.15.0, numpy 2.4.6, safetensors 0.8.0, Python 3.11):

    .venv-oracle/bin/python tools/make_stream_fixtures.py

Deflate bombs, small files that declare much larger tensors: a 65536 x 64 float32 matrix
(16 MiB) made of the 64 rows of a seeded Gaussian 64 x 64 pattern, each repeated 1024 times
in a run (full rank, so the analysis takes the streamed Gram route to the end), compresses
about 220:1 (a match at a one-row distance costs ~8 bits per 258 bytes; only runs of one
value reach deflate's ~1032:1). The bench makes the gigabyte-sized ones.

* bomb.pt: written by real torch.save, then its entries re-zipped DEFLATED (torch writes
  them STORED; other tools may not).
* bomb.npz: written by real numpy.savez_compressed.
* bomb_pattern.safetensors: the 64 x 64 pattern, the reference the tests tile.

The tests (crates/weightscope-formats/tests/formats/blocks.rs,
crates/weightscope/tests/integration/streaming.rs) read every panel of the bombs, compare it
to the tiled pattern bit for bit, and analyse them streamed; bench/stream_memory_formats.py
measures the memory at full size.
"""

import os
import shutil
import zipfile

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "stream")
ROWS, COLS, PERIOD = 65536, 64, 64


def rezip_deflated(src, dst):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename), compresslevel=9)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    # Each pattern row repeated ROWS / PERIOD times in a run: a run is one deflate match
    # (distance one row) over and over.
    pattern = np.random.default_rng(2026).standard_normal((PERIOD, COLS)).astype(np.float32)
    full = np.repeat(pattern, ROWS // PERIOD, axis=0)
    save_file({"pattern": pattern}, os.path.join(OUT, "bomb_pattern.safetensors"))
    stored = os.path.join(OUT, "bomb_stored.pt.tmp")
    torch.save({"embed.weight": torch.from_numpy(full)}, stored)
    rezip_deflated(stored, os.path.join(OUT, "bomb.pt"))
    os.remove(stored)
    np.savez_compressed(os.path.join(OUT, "bomb.npz"), **{"embed.weight": full})
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")


if __name__ == "__main__":
    main()
