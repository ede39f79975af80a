//! SVD smoothing: weightwatcher 0.7.7's `SVDSmoothing`, which replaces each analysed layer's
//! weight by its best rank-k approximation, k being the size of the layer's "signal" as one
//! of its estimators counts it (Martin & Mahoney, "Implicit Self-Regularization in Deep Neural
//! Networks", JMLR 2021: the heavy tail / spikes carry the learned correlations, the bulk is
//! noise-like; keeping the top of the spectrum keeps the former).
//!
//! What weightwatcher does, which we reproduce:
//! - k per layer, computed on the same pooled ESD as `analyze`: `detX_num` (method `detX`,
//!   its default), the Marchenko–Pastur `num_spikes` (`rmt`) or the power-law tail size
//!   `num_pl_spikes` (`alpha_min`);
//! - a dense (or embedding, Conv1D) weight W becomes U_k·S_k·V_kᵀ, its k largest singular
//!   triplets; k = 0 leaves it unchanged;
//! - a convolution keeps ⌈k / rf⌉ triplets of every kh·kw kernel slice W[:, :, i, j]
//!   (k counts eigenvalues of the pooled ESD, rf slices of them);
//! - biases and every other tensor are untouched.
//!
//! What differs: weightwatcher computes the top-k triplets with scikit-learn's randomized
//! `TruncatedSVD(n_iter=7)` on the weights rounded to float32, an approximation whose error
//! is large where the cut falls inside the bulk (up to ~1e-2 of the weights' scale on our
//! fixtures); we take them from an exact SVD in f64, the matrix the method defines.

use crate::fit::marchenko_pastur::MpMethod;
use crate::result::LayerResult;
use crate::Options;
use faer::{Mat, MatRef};

/// The estimator of how many singular components a layer keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmoothMethod {
    /// `detX_num`: the tail where the product of eigenvalues reaches 1 (weightwatcher's default).
    DetX,
    /// The Marchenko–Pastur fit's `num_spikes`: eigenvalues above the bulk edge.
    Rmt,
    /// The power-law fit's `num_pl_spikes`: eigenvalues ≥ xmin.
    AlphaMin,
}

impl SmoothMethod {
    /// weightwatcher's name of the method (`SVDSmoothing(method=…)`).
    pub fn name(self) -> &'static str {
        match self {
            SmoothMethod::DetX => "detX",
            SmoothMethod::Rmt => "rmt",
            SmoothMethod::AlphaMin => "alpha_min",
        }
    }

    /// Turns on the part of the analysis whose column the method reads, computed as
    /// weightwatcher computes it (its own KDE-residual MP fit, not our default bulk-CDF one).
    pub fn require(self, opts: &mut Options) {
        match self {
            SmoothMethod::DetX => opts.detx = true,
            SmoothMethod::Rmt => {
                opts.mp_fit = true;
                opts.mp_method = MpMethod::Ww;
            }
            SmoothMethod::AlphaMin => {}
        }
    }

    /// How many components of the pooled ESD the layer keeps (weightwatcher's `num_smooth`),
    /// or None when the analysis did not produce the estimator (failed fit, skipped layer).
    pub fn num_smooth(self, layer: &LayerResult) -> Option<usize> {
        match self {
            SmoothMethod::DetX => layer.detx.map(|d| d.detx_num),
            SmoothMethod::Rmt => layer.mp.map(|m| m.num_spikes),
            SmoothMethod::AlphaMin => layer.num_pl_spikes,
        }
    }
}

/// Components kept in each of the `rf` matrices of a layer when its pooled ESD keeps
/// `num_smooth`: weightwatcher's `ceil(num_smooth / rf)` (rf = 1 for a dense layer).
pub fn kept_per_matrix(num_smooth: usize, rf: usize) -> usize {
    num_smooth.div_ceil(rf.max(1))
}

/// Why a matrix could not be smoothed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SmoothError {
    #[error("the weights contain NaN or infinite values")]
    NonFinite,
    #[error("the SVD did not converge")]
    NoConvergence,
}

