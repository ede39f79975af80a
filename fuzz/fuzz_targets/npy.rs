//! Fuzz the NumPy `.npy` decoder: any bytes must decode to exactly numel values or give an
//! error, never panic or allocate from a lying header.
#![cfg_attr(feature = "libfuzzer", no_main)]

use weightscope_formats::npy::decode_npy_bytes;

fn check(data: &[u8]) -> usize {
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
