//! Eigenvalues (no vectors) of a real symmetric matrix by two-stage tridiagonalisation.
//!
//! Hand-written because faer 0.24 has only a one-stage reduction (`tridiag_in_place`): half
//! of its 4/3·M³ flops are matrix–vector products (symv), memory-bound at ≈ 13 GFLOP/s on one
//! core, where a GEMM runs at ≈ 50 (f64) / 100 (f32). Without eigenvectors there is no
//! back-transformation, so the two-stage route of LAPACK's `dsytrd_2stage` costs the same
//! 4/3·M³ flops, now all in GEMMs, plus O(M²·b) (panel QRs, stage 2) and O(M²) (stage 3);
//! one file per stage:
//!
//! 1. [`reduce_to_band`] (`dense_to_band.rs`): dense → band of half-width b, by Householder
//!    QR of each b-column panel below the band (faer's blocked QR, 2·(M−j)·b² flops per panel,
//!    M²·b in all) and a symmetric rank-2b update of the trailing matrix (a symmetric product
//!    with the panel's reflectors, 2·n²·b, and a lower-triangle rank-2b update, 2·n²·b; 4/3·M³
//!    in all). Backward stable: the band matrix is orthogonally similar to A up to
//!    ≈ c·ε·‖A‖.
//! 2. [`band_to_tridiagonal`] (`bulge_chasing.rs`): band → tridiagonal by bulge chasing with
//!    Householder reflectors of length ≤ b (Lang's algorithm, the kernels of LAPACK's
//!    `dsb2st`), ≈ 6·M²·b flops on a band stored in (2b+1)·M numbers, which stays in cache.
//! 3. [`tridiagonal_eigenvalues`] (`pwk_tridiagonal.rs`): eigenvalues of the tridiagonal
//!    matrix in f64 by the root-free QL/QR iteration of Pal, Walker and Kahan (the method of
//!    LAPACK's `dsterf`: implicit QR with Wilkinson shifts on the squared off-diagonals, no
//!    square root per iteration), O(M²). Hand-written too: faer has no root-free variant, and
//!    its `tridiagonal_self_adjoint_evd` keeps the rotations and is 3–4× slower values-only.
//!
//! Precision: every stage is orthogonal, so the eigenvalues are exact to ≈ c·ε·‖A‖₂ in
//! absolute terms, like faer's one-stage route (tested: within 1e-13·‖A‖₂ of faer's in f64;
//! stage 3 alone within 3e-14·‖T‖₂ of Sturm bisection). Stages 1 and 2 run in the working
//! precision T, stage 3 always in f64, so with T = f32 the error is ≈ c·ε₃₂·‖A‖₂ (tested:
//! within 2e-5·‖A‖₂). Everything is sequential and deterministic: the same input gives the
//! same bits.

mod bulge_chasing;
mod dense_to_band;
mod pwk_tridiagonal;

pub use bulge_chasing::band_to_tridiagonal;
pub use dense_to_band::reduce_to_band;
pub use pwk_tridiagonal::tridiagonal_eigenvalues;

use faer::reborrow::{Reborrow, ReborrowMut};
use faer::MatMut;

/// The floating-point types the reduction runs in (f32 or f64).
pub trait Float:
    faer::traits::RealField
    + Copy
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Div<Output = Self>
    + std::ops::Neg<Output = Self>
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + PartialOrd
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// Conversion from f64 (rounded).
    fn of(x: f64) -> Self;
    /// Conversion to f64 (exact).
    fn f64(self) -> f64;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
}

macro_rules! impl_float {
    ($t:ty) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            fn of(x: f64) -> Self {
                x as $t
            }
            fn f64(self) -> f64 {
                self as f64
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
        }
    };
}
impl_float!(f32);
impl_float!(f64);

