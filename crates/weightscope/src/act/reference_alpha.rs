//! The α estimators of the AlphaPruning and TempBalance code (`net_esd_estimator` in
//! AlphaPruning's `lib/esd_utils.py` at 5f0e984 and TempBalance's `tempbalance.py` at
//! 9f0d9c7; the two are the same algorithm). They fit the same continuous power-law MLE as
//! weightwatcher (Clauset et al. 2009, Eqn. 3.1: α = 1 + n / Σ ln(λ_i/xmin)) but choose xmin
//! differently and measure the KS distance against k/n, so their α is not weightwatcher's:
//!
//! - [`alpha_mid`] (AlphaPruning's `alpha_mid`, TempBalance's default `pl_fitting='median'`):
//!   xmin is the eigenvalue at index ⌊N/xmin_pos⌋ of the ascending ESD (xmin_pos = 2: the
//!   median), no search.
//! - [`alpha_peak`] (AlphaPruning's default `alpha_peak`, TempBalance's `fix-finger`): xmin is
//!   searched, minimising the KS distance, among the eigenvalues up to 1.5× the left edge of
//!   the fullest bin of a 100-bin histogram of log10 λ. The reference's lower bound of that
//!   range is log10(0.95·peak) (a log compared with an eigenvalue), which is kept as is: it is
//!   what produced the published ratios, and it makes the search start, in practice, at the
//!   smallest eigenvalue.
//!
//! Both take the eigenvalues as the reference does with its defaults (`filter_zeros=False`):
//! all of them, ascending; they must be positive.

use serde::{Deserialize, Serialize};

/// Which reference estimator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ReferenceAlpha {
    /// The reference's `alpha_peak` (`xmin_peak` search).
    AlphaPeak,
    /// The reference's `alpha_mid` (xmin at the median eigenvalue).
    AlphaMid,
}

/// An α fit of a reference estimator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceFit {
    pub alpha: f64,
    /// The reference's KS distance max_k |1 − (λ_{i+k}/xmin)^(1−α) − k/n|.
    pub d: f64,
    pub xmin: f64,
}

/// The number of histogram bins of `alpha_peak` (the reference's `bins=100`).
pub const PEAK_BINS: usize = 100;

/// α with xmin at index ⌊N/xmin_pos⌋ of the ascending eigenvalues `sorted` (None if there are
/// fewer than 2 eigenvalues, one is not positive, or the tail is flat).
pub fn alpha_mid(sorted: &[f64], xmin_pos: f64) -> Option<ReferenceFit> {
    if sorted.len() < 2 || !valid(sorted) || xmin_pos.is_nan() || xmin_pos < 1.0 {
        return None;
    }
    // Python's int(len / xmin_pos): truncation toward zero of a non-negative float.
    let i = ((sorted.len() as f64 / xmin_pos) as usize).min(sorted.len() - 1);
    let logs: Vec<f64> = sorted.iter().map(|x| x.ln()).collect();
    let tail_sum: f64 = logs[i..].iter().sum();
    let (alpha, d) = fit_at(sorted, &logs, i, tail_sum);
    (alpha.is_finite() && d.is_finite()).then_some(ReferenceFit {
        alpha,
        d,
        xmin: sorted[i],
    })
}

/// α with xmin searched near the peak of the log10 histogram (see the module doc). None if
/// there are fewer than 2 eigenvalues or one is not positive. Like the reference, when no
/// candidate gives α > 1 the first candidate's α (or 0 if it was skipped) is returned with
/// D = 1.
pub fn alpha_peak(sorted: &[f64], bins: usize) -> Option<ReferenceFit> {
    let n_all = sorted.len();
    if n_all < 2 || !valid(sorted) || bins == 0 {
        return None;
    }
    let logs: Vec<f64> = sorted.iter().map(|x| x.ln()).collect();
    let peak = histc_peak_left_edge(sorted, bins);
    let (lo, hi) = ((0.95 * peak).log10(), 1.5 * peak);
    // Sums of the logs from each index to the end, accumulated from the left as the
    // reference's `torch.sum(log_nz_eigs[i:])` does for each i.
    let mut alphas = vec![0.0; n_all - 1];
    let mut ds = vec![1.0; n_all - 1];
    for (i, &xmin) in sorted[..n_all - 1].iter().enumerate() {
        if xmin < lo {
            continue;
        }
        if xmin > hi {
            break;
        }
        let tail_sum: f64 = logs[i..].iter().sum();
        let (alpha, d) = fit_at(sorted, &logs, i, tail_sum);
        alphas[i] = alpha;
        if alpha > 1.0 {
            ds[i] = d;
        }
    }
    // torch.argmin: the first of equal minima.
    let best = (0..ds.len()).fold(0, |b, i| if ds[i] < ds[b] { i } else { b });
    Some(ReferenceFit {
        alpha: alphas[best],
        d: ds[best],
        xmin: sorted[best],
    })
}

