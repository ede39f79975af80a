//! The exponential alternative λ e^−λ(x−xmin), in closed form.

use super::Tail;
use serde::{Deserialize, Serialize};

/// Exponential λ e^−λ(x−xmin).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Exponential {
    pub lambda: f64,
    pub loglikelihood: f64,
}

/// Exponential MLE: λ = n / Σ(x − xmin).
pub fn fit_exponential(tail: &Tail) -> Exponential {
    let n = tail.n();
    let lambda = n / tail.sum_excess;
    Exponential {
        lambda,
        loglikelihood: n * lambda.ln() - n,
    }
}

pub fn exponential_loglikelihoods(tail: &Tail, lambda: f64) -> Vec<f64> {
    let l = lambda.ln();
    tail.x
        .iter()
        .map(|&x| l - lambda * (x - tail.xmin))
        .collect()
}
