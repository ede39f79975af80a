//! Speed of the power-law fit and of the eigen-solvers, printed as figures (run by
//! `bench/run.sh`; not a test). `cargo run --release -p weightscope --example fit_speed`

use std::time::Instant;
use weightscope::fit::{fit_power_law, scan_xmin, PlMethod};
use weightscope::spectrum::{gram_eigenvalues, Precision, Solver};

struct Rng(u64);
impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed().as_secs_f64())
}

fn main() {
    let mut rng = Rng(42);
    println!("## Power-law fit (weightwatcher method), n eigenvalues");
    println!("| n | pruned scan (s) | exhaustive scan (s) | speed-up | same xmin/alpha |");
    println!("|---|---|---|---|---|");
    for n in [1000usize, 4000, 15000] {
        // An MP-like bulk with a Pareto tail, as trained layers have.
        let mut x: Vec<f64> = (0..n)
            .map(|i| {
                if i % 10 == 0 {
                    (1.0 - rng.uniform()).powf(-1.0 / 2.5)
                } else {
                    0.2 + rng.uniform()
                }
            })
            .collect();
        x.sort_by(f64::total_cmp);
        let (fit, t1) = time(|| fit_power_law(&x, PlMethod::Ww).unwrap());
        let (scan, t2) = time(|| scan_xmin(&x, PlMethod::Ww));
        let i = scan
            .ds
            .iter()
            .enumerate()
            .fold(0, |b, (i, d)| if *d < scan.ds[b] { i } else { b });
        let same = scan.xmins[i] == fit.xmin && scan.alphas[i] == fit.alpha;
        println!("| {n} | {t1:.4} | {t2:.4} | {:.1}× | {same} |", t2 / t1);
    }
    println!();
    println!("## Eigenvalues of WᵀW, W = N×M Gaussian (1 thread)");
    println!("| N×M | Gram f64 (s) | SVD f64 (s) | Gram f32 (s) | SVD/Gram | max rel. err f32 (top 99%) |");
    println!("|---|---|---|---|---|---|");
    for (n, m) in [
        (1024usize, 1024usize),
        (3072, 768),
        (4096, 1024),
        (2048, 2048),
    ] {
        let w = faer::Mat::<f64>::from_fn(n, m, |_, _| rng.normal() / (n as f64).sqrt());
        let (g, tg) = time(|| gram_eigenvalues(w.as_ref(), Solver::Gram, Precision::F64).unwrap());
        let (s, ts) = time(|| gram_eigenvalues(w.as_ref(), Solver::Svd, Precision::F64).unwrap());
        let (g32, tg32) =
            time(|| gram_eigenvalues(w.as_ref(), Solver::Gram, Precision::F32).unwrap());
        let top = m / 100;
        let err = s[top..]
            .iter()
            .zip(&g32[top..])
            .map(|(a, b)| ((a - b) / a).abs())
            .fold(0.0, f64::max);
        let _ = g;
        println!(
            "| {n}×{m} | {tg:.3} | {ts:.3} | {tg32:.3} | {:.2} | {err:.1e} |",
            ts / tg
        );
    }
}
