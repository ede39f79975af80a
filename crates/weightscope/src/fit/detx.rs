//! weightwatcher's detX (`RMT_Util.detX_constraint`, `WeightWatcher.apply_detX`; audit §2):
//! the number of top eigenvalues needed for det X = 1 on the mean-one scale.
//!
//! Rescale the ESD so its mean is 1, λ' = λ·n/Σλ (weightwatcher's Wscale² = n/Σλ over all
//! eigenvalues, zeros included). By AM–GM the product of all λ' is ≤ 1; the detX tail is the
//! shortest top segment λ'[idx..] whose product is still < 1, scanning idx = n−1, n−2, …:
//! `detX_num` = n − idx. It is an alternative, parameter-free estimate of the size of the
//! "heavy" tail, compared with the power-law tail by `ERG_gap` = detX_num − num_pl_spikes.
//!
//! Columns and differences from weightwatcher 0.7.7 (tests/fixtures/diagnosis/ww_detx.json):
//! * `detX_val` is the eigenvalue λ[idx] on its original scale, as the name says (and as
//!   weightwatcher's `detX_val` column holds); `detX_val_rescaled` is λ'[idx]. weightwatcher
//!   stores λ'[idx] in a column named `detX_val_unrescaled`: the names are swapped there.
//! * When no tail shorter than the whole spectrum has product < 1, weightwatcher's loop
//!   (which never tries idx = 0) reports detX_num = n but the value at idx = 1; we report
//!   idx = 0 (detX_num = n, detX_val = λ[0]), the tail it counts. In the fixtures this
//!   happens for the 9- and 10-eigenvalue layers example/conv_layers.0 and fc_layers.2.
//! * The products are accumulated as sums of logarithms (no overflow or underflow on large
//!   spectra); the decisions are the same unless a product is within rounding of 1.

use serde::{Deserialize, Serialize};

/// detX of one ESD.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetX {
    /// Number of eigenvalues in the detX tail.
    #[serde(rename = "detX_num")]
    pub detx_num: usize,
    /// The smallest eigenvalue of the detX tail, original scale.
    #[serde(rename = "detX_val")]
    pub detx_val: f64,
    /// The same on the mean-one scale (weightwatcher's `detX_val_unrescaled`).
    #[serde(rename = "detX_val_rescaled")]
    pub detx_val_rescaled: f64,
    /// Index of that eigenvalue in the ascending ESD.
    #[serde(skip)]
    pub idx: usize,
    /// √n/√Σλ (weightwatcher's Wscale).
    #[serde(skip)]
    pub wscale: f64,
}

impl DetX {
    /// weightwatcher's `ERG_gap` = detX_num − num_pl_spikes (often negative).
    pub fn erg_gap(&self, num_pl_spikes: usize) -> i64 {
        self.detx_num as i64 - num_pl_spikes as i64
    }
}

/// numpy's `np.sum` of a contiguous float64 array: pairwise summation (8 accumulators, blocks
/// of 128, halves rounded to multiples of 8) in chunks of 8192 (numpy's buffer), added to 0.
/// Used so that Wscale is bit-identical to weightwatcher's (checked on the 22 fixture layers).
pub fn numpy_sum(a: &[f64]) -> f64 {
    fn pairwise(a: &[f64]) -> f64 {
        let n = a.len();
        if n < 8 {
            let mut res = 0.0;
            for &v in a {
                res += v;
            }
            res
        } else if n <= 128 {
            let mut r = [0.0f64; 8];
            r.copy_from_slice(&a[..8]);
            let mut i = 8;
            while i < n - (n % 8) {
                for j in 0..8 {
                    r[j] += a[i + j];
                }
                i += 8;
            }
            let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
            while i < n {
                res += a[i];
                i += 1;
            }
            res
        } else {
            let mut n2 = n / 2;
            n2 -= n2 % 8;
            pairwise(&a[..n2]) + pairwise(&a[n2..])
        }
    }
    let mut acc = 0.0;
    for chunk in a.chunks(8192) {
        acc += pairwise(chunk);
    }
    acc
}

/// detX of `evals`, all the eigenvalues of the layer sorted ascending (zeros included, as
/// weightwatcher uses them). `None` when there are fewer than two or they are all equal
/// (weightwatcher reports 0 there).
pub fn detx(evals: &[f64]) -> Option<DetX> {
    let n = evals.len();
    if n < 2 || evals[0].is_nan() || evals[0] >= evals[n - 1] {
        return None;
    }
    let sum = numpy_sum(evals);
    if !(sum > 0.0 && sum.is_finite()) {
        return None;
    }
    let wscale = (n as f64).sqrt() / sum.sqrt();
    let s2 = wscale * wscale;
    let mut log_prod = 0.0f64;
    let mut idx = 0;
    for i in (0..n).rev() {
        log_prod += (s2 * evals[i]).ln();
        if log_prod < 0.0 {
            idx = i;
            break;
        }
    }
    let rescaled = s2 * evals[idx];
    Some(DetX {
        detx_num: n - idx,
        // λ'/Wscale², as weightwatcher un-rescales: λ[idx] to within an ulp, bit-identical
        // to its column.
        detx_val: rescaled / s2,
        detx_val_rescaled: rescaled,
        idx,
        wscale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // mean 1 already: λ' = λ. Products from the top: 4 ≥ 1, 4·0.5 = 2, 4·0.5·0.3 = 0.6 < 1.
        let ev = [0.1, 0.1, 0.3, 0.5, 4.0];
        let d = detx(&ev).unwrap();
        assert_eq!((d.detx_num, d.idx), (3, 2));
        assert!((d.detx_val - 0.3).abs() < 1e-16);
        // Scale-free: ×1000 changes only detX_val.
        let ev2: Vec<f64> = ev.iter().map(|v| v * 1000.0).collect();
        let d2 = detx(&ev2).unwrap();
        assert_eq!(d2.detx_num, 3);
        assert!((d2.detx_val - 300.0).abs() < 1e-12);
        assert!((d2.detx_val_rescaled - 0.3).abs() < 1e-15);
        assert!(detx(&[1.0, 1.0]).is_none());
        assert!(detx(&[1.0]).is_none());
    }

    #[test]
    fn whole_spectrum_tail_reports_the_smallest_value() {
        // λ' = (0.9, 1.0, 1.1): 1.1 ≥ 1, 1.1·1.0 ≥ 1, 1.1·1.0·0.9 = 0.99 < 1 → idx 0.
        let d = detx(&[0.9, 1.0, 1.1]).unwrap();
        assert_eq!((d.detx_num, d.idx), (3, 0));
        assert!((d.detx_val - 0.9).abs() < 1e-15);
    }

    #[test]
    fn numpy_sum_small_cases() {
        assert_eq!(numpy_sum(&[]), 0.0);
        assert_eq!(numpy_sum(&[1.5]), 1.5);
        let v: Vec<f64> = (1..=300).map(|i| i as f64).collect();
        assert_eq!(numpy_sum(&v), 45150.0);
    }
}
