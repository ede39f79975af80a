//! Continuous power-law fit of the tail of an ESD, ρ(λ) ~ λ^-α (paper §3.2, Eqn. 10),
//! by the Clauset–Shalizi–Newman method: for every candidate xmin the maximum-likelihood
//! α = 1 + n / Σ ln(x/xmin) over the n values ≥ xmin, and the xmin whose fitted CDF
//! 1 − (x/xmin)^(1−α) is closest (Kolmogorov–Smirnov distance D) to the data is kept.
//!
//! Two variants are offered because users compare against two tools that differ:
//! * [`PlMethod::Ww`]: weightwatcher 0.7.x's `WWFit` — every value but the largest is a
//!   candidate (ties kept), one-sided KS against the lower empirical step k/n, and for
//!   fewer than 20 values its small-sample rule (tails of ≥ 8 values, bias-corrected
//!   α = 1 + (n−1)/Σ ln(x/xmin)).
//! * [`PlMethod::Powerlaw`]: the `powerlaw` package 2.0's method — distinct values but the
//!   two largest as candidates, the empirical CDF renormalised at xmin, two-sided D = max(D+, D−), and its
//!   α range [0, 3]: candidates whose MLE reaches 3 are invalid (powerlaw refits them
//!   numerically onto the bound and flags them). We keep the closed-form MLE, the exact
//!   maximiser of the likelihood, where powerlaw refits numerically for α ≤ 1.5; that moves α
//!   only by its optimiser's tolerance.
//!
//! Cost: the naive scan is O(n²). α is O(1) per candidate with compensated suffix sums of
//! ln x, and D is evaluated in blocks that stop as soon as the running maximum exceeds the
//! best D found so far: such a candidate cannot win, so the chosen xmin, α and D are
//! exactly those of the exhaustive scan (tested against it).

use serde::{Deserialize, Serialize};

/// Which tool's variant of the Clauset–Shalizi–Newman fit to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PlMethod {
    /// weightwatcher 0.7.x (WWFit): the default, numbers match weightwatcher.
    #[default]
    Ww,
    /// the `powerlaw` package: unique xmin candidates, two-sided KS.
    ///
    /// The `powerlaw` package of Alstott et al., analytic MLE.
    Powerlaw,
}

/// Result of a power-law fit of a sorted sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PowerLawFit {
    /// Tail exponent α of ρ(x) ~ x^-α.
    pub alpha: f64,
    /// Lower bound of the fitted tail.
    pub xmin: f64,
    /// Largest value used in the fit.
    pub xmax: f64,
    /// Kolmogorov–Smirnov distance between the tail and the fitted CDF.
    pub d: f64,
    /// Asymptotic standard error of α, (α − 1)/√n.
    pub sigma: f64,
    /// Number of values in the tail (x ≥ xmin).
    pub n_tail: usize,
    /// Index of xmin in the sorted sample.
    pub xmin_index: usize,
}

/// The D and α of every candidate xmin (for plots of how the fit chose xmin).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct XminScan {
    pub xmins: Vec<f64>,
    pub alphas: Vec<f64>,
    pub ds: Vec<f64>,
}

/// Upper bound of α in the `powerlaw` package 2.0 (its `Power_Law` parameter range [0, 3]).
pub const POWERLAW_ALPHA_MAX: f64 = 3.0;
/// Below this many values weightwatcher 0.7.7 switches to its small-sample rule.
pub const WW_SMALL_N_CUTOFF: usize = 20;
/// Smallest tail the small-sample rule accepts.
pub const WW_SMALL_N_MIN_TAIL: usize = 8;

/// Fit a power law to `sorted` (ascending, all > 0, finite). Returns `None` when no fit is
/// possible (fewer than 2 values, or no candidate with α > 1 in the `powerlaw` variant with
/// fewer than two distinct values).
pub fn fit_power_law(sorted: &[f64], method: PlMethod) -> Option<PowerLawFit> {
    debug_assert!(sorted.windows(2).all(|w| w[0] <= w[1]));
    if sorted.len() < 2 {
        return None;
    }
    match method {
        PlMethod::Ww if sorted.len() < WW_SMALL_N_CUTOFF => fit_ww_small_n(sorted),
        PlMethod::Ww => fit_ww_standard(sorted),
        PlMethod::Powerlaw => fit_powerlaw_package(sorted),
    }
}

