//! weightwatcher's training warning from α (paper §5.5: well-trained layers have 2 ≤ α ≤ 6;
//! below 2 the tail is very heavy, above 6 the layer is barely trained). A fit that failed
//! has no warning: no α, no verdict.

use serde::{Deserialize, Serialize};

/// Below this α a layer is flagged over-trained.
pub const ALPHA_OVER_TRAINED: f64 = 2.0;
/// Above this α a layer is flagged under-trained.
pub const ALPHA_UNDER_TRAINED: f64 = 6.0;

/// The training warning of a layer (weightwatcher's `warning` column).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Warning {
    /// 2 ≤ α ≤ 6, or no fit.
    #[default]
    #[serde(rename = "")]
    None,
    /// α < 2.
    #[serde(rename = "over-trained")]
    OverTrained,
    /// α > 6.
    #[serde(rename = "under-trained")]
    UnderTrained,
}

impl Warning {
    /// The warning for a fitted α.
    pub fn from_alpha(alpha: f64) -> Warning {
        if alpha < ALPHA_OVER_TRAINED {
            Warning::OverTrained
        } else if alpha > ALPHA_UNDER_TRAINED {
            Warning::UnderTrained
        } else {
            Warning::None
        }
    }

    /// weightwatcher's text: "over-trained", "under-trained" or empty.
    pub fn as_str(&self) -> &'static str {
        match self {
            Warning::None => "",
            Warning::OverTrained => "over-trained",
            Warning::UnderTrained => "under-trained",
        }
    }

    pub fn is_none(&self) -> bool {
        *self == Warning::None
    }

    /// How many rows are flagged over-trained and under-trained.
    pub fn counts(rows: &[crate::LayerResult]) -> (usize, usize) {
        let count = |w| rows.iter().filter(|r| r.warning == w).count();
        (count(Warning::OverTrained), count(Warning::UnderTrained))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_weightwatchers() {
        assert_eq!(Warning::from_alpha(1.5), Warning::OverTrained);
        assert_eq!(Warning::from_alpha(2.0), Warning::None);
        assert_eq!(Warning::from_alpha(4.0), Warning::None);
        assert_eq!(Warning::from_alpha(6.0), Warning::None);
        assert_eq!(Warning::from_alpha(6.5), Warning::UnderTrained);
        assert_eq!(Warning::OverTrained.as_str(), "over-trained");
        assert_eq!(serde_json::to_string(&Warning::None).unwrap(), "\"\"");
        assert_eq!(
            serde_json::from_str::<Warning>("\"under-trained\"").unwrap(),
            Warning::UnderTrained
        );
    }
}
