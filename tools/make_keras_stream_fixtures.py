#!/usr/bin/env python3
"""Write the Keras block-read fixtures (tests/fixtures/keras/stream/) with h5py.

Needs h5py and numpy only (versions used: h5py 3.16.0, HDF5 2.0.0, numpy 2.4.6; pinned in
tools/requirements-oracle.txt):

    python3 -m venv /tmp/h5env && /tmp/h5env/bin/pip install h5py==3.16.0 numpy==2.4.6
    /tmp/h5env/bin/python tools/make_keras_stream_fixtures.py

Files, in the Keras 3 `.weights.h5` layout (`layers/<layer>/vars/0`, the layer's name in the
`vars` group's `name` attribute, so the reader names each tensor `<layer>.weight`):

* layouts.weights.h5: one small seeded tensor per storage layout HDF5 offers a reader: tall
  and wide, contiguous (little- and big-endian), chunked with gzip + shuffle, fletcher32 and
  float16, chunked with chunks left unallocated (read as the fill value: default zeros, and a
  set fill value of 0.5), and chunked with chunks that span all rows (each block decodes
  every chunk it touches).
  The tests check every block of every tiling against the whole read, bit for bit.
* panels.weights.h5: tensors of more than two panels of the analysis (2048 rows), so that the
  streamed Gram route crosses panel edges: `tall` 4396 x 8 float16 chunked (512, 8) with
  gzip + shuffle, `wide` 8 x 4396 float16 contiguous, and `sparse` 4396 x 8 float16
  chunked (256, 8) with every other chunk left unallocated (zeros). The tests check that the
  streamed analysis equals the whole-matrix one, bit for bit.
* bomb.weights.h5: a few KB that declare tensors of gigabytes to petabytes, chunked, with no
  chunk written (all read as zeros): `zeros` 1048576 x 8 float32 (32 MiB, small chunks:
  streams in bounded memory), `huge` 2^40 x 2^20 float32 (4 PiB: no route fits any memory
  cap), `long` 4194304 x 16 float32 (256 MiB, chunks of 2^20 rows, longer than a panel: read
  whole), and
  `real` a seeded 64 x 16 float32 layer, which must still be analysed.

Values are float32 (or float16 / float64) draws of numpy's default_rng with fixed seeds; the
tests compare block reads with the reader's own whole reads (whose bits the Keras fixtures
already check against references), so the values themselves are not listed.
"""

import os
import shutil

import h5py
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "keras", "stream")


def layer(f, name, data=None, **kw):
    """A Keras 3 layer group `layers/<name>/vars` holding variable 0; returns the dataset."""
    g = f.create_group(f"layers/{name}/vars")
    g.attrs["name"] = name
    if data is not None:
        return g.create_dataset("0", data=data, **kw)
    return g.create_dataset("0", **kw)


def layouts(path):
    rng = np.random.default_rng(14)

    def w(shape, dtype="f4"):
        return (rng.standard_normal(shape) * 0.5).astype(dtype)

    with h5py.File(path, "w") as f:
        f.create_group("vars").attrs["name"] = "model"
        layer(f, "contiguous_tall", w((37, 5)))
        layer(f, "contiguous_wide_be", w((5, 37), ">f8"))
        layer(f, "gzip_tall", w((37, 5)), chunks=(8, 3), compression="gzip", shuffle=True)
        layer(f, "gzip_wide_f16", w((5, 37), "f2"), chunks=(3, 8), compression="gzip")
        layer(f, "fletcher_tall", w((37, 5)), chunks=(6, 5), fletcher32=True)
        # Chunks of rows 8-15 and 24-31 are never written: they read as the fill value.
        d = layer(f, "sparse_tall", shape=(37, 5), dtype="f4", chunks=(8, 5))
        d[0:8] = w((8, 5))
        d[16:24] = w((8, 5))
        d[32:37] = w((5, 5))
        d = layer(
            f, "sparse_fill_wide", shape=(5, 37), dtype="f4", chunks=(5, 8), fillvalue=0.5
        )
        d[:, 8:16] = w((5, 8))
        d[:, 30:37] = w((5, 7))
        # Chunks spanning all 37 rows of a tall tensor: every block decodes each chunk it
        # touches whole.
        layer(f, "long_chunks_tall", w((37, 5)), chunks=(37, 2), compression="gzip")


def panels(path):
    rng = np.random.default_rng(16)
    n, m = 2 * 2048 + 300, 8
    with h5py.File(path, "w") as f:
        f.create_group("vars").attrs["name"] = "model"
        tall = rng.standard_normal((n, m)).astype("f2")
        layer(f, "tall", tall, chunks=(512, m), compression="gzip", shuffle=True)
        layer(f, "wide", rng.standard_normal((m, n)).astype("f2"))
        d = layer(f, "sparse", shape=(n, m), dtype="f2", chunks=(256, m))
        for r in range(0, n, 512):
            d[r : min(r + 256, n)] = rng.standard_normal((min(256, n - r), m)).astype("f2")


def bombs(path):
    with h5py.File(path, "w") as f:
        f.create_group("vars").attrs["name"] = "model"
        layer(f, "zeros", shape=(1 << 20, 8), dtype="f4", chunks=(1024, 8))
        layer(f, "huge", shape=(1 << 40, 1 << 20), dtype="f4", chunks=(64, 1024))
        layer(f, "long", shape=(1 << 22, 16), dtype="f4", chunks=(1 << 20, 1))
        rng = np.random.default_rng(15)
        layer(f, "real", rng.standard_normal((64, 16)).astype("f4"))


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    layouts(os.path.join(OUT, "layouts.weights.h5"))
    panels(os.path.join(OUT, "panels.weights.h5"))
    bombs(os.path.join(OUT, "bomb.weights.h5"))
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)), "bytes")
    print("h5py", h5py.__version__, "HDF5", h5py.version.hdf5_version, "numpy", np.__version__)


if __name__ == "__main__":
    main()
