#!/usr/bin/env python3
"""Generate the GGUF and ONNX reader fixtures in tests/fixtures/{gguf,onnx}/.

Run from the repository root:

    python3 -m venv /tmp/ggufenv
    /tmp/ggufenv/bin/pip install gguf numpy onnx safetensors
    /tmp/ggufenv/bin/python tools/make_gguf_onnx_fixtures.py

Written with the real `gguf` (llama.cpp's gguf-py) and `onnx` packages, so the Rust readers
are checked against the formats' own writers. Every model file comes with
`<stem>.ref.safetensors`: the expected values of its float tensors, keyed by tensor name,
computed by the packages themselves (`gguf.quants.dequantize`, `onnx.numpy_helper.to_array`).

GGUF (tests/fixtures/gguf/):
  floats.gguf         F32, F16, BF16, F64 (1-D, 2-D, 3-D) and an I32 tensor; metadata of
                      every value type, including arrays of strings and nested arrays
  q4_0.gguf … q8_0.gguf
                      `quantized.weight`: seeded Gaussian data quantized by gguf.quants;
                      `random.weight`: random block bytes with finite f16 scales
                      (q8_0.gguf uses general.alignment = 64)
  q2_k.gguf … q6_k.gguf
                      `random.weight`: random block bytes with finite f16 scales (gguf-py
                      has no K-quant quantizer); reference from gguf.quants.dequantize
  unsupported.gguf    an F32 tensor plus IQ4_NL, TQ2_0 and MXFP4 tensors (not read by
                      weightscope: per-tensor errors)

ONNX (tests/fixtures/onnx/):
  mlp.onnx            Gemm (transB=1) -> Relu -> MatMul -> Add -> Reshape; raw_data
  conv.onnx           Conv with W and B in float_data, a DOUBLE initializer in double_data
  f16.onnx            FLOAT16 raw_data and int32_data, BFLOAT16 int32_data and raw_data
  external/model.onnx + external/weights.bin
                      the MLP saved with all tensors in one external file
  missing_external/model.onnx
                      a MatMul whose weight's external file was deleted; its bias is inline

Everything is seeded; the files are a few KB each.
"""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as Q
from gguf import quants
import onnx
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
GGUF_DIR = os.path.join(ROOT, "tests", "fixtures", "gguf")
ONNX_DIR = os.path.join(ROOT, "tests", "fixtures", "onnx")


def finite_f16(rng: np.random.Generator, lo: float, hi: float, n: int) -> np.ndarray:
    """n f16 scales as little-endian bytes, shape (n, 2)."""
    return rng.uniform(lo, hi, n).astype("<f2").view(np.uint8).reshape(n, 2)


