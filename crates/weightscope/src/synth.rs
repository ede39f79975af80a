//! Generated weight matrices for each of the paper's 5+1 phases (Table 7), from its model
//! W ≃ W_rand + Δ_sig (Eqn. 13): a Gaussian "noise" matrix plus a "signal" of growing size and
//! correlation. Exposed as `weightscope synth`.
//!
//! Each phase is drawn with the definitions of the phase benchmark (docs/phases.md,
//! tools/make_phase_benchmark.py), the one the classifier is validated on, so that a matrix
//! `synth` calls Bulk-decay is one the benchmark would call so too; `synth` only keeps to
//! Gaussian noise and scale 1. Spike strengths follow the BBP transition of §5.3: a rank-one
//! term θ·u vᵀ (unit u, v) leaves the bulk only above θc = (NM)^¼ and, with t = (θ/θc)², puts
//! an outlier of X = WᵀW/N at λ = (t + √Q)(t√Q + 1)/(Q t) (σ² = 1), against λ⁺ = (1 + 1/√Q)²
//! (Eqn. 9).

use crate::diagnose::phase::Phase;
use crate::diagnose::randomization::rng;
use faer::Mat;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal, StudentT};

fn gaussian(n: usize, m: usize, rng: &mut ChaCha8Rng) -> Mat<f64> {
    Mat::from_fn(n, m, |_, _| StandardNormal.sample(rng))
}

/// λ⁺ for σ² = 1 (Eqn. 9).
fn mp_edge(q: f64) -> f64 {
    (1.0 + 1.0 / q.sqrt()).powi(2)
}

/// The outlier of a rank-one term of strength c = θ/θc, over λ⁺ (BBP, module docs).
fn outlier_ratio(c: f64, q: f64) -> f64 {
    let t = c * c;
    (t + q.sqrt()) * (t * q.sqrt() + 1.0) / (q * t) / mp_edge(q)
}

/// The strength c = θ/θc whose outlier lies at `ratio`·λ⁺ (inverse of [`outlier_ratio`]).
fn strength_for_ratio(ratio: f64, q: f64) -> f64 {
    let lam = ratio * mp_edge(q);
    let b = q * lam - 1.0 - q;
    let t = (b + (b * b - 4.0 * q).max(0.0).sqrt()) / (2.0 * q.sqrt());
    t.sqrt()
}

/// The Tracy–Widom scale of λmax relative to λ⁺ (Johnstone 2001).
fn tw_relative(n: usize, m: usize) -> f64 {
    let (sn, sm) = ((n as f64).sqrt(), (m as f64).sqrt());
    (1.0 / sn + 1.0 / sm).cbrt() / (sn + sm)
}

