#![no_main]
//! libFuzzer target: any bytes, as a PyTorch checkpoint (zip or legacy).

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = weightscope_fuzz::exercise(data);
});
