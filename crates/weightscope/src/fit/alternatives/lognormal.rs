//! The lognormal normalised on [xmin, ∞), an exponential family in u = ln(x/xmin) (see
//! [`super::expfam`]) whose limit σ → ∞ is the power law.

use super::expfam::{moments, profile_expfam, Family};
use super::{fit_power_law_mle, power_law_loglikelihoods, Tail};
use crate::fit::special::compensated_sum;
use serde::{Deserialize, Serialize};

/// Lognormal normalised on [xmin, ∞). At the power-law limit μ and σ are infinite (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lognormal {
    pub mu: Option<f64>,
    pub sigma: Option<f64>,
    pub loglikelihood: f64,
    /// The supremum is the power-law limit (σ → ∞): Var(ln x) ≥ mean(ln(x/xmin))² on the tail.
    pub at_power_law: bool,
    /// Natural parameters (−1/(2σ²), (μ − ln xmin)/σ²) and ln ∫₀^∞ e^{η₁u² + η₂u} du.
    pub eta: [f64; 2],
    pub ln_norm: f64,
}

/// Lognormal MLE on the tail (normalised on [xmin, ∞)).
pub fn fit_lognormal(tail: &Tail) -> Option<Lognormal> {
    let n = tail.n();
    let pl = fit_power_law_mle(tail);
    if tail.dispersed_as_power_law() {
        return Some(Lognormal {
            mu: None,
            sigma: None,
            loglikelihood: pl.loglikelihood,
            at_power_law: true,
            eta: [0.0, 1.0 - pl.alpha],
            ln_norm: -(pl.alpha - 1.0).ln(),
        });
    }
    let tbar = [tail.sum_u2 / n, tail.sum_u / n];
    // powerlaw's start: μ = mean(ln x), σ = std(ln x).
    let var = (tbar[0] - tbar[1] * tbar[1]).max(1e-300);
    let eta0 = [-0.5 / var, tbar[1] / var];
    let (eta, mom) = profile_expfam(Family::LogN, tbar, eta0)?;
    let sigma = (-0.5 / eta[0]).sqrt();
    let mu = tail.xmin.ln() + eta[1] * sigma * sigma;
    let ll = n * (eta[0] * tbar[0] + eta[1] * tbar[1] - mom.ln_z)
        - compensated_sum(tail.ln_x.iter().copied());
    Some(Lognormal {
        mu: Some(mu),
        sigma: Some(sigma),
        loglikelihood: ll,
        at_power_law: false,
        eta,
        ln_norm: mom.ln_z,
    })
}

pub fn lognormal_loglikelihoods(tail: &Tail, fit: &Lognormal) -> Vec<f64> {
    if fit.at_power_law {
        return power_law_loglikelihoods(tail, 1.0 - fit.eta[1]);
    }
    tail.u
        .iter()
        .zip(&tail.ln_x)
        .map(|(&u, &lx)| fit.eta[0] * u * u + fit.eta[1] * u - fit.ln_norm - lx)
        .collect()
}

/// A lognormal with given μ, σ on the tail (normalised on [xmin, ∞)).
pub fn lognormal_at(tail: &Tail, mu: f64, sigma: f64) -> Option<Lognormal> {
    let s2 = sigma * sigma;
    let eta = [-0.5 / s2, (mu - tail.xmin.ln()) / s2];
    let mut fit = Lognormal {
        mu: Some(mu),
        sigma: Some(sigma),
        loglikelihood: 0.0,
        at_power_law: false,
        eta,
        ln_norm: moments(Family::LogN, eta)?.ln_z,
    };
    fit.loglikelihood = compensated_sum(lognormal_loglikelihoods(tail, &fit));
    Some(fit)
}
