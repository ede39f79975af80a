//! weightwatcher's `fix_fingers` options, which keep a few outlying top eigenvalues
//! ("fingers": finite-size outliers or strong spikes) from spoiling the power-law fit of the
//! tail (weightwatcher 0.7.7, `RMT_Util.fit_clipped_powerlaw` and the `xmin_peak` branch of
//! `WeightWatcher.fit_powerlaw`; audit §3.4). Same rules, without weightwatcher's bugs:
//!
//! **clip-xmax** ([`clip_xmax`]). Fit the ESD; then refit without the k largest eigenvalues for
//! k = 1, 2, …, `max_fingers`, and accept the first k whose α has dropped by more than
//! `finger_thresh` below the first fit's; stop (keeping the first fit) as soon as a refit has
//! α ≤ `min_alpha`, or when the data left are too few to fit. Differences from weightwatcher
//! 0.7.7 (tests/fixtures/diagnosis/README.md, "Surprises"):
//! * `num_fingers` is the number of eigenvalues actually removed, k; weightwatcher reports k − 1
//!   (conv_64x32x3x3: 3 removed, reports 2; gauss_400x400: 2 removed, reports 1).
//! * k = 1 is tried; weightwatcher starts at 2, so it can never remove exactly one finger.
//! * `max_fingers` is honoured and k = `max_fingers` is tried; weightwatcher resets any value
//!   < n/2 to 10 and its `range(2, max_fingers)` stops at 9.
//! * Running out of data ends the search and keeps the first fit; weightwatcher raises on a
//!   one-value fit and fails the layer (example fc_layers.2, 10 eigenvalues).
//! * The three extra "robustness" refits after the loop, which only log in weightwatcher but
//!   can fail the layer, are not done.
//!
//! **xmin-peak** ([`xmin_peak`]). xmin is searched only near the peak of the ESD on a log
//! scale: the peak is the left edge of the fullest of 100 equal bins of log10 λ
//! (`numpy.histogram`), xmin2 = 10^edge, and the candidate xmins are those in
//! [0.95·xmin2, 1.5·xmin2] **in linear units**. weightwatcher passes
//! (log10(0.95·xmin2), 1.5·xmin2), a log10 lower bound with a linear upper bound, so in effect
//! every value below 1.5·xmin2 is a candidate. (In 0.7.7 the option fails on every layer
//! anyway: with powerlaw 2.0 because weightwatcher passes it an unknown `distribution=`
//! argument, and with its own WWFit because a tuple xmin cannot be snapped to the data.)
//! When no candidate falls in the range (tiny layers), we use the candidate nearest to xmin2,
//! as WWFit snaps a requested xmin to the nearest value; powerlaw fails there ("No data
//! points in defined range"). The fits use the chosen [`PlMethod`]'s candidates, α and D.

use super::power_law::{fit_power_law, scan_xmin, PlMethod, PowerLawFit, POWERLAW_ALPHA_MAX};
use serde::{Deserialize, Serialize};

/// Parameters of clip-xmax (weightwatcher's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClipXmaxOptions {
    /// Largest number of top eigenvalues that may be removed.
    pub max_fingers: usize,
    /// α must drop by more than this to accept a clip.
    pub finger_thresh: f64,
    /// Stop searching once a clipped fit has α ≤ this.
    pub min_alpha: f64,
}

impl Default for ClipXmaxOptions {
    fn default() -> Self {
        ClipXmaxOptions {
            max_fingers: 10,
            finger_thresh: 1.0,
            min_alpha: 2.0,
        }
    }
}

/// Result of clip-xmax. Serialises to the columns `num_fingers` and `raw_alpha`; `fit` is the
/// fit to report in the usual columns (its `xmax` is the largest eigenvalue kept, and its
/// `n_tail` counts only kept values: weightwatcher's `num_pl_spikes` counts all values ≥ xmin,
/// clipped ones included, which is `fit.n_tail + num_fingers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipXmaxFit {
    #[serde(skip)]
    pub fit: Option<PowerLawFit>,
    /// Number of top eigenvalues removed (0: the first fit is kept).
    pub num_fingers: usize,
    /// α of the fit on all eigenvalues.
    pub raw_alpha: f64,
    /// α of each refit tried, k = 1, 2, … (`None`: no fit possible, the search stopped).
    #[serde(skip)]
    pub tried: Vec<Option<f64>>,
}

/// clip-xmax on `sorted` (ascending, > 0). `None` if the first fit fails.
pub fn clip_xmax(sorted: &[f64], method: PlMethod, opts: &ClipXmaxOptions) -> Option<ClipXmaxFit> {
    let first = fit_power_law(sorted, method)?;
    let n = sorted.len();
    let mut out = ClipXmaxFit {
        fit: Some(first),
        num_fingers: 0,
        raw_alpha: first.alpha,
        tried: Vec::new(),
    };
    for k in 1..=opts.max_fingers {
        if n < k + 2 {
            break;
        }
        let Some(fit) = fit_power_law(&sorted[..n - k], method) else {
            out.tried.push(None);
            break;
        };
        out.tried.push(Some(fit.alpha));
        if fit.alpha + opts.finger_thresh < first.alpha {
            out.fit = Some(fit);
            out.num_fingers = k;
            break;
        }
        if fit.alpha <= opts.min_alpha {
            break;
        }
    }
    Some(out)
}

