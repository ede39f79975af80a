//! The heavy-tailed universality class of a layer from its power-law exponent α
//! (paper §3.2, Table 3, and the rule of thumb of §5.5).
//!
//! The paper models W as having entries with tails p(x) ~ x^−(1+μ) (Eqn. 10); the ESD of such a
//! matrix has a power-law tail ρ(λ) ~ λ^−(μ/2+1) (Table 2, for 0 < μ < 4), and three
//! universality classes follow (Table 3):
//! * **very heavy** (0 < μ < 2): the ESD is a power law at every size; α ≈ 1 + μ/2, so
//!   μ ≈ 2(α − 1) and α < 2;
//! * **fat** ("moderately heavy", 2 < μ < 4): power law in the limit but with large finite-size
//!   effects; at finite size ρ_N(λ) ~ λ^−(aμ+b) with a and b "fit" and size-dependent. The
//!   paper's rule of thumb (§5.5): "if 2 < α < 4, but not too large, then α is well-modeled by
//!   α ≈ b + aμ, and we are mostly likely in the fat-tailed class". It gives no values for a
//!   and b; we use the line through the class corners (μ, α) = (2, 2) and (4, 4), i.e. a = 1,
//!   b = 0, μ ≈ α, which continues the very-heavy relation at α = 2;
//! * **weak** (μ > 4): MP bulk with heavy-tailed edge fluctuations (α ≥ 4); μ is not
//!   identifiable from α (the CSN fit "is known to fail to perform well"), so it is left empty.
//!
//! μ = 2 and μ = 4 are "corner cases that we don't expect to be able to resolve at finite N"
//! (footnote 12): α = 2 is put in the fat class and α = 4 in the weak class.

use serde::{Deserialize, Serialize};

/// One of the three heavy-tailed universality classes of Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UniversalityClass {
    /// (Very) Heavy-Tailed, 0 < μ < 2.
    VeryHeavy,
    /// (Moderately) Heavy-Tailed or "fat-tailed", 2 < μ < 4.
    Fat,
    /// (Weakly) Heavy-Tailed, μ > 4.
    Weak,
}

impl UniversalityClass {
    pub fn as_str(&self) -> &'static str {
        match self {
            UniversalityClass::VeryHeavy => "very-heavy",
            UniversalityClass::Fat => "fat",
            UniversalityClass::Weak => "weak",
        }
    }
}

/// The one-line caveat to print with μ.
pub const UNIVERSALITY_CAVEAT: &str = "mu from alpha is approximate: large finite-size effects for 2 < mu < 4 (alpha ~ a*mu + b, a = 1, b = 0 assumed), and the alpha fit is reliable only for 1.5 < alpha < 3.5 (paper 3.2, Fig. 6)";

/// μ and the universality class of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Universality {
    /// Estimated tail exponent μ of the entries (empty in the weak class).
    pub mu: Option<f64>,
    pub universality: UniversalityClass,
}

/// The class and μ for a fitted α; `None` unless α > 1 (no heavy tail to classify).
pub fn universality(alpha: f64) -> Option<Universality> {
    if !(alpha > 1.0 && alpha.is_finite()) {
        return None;
    }
    Some(if alpha < 2.0 {
        Universality {
            mu: Some(2.0 * (alpha - 1.0)),
            universality: UniversalityClass::VeryHeavy,
        }
    } else if alpha < 4.0 {
        Universality {
            mu: Some(alpha),
            universality: UniversalityClass::Fat,
        }
    } else {
        Universality {
            mu: None,
            universality: UniversalityClass::Weak,
        }
    })
}
