//! Fuzz the Keras reader (`.keras` archives and HDF5 files): open the bytes, list the tensors,
//! read each one, whole and by blocks. Any panic, abort, hang or runaway allocation is a bug; errors are fine.
//!
//! * `cargo +nightly fuzz run keras fuzz/corpus/keras fuzz/seeds/keras` — libFuzzer.
//! * `cargo run --release --bin keras -- [iterations] [seed]` (from `fuzz/`, on stable) —
//!   runs every seed in `seeds/keras/`, then `iterations` (default 100000) seeded mutations
//!   of them; a panicking input is saved to `artifacts/keras/` and counted, and the run exits
//!   non-zero if there was any. `--replay FILE…` runs given inputs once.
#![cfg_attr(fuzzing, no_main)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use weightscope_formats::keras::{KerasFile, Limits};
use weightscope_formats::TensorSource;

/// Small bounds, so that a header claiming a huge tensor is refused, not allocated.
const LIMITS: Limits = Limits {
    max_tensor_bytes: 16 << 20,
    max_inflated_bytes: 16 << 20,
};

/// How far inputs got (reported by the stable runner): opened, tensors read, read errors.
static STATS: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

fn check(data: &[u8]) {
    let Ok(file) = KerasFile::from_bytes(Path::new("fuzz.keras"), data.to_vec(), LIMITS) else {
        return;
    };
    STATS[0].fetch_add(1, Relaxed);
    for (i, t) in file.tensors().iter().enumerate() {
        match file.read_f64(i) {
            Ok(v) => {
                assert_eq!(
                    v.len(),
                    t.numel(),
                    "tensor '{}' read with the wrong size",
                    t.name
                );
                STATS[1].fetch_add(1, Relaxed);
                // The streamed route's block reads give the same bits (HDF5 hyperslabs: only
                // the bytes and chunks a block covers).
                weightscope_fuzz::check_blocks(&file, i, &v, "fuzz.keras");
            }
            Err(_) => {
                STATS[2].fetch_add(1, Relaxed);
            }
        }
    }
}

#[cfg_attr(fuzzing, allow(dead_code))]
fn stats() -> String {
    let [opened, read, failed] = [0, 1, 2].map(|i| STATS[i].load(Relaxed));
    format!("{opened} inputs opened, {read} tensors read, {failed} tensor errors")
}

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));

#[cfg(not(fuzzing))]
fn main() {
    standalone::main("keras", check, stats);
}

/// The stable-Rust runner: seeds, then seeded random mutations (no coverage feedback).
#[cfg(not(fuzzing))]
mod standalone {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// Set by the panic hook: a panic counts even where the reader catches it (the Keras
    /// reader turns parser panics into errors; under libFuzzer its hook aborts instead).
    static PANICKED: AtomicBool = AtomicBool::new(false);

