//! Every checkpoint format gives the same analysis as the safetensors file of the same weights
//! (the fixtures of each format ship such a reference, written from the same tensors).

use std::path::{Path, PathBuf};
use weightscope::{analyze, Options};

fn root(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

fn same_analysis(file: &str, reference: &str) {
    let opts = Options {
        layers: weightscope::layers::LayerOptions {
            min_evals: 2,
            ..Default::default()
        },
        ..Default::default()
    };
    let a = analyze(&root(file), &opts).unwrap_or_else(|e| panic!("{file}: {e}"));
    let b = analyze(&root(reference), &opts).unwrap();
    assert!(!a.layers.is_empty(), "{file}: no layer analysed");
    assert_eq!(a.layers.len(), b.layers.len(), "{file}");
    for la in &a.layers {
        let lb = b
            .layers
            .iter()
            .find(|l| l.longname == la.longname && l.slice_id == la.slice_id)
            .unwrap_or_else(|| panic!("{file}: {}", la.longname));
        assert_eq!(
            (la.n, la.m, la.rf, &la.layer_type),
            (lb.n, lb.m, lb.rf, &lb.layer_type),
            "{file}: {}",
            la.longname
        );
        // Bit-identical weights, the same code path: identical numbers.
        assert_eq!(la.alpha, lb.alpha, "{file}: {}", la.longname);
        assert_eq!(la.lambda_max, lb.lambda_max, "{file}: {}", la.longname);
        assert_eq!(la.stable_rank, lb.stable_rank, "{file}: {}", la.longname);
    }
}

#[test]
fn pytorch_equals_safetensors() {
    same_analysis(
        "tests/fixtures/pytorch/handwriting_model.pth",
        "examples/mnist-cnn/model.safetensors",
    );
}

#[test]
fn gguf_equals_safetensors() {
    for q in ["floats", "q4_0", "q8_0", "q4_k", "q6_k"] {
        same_analysis(
            &format!("tests/fixtures/gguf/{q}.gguf"),
            &format!("tests/fixtures/gguf/{q}.ref.safetensors"),
        );
    }
}

#[test]
fn onnx_equals_safetensors() {
    same_analysis(
        "tests/fixtures/onnx/mlp.onnx",
        "tests/fixtures/onnx/mlp.ref.safetensors",
    );
}

#[test]
fn keras_equals_safetensors() {
    for m in ["cnn.keras", "cnn.weights.h5", "mlp.keras", "mlp.h5"] {
        let stem = m.split('.').next().unwrap();
        same_analysis(
            &format!("tests/fixtures/keras/{m}"),
            &format!("tests/fixtures/keras/{stem}.reference.safetensors"),
        );
    }
}
