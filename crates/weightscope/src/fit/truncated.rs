//! Three complements to the Clauset–Shalizi–Newman power-law fit of [`super::power_law`]:
//!
//! * [`fit_xmax_truncated`]: the MLE of a power law normalised on [xmin, xmax]
//!   (weightwatcher issue #103: its fit ignores xmax in the normalisation; the paper's
//!   footnote 17 says its Table 5 fits "set xmax = λmax"). Column `alpha_xmax`.
//! * [`alpha_hill`]: Hill's estimator of the tail index over the top k values. Column
//!   `alpha_hill`.
//! * [`bootstrap_pvalue`]: the semi-parametric bootstrap goodness-of-fit p-value of CSN §4.1.
//!   Column `pl_pvalue`.

use super::power_law::{fit_power_law, PlMethod, PowerLawFit};
use super::special::compensated_sum;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// A power law normalised on [xmin, xmax]: p(x) = (α−1) x^−α / (xmin^(1−α) − xmax^(1−α)).
/// Serialises to the column `alpha_xmax` only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct XmaxTruncatedFit {
    /// The MLE of α (any real value: α ≤ 1 is a proper density on a bounded range).
    pub alpha_xmax: f64,
    #[serde(skip)]
    pub xmin: f64,
    #[serde(skip)]
    pub xmax: f64,
    /// Number of values in [xmin, xmax].
    #[serde(skip)]
    pub n: usize,
    #[serde(skip)]
    pub loglikelihood: f64,
}

/// M(t) = 1/t − 1/(eᵗ − 1): the mean of u/U for the density ∝ e^{−tu/U} on [0, U].
/// Decreasing from 1 (t → −∞) through ½ (t = 0) to 0 (t → ∞).
fn mean_fraction(t: f64) -> f64 {
    if t.abs() < 0.1 {
        // ½ − Σ B₂ₖ t^{2k−1}/(2k)!; the next term is < 1e-20 here.
        let t2 = t * t;
        0.5 - t
            * (1.0 / 12.0
                - t2 * (1.0 / 720.0
                    - t2 * (1.0 / 30_240.0 - t2 * (1.0 / 1_209_600.0 - t2 / 47_900_160.0))))
    } else {
        1.0 / t - 1.0 / t.exp_m1()
    }
}

/// ln of a/(1 − e^{−aU}), the normaliser of the density of u = ln(x/xmin) on [0, U].
fn ln_norm_truncated(a: f64, big_u: f64) -> f64 {
    let t = a * big_u;
    if t.abs() < 1e-8 {
        -big_u.ln() + t / 2.0
    } else if a > 0.0 {
        a.ln() - (-(-t).exp_m1()).ln()
    } else if -t > 30.0 {
        (-a).ln() + t - (-(t).exp_m1()).ln()
    } else {
        (-a).ln() - (-t).exp_m1().ln()
    }
}

/// Maximum-likelihood α of a power law normalised on [xmin, xmax], fitted to the values of
/// `sorted` in [xmin, xmax]. In u = ln(x/xmin) the model is an exponential with rate
/// a = α − 1 truncated to [0, U], U = ln(xmax/xmin); the score equation is
/// E_a[u] = mean(u), i.e. M(aU) = mean(u)/U with M strictly decreasing, solved by bisection
/// to machine precision (the log-likelihood is concave in a, so the root is the maximum).
/// `None` if fewer than two values, or all at one end.
pub fn fit_xmax_truncated(sorted: &[f64], xmin: f64, xmax: f64) -> Option<XmaxTruncatedFit> {
    if !(xmin > 0.0 && xmax > xmin) {
        return None;
    }
    let lo_i = sorted.partition_point(|&v| v < xmin);
    let hi_i = sorted.partition_point(|&v| v <= xmax);
    let data = &sorted[lo_i..hi_i];
    if data.len() < 2 {
        return None;
    }
    let n = data.len() as f64;
    let big_u = (xmax / xmin).ln();
    let sum_u = compensated_sum(data.iter().map(|&x| (x / xmin).ln()));
    let target = sum_u / n / big_u;
    if !(target > 0.0 && target < 1.0) {
        return None;
    }
    // Bracket t = aU with M(lo) > target > M(hi).
    let (mut lo, mut hi) = (-1.0f64, 1.0f64);
    while mean_fraction(lo) <= target {
        lo *= 2.0;
        if lo < -1e300 {
            return None;
        }
    }
    while mean_fraction(hi) >= target {
        hi *= 2.0;
        if hi > 1e300 {
            return None;
        }
    }
    for _ in 0..300 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if mean_fraction(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let a = 0.5 * (lo + hi) / big_u;
    let sum_lnx = compensated_sum(data.iter().map(|x| x.ln()));
    let loglikelihood = n * ln_norm_truncated(a, big_u) - a * sum_u - sum_lnx;
    Some(XmaxTruncatedFit {
        alpha_xmax: 1.0 + a,
        xmin,
        xmax,
        n: data.len(),
        loglikelihood,
    })
}

/// The xmax-truncated fit on a power-law fit's own tail: [fit.xmin, fit.xmax] (xmax = λmax).
pub fn alpha_xmax(sorted: &[f64], fit: &PowerLawFit) -> Option<XmaxTruncatedFit> {
    fit_xmax_truncated(sorted, fit.xmin, fit.xmax)
}

/// Hill's estimator of the density exponent from the `k` largest values:
/// α = 1 + k / Σ_{i≤k} ln(x₍ᵢ₎/x₍ₖ₊₁₎), with x₍₁₎ ≥ x₍₂₎ ≥ … the order statistics
/// (Hill 1975 estimates the survival index 1/ξ = k/Σ ln(x₍ᵢ₎/x₍ₖ₊₁₎); a density ∝ x^−α has
/// survival index α − 1). `None` unless 1 ≤ k < n and the sum is positive.
pub fn alpha_hill(sorted: &[f64], k: usize) -> Option<f64> {
    let n = sorted.len();
    if k == 0 || k >= n {
        return None;
    }
    let threshold = sorted[n - k - 1];
    if threshold.is_nan() || threshold <= 0.0 {
        return None;
    }
    let s = compensated_sum(sorted[n - k..].iter().map(|&x| (x / threshold).ln()));
    if !s.is_finite() || s <= 0.0 {
        return None;
    }
    Some(1.0 + k as f64 / s)
}

/// Hill's estimator with k = the power-law tail size (`num_pl_spikes`, the values ≥ xmin),
/// so the threshold x₍ₖ₊₁₎ is the largest value below xmin. When the tail is the whole sample
/// there is no such value and k = n_tail − 1 is used (threshold = xmin itself), which makes
/// α_hill = 1 + (n−1)/Σ ln(x/xmin), CSN's MLE with the (n−1)/n bias correction.
pub fn alpha_hill_for_fit(sorted: &[f64], fit: &PowerLawFit) -> Option<f64> {
    let k = sorted.len() - sorted.partition_point(|&v| v < fit.xmin);
    let k = if k >= sorted.len() { k - 1 } else { k };
    alpha_hill(sorted, k)
}

/// Result of the bootstrap goodness-of-fit test. Serialises to the column `pl_pvalue` only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlGof {
    /// Fraction of synthetic data sets whose refitted D is ≥ the observed D (CSN: the power
    /// law is ruled out if this is ≤ 0.1).
    pub pl_pvalue: f64,
    /// Number of synthetic data sets that could be fitted (the denominator).
    #[serde(skip)]
    pub replicates: usize,
    #[serde(skip)]
    pub d_observed: f64,
}

