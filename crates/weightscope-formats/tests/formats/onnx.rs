//! ONNX reader against models written by the `onnx` Python package
//! (tools/make_gguf_onnx_fixtures.py): initializers bit-identical to
//! `onnx.numpy_helper.to_array`, roles from the graph, external data, and corrupt input.

use super::common;
use std::path::{Path, PathBuf};
use weightscope_formats::onnx::OnnxFile;
use weightscope_formats::{open, DType, TensorSource};

fn fixtures() -> PathBuf {
    common::fixture_dir("onnx")
}

/// Assert every tensor of `<stem>.ref.safetensors` is in `<stem>.onnx` with the same shape
/// and bit-identical values; returns how many were compared.
fn check_against_reference(stem: &str) -> usize {
    common::check_against_reference(
        &fixtures().join(format!("{stem}.onnx")),
        &fixtures().join(format!("{stem}.ref.safetensors")),
        stem,
    )
}

fn role(s: &dyn TensorSource, name: &str) -> Option<String> {
    s.tensors()
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no {name}"))
        .role
        .clone()
}

#[test]
fn initializers_match_onnx_numpy_helper() {
    assert_eq!(check_against_reference("mlp"), 4);
    assert_eq!(check_against_reference("conv"), 3); // float_data and double_data
    assert_eq!(check_against_reference("f16"), 4); // raw_data and int32_data
    assert_eq!(check_against_reference("external/model"), 4);
}

#[test]
fn roles_come_from_the_graph() {
    let mlp = open(&fixtures().join("mlp.onnx")).unwrap();
    assert_eq!(mlp.format_name(), "onnx");
    let names: Vec<_> = mlp.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias",
            "out_shape"
        ]
    );
    assert_eq!(
        role(&*mlp, "fc1.weight").as_deref(),
        Some("Gemm B (transB=1)")
    );
    assert_eq!(mlp.tensors()[0].shape, vec![16, 8]); // (out, in)
    assert_eq!(role(&*mlp, "fc2.weight").as_deref(), Some("MatMul B"));
    assert_eq!(mlp.tensors()[2].shape, vec![16, 4]); // (in, out)
    assert_eq!(role(&*mlp, "fc1.bias"), None);
    assert_eq!(role(&*mlp, "fc2.bias"), None);
    assert_eq!(role(&*mlp, "out_shape"), None);
    assert_eq!(mlp.tensors()[4].dtype, DType::Other("INT64".into()));
    assert!(mlp.read_f64(4).is_err());

    let conv = open(&fixtures().join("conv.onnx")).unwrap();
    assert_eq!(role(&*conv, "conv.weight").as_deref(), Some("Conv W"));
    assert_eq!(conv.tensors()[0].shape, vec![4, 3, 3, 3]);
    assert_eq!(role(&*conv, "conv.bias"), None);
    assert_eq!(role(&*conv, "extra.double"), None);
    assert_eq!(conv.tensors()[2].dtype, DType::F64);

    let f16 = open(&fixtures().join("f16.onnx")).unwrap();
    assert_eq!(role(&*f16, "f16.raw_data").as_deref(), Some("MatMul B"));
    assert_eq!(role(&*f16, "f16.int32_data").as_deref(), Some("MatMul B"));
    assert_eq!(f16.tensors()[0].dtype, DType::F16);
    assert_eq!(f16.tensors()[2].dtype, DType::BF16);
}

#[test]
fn external_data_is_read_from_the_models_folder() {
    let m = open(&fixtures().join("external/model.onnx")).unwrap();
    let files = m.files();
    assert_eq!(files.len(), 2);
    assert!(files[1].ends_with("weights.bin"));
    assert_eq!(
        role(&*m, "fc1.weight").as_deref(),
        Some("Gemm B (transB=1)")
    );
    assert!(m.tensors().iter().all(|t| t.problem.is_none()));
}

