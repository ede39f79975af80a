//! A stable-Rust stand-in for libFuzzer, for machines without a nightly toolchain or
//! cargo-fuzz: replays the committed seeds, then runs a seeded mutation loop (bit flips,
//! "interesting" little-endian integers written over length and count fields, inserts,
//! deletes, truncation, splices of two seeds). No coverage feedback, so it finds less than
//! libFuzzer per execution, but it is deterministic for a given seed and needs nothing.
//!
//! Usage: `<target> [ITERATIONS] [SEED]` (defaults 100000 and 1), run from anywhere; seeds
//! are read from `fuzz/seeds/<target>/`, panicking inputs written to
//! `fuzz/artifacts/<target>/crash-<iteration>`. Exits 1 if any input panicked.
//! `<target> FILE…` replays those inputs with the panic message shown.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

/// splitmix64: small, fast, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that break size arithmetic, written as u8/u16/u32/u64 little-endian or as a
/// protobuf varint.
const INTERESTING: [u64; 14] = [
    0,
    1,
    2,
    3,
    7,
    0x7F,
    0x80,
    0xFF,
    0xFFFF,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
    1 << 40,
    1 << 60,
    u64::MAX,
];

fn mutate(input: &mut Vec<u8>, seeds: &[Vec<u8>], rng: &mut Rng) {
    let rounds = 1 + rng.below(6);
    for _ in 0..rounds {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 if len > 0 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let width = [1, 2, 4, 8][rng.below(4)];
                let i = rng.below(len);
                for (k, b) in v.to_le_bytes().iter().take(width).enumerate() {
                    if i + k < len {
                        input[i + k] = *b;
                    }
                }
            }
            3 => {
                // A varint (ONNX lengths and tags).
                let mut v = INTERESTING[rng.below(INTERESTING.len())];
                let mut enc = Vec::new();
                while v >= 0x80 {
                    enc.push((v as u8) | 0x80);
                    v >>= 7;
                }
                enc.push(v as u8);
                let i = rng.below(len + 1);
                input.splice(i..i, enc);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                input.drain(i..i + n);
            }
            5 if len > 0 => input.truncate(rng.below(len)),
            6 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(i..i, bytes);
            }
            7 if len > 1 => {
                // Duplicate a range (repeated fields, array elements).
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let chunk = input[i..i + n].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, chunk);
            }
            8 if !seeds.is_empty() => {
                // Splice the tail of another seed.
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(len + 1);
                let from = rng.below(other.len() + 1);
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            _ => {}
        }
    }
}

pub fn main(name: &str, check: fn(&[u8]) -> usize) {
    let args: Vec<String> = std::env::args().collect();
    if args.len() > 1 && std::path::Path::new(&args[1]).is_file() {
        for f in &args[1..] {
            println!("{f}");
            check(&std::fs::read(f).unwrap());
        }
        return;
    }
    let iterations: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let seed_dir = root.join("seeds").join(name);
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(&seed_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", seed_dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        seeds.push(std::fs::read(&p).unwrap());
    }
    // Keep panics quiet: they are counted and saved, not printed one by one.
    std::panic::set_hook(Box::new(|_| {}));
    let artifacts = root.join("artifacts").join(name);
    let mut crashes = 0u64;
    let (mut parsed, mut tensors_read) = (0u64, 0u64);
    let mut run = |input: &[u8], label: &str| {
        let r = catch_unwind(AssertUnwindSafe(|| check(input)));
        if let Ok(n) = r {
            parsed += (n > 0) as u64;
            tensors_read += n as u64;
        }
        if r.is_err() {
            crashes += 1;
            std::fs::create_dir_all(&artifacts).ok();
            let p = artifacts.join(format!("crash-{label}"));
            std::fs::write(&p, input).ok();
            eprintln!("panic on input saved to {}", p.display());
        }
    };
    let start = Instant::now();
    for (i, s) in seeds.iter().enumerate() {
        run(s, &format!("seed{i}"));
    }
    let mut rng = Rng(seed);
    for it in 0..iterations {
        let mut input = if seeds.is_empty() {
            Vec::new()
        } else {
            seeds[rng.below(seeds.len())].clone()
        };
        mutate(&mut input, &seeds, &mut rng);
        run(&input, &it.to_string());
    }
    let execs = seeds.len() as u64 + iterations;
    println!(
        "{name}: {execs} executions ({} seeds + {iterations} mutations, seed {seed}) in {:.1} s, \
         {crashes} panics; {parsed} inputs had a readable tensor, {tensors_read} tensors read",
        seeds.len(),
        start.elapsed().as_secs_f64()
    );
    if crashes > 0 {
        std::process::exit(1);
    }
}
