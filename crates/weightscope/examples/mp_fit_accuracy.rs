//! How well each Marchenko–Pastur method recovers σ² and the number of spikes on generated
//! matrices with a known answer (Gaussian + k spikes above the BBP threshold). Printed as a
//! table; run by `bench/run.sh`. `cargo run --release -p weightscope --example mp_fit_accuracy`

use weightscope::diagnose::phase::Phase;
use weightscope::diagnose::randomization::rng;
use weightscope::fit::marchenko_pastur::{fit_marchenko_pastur, MpMethod};
use weightscope::spectrum::{gram_eigenvalues, Precision, Solver};
use weightscope::synth::synth_matrix;

fn main() {
    println!(
        "| N×M | k spikes | method | mean |σ−σ_true|/σ_true | exact spike count | mean soft rank |"
    );
    println!("|---|---|---|---|---|---|");
    for (n, m) in [(1000usize, 500usize), (800, 200), (500, 500), (2000, 250)] {
        for k in [0usize, 3, 10] {
            for method in [MpMethod::BulkCdf, MpMethod::Ww] {
                let (mut err, mut exact, mut soft, reps) = (0.0, 0, 0.0, 10);
                for r in 0..reps {
                    let seed = (n * 31 + m * 7 + k * 1000 + r) as u64;
                    let mut w = synth_matrix(Phase::RandomLike, n, m, seed);
                    // k spikes with c ∈ [3, 6]·(NM)^¼: well above the BBP threshold.
                    let scale = ((n * m) as f64).powf(0.25);
                    let mut g = rng(seed ^ 0xABCD);
                    for s in 0..k {
                        use rand::RngExt;
                        let c = 3.0 + 3.0 * s as f64 / k.max(1) as f64;
                        let u: Vec<f64> = (0..n).map(|_| g.random_range(-1.0..1.0)).collect();
                        let v: Vec<f64> = (0..m).map(|_| g.random_range(-1.0..1.0)).collect();
                        let (nu, nv) = (
                            u.iter().map(|x| x * x).sum::<f64>().sqrt(),
                            v.iter().map(|x| x * x).sum::<f64>().sqrt(),
                        );
                        for j in 0..m {
                            for i in 0..n {
                                w[(i, j)] += c * scale * u[i] / nu * v[j] / nv;
                            }
                        }
                    }
                    let ev: Vec<f64> = gram_eigenvalues(w.as_ref(), Solver::Auto, Precision::F64)
                        .unwrap()
                        .into_iter()
                        .map(|x| x / n as f64)
                        .collect();
                    let fit = fit_marchenko_pastur(&ev, n as f64 / m as f64, m, method).unwrap();
                    // True σ² = 1; in rescaled units σ_true = 1/√mean(λ).
                    let mean = ev.iter().sum::<f64>() / m as f64;
                    let sigma = fit.sigma_mp * mean.sqrt();
                    err += (sigma - 1.0).abs();
                    exact += (fit.num_spikes == k) as usize;
                    soft += fit.mp_softrank;
                }
                println!(
                    "| {n}×{m} | {k} | {method:?} | {:.4} | {exact}/{reps} | {:.3} |",
                    err / reps as f64,
                    soft / reps as f64
                );
            }
        }
    }
}
