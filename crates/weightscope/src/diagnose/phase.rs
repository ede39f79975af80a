//! The 5+1 phase classifier (paper §5, Table 7): Random-like, Bleeding-out, Bulk+Spikes,
//! Bulk-decay, Heavy-Tailed, Rank-collapse — from the evidence the paper reads off an ESD:
//! the mass at zero, whether an MP bulk fits and how well, how many eigenvalues leave it and
//! how far, and the power-law fit of the tail.

use crate::fit::marchenko_pastur::MpFit;
use serde::{Deserialize, Serialize};

/// The 5+1 phases of training (paper §5, Table 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Phase {
    #[serde(rename = "Random-like")]
    RandomLike,
    #[serde(rename = "Bleeding-out")]
    BleedingOut,
    #[serde(rename = "Bulk+Spikes")]
    BulkSpikes,
    #[serde(rename = "Bulk-decay")]
    BulkDecay,
    #[serde(rename = "Heavy-Tailed")]
    HeavyTailed,
    #[serde(rename = "Rank-collapse")]
    RankCollapse,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::RandomLike,
        Phase::BleedingOut,
        Phase::BulkSpikes,
        Phase::BulkDecay,
        Phase::HeavyTailed,
        Phase::RankCollapse,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Phase::RandomLike => "Random-like",
            Phase::BleedingOut => "Bleeding-out",
            Phase::BulkSpikes => "Bulk+Spikes",
            Phase::BulkDecay => "Bulk-decay",
            Phase::HeavyTailed => "Heavy-Tailed",
            Phase::RankCollapse => "Rank-collapse",
        }
    }

    /// Parse a phase name, case- and punctuation-insensitively ("bulk-spikes", "heavy_tailed").
    pub fn parse(s: &str) -> Option<Phase> {
        let key: String = s
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        Phase::ALL.into_iter().find(|p| {
            p.as_str()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase()
                == key
        })
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the classifier looks at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseEvidence {
    /// Share of eigenvalues that are numerically zero (λ < 1e-10·λmax, with a 1e-12·λmax
    /// tolerance of the solver below that).
    pub zero_mass: f64,
    /// KS distance of the MP bulk fit.
    pub bulk_ks: f64,
    /// λ⁺/λmax (before the "no fit ⇒ 0" rule).
    pub softrank: f64,
    /// Eigenvalues above λ⁺ + ΔλM, and those of them within a few ΔλM of λ⁺.
    pub num_spikes: usize,
    pub num_bleeding_out: usize,
    /// Share of Σλ carried by the spikes.
    pub spike_mass: f64,
    /// Number of eigenvalues M·rf.
    pub num_evals: usize,
}

/// Eigenvalues below this fraction of λmax count as zero mass.
pub const ZERO_EVAL_RATIO: f64 = 1e-10;
/// Zero mass at or above this share means Rank-collapse.
pub const RANK_COLLAPSE_ZERO_MASS: f64 = 0.2;
/// An MP bulk "fits" when its KS distance is at most this (cf. `MP_FIT_MAX_KS`).
pub const BULK_FIT_KS: f64 = 0.1;
/// Spikes beyond this share of the eigenvalues (or carrying this share of the mass) are no
/// longer "one or a small number K ≪ M" (§5.3): Bulk-decay.
pub const DECAY_SPIKE_SHARE: f64 = 0.05;
/// With many eigenvalues beyond the edge, a share of them this large still in the band just
/// above λ⁺ means mass crosses the edge continuously — "no good λ⁺" (Table 7): Heavy-Tailed.
/// Bulk-decay keeps an identifiable edge, its outliers lying farther out.
pub const HEAVY_TAILED_EDGE_SHARE: f64 = 0.3;
/// λmax beyond this many λ⁺ (soft rank below its inverse) is "λmax ≫ λ⁺": Heavy-Tailed.
pub const HEAVY_TAILED_SOFTRANK: f64 = 0.05;

/// Collect the evidence from sorted eigenvalues and an MP fit.
pub fn evidence(evals: &[f64], mp: &MpFit) -> PhaseEvidence {
    let m = evals.len();
    let lmax = evals.last().copied().unwrap_or(0.0);
    let zeros = evals.partition_point(|&l| l < ZERO_EVAL_RATIO * lmax);
    let total: f64 = evals.iter().sum();
    let edge = mp.bulk_max + mp.tw_margin;
    let spike_mass: f64 = evals[evals.partition_point(|&l| l <= edge)..]
        .iter()
        .sum::<f64>()
        / total;
    PhaseEvidence {
        zero_mass: zeros as f64 / m.max(1) as f64,
        bulk_ks: mp.bulk_ks,
        softrank: mp.bulk_max / lmax,
        num_spikes: mp.num_spikes,
        num_bleeding_out: mp.num_bleeding_out,
        spike_mass,
        num_evals: m,
    }
}

/// Classify, and say why in a few words.
pub fn classify(e: &PhaseEvidence) -> (Phase, String) {
    if e.zero_mass >= RANK_COLLAPSE_ZERO_MASS {
        return (
            Phase::RankCollapse,
            format!("{:.0}% of eigenvalues at zero", 100.0 * e.zero_mass),
        );
    }
    if e.bulk_ks > BULK_FIT_KS {
        return (
            Phase::HeavyTailed,
            format!("no MP bulk fits (KS {:.2})", e.bulk_ks),
        );
    }
    if e.softrank < HEAVY_TAILED_SOFTRANK {
        return (
            Phase::HeavyTailed,
            format!("λmax ≫ λ⁺ (MP soft rank {:.3})", e.softrank),
        );
    }
    // One eigenvalue just past the edge is within Tracy–Widom fluctuations.
    if e.num_spikes == 0 || (e.num_spikes == 1 && e.num_bleeding_out == 1) {
        return (
            Phase::RandomLike,
            format!(
                "MP bulk fits (KS {:.3}); {} eigenvalue(s) beyond λ⁺+ΔλM",
                e.bulk_ks, e.num_spikes
            ),
        );
    }
    let share = e.num_spikes as f64 / e.num_evals as f64;
    let bleeding = e.num_bleeding_out as f64 / e.num_spikes as f64;
    if share > DECAY_SPIKE_SHARE && bleeding >= HEAVY_TAILED_EDGE_SHARE {
        return (
            Phase::HeavyTailed,
            format!(
                "{} eigenvalues beyond λ⁺ with no gap at the edge: no good λ⁺",
                e.num_spikes
            ),
        );
    }
    if share > DECAY_SPIKE_SHARE {
        return (
            Phase::BulkDecay,
            format!(
                "{} eigenvalues ({:.0}% of them) beyond the bulk edge",
                e.num_spikes,
                100.0 * share
            ),
        );
    }
    if e.num_spikes == e.num_bleeding_out {
        return (
            Phase::BleedingOut,
            format!("{} eigenvalues just past λ⁺", e.num_spikes),
        );
    }
    (
        Phase::BulkSpikes,
        format!(
            "{} spike(s) well above λ⁺ (soft rank {:.2})",
            e.num_spikes - e.num_bleeding_out,
            e.softrank
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_names_round_trip() {
        for p in Phase::ALL {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        assert_eq!(Phase::parse("bulk_spikes"), Some(Phase::BulkSpikes));
        assert_eq!(Phase::parse("nope"), None);
    }
}