/// Suffix sums of ln x with Neumaier compensation, so α = 1 + n/(S_i − n ln x_i) is accurate
/// even where S_i and n ln x_i nearly cancel. `out[i] = Σ_{j ≥ i} ln x_j`, `out[n] = 0`.
fn log_suffix_sums(logs: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; logs.len() + 1];
    let (mut sum, mut comp) = (0.0f64, 0.0f64);
    for i in (0..logs.len()).rev() {
        let v = logs[i];
        let t = sum + v;
        if sum.abs() >= v.abs() {
            comp += (sum - t) + v;
        } else {
            comp += (v - t) + sum;
        }
        sum = t;
        out[i] = sum + comp;
    }
    out
}

/// numpy's argmin: the first minimum, and a NaN counts as the minimum (first NaN wins).
fn numpy_argmin(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v.is_nan() {
            return i;
        }
        if v < values[best] {
            best = i;
        }
    }
    best
}

const BLOCK: usize = 64;

/// max_k |1 − exp((1−α)(ln x_{i+k} − ln x_i)) − k/n| over the tail starting at `i`
/// (weightwatcher's one-sided KS against the lower empirical step), stopping early and
/// returning a value ≥ `bound` once the running maximum reaches `bound`.
fn ww_ks_distance(logs: &[f64], i: usize, alpha: f64, bound: f64) -> f64 {
    let tail = &logs[i..];
    let n = tail.len() as f64;
    let lx0 = tail[0];
    let e = 1.0 - alpha;
    let mut dmax = 0.0f64;
    let mut nan = false;
    for (b, chunk) in tail.chunks(BLOCK).enumerate() {
        let k0 = b * BLOCK;
        let mut m = 0.0f64;
        for (j, &lx) in chunk.iter().enumerate() {
            let v = (1.0 - (e * (lx - lx0)).exp() - (k0 + j) as f64 / n).abs();
            nan |= v.is_nan();
            m = m.max(v);
        }
        dmax = dmax.max(m);
        if dmax >= bound {
            break;
        }
    }
    if nan {
        f64::NAN
    } else {
        dmax
    }
}

fn ww_alpha(suffix: &[f64], logs: &[f64], i: usize, bias_corrected: bool) -> f64 {
    let n = (logs.len() - i) as f64;
    let s = suffix[i] - n * logs[i];
    if bias_corrected {
        1.0 + (n - 1.0) / s
    } else {
        1.0 + n / s
    }
}

fn fit_ww_standard(sorted: &[f64]) -> Option<PowerLawFit> {
    let logs: Vec<f64> = sorted.iter().map(|x| x.ln()).collect();
    let suffix = log_suffix_sums(&logs);
    let n_all = sorted.len();
    let mut best_i = 0usize;
    let mut best_d = f64::INFINITY;
    for i in 0..n_all - 1 {
        let alpha = ww_alpha(&suffix, &logs, i, false);
        // weightwatcher leaves D = 1 for candidates with α ≤ 1.
        let d = if alpha > 1.0 {
            ww_ks_distance(&logs, i, alpha, best_d)
        } else {
            1.0
        };
        if d.is_nan() {
            // numpy's argmin returns the first NaN.
            best_i = i;
            best_d = f64::NAN;
            break;
        }
        if d < best_d {
            best_d = d;
            best_i = i;
        }
    }
    let alpha = ww_alpha(&suffix, &logs, best_i, false);
    let n_tail = n_all - best_i;
    Some(PowerLawFit {
        alpha,
        xmin: sorted[best_i],
        xmax: sorted[n_all - 1],
        d: best_d,
        sigma: (alpha - 1.0) / (n_tail as f64).sqrt(),
        n_tail,
        xmin_index: best_i,
    })
}

