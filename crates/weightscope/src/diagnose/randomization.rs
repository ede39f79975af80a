//! The element-shuffled baseline (paper §5, §6.3): permuting the elements of W keeps their
//! distribution (and the Frobenius norm) but destroys the correlations training put in, so its
//! ESD is what the layer would show with no learned structure. Spikes that survive the
//! shuffle ("correlation traps") come from a few large elements, not from learning.

use crate::fit::marchenko_pastur::{fit_marchenko_pastur, MpMethod};
use crate::spectrum::{self, Precision, Solver};
use faer::Mat;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A seeded generator (ChaCha8: the same stream on every platform and thread count).
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Permute the elements of `w` (in place), keeping its shape and Frobenius norm: the
/// "shuffled" matrix whose ESD is random-like unless the element distribution is heavy-tailed.
pub fn shuffle_elements(w: &mut Mat<f64>, rng: &mut ChaCha8Rng) {
    let (n, m) = (w.nrows(), w.ncols());
    let mut v: Vec<f64> = (0..m)
        .flat_map(|j| (0..n).map(move |i| (i, j)))
        .map(|(i, j)| w[(i, j)])
        .collect();
    v.shuffle(rng);
    for j in 0..m {
        for i in 0..n {
            w[(i, j)] = v[j * n + i];
        }
    }
}

/// Columns of `--randomize`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RandomizationColumns {
    /// Largest eigenvalue of the shuffled ESD (over all shuffles).
    pub max_rand_eval: f64,
    /// Spikes of the shuffled ESD above its own MP edge: correlation traps.
    pub rand_num_spikes: usize,
    /// σ of the MP fit of the shuffled ESD (σ_shuf of §6.3, in units of the mean eigenvalue).
    pub rand_sigma_mp: f64,
    pub rand_mp_softrank: f64,
    pub rand_bulk_max: f64,
    /// max shuffled λ / λmax (weightwatcher's `ww_softrank`, first shuffle).
    pub ww_softrank: f64,
    /// λmax − max shuffled λ (weightwatcher's `ww_maxdist`, first shuffle).
    pub ww_maxdist: f64,
    /// weightwatcher's `rand_distance`: Jensen–Shannon distance between the two sorted
    /// eigenvalue vectors read as probability vectors (element by element, by rank).
    pub rand_distance: f64,
    /// Jensen–Shannon distance (natural log, in [0, √ln2]) between the two spectral
    /// distributions: histograms of log10 λ on a shared 100-bin grid. Unlike
    /// `rand_distance` it compares densities, so it is 0 for identical ESDs however sampled.
    pub rand_esd_distance: f64,
}

/// Seed of shuffle `replica` of map `slice` of layer `layer_id`: fixed by the run's seed and
/// the layer's identity, so results do not depend on the order layers are processed in.
pub fn shuffle_seed(seed: u64, layer_id: usize, slice: usize, replica: usize) -> u64 {
    let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
    for v in [layer_id as u64, slice as u64, replica as u64] {
        h = (h ^ v).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
    }
    h
}

/// The pooled ESD of the element-shuffled matrices, one ESD per replica.
pub fn shuffled_esds(
    mats: &[Mat<f64>],
    seed: u64,
    layer_id: usize,
    replicas: usize,
    solver: Solver,
    precision: Precision,
) -> Result<Vec<Vec<f64>>, spectrum::NoConvergence> {
    let mut out = Vec::with_capacity(replicas);
    for r in 0..replicas.max(1) {
        let mut pooled = Vec::new();
        for (k, w) in mats.iter().enumerate() {
            let mut s = w.clone();
            shuffle_elements(&mut s, &mut rng(shuffle_seed(seed, layer_id, k, r)));
            pooled.extend(spectrum::gram_eigenvalues(s.as_ref(), solver, precision)?);
        }
        pooled.sort_by(f64::total_cmp);
        out.push(pooled);
    }
    Ok(out)
}

fn kl(p: &[f64], m: &[f64]) -> f64 {
    p.iter()
        .zip(m)
        .filter(|(a, _)| **a > 0.0)
        .map(|(a, b)| a * (a / b).ln())
        .sum()
}

