//! FARMS, Fixed-Aspect-Ratio Matrix Subsampling (Hu, Goel, Killiakov & Yang, "Eigenspectrum
//! Analysis of Neural Networks without Aspect Ratio Bias", ICML 2025, arXiv:2506.06280).
//!
//! The ESD of an N × M matrix depends on its aspect ratio Q = N/M (the Marchenko–Pastur law,
//! Eqn. 8 of Martin & Mahoney, has Q in its shape), so α of layers of different shapes are
//! not comparable. FARMS measures α on the pooled ESD of many submatrices that all have the
//! same aspect ratio and the same size: α then changes with the correlations in the weights,
//! not with the layer's shape.
//!
//! The rules and defaults are those of the reference implementation (HUST-AI-HYZ/FARMS,
//! `LLM_Pruning/lib/sampling.py::fixed_sampling` and `esd_utils_farms.py::analysis_esd`,
//! the defaults of `net_esd_estimator_farms`):
//! * the matrix is read in its wide orientation, `rows` = M ≤ `cols` = N;
//! * windows of `r` = 100 rows × `c` = ⌊r·Q⌋ columns, Q = 2;
//! * 10 window positions per axis: step ⌊(rows − r)/9⌋ (at least 1), at most 10 positions
//!   and at least one, the last ones clamped to rows − r (so windows may repeat);
//! * the squared singular values of every window pooled into one ascending ESD;
//! * α by the power-law MLE α = 1 + n / Σ ln(λᵢ/xmin) over the n eigenvalues ≥ xmin with
//!   xmin the median of the pooled ESD (`xmin_mid`, `xmin_pos` = 2), and the KS distance
//!   D = max |1 − (λ/xmin)^(1−α) − k/n|, k = 0…n−1 (the reference's form, which compares the
//!   model CDF with the empirical one just below each point).
//!
//! Two departures, both where the reference's windows do not fit in the matrix:
//! * the reference clamps `r` to min(rows, cols) only, so when cols < ⌊r·Q⌋ its slice is cut
//!   short by Python's slicing (or starts at a negative index) and the window is not of
//!   aspect ratio Q; here `r` is also reduced until ⌊r·Q⌋ ≤ cols, so every window has the
//!   aspect ratio asked for;
//! * the reference does not orient the matrix: a tall `out × in` weight gets r × r windows
//!   when in < r·Q. Reading every matrix wide (M × N) makes the windows Q-shaped whatever
//!   the storage layout.
//!
//! Convolutions: each of the rf maps is sampled as above and all windows are pooled into one
//! ESD (the reference splits conv maps differently and averages α over blocks; pooling keeps
//! one rule for every layer).
//!
//! Cost: per matrix, at most W² windows (W = `windows`, 100 by default), each the eigenvalues
//! of an r × r Gram matrix of a c × r block: W²·(c·r² + r³) flops, 3·10⁸ with the defaults,
//! whatever the layer's size (a 4096 × 11008 layer costs the same as a 512 × 1024 one). The
//! median fit is O(n log n) in the pooled count n ≤ W²·r (10⁴); the KS-scan fit is O(n²).

use crate::spectrum::{self, Precision, Solver};
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};

/// How FARMS picks xmin on the pooled ESD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FarmsXmin {
    /// xmin = the median of the pooled eigenvalues (the reference's default, `xmin_mid`).
    #[default]
    Median,
    /// xmin minimising the KS distance over every candidate (the reference's fallback branch,
    /// Clauset–Shalizi–Newman's rule).
    Ks,
}

/// The parameters of FARMS (the reference's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FarmsOptions {
    /// Rows of a window (`num_row_samples`, 100); fewer when the matrix is smaller.
    pub rows: usize,
    /// Aspect ratio of a window, columns / rows (`Q_ratio`, 2.0); at least 1.
    pub q: f64,
    /// Window positions per axis (`sampling_ops_per_dim`, 10).
    pub windows: usize,
    /// The xmin rule.
    pub xmin: FarmsXmin,
}

