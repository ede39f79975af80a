#!/usr/bin/env python3
"""Convert the MNIST CNN bundled with digit-recognizer-py 0.1.0 to safetensors.

Writes (relative to the repository root, or to --out-dir):
  examples/mnist-cnn/model.safetensors   all tensors of the state dict, float32, same names
  examples/mnist-cnn/NOTICE              provenance + the package's MIT licence text

Usage (from the repository root, after tools/setup-oracle.sh):
  .venv-oracle/bin/python tools/make_example.py

The output is deterministic: the tensors are copied bit-for-bit (float32) and
the safetensors package writes a canonical layout (header keys and data sorted
by dtype, then by tensor name), so running twice gives identical bytes.
The package (an oracle/tool dependency only) is located with importlib; none of
its code is copied into this repository, only its weights and licence text.
"""

import argparse
import hashlib
import importlib.metadata
import importlib.resources
import os
import sys

# The CUDA build of torch is irrelevant here, keep everything on the CPU.
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

DIST_NAME = "digit-recognizer-py"
DIST_VERSION = "0.1.0"
PACKAGE = "digit_recognizer"
MODEL_RESOURCE = "models/handwriting_model.pth"

EXPECTED = {
    "conv_layers.0.weight": (32, 1, 3, 3),
    "conv_layers.0.bias": (32,),
    "conv_layers.3.weight": (64, 32, 3, 3),
    "conv_layers.3.bias": (64,),
    "conv_layers.6.weight": (128, 64, 3, 3),
    "conv_layers.6.bias": (128,),
    "fc_layers.0.weight": (256, 1152),
    "fc_layers.0.bias": (256,),
    "fc_layers.2.weight": (10, 256),
    "fc_layers.2.bias": (10,),
}


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_license_text(dist):
    for f in dist.files or []:
        parts = str(f).replace("\\", "/").split("/")
        if parts[0].endswith(".dist-info") and parts[-1].upper().startswith("LICENSE"):
            return dist.locate_file(f).read_text(encoding="utf-8")
    raise SystemExit(f"could not find a LICENSE file in the {DIST_NAME} dist-info")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", default=os.path.join(repo_root(), "examples", "mnist-cnn"))
    args = ap.parse_args()

    dist = importlib.metadata.distribution(DIST_NAME)
    if dist.version != DIST_VERSION:
        raise SystemExit(f"{DIST_NAME} {dist.version} installed, expected {DIST_VERSION}")
    author = dist.metadata.get("Author", "")
    lic = dist.metadata.get("License-Expression") or dist.metadata.get("License", "")
    license_text = find_license_text(dist)

    res = importlib.resources.files(PACKAGE).joinpath(MODEL_RESOURCE)
    with importlib.resources.as_file(res) as pth_path:
        pth_bytes = open(pth_path, "rb").read()
        sd = torch.load(pth_path, map_location="cpu", weights_only=True)
    pth_sha256 = hashlib.sha256(pth_bytes).hexdigest()

    names = list(sd.keys())
    if names != list(EXPECTED.keys()):
        raise SystemExit(f"unexpected state dict keys: {names}")
    out = {}
    for k in names:
        t = sd[k]
        if tuple(t.shape) != EXPECTED[k]:
            raise SystemExit(f"{k}: unexpected shape {tuple(t.shape)}")
        if t.dtype != torch.float32:
            raise SystemExit(f"{k}: unexpected dtype {t.dtype}")
        out[k] = t.detach().to("cpu").contiguous().clone()

    os.makedirs(args.out_dir, exist_ok=True)
    st_path = os.path.join(args.out_dir, "model.safetensors")
    # metadata={"format": "pt"} is what safetensors.torch adds for PyTorch files.
    save_file(out, st_path, metadata={"format": "pt"})
    st_sha256 = hashlib.sha256(open(st_path, "rb").read()).hexdigest()

    import safetensors
    notice = f"""examples/mnist-cnn/model.safetensors
====================================

What it is
----------
A small MNIST handwritten-digit CNN (PyTorch state dict), 10 tensors, float32:

""" + "".join(f"  {k:<22} {list(v)}\n" for k, v in EXPECTED.items()) + f"""
Architecture (from the package's model.py): Conv2d(1,32,3,pad 1) ReLU MaxPool2
-> Conv2d(32,64,3,pad 1) ReLU MaxPool2 -> Conv2d(64,128,3,pad 1) ReLU MaxPool2
-> Linear(1152,256) ReLU -> Linear(256,10).

Source
------
PyPI package "{DIST_NAME}" version {DIST_VERSION} by {author},
licence: {lic} (full text below).
File: {PACKAGE}/{MODEL_RESOURCE} inside the installed package
(sha256 of the .pth file: {pth_sha256}).

Conversion
----------
tools/make_example.py (this repository) loads the .pth with
torch.load(map_location="cpu", weights_only=True) and writes every tensor
unchanged (float32, same names) with safetensors.torch.save_file
(safetensors {safetensors.__version__}, torch {torch.__version__.split("+")[0]}),
metadata {{"format": "pt"}}. No values were modified. The safetensors package
stores tensors sorted by name, so in the file each bias precedes its weight
(the layer order is unchanged). sha256 of model.safetensors: {st_sha256}.

Licence of the weights (copied verbatim from the package's dist-info LICENSE)
----------------------------------------------------------------------------

{license_text.rstrip()}
"""
    with open(os.path.join(args.out_dir, "NOTICE"), "w", encoding="utf-8", newline="\n") as f:
        f.write(notice)
    print(f"wrote {st_path} (sha256 {st_sha256})", file=sys.stderr)


if __name__ == "__main__":
    main()
