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
pub fn matrix_entropy(evals: &[f64], n: usize) -> f64 {
    let total: f64 = evals.iter().sum();
    let rank = matrix_rank(evals, n) as f64;
    let h: f64 = evals
        .iter()
        .map(|&l| {
            let p = l / total + ENTROPY_EPSILON;
            -p * p.ln()
        })
        .sum();
    h / (rank + ENTROPY_EPSILON).ln()
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
    fn rank_counts_only_above_numpy_tolerance() {
        let ev = [0.0, 1e-40, 1.0, 4.0];
        assert_eq!(matrix_rank(&ev, 10), 2);
        assert_eq!(esd_metrics(&ev, 10, 1e-6).weak_rank_loss, 2);
    }
}