def random_blocks(qtype: Q, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Random bytes for n_blocks blocks of qtype, with the f16 scale fields overwritten by
    finite values (ggml-common.h block layouts) so the reference has no NaN/inf."""
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    # Byte offsets of the f16 fields: d (and m / dmin).
    f16_fields = {
        Q.Q4_0: [0],
        Q.Q4_1: [0, 2],
        Q.Q5_0: [0],
        Q.Q5_1: [0, 2],
        Q.Q8_0: [0],
        Q.Q2_K: [80, 82],  # scales[16] qs[64] d dmin
        Q.Q3_K: [108],  # hmask[32] qs[64] scales[12] d
        Q.Q4_K: [0, 2],  # d dmin scales[12] qs[128]
        Q.Q5_K: [0, 2],  # d dmin scales[12] qh[32] qs[128]
        Q.Q6_K: [208],  # ql[128] qh[64] scales[16] d
        Q.IQ4_NL: [0],
        Q.TQ2_0: [64],  # qs[64] d
    }.get(qtype, [])
    for off in f16_fields:
        b[:, off : off + 2] = finite_f16(rng, -0.1, 0.1, n_blocks)
    return b


def write_gguf(path: str, tensors: list[tuple[str, np.ndarray, Q | None]], alignment=None, meta=None):
    w = gguf.GGUFWriter(path, arch="llama")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    if meta is not None:
        meta(w)
    for name, data, raw in tensors:
        w.add_tensor(name, data, raw_dtype=raw)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def all_metadata(w: gguf.GGUFWriter) -> None:
    V = gguf.GGUFValueType
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4_000_000_000)
    w.add_int32("test.i32", -2_000_000_000)
    w.add_float32("test.f32", 0.15625)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "weightscope ✓")
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float64("test.f64", -1.0e300)
    w.add_array("test.array_i32", [1, -2, 3])
    w.add_key_value("test.array_u64", [7, 8], V.ARRAY, sub_type=V.UINT64)
    w.add_array("test.array_str", ["<s>", "", "▁the"])
    w.add_array("test.array_nested", [[1, 2], [3]])
    w.add_array("test.array_nested_str", [["a", "b"], ["c"]])


def gguf_fixtures() -> None:
    os.makedirs(GGUF_DIR, exist_ok=True)
    rng = np.random.default_rng(20240611)

    # Plain float types. numpy shapes are PyTorch order: the writer stores ne reversed.
    q_w = rng.standard_normal((8, 16)).astype(np.float32)
    up = rng.standard_normal((4, 32)).astype(np.float16)
    down = rng.standard_normal((32, 4)).astype(np.float32)
    down_bf16 = quants.quantize(down, Q.BF16)  # uint8 (32, 8)
    norm = rng.standard_normal(16).astype(np.float32)
    experts = rng.standard_normal((2, 3, 8)).astype(np.float32)
    out = rng.standard_normal((3, 5)).astype(np.float64)
    ints = np.arange(7, dtype=np.int32)
    write_gguf(
        os.path.join(GGUF_DIR, "floats.gguf"),
        [
            ("blk.0.attn_q.weight", q_w, None),
            ("blk.0.ffn_up.weight", up, None),
            ("blk.0.ffn_down.weight", down_bf16, Q.BF16),
            ("blk.0.attn_norm.weight", norm, None),
            ("blk.0.ffn_gate_exps.weight", experts, None),
            ("output.weight", out, None),
            ("token_types", ints, None),
        ],
        meta=all_metadata,
    )
    save_file(
        {
            "blk.0.attn_q.weight": q_w,
            "blk.0.ffn_up.weight": up,
            "blk.0.ffn_down.weight": quants.dequantize(down_bf16, Q.BF16),
            "blk.0.attn_norm.weight": norm,
            "blk.0.ffn_gate_exps.weight": experts,
            "output.weight": out,
        },
        os.path.join(GGUF_DIR, "floats.ref.safetensors"),
    )

    # 32-value block types: real quantization and random blocks.
    for qtype in [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0]:
        x = rng.standard_normal((4, 64)).astype(np.float32)
        qx = quants.quantize(x, qtype)
        rb = random_blocks(qtype, 3 * 2, rng).reshape(3, -1)  # 3 rows of 2 blocks
        stem = qtype.name.lower()
        write_gguf(
            os.path.join(GGUF_DIR, f"{stem}.gguf"),
            [("quantized.weight", qx, qtype), ("random.weight", rb, qtype)],
            alignment=64 if qtype == Q.Q8_0 else None,
        )
        save_file(
            {
                "quantized.weight": quants.dequantize(qx, qtype),
                "random.weight": quants.dequantize(rb, qtype),
            },
            os.path.join(GGUF_DIR, f"{stem}.ref.safetensors"),
        )

    # K-quants: 3 rows of 2 super-blocks of 256 values.
    for qtype in [Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K]:
        rb = random_blocks(qtype, 3 * 2, rng).reshape(3, -1)
        stem = qtype.name.lower()
        write_gguf(os.path.join(GGUF_DIR, f"{stem}.gguf"), [("random.weight", rb, qtype)])
        save_file(
            {"random.weight": quants.dequantize(rb, qtype)},
            os.path.join(GGUF_DIR, f"{stem}.ref.safetensors"),
        )

    # Types weightscope does not dequantize: listed, per-tensor errors, others readable.
    ok = rng.standard_normal((2, 4)).astype(np.float32)
    write_gguf(
        os.path.join(GGUF_DIR, "unsupported.gguf"),
        [
            ("ok.weight", ok, None),
            ("iq4.weight", random_blocks(Q.IQ4_NL, 2, rng).reshape(2, -1), Q.IQ4_NL),
            ("tq2.weight", random_blocks(Q.TQ2_0, 1, rng).reshape(1, -1), Q.TQ2_0),
            ("mxfp4.weight", random_blocks(Q.MXFP4, 2, rng).reshape(2, -1), Q.MXFP4),
        ],
    )
    save_file({"ok.weight": ok}, os.path.join(GGUF_DIR, "unsupported.ref.safetensors"))


# ---------------------------------------------------------------------------------------


def mlp_graph(rng: np.random.Generator):
    """X(1,8) -> Gemm(W1 (16,8), b1, transB=1) -> Relu -> MatMul(W2 (16,4)) -> Add(b2)
    -> Reshape(shape) -> Y(4,)."""
    w1 = rng.standard_normal((16, 8)).astype(np.float32)
    b1 = rng.standard_normal(16).astype(np.float32)
    w2 = rng.standard_normal((16, 4)).astype(np.float32)
    b2 = rng.standard_normal(4).astype(np.float32)
    shape = np.array([4], dtype=np.int64)
    inits = [
        numpy_helper.from_array(w1, "fc1.weight"),
        numpy_helper.from_array(b1, "fc1.bias"),
        numpy_helper.from_array(w2, "fc2.weight"),
        numpy_helper.from_array(b2, "fc2.bias"),
        numpy_helper.from_array(shape, "out_shape"),
    ]
    nodes = [
        helper.make_node("Gemm", ["X", "fc1.weight", "fc1.bias"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "fc2.weight"], ["m"]),
        helper.make_node("Add", ["m", "fc2.bias"], ["a"]),
        helper.make_node("Reshape", ["a", "out_shape"], ["Y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 8])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4])],
        initializer=inits,
    )
    ref = {"fc1.weight": w1, "fc1.bias": b1, "fc2.weight": w2, "fc2.bias": b2}
    return graph, ref


def model(graph) -> onnx.ModelProto:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def onnx_fixtures() -> None:
    os.makedirs(ONNX_DIR, exist_ok=True)
    for sub in ("external", "missing_external"):
        shutil.rmtree(os.path.join(ONNX_DIR, sub), ignore_errors=True)
    rng = np.random.default_rng(7)

    graph, ref = mlp_graph(rng)
    onnx.save_model(model(graph), os.path.join(ONNX_DIR, "mlp.onnx"))
    save_file(ref, os.path.join(ONNX_DIR, "mlp.ref.safetensors"))

    # The same model, every tensor in one external file.
    os.makedirs(os.path.join(ONNX_DIR, "external"))
    onnx.save_model(
        model(graph),
        os.path.join(ONNX_DIR, "external", "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
    )
    save_file(ref, os.path.join(ONNX_DIR, "external", "model.ref.safetensors"))
    loaded = onnx.load(os.path.join(ONNX_DIR, "external", "model.onnx"))
    for t in loaded.graph.initializer:
        got = numpy_helper.to_array(t)
        if t.name in ref:
            assert np.array_equal(got, ref[t.name]), t.name

    # Conv with typed float_data (make_tensor, raw=False) and a DOUBLE in double_data.
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    d = rng.standard_normal((2, 3))
    conv = helper.make_graph(
        [helper.make_node("Conv", ["X", "conv.weight", "conv.bias"], ["Y"], pads=[1, 1, 1, 1])],
        "conv",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4, 8, 8])],
        initializer=[
            helper.make_tensor("conv.weight", TensorProto.FLOAT, w.shape, w.ravel().tolist()),
            helper.make_tensor("conv.bias", TensorProto.FLOAT, b.shape, b.tolist()),
            helper.make_tensor("extra.double", TensorProto.DOUBLE, d.shape, d.ravel().tolist()),
        ],
    )
    m = model(conv)
    assert len(m.graph.initializer[0].float_data) == w.size
    assert len(m.graph.initializer[2].double_data) == d.size
    onnx.save_model(m, os.path.join(ONNX_DIR, "conv.onnx"))
    save_file(
        {"conv.weight": w, "conv.bias": b, "extra.double": d},
        os.path.join(ONNX_DIR, "conv.ref.safetensors"),
    )

    # Half precision: FLOAT16 as raw_data and as int32_data bit patterns, BFLOAT16 as
    # int32_data and raw_data.
    h = rng.standard_normal((6, 5)).astype(np.float16)
    h2 = rng.standard_normal((5, 3)).astype(np.float16)
    bf = rng.standard_normal((2, 4)).astype(np.float32)
    bf_tensor = helper.make_tensor("bf16.int32_data", TensorProto.BFLOAT16, bf.shape, bf.ravel().tolist())
    bf_rounded = numpy_helper.to_array(bf_tensor).astype(np.float32)
    bf_raw = helper.make_tensor(
        "bf16.raw_data",
        TensorProto.BFLOAT16,
        bf.shape,
        (bf.view(np.uint32) >> 16).astype("<u2").tobytes(),
        raw=True,
    )
    bf_raw_values = numpy_helper.to_array(bf_raw).astype(np.float32)
    h2_tensor = helper.make_tensor("f16.int32_data", TensorProto.FLOAT16, h2.shape, h2.ravel().tolist())
    assert len(h2_tensor.int32_data) == h2.size and not h2_tensor.raw_data
    assert len(bf_tensor.int32_data) == bf.size
    f16 = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "f16.raw_data"], ["a"]),
            helper.make_node("MatMul", ["a", "f16.int32_data"], ["Y"]),
        ],
        "f16",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT16, [1, 6])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT16, [1, 3])],
        initializer=[numpy_helper.from_array(h, "f16.raw_data"), h2_tensor, bf_tensor, bf_raw],
    )
    onnx.save_model(model(f16), os.path.join(ONNX_DIR, "f16.onnx"))
    save_file(
        {
            "f16.raw_data": h,
            "f16.int32_data": h2,
            "bf16.int32_data": bf_rounded,
            "bf16.raw_data": bf_raw_values,
        },
        os.path.join(ONNX_DIR, "f16.ref.safetensors"),
    )

    # External data whose file is gone: the weight (4 KB) is external, the bias inline.
    wbig = rng.standard_normal((32, 32)).astype(np.float32)
    bias = rng.standard_normal(32).astype(np.float32)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "big.weight"], ["m"]),
            helper.make_node("Add", ["m", "big.bias"], ["Y"]),
        ],
        "missing",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 32])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 32])],
        initializer=[numpy_helper.from_array(wbig, "big.weight"), numpy_helper.from_array(bias, "big.bias")],
    )
    os.makedirs(os.path.join(ONNX_DIR, "missing_external"))
    onnx.save_model(
        model(g),
        os.path.join(ONNX_DIR, "missing_external", "model.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="gone.bin",
        size_threshold=1024,
    )
    os.remove(os.path.join(ONNX_DIR, "missing_external", "gone.bin"))
    save_file({"big.bias": bias}, os.path.join(ONNX_DIR, "missing_external", "model.ref.safetensors"))


def main() -> int:
    gguf_fixtures()
    onnx_fixtures()
    total = 0
    for d in (GGUF_DIR, ONNX_DIR):
        for dirpath, _, files in os.walk(d):
            total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print(f"wrote fixtures: {total} bytes in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
