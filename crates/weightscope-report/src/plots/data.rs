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

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values spread over [0, 5).
    fn values(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| (i as f64 * 0.618_033_988_7) % 1.0 * 5.0)
            .collect()
    }

    /// Counts of a density histogram normalised by `total`.
    fn counts(bins: &[(f64, f64, f64)], total: usize) -> Vec<f64> {
        bins.iter()
            .map(|&(l, r, h)| h * (r - l) * total as f64)
            .collect()
    }

    #[test]
    fn bin_count_grows_as_twice_the_square_root_within_bounds() {
        assert_eq!(bin_count(0), 8);
        assert_eq!(bin_count(1), 8);
        assert_eq!(bin_count(100), 20);
        assert_eq!(bin_count(1_000_000), MAX_BINS);
    }

    #[test]
    fn histogram_counts_sum_to_n_and_bins_tile_the_range() {
        let v = values(1000);
        let (lo, hi) = (
            finite_min(v.iter().copied()).unwrap(),
            finite_max(v.iter().copied()).unwrap(),
        );
        let bins = histogram(&v, lo, hi, 25, false, v.len());
        assert_eq!(bins.len(), 25);
        assert_eq!(bins[0].0, lo);
        assert!((bins[24].1 - hi).abs() < 1e-12);
        for w in bins.windows(2) {
            assert_eq!(w[0].1, w[1].0);
        }
        let c = counts(&bins, v.len());
        for x in &c {
            assert!((x - x.round()).abs() < 1e-9, "{c:?}");
        }
        // Every value is counted, the largest in the last bin.
        assert!((c.iter().sum::<f64>() - 1000.0).abs() < 1e-6);
        assert!(c[24] >= 1.0);
    }

    #[test]
    fn histogram_of_a_subset_integrates_to_its_share() {
        let v = values(400);
        let bins = histogram(&v[..100], 0.0, 5.0, 10, false, v.len());
        let area: f64 = bins.iter().map(|b| b.2 * (b.1 - b.0)).sum();
        assert!((area - 0.25).abs() < 1e-12);
    }

    #[test]
    fn log_histogram_skips_values_it_cannot_place() {
        let v = [
            -1.0,
            0.0,
            1e-3,
            0.01,
            0.1,
            1.0,
            10.0,
            100.0,
            1e3,
            1e4,
            f64::NAN,
        ];
        let bins = histogram(&v, 1e-3, 1e3, 6, true, v.len());
        // Bins equal in log10: one decade each.
        for (k, b) in bins.iter().enumerate() {
            assert!((b.0.log10() - (k as f64 - 3.0)).abs() < 1e-9, "{bins:?}");
        }
        let c = counts(&bins, v.len());
        assert!((c.iter().sum::<f64>() - 7.0).abs() < 1e-9, "{c:?}");
    }

    #[test]
    fn degenerate_histograms_are_empty() {
        assert!(histogram(&[1.0], 1.0, 1.0, 9, false, 1).is_empty());
        assert!(histogram(&[1.0], 0.0, 2.0, 0, false, 1).is_empty());
        assert!(histogram(&[1.0], 0.0, 2.0, 4, false, 0).is_empty());
        assert!(histogram(&[1.0], f64::NAN, 2.0, 4, false, 1).is_empty());
    }

    #[test]
    fn thinning_keeps_short_curves_whole() {
        assert_eq!(thin_indices(10, 20, None), (0..10).collect::<Vec<_>>());
        assert_eq!(thin_log_ranks(10, 20), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn thin_indices_keeps_the_ends_and_at_most_max() {
        for (n, max) in [(1000, 50), (601, 600), (10_000, 600), (3, 2)] {
            let t = thin_indices(n, max, None);
            assert!(t.len() <= max, "{n} {max}: {}", t.len());
            assert_eq!(t[0], 0);
            assert_eq!(t[t.len() - 1], n - 1);
            assert!(t.windows(2).all(|w| w[0] < w[1]));
        }
        // The kept index is added (at most one more than max).
        let t = thin_indices(1000, 50, Some(123));
        assert!(t.contains(&123) && t.len() <= 51);
        assert_eq!(
            thin_indices(1000, 50, Some(5000)),
            thin_indices(1000, 50, None)
        );
    }

    #[test]
    fn thin_log_ranks_keeps_the_ends_the_top_ranks_and_at_most_max() {
        let n = 10_000;
        let t = thin_log_ranks(n, 100);
        assert!(t.len() <= 100);
        assert_eq!(t[0], 0);
        assert_eq!(t[t.len() - 1], n - 1);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        // Dense at the largest eigenvalues (rank 1 = index n − 1).
        for r in 1..=3 {
            assert!(t.contains(&(n - r)), "rank {r} missing");
        }
    }

    #[test]
    fn finite_extrema_skip_non_finite_values() {
        let v = [f64::NAN, 2.0, f64::INFINITY, -1.0, f64::NEG_INFINITY];
        assert_eq!(finite_max(v.iter().copied()), Some(2.0));
        assert_eq!(finite_min(v.iter().copied()), Some(-1.0));
        assert_eq!(finite_max([f64::NAN].into_iter()), None);
        assert_eq!(finite_min(std::iter::empty()), None);
    }
}