impl Default for FarmsOptions {
    fn default() -> Self {
        FarmsOptions {
            rows: 100,
            q: 2.0,
            windows: 10,
            xmin: FarmsXmin::Median,
        }
    }
}

/// Why FARMS has no result for a matrix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FarmsError {
    #[error("bad FARMS options: {0}")]
    Options(String),
    #[error("a {rows} × {cols} matrix has no window of aspect ratio {q}")]
    TooSmall { rows: usize, cols: usize, q: f64 },
    #[error("the eigen-solver did not converge on a FARMS window")]
    NoConvergence,
    #[error("no power law fits the pooled FARMS ESD ({0} eigenvalues, xmin ≤ 0 or α not finite)")]
    NoFit(usize),
}

impl FarmsOptions {
    /// Check the options (before any layer is read).
    pub fn validate(&self) -> Result<(), FarmsError> {
        if self.rows == 0 {
            return Err(FarmsError::Options("rows must be at least 1".into()));
        }
        if !(self.q.is_finite() && self.q >= 1.0) {
            return Err(FarmsError::Options(format!(
                "the aspect ratio must be a number ≥ 1, got {}",
                self.q
            )));
        }
        if self.windows == 0 {
            return Err(FarmsError::Options("windows must be at least 1".into()));
        }
        Ok(())
    }
}

/// Where the windows lie in a `rows` × `cols` matrix (rows ≤ cols).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    /// Rows of each window.
    pub rows: usize,
    /// Columns of each window, ⌊rows·Q⌋.
    pub cols: usize,
    pub row_starts: Vec<usize>,
    pub col_starts: Vec<usize>,
}

impl Windows {
    pub fn count(&self) -> usize {
        self.row_starts.len() * self.col_starts.len()
    }
}

/// ⌊r·Q⌋, the reference's `int(num_row_samples * Q_ratio)`.
fn window_cols(r: usize, q: f64) -> usize {
    (r as f64 * q) as usize
}

/// The starts of the windows of `size` along an axis of `len` (the reference's step and
/// count, `fixed_sampling`).
fn starts(len: usize, size: usize, windows: usize) -> Vec<usize> {
    let room = len - size;
    // With one position the reference divides by zero; one window at 0 is what it means.
    let step = if windows > 1 {
        (room / (windows - 1)).max(1)
    } else {
        1
    };
    let count = windows.min(room / step + 1).max(1);
    (0..count).map(|i| (i * step).min(room)).collect()
}

/// The windows of a matrix of `rows` ≤ `cols`.
pub fn windows(rows: usize, cols: usize, opts: &FarmsOptions) -> Result<Windows, FarmsError> {
    opts.validate()?;
    debug_assert!(rows <= cols);
    let mut r = opts.rows.min(rows);
    while r > 0 && window_cols(r, opts.q) > cols {
        r -= 1;
    }
    if r == 0 {
        return Err(FarmsError::TooSmall {
            rows,
            cols,
            q: opts.q,
        });
    }
    let c = window_cols(r, opts.q);
    Ok(Windows {
        rows: r,
        cols: c,
        row_starts: starts(rows, r, opts.windows),
        col_starts: starts(cols, c, opts.windows),
    })
}

/// The pooled ESD (ascending) of the windows of `w`, an N × M matrix oriented N ≥ M as the
/// rest of weightscope holds it: window (i, j) of its wide form Wᵀ (M × N) is the block of W
/// at rows `col_starts[j]`.., columns `row_starts[i]`.., whose Gram eigenvalues are the
/// window's squared singular values.
pub fn pooled_esd(
    w: MatRef<'_, f64>,
    win: &Windows,
    solver: Solver,
    precision: Precision,
) -> Result<Vec<f64>, FarmsError> {
    let mut evals = Vec::with_capacity(win.count() * win.rows);
    for &r0 in &win.row_starts {
        for &c0 in &win.col_starts {
            let block = w.submatrix(c0, r0, win.cols, win.rows);
            let ev = spectrum::gram_eigenvalues(block, solver, precision)
                .map_err(|_| FarmsError::NoConvergence)?;
            evals.extend(ev);
        }
    }
    evals.sort_by(f64::total_cmp);
    Ok(evals)
}

