//! Capacity metrics of an ESD (paper §2.1, §3; weightwatcher 0.7.7's definitions, so the
//! columns mean what users already know). `evals` are the eigenvalues λ of X = WᵀW,
//! ascending; for pooled convolutions, of all maps together.

use serde::Serialize;

/// Eigenvalues at or below this are excluded from the power-law fit (weightwatcher's
/// `EVALS_THRESH`).
pub const EVALS_THRESH: f64 = 1e-5;
/// Default threshold of `weak_rank_loss` (#λ below it).
pub const WEAK_RANK_TOLERANCE: f64 = 1e-6;
/// Added to p and to the rank in the matrix entropy, as weightwatcher does (its EPSILON).
const ENTROPY_EPSILON: f64 = 1e-10;

/// Metrics that need only the eigenvalues.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EsdMetrics {
    pub num_evals: usize,
    /// λmax = ‖W‖₂² (the spectral norm, squared, in weightwatcher's naming).
    pub lambda_max: f64,
    pub sv_max: f64,
    pub sv_min: f64,
    /// #λ < tolerance.
    pub weak_rank_loss: usize,
    /// Σλ = ‖W‖_F².
    pub norm: f64,
    pub log_norm: f64,
    /// λmax again, under weightwatcher's column name.
    pub spectral_norm: f64,
    pub log_spectral_norm: f64,
    /// Stable rank ‖W‖_F²/‖W‖₂² = Σλ/λmax (Eqn. 7).
    pub stable_rank: f64,
    /// Hard rank: #σ > σmax·N·ε (numpy's `matrix_rank` tolerance).
    pub matrix_rank: usize,
    /// Matrix entropy (Eqn. 6): −Σ pᵢ ln pᵢ / ln R with pᵢ = λᵢ/Σλ, R the hard rank.
    pub entropy: f64,
}

/// Hard rank from eigenvalues: #√λ > √λmax · N · ε₆₄ (numpy's default tolerance).
pub fn matrix_rank(evals: &[f64], n: usize) -> usize {
    let sv_max = evals.iter().fold(0.0f64, |a, &b| a.max(b)).sqrt();
    let tol = sv_max * n as f64 * f64::EPSILON;
    evals.iter().filter(|&&l| l.max(0.0).sqrt() > tol).count()
}

/// Matrix entropy (Eqn. 6), normalised by ln(rank) as weightwatcher does, with its ε = 1e-10
/// added to every pᵢ and to the rank. NaN for an all-zero spectrum.
///
/// Where this differs from weightwatcher: a normalised entropy lies in [0, 1], but with ε the
/// formula does not. At rank 1 (a constant or rank-collapsed matrix) the denominator is
/// ln(1 + ε) ≈ 1e-10 while each of the M − 1 zero eigenvalues adds ε·|ln ε| ≈ 2.3e-9, so
/// weightwatcher reports ≈ 23·(M − 1) (712.8 at M = 32), which then dominates any mean over
/// layers. All the mass on one eigenvalue is entropy 0 (the limit of Eqn. 6), so rank ≤ 1
/// gives 0; otherwise the ε terms of the zero eigenvalues may push the ratio a little past 1
/// when the spectrum is flat, so it is clamped to [0, 1].
pub fn matrix_entropy(evals: &[f64], n: usize) -> f64 {
    let total: f64 = evals.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return f64::NAN;
    }
    let rank = matrix_rank(evals, n) as f64;
    if rank <= 1.0 {
        return 0.0;
    }
    let h: f64 = evals
        .iter()
        .map(|&l| {
            let p = l / total + ENTROPY_EPSILON;
            -p * p.ln()
        })
        .sum();
    (h / (rank + ENTROPY_EPSILON).ln()).clamp(0.0, 1.0)
}

