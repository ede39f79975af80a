//! Eigenvector localization (paper §3.3): for eigenvectors v of X = WᵀW, the generalized
//! vector entropy S(v) (histogram estimator), the localization ratio L(v) = ‖v‖₁/‖v‖∞ and the
//! participation ratio P(v) = ‖v‖₂/‖v‖₄ — lower means more localized. Reported as means and
//! variances over the bulk (λ < xmin) and the tail (the power-law tail) eigenvectors.
//!
//! The entropy's histogram estimator is weightwatcher's, so the numbers compare: 100 equal
//! bins over the range of |vᵢ|, densities + 1e-10, normalised, −Σ p ln p. The bins span the
//! data's own range, so the estimate does not depend on the vector's scale (the paper's
//! "unit element variance" normalisation changes nothing).
//!
//! The eigenvectors come from a symmetric eigensolver (weightwatcher uses a general complex
//! one on the same symmetric matrix).

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::{Mat, MatRef, Par};
use serde::{Deserialize, Serialize};

/// Generalized vector entropy (weightwatcher's 100-bin histogram estimator on |v|).
pub fn vector_entropy(v: &[f64]) -> f64 {
    let a: Vec<f64> = v.iter().map(|x| x.abs()).collect();
    let (lo, hi) = a
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
            (l.min(x), h.max(x))
        });
    let bins = 100;
    // numpy widens an empty range to ±0.5.
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    };
    let width = (hi - lo) / bins as f64;
    let mut counts = vec![0.0f64; bins];
    for &x in &a {
        let i = (((x - lo) / (hi - lo)) * bins as f64) as usize;
        counts[i.min(bins - 1)] += 1.0;
    }
    let n = a.len() as f64;
    let p: Vec<f64> = counts.iter().map(|c| c / (n * width) + 1e-10).collect();
    let s: f64 = p.iter().sum();
    -p.iter().map(|x| x / s).map(|x| x * x.ln()).sum::<f64>()
}

/// ‖v‖₁/‖v‖∞.
pub fn localization_ratio(v: &[f64]) -> f64 {
    let l1: f64 = v.iter().map(|x| x.abs()).sum();
    let linf = v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    l1 / linf
}

/// ‖v‖₂/‖v‖₄.
pub fn participation_ratio(v: &[f64]) -> f64 {
    let l2: f64 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let l4: f64 = v.iter().map(|x| x.powi(4)).sum::<f64>().powf(0.25);
    l2 / l4
}

/// Columns of `--vectors` (weightwatcher's names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VectorColumns {
    pub bulk_mean_vec_entropy: f64,
    pub bulk_var_vec_entropy: f64,
    pub bulk_mean_loc_ratio: f64,
    pub bulk_var_loc_ratio: f64,
    pub bulk_mean_part_ratio: f64,
    pub bulk_var_part_ratio: f64,
    pub tail_mean_vec_entropy: f64,
    pub tail_var_vec_entropy: f64,
    pub tail_mean_loc_ratio: f64,
    pub tail_var_loc_ratio: f64,
    pub tail_mean_part_ratio: f64,
    pub tail_var_part_ratio: f64,
}

/// Eigenvalues (ascending) and eigenvectors (columns) of WᵀW, symmetric solver, sequential.
pub fn gram_eigen(w: MatRef<'_, f64>) -> Option<(Vec<f64>, Mat<f64>)> {
    let m = w.ncols();
    let x = w.transpose() * w;
    let mut s = faer::diag::Diag::<f64>::zeros(m);
    let mut u = Mat::<f64>::zeros(m, m);
    let par = Par::Seq;
    let scratch = faer::linalg::evd::self_adjoint_evd_scratch::<f64>(
        m,
        faer::linalg::evd::ComputeEigenvectors::Yes,
        par,
        Default::default(),
    );
    faer::linalg::evd::self_adjoint_evd(
        x.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        par,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    )
    .ok()?;
    Some((s.column_vector().iter().copied().collect(), u))
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    if x.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    (m, x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n)
}

/// Localization columns of a layer: eigenvectors of every matrix, pooled and ordered by
/// eigenvalue; the top `n_tail` are the tail (the power-law tail's size, so the split is the
/// same as the fit's whatever rounding separates two eigen-solvers' eigenvalues).
pub fn vector_columns(mats: &[Mat<f64>], n_tail: usize) -> Option<VectorColumns> {
    let mut rows: Vec<(f64, [f64; 3])> = Vec::new();
    for w in mats {
        let (ev, u) = gram_eigen(w.as_ref())?;
        for (j, &l) in ev.iter().enumerate() {
            let v: Vec<f64> = u.col(j).iter().copied().collect();
            rows.push((
                l,
                [
                    vector_entropy(&v),
                    localization_ratio(&v),
                    participation_ratio(&v),
                ],
            ));
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let split = rows.len().saturating_sub(n_tail);
    let col = |r: &[(f64, [f64; 3])], k: usize| -> (f64, f64) {
        mean_var(&r.iter().map(|x| x.1[k]).collect::<Vec<_>>())
    };
    let (bulk, tail) = rows.split_at(split);
    let (be, bev) = col(bulk, 0);
    let (bl, blv) = col(bulk, 1);
    let (bp, bpv) = col(bulk, 2);
    let (te, tev) = col(tail, 0);
    let (tl, tlv) = col(tail, 1);
    let (tp, tpv) = col(tail, 2);
    Some(VectorColumns {
        bulk_mean_vec_entropy: be,
        bulk_var_vec_entropy: bev,
        bulk_mean_loc_ratio: bl,
        bulk_var_loc_ratio: blv,
        bulk_mean_part_ratio: bp,
        bulk_var_part_ratio: bpv,
        tail_mean_vec_entropy: te,
        tail_var_vec_entropy: tev,
        tail_mean_loc_ratio: tl,
        tail_var_loc_ratio: tlv,
        tail_mean_part_ratio: tp,
        tail_var_part_ratio: tpv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localized_and_delocalized_vectors() {
        let e1 = [1.0, 0.0, 0.0, 0.0];
        assert_eq!(localization_ratio(&e1), 1.0);
        assert_eq!(participation_ratio(&e1), 1.0);
        let flat = [0.5, -0.5, 0.5, -0.5];
        assert!((localization_ratio(&flat) - 4.0).abs() < 1e-15);
        assert!((participation_ratio(&flat) - 2f64.sqrt()).abs() < 1e-15); // n^(1/4)
    }
}
