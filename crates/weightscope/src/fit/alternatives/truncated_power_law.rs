//! The truncated power law x^−α e^−λx, an exponential family in u = ln(x/xmin) (see
//! [`super::expfam`]) that contains the power law (λ = 0).

use super::expfam::{moments, profile_expfam, Family};
use super::{fit_power_law_mle, power_law_loglikelihoods, Tail};
use crate::fit::special::compensated_sum;
use serde::{Deserialize, Serialize};

/// Truncated power law p(x) ∝ x^−α e^−λx on [xmin, ∞).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TruncatedPowerLaw {
    pub alpha: f64,
    pub lambda: f64,
    pub loglikelihood: f64,
    /// The maximum is the power law itself (λ = 0): E_PL[x] ≤ mean(x).
    pub at_power_law: bool,
    /// ln of the normaliser of the density of u = ln(x/xmin), ln ∫₀^∞ e^{(1−α)u − λ·xmin·eᵘ} du
    /// (= ln(xmin^(α−1) λ^(α−1) Γ(1−α, λ·xmin)) ).
    pub ln_norm: f64,
}

/// TPL MLE on the tail. `None` only if the quadrature fails (non-finite data).
pub fn fit_truncated_power_law(tail: &Tail) -> Option<TruncatedPowerLaw> {
    let n = tail.n();
    let pl = fit_power_law_mle(tail);
    let a = pl.alpha - 1.0; // rate of u under the PL
    let mean_r = tail.sum_r / n;
    // KKT at λ = 0: the PL is the maximum iff E_PL[x/xmin] = a/(a−1) ≤ mean(x/xmin).
    if a > 1.0 && a / (a - 1.0) <= mean_r {
        return Some(TruncatedPowerLaw {
            alpha: pl.alpha,
            lambda: 0.0,
            loglikelihood: pl.loglikelihood,
            at_power_law: true,
            ln_norm: -a.ln(),
        });
    }
    let tbar = [tail.sum_u / n, mean_r];
    // powerlaw's start: (α_PL, 1/mean(x)).
    let eta0 = [-a, -1.0 / mean_r];
    let (eta, mom) = profile_expfam(Family::Tpl, tbar, eta0)?;
    let alpha = 1.0 - eta[0];
    let lambda = -eta[1] / tail.xmin;
    let ll = n * (eta[0] * tbar[0] + eta[1] * tbar[1] - mom.ln_z)
        - compensated_sum(tail.ln_x.iter().copied());
    Some(TruncatedPowerLaw {
        alpha,
        lambda,
        loglikelihood: ll,
        at_power_law: false,
        ln_norm: mom.ln_z,
    })
}

pub fn truncated_power_law_loglikelihoods(tail: &Tail, fit: &TruncatedPowerLaw) -> Vec<f64> {
    if fit.at_power_law {
        return power_law_loglikelihoods(tail, fit.alpha);
    }
    let z = fit.lambda * tail.xmin;
    tail.u
        .iter()
        .zip(&tail.ln_x)
        .map(|(&u, &lx)| (1.0 - fit.alpha) * u - z * u.exp() - fit.ln_norm - lx)
        .collect()
}

/// A TPL with given parameters on the tail (to evaluate someone else's fit: the fields
/// are filled as by [`fit_truncated_power_law`]). λ = 0 is the power law (needs α > 1).
pub fn truncated_power_law_at(tail: &Tail, alpha: f64, lambda: f64) -> Option<TruncatedPowerLaw> {
    let mut fit = TruncatedPowerLaw {
        alpha,
        lambda,
        loglikelihood: 0.0,
        at_power_law: lambda == 0.0,
        ln_norm: if lambda == 0.0 && alpha > 1.0 {
            -(alpha - 1.0).ln()
        } else {
            moments(Family::Tpl, [1.0 - alpha, -lambda * tail.xmin])?.ln_z
        },
    };
    fit.loglikelihood = compensated_sum(truncated_power_law_loglikelihoods(tail, &fit));
    Some(fit)
}
