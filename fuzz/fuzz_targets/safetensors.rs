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
                // Blocks (the streamed route) are blocks of the whole tensor; a block past
                // its edges is an error naming the file.
                let rows = t.shape.first().copied().unwrap_or(0);
                if rows > 0 && f.reads_blocks(i) {
                    let width = n / rows;
                    for (r, c) in [
                        (0..rows, 0..width),
                        (rows / 2..rows, 0..width),
                        (0..rows / 3, width / 2..width),
                    ] {
                        let part = f.read_block_f64(i, r.clone(), c.clone()).unwrap();
                        let want: Vec<f64> = r
                            .flat_map(|k| v[k * width + c.start..k * width + c.end].to_vec())
                            .collect();
                        assert_eq!(part.len(), want.len());
                        assert!(part
                            .iter()
                            .zip(&want)
                            .all(|(a, b)| a.to_bits() == b.to_bits()));
                    }
                    let e = f.read_block_f64(i, 0..rows + 1, 0..width).unwrap_err();
                    assert!(e.to_string().contains("fuzz.safetensors"), "{e}");
                }
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
