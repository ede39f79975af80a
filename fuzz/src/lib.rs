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
                    }
                    Err(e) => assert!(e.to_string().starts_with(NAME), "{e}"),
                }
            }
        }
        Err(e) => assert!(e.to_string().starts_with(NAME), "{e}"),
    }
    out
}