/// weightwatcher 0.7.7's small-sample rule. Its J objective is computed but then overridden
/// by an argmin over D in `WWFit.__init__`; we reproduce the effective behaviour: xmin by
/// smallest D among tails of ≥ 8 values with Σ ln(x/xmin) > 1e-12 (others count as D = 1),
/// α bias-corrected.
fn fit_ww_small_n(sorted: &[f64]) -> Option<PowerLawFit> {
    let logs: Vec<f64> = sorted.iter().map(|x| x.ln()).collect();
    let suffix = log_suffix_sums(&logs);
    let n_all = sorted.len();
    let mut alphas = vec![0.0; n_all - 1];
    let mut ds = vec![1.0; n_all - 1];
    let mut any_valid = false;
    for i in 0..n_all - 1 {
        let n_tail = n_all - i;
        if n_tail < WW_SMALL_N_MIN_TAIL {
            continue;
        }
        let s = suffix[i] - n_tail as f64 * logs[i];
        if s <= 1e-12 {
            continue;
        }
        let alpha = ww_alpha(&suffix, &logs, i, true);
        alphas[i] = alpha;
        if alpha <= 1.0 {
            continue;
        }
        ds[i] = ww_ks_distance(&logs, i, alpha, f64::INFINITY);
        any_valid = true;
    }
    if !any_valid {
        // Whole sample as the tail, as weightwatcher falls back to.
        let s = suffix[0] - n_all as f64 * logs[0];
        if s > 1e-12 {
            let alpha = ww_alpha(&suffix, &logs, 0, true);
            alphas[0] = alpha;
            ds[0] = ww_ks_distance(&logs, 0, alpha, f64::INFINITY);
        }
    }
    let i = numpy_argmin(&ds);
    let alpha = alphas[i];
    let n_tail = n_all - i;
    // weightwatcher reports α = 0 when even the whole sample has no spread; that is no fit.
    if alpha <= 1.0 || !alpha.is_finite() {
        return None;
    }
    Some(PowerLawFit {
        alpha,
        xmin: sorted[i],
        xmax: sorted[n_all - 1],
        d: ds[i],
        sigma: (alpha - 1.0) / (n_tail as f64).sqrt(),
        n_tail,
        xmin_index: i,
    })
}

/// Two-sided KS distance of the `powerlaw` package at candidate xmin = `uniq[u]`:
/// empirical CDF on unique values renormalised to 0 at xmin, theoretical 1 − (x/xmin)^(1−α).
/// `cdf[u]` is the fraction of the sample < `uniq[u]`.
fn powerlaw_ks_distance(uniq_logs: &[f64], cdf: &[f64], u: usize, alpha: f64, bound: f64) -> f64 {
    let f0 = cdf[u];
    let denom = 1.0 - f0;
    let lx0 = uniq_logs[u];
    let e = 1.0 - alpha;
    let (mut dplus, mut dminus) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut nan = false;
    for (b, chunk) in uniq_logs[u..].chunks(BLOCK).enumerate() {
        let base = u + b * BLOCK;
        for (j, &lx) in chunk.iter().enumerate() {
            let emp = (cdf[base + j] - f0) / denom;
            let diff = (1.0 - (e * (lx - lx0)).exp()) - emp;
            nan |= diff.is_nan();
            dplus = dplus.max(diff);
            dminus = dminus.max(-diff);
        }
        if dplus.max(dminus) >= bound {
            break;
        }
    }
    if nan {
        f64::NAN
    } else {
        dplus.max(dminus)
    }
}

/// The first index of each distinct value of `sorted`, and the empirical CDF there,
/// F(x) = #(values < x)/n: the `powerlaw` package 2.0's CDF on unique values (the lower step;
/// 1.x used #(values ≤ x)/n). Renormalised at xmin it is k/n_tail, weightwatcher's step.
fn unique_cdf(sorted: &[f64]) -> (Vec<usize>, Vec<f64>) {
    let n = sorted.len();
    let (mut first, mut cdf) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && sorted[j + 1] == sorted[i] {
            j += 1;
        }
        first.push(i);
        cdf.push(i as f64 / n as f64);
        i = j + 1;
    }
    (first, cdf)
}

