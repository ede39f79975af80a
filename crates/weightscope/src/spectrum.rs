//! Eigenvalues of X = WᵀW for a layer matrix W (N × M, N ≥ M): the empirical spectral
//! density (ESD) of the paper's §2.1 (Eqn. 4), without the 1/N (weightwatcher's convention;
//! the caller divides by N for the paper's normalisation).
//!
//! Two routes, chosen by measurement (bench/ and the README's Performance section):
//! * Gram: form X with a symmetric (lower-triangle) product, N·M² flops, then the
//!   self-adjoint eigenvalues, ≈ 4/3·M³ flops (from [`TWO_STAGE_MIN`] on by the two-stage
//!   reduction of [`symmetric_eigen`], all in GEMMs, below by faer's one-stage one). 1.6–2.5× faster than an SVD at every size,
//!   and exact to ≈ ε·λmax in absolute terms — so eigenvalues far below λmax lose their
//!   relative accuracy (the condition number is squared).
//! * SVD of W (values only), squared: relative accuracy down to the smallest singular value,
//!   which the numpy-tolerance rank (`matrix_rank`) and entropy need on rank-deficient layers.
//!
//! [`Solver::Auto`] takes the Gram route and falls back to the SVD when the spectrum spans
//! more than [`AUTO_SVD_RATIO`] (λmin < ratio·λmax), i.e. exactly when the Gram route's
//! absolute error could be a visible relative error on the small eigenvalues.
//!
//! Everything runs single-threaded per matrix (`Par::Seq`): parallelism is across layers, so
//! results are bit-identical whatever the thread count.

pub mod symmetric_eigen;

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

/// How to compute the eigenvalues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Solver {
    /// Gram matrix + symmetric eigenvalues; SVD when the spectrum spans > 1e11.
    ///
    /// The SVD is used when λmin < [`AUTO_SVD_RATIO`]·λmax.
    #[default]
    Auto,
    /// Always Gram + symmetric eigenvalues (fastest; small λ only to ~1e-16·λmax).
    ///
    /// The small eigenvalues are accurate only to ≈ ε·λmax.
    Gram,
    /// Always the singular values of W (slowest; exact small λ).
    ///
    /// Full relative accuracy.
    Svd,
}

/// Working precision of the eigen-solver. The weights are read as f64 either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Precision {
    /// Double precision: agrees with weightwatcher (which uses float64 LAPACK) to ~1e-12.
    #[default]
    F64,
    /// Single precision for the Gram product (or the SVD), f64 for the eigenvalues of the
    /// Gram matrix: faster, eigenvalues to ≈ 1e-6 relative near λmax.
    F32,
}

/// Gram route's λmin/λmax below which [`Solver::Auto`] switches to the SVD. The Gram route's
/// absolute error is ≈ c·ε·λmax (c of order 10–100, ≈ 1e-14·λmax), so above this ratio every
/// eigenvalue is certainly a non-zero singular value squared, far above numpy's rank tolerance
/// (σ > σmax·N·ε, i.e. λ > λmax·N²ε² ≈ 1e-24·λmax): hard rank and entropy come out as from an
/// SVD, and the eigenvalues near λmax, where the power-law tail lives, are exact to ≈ 1e-13.
/// Only the very smallest ones lose relative accuracy (≤ ≈ 1e-3 at the threshold). Below it
/// (numerically rank-deficient layers) the SVD is used. A square Gaussian 4096 × 4096 layer
/// has λmin/λmax ≈ 1/(4N²) ≈ 1.5e-8 (rarely below 1e-10): Gram.
pub const AUTO_SVD_RATIO: f64 = 1e-11;

/// Gram size M from which the Gram eigenvalues are taken by the two-stage reduction of
/// [`symmetric_eigen`] rather than faer's one-stage `self_adjoint_evd`: below it they are
/// about as fast (measured tied at M = 256–384), above it the two-stage route (with its
/// root-free tridiagonal QR) is faster: 1.2× at M = 512, 1.1× at 768, 2.7× at 2048, 3.6× at
/// 4096 (`examples/kernel_speed.rs`). Both are exact to ≈ 1e-14·λmax.
pub const TWO_STAGE_MIN: usize = 512;