fn valid(sorted: &[f64]) -> bool {
    sorted.iter().all(|x| x.is_finite() && *x > 0.0) && sorted.windows(2).all(|w| w[0] <= w[1])
}

/// The MLE α with xmin = sorted[i] and the reference's KS distance.
fn fit_at(sorted: &[f64], logs: &[f64], i: usize, tail_sum: f64) -> (f64, f64) {
    let n = (sorted.len() - i) as f64;
    let alpha = 1.0 + n / (tail_sum - n * logs[i]);
    let xmin = sorted[i];
    let d = sorted[i..]
        .iter()
        .enumerate()
        .map(|(k, &x)| (1.0 - (x / xmin).powf(-alpha + 1.0) - k as f64 / n).abs())
        .fold(f64::NEG_INFINITY, f64::max);
    (alpha, d)
}

/// The left edge of the fullest bin of torch.histc(log10 λ, bins, min, max): equal-width bins
/// over [min, max], an element in bin ⌊(x − min)·bins/(max − min)⌋ (the maximum in the last
/// bin), the first of equal counts, edges as torch.linspace computes them. Returns 10^edge.
fn histc_peak_left_edge(sorted: &[f64], bins: usize) -> f64 {
    let logs: Vec<f64> = sorted.iter().map(|x| x.log10()).collect();
    let (min, max) = (logs[0], logs[logs.len() - 1]);
    let mut counts = vec![0usize; bins];
    if max > min {
        for &x in &logs {
            let pos = ((x - min) * bins as f64 / (max - min)) as usize;
            counts[pos.min(bins - 1)] += 1;
        }
    } else {
        // torch.histc widens an empty range by 1 on each side; everything lands in the
        // middle bin.
        counts[bins / 2] = logs.len();
    }
    let ih = (0..bins).fold(0, |b, i| if counts[i] > counts[b] { i } else { b });
    // The reference takes its edges from linspace(min, max) even when histc had to widen
    // the range.
    10f64.powf(linspace_at(min, max, bins + 1, ih))
}

/// torch.linspace(start, end, steps)[i]: from the start for the first half, from the end for
/// the second (so both ends are exact).
fn linspace_at(start: f64, end: f64, steps: usize, i: usize) -> f64 {
    let step = (end - start) / (steps - 1) as f64;
    let half = steps / 2;
    if i < half {
        start + step * i as f64
    } else {
        end - step * (steps - 1 - i) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_mid_of_a_pure_power_law_by_hand() {
        // λ = (1, 2, 4, 8): xmin = λ[2] = 4, n = 2, Σ ln(λ/xmin) = ln 2, α = 1 + 2/ln 2.
        let f = alpha_mid(&[1.0, 2.0, 4.0, 8.0], 2.0).unwrap();
        assert!((f.alpha - (1.0 + 2.0 / std::f64::consts::LN_2)).abs() < 1e-14);
        assert_eq!(f.xmin, 4.0);
    }

    #[test]
    fn non_positive_eigenvalues_give_none() {
        assert!(alpha_mid(&[0.0, 1.0, 2.0], 2.0).is_none());
        assert!(alpha_peak(&[-1.0, 1.0, 2.0], PEAK_BINS).is_none());
        assert!(alpha_peak(&[1.0], PEAK_BINS).is_none());
    }
}