/// `k` orthonormal vectors of length `n` (Gram–Schmidt, twice for orthogonality to rounding),
/// as columns.
fn orthonormal(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Mat<f64> {
    let mut u = gaussian(n, k, rng);
    for j in 0..k {
        for _ in 0..2 {
            for i in 0..j {
                let dot: f64 = (0..n).map(|r| u[(r, i)] * u[(r, j)]).sum();
                for r in 0..n {
                    u[(r, j)] -= dot * u[(r, i)];
                }
            }
        }
        let norm = (0..n).map(|r| u[(r, j)] * u[(r, j)]).sum::<f64>().sqrt();
        for r in 0..n {
            u[(r, j)] /= norm;
        }
    }
    u
}

/// Add Σᵢ cᵢ θc uᵢ vᵢᵀ to `w`, with orthonormal uᵢ and vᵢ (so each term puts its own outlier
/// where [`outlier_ratio`] says).
fn add_spikes(w: &mut Mat<f64>, strengths: &[f64], rng: &mut ChaCha8Rng) {
    let (n, m) = (w.nrows(), w.ncols());
    let k = strengths.len().min(m);
    if k == 0 {
        return;
    }
    let theta_c = ((n * m) as f64).powf(0.25);
    let mut u = orthonormal(n, k, rng);
    let v = orthonormal(m, k, rng);
    for (j, c) in strengths.iter().take(k).enumerate() {
        for r in 0..n {
            u[(r, j)] *= c * theta_c;
        }
    }
    *w += &u * v.transpose();
}

fn log_uniform(lo: f64, hi: f64, rng: &mut ChaCha8Rng) -> f64 {
    rng.random_range(lo.ln()..=hi.ln()).exp()
}

/// An N × M matrix typical of `phase`, from `seed`, drawn as the phase benchmark defines the
/// phase (module docs). Shapes with M < 20 have too few eigenvalues for some of the
/// definitions; they get at least one spike.
pub fn synth_matrix(phase: Phase, n: usize, m: usize, seed: u64) -> Mat<f64> {
    let (n, m) = (n.max(m), n.min(m));
    let q = n as f64 / m as f64;
    let mut rng = rng(seed);
    match phase {
        Phase::RandomLike => gaussian(n, m, &mut rng),
        Phase::BleedingOut => {
            // K = 2–6 outliers just above λ⁺: between 4 Tracy–Widom scales above it and the
            // outlier of θ = 1.35 θc.
            let k = rng.random_range(2..=6usize);
            let lo = 1.0 + 4.0 * tw_relative(n, m);
            let hi = outlier_ratio(1.35, q).max(lo * 1.0001);
            let s: Vec<f64> = (0..k)
                .map(|_| strength_for_ratio(rng.random_range(lo..hi), q))
                .collect();
            let mut w = gaussian(n, m, &mut rng);
            add_spikes(&mut w, &s, &mut rng);
            w
        }
        Phase::BulkSpikes => {
            // K = 1–min(20, M/20) terms (K ≪ M), θ/θc log-uniform from 1.5 to the strength that
            // puts the outlier at 50 λ⁺.
            let k = rng.random_range(1..=(m / 20).clamp(1, 20));
            let cmax = strength_for_ratio(50.0, q);
            let s: Vec<f64> = (0..k).map(|_| log_uniform(1.5, cmax, &mut rng)).collect();
            let mut w = gaussian(n, m, &mut rng);
            add_spikes(&mut w, &s, &mut rng);
            w
        }
        Phase::BulkDecay => {
            // A rank-K signal, K = 10–30% of M, strengths decaying as a power law from an
            // outlier at 5–50 λ⁺ down to 0.5 θc: a continuum leaving the bulk plus far spikes
            // (§5.4).
            let k = ((m as f64 * rng.random_range(0.1..0.3)).round() as usize).max(2);
            let c1 = strength_for_ratio(log_uniform(5.0, 50.0, &mut rng), q);
            let gamma = (c1 / 0.5).ln() / (k as f64).ln();
            let s: Vec<f64> = (1..=k).map(|i| c1 * (i as f64).powf(-gamma)).collect();
            let mut w = gaussian(n, m, &mut rng);
            add_spikes(&mut w, &s, &mut rng);
            w
        }
        Phase::HeavyTailed => heavy_tailed(n, m, &mut rng),
        Phase::RankCollapse => {
            // Rank r = 5–60% of M (a product of Gaussian factors) plus noise 1e-7–1e-4 of the
            // entry scale: a large mass of eigenvalues at (numerically) zero (§5.6).
            let r = ((m as f64 * rng.random_range(0.05..0.6)).round() as usize).clamp(1, m);
            let a = gaussian(n, r, &mut rng);
            let b = gaussian(r, m, &mut rng);
            let mut w = &a * &b;
            w *= 1.0 / (r as f64).sqrt();
            let eps = log_uniform(1e-7, 1e-4, &mut rng);
            w += gaussian(n, m, &mut rng) * eps;
            w
        }
    }
}

/// I.i.d. heavy-tailed entries (§3.2, Eqn. 10): Pareto with tail exponent μ ∈ [0.5, 3.5] and
/// random signs, or Student-t with ν ∈ [1, 3.5]. A draw of finite variance is kept only if at
/// least max(4, 2% of M) entries have x² above the Gaussian edge σ²(√N + √M)² (each makes an
/// eigenvalue beyond the bulk); otherwise μ is redrawn, since at these sizes a matrix with μ
/// near 3.5 is an MP bulk with a handful of outliers, which Table 7 would not call so.
fn heavy_tailed(n: usize, m: usize, rng: &mut ChaCha8Rng) -> Mat<f64> {
    let edge2 = ((n as f64).sqrt() + (m as f64).sqrt()).powi(2);
    loop {
        let (w, mu) = if rng.random_bool(0.5) {
            let mu = rng.random_range(0.5..3.5);
            let w = Mat::from_fn(n, m, |_, _| {
                // |x| = U^(-1/μ), U uniform in (0, 1]: Pareto with x_min = 1.
                let u: f64 = 1.0 - rng.random::<f64>();
                let x = u.powf(-1.0 / mu);
                if rng.random_bool(0.5) {
                    x
                } else {
                    -x
                }
            });
            (w, mu)
        } else {
            let nu = rng.random_range(1.0..3.5);
            let t = StudentT::new(nu).expect("ν > 0");
            (Mat::from_fn(n, m, |_, _| t.sample(rng)), nu)
        };
        if mu <= 2.0 {
            return w;
        }
        let var = mu / (mu - 2.0);
        let beyond = (0..m)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .filter(|&(i, j)| w[(i, j)] * w[(i, j)] > var * edge2)
            .count();
        if beyond as f64 >= (0.02 * m as f64).max(4.0) {
            return w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbp_strength_inverts_the_outlier_location() {
        // c = 1 is the threshold itself: the outlier sits at the edge.
        for q in [1.0, 2.5, 8.0] {
            assert!((outlier_ratio(1.0, q) - 1.0).abs() < 1e-12);
            for ratio in [1.01, 2.0, 50.0] {
                let c = strength_for_ratio(ratio, q);
                assert!((outlier_ratio(c, q) - ratio).abs() < 1e-9, "{q} {ratio}");
            }
        }
    }

    #[test]
    fn spikes_are_orthonormal_directions() {
        let mut r = rng(3);
        let u = orthonormal(50, 7, &mut r);
        let g = u.transpose() * &u;
        for i in 0..7 {
            for j in 0..7 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((g[(i, j)] - want).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn same_seed_same_matrix() {
        for p in Phase::ALL {
            let a = synth_matrix(p, 60, 30, 7);
            let b = synth_matrix(p, 60, 30, 7);
            assert_eq!(a, b, "{p}");
            assert_eq!((a.nrows(), a.ncols()), (60, 30));
        }
    }
}