/// Band half-width of stage 1 by measurement (`examples/kernel_speed.rs`, `--bands`): wider
/// bands make the stage-1 GEMMs faster (inner dimension 2b) and stage 2 slower (6·M²·b
/// flops), which matters more at small M. Measured whole-layer ratios to the FLOP limit: f64
/// M = 1024 b=16 1.88× vs b=32 2.09×, M = 768 2.17× vs 2.31×, M ≥ 2048 best at 32; f32
/// M = 1024 b=32 2.31× vs b=48 2.51×, M = 2048 2.08× vs 2.26×, M = 4096 best at 48.
pub fn default_band<T: Float>(m: usize) -> usize {
    let single = core::mem::size_of::<T>() == 4;
    match (single, m) {
        (false, ..=1024) => 16,
        (false, _) => 32,
        (true, ..=2048) => 32,
        (true, _) => 48,
    }
}

/// Why stage 3, the tridiagonal QL/QR iteration, did not converge (NaN/Inf input).
#[derive(Debug)]
pub struct NoConvergence;

/// Eigenvalues of the symmetric matrix whose lower triangle is in `a` (the strict upper
/// triangle is ignored; `a` is overwritten), in no particular order, with band half-width `b`
/// (≥ 1) for stage 1. The tridiagonal eigenvalues are computed in f64 whatever T.
pub fn symmetric_eigenvalues<T: Float>(
    a: MatMut<'_, T>,
    b: usize,
) -> Result<Vec<f64>, NoConvergence> {
    let n = a.nrows();
    assert_eq!(n, a.ncols(), "square matrix expected");
    assert!(b >= 1, "band half-width must be ≥ 1");
    if n == 0 {
        return Ok(Vec::new());
    }
    let b = b.min(n - 1).max(1);
    let mut a = a;
    reduce_to_band(a.rb_mut(), b);
    let (d, e) = band_to_tridiagonal(a.rb(), b);
    tridiagonal_eigenvalues(&d, &e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    pub(super) struct Rng(pub(super) u64);
    impl Rng {
        pub(super) fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
        }
    }

    fn random_symmetric(n: usize, seed: u64) -> Mat<f64> {
        let mut rng = Rng(seed);
        let g = Mat::<f64>::from_fn(n, n, |_, _| rng.next());
        Mat::from_fn(n, n, |i, j| g[(i, j)] + g[(j, i)])
    }

    /// Q·diag(λ)·Qᵀ with Q orthogonal (the Q of a random matrix's QR).
    fn with_spectrum(lambda: &[f64], seed: u64) -> Mat<f64> {
        let n = lambda.len();
        let mut rng = Rng(seed);
        let g = Mat::<f64>::from_fn(n, n, |_, _| rng.next());
        let q = g.qr().compute_Q();
        let ql = Mat::from_fn(n, n, |i, j| q[(i, j)] * lambda[j]);
        &ql * q.transpose()
    }

    fn faer_eigenvalues(a: &Mat<f64>) -> Vec<f64> {
        let mut v = a.self_adjoint_eigenvalues(faer::Side::Lower).unwrap();
        v.sort_by(f64::total_cmp);
        v
    }

    fn ours<T: Float>(a: &Mat<f64>, b: usize) -> Vec<f64> {
        let n = a.nrows();
        // Only the lower triangle is read: poison the upper one.
        let mut x = Mat::<T>::from_fn(n, n, |i, j| {
            if i >= j {
                T::of(a[(i, j)])
            } else {
                T::of(f64::NAN)
            }
        });
        let mut v = symmetric_eigenvalues(x.as_mut(), b).unwrap();
        v.sort_by(f64::total_cmp);
        v
    }

    pub(super) fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    pub(super) fn scale(v: &[f64]) -> f64 {
        v.iter()
            .map(|x| x.abs())
            .fold(0.0, f64::max)
            .max(f64::MIN_POSITIVE)
    }

    #[test]
    fn matches_faer_on_random_matrices_for_every_band_width() {
        for (n, seed) in [
            (1, 1),
            (2, 2),
            (3, 3),
            (5, 4),
            (17, 5),
            (64, 6),
            (101, 7),
            (300, 8),
        ] {
            let a = random_symmetric(n, seed);
            let reference = faer_eigenvalues(&a);
            for b in [
                1,
                2,
                3,
                8,
                16,
                31,
                48,
                64,
                n.saturating_sub(1).max(1),
                n + 5,
            ] {
                let got = ours::<f64>(&a, b);
                let err = max_abs_diff(&got, &reference) / scale(&reference);
                assert!(err < 1e-13, "n={n} b={b}: {err:e}");
            }
        }
    }

    #[test]
    fn recovers_known_spectra() {
        let n = 150;
        let spectra: Vec<Vec<f64>> = vec![
            // Distinct, spread over decades.
            (0..n)
                .map(|i| 10f64.powf(-6.0 + 8.0 * i as f64 / n as f64))
                .collect(),
            // Heavily repeated (three values) and exact zeros.
            (0..n).map(|i| [0.0, 1.0, 7.5][i % 3]).collect(),
            // One spike above a bulk, negative values too.
            (0..n)
                .map(|i| {
                    if i == 0 {
                        1e3
                    } else {
                        (i as f64 - 75.0) / 10.0
                    }
                })
                .collect(),
        ];
        for (k, lambda) in spectra.iter().enumerate() {
            let a = with_spectrum(lambda, 100 + k as u64);
            let mut want = lambda.clone();
            want.sort_by(f64::total_cmp);
            for b in [4, 32, 48, 149, 200] {
                let got = ours::<f64>(&a, b);
                let err = max_abs_diff(&got, &want) / scale(&want);
                assert!(err < 1e-13, "spectrum {k} b={b}: {err:e}");
            }
        }
    }

    #[test]
    fn small_and_degenerate_cases() {
        assert!(ours::<f64>(&Mat::zeros(0, 0), 8).is_empty());
        assert_eq!(ours::<f64>(&Mat::from_fn(1, 1, |_, _| -2.5), 8), vec![-2.5]);
        let a = Mat::from_fn(2, 2, |i, j| if i == j { 2.0 } else { 1.0 });
        let got = ours::<f64>(&a, 1);
        assert!(max_abs_diff(&got, &[1.0, 3.0]) < 1e-15, "{got:?}");
        for n in [3, 40, 97] {
            let got = ours::<f64>(&Mat::zeros(n, n), 16);
            assert!(got.iter().all(|&x| x == 0.0), "{got:?}");
            // Already diagonal, and already tridiagonal.
            let d = Mat::from_fn(n, n, |i, j| if i == j { i as f64 } else { 0.0 });
            let want: Vec<f64> = (0..n).map(|i| i as f64).collect();
            assert!(max_abs_diff(&ours::<f64>(&d, 16), &want) < 1e-13 * n as f64);
            let t = Mat::from_fn(n, n, |i, j| {
                if i == j {
                    2.0
                } else if i.abs_diff(j) == 1 {
                    -1.0
                } else {
                    0.0
                }
            });
            let want = faer_eigenvalues(&t);
            assert!(max_abs_diff(&ours::<f64>(&t, 16), &want) < 1e-13 * 4.0);
        }
    }

    #[test]
    fn deterministic() {
        let a = random_symmetric(200, 9);
        let first = ours::<f64>(&a, 48);
        for _ in 0..3 {
            let again = ours::<f64>(&a, 48);
            assert!(first
                .iter()
                .zip(&again)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    #[test]
    fn single_precision_is_good_to_f32_epsilon_of_the_norm() {
        let a = random_symmetric(250, 10);
        let reference = faer_eigenvalues(&a);
        for b in [8, 64] {
            let got = ours::<f32>(&a, b);
            let err = max_abs_diff(&got, &reference) / scale(&reference);
            assert!(err < 2e-5, "b={b}: {err:e}");
        }
    }
}