#[test]
fn missing_external_file_fails_only_its_tensors() {
    let path = fixtures().join("missing_external/model.onnx");
    let m = open(&path).unwrap();
    let w = m
        .tensors()
        .iter()
        .position(|t| t.name == "big.weight")
        .unwrap();
    assert_eq!(m.tensors()[w].shape, vec![32, 32]);
    assert_eq!(m.tensors()[w].role.as_deref(), Some("MatMul B"));
    let e = m.read_f64(w).unwrap_err().to_string();
    assert!(
        e.contains("big.weight") && e.contains("gone.bin") && e.contains("missing"),
        "{e}"
    );
    assert_eq!(check_against_reference("missing_external/model"), 1);
}

#[test]
fn models_read_from_memory_cannot_reach_external_data() {
    let bytes = std::fs::read(fixtures().join("external/model.onnx")).unwrap();
    let m = OnnxFile::from_bytes(Path::new("mem.onnx"), bytes).unwrap();
    assert_eq!(m.tensors().len(), 5);
    for (i, t) in m.tensors().iter().enumerate() {
        assert!(m.read_f64(i).is_err(), "{}", t.name);
    }
    assert!(m.tensors()[0]
        .problem
        .as_deref()
        .unwrap()
        .contains("from memory"));
}

#[test]
fn not_onnx_and_truncated_models_are_errors_not_panics() {
    let parse = |b: &[u8]| OnnxFile::from_bytes(Path::new("mem.onnx"), b.to_vec());
    let e = parse(b"GGUF\x03\x00\x00\x00garbage")
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("mem.onnx") && e.contains("not a valid ONNX model"),
        "{e}"
    );
    assert!(parse(&[]).is_err()); // no graph
                                  // Graph field claiming 2^60 bytes.
    let mut b = vec![0x3A];
    let mut n = 1u64 << 60;
    while n >= 0x80 {
        b.push((n as u8) | 0x80);
        n >>= 7;
    }
    b.push(n as u8);
    assert!(parse(&b).err().unwrap().to_string().contains("claims"));

    for stem in ["mlp.onnx", "conv.onnx", "f16.onnx"] {
        let bytes = std::fs::read(fixtures().join(stem)).unwrap();
        let full = parse(&bytes).unwrap();
        for cut in 0..bytes.len() {
            if let Ok(m) = parse(&bytes[..cut]) {
                for i in 0..m.tensors().len() {
                    if let Ok(v) = m.read_f64(i) {
                        let j = full
                            .tensors()
                            .iter()
                            .position(|t| t.name == m.tensors()[i].name);
                        if let Some(j) = j {
                            assert_eq!(v, full.read_f64(j).unwrap(), "{stem} cut {cut}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn lying_lengths_inside_tensors_are_per_tensor_problems() {
    // ModelProto{graph: GraphProto{initializer: [good, bad]}} by hand.
    fn ld(field: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![((field << 3) | 2) as u8];
        v.push(payload.len() as u8);
        v.extend(payload);
        v
    }
    let mut good = Vec::new();
    good.extend([0x08, 2]); // dims: 2
    good.extend([0x10, 1]); // data_type FLOAT
    good.extend(ld(8, b"good"));
    good.extend(ld(9, &[0, 0, 128, 63, 0, 0, 0, 64])); // 1.0, 2.0
    let mut short = Vec::new();
    short.extend([0x08, 3]);
    short.extend([0x10, 1]);
    short.extend(ld(8, b"short"));
    short.extend(ld(9, &[0, 0, 128, 63]));
    let mut neg = Vec::new();
    neg.extend([0x08, 0x7F]); // dims: -1 would be 10 bytes; 127 here
    neg.extend(ld(8, b"no_data"));
    neg.extend([0x10, 11]);
    let graph = [ld(5, &good), ld(5, &short), ld(5, &neg)].concat();
    let model = ld(7, &graph);
    let m = OnnxFile::from_bytes(Path::new("mem.onnx"), model).unwrap();
    assert_eq!(m.read_f64(0).unwrap(), vec![1.0, 2.0]);
    let e = m.read_f64(1).unwrap_err().to_string();
    assert!(
        e.contains("short") && e.contains("raw_data has 4 bytes"),
        "{e}"
    );
    let e = m.read_f64(2).unwrap_err().to_string();
    assert!(e.contains("no_data") && e.contains("no data"), "{e}");
}

#[test]
fn constant_node_weights_are_read_with_their_roles() {
    // Every tensor a Constant node (tools/make_input_fixtures.py): named by the node's output.
    assert_eq!(check_against_reference("constants"), 3);
    let m = open(&fixtures().join("constants.onnx")).unwrap();
    assert_eq!(
        common::names(&*m),
        ["fc1.weight", "fc1.bias", "fc2.weight", "out_shape"]
    );
    assert_eq!(
        role(&*m, "fc1.weight").as_deref(),
        Some("Gemm B (transB=1)")
    );
    assert_eq!(m.tensors()[0].shape, vec![16, 8]);
    assert_eq!(role(&*m, "fc2.weight").as_deref(), Some("MatMul B")); // float_data
    assert_eq!(m.tensors()[2].shape, vec![16, 4]);
    assert_eq!(role(&*m, "fc1.bias"), None);
    assert_eq!(m.tensors()[3].dtype, DType::Other("INT64".into()));
    assert!(m.tensors().iter().all(|t| t.problem.is_none()));

    // A Constant weight beside an initializer: initializers first, then the constants.
    assert_eq!(check_against_reference("constants_conv"), 2);
    let c = open(&fixtures().join("constants_conv.onnx")).unwrap();
    assert_eq!(common::names(&*c), ["conv.bias", "conv.weight"]);
    assert_eq!(role(&*c, "conv.weight").as_deref(), Some("Conv W"));
    assert_eq!(c.tensors()[1].shape, vec![4, 3, 3, 3]);
}

// ---- block reads (the streamed route) --------------------------------------------------

#[test]
fn raw_and_external_data_read_by_blocks_the_same_bits() {
    let check = |stem: &str| {
        common::check_blocks(
            &fixtures().join(format!("{stem}.onnx")),
            &fixtures().join(format!("{stem}.ref.safetensors")),
        )
    };
    // raw_data initializers stream (biases too, as n × 1); float_data and the other typed
    // fields are read whole.
    let mlp = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];
    assert_eq!(check("mlp"), mlp);
    assert!(check("conv").is_empty());
    let f16 = check("f16");
    assert!(!f16.is_empty(), "{f16:?}");
    // External data, and a Constant node's raw_data tensor (its float_data one is whole).
    assert_eq!(check("external/model"), mlp);
    assert_eq!(check("constants"), ["fc1.weight", "fc1.bias"]);
}

#[test]
fn external_data_truncated_after_opening_is_an_error_naming_the_tensor() {
    let dir = std::env::temp_dir().join(format!("ws-onnx-cut-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["model.onnx", "weights.bin"] {
        std::fs::copy(fixtures().join("external").join(f), dir.join(f)).unwrap();
    }
    let m = open(&dir.join("model.onnx")).unwrap();
    let w = m
        .tensors()
        .iter()
        .position(|t| t.name == "fc1.weight")
        .unwrap();
    assert!(m.reads_blocks(w));
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join("weights.bin"))
        .unwrap()
        .set_len(0)
        .unwrap();
    for e in [
        m.read_f64(w).unwrap_err(),
        m.read_block_f64(w, 0..4, 0..8).unwrap_err(),
        m.read_block_f64(w, 3..9, 2..5).unwrap_err(),
    ] {
        let e = e.to_string();
        assert!(
            e.contains("fc1.weight") && e.contains("model.onnx") && e.contains("truncated"),
            "{e}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