/// The fullest bin of `numpy.histogram(log10(x), bins)` (first one on ties): its index and
/// 10^(its left edge). Reproduces numpy's edges (`linspace`) and its bin assignment for
/// equal-width bins, so the peak agrees with weightwatcher's.
pub fn log10_histogram_peak(sorted: &[f64], bins: usize) -> Option<(usize, f64)> {
    if sorted.is_empty() || bins == 0 || sorted[0] <= 0.0 {
        return None;
    }
    let logs: Vec<f64> = sorted.iter().map(|x| x.log10()).collect();
    let (mut first, mut last) = (logs[0], logs[logs.len() - 1]);
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    let step = (last - first) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + first).collect();
    edges[bins] = last;
    let denom = last - first;
    let mut counts = vec![0usize; bins];
    for &v in &logs {
        let f = ((v - first) / denom) * bins as f64;
        let mut i = f as usize;
        if i == bins {
            i -= 1;
        }
        if v < edges[i] {
            i -= 1;
        }
        if v >= edges[i + 1] && i != bins - 1 {
            i += 1;
        }
        counts[i] += 1;
    }
    let mut peak = 0;
    for (i, &c) in counts.iter().enumerate() {
        if c > counts[peak] {
            peak = i;
        }
    }
    Some((peak, 10f64.powf(edges[peak])))
}

/// The power-law fit of `sorted` with xmin restricted to the method's candidates in [lo, hi]
/// (for [`PlMethod::Powerlaw`], the best D among candidates with α < 3 if any, as powerlaw
/// 2.0 does). `None` if no candidate lies in the range.
pub fn fit_power_law_xmin_range(
    sorted: &[f64],
    method: PlMethod,
    lo: f64,
    hi: f64,
) -> Option<PowerLawFit> {
    let scan = scan_xmin(sorted, method);
    let in_range: Vec<usize> = (0..scan.xmins.len())
        .filter(|&j| scan.xmins[j] >= lo && scan.xmins[j] <= hi)
        .collect();
    pick(sorted, method, &scan, &in_range)
}

fn pick(
    sorted: &[f64],
    method: PlMethod,
    scan: &super::power_law::XminScan,
    cands: &[usize],
) -> Option<PowerLawFit> {
    let valid: Vec<usize> = match method {
        PlMethod::Ww => cands.to_vec(),
        PlMethod::Powerlaw => {
            let v: Vec<usize> = cands
                .iter()
                .copied()
                .filter(|&j| scan.alphas[j] > 1.0 && scan.alphas[j] < POWERLAW_ALPHA_MAX)
                .collect();
            if v.is_empty() {
                cands.to_vec()
            } else {
                v
            }
        }
    };
    // numpy's argmin: first minimum, a NaN wins.
    let mut best: Option<usize> = None;
    for &j in &valid {
        let d = scan.ds[j];
        match best {
            _ if d.is_nan() => {
                best = Some(j);
                break;
            }
            None => best = Some(j),
            Some(b) if d < scan.ds[b] => best = Some(j),
            _ => {}
        }
    }
    let j = best?;
    let xmin = scan.xmins[j];
    let i = match method {
        // WWFit's candidates are every index (ties kept): the j-th candidate is sorted[j].
        PlMethod::Ww => j,
        PlMethod::Powerlaw => sorted.partition_point(|&v| v < xmin),
    };
    let n_tail = sorted.len() - i;
    let alpha = scan.alphas[j];
    Some(PowerLawFit {
        alpha,
        xmin,
        xmax: sorted[sorted.len() - 1],
        d: scan.ds[j],
        sigma: (alpha - 1.0) / (n_tail as f64).sqrt(),
        n_tail,
        xmin_index: i,
    })
}

/// Result of xmin-peak. `fit` goes in the usual columns; serialises to the column
/// `xmin_peak` only (no `Deserialize`: store `xmin_peak` as a plain column).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct XminPeakFit {
    #[serde(skip)]
    pub fit: PowerLawFit,
    /// 10^(left edge of the fullest log10 bin): weightwatcher's `xmin2`.
    pub xmin_peak: f64,
    #[serde(skip)]
    pub peak_bin: usize,
    /// The candidate range [0.95, 1.5]·xmin_peak.
    #[serde(skip)]
    pub xmin_range: (f64, f64),
    /// No candidate in the range: the candidate nearest to `xmin_peak` was used.
    #[serde(skip)]
    pub snapped: bool,
}

/// Number of log10 bins of the xmin-peak histogram (weightwatcher's).
pub const XMIN_PEAK_BINS: usize = 100;

/// xmin-peak on `sorted` (ascending, > 0); see the module doc.
pub fn xmin_peak(sorted: &[f64], method: PlMethod) -> Option<XminPeakFit> {
    let (peak_bin, xmin_peak) = log10_histogram_peak(sorted, XMIN_PEAK_BINS)?;
    let (lo, hi) = (0.95 * xmin_peak, 1.5 * xmin_peak);
    let scan = scan_xmin(sorted, method);
    if scan.xmins.is_empty() {
        return None;
    }
    let in_range: Vec<usize> = (0..scan.xmins.len())
        .filter(|&j| scan.xmins[j] >= lo && scan.xmins[j] <= hi)
        .collect();
    let (fit, snapped) = if in_range.is_empty() {
        let j = (0..scan.xmins.len())
            .min_by(|&a, &b| {
                (scan.xmins[a] - xmin_peak)
                    .abs()
                    .total_cmp(&(scan.xmins[b] - xmin_peak).abs())
            })
            .unwrap();
        (pick(sorted, method, &scan, &[j])?, true)
    } else {
        (pick(sorted, method, &scan, &in_range)?, false)
    };
    Some(XminPeakFit {
        fit,
        xmin_peak,
        peak_bin,
        xmin_range: (lo, hi),
        snapped,
    })
}