/// Jensen–Shannon distance of two non-negative vectors of equal length, each normalised to
/// sum 1 (scipy's `jensenshannon` with natural log).
pub fn jensen_shannon_distance(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq): (f64, f64) = (p.iter().sum(), q.iter().sum());
    let p: Vec<f64> = p.iter().map(|x| x / sp).collect();
    let q: Vec<f64> = q.iter().map(|x| x / sq).collect();
    let m: Vec<f64> = p.iter().zip(&q).map(|(a, b)| (a + b) / 2.0).collect();
    ((kl(&p, &m) + kl(&q, &m)) / 2.0).max(0.0).sqrt()
}

/// JS distance between the densities of log10 λ of two ESDs (positive eigenvalues only).
pub fn esd_distance(a: &[f64], b: &[f64]) -> f64 {
    let la: Vec<f64> = a.iter().filter(|&&x| x > 0.0).map(|x| x.log10()).collect();
    let lb: Vec<f64> = b.iter().filter(|&&x| x > 0.0).map(|x| x.log10()).collect();
    if la.is_empty() || lb.is_empty() {
        return f64::NAN;
    }
    let lo = la.iter().chain(&lb).fold(f64::INFINITY, |x, &y| x.min(y));
    let hi = la
        .iter()
        .chain(&lb)
        .fold(f64::NEG_INFINITY, |x, &y| x.max(y));
    let bins = 100;
    let hist = |v: &[f64]| {
        let mut h = vec![0.0; bins];
        for &x in v {
            let i = if hi > lo {
                (((x - lo) / (hi - lo)) * bins as f64) as usize
            } else {
                0
            };
            h[i.min(bins - 1)] += 1.0;
        }
        h
    };
    jensen_shannon_distance(&hist(&la), &hist(&lb))
}

/// The `--randomize` columns from the layer's ESD and its shuffled ESDs.
pub fn randomization_columns(
    evals: &[f64],
    shuffled: &[Vec<f64>],
    q: f64,
    m_cols: usize,
    method: MpMethod,
) -> Option<RandomizationColumns> {
    let first = shuffled.first()?;
    let lmax = *evals.last()?;
    let rmax1 = *first.last()?;
    let mut all: Vec<f64> = shuffled.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let max_rand_eval = *all.last()?;
    // The MP fit of the shuffled ESD uses one replica's eigenvalue count for its margin.
    let fit = fit_marchenko_pastur(first, q, m_cols, method)?;
    let rand_distance = if first.len() == evals.len() {
        jensen_shannon_distance(evals, first)
    } else {
        f64::NAN
    };
    Some(RandomizationColumns {
        max_rand_eval,
        rand_num_spikes: fit.num_spikes,
        rand_sigma_mp: fit.sigma_mp,
        rand_mp_softrank: fit.mp_softrank,
        rand_bulk_max: fit.bulk_max,
        ww_softrank: rmax1 / lmax,
        ww_maxdist: lmax - rmax1,
        rand_distance,
        rand_esd_distance: esd_distance(evals, &all),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::phase::Phase;
    use crate::synth::synth_matrix;

    #[test]
    fn shuffling_keeps_the_multiset_of_elements() {
        let mut w = synth_matrix(Phase::BulkSpikes, 20, 10, 1);
        let mut before: Vec<f64> = w
            .col_iter()
            .flat_map(|c| c.iter().copied().collect::<Vec<_>>())
            .collect();
        shuffle_elements(&mut w, &mut rng(3));
        let mut after: Vec<f64> = w
            .col_iter()
            .flat_map(|c| c.iter().copied().collect::<Vec<_>>())
            .collect();
        before.sort_by(f64::total_cmp);
        after.sort_by(f64::total_cmp);
        assert_eq!(before, after);
    }

    #[test]
    fn js_distance_hand_computed() {
        // p = (1, 0), q = (0, 1): m = (½, ½), KL = ln 2 each, distance √ln2.
        let d = jensen_shannon_distance(&[1.0, 0.0], &[0.0, 1.0]);
        assert!((d - 2f64.ln().sqrt()).abs() < 1e-15);
        assert_eq!(jensen_shannon_distance(&[1.0, 2.0], &[2.0, 4.0]), 0.0);
        assert_eq!(esd_distance(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), 0.0);
    }

    #[test]
    fn seeds_differ_by_layer_slice_and_replica() {
        let s = [
            shuffle_seed(0, 1, 0, 0),
            shuffle_seed(0, 2, 0, 0),
            shuffle_seed(0, 1, 1, 0),
            shuffle_seed(0, 1, 0, 1),
            shuffle_seed(1, 1, 0, 0),
        ];
        for i in 0..s.len() {
            for j in i + 1..s.len() {
                assert_ne!(s[i], s[j]);
            }
        }
    }
}
