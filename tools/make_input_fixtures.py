#!/usr/bin/env python3
"""Generate the fixtures of inputs that are not what they seem, with the formats' own writers.

Run from the repository root with a Python that has numpy, onnx, safetensors and torch, e.g.
the oracle venv (tools/setup-oracle.sh) plus `pip install onnx`:

    .venv-oracle/bin/pip install onnx
    .venv-oracle/bin/python tools/make_input_fixtures.py

ONNX (tests/fixtures/onnx/), weights stored as `Constant` nodes (attribute `value`, a
TensorProto) instead of initializers, as Paddle2ONNX exports them:
  constants.onnx      X(1,8) -> Gemm(W1 (16,8) Constant raw_data, transB=1, b1 Constant)
                      -> Relu -> MatMul(W2 (16,4) Constant float_data) -> Reshape(INT64
                      Constant); the Constant tensors carry no name of their own, as
                      exporters write them: the node's output names them
  constants_conv.onnx Conv whose W is a Constant node and whose B is an initializer
  Each with <stem>.ref.safetensors: the values by onnx.numpy_helper.to_array, keyed by the
  Constant node's output name (the name the graph uses).

PyTorch (tests/fixtures/pytorch/):
  duplicate_names.pt  torch.save({"enc.w": A, "enc": {"w": B}, "head.w": C}): the dotted
                      names of a nested state dict collide ("enc.w" twice)
  duplicate_names.safetensors
                      the first "enc.w" (A) and "head.w" (C)

NumPy (tests/fixtures/numpy/):
  duplicate_names.npz two entries "w.npy" (A, then B) and "head.npy" (C), written with zipfile
                      (numpy's savez cannot repeat a name; np.load keeps the last "w")
  duplicate_names.ref.safetensors
                      the first "w" (A) and "head" (C)

Everything is seeded; the files are a few KB each.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ONNX_DIR = os.path.join(ROOT, "tests", "fixtures", "onnx")
PT_DIR = os.path.join(ROOT, "tests", "fixtures", "pytorch")
NPY_DIR = os.path.join(ROOT, "tests", "fixtures", "numpy")


def model(graph) -> onnx.ModelProto:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def constant(output: str, tensor: TensorProto) -> onnx.NodeProto:
    # Exporters leave the value's own name empty: the node's output is the tensor's name.
    tensor.name = ""
    return helper.make_node("Constant", [], [output], value=tensor)


def onnx_fixtures() -> None:
    rng = np.random.default_rng(20261202)
    w1 = rng.standard_normal((16, 8)).astype(np.float32)
    b1 = rng.standard_normal(16).astype(np.float32)
    w2 = rng.standard_normal((16, 4)).astype(np.float32)
    nodes = [
        constant("fc1.weight", numpy_helper.from_array(w1)),
        constant("fc1.bias", numpy_helper.from_array(b1)),
        constant(
            "fc2.weight",
            helper.make_tensor("", TensorProto.FLOAT, w2.shape, w2.ravel().tolist()),
        ),
        constant("out_shape", numpy_helper.from_array(np.array([4], dtype=np.int64))),
        helper.make_node("Gemm", ["X", "fc1.weight", "fc1.bias"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "fc2.weight"], ["m"]),
        helper.make_node("Reshape", ["m", "out_shape"], ["Y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "constants",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4])],
    )
    m = model(graph)
    assert len(m.graph.initializer) == 0
    assert len(m.graph.node[2].attribute[0].t.float_data) == w2.size
    onnx.save_model(m, os.path.join(ONNX_DIR, "constants.onnx"))
    ref = {}
    for node in onnx.load(os.path.join(ONNX_DIR, "constants.onnx")).graph.node:
        if node.op_type == "Constant":
            value = numpy_helper.to_array(node.attribute[0].t)
            if value.dtype.kind == "f":
                ref[node.output[0]] = value
    assert set(ref) == {"fc1.weight", "fc1.bias", "fc2.weight"}
    assert np.array_equal(ref["fc1.weight"], w1) and np.array_equal(ref["fc2.weight"], w2)
    save_file(ref, os.path.join(ONNX_DIR, "constants.ref.safetensors"))

    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    conv = helper.make_graph(
        [
            constant("conv.weight", numpy_helper.from_array(w)),
            helper.make_node("Conv", ["X", "conv.weight", "conv.bias"], ["Y"], pads=[1, 1, 1, 1]),
        ],
        "constants_conv",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4, 8, 8])],
        initializer=[numpy_helper.from_array(b, "conv.bias")],
    )
    onnx.save_model(model(conv), os.path.join(ONNX_DIR, "constants_conv.onnx"))
    loaded = onnx.load(os.path.join(ONNX_DIR, "constants_conv.onnx"))
    save_file(
        {
            "conv.weight": numpy_helper.to_array(loaded.graph.node[0].attribute[0].t),
            "conv.bias": numpy_helper.to_array(loaded.graph.initializer[0]),
        },
        os.path.join(ONNX_DIR, "constants_conv.ref.safetensors"),
    )


def pytorch_fixtures() -> None:
    import torch

    g = torch.Generator().manual_seed(20261202)
    a = torch.randn(6, 5, generator=g)
    b = torch.randn(6, 5, generator=g)
    c = torch.randn(3, 5, generator=g)
    torch.save({"enc.w": a, "enc": {"w": b}, "head.w": c}, os.path.join(PT_DIR, "duplicate_names.pt"))
    save_file(
        {"enc.w": a.numpy(), "head.w": c.numpy()},
        os.path.join(PT_DIR, "duplicate_names.safetensors"),
    )


def numpy_fixtures() -> None:
    import io
    import warnings
    import zipfile

    os.makedirs(NPY_DIR, exist_ok=True)
    rng = np.random.default_rng(20261203)
    a = rng.standard_normal((4, 3))
    b = rng.standard_normal((2, 2))
    c = rng.standard_normal((3, 3)).astype(np.float32)
    path = os.path.join(NPY_DIR, "duplicate_names.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the repeated name: it is the point
        with zipfile.ZipFile(path, "w") as z:
            for name, arr in [("w", a), ("w", b), ("head", c)]:
                buf = io.BytesIO()
                np.save(buf, arr)
                z.writestr(f"{name}.npy", buf.getvalue())
    with zipfile.ZipFile(path) as z:
        assert [i.filename for i in z.infolist()] == ["w.npy", "w.npy", "head.npy"]
    assert np.array_equal(np.load(path)["w"], b)  # numpy keeps the last
    save_file({"w": a, "head": c}, os.path.join(NPY_DIR, "duplicate_names.ref.safetensors"))


def main() -> int:
    onnx_fixtures()
    pytorch_fixtures()
    numpy_fixtures()
    print("wrote the ONNX Constant-node and PyTorch/NumPy duplicate-name fixtures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