/// A power-law fit of the pooled ESD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FarmsPowerLaw {
    pub alpha: f64,
    pub xmin: f64,
    pub d: f64,
}

/// α and D of the tail `evals[i..]` (ascending) with xmin = evals[i]: the MLE
/// α = 1 + n / (Σ ln λ − n ln xmin) and the reference's KS distance.
fn fit_at(evals: &[f64], log_sum: f64, i: usize) -> (f64, f64) {
    let xmin = evals[i];
    let n = (evals.len() - i) as f64;
    let alpha = 1.0 + n / (log_sum - n * xmin.ln());
    let d = evals[i..]
        .iter()
        .enumerate()
        .map(|(k, &l)| (1.0 - (l / xmin).powf(1.0 - alpha) - k as f64 / n).abs())
        .fold(0.0, f64::max);
    (alpha, d)
}

/// The power-law fit of a pooled ESD (ascending) by the reference's rule
/// (`analysis_esd`, `filter_zeros=False`).
pub fn fit_pooled(evals: &[f64], rule: FarmsXmin) -> Result<FarmsPowerLaw, FarmsError> {
    let n_all = evals.len();
    let no_fit = || FarmsError::NoFit(n_all);
    if n_all < 2 {
        return Err(no_fit());
    }
    let logs: Vec<f64> = evals.iter().map(|l| l.ln()).collect();
    let (alpha, d, i) = match rule {
        FarmsXmin::Median => {
            // `i = int(len / xmin_pos)`, xmin_pos = 2.
            let i = n_all / 2;
            let (a, d) = fit_at(evals, logs[i..].iter().sum(), i);
            (a, d, i)
        }
        FarmsXmin::Ks => {
            // Every xmin but the largest; a candidate with α ≤ 1 keeps D = 1, and the first
            // smallest D wins (`torch.argmin`).
            let mut suffix = vec![0.0; n_all + 1];
            for i in (0..n_all).rev() {
                suffix[i] = suffix[i + 1] + logs[i];
            }
            let mut best = (f64::NAN, f64::INFINITY, 0);
            for i in 0..n_all - 1 {
                if evals[i] <= 0.0 {
                    continue;
                }
                let xmin = evals[i];
                let n = (n_all - i) as f64;
                let alpha = 1.0 + n / (suffix[i] - n * xmin.ln());
                let d = if alpha > 1.0 {
                    fit_at(evals, suffix[i], i).1
                } else {
                    1.0
                };
                if d < best.1 {
                    best = (alpha, d, i);
                }
            }
            best
        }
    };
    let xmin = evals[i];
    if !(xmin > 0.0 && alpha.is_finite() && d.is_finite()) {
        return Err(no_fit());
    }
    Ok(FarmsPowerLaw { alpha, xmin, d })
}

/// The FARMS columns of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FarmsColumns {
    /// α of the pooled window ESD.
    pub farms_alpha: f64,
    /// xmin of that fit.
    pub farms_xmin: f64,
    /// KS distance of that fit.
    #[serde(rename = "farms_D")]
    pub farms_d: f64,
    /// Windows pooled (over all maps of a convolution).
    pub farms_num_submatrices: usize,
    /// Rows × columns of each window.
    pub farms_rows: usize,
    pub farms_cols: usize,
    /// Eigenvalues in the pooled ESD.
    pub farms_num_evals: usize,
}

