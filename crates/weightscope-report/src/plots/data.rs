//! Data helpers for the figures: histogram binning and the thinning of long curves, so a
//! plot's size does not grow with the number of eigenvalues; finite extrema.

use super::MAX_BINS;

/// Number of histogram bins for n values.
pub(super) fn bin_count(n: usize) -> usize {
    ((2.0 * (n as f64).sqrt()).round() as usize).clamp(8, MAX_BINS)
}

/// Density histogram of `values` over [lo, hi] (`log`: bins equal in log10), normalised by
/// `total` values (so that the bins of a subset integrate to its share).
pub(super) fn histogram(
    values: &[f64],
    lo: f64,
    hi: f64,
    nb: usize,
    log: bool,
    total: usize,
) -> Vec<(f64, f64, f64)> {
    let (a, b) = if log {
        (lo.log10(), hi.log10())
    } else {
        (lo, hi)
    };
    if a.is_nan() || b.is_nan() || b <= a || nb == 0 || total == 0 {
        return Vec::new();
    }
    let w = (b - a) / nb as f64;
    let mut counts = vec![0usize; nb];
    for &v in values {
        let d = if log {
            if v <= 0.0 {
                continue;
            }
            v.log10()
        } else {
            v
        };
        if !d.is_finite() || d < a - 1e-12 * w.abs() || d > b + 1e-12 * w.abs() {
            continue;
        }
        let i = (((d - a) / w) as usize).min(nb - 1);
        counts[i] += 1;
    }
    let edge = |i: usize| {
        let d = a + w * i as f64;
        if log {
            10f64.powf(d)
        } else {
            d
        }
    };
    (0..nb)
        .map(|i| {
            let (l, r) = (edge(i), edge(i + 1));
            (l, r, counts[i] as f64 / (total as f64 * (r - l)))
        })
        .collect()
}

/// At most `max` indices of 0..n, evenly spread, always with the first and last, plus `keep`.
pub(super) fn thin_indices(n: usize, max: usize, keep: Option<usize>) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..max)
        .map(|k| ((k as f64) * (n - 1) as f64 / (max - 1) as f64).round() as usize)
        .collect();
    v.extend(keep.filter(|&k| k < n));
    v.sort_unstable();
    v.dedup();
    v
}

/// Indices for a log-scaled rank axis: every index among the top `dense`, then log-spaced.
pub(super) fn thin_log_ranks(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = Vec::with_capacity(max + 1);
    for k in 0..max {
        // Ranks r = n − i from 1 to n, log-spaced.
        let r = ((n as f64).ln() * k as f64 / (max - 1) as f64)
            .exp()
            .round() as usize;
        v.push(n - r.clamp(1, n));
    }
    v.sort_unstable();
    v.dedup();
    v
}

pub(super) fn finite_max(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
        .fold(None, |m, x| Some(m.map_or(x, |m: f64| m.max(x))))
}

pub(super) fn finite_min(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
        .fold(None, |m, x| Some(m.map_or(x, |m: f64| m.min(x))))
}