/// Why the eigen-solver failed (it does not converge on NaN/Inf input; callers check first).
#[derive(Debug, thiserror::Error)]
#[error("eigen-solver did not converge")]
pub struct NoConvergence;

/// Rows of W per panel of the Gram product: X = WᵀW is accumulated panel by panel (a copy of
/// the panel, then a symmetric rank-k update), whether W is in memory or streamed from the
/// checkpoint ([`GramBuilder`]), so both give the same bits. The copy costs N·M moves against
/// N·M² flops; a 2048 × 4096 panel is 64 MiB in f64.
pub const GRAM_PANEL_ROWS: usize = 2048;

/// Binary exponent of |x| (x = f·2^e with 1 ≤ |f| < 2, subnormals included); `None` for 0
/// and non-finite values.
fn exponent(x: f64) -> Option<i32> {
    if x == 0.0 || !x.is_finite() {
        return None;
    }
    let bits = x.abs().to_bits();
    let biased = (bits >> 52) as i32;
    Some(if biased == 0 {
        // Subnormal: the leading one of the mantissa sets the exponent.
        -1023 - ((bits << 12).leading_zeros() as i32)
    } else {
        biased - 1023
    })
}

/// x·2^k, exact unless the result over- or underflows (2^k itself may not be an f64).
fn times_pow2(mut x: f64, mut k: i32) -> f64 {
    while k != 0 {
        let step = k.clamp(-1000, 1000);
        x *= f64::powi(2.0, step);
        k -= step;
    }
    x
}

/// How far the largest |w| may stray from 1 (as a power of two) before the Gram route scales
/// the weights, per working precision. X = WᵀW holds sums of N products: in f64 they overflow
/// from |w| ≈ 2^511/√N and lose precision (subnormal squares) below |w| ≈ 2^-511; 2^±256
/// leaves room for any N. In f32 the range is 2^±127, so from 2^±24. Within the limit the
/// weights are used as they are, so ordinary layers keep the same bits as without scaling.
fn scale_limit(precision: Precision) -> i32 {
    match precision {
        Precision::F64 => 256,
        Precision::F32 => 24,
    }
}

/// The power-of-two scale 2^-s to apply to W (as `s`) so that its largest entry, of binary
/// exponent `e`, is near 1: 0 while `e` is within [`scale_limit`].
fn scale_for(e: i32, precision: Precision) -> i32 {
    if e.abs() > scale_limit(precision) {
        e
    } else {
        0
    }
}

/// Eigenvalues of WᵀW, ascending and clamped at 0, for W with `nrows ≥ ncols`.
///
/// Weights far from 1 in magnitude (|w| beyond 2^±256, e.g. 1e±160, or subnormal) are scaled
/// by a power of two 2^-s before any product and the eigenvalues by 2^2s after: scaling by a
/// power of two is exact in floating point, so the eigenvalues are those of W itself, where
/// WᵀW formed directly would overflow or underflow. Eigenvalues beyond the range of f64 come
/// out infinite or 0; the caller reports that.
pub fn gram_eigenvalues(
    w: MatRef<'_, f64>,
    solver: Solver,
    precision: Precision,
) -> Result<Vec<f64>, NoConvergence> {
    assert!(w.nrows() >= w.ncols(), "orient W so that N ≥ M");
    if w.ncols() == 0 {
        return Ok(Vec::new());
    }
    let gram = || {
        let mut g = GramBuilder::new(w.ncols(), precision);
        let mut r0 = 0;
        while r0 < w.nrows() {
            let rows = GRAM_PANEL_ROWS.min(w.nrows() - r0);
            g.add_panel_with(rows, |i, j| w[(r0 + i, j)]);
            r0 += rows;
        }
        g.eigenvalues()
    };
    match solver {
        Solver::Svd => scaled_for_svd(w, |w| singular_values_squared(w, precision)),
        Solver::Gram => gram(),
        Solver::Auto => {
            let ev = gram()?;
            if auto_wants_svd(&ev) {
                scaled_for_svd(w, |w| rank_deficient_singular_values_squared(w, precision))
            } else {
                Ok(ev)
            }
        }
    }
}

