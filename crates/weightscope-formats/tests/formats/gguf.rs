//! GGUF reader against fixtures written by llama.cpp's `gguf` Python package
//! (tools/make_gguf_onnx_fixtures.py): every tensor must equal `gguf.quants.dequantize`'s
//! values bit for bit, and corrupt or hostile headers must be errors, never panics.

use super::common;
use std::path::{Path, PathBuf};
use weightscope_formats::gguf::{GgufFile, Value};
use weightscope_formats::{open, DType, TensorSource};

fn fixtures() -> PathBuf {
    common::fixture_dir("gguf")
}

/// Assert that every tensor of `<stem>.ref.safetensors` is in `<stem>.gguf` with the same
/// shape and bit-identical values; returns how many were compared.
fn check_against_reference(stem: &str) -> usize {
    common::check_against_reference(
        &fixtures().join(format!("{stem}.gguf")),
        &fixtures().join(format!("{stem}.ref.safetensors")),
        stem,
    )
}

#[test]
fn plain_float_types_match_gguf_py() {
    assert_eq!(check_against_reference("floats"), 6);
}

#[test]
fn every_quant_type_matches_gguf_py_dequantize() {
    for stem in ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0"] {
        assert_eq!(check_against_reference(stem), 2, "{stem}");
    }
    for stem in ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k"] {
        assert_eq!(check_against_reference(stem), 1, "{stem}");
    }
}

#[test]
fn shapes_are_listed_in_pytorch_order_with_dtypes() {
    let s = open(&fixtures().join("floats.gguf")).unwrap();
    assert_eq!(s.format_name(), "gguf");
    let by_name = |n: &str| s.tensors().iter().find(|t| t.name == n).unwrap().clone();
    // Written from numpy (8, 16): ne = [16, 8] in the file, (out, in) here.
    assert_eq!(by_name("blk.0.attn_q.weight").shape, vec![8, 16]);
    assert_eq!(by_name("blk.0.ffn_gate_exps.weight").shape, vec![2, 3, 8]);
    assert_eq!(by_name("blk.0.attn_norm.weight").shape, vec![16]);
    assert_eq!(by_name("blk.0.attn_q.weight").dtype, DType::F32);
    assert_eq!(by_name("blk.0.ffn_up.weight").dtype, DType::F16);
    assert_eq!(by_name("blk.0.ffn_down.weight").dtype, DType::BF16);
    assert_eq!(by_name("output.weight").dtype, DType::F64);
    let ints = by_name("token_types");
    assert_eq!(ints.dtype, DType::Other("I32".into()));
    assert!(!ints.dtype.is_float());
    let i = s
        .tensors()
        .iter()
        .position(|t| t.name == "token_types")
        .unwrap();
    assert!(s.read_f64(i).unwrap_err().to_string().contains("integer"));

    let q = open(&fixtures().join("q4_k.gguf")).unwrap();
    let t = &q.tensors()[0];
    assert_eq!(t.dtype, DType::Quantized("Q4_K".into()));
    assert_eq!(t.dtype.to_string(), "Q4_K");
    assert!(t.dtype.is_float());
    assert_eq!(t.shape, vec![3, 512]);
    assert!(t.problem.is_none());
}

#[test]
fn metadata_of_every_value_type() {
    let f = GgufFile::open(&fixtures().join("floats.gguf")).unwrap();
    let h = f.header();
    assert_eq!(h.version, 3);
    assert_eq!(h.alignment, 32);
    assert_eq!(h.data_start % 32, 0);
    let get = |k: &str| h.get(k).unwrap_or_else(|| panic!("no {k}")).clone();
    assert_eq!(get("general.architecture"), Value::String("llama".into()));
    assert_eq!(get("test.u8"), Value::U8(200));
    assert_eq!(get("test.i8"), Value::I8(-100));
    assert_eq!(get("test.u16"), Value::U16(60000));
    assert_eq!(get("test.i16"), Value::I16(-30000));
    assert_eq!(get("test.u32"), Value::U32(4_000_000_000));
    assert_eq!(get("test.i32"), Value::I32(-2_000_000_000));
    assert_eq!(get("test.f32"), Value::F32(0.15625));
    assert_eq!(get("test.bool"), Value::Bool(true));
    assert_eq!(get("test.string"), Value::String("weightscope ✓".into()));
    assert_eq!(get("test.u64"), Value::U64((1 << 63) + 5));
    assert_eq!(get("test.i64"), Value::I64(-(1 << 62)));
    assert_eq!(get("test.f64"), Value::F64(-1.0e300));
    assert_eq!(
        get("test.array_i32"),
        Value::Array(vec![Value::I32(1), Value::I32(-2), Value::I32(3)])
    );
    assert_eq!(
        get("test.array_u64"),
        Value::Array(vec![Value::U64(7), Value::U64(8)])
    );
    assert_eq!(
        get("test.array_str"),
        Value::Array(vec![
            Value::String("<s>".into()),
            Value::String("".into()),
            Value::String("▁the".into())
        ])
    );
    assert_eq!(
        get("test.array_nested"),
        Value::Array(vec![
            Value::Array(vec![Value::I32(1), Value::I32(2)]),
            Value::Array(vec![Value::I32(3)])
        ])
    );
    assert_eq!(
        get("test.array_nested_str"),
        Value::Array(vec![
            Value::Array(vec![Value::String("a".into()), Value::String("b".into())]),
            Value::Array(vec![Value::String("c".into())])
        ])
    );
}