/// Compute [`EsdMetrics`]. `n` is the layer's larger dimension.
pub fn esd_metrics(evals: &[f64], n: usize, tolerance: f64) -> EsdMetrics {
    let lambda_max = evals.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let lambda_min = evals.iter().fold(f64::INFINITY, |a, &b| a.min(b));
    let norm: f64 = evals.iter().sum();
    EsdMetrics {
        num_evals: evals.len(),
        lambda_max,
        sv_max: lambda_max.max(0.0).sqrt(),
        sv_min: lambda_min.max(0.0).sqrt(),
        weak_rank_loss: evals.iter().filter(|&&l| l < tolerance).count(),
        norm,
        log_norm: norm.log10(),
        spectral_norm: lambda_max,
        log_spectral_norm: lambda_max.log10(),
        stable_rank: norm / lambda_max,
        matrix_rank: matrix_rank(evals, n),
        entropy: matrix_entropy(evals, n),
    }
}

/// α̂ = α·log10 λmax (the weighted alpha of the model-quality metric).
pub fn alpha_weighted(alpha: f64, lambda_max: f64) -> f64 {
    alpha * lambda_max.log10()
}

/// log10 Σ λᵢ^α over all eigenvalues (log of the Schatten α-norm to the power α), summed
/// relative to λmax so that large α cannot overflow.
pub fn log_alpha_norm(evals: &[f64], alpha: f64) -> f64 {
    let max = evals.iter().fold(0.0f64, |a, &b| a.max(b));
    if max <= 0.0 {
        return f64::NEG_INFINITY;
    }
    let s: f64 = evals.iter().map(|&l| (l.max(0.0) / max).powf(alpha)).sum();
    alpha * max.log10() + s.log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_metrics() {
        // W = diag(1, 2) (2×2): λ = 1, 4.
        let ev = [1.0, 4.0];
        let m = esd_metrics(&ev, 2, WEAK_RANK_TOLERANCE);
        assert_eq!(m.norm, 5.0);
        assert_eq!(m.stable_rank, 1.25);
        assert_eq!(m.matrix_rank, 2);
        assert_eq!((m.sv_max, m.sv_min), (2.0, 1.0));
        let (p1, p2) = (0.2 + 1e-10, 0.8 + 1e-10);
        let h = -(p1 * f64::ln(p1) + p2 * f64::ln(p2)) / f64::ln(2.0 + 1e-10);
        assert!((m.entropy - h).abs() < 1e-15);
        assert!((log_alpha_norm(&ev, 2.0) - 17f64.log10()).abs() < 1e-14);
        assert!((alpha_weighted(3.0, 100.0) - 6.0).abs() < 1e-15);
    }

    #[test]
    fn entropy_stays_within_0_and_1_for_constant_and_rank_deficient_matrices() {
        // A constant 64 × 32 matrix: one eigenvalue 64·32·c², 31 zeros. weightwatcher's
        // formula gives ≈ 23·31 = 712.8 here; all the mass on one eigenvalue is entropy 0.
        let mut ev = vec![0.0; 31];
        ev.push(64.0 * 32.0 * 0.09);
        let with_ww_formula = {
            let total: f64 = ev.iter().sum();
            let h: f64 = ev
                .iter()
                .map(|&l| {
                    let p = l / total + 1e-10;
                    -p * p.ln()
                })
                .sum();
            h / (1.0f64 + 1e-10).ln()
        };
        assert!((with_ww_formula - 712.8).abs() < 0.1, "{with_ww_formula}");
        assert_eq!(matrix_entropy(&ev, 64), 0.0);
        // Rank 2 with many zeros and a flat top: ln 2/ln 2 = 1 plus the ε terms of 10^6
        // zeros (10^6 · 2.3e-9 / ln 2 ≈ 3.3e-3): clamped to 1.
        let mut ev = vec![0.0; 1_000_000];
        ev.extend([1.0, 1.0]);
        assert_eq!(matrix_entropy(&ev, 1_000_002), 1.0);
        // An all-zero spectrum has none.
        assert!(matrix_entropy(&[0.0, 0.0], 2).is_nan());
    }

    #[test]
    fn rank_counts_only_above_numpy_tolerance() {
        let ev = [0.0, 1e-40, 1.0, 4.0];
        assert_eq!(matrix_rank(&ev, 10), 2);
        assert_eq!(esd_metrics(&ev, 10, 1e-6).weak_rank_loss, 2);
    }
}