/// One synthetic data set of CSN §4.1: n values; each is, with probability n_tail/n, drawn
/// from the fitted power law above xmin (inverse CDF xmin·(1−U)^(−1/(α−1))), and otherwise
/// drawn uniformly at random from the observed values below xmin.
fn synthetic_sample(sorted: &[f64], fit: &PowerLawFit, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let n = sorted.len();
    let below = &sorted[..fit.xmin_index.min(n)];
    let p_tail = (n - below.len()) as f64 / n as f64;
    let e = -1.0 / (fit.alpha - 1.0);
    let mut out: Vec<f64> = (0..n)
        .map(|_| {
            if below.is_empty() || rng.random::<f64>() < p_tail {
                let u: f64 = rng.random::<f64>();
                fit.xmin * (1.0 - u).powf(e)
            } else {
                below[rng.random_range(0..below.len())]
            }
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// CSN §4.1 goodness-of-fit p-value of the power-law hypothesis: `replicates` synthetic data
/// sets from the fitted model (see [`synthetic_sample`]) are each refitted with the same
/// method, xmin search included, and p = fraction with D ≥ the observed D. CSN recommend
/// 2500 replicates for p to ±0.01; 100 give ±0.05.
///
/// Deterministic: replicate b uses `ChaCha8Rng::seed_from_u64(seed)` on stream b, so the
/// result does not depend on the number of threads. `None` if `fit.alpha ≤ 1` or no
/// synthetic set could be fitted.
pub fn bootstrap_pvalue(
    sorted: &[f64],
    fit: &PowerLawFit,
    method: PlMethod,
    replicates: usize,
    seed: u64,
) -> Option<PlGof> {
    if fit.alpha.is_nan() || fit.alpha <= 1.0 || sorted.is_empty() || replicates == 0 {
        return None;
    }
    let results: Vec<Option<bool>> = (0..replicates)
        .into_par_iter()
        .map(|b| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(b as u64);
            let synth = synthetic_sample(sorted, fit, &mut rng);
            fit_power_law(&synth, method)
                .filter(|f| f.d.is_finite())
                .map(|f| f.d >= fit.d)
        })
        .collect();
    let fitted = results.iter().filter(|r| r.is_some()).count();
    if fitted == 0 {
        return None;
    }
    let hits = results.iter().filter(|r| **r == Some(true)).count();
    Some(PlGof {
        pl_pvalue: hits as f64 / fitted as f64,
        replicates: fitted,
        d_observed: fit.d,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_fraction_series_and_closed_form_agree_at_the_switch() {
        for t in [0.0999999, -0.0999999, 0.1000001, -0.1000001] {
            let closed = 1.0 / t - 1.0 / f64::exp_m1(t);
            assert!((mean_fraction(t) - closed).abs() < 1e-14, "{t}");
        }
        assert_eq!(mean_fraction(0.0), 0.5);
    }

    #[test]
    fn truncated_normaliser_integrates_to_one() {
        // ∫₀ᵁ e^{ln_norm − a u} du = 1, checked with a midpoint sum.
        for (a, big_u) in [
            (1.3, 2.0),
            (-0.7, 3.0),
            (1e-10, 1.5),
            (40.0, 1.0),
            (-40.0, 1.0),
        ] {
            let m = 200_000;
            let h = big_u / m as f64;
            let c = ln_norm_truncated(a, big_u);
            let s: f64 = (0..m)
                .map(|i| (c - a * (i as f64 + 0.5) * h).exp() * h)
                .sum();
            assert!((s - 1.0).abs() < 1e-8, "a={a} U={big_u}: {s}");
        }
    }
}