#[test]
fn custom_alignment_is_honoured() {
    let f = GgufFile::open(&fixtures().join("q8_0.gguf")).unwrap();
    assert_eq!(f.header().alignment, 64);
    assert_eq!(f.header().data_start % 64, 0);
    assert_eq!(f.header().get("general.alignment"), Some(&Value::U32(64)));
}

#[test]
fn unsupported_quant_types_are_listed_and_fail_alone() {
    let path = fixtures().join("unsupported.gguf");
    let s = open(&path).unwrap();
    let names: Vec<_> = s.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["ok.weight", "iq4.weight", "tq2.weight", "mxfp4.weight"]
    );
    assert_eq!(s.read_f64(0).unwrap().len(), 8);
    for (i, ty) in [(1, "IQ4_NL"), (2, "TQ2_0"), (3, "MXFP4")] {
        let t = &s.tensors()[i];
        assert_eq!(t.dtype, DType::Quantized(ty.into()));
        assert!(!t.shape.is_empty());
        let e = s.read_f64(i).unwrap_err().to_string();
        assert!(
            e.contains(&format!("unsupported quantization type {ty}"))
                && e.contains(&t.name)
                && e.contains("unsupported.gguf"),
            "{e}"
        );
    }
    assert_eq!(check_against_reference("unsupported"), 1);
}

// ---- hand-made headers ----------------------------------------------------------------

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

/// A v3 header with the given metadata bytes (`n_kv` entries) and tensor infos
/// (name, ne, type, offset), padded to 32, then `data`.
fn gguf_bytes(n_kv: u64, kv: &[u8], tensors: &[(&str, &[u64], u32, u64)], data: &[u8]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend(n_kv.to_le_bytes());
    b.extend(kv);
    for (name, ne, ty, off) in tensors {
        string(&mut b, name);
        b.extend((ne.len() as u32).to_le_bytes());
        for d in *ne {
            b.extend(d.to_le_bytes());
        }
        b.extend(ty.to_le_bytes());
        b.extend(off.to_le_bytes());
    }
    while b.len() % 32 != 0 {
        b.push(0);
    }
    b.extend(data);
    b
}

fn parse(bytes: Vec<u8>) -> Result<GgufFile, String> {
    GgufFile::from_bytes(Path::new("mem.gguf"), bytes).map_err(|e| e.to_string())
}

