//! A fuzz runner that needs no nightly toolchain: replays every file of the corpus
//! directories given, then mutates them with a seeded generator for a fixed number of
//! iterations or seconds, whichever ends first. A panic is caught, its input saved under
//! `artifacts/pytorch-stable/`, and counted; the exit status is 1 if any input panicked.
//!
//!   cargo run --release --no-default-features --bin pytorch-stable -- \
//!       [--seed N] [--iters N] [--seconds N] corpus/pytorch [more dirs]
//!
//! Without coverage feedback it is much weaker than libFuzzer, but deterministic for a seed.

use std::panic;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// splitmix64: small, seedable, good enough to pick mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
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

/// Values that tend to break length and index fields.
const INTERESTING: [u64; 12] = [
    0,
    1,
    2,
    0x7f,
    0x80,
    0xff,
    0xffff,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    i64::MAX as u64,
    u64::MAX,
];

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = input.len();
        match rng.below(9) {
            // Flip a bit.
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            // Set a byte to a random or boundary value.
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING[rng.below(INTERESTING.len())] as u8 ^ (rng.next() as u8 & 1);
            }
            // Overwrite a little-endian 1/2/4/8-byte integer with a boundary value.
            2 if len >= 8 => {
                let w = [1, 2, 4, 8][rng.below(4)];
                let i = rng.below(len - w + 1);
                let v = INTERESTING[rng.below(INTERESTING.len())].to_le_bytes();
                input[i..i + w].copy_from_slice(&v[..w]);
            }
            // Truncate.
            3 if len > 0 => input.truncate(rng.below(len)),
            // Delete a run.
            4 if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                input.drain(a..b);
            }
            // Duplicate a run in place (repeats opcodes, lengthens the pickle).
            5 if len > 1 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(64)).min(len);
                let run = input[a..b].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, run);
            }
            // Insert random bytes.
            6 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                input.splice(at..at, bytes);
            }
            // Splice in a run from another corpus file.
            7 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(256)).min(other.len());
                    let at = rng.below(len + 1);
                    let end = (at + (b - a)).min(len);
                    input.splice(at..end, other[a..b].iter().copied());
                }
            }
            // Copy a run within the input (moves pickle fragments around).
            _ if len > 2 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(32)).min(len);
                let run = input[a..b].to_vec();
                let at = rng.below(len - run.len() + 1);
                input[at..at + run.len()].copy_from_slice(&run);
            }
            _ => {}
        }
    }
}

fn fnv(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

fn main() {
    let mut seed = 1u64;
    let mut iters = u64::MAX;
    let mut seconds = 60u64;
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |name: &str| -> u64 {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match a.as_str() {
            "--seed" => seed = num("--seed"),
            "--iters" => iters = num("--iters"),
            "--seconds" => seconds = num("--seconds"),
            _ => dirs.push(PathBuf::from(a)),
        }
    }
    let mut corpus: Vec<Vec<u8>> = Vec::new();
    for d in &dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(d)
            .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        corpus.extend(files.iter().map(|p| std::fs::read(p).unwrap()));
    }
    assert!(!corpus.is_empty(), "no corpus files in {dirs:?}");

    // Panics are expected to be caught and reported, not printed per input.
    panic::set_hook(Box::new(|_| {}));
    let artifacts = Path::new("artifacts/pytorch-stable");
    let mut crashes = 0u64;
    let mut execs = 0u64;
    let (mut parsed, mut read) = (0u64, 0u64);
    let mut run = |input: &[u8], execs: &mut u64| {
        *execs += 1;
        let r = panic::catch_unwind(|| weightscope_fuzz::exercise(input));
        if let Ok(o) = r {
            parsed += o.parsed as u64;
            read += o.read as u64;
        }
        if let Err(p) = r {
            crashes += 1;
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            std::fs::create_dir_all(artifacts).unwrap();
            let f = artifacts.join(format!("crash-{:016x}", fnv(input)));
            std::fs::write(&f, input).unwrap();
            eprintln!("PANIC ({msg}) -> {}", f.display());
        }
    };
    for c in &corpus {
        run(c, &mut execs);
    }
    let replayed = execs;
    let mut rng = Rng(seed);
    let start = Instant::now();
    let budget = Duration::from_secs(seconds);
    let mut i = 0u64;
    while i < iters && start.elapsed() < budget {
        let mut input = corpus[rng.below(corpus.len())].clone();
        mutate(&mut rng, &mut input, &corpus);
        run(&input, &mut execs);
        i += 1;
    }
    println!(
        "seed {seed}: {replayed} corpus files replayed, {} mutated inputs in {:.1} s, \
         {execs} executions ({parsed} parsed, {read} tensors read), {crashes} panics",
        execs - replayed,
        start.elapsed().as_secs_f64()
    );
    if crashes > 0 {
        std::process::exit(1);
    }
}
