//! Generated weight matrices for each of the paper's 5+1 phases (Table 7), from its model
//! W ≃ W_rand + Δ_sig (Eqn. 13): a Gaussian "noise" matrix plus a "signal" of growing size and
//! correlation. Used to test the phase classifier and exposed as `weightscope synth`.
//!
//! Spike strengths follow the BBP transition of §5.3: a rank-one Δ of norm |Δ| pulls an
//! eigenvalue out of the bulk only if |Δ| > (NM)^¼, to λmax = σ²(1/Q + |Δ|²/N)(1 + N/|Δ|²)
//! (X = WᵀW/N). We write |Δ| = c·(NM)^¼: c slightly above 1 bleeds out of the edge, c ≫ 1
//! gives well-separated spikes.

use crate::diagnose::phase::Phase;
use crate::diagnose::randomization::rng;
use faer::Mat;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Pareto, StandardNormal};

fn gaussian(n: usize, m: usize, rng: &mut ChaCha8Rng) -> Mat<f64> {
    Mat::from_fn(n, m, |_, _| StandardNormal.sample(rng))
}

/// A random unit vector of length `n`.
fn unit(n: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let v: Vec<f64> = (0..n).map(|_| StandardNormal.sample(rng)).collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// The strength c (|Δ| = c·(NM)^¼) that puts a rank-one spike `t`·ΔλM above λ⁺, by
/// inverting the BBP formula: with s = c², λ = 1 + 1/Q + s/√Q + 1/(s√Q) (σ² = 1).
fn strength_for_gap(n: usize, m: usize, t: f64) -> f64 {
    let q = n as f64 / m as f64;
    let (_, lp) = crate::fit::marchenko_pastur::mp_edges(1.0, q);
    let lam = lp + t * crate::fit::marchenko_pastur::tracy_widom_margin(1.0, q, m);
    let r = lam - 1.0 - 1.0 / q;
    let s = (r * q.sqrt() + (r * r * q - 4.0).max(0.0).sqrt()) / 2.0;
    s.sqrt()
}

/// Add Σᵢ cᵢ (NM)^¼ uᵢ vᵢᵀ to `w` (random unit uᵢ, vᵢ).
fn add_spikes(w: &mut Mat<f64>, strengths: &[f64], rng: &mut ChaCha8Rng) {
    let (n, m) = (w.nrows(), w.ncols());
    let scale = ((n * m) as f64).powf(0.25);
    for &c in strengths {
        let (u, v) = (unit(n, rng), unit(m, rng));
        for j in 0..m {
            for i in 0..n {
                w[(i, j)] += c * scale * u[i] * v[j];
            }
        }
    }
}

/// An N × M matrix typical of `phase`, from `seed`. Shape parameters (number and strength of
/// spikes, tail exponent μ, rank) are drawn from ranges that make the phase unambiguous.
pub fn synth_matrix(phase: Phase, n: usize, m: usize, seed: u64) -> Mat<f64> {
    let (n, m) = (n.max(m), n.min(m));
    let mut rng = rng(seed);
    match phase {
        Phase::RandomLike => gaussian(n, m, &mut rng),
        Phase::BleedingOut => {
            // A few perturbations just past the BBP threshold, placed 3–5 ΔλM above λ⁺.
            let k = rng.random_range(2..=5usize).min(m / 16).max(2);
            let s: Vec<f64> = (0..k)
                .map(|_| strength_for_gap(n, m, rng.random_range(3.0..5.0)))
                .collect();
            let mut w = gaussian(n, m, &mut rng);
            add_spikes(&mut w, &s, &mut rng);
            w
        }
        Phase::BulkSpikes => {
            // One or a few (K ≪ M) strong perturbations: spikes well above λ⁺.
            let k = rng.random_range(1..=6usize).min(m / 40).max(1);
            let s: Vec<f64> = (0..k).map(|_| rng.random_range(2.5..5.0)).collect();
            let mut w = gaussian(n, m, &mut rng);
            add_spikes(&mut w, &s, &mut rng);
            w
        }
        Phase::BulkDecay => {
            // Many correlated directions of decaying strength: mass leaves the edge as a
            // continuum, with a few far spikes; elements mildly heavy-tailed.
            let k = (m / 6).max(4);
            let top = rng.random_range(3.0..4.5);
            let s: Vec<f64> = (0..k)
                .map(|i| 1.0 + (top - 1.0) * (1.0 - i as f64 / k as f64).powi(2))
                .collect();
            let mut w = gaussian(n, m, &mut rng);
            add_spikes(&mut w, &s, &mut rng);
            w
        }
        Phase::HeavyTailed => {
            // W_rand small, Δ with Pareto elements of tail exponent μ ∈ [1.5, 2.5] (Eqn. 10):
            // the very heavy and fat-tailed classes, where no MP bulk survives at these sizes
            // (for μ near 4 finite matrices still look MP-like, §3.2).
            let mu = rng.random_range(1.5..2.5);
            let pareto = Pareto::new(1.0, mu).expect("valid Pareto parameters");
            let mut w = Mat::from_fn(n, m, |_, _| {
                let x: f64 = pareto.sample(&mut rng);
                if rng.random_bool(0.5) {
                    x
                } else {
                    -x
                }
            });
            let noise = gaussian(n, m, &mut rng);
            w += noise * 0.1;
            w
        }
        Phase::RankCollapse => {
            // Over-regularised: rank r ≪ M, so most eigenvalues are (numerically) zero.
            let r = rng.random_range((m / 20).max(1)..=(m / 5).max(1));
            let a = gaussian(n, r, &mut rng);
            let b = gaussian(r, m, &mut rng);
            let mut w = &a * &b;
            w *= 1.0 / (r as f64).sqrt();
            w
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbp_strength_inverts_the_spike_location() {
        // t = 0 is the threshold itself, c = 1.
        assert!((strength_for_gap(800, 200, 0.0) - 1.0).abs() < 1e-9);
        let c = strength_for_gap(800, 200, 5.0);
        let (q, s) = (4.0f64, c * c);
        let lam = 1.0 + 1.0 / q + s / q.sqrt() + 1.0 / (s * q.sqrt());
        let (_, lp) = crate::fit::marchenko_pastur::mp_edges(1.0, q);
        let d = crate::fit::marchenko_pastur::tracy_widom_margin(1.0, q, 200);
        assert!((lam - (lp + 5.0 * d)).abs() < 1e-9);
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
