//! The aspect-ratio bias of α that FARMS removes: α of i.i.d. random matrices (no learned
//! correlations, so any trend with the shape is bias) of aspect ratio Q = N/M from 1 to 8,
//! from the whole ESD (the standard fit, KS-chosen xmin; and the same median-xmin MLE that
//! FARMS uses, to separate the windows from the fit rule) and from FARMS with the reference's
//! defaults. Gaussian entries (the ESD is Marchenko–Pastur, whose shape depends on Q, Eqn. 8)
//! and symmetric Pareto entries of tail exponent μ = 2.5 (fat-tailed, §3.2 Table 3). Mean over
//! seeds; printed as a Markdown table (README, "FARMS").
//! `cargo run --release -p weightscope --example farms_bias`

use faer::Mat;
use rand::RngExt;
use weightscope::diagnose::randomization::rng;
use weightscope::fit::farms::{farms, fit_pooled, FarmsOptions, FarmsXmin};
use weightscope::fit::{fit_power_law, PlMethod};
use weightscope::spectrum::{gram_eigenvalues, Precision, Solver};

const M: usize = 256;
const SEEDS: u64 = 5;

fn matrix(n: usize, m: usize, pareto_mu: Option<f64>, seed: u64) -> Mat<f64> {
    let mut g = rng(seed);
    Mat::from_fn(n, m, |_, _| match pareto_mu {
        None => {
            // Box–Muller.
            let (u1, u2): (f64, f64) = (1.0 - g.random::<f64>(), g.random::<f64>());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
        Some(mu) => {
            let u: f64 = 1.0 - g.random::<f64>();
            let sign = if g.random::<bool>() { 1.0 } else { -1.0 };
            sign * u.powf(-1.0 / mu)
        }
    })
}

fn main() {
    let opts = FarmsOptions::default();
    println!("| entries | Q = N/M | N × M | α whole ESD (KS xmin) | α whole ESD (median xmin) | α FARMS |");
    println!("|---|---|---|---|---|---|");
    for (label, mu) in [("Gaussian", None), ("Pareto μ=2.5", Some(2.5))] {
        let mut spread = [(f64::INFINITY, f64::NEG_INFINITY); 3];
        for q in [1usize, 2, 3, 4, 6, 8] {
            let n = q * M;
            let mut sums = [0.0; 3];
            for s in 0..SEEDS {
                let w = matrix(n, M, mu, 1000 * q as u64 + s);
                let evals = gram_eigenvalues(w.as_ref(), Solver::Auto, Precision::F64).unwrap();
                sums[0] += fit_power_law(&evals, PlMethod::Ww).unwrap().alpha;
                sums[1] += fit_pooled(&evals, FarmsXmin::Median).unwrap().alpha;
                sums[2] += farms(&[w], &opts, 1.0, Solver::Auto, Precision::F64)
                    .unwrap()
                    .farms_alpha;
            }
            let means = sums.map(|x| x / SEEDS as f64);
            for (k, a) in means.iter().enumerate() {
                spread[k] = (spread[k].0.min(*a), spread[k].1.max(*a));
            }
            println!(
                "| {label} | {q} | {n} × {M} | {:.2} | {:.2} | {:.2} |",
                means[0], means[1], means[2]
            );
        }
        let r = spread.map(|(lo, hi)| hi - lo);
        println!(
            "| {label} | **range over Q** | | **{:.2}** | **{:.2}** | **{:.2}** |",
            r[0], r[1], r[2]
        );
    }
}