fn fit_powerlaw_package(sorted: &[f64]) -> Option<PowerLawFit> {
    let n_all = sorted.len();
    let logs: Vec<f64> = sorted.iter().map(|x| x.ln()).collect();
    let suffix = log_suffix_sums(&logs);
    let (uniq_first, cdf) = unique_cdf(sorted);
    // powerlaw's candidates are the distinct values below the maximum, less the last one:
    // every distinct value but the two largest; it gives up with fewer than two.
    let candidates = uniq_first.len().saturating_sub(2);
    if candidates < 2 {
        return None;
    }
    let uniq_logs: Vec<f64> = uniq_first.iter().map(|&i| logs[i]).collect();
    // powerlaw 2.0 bounds α to [0, 3]: a candidate whose MLE is ≥ 3 is refitted numerically,
    // lands on the bound and is flagged invalid. It keeps the best D among valid candidates,
    // or, if none is valid, the best D over all with α clamped at the bound.
    let (mut best_valid, mut best_valid_d) = (None, f64::INFINITY);
    let (mut best_any, mut best_any_d) = (0usize, f64::INFINITY);
    for (u, &i) in uniq_first[..candidates].iter().enumerate() {
        let alpha = ww_alpha(&suffix, &logs, i, false);
        let valid = alpha > 1.0 && alpha < POWERLAW_ALPHA_MAX;
        let alpha = alpha.min(POWERLAW_ALPHA_MAX);
        // Stopping early is exact: a partial D ≥ the bound cannot beat the best so far, and
        // best_any ≤ best_valid always.
        let bound = if valid { best_valid_d } else { best_any_d };
        let d = powerlaw_ks_distance(&uniq_logs, &cdf, u, alpha, bound);
        if d < best_any_d {
            best_any_d = d;
            best_any = u;
        }
        if valid && d < best_valid_d {
            best_valid_d = d;
            best_valid = Some(u);
        }
    }
    let u = best_valid.unwrap_or(best_any);
    let i = uniq_first[u];
    let alpha = ww_alpha(&suffix, &logs, i, false).min(POWERLAW_ALPHA_MAX);
    let d = powerlaw_ks_distance(&uniq_logs, &cdf, u, alpha, f64::INFINITY);
    let n_tail = n_all - i;
    Some(PowerLawFit {
        alpha,
        xmin: sorted[i],
        xmax: sorted[n_all - 1],
        d,
        sigma: (alpha - 1.0) / (n_tail as f64).sqrt(),
        n_tail,
        xmin_index: i,
    })
}