#[test]
fn lying_sizes_are_errors_not_allocations() {
    // A key whose length is 2^60 (followed by some bytes, so that the entry count is
    // plausible and the length itself is what is checked).
    let mut kv = Vec::new();
    kv.extend((1u64 << 60).to_le_bytes());
    kv.extend([0u8; 64]);
    let e = parse(gguf_bytes(1, &kv, &[], &[])).err().unwrap();
    assert!(
        e.contains("metadata") && e.contains("1152921504606846976"),
        "{e}"
    );

    // A string value whose length is 2^60.
    let mut kv = Vec::new();
    string(&mut kv, "k");
    kv.extend(8u32.to_le_bytes());
    kv.extend((1u64 << 60).to_le_bytes());
    kv.extend([0u8; 64]);
    let e = parse(gguf_bytes(1, &kv, &[], &[])).err().unwrap();
    assert!(
        e.contains("string value needs 1152921504606846976 bytes"),
        "{e}"
    );

    // An array of 2^62 u64.
    let mut kv = Vec::new();
    string(&mut kv, "k");
    kv.extend(9u32.to_le_bytes());
    kv.extend(10u32.to_le_bytes());
    kv.extend((1u64 << 62).to_le_bytes());
    let e = parse(gguf_bytes(1, &kv, &[], &[])).err().unwrap();
    assert!(e.contains("does not fit"), "{e}");

    // 2^40 tensors, 2^40 metadata entries.
    let mut b = gguf_bytes(0, &[], &[], &[]);
    b[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(parse(b).err().unwrap().contains("tensor infos cannot fit"));
    let mut b = gguf_bytes(0, &[], &[], &[]);
    b[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(parse(b)
        .err()
        .unwrap()
        .contains("metadata entries cannot fit"));

    // Arrays nested 1000 deep.
    let mut kv = Vec::new();
    string(&mut kv, "k");
    kv.extend(9u32.to_le_bytes());
    for _ in 0..1000 {
        kv.extend(9u32.to_le_bytes());
        kv.extend(1u64.to_le_bytes());
    }
    let e = parse(gguf_bytes(1, &kv, &[], &[])).err().unwrap();
    assert!(e.contains("nested"), "{e}");
}

#[test]
fn bad_versions_magic_and_alignment() {
    let mut b = gguf_bytes(0, &[], &[], &[]);
    b[4..8].copy_from_slice(&3u32.to_be_bytes());
    assert!(parse(b).err().unwrap().contains("big-endian"));
    let mut b = gguf_bytes(0, &[], &[], &[]);
    b[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(parse(b).err().unwrap().contains("v1"));
    let mut b = gguf_bytes(0, &[], &[], &[]);
    b[0] = b'X';
    assert!(parse(b).err().unwrap().contains("magic"));

    let mut kv = Vec::new();
    string(&mut kv, "general.alignment");
    kv.extend(4u32.to_le_bytes());
    kv.extend(3u32.to_le_bytes());
    assert!(parse(gguf_bytes(1, &kv, &[], &[]))
        .err()
        .unwrap()
        .contains("power of two"));

    // open() checks the magic of a file named .gguf.
    let dir = std::env::temp_dir().join(format!("ws-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("fake.gguf");
    std::fs::write(&p, b"not a gguf at all").unwrap();
    let e = open(&p).err().unwrap().to_string();
    assert!(e.contains("fake.gguf") && e.contains("magic"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_tensor_entries_spoil_only_themselves() {
    let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let f = parse(gguf_bytes(
        0,
        &[],
        &[
            ("good", &[2, 2], 0, 0),
            ("unknown_type", &[4], 99, 0),
            ("past_end", &[4, 4], 0, 0),
            ("huge_dims", &[1 << 40, 1 << 40, 1 << 40], 0, 0),
            ("five_dims", &[1, 1, 1, 1, 1], 0, 0),
            ("bad_row", &[33], 2, 0),
            ("offset_overflow", &[1], 0, u64::MAX),
            ("good", &[1], 0, 0),
            // Zero elements, but [2^40, 2^40, 0] overflows whoever multiplies left to right
            // (found by fuzzing).
            ("zero_then_huge", &[0, 1 << 40, 1 << 40], 0, 0),
        ],
        &data,
    ))
    .unwrap();
    let t = f.tensors();
    assert_eq!(f.read_f64(0).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(t[0].shape, vec![2, 2]);
    let problem = |i: usize| t[i].problem.clone().unwrap_or_default();
    assert_eq!(t[1].dtype, DType::Quantized("ggml type 99".into()));
    assert!(problem(1).contains("unsupported quantization type ggml type 99"));
    assert!(problem(2).contains("past the end"));
    assert!(t[3].shape.is_empty() && problem(3).contains("overflows"));
    assert!(problem(4).contains("5 dimensions"));
    assert!(problem(5).contains("block size"));
    assert!(problem(6).contains("overflows"));
    assert!(problem(7).contains("duplicate"));
    assert!(t[8].shape.is_empty() && problem(8).contains("overflows"));
    for (i, info) in t.iter().enumerate().skip(1) {
        let e = f.read_f64(i).unwrap_err().to_string();
        assert!(e.contains("mem.gguf") && e.contains(&info.name), "{e}");
    }
}

#[test]
fn every_truncation_of_a_fixture_is_handled() {
    for stem in ["floats", "q4_k", "q8_0", "unsupported"] {
        let bytes = std::fs::read(fixtures().join(format!("{stem}.gguf"))).unwrap();
        let full = parse(bytes.clone()).unwrap();
        let n_full = full.tensors().len();
        for cut in 0..bytes.len() {
            match parse(bytes[..cut].to_vec()) {
                Err(e) => assert!(e.contains("mem.gguf"), "{e}"),
                Ok(f) => {
                    // Cut inside the data: the header is whole, the tensors past the cut
                    // are marked, the others read as before.
                    assert_eq!(f.tensors().len(), n_full);
                    for i in 0..n_full {
                        match (f.read_f64(i), full.read_f64(i)) {
                            (Ok(a), Ok(b)) => assert_eq!(a, b),
                            (Ok(_), Err(e)) => panic!("{stem} cut {cut}: read {i} after {e}"),
                            (Err(_), _) => {}
                        }
                    }
                }
            }
        }
    }
}

// ---- block reads (the streamed route) --------------------------------------------------

#[test]
fn every_block_of_every_type_is_the_slice_of_the_whole_tensor() {
    // Every tensor of two or more dimensions of every readable type streams; 1-D ones and
    // integer tensors do not (a 1-D quantized row would split a quant block).
    let floats = common::check_blocks(
        &fixtures().join("floats.gguf"),
        &fixtures().join("floats.ref.safetensors"),
    );
    assert_eq!(
        floats,
        [
            "blk.0.attn_q.weight",
            "blk.0.ffn_up.weight",
            "blk.0.ffn_down.weight",
            "blk.0.ffn_gate_exps.weight",
            "output.weight"
        ]
    );
    for stem in ["q4_0", "q4_1", "q5_0", "q5_1", "q8_0"] {
        let names = common::check_blocks(
            &fixtures().join(format!("{stem}.gguf")),
            &fixtures().join(format!("{stem}.ref.safetensors")),
        );
        assert_eq!(names, ["quantized.weight", "random.weight"], "{stem}");
    }
    for stem in ["q2_k", "q3_k", "q4_k", "q5_k", "q6_k"] {
        let names = common::check_blocks(
            &fixtures().join(format!("{stem}.gguf")),
            &fixtures().join(format!("{stem}.ref.safetensors")),
        );
        assert_eq!(names, ["random.weight"], "{stem}");
    }
    let s = open(&fixtures().join("unsupported.gguf")).unwrap();
    for (i, t) in s.tensors().iter().enumerate() {
        assert_eq!(s.reads_blocks(i), t.name == "ok.weight", "{}", t.name);
    }
}

#[test]
fn a_file_truncated_after_opening_is_an_error_for_the_rows_past_the_cut() {
    let dir = std::env::temp_dir().join(format!("ws-gguf-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("cut.gguf");
    std::fs::copy(fixtures().join("q6_k.gguf"), &path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    let before = f.read_f64(0).unwrap();
    // Rewritten in place, shorter: cut inside the last of the 3 rows (two 210-byte super-blocks
    // each).
    let start = f.header().data_start + f.header().tensors[0].offset;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(start + 2 * 420 + 100)
        .unwrap();
    for e in [
        f.read_f64(0).unwrap_err(),
        f.read_block_f64(0, 2..3, 0..512).unwrap_err(),
        f.read_block_f64(0, 0..3, 100..200).unwrap_err(),
    ] {
        let e = e.to_string();
        assert!(
            e.contains("cut.gguf") && e.contains("random.weight") && e.contains("truncated"),
            "{e}"
        );
    }
    // The rows before the cut still read, the same bits.
    assert_eq!(f.read_block_f64(0, 0..2, 0..512).unwrap(), before[..1024]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn zero_sized_dimensions_beside_huge_ones_read_as_empty() {
    // ne = [0, 2^40] and [2^40, 0]: no elements and no bytes, so they pass the size check; a
    // block read must answer at once with nothing, not walk 2^40 rows.
    let big = 1u64 << 40;
    let f = parse(gguf_bytes(
        0,
        &[],
        &[("a", &[0, big], 0, 0), ("b", &[big, 0], 8, 0)],
        &[],
    ))
    .unwrap();
    assert_eq!(f.tensors()[0].shape, [1 << 40, 0]);
    assert_eq!(f.tensors()[1].shape, [0, 1 << 40]);
    for i in 0..2 {
        assert_eq!(f.read_f64(i).unwrap(), Vec::<f64>::new());
    }
    assert!(f.read_block_f64(0, 0..1 << 40, 0..0).unwrap().is_empty());
    assert!(f.read_block_f64(1, 0..0, 0..1 << 40).unwrap().is_empty());
}