    /// xorshift64*: deterministic, so a run is reproduced by its seed.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const INTERESTING: &[u64] = &[
        0,
        1,
        2,
        7,
        8,
        0x7f,
        0x80,
        0xff,
        0x100,
        0x7fff,
        0xffff,
        0x1_0000,
        0x7fff_ffff,
        0xffff_ffff,
        0x1_0000_0000,
        u64::MAX,
        u64::MAX - 1,
        i64::MAX as u64,
    ];

    fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
        for _ in 0..1 + rng.below(6) {
            let len = input.len();
            match rng.below(9) {
                // Flip a bit.
                0 if len > 0 => {
                    let i = rng.below(len);
                    input[i] ^= 1 << rng.below(8);
                }
                // A random byte.
                1 if len > 0 => {
                    let i = rng.below(len);
                    input[i] = rng.next() as u8;
                }
                // An interesting 1/2/4/8-byte little-endian value (sizes, offsets, counts).
                2 | 3 if len >= 8 => {
                    let width = [1, 2, 4, 8][rng.below(4)];
                    let i = rng.below(len - width + 1);
                    let v = INTERESTING[rng.below(INTERESTING.len())];
                    let v = if rng.below(4) == 0 {
                        v.wrapping_add(rng.below(16) as u64).wrapping_sub(8)
                    } else {
                        v
                    };
                    input[i..i + width].copy_from_slice(&v.to_le_bytes()[..width]);
                }
                // Truncate.
                4 if len > 0 => input.truncate(rng.below(len)),
                // Delete a run.
                5 if len > 1 => {
                    let i = rng.below(len);
                    let n = 1 + rng.below((len - i).min(64));
                    input.drain(i..i + n);
                }
                // Duplicate a run somewhere else.
                6 if len > 1 => {
                    let i = rng.below(len);
                    let n = 1 + rng.below((len - i).min(64));
                    let run: Vec<u8> = input[i..i + n].to_vec();
                    let at = rng.below(len);
                    input.splice(at..at, run);
                }
                // Splice in a run of another seed at the same offset (same-format structure).
                7 => {
                    let other = &seeds[rng.below(seeds.len())];
                    if !other.is_empty() && len > 0 {
                        let i = rng.below(len.min(other.len()));
                        let n = 1 + rng.below((other.len() - i).min(len - i).min(256));
                        input[i..i + n].copy_from_slice(&other[i..i + n]);
                    }
                }
                // Zero a run.
                _ if len > 0 => {
                    let i = rng.below(len);
                    let n = 1 + rng.below((len - i).min(32));
                    input[i..i + n].fill(0);
                }
                _ => {}
            }
        }
    }

    fn run_one(check: fn(&[u8]), input: &[u8], artifacts: &Path, label: &str) -> (bool, Duration) {
        let start = Instant::now();
        PANICKED.store(false, Ordering::SeqCst);
        let ok =
            std::panic::catch_unwind(|| check(input)).is_ok() && !PANICKED.load(Ordering::SeqCst);
        let took = start.elapsed();
        if !ok {
            std::fs::create_dir_all(artifacts).unwrap();
            let path = artifacts.join(format!("crash-{label}"));
            std::fs::write(&path, input).unwrap();
            eprintln!("PANIC on input saved to {}", path.display());
        }
        (ok, took)
    }

    pub fn main(target: &str, check: fn(&[u8]), stats: fn() -> String) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let artifacts = root.join("artifacts").join(target);
        if args.first().map(String::as_str) == Some("--replay") {
            let mut failed = 0;
            for f in &args[1..] {
                let data = std::fs::read(f).unwrap();
                let (ok, took) = run_one(check, &data, &artifacts, "replay");
                eprintln!("{f}: {} in {took:?}", if ok { "ok" } else { "PANIC" });
                failed += usize::from(!ok);
            }
            std::process::exit(i32::from(failed > 0));
        }
        let iterations: u64 = args.first().map_or(100_000, |a| a.parse().unwrap());
        let seed: u64 = args.get(1).map_or(0x5eed, |a| a.parse().unwrap());
        let seed_dir = root.join("seeds").join(target);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&seed_dir)
            .unwrap_or_else(|e| panic!("{}: {e}", seed_dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
        assert!(!seeds.is_empty(), "no seeds in {}", seed_dir.display());
        // Panics are recorded here and reported (and their inputs saved) by `run_one`.
        std::panic::set_hook(Box::new(|info| {
            PANICKED.store(true, Ordering::SeqCst);
            eprintln!("panic: {info}");
        }));
        let start = Instant::now();
        let mut crashes = 0u64;
        let mut slowest = (Duration::ZERO, 0u64);
        for (k, s) in seeds.iter().enumerate() {
            let (ok, _) = run_one(check, s, &artifacts, &format!("seed-{k}"));
            crashes += u64::from(!ok);
        }
        let mut rng = Rng(seed | 1);
        for it in 0..iterations {
            let mut input = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, &seeds, &mut input);
            let (ok, took) = run_one(check, &input, &artifacts, &format!("{seed}-{it}"));
            crashes += u64::from(!ok);
            if took > slowest.0 {
                slowest = (took, it);
            }
            if (it + 1) % 10_000 == 0 {
                eprintln!(
                    "{target}: {} executions, {crashes} crashes, {:.0}/s",
                    it + 1,
                    (it + 1) as f64 / start.elapsed().as_secs_f64()
                );
            }
        }
        println!(
            "{target}: {} seeds + {iterations} mutations (seed {seed}) in {:.1}s: {crashes} \
             crashes; slowest input {:?} (iteration {}); {}",
            seeds.len(),
            start.elapsed().as_secs_f64(),
            slowest.0,
            slowest.1,
            stats()
        );
        std::process::exit(i32::from(crashes > 0));
    }
}
