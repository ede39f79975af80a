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

/// The streamed route's reads (for a reader that reads tensor `i` by blocks): a few ragged
/// blocks (panels of rows, of columns, a corner, a sliver of the last row) equal the slices of
/// its whole read `all`, bit for bit, and a block past its edges is an error naming `file`.
/// The tensor is viewed as `shape[0]` rows, as the analysis views it.
pub fn check_blocks(src: &dyn TensorSource, i: usize, all: &[f64], file: &str) {
    let info = &src.tensors()[i];
    if info.shape.len() < 2 || !src.reads_blocks(i) || all.is_empty() {
        // Empty: walking the 2^40 empty rows of a 2^40 × 0 tensor would only hang the harness.
        return;
    }
    let n = info.shape[0];
    let m = all.len() / n;
    let half = |k: usize| k / 2..k;
    for (rows, cols) in [
        (0..n, 0..m),
        (half(n), 0..m),
        (0..n, half(m)),
        (0..n / 3, half(m)),
        (n - 1..n, m / 3..m / 3 + m.min(33) / 2),
    ] {
        let want: Vec<u64> = rows
            .clone()
            .flat_map(|r| {
                all[r * m + cols.start..r * m + cols.end]
                    .iter()
                    .map(|x| x.to_bits())
            })
            .collect();
        let got: Vec<u64> = src
            .read_block_f64(i, rows, cols)
            .expect("a tensor read whole reads by blocks")
            .iter()
            .map(|x| x.to_bits())
            .collect();
        assert_eq!(got, want, "block of tensor {}", info.name);
    }
    let e = src.read_block_f64(i, 0..n + 1, 0..m).unwrap_err();
    assert!(e.to_string().contains(file), "{e}");
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
                        check_blocks(&src, i, &v, NAME);
                    }
                    Err(e) => assert!(e.to_string().starts_with(NAME), "{e}"),
                }
            }
        }
        Err(e) => assert!(e.to_string().starts_with(NAME), "{e}"),
    }
    out
}
