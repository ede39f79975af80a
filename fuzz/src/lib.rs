//! What one fuzz input exercises, shared by the libFuzzer target and the stable runner:
//! parse the bytes as a PyTorch checkpoint, list the tensors and read every one. Beyond
//! "no panic, no runaway allocation", it checks the reader's contract: a read tensor has
//! exactly `numel` values, and every error names the file.

use std::path::Path;
use weightscope_formats::pytorch::PyTorchFile;
use weightscope_formats::TensorSource;

const NAME: &str = "fuzz.pt";

/// How far an input got, for the runner's statistics.
#[derive(Default, Clone, Copy)]
pub struct Outcome {
    /// The file parsed (its tensors were listed).
    pub parsed: bool,
    pub listed: usize,
    /// Tensors read successfully.
    pub read: usize,
}

/// The streamed route's reads: a few ragged blocks of a 2-D tensor (panels of rows, of
/// columns, one corner) equal the slices of its whole read `all`.
pub fn check_blocks(src: &dyn TensorSource, i: usize, all: &[f64]) {
    let shape = &src.tensors()[i].shape;
    if shape.len() != 2 || !src.reads_blocks(i) {
        return;
    }
    let (n, m) = (shape[0], shape[1]);
    if n == 0 || m == 0 {
        // Empty: walking the 2^40 empty rows of a 2^40 × 0 tensor would only hang the harness.
        return;
    }
    let half = |k: usize| k / 2..k;
    for (rows, cols) in [(0..n, 0..m), (half(n), 0..m), (0..n, half(m)), (half(n), half(m))] {
        let want: Vec<u64> = rows
            .clone()
            .flat_map(|r| all[r * m + cols.start..r * m + cols.end].iter().map(|x| x.to_bits()))
            .collect();
        let got: Vec<u64> = src
            .read_block_f64(i, rows, cols)
            .expect("a tensor read whole reads by blocks")
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(got, want, "block of tensor {}", src.tensors()[i].name);
    }
}

pub fn exercise(data: &[u8]) -> Outcome {
    let path = Path::new(NAME);
    let mut out = Outcome::default();
    match PyTorchFile::from_bytes(path, data.to_vec()) {
        Ok(src) => {
            out.parsed = true;
            out.listed = src.tensors().len();
            for (i, info) in src.tensors().iter().enumerate() {
                match src.read_f64(i) {
                    Ok(v) => {
                        assert_eq!(v.len(), info.numel(), "tensor {}", info.name);
                        out.read += 1;
                        check_blocks(&src, i, &v);
                    }
                    Err(e) => assert!(e.to_string().starts_with(NAME), "{e}"),
                }
            }
        }
        Err(e) => assert!(e.to_string().starts_with(NAME), "{e}"),
    }
    out
}
