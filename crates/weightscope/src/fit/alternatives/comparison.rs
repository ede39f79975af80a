//! The likelihood-ratio comparison of two fits of the tail (CSN Appendix C, Vuong 1989) and
//! weightwatcher's best-fit rule (the paper's Table 5 "Best Fit" column).

use super::{AlternativeFits, TailComparison};
use crate::fit::special::{chi2_1_sf, compensated_sum, erfc};
use serde::{Deserialize, Serialize};

/// Which distribution fits the tail best (weightwatcher's labels).
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BestFit {
    PL,
    TPL,
    EXP,
    #[serde(rename = "LOG_N")]
    LogN,
    #[serde(rename = "S_EXP")]
    SExp,
}

impl BestFit {
    pub fn as_str(&self) -> &'static str {
        match self {
            BestFit::PL => "PL",
            BestFit::TPL => "TPL",
            BestFit::EXP => "EXP",
            BestFit::LogN => "LOG_N",
            BestFit::SExp => "S_EXP",
        }
    }
}

/// A log-likelihood-ratio test of model 1 against model 2 (CSN Appendix C, Vuong 1989).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LlrTest {
    /// R = Σ(ℓ₁ − ℓ₂): positive favours model 1.
    pub r: f64,
    /// Significance of the sign of R (small p: the sign can be trusted).
    pub p: f64,
    /// R/√(nσ²), what `normalized_ratio=True` returns (0 when σ = 0).
    pub normalized_r: f64,
}

/// `powerlaw`'s `loglikelihood_ratio`: R = Σ(ℓ₁−ℓ₂), σ² the population variance of ℓ₁−ℓ₂;
/// nested: p = P(χ²₁ > 2|R|) (Wilks); else Vuong p = erfc(|R|/√(2nσ²)). Where the two models
/// agree at every point (σ = 0, R = 0) p = 1 (powerlaw returns NaN). −∞ values are replaced
/// by ln(1e-307) as powerlaw does. R is summed with compensation (powerlaw sums in order, so
/// the two differ in the last digits).
pub fn loglikelihood_ratio(l1: &[f64], l2: &[f64], nested: bool) -> LlrTest {
    assert_eq!(l1.len(), l2.len());
    let fix = |v: f64| {
        if v == f64::NEG_INFINITY {
            -706.893_623_549_172_5
        } else {
            v
        }
    };
    let d: Vec<f64> = l1.iter().zip(l2).map(|(&a, &b)| fix(a) - fix(b)).collect();
    let n = d.len() as f64;
    let r = compensated_sum(d.iter().copied());
    let mean = r / n;
    let var = compensated_sum(d.iter().map(|v| (v - mean) * (v - mean))) / n;
    let p = if nested {
        chi2_1_sf(2.0 * r.abs())
    } else if var > 0.0 {
        erfc(r.abs() / (2.0 * n * var).sqrt())
    } else if r == 0.0 {
        1.0
    } else {
        0.0
    };
    let normalized_r = if var > 0.0 { r / (n * var).sqrt() } else { 0.0 };
    LlrTest { r, p, normalized_r }
}

impl AlternativeFits {
    fn ll(&self, d: BestFit) -> &[f64] {
        match d {
            BestFit::PL => &self.ll_pl,
            BestFit::TPL => &self.ll_tpl,
            BestFit::EXP => &self.ll_exp,
            BestFit::LogN => &self.ll_logn,
            BestFit::SExp => &self.ll_sexp,
        }
    }

    /// Test `a` against `b`; nested exactly when one is PL and the other TPL (as powerlaw's
    /// `Fit.distribution_compare` decides nesting, in both orders).
    pub fn compare(&self, a: BestFit, b: BestFit) -> LlrTest {
        let nested = matches!(
            (a, b),
            (BestFit::PL, BestFit::TPL) | (BestFit::TPL, BestFit::PL)
        );
        loglikelihood_ratio(self.ll(a), self.ll(b), nested)
    }

    /// weightwatcher's `RMT_Util.best_dist` rule (audit §3.5): start from PL; switch to TPL if
    /// TPL beats PL (R > 0, p ≤ 0.05); then the first of EXP, S_EXP, LOG_N that beats the
    /// current choice with p ≤ 0.05 wins. This is also how the paper's Table 5 "Best Fit"
    /// column reads (PL or TPL "with a p-value ≤ 0.05").
    pub fn best_fit(&self) -> BestFit {
        const LEVEL: f64 = 0.05;
        let mut best = BestFit::PL;
        let t = self.compare(BestFit::TPL, BestFit::PL);
        if t.r > 0.0 && t.p <= LEVEL {
            best = BestFit::TPL;
        }
        for alt in [BestFit::EXP, BestFit::SExp, BestFit::LogN] {
            let t = self.compare(best, alt);
            if t.r < 0.0 && t.p <= LEVEL {
                return alt;
            }
        }
        best
    }

    /// The output columns.
    pub fn columns(&self) -> TailComparison {
        let tpl = self.compare(BestFit::PL, BestFit::TPL);
        let exp = self.compare(BestFit::PL, BestFit::EXP);
        let logn = self.compare(BestFit::PL, BestFit::LogN);
        let sexp = self.compare(BestFit::PL, BestFit::SExp);
        TailComparison {
            best_fit: self.best_fit(),
            tpl_alpha: self.truncated_power_law.alpha,
            tpl_lambda: self.truncated_power_law.lambda,
            exp_lambda: self.exponential.lambda,
            logn_mu: self.lognormal.mu,
            logn_sigma: self.lognormal.sigma,
            sexp_lambda: self.stretched_exponential.lambda.filter(|l| l.is_finite()),
            sexp_beta: self.stretched_exponential.beta,
            r_tpl: tpl.r,
            p_tpl: tpl.p,
            r_exp: exp.r,
            p_exp: exp.p,
            r_logn: logn.r,
            p_logn: logn.p,
            r_sexp: sexp.r,
            p_sexp: sexp.p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llr_of_identical_models_is_zero_with_p_one() {
        let l = [-1.0, -2.0, -0.5];
        let t = loglikelihood_ratio(&l, &l, false);
        assert_eq!((t.r, t.p, t.normalized_r), (0.0, 1.0, 0.0));
        assert_eq!(loglikelihood_ratio(&l, &l, true).p, 1.0);
    }

    #[test]
    fn llr_hand_computed() {
        // d = (1, 0, 2): R = 3, mean 1, var = 2/3; Vuong p = erfc(3/√(2·3·2/3)) = erfc(1.5).
        let t = loglikelihood_ratio(&[1.0, 0.0, 2.0], &[0.0, 0.0, 0.0], false);
        assert_eq!(t.r, 3.0);
        assert!((t.p - erfc(1.5)).abs() < 1e-16);
        assert!((t.normalized_r - 3.0 / 2.0f64.sqrt()).abs() < 1e-15);
        // Nested: p = P(χ²₁ > 6) = erfc(√3).
        let t = loglikelihood_ratio(&[1.0, 0.0, 2.0], &[0.0, 0.0, 0.0], true);
        assert!((t.p - erfc(3.0f64.sqrt())).abs() < 1e-16);
    }
}
