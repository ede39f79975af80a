//! Helpers shared by the format tests: where the repository's test data are, tensor names,
//! and the bit-for-bit comparison of a model with its `.safetensors` reference.

use std::path::{Path, PathBuf};
use weightscope_formats::{open, TensorSource};

/// A path relative to the repository's root (this crate is `crates/weightscope-formats`).
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// The fixtures of one format: `tests/fixtures/<format>` at the repository's root.
pub fn fixture_dir(format: &str) -> PathBuf {
    repo_path("tests/fixtures").join(format)
}

/// The tensor names of a source, in its order.
pub fn names(src: &dyn TensorSource) -> Vec<String> {
    src.tensors().iter().map(|t| t.name.clone()).collect()
}

/// Assert that every tensor of `reference` (a `.safetensors` written by the format's own
/// tools) is in `model` with the same shape and bit-identical values; returns how many were
/// compared. `stem` names the pair in failure messages.
pub fn check_against_reference(model: &Path, reference: &Path, stem: &str) -> usize {
    let model = open(model).unwrap();
    let reference = open(reference).unwrap();
    for (ri, r) in reference.tensors().iter().enumerate() {
        let mi = model
            .tensors()
            .iter()
            .position(|t| t.name == r.name)
            .unwrap_or_else(|| panic!("{stem}: no tensor {}", r.name));
        assert_eq!(
            model.tensors()[mi].shape,
            r.shape,
            "{stem}/{}: shape",
            r.name
        );
        let got = model.read_f64(mi).unwrap();
        let want = reference.read_f64(ri).unwrap();
        assert_eq!(got.len(), want.len(), "{stem}/{}", r.name);
        for (k, (a, b)) in got.iter().zip(&want).enumerate() {
            assert!(
                a.to_bits() == b.to_bits(),
                "{stem}/{} [{k}]: read {a:e}, the reference says {b:e}",
                r.name
            );
        }
    }
    reference.tensors().len()
}
