//! Fuzz the NumPy `.npy` decoder: any bytes must decode to exactly numel values or give an
//! error, never panic or allocate from a lying header; read as a file, its blocks (the
//! streamed route) equal the slices of the whole read.
#![cfg_attr(feature = "libfuzzer", no_main)]

use weightscope_formats::npy::{decode_npy_bytes, NpyFile};
use weightscope_formats::TensorSource;

fn check(data: &[u8]) -> usize {
    if let Ok(src) = NpyFile::from_bytes(std::path::Path::new("fuzz.npy"), data.to_vec()) {
        if let Ok(all) = src.read_f64(0) {
            assert_eq!(all.len(), src.tensors()[0].numel());
            weightscope_fuzz::check_blocks(&src, 0, &all, "fuzz.npy");
        }
    }
    match decode_npy_bytes(data) {
        Ok((shape, v)) => {
            assert_eq!(v.len(), shape.iter().product::<usize>());
            1
        }
        Err(_) => 0,
    }
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
    stable_driver::main("npy", check)
}