/// `svd(W)` (squared singular values) for W far from 1 in magnitude: computed on W·2^-s and
/// scaled back by 2^2s, as the Gram route does (the SVD's own sums of squares overflow or
/// underflow as WᵀW does).
fn scaled_for_svd(
    w: MatRef<'_, f64>,
    svd: impl Fn(MatRef<'_, f64>) -> Result<Vec<f64>, NoConvergence>,
) -> Result<Vec<f64>, NoConvergence> {
    let mut max = 0.0f64;
    for j in 0..w.ncols() {
        for i in 0..w.nrows() {
            max = max.max(w[(i, j)].abs());
        }
    }
    let s = exponent(max).map_or(0, |e| scale_for(e, Precision::F64));
    if s == 0 {
        return svd(w);
    }
    // Element by element: 2^-s itself is not an f64 when W is subnormal (s < -1023).
    let scaled = Mat::<f64>::from_fn(w.nrows(), w.ncols(), |i, j| times_pow2(w[(i, j)], -s));
    Ok(svd(scaled.as_ref())?
        .into_iter()
        .map(|l| times_pow2(l, 2 * s))
        .collect())
}

/// The exact route of [`Solver::Auto`] for a rank-deficient W (N × M, N ≥ M): the SVD, on a
/// smaller matrix when W repeats rows or columns, the common way a layer collapses to low
/// rank exactly (a stride-0 view broadcast from one row or column, a constant matrix, tied
/// rows). WᵀW = Σ c·u·uᵀ over the k distinct rows u of W with their counts c, so W has the
/// singular values of the k × M matrix of the rows √c·u, and zeros for the rest; likewise
/// for columns (W·Wᵀ). The SVD then costs O(k²·M) rather than O(N·M²): a 4096 × 4096
/// broadcast view is one row. The zeros come out exactly 0, where the SVD of W would give
/// rounding noise of ≈ ε·σmax. A W without repeats takes the SVD of W unchanged.
fn rank_deficient_singular_values_squared(
    w: MatRef<'_, f64>,
    precision: Precision,
) -> Result<Vec<f64>, NoConvergence> {
    let m = w.ncols();
    let reduced = merge_repeated_rows(w).or_else(|| merge_repeated_rows(w.transpose()));
    let Some(reduced) = reduced else {
        return singular_values_squared(w, precision);
    };
    // Wide or tall, the reduced matrix has min(k, its columns) ≤ M singular values.
    let reduced = if reduced.nrows() >= reduced.ncols() {
        reduced
    } else {
        reduced.transpose().to_owned()
    };
    let mut ev = singular_values_squared(reduced.as_ref(), precision)?;
    ev.resize(m, 0.0);
    Ok(ascending_clamped(ev))
}

/// The distinct rows of `w`, each times √(its count), when some row repeats (else `None`).
/// Rows are equal when their bits are (NaN and infinities are refused before this).
fn merge_repeated_rows(w: MatRef<'_, f64>) -> Option<Mat<f64>> {
    let (n, m) = (w.nrows(), w.ncols());
    let row_hash = |i: usize| {
        // FNV-1a over the bit patterns: a cheap key to sort by; equal keys are compared in full.
        (0..m).fold(0xcbf2_9ce4_8422_2325u64, |h, j| {
            (h ^ w[(i, j)].to_bits()).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let same = |a: usize, b: usize| (0..m).all(|j| w[(a, j)].to_bits() == w[(b, j)].to_bits());
    let mut keyed: Vec<(u64, usize)> = (0..n).map(|i| (row_hash(i), i)).collect();
    keyed.sort_unstable();
    // (first row, count) of each distinct row; rows of one hash are compared with the
    // distinct rows of that hash found so far.
    let mut groups: Vec<(usize, usize)> = Vec::new();
    let mut run_start = 0;
    for (at, &(hash, i)) in keyed.iter().enumerate() {
        if at > 0 && keyed[at - 1].0 != hash {
            run_start = groups.len();
        }
        match groups[run_start..].iter_mut().find(|(r, _)| same(*r, i)) {
            Some((_, count)) => *count += 1,
            None => groups.push((i, 1)),
        }
    }
    if groups.len() == n {
        return None;
    }
    Some(Mat::from_fn(groups.len(), m, |g, j| {
        let (row, count) = groups[g];
        (count as f64).sqrt() * w[(row, j)]
    }))
}

/// Whether [`Solver::Auto`] replaces these Gram eigenvalues (ascending) by an SVD: the
/// spectrum spans more than [`AUTO_SVD_RATIO`].
pub fn auto_wants_svd(ascending: &[f64]) -> bool {
    match (ascending.first(), ascending.last()) {
        (Some(&lo), Some(&hi)) => lo < AUTO_SVD_RATIO * hi,
        _ => false,
    }
}

fn singular_values_squared(
    w: MatRef<'_, f64>,
    precision: Precision,
) -> Result<Vec<f64>, NoConvergence> {
    let ev = match precision {
        Precision::F64 => svd_squared(w)?,
        Precision::F32 => {
            let w32 = Mat::<f32>::from_fn(w.nrows(), w.ncols(), |i, j| w[(i, j)] as f32);
            svd_squared(w32.as_ref())?
        }
    };
    Ok(ascending_clamped(ev))
}

fn ascending_clamped(mut v: Vec<f64>) -> Vec<f64> {
    for x in v.iter_mut() {
        *x = x.max(0.0);
    }
    v.sort_by(f64::total_cmp);
    v
}

trait Real: faer::traits::RealField + Copy {
    fn to_f64(self) -> f64;
    fn from_f64(x: f64) -> Self;
}
impl Real for f64 {
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(x: f64) -> Self {
        x
    }
}
impl Real for f32 {
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}

/// The Gram matrix X = WᵀW of an N × M matrix W given by panels of its rows, in the working
/// [`Precision`], and its eigenvalues. Memory: X and one panel (M² + [`GRAM_PANEL_ROWS`]·M
/// elements), whatever N — so a tall layer streamed from the checkpoint never holds W.
///
/// Weights far from 1 are scaled by a power of two (see [`gram_eigenvalues`]): the builder
/// holds X·2^-2s, s set by the first non-zero panel whose largest entry is beyond
/// [`scale_limit`], and raised (X rescaled, exactly but for entries that become negligible)
/// when a later panel is larger still. In-memory and streamed layers go through the same
/// panels, so they still give the same bits.
pub struct GramBuilder {
    acc: GramAcc,
    precision: Precision,
    /// The scale exponent s; `None` until a non-zero panel is seen.
    scale: Option<i32>,
}

enum GramAcc {
    F64(Accumulator<f64>),
    F32(Accumulator<f32>),
}

struct Accumulator<T: Real> {
    /// Lower triangle of X; the strict upper triangle stays zero (never written).
    x: Mat<T>,
}

impl<T: Real> Accumulator<T> {
    fn new(m: usize) -> Self {
        Accumulator {
            x: Mat::zeros(m, m),
        }
    }

    /// X·2^k (exact but for entries that underflow).
    fn rescale(&mut self, k: i32) {
        let (r, c) = (self.x.nrows(), self.x.ncols());
        for j in 0..c {
            for i in j..r {
                self.x[(i, j)] = T::from_f64(times_pow2(self.x[(i, j)].to_f64(), k));
            }
        }
    }

    fn add(&mut self, rows: usize, at: impl Fn(usize, usize) -> f64) {
        let m = self.x.ncols();
        if rows == 0 {
            return;
        }
        let panel = Mat::<T>::from_fn(rows, m, |i, j| T::from_f64(at(i, j)));
        // Lower triangle of the panel's PᵀP only: half the flops of a full product (a "syrk").
        triangular::matmul(
            self.x.as_mut(),
            BlockStructure::TriangularLower,
            // Adding the first panel to zeros is exact: no first-panel special case.
            Accum::Add,
            panel.transpose(),
            BlockStructure::Rectangular,
            panel.as_ref(),
            BlockStructure::Rectangular,
            T::one_impl(),
            Par::Seq,
        );
    }

    fn to_f64(&self) -> Mat<f64> {
        Mat::<f64>::from_fn(self.x.nrows(), self.x.ncols(), |i, j| {
            self.x[(i, j)].to_f64()
        })
    }
}

impl GramBuilder {
    /// An empty Gram matrix of an N × `m` matrix.
    pub fn new(m: usize, precision: Precision) -> Self {
        GramBuilder {
            acc: match precision {
                Precision::F64 => GramAcc::F64(Accumulator::new(m)),
                Precision::F32 => GramAcc::F32(Accumulator::new(m)),
            },
            precision,
            scale: None,
        }
    }

    /// Add the next `rows` rows of W, element (i, j) of the panel given by `at` (rounded to the
    /// working precision). Call with at most [`GRAM_PANEL_ROWS`] rows at a time, in order, so
    /// that every route sums the same panels.
    pub fn add_panel_with(&mut self, rows: usize, at: impl Fn(usize, usize) -> f64) {
        let m = match &self.acc {
            GramAcc::F64(a) => a.x.ncols(),
            GramAcc::F32(a) => a.x.ncols(),
        };
        let mut max = 0.0f64;
        for i in 0..rows {
            for j in 0..m {
                max = max.max(at(i, j).abs());
            }
        }
        if let Some(e) = exponent(max) {
            let limit = scale_limit(self.precision);
            match self.scale {
                None => self.scale = Some(scale_for(e, self.precision)),
                Some(s) if e - s > limit => {
                    // X·2^-2s → X·2^-2e: the earlier panels are at most 2^-2·limit of this one.
                    match &mut self.acc {
                        GramAcc::F64(a) => a.rescale(2 * (s - e)),
                        GramAcc::F32(a) => a.rescale(2 * (s - e)),
                    }
                    self.scale = Some(e);
                }
                Some(_) => {}
            }
        }
        let s = self.scale.unwrap_or(0);
        if s == 0 {
            match &mut self.acc {
                GramAcc::F64(a) => a.add(rows, at),
                GramAcc::F32(a) => a.add(rows, at),
            }
        } else {
            // Element by element: 2^-s itself is not an f64 when W is subnormal (s < -1023).
            let scaled = |i, j| times_pow2(at(i, j), -s);
            match &mut self.acc {
                GramAcc::F64(a) => a.add(rows, scaled),
                GramAcc::F32(a) => a.add(rows, scaled),
            }
        }
    }

    /// The eigenvalues of X, ascending and clamped at 0.
    pub fn eigenvalues(self) -> Result<Vec<f64>, NoConvergence> {
        // The eigenvalues are taken in f64 whatever the Gram precision: the product is where
        // the flops are (N·M² against 4/3·M³), and faer's single-precision tridiagonal solver
        // loses ~M·ε₃₂ relative accuracy (1e-4 at M = 4096) where the f32 Gram itself is good
        // to ~1e-7.
        let x = match self.acc {
            // f64: the accumulator itself, no second M × M copy (128 MiB at M = 4096).
            GramAcc::F64(a) => a.x,
            GramAcc::F32(a) => a.to_f64(),
        };
        let ev = ascending_clamped(symmetric_eigenvalues_lower(x)?);
        Ok(match self.scale {
            Some(s) if s != 0 => ev.into_iter().map(|l| times_pow2(l, 2 * s)).collect(),
            _ => ev,
        })
    }
}

/// Eigenvalues of the symmetric matrix whose lower triangle is `x`.
fn symmetric_eigenvalues_lower(mut x: Mat<f64>) -> Result<Vec<f64>, NoConvergence> {
    let m = x.nrows();
    if m >= TWO_STAGE_MIN {
        return symmetric_eigen::symmetric_eigenvalues(
            x.as_mut(),
            symmetric_eigen::default_band::<f64>(m),
        )
        .map_err(|_| NoConvergence);
    }
    let mut s = faer::diag::Diag::<f64>::zeros(m);
    let par = Par::Seq;
    let scratch = faer::linalg::evd::self_adjoint_evd_scratch::<f64>(
        m,
        faer::linalg::evd::ComputeEigenvectors::No,
        par,
        Default::default(),
    );
    faer::linalg::evd::self_adjoint_evd(
        x.as_ref(),
        s.as_mut(),
        None,
        par,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    )
    .map_err(|_| NoConvergence)?;
    Ok(s.column_vector().iter().copied().collect())
}

fn svd_squared<T: Real>(w: MatRef<'_, T>) -> Result<Vec<f64>, NoConvergence> {
    let (r, c) = (w.nrows(), w.ncols());
    let mut s = faer::diag::Diag::<T>::zeros(c.min(r));
    let par = Par::Seq;
    let scratch = faer::linalg::svd::svd_scratch::<T>(
        r,
        c,
        faer::linalg::svd::ComputeSvdVectors::No,
        faer::linalg::svd::ComputeSvdVectors::No,
        par,
        Default::default(),
    );
    faer::linalg::svd::svd(
        w,
        s.as_mut(),
        None,
        None,
        par,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    )
    .map_err(|_| NoConvergence)?;
    Ok(s.column_vector()
        .iter()
        .map(|v| {
            let v = v.to_f64();
            v * v
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Mat<f64> {
        Mat::from_fn(rows, cols, f)
    }

    #[test]
    fn diagonal_matrix_has_squared_entries_as_eigenvalues() {
        // W = [diag(1,2,3); 0] (4×3): WᵀW = diag(1,4,9).
        let w = mat(4, 3, |i, j| if i == j { (i + 1) as f64 } else { 0.0 });
        for solver in [Solver::Auto, Solver::Gram, Solver::Svd] {
            for p in [Precision::F64, Precision::F32] {
                let ev = gram_eigenvalues(w.as_ref(), solver, p).unwrap();
                let tol = if p == Precision::F64 { 1e-12 } else { 1e-5 };
                for (a, b) in ev.iter().zip([1.0, 4.0, 9.0]) {
                    assert!((a - b).abs() < tol, "{solver:?} {p:?} {ev:?}");
                }
            }
        }
    }

    #[test]
    fn gram_and_svd_agree_on_a_well_conditioned_matrix() {
        // A deterministic pseudo-random 60×20 matrix.
        let w = mat(60, 20, |i, j| {
            (((i * 31 + j * 17) % 23) as f64 - 11.0) / 7.0
        });
        let a = gram_eigenvalues(w.as_ref(), Solver::Gram, Precision::F64).unwrap();
        let b = gram_eigenvalues(w.as_ref(), Solver::Svd, Precision::F64).unwrap();
        let max = b[b.len() - 1];
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() <= 1e-12 * max, "{x} {y}");
        }
        // Trace identity: Σλ = ‖W‖_F².
        let fro: f64 = (0..60)
            .flat_map(|i| (0..20).map(move |j| (i, j)))
            .map(|(i, j)| w[(i, j)] * w[(i, j)])
            .sum();
        assert!((a.iter().sum::<f64>() - fro).abs() < 1e-10 * fro);
    }

    #[test]
    fn auto_on_a_constant_matrix_gives_its_one_eigenvalue_and_exact_zeros() {
        // W = c·1·1ᵀ (N × M): WᵀW = N·c²·1·1ᵀ, one eigenvalue N·M·c², the others 0.
        let (n, m, c) = (50, 20, 0.3);
        let w = mat(n, m, |_, _| c);
        for p in [Precision::F64, Precision::F32] {
            let ev = gram_eigenvalues(w.as_ref(), Solver::Auto, p).unwrap();
            let want = (n * m) as f64 * c * c;
            let tol = if p == Precision::F64 { 1e-13 } else { 1e-6 };
            assert_eq!(ev.len(), m);
            assert!((ev[m - 1] - want).abs() <= tol * want, "{p:?} {ev:?}");
            assert!(ev[..m - 1].iter().all(|&x| x == 0.0), "{p:?} {ev:?}");
        }
    }

    #[test]
    fn auto_on_repeated_rows_or_columns_agrees_with_the_svd_of_w() {
        // 3 distinct rows repeated 4, 8 and 12 times, interleaved (24 × 10); 4 distinct
        // columns, each 3 times, in an 18 × 12 matrix whose rows are all distinct.
        let base = |r: usize, j: usize| (((r * 37 + j * 11) % 19) as f64 - 9.0) / 5.0;
        let rows = mat(24, 10, |i, j| base([0, 1, 2, 1, 2, 2][i % 6], j));
        let cols = mat(18, 12, |i, j| base(j % 4 + 3, i) + (j % 4) as f64);
        assert!(merge_repeated_rows(cols.as_ref()).is_none());
        for w in [rows, cols] {
            let auto = gram_eigenvalues(w.as_ref(), Solver::Auto, Precision::F64).unwrap();
            let svd = gram_eigenvalues(w.as_ref(), Solver::Svd, Precision::F64).unwrap();
            let max = svd[svd.len() - 1];
            let rank = svd.iter().filter(|&&x| x > 1e-20 * max).count();
            assert!(rank < w.ncols() && auto.len() == svd.len());
            for (a, b) in auto.iter().zip(&svd) {
                if *b > 1e-20 * max {
                    assert!((a - b).abs() <= 1e-13 * max, "{a} {b}");
                } else {
                    assert_eq!(*a, 0.0);
                }
            }
        }
        // No repeated row or column: the SVD of W itself, as before.
        let w = mat(30, 10, |i, j| {
            (i as f64 + 1.0) * (j as f64 + 1.0) + (i % 3) as f64 * (j % 2) as f64
        });
        assert!(merge_repeated_rows(w.as_ref()).is_none());
        assert!(merge_repeated_rows(w.transpose()).is_none());
    }

    #[test]
    fn exponent_of_normal_and_subnormal_values() {
        assert_eq!(exponent(1.0), Some(0));
        assert_eq!(exponent(-3.0), Some(1));
        assert_eq!(exponent(0.5), Some(-1));
        assert_eq!(exponent(f64::MIN_POSITIVE), Some(-1022));
        assert_eq!(exponent(f64::from_bits(1)), Some(-1074));
        assert_eq!(exponent(1e-310), Some(-1030));
        assert_eq!(exponent(0.0), None);
        assert_eq!(exponent(f64::NAN), None);
        assert_eq!(times_pow2(1.0, -1074), f64::from_bits(1));
        assert_eq!(times_pow2(3.0, 1500), f64::INFINITY);
    }

    #[test]
    fn weights_scaled_by_a_power_of_two_give_eigenvalues_scaled_exactly() {
        // W·2^k has eigenvalues λ·2^2k: the routes scale W back near 1 before any product, so
        // nothing overflows (2^500: WᵀW ≈ 2^1000·N) or underflows, and the results are exact
        // multiples. Powers of ten are not exact: there they agree to rounding.
        let w = mat(300, 40, |i, j| {
            (((i * 7919 + j * 104729) % 1009) as f64 - 504.0) / 291.0
        });
        for solver in [Solver::Auto, Solver::Gram, Solver::Svd] {
            let base = gram_eigenvalues(w.as_ref(), solver, Precision::F64).unwrap();
            assert!(base[0] > 1.0, "{base:?}");
            for k in [500, -500, 300, -300] {
                let f = times_pow2(1.0, k);
                let scaled = mat(300, 40, |i, j| w[(i, j)] * f);
                let ev = gram_eigenvalues(scaled.as_ref(), solver, Precision::F64).unwrap();
                let want: Vec<f64> = base.iter().map(|&l| times_pow2(l, 2 * k)).collect();
                assert_eq!(ev, want, "{solver:?} 2^{k}");
            }
            for f in [1e150, 1e-150] {
                let scaled = mat(300, 40, |i, j| w[(i, j)] * f);
                let ev = gram_eigenvalues(scaled.as_ref(), solver, Precision::F64).unwrap();
                for (a, b) in ev.iter().zip(&base) {
                    let b = b * f * f;
                    assert!((a - b).abs() <= 1e-12 * b, "{solver:?} {f}: {a} {b}");
                }
            }
        }
        // f32 Gram route: its own, narrower, limit.
        let base = gram_eigenvalues(w.as_ref(), Solver::Gram, Precision::F32).unwrap();
        let scaled = mat(300, 40, |i, j| w[(i, j)] * 2f64.powi(100));
        let ev = gram_eigenvalues(scaled.as_ref(), Solver::Gram, Precision::F32).unwrap();
        let want: Vec<f64> = base.iter().map(|&l| times_pow2(l, 200)).collect();
        assert_eq!(ev, want);
    }

    #[test]
    fn auto_keeps_tiny_eigenvalues_of_rank_deficient_matrix() {
        // Rank 2: the other eigenvalues are exactly 0; Auto must see them below tolerance.
        let w = mat(30, 10, |i, j| {
            (i as f64 + 1.0) * (j as f64 + 1.0) + (i % 3) as f64 * (j % 2) as f64
        });
        let ev = gram_eigenvalues(w.as_ref(), Solver::Auto, Precision::F64).unwrap();
        let max = ev[ev.len() - 1];
        assert!(ev[..8].iter().all(|&x| x < 1e-20 * max), "{ev:?}");
    }
}
