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

/// Column (and row) bounds that cross quant-block edges (32- and 256-value blocks) and
/// leave ragged ends, clipped to `len`.
fn edges(len: usize) -> Vec<usize> {
    let mut e: Vec<usize> = [
        0, 1, 2, 15, 16, 31, 32, 33, 63, 64, 65, 100, 255, 256, 257, 300,
    ]
    .into_iter()
    .chain([len / 2, len.saturating_sub(1), len])
    .filter(|&x| x <= len)
    .collect();
    e.sort_unstable();
    e.dedup();
    e
}

/// For every tensor of `model` that reads by blocks: every block (rows and columns from
/// [`edges`], empty and ragged ones included) equals, bit for bit, the slice of the whole
/// read and of the same tensor in `reference` (the format's own tools' values); a block past
/// the tensor's edge is an error naming the file and the tensor. Returns the names of the
/// tensors checked.
pub fn check_blocks(model: &Path, reference: &Path) -> Vec<String> {
    let src = open(model).unwrap();
    let reference = open(reference).unwrap();
    let file = model.file_name().unwrap().to_str().unwrap();
    let mut checked = Vec::new();
    for (i, t) in src.tensors().iter().enumerate() {
        if !src.reads_blocks(i) {
            continue;
        }
        let ri = reference.tensors().iter().position(|r| r.name == t.name);
        let want = reference.read_f64(ri.unwrap_or_else(|| panic!("no ref {}", t.name)));
        let want = want.unwrap();
        let whole = src.read_f64(i).unwrap();
        let (n, width) = (t.shape[0], t.numel() / t.shape[0].max(1));
        for r0 in edges(n) {
            for r1 in edges(n).into_iter().filter(|&r1| r1 >= r0) {
                for c0 in edges(width) {
                    for c1 in edges(width).into_iter().filter(|&c1| c1 >= c0) {
                        let block = src.read_block_f64(i, r0..r1, c0..c1).unwrap();
                        assert_eq!(block.len(), (r1 - r0) * (c1 - c0), "{}", t.name);
                        let mut k = 0;
                        for r in r0..r1 {
                            for c in c0..c1 {
                                let (b, a, w) =
                                    (block[k], whole[r * width + c], want[r * width + c]);
                                assert!(
                                    b.to_bits() == a.to_bits() && b.to_bits() == w.to_bits(),
                                    "{}: block {r0}..{r1} × {c0}..{c1} at ({r}, {c}): {b:e}, \
                                     whole read {a:e}, reference {w:e}",
                                    t.name
                                );
                                k += 1;
                            }
                        }
                    }
                }
            }
        }
        for (rows, cols) in [(0..n + 1, 0..width), (0..n, 0..width + 1), (n..n + 1, 0..0)] {
            let e = src.read_block_f64(i, rows, cols).unwrap_err().to_string();
            assert!(e.contains(file) && e.contains(&t.name), "{e}");
        }
        checked.push(t.name.clone());
    }
    checked
}