/// Best rank-`k` approximation of `w` (Eckart–Young): U_k·S_k·V_kᵀ from its k largest
/// singular triplets. `k` = 0 or k ≥ min(n, m) returns `w` unchanged, as weightwatcher
/// does for 0 (and a full-rank reconstruction would only add rounding).
pub fn truncate_rank(w: MatRef<'_, f64>, k: usize) -> Result<Mat<f64>, SmoothError> {
    let (n, m) = (w.nrows(), w.ncols());
    if k == 0 || k >= n.min(m) {
        return Ok(w.to_owned());
    }
    let finite = (0..m).all(|j| (0..n).all(|i| w[(i, j)].is_finite()));
    if !finite {
        return Err(SmoothError::NonFinite);
    }
    let svd = w.thin_svd().map_err(|_| SmoothError::NoConvergence)?;
    let (u, s, v) = (svd.U(), svd.S().column_vector(), svd.V());
    // The k largest, whatever order the solver returns them in.
    let mut order: Vec<usize> = (0..s.nrows()).collect();
    order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
    let top = &order[..k];
    let us = Mat::from_fn(n, k, |i, c| u[(i, top[c])] * s[top[c]]);
    let vk = Mat::from_fn(m, k, |j, c| v[(j, top[c])]);
    Ok(&us * vk.transpose())
}

/// Smooths a whole weight tensor of `shape` (row-major, as stored): a 2-D weight as one
/// matrix keeping `num_smooth`, a 4-D convolution weight [out, in, kh, kw] slice by slice
/// W[:, :, i, j] keeping ⌈num_smooth / (kh·kw)⌉ each (weightwatcher's PyTorch convention,
/// channels last). Other ranks are returned unchanged with `None`.
pub fn smooth_tensor(
    values: &[f64],
    shape: &[usize],
    num_smooth: usize,
) -> Result<Option<Vec<f64>>, SmoothError> {
    match *shape {
        [n, m] if n * m == values.len() => {
            let w = MatRef::from_row_major_slice(values, n, m);
            let t = truncate_rank(w, num_smooth)?;
            Ok(Some(row_major(t.as_ref())))
        }
        [out, inp, kh, kw] if out * inp * kh * kw == values.len() => {
            let rf = kh * kw;
            let k = kept_per_matrix(num_smooth, rf);
            let mut result = values.to_vec();
            for slice in 0..rf {
                // Element (o, i) of slice (p, q) sits at ((o·in + i)·kh + p)·kw + q.
                let w = Mat::from_fn(out, inp, |o, i| values[(o * inp + i) * rf + slice]);
                let t = truncate_rank(w.as_ref(), k)?;
                for o in 0..out {
                    for i in 0..inp {
                        result[(o * inp + i) * rf + slice] = t[(o, i)];
                    }
                }
            }
            Ok(Some(result))
        }
        _ => Ok(None),
    }
}

fn row_major(w: MatRef<'_, f64>) -> Vec<f64> {
    let mut out = Vec::with_capacity(w.nrows() * w.ncols());
    for i in 0..w.nrows() {
        for j in 0..w.ncols() {
            out.push(w[(i, j)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A diagonal matrix is its own SVD: keeping k zeroes all but the k largest entries.
    #[test]
    fn truncation_of_a_diagonal_keeps_the_largest_entries() {
        let w = Mat::from_fn(4, 3, |i, j| if i == j { [2.0, 5.0, 1.0][i] } else { 0.0 });
        let t = truncate_rank(w.as_ref(), 1).unwrap();
        for i in 0..4 {
            for j in 0..3 {
                let want = if (i, j) == (1, 1) { 5.0 } else { 0.0 };
                assert!((t[(i, j)] - want).abs() < 1e-14, "({i},{j}) {}", t[(i, j)]);
            }
        }
        let t2 = truncate_rank(w.as_ref(), 2).unwrap();
        assert!((t2[(0, 0)] - 2.0).abs() < 1e-14 && t2[(2, 2)].abs() < 1e-14);
    }

    #[test]
    fn zero_or_full_rank_leaves_the_matrix_unchanged() {
        let w = Mat::from_fn(3, 5, |i, j| (i * 5 + j) as f64 * 0.1 - 0.4);
        assert_eq!(truncate_rank(w.as_ref(), 0).unwrap(), w);
        assert_eq!(truncate_rank(w.as_ref(), 3).unwrap(), w);
    }

    #[test]
    fn conv_slices_keep_the_ceiling_share() {
        assert_eq!(kept_per_matrix(40, 9), 5);
        assert_eq!(kept_per_matrix(0, 9), 0);
        assert_eq!(kept_per_matrix(7, 1), 7);
        // [1, 2, 1, 2]: two 1×2 slices, each rank 1 already: unchanged.
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(
            smooth_tensor(&v, &[1, 2, 1, 2], 1).unwrap().unwrap(),
            v.to_vec()
        );
        assert_eq!(smooth_tensor(&v, &[4], 1).unwrap(), None);
    }

    #[test]
    fn non_finite_weights_are_an_error() {
        let w = Mat::from_fn(3, 3, |i, j| if i == j { f64::NAN } else { 1.0 });
        assert_eq!(
            truncate_rank(w.as_ref(), 1).unwrap_err(),
            SmoothError::NonFinite
        );
    }
}
