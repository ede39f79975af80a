//! Fuzz the GGUF reader: parse any bytes, then read every tensor it lists, whole and by blocks.
//! Any panic, overflow or runaway allocation is a bug; errors are the expected outcome.
#![cfg_attr(feature = "libfuzzer", no_main)]

use std::path::Path;
use weightscope_formats::gguf::GgufFile;
use weightscope_formats::TensorSource;

/// Parse and read everything; returns how many tensors read successfully (statistics for
/// the stable driver).
fn check(data: &[u8]) -> usize {
    let Ok(f) = GgufFile::from_bytes(Path::new("fuzz.gguf"), data.to_vec()) else {
        return 0;
    };
    let mut ok = 0;
    for (i, t) in f.tensors().iter().enumerate() {
        // Listed shapes must be safe to multiply (numel panics on overflow here).
        let n = t.numel();
        if let Ok(v) = f.read_f64(i) {
            assert_eq!(v.len(), n, "{}", t.name);
            ok += 1;
            weightscope_fuzz::check_blocks(&f, i, &v, "fuzz.gguf");
        }
    }
    ok
}

#[cfg(feature = "libfuzzer")]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    check(data);
});

#[cfg(not(feature = "libfuzzer"))]
#[path = "stable_driver.rs"]
mod stable_driver;

#[cfg(not(feature = "libfuzzer"))]
fn main() {
    stable_driver::main("gguf", check)
}