/// D and α for every candidate xmin, without early stopping (for plots and tests).
pub fn scan_xmin(sorted: &[f64], method: PlMethod) -> XminScan {
    let mut scan = XminScan::default();
    if sorted.len() < 2 {
        return scan;
    }
    let logs: Vec<f64> = sorted.iter().map(|x| x.ln()).collect();
    let suffix = log_suffix_sums(&logs);
    match method {
        PlMethod::Ww => {
            let small = sorted.len() < WW_SMALL_N_CUTOFF;
            for i in 0..sorted.len() - 1 {
                let n_tail = sorted.len() - i;
                if small && n_tail < WW_SMALL_N_MIN_TAIL {
                    continue;
                }
                let alpha = ww_alpha(&suffix, &logs, i, small);
                let d = if alpha > 1.0 {
                    ww_ks_distance(&logs, i, alpha, f64::INFINITY)
                } else {
                    1.0
                };
                scan.xmins.push(sorted[i]);
                scan.alphas.push(alpha);
                scan.ds.push(d);
            }
        }
        PlMethod::Powerlaw => {
            let (uniq_first, cdf) = unique_cdf(sorted);
            let uniq_logs: Vec<f64> = uniq_first.iter().map(|&i| logs[i]).collect();
            let candidates = uniq_first.len().saturating_sub(2);
            for (u, &i) in uniq_first[..candidates].iter().enumerate() {
                let alpha = ww_alpha(&suffix, &logs, i, false).min(POWERLAW_ALPHA_MAX);
                scan.xmins.push(sorted[i]);
                scan.alphas.push(alpha);
                scan.ds.push(powerlaw_ks_distance(
                    &uniq_logs,
                    &cdf,
                    u,
                    alpha,
                    f64::INFINITY,
                ));
            }
        }
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic Pareto sample by inverse CDF on an evenly spread grid of quantiles.
    fn pareto_quantiles(n: usize, alpha: f64, xmin: f64) -> Vec<f64> {
        let mut v: Vec<f64> = (0..n)
            .map(|k| {
                let u = (k as f64 + 0.5) / n as f64;
                xmin * (1.0 - u).powf(-1.0 / (alpha - 1.0))
            })
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    /// The exhaustive reference: argmin over the full scan.
    fn exhaustive(sorted: &[f64], method: PlMethod) -> (f64, f64, f64) {
        let scan = scan_xmin(sorted, method);
        let mut ds = scan.ds.clone();
        if method == PlMethod::Powerlaw && scan.alphas.iter().any(|&a| a < POWERLAW_ALPHA_MAX) {
            // powerlaw keeps the best valid (α < 3) candidate when there is one.
            for (d, &a) in ds.iter_mut().zip(&scan.alphas) {
                if a >= POWERLAW_ALPHA_MAX {
                    *d = f64::INFINITY;
                }
            }
        }
        let i = numpy_argmin(&ds);
        (scan.xmins[i], scan.alphas[i], scan.ds[i])
    }

    #[test]
    fn pruned_scan_equals_exhaustive_scan() {
        for (n, a) in [(50, 1.8), (300, 2.5), (2000, 4.0), (40, 6.0)] {
            let mut x = pareto_quantiles(n, a, 1.0);
            // Put a bulk under the tail so xmin is not trivially the first point.
            x.extend((1..n).map(|k| 0.2 + 0.8 * k as f64 / n as f64));
            x.sort_by(f64::total_cmp);
            for m in [PlMethod::Ww, PlMethod::Powerlaw] {
                let f = fit_power_law(&x, m).unwrap();
                let (xmin, alpha, d) = exhaustive(&x, m);
                assert_eq!(f.xmin, xmin, "{n} {a} {m:?}");
                assert_eq!(f.alpha, alpha);
                assert_eq!(f.d, d);
            }
        }
    }

    #[test]
    fn recovers_exponent_of_pure_pareto_sample() {
        // For an exact Pareto sample the MLE over the whole sample (xmin = min) is close to α.
        let x = pareto_quantiles(5000, 2.5, 1.0);
        let f = fit_power_law(&x, PlMethod::Ww).unwrap();
        assert!((f.alpha - 2.5).abs() < 0.1, "alpha {}", f.alpha);
    }

    #[test]
    fn hand_computed_two_point_tail() {
        // Small-N path: the whole 8-value sample is the only admissible tail.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let f = fit_power_law(&x, PlMethod::Ww).unwrap();
        let s: f64 = x.iter().map(|v: &f64| v.ln()).sum();
        let alpha = 1.0 + 7.0 / s;
        assert_eq!(f.xmin, 1.0);
        assert!((f.alpha - alpha).abs() < 1e-14);
        let d = x
            .iter()
            .enumerate()
            .map(|(k, v)| (1.0 - v.powf(1.0 - alpha) - k as f64 / 8.0).abs())
            .fold(0.0, f64::max);
        assert!((f.d - d).abs() < 1e-14);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        assert!(fit_power_law(&[], PlMethod::Ww).is_none());
        assert!(fit_power_law(&[1.0], PlMethod::Ww).is_none());
        assert!(fit_power_law(&[2.0; 30], PlMethod::Powerlaw).is_none());
        let _ = fit_power_law(&[2.0; 30], PlMethod::Ww);
        assert!(fit_power_law(&[2.0; 10], PlMethod::Ww).is_none());
    }

    #[test]
    fn suffix_sums_are_compensated() {
        let logs = vec![1e16, 1.0, -1e16, 1.0];
        let s = log_suffix_sums(&logs);
        assert_eq!(s[0], 2.0);
        assert_eq!(s[3], 1.0);
    }
}
