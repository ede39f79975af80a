#!/usr/bin/env python3
"""Peak RSS of `weightscope analyze` on one 262144 x 640 float32 matrix (671 MB, the shape of
Gemma-3-270M's token embedding) saved in each format that streams, and as deflate bombs.

    python bench/stream_memory_formats.py [--bin target/release/weightscope] [--out DIR]
        [--only SUBSTRING]

Needs torch and numpy (bench/requirements.txt pins them: torch 2.15.0, numpy 2.4.6) and
h5py for the .weights.h5 rows (skipped without it; h5py 3.16.0, pinned in
tools/requirements-oracle.txt). `--only weights.h5` makes and runs only the files whose name
contains the substring (torch is then not needed). Builds the release CLI unless --bin is
given. Writes, into --out (default bench/out/stream-memory, git-ignored; about 4 GB):

* matrix.safetensors            the baseline that already streamed
* stored.pt / deflated.pt       torch.save, then the same entries re-zipped DEFLATED
* stored.npz / compressed.npz   numpy.savez / numpy.savez_compressed
* fortran.npy                   the matrix in Fortran order
* matrix.weights.h5             h5py, chunked 2048 x 640 (when h5py is installed)
* contiguous.weights.h5         h5py, contiguous (Keras' own layout)
* gzip.weights.h5               h5py, chunked 1024 x 640, gzip (level 1) + shuffle
* bomb.weights.h5               h5py, ~20 KB: the 262144 x 640 float32 dataset declared,
                                chunked 1024 x 640, no chunk written (all fill value, zeros:
                                streamed to the all-zero error row, exit 1)
* bomb.pt / bomb.npz            6-8 MB deflate bombs of the same shape: the 1024 rows of a
                                seeded Gaussian 1024 x 640 pattern, each repeated 256 times in
                                a run (full rank)

and runs `weightscope analyze FILE -q --json ...` on each under /usr/bin/time -v, printing
the peak RSS ("Maximum resident set size") and wall time. The streamed route holds the
640 x 640 Gram matrix and one panel of 2048 rows, a few MB, against 2-3 GB when the tensor is
read whole (f64 copies).
"""

import argparse
import os
import re
import subprocess
import sys
import time
import zipfile

import numpy as np

ROWS, COLS = 262144, 640


def rezip_deflated(src, dst):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename), compresslevel=1)


def write_files(out, only):
    files = []

    def want(name):
        if only and only not in name:
            return False
        path = os.path.join(out, name)
        files.append(path)
        return not os.path.exists(path)

    w = None

    def matrix():
        nonlocal w
        if w is None:
            w = np.random.default_rng(7).standard_normal((ROWS, COLS), dtype=np.float32)
        return w

    if want("matrix.safetensors"):
        from safetensors.numpy import save_file

        save_file({"embed.weight": matrix()}, files[-1])
    if want("stored.pt"):
        import torch

        torch.save({"embed.weight": torch.from_numpy(matrix())}, files[-1])
    if want("deflated.pt"):
        rezip_deflated(os.path.join(out, "stored.pt"), files[-1])
    if want("stored.npz"):
        np.savez(files[-1], **{"embed.weight": matrix()})
    if want("compressed.npz"):
        np.savez_compressed(files[-1], **{"embed.weight": matrix()})
    if want("fortran.npy"):
        np.save(files[-1], np.asfortranarray(matrix()))
    try:
        import h5py

        if want("matrix.weights.h5"):
            with h5py.File(files[-1], "w") as f:
                f.create_dataset("embed/vars/0", data=matrix(), chunks=(2048, COLS))
        if want("contiguous.weights.h5"):
            with h5py.File(files[-1], "w") as f:
                f.create_dataset("embed/vars/0", data=matrix())
        if want("gzip.weights.h5"):
            with h5py.File(files[-1], "w") as f:
                f.create_dataset(
                    "embed/vars/0",
                    data=matrix(),
                    chunks=(1024, COLS),
                    compression="gzip",
                    compression_opts=1,
                    shuffle=True,
                )
        if want("bomb.weights.h5"):
            with h5py.File(files[-1], "w") as f:
                f.create_dataset(
                    "embed/vars/0", shape=(ROWS, COLS), dtype="f4", chunks=(1024, COLS)
                )
    except ImportError:
        print("h5py not installed: no .weights.h5 row", file=sys.stderr)
    # 1024 distinct rows (full rank 640: a rank-deficient matrix would leave the streamed
    # route for the SVD, which needs the whole matrix), each repeated in a run of 256.
    pattern = np.random.default_rng(8).standard_normal((1024, COLS)).astype(np.float32)
    bomb = None
    for name in ("bomb.pt", "bomb.npz"):
        if want(name):
            if bomb is None:
                bomb = np.repeat(pattern, ROWS // 1024, axis=0)
            if name == "bomb.pt":
                import torch

                tmp = os.path.join(out, "bomb-stored.pt")
                torch.save({"embed.weight": torch.from_numpy(bomb)}, tmp)
                rezip_deflated(tmp, files[-1])
                os.remove(tmp)
            else:
                np.savez_compressed(files[-1], **{"embed.weight": bomb})
    return files


def peak_rss(binary, path, out):
    cmd = ["/usr/bin/time", "-v", binary, "analyze", path, "-q", "--json",
           os.path.join(out, os.path.basename(path) + ".json")]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.time() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) / 1024 if m else float("nan")
    return p.returncode, rss, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", help="weightscope binary (default: build the release CLI)")
    ap.add_argument("--out", default=os.path.join("bench", "out", "stream-memory"))
    ap.add_argument("--only", help="only the files whose name contains this")
    a = ap.parse_args()
    if a.bin is None:
        subprocess.run(["cargo", "build", "--release", "-p", "weightscope-cli"], check=True)
        a.bin = os.path.join("target", "release", "weightscope")
    os.makedirs(a.out, exist_ok=True)
    files = write_files(a.out, a.only)
    print(f"{ROWS} x {COLS} float32, weightscope {a.bin}")
    print(f"| file | size on disk | exit | peak RSS (MiB) | wall (s) |")
    print(f"|---|---:|---:|---:|---:|")
    for f in files:
        code, rss, wall = peak_rss(a.bin, f, a.out)
        size = os.path.getsize(f) / 2**20
        print(f"| {os.path.basename(f)} | {size:.1f} MiB | {code} | {rss:.0f} | {wall:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
