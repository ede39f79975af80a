//! The stretched exponential βλ^β x^(β−1) e^{(λ·xmin)^β − (λx)^β}: κ = (λ·xmin)^β in closed
//! form for fixed β, β by bisection on the score of the concave profile likelihood.

use super::{fit_power_law_mle, power_law_loglikelihoods, Tail};
use crate::fit::special::compensated_sum;
use serde::{Deserialize, Serialize};

/// Stretched exponential βλ^β x^(β−1) e^{(λ·xmin)^β − (λx)^β}. At the power-law limit (β → 0,
/// λ → ∞) the parameters are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StretchedExponential {
    pub lambda: Option<f64>,
    pub beta: Option<f64>,
    pub loglikelihood: f64,
    pub at_power_law: bool,
    /// ln κ = β ln(λ·xmin).
    pub ln_kappa: f64,
}

/// ln(eʸ − 1) for y > 0, without overflow.
fn ln_expm1(y: f64) -> f64 {
    if y > 30.0 {
        y + (-(-y).exp_m1()).ln()
    } else {
        y.exp_m1().ln()
    }
}

/// ln F(y), F(y) = (eʸ − 1)/y = ∫₀¹ e^{ys} ds, y ≥ 0.
fn ln_f(y: f64) -> f64 {
    if y == 0.0 {
        0.0
    } else {
        ln_expm1(y) - y.ln()
    }
}

/// ln G(y), G(y) = ∫₀¹ s e^{ys} ds = ((y−1)eʸ + 1)/y², y ≥ 0.
fn ln_g(y: f64) -> f64 {
    if y <= 1.0 {
        // Σ yᵏ/(k!(k+2)), converges fast for y ≤ 1 and avoids the cancellation.
        let (mut term, mut sum) = (1.0f64, 0.5f64);
        for k in 1..40 {
            term *= y / k as f64;
            let c = term / (k + 2) as f64;
            sum += c;
            if c < 1e-18 * sum {
                break;
            }
        }
        sum.ln()
    } else if y < 700.0 {
        ((y - 1.0) * y.exp() + 1.0).ln() - 2.0 * y.ln()
    } else {
        y + (y - 1.0).ln() - 2.0 * y.ln()
    }
}

fn log_sum_exp(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = v.clone().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + compensated_sum(v.map(|x| (x - m).exp())).ln()
}

/// ln Σ (e^{βuᵢ} − 1) = ln β + ln Σ uᵢ F(βuᵢ).
fn ln_s(tail: &Tail, beta: f64) -> f64 {
    let pos = tail.u.iter().filter(|&&u| u > 0.0);
    beta.ln() + log_sum_exp(pos.map(move |&u| u.ln() + ln_f(beta * u)))
}

/// Score of the S_EXP profile log-likelihood, divided by n: mean(u) − h'(β), h'(β) the mean
/// of t under the measure Σᵢ e^{βt}·1[0,uᵢ](t) dt. Decreasing in β.
fn sexp_score(tail: &Tail, beta: f64) -> f64 {
    let pos = tail.u.iter().filter(|&&u| u > 0.0);
    let num = log_sum_exp(pos.clone().map(move |&u| 2.0 * u.ln() + ln_g(beta * u)));
    let den = log_sum_exp(pos.map(move |&u| u.ln() + ln_f(beta * u)));
    tail.sum_u / tail.n() - (num - den).exp()
}

/// Stretched-exponential MLE on the tail (profile likelihood in β, see the module doc).
pub fn fit_stretched_exponential(tail: &Tail) -> Option<StretchedExponential> {
    let n = tail.n();
    let pl = fit_power_law_mle(tail);
    if tail.dispersed_as_power_law() {
        return Some(StretchedExponential {
            lambda: None,
            beta: None,
            loglikelihood: pl.loglikelihood,
            at_power_law: true,
            ln_kappa: f64::NAN,
        });
    }
    // Bracket the root of the decreasing score in ln β.
    let mean_u = tail.sum_u / n;
    let mut lo = (1.0 / mean_u).ln();
    let mut hi = lo;
    let mut guard = 0;
    while sexp_score(tail, lo.exp()) <= 0.0 {
        lo -= 1.0;
        guard += 1;
        if guard > 2000 || lo < -700.0 {
            return None;
        }
    }
    while sexp_score(tail, hi.exp()) > 0.0 {
        hi += 1.0;
        guard += 1;
        if guard > 4000 || hi > 700.0 {
            return None;
        }
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if sexp_score(tail, mid.exp()) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let beta = (0.5 * (lo + hi)).exp();
    let ln_kappa = n.ln() - ln_s(tail, beta);
    let ll = n * beta.ln() + n * ln_kappa + beta * tail.sum_u
        - compensated_sum(tail.ln_x.iter().copied())
        - n;
    let lambda = (ln_kappa / beta).exp() / tail.xmin;
    Some(StretchedExponential {
        lambda: Some(lambda),
        beta: Some(beta),
        loglikelihood: ll,
        at_power_law: false,
        ln_kappa,
    })
}

pub fn stretched_exponential_loglikelihoods(
    tail: &Tail,
    fit: &StretchedExponential,
    pl_alpha: f64,
) -> Vec<f64> {
    let Some(beta) = fit.beta.filter(|_| !fit.at_power_law) else {
        return power_law_loglikelihoods(tail, pl_alpha);
    };
    let lb = beta.ln();
    tail.u
        .iter()
        .zip(&tail.ln_x)
        .map(|(&u, &lx)| {
            let kterm = if u > 0.0 {
                (fit.ln_kappa + ln_expm1(beta * u)).exp()
            } else {
                0.0
            };
            lb + fit.ln_kappa - lx + beta * u - kterm
        })
        .collect()
}

/// A stretched exponential with given λ, β on the tail.
pub fn stretched_exponential_at(tail: &Tail, lambda: f64, beta: f64) -> StretchedExponential {
    let mut fit = StretchedExponential {
        lambda: Some(lambda),
        beta: Some(beta),
        loglikelihood: 0.0,
        at_power_law: false,
        ln_kappa: beta * (lambda * tail.xmin).ln(),
    };
    fit.loglikelihood = compensated_sum(stretched_exponential_loglikelihoods(tail, &fit, 2.0));
    fit
}
