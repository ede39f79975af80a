//! Replays the committed fuzz seeds (fuzz/seeds/, including inputs that once crashed a
//! reader) through the parse-from-bytes entry points, as the fuzz targets do, so that
//! every `cargo test` re-checks them without a nightly toolchain.

use super::common::repo_path;
use std::path::PathBuf;
use weightscope_formats::gguf::GgufFile;
use weightscope_formats::onnx::OnnxFile;
use weightscope_formats::TensorSource;

fn seeds(target: &str) -> Vec<PathBuf> {
    let dir = repo_path("fuzz/seeds").join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    assert!(!v.is_empty());
    v
}

fn read_all(s: &dyn TensorSource) {
    for (i, t) in s.tensors().iter().enumerate() {
        let n = t.numel();
        if let Ok(v) = s.read_f64(i) {
            assert_eq!(v.len(), n, "{}", t.name);
        }
    }
}

#[test]
fn gguf_seeds_never_panic() {
    for p in seeds("gguf") {
        if let Ok(f) = GgufFile::from_bytes(&p, std::fs::read(&p).unwrap()) {
            read_all(&f);
        }
    }
}

#[test]
fn onnx_seeds_never_panic() {
    for p in seeds("onnx") {
        if let Ok(f) = OnnxFile::from_bytes(&p, std::fs::read(&p).unwrap()) {
            read_all(&f);
        }
    }
}
