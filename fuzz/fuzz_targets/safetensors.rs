//! Fuzz the safetensors reader: parse any bytes, then read every tensor it lists. Any panic,
//! overflow or runaway allocation is a bug; errors are the expected outcome.
#![cfg_attr(feature = "libfuzzer", no_main)]

use std::path::Path;
use weightscope_formats::safetensors::SafetensorsFile;
use weightscope_formats::TensorSource;

fn check(data: &[u8]) -> usize {
    let Ok(f) = SafetensorsFile::from_bytes(Path::new("fuzz.safetensors"), data.to_vec()) else {
        return 0;
    };
    let mut ok = 0;
    for (i, t) in f.tensors().iter().enumerate() {
        let n = t.numel();
        match f.read_f64(i) {
            Ok(v) => {
                assert_eq!(v.len(), n, "{}", t.name);
                ok += 1;
                weightscope_fuzz::check_blocks(&f, i, &v, "fuzz.safetensors");
            }
            Err(e) => assert!(e.to_string().contains("fuzz.safetensors"), "{e}"),
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
    stable_driver::main("safetensors", check)
}