/// FARMS on a layer's matrices (each N × M, N ≥ M; the maps of a convolution pooled).
/// `scale` divides every eigenvalue (N under `--normalize`, so that the pooled ESD is on the
/// same scale as the layer's; α does not depend on it).
pub fn farms(
    mats: &[Mat<f64>],
    opts: &FarmsOptions,
    scale: f64,
    solver: Solver,
    precision: Precision,
) -> Result<FarmsColumns, FarmsError> {
    let mut pooled = Vec::new();
    let mut count = 0;
    let mut shape = (0, 0);
    for w in mats {
        let win = windows(w.ncols(), w.nrows(), opts)?;
        pooled.extend(pooled_esd(w.as_ref(), &win, solver, precision)?);
        count += win.count();
        shape = (win.rows, win.cols);
    }
    pooled.sort_by(f64::total_cmp);
    pooled.iter_mut().for_each(|l| *l /= scale);
    let fit = fit_pooled(&pooled, opts.xmin)?;
    Ok(FarmsColumns {
        farms_alpha: fit.alpha,
        farms_xmin: fit.xmin,
        farms_d: fit.d,
        farms_num_submatrices: count,
        farms_rows: shape.0,
        farms_cols: shape.1,
        farms_num_evals: pooled.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_reference_where_they_fit() {
        // 300 × 800, r = 100, c = 200: row step ⌊200/9⌋ = 22, ten starts 0..198; column step
        // ⌊600/9⌋ = 66, ten starts 0..594.
        let w = windows(300, 800, &FarmsOptions::default()).unwrap();
        assert_eq!((w.rows, w.cols), (100, 200));
        assert_eq!(w.row_starts, (0..10).map(|i| i * 22).collect::<Vec<_>>());
        assert_eq!(w.col_starts, (0..10).map(|i| i * 66).collect::<Vec<_>>());
        // 100 × 200: a single window.
        let w = windows(100, 200, &FarmsOptions::default()).unwrap();
        assert_eq!((w.row_starts.len(), w.col_starts.len()), (1, 1));
        // 105 × 210: room 5 and 10, step 1: six and ten starts (the count caps at 10).
        let w = windows(105, 210, &FarmsOptions::default()).unwrap();
        assert_eq!(w.row_starts, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(w.col_starts, (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn windows_keep_their_aspect_ratio_in_small_matrices() {
        // 150 × 150 at Q = 2: the reference would cut 100 × 50 windows; here 75 × 150.
        let w = windows(150, 150, &FarmsOptions::default()).unwrap();
        assert_eq!((w.rows, w.cols), (75, 150));
        assert_eq!(w.col_starts, vec![0]);
        let e = windows(1, 1, &FarmsOptions::default()).unwrap_err();
        assert!(matches!(e, FarmsError::TooSmall { .. }), "{e}");
        let bad = FarmsOptions {
            q: 0.5,
            ..Default::default()
        };
        assert!(windows(10, 10, &bad).is_err());
    }

    #[test]
    fn median_fit_matches_a_hand_computation() {
        // λ = 1, 2, 4, 8: i = 2, xmin = 4, n = 2, Σ ln(λ/xmin) = ln 2, α = 1 + 2/ln 2.
        // D = max(|1 − 1 − 0|, |1 − 2^(1−α) − 1/2|), 2^(1−α) = e^(−2).
        let f = fit_pooled(&[1.0, 2.0, 4.0, 8.0], FarmsXmin::Median).unwrap();
        let alpha = 1.0 + 2.0 / 2f64.ln();
        assert!((f.alpha - alpha).abs() < 1e-12, "{}", f.alpha - alpha);
        assert_eq!(f.xmin, 4.0);
        assert!((f.d - (0.5 - (-2f64).exp()).abs()).abs() < 1e-12);
    }

    #[test]
    fn an_exact_pareto_sample_gives_its_alpha() {
        // Quantiles of a Pareto law of density exponent 3 (CDF 1 − x^−2): both rules find
        // α ≈ 3.
        let n = 20000;
        let evals: Vec<f64> = (0..n)
            .map(|k| (1.0 - (k as f64 + 0.5) / n as f64).powf(-0.5))
            .collect();
        for rule in [FarmsXmin::Median, FarmsXmin::Ks] {
            let f = fit_pooled(&evals, rule).unwrap();
            assert!((f.alpha - 3.0).abs() < 0.05, "{rule:?}: {}", f.alpha);
        }
    }

    #[test]
    fn zeros_give_no_fit_rather_than_a_number() {
        assert!(fit_pooled(&[0.0, 0.0, 0.0, 0.0], FarmsXmin::Median).is_err());
        assert!(fit_pooled(&[1.0], FarmsXmin::Median).is_err());
    }
}
