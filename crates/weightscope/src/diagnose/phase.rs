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

/// What the classifier looks at. Every quantity is a ratio or a share of eigenvalues, so the
/// classification does not depend on the scale of W.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PhaseEvidence {
    /// Share of eigenvalues below the zero gap (see [`zero_gap`]); 0 when there is none.
    pub zero_mass: f64,
    /// Width of that gap in decades.
    pub zero_gap_decades: f64,
    /// Decades between the median eigenvalue and the 5% quantile (see
    /// [`COLLAPSE_SPREAD_DECADES`]).
    #[serde(default)]
    pub low_spread_decades: f64,
    /// KS distance of the MP bulk fit.
    pub bulk_ks: f64,
    /// λ⁺/λmax.
    pub softrank: f64,
    /// Eigenvalues beyond the Tracy–Widom fluctuations of the edge, λ⁺ + 2ΔλM.
    pub num_outliers: usize,
    /// Of those, the ones a rank-one signal just past the BBP threshold would make (strength
    /// θ/θc below [`SPIKE_STRENGTH`]): the bleeding-out shelf.
    pub num_bleeding_out: usize,
    /// Of those, the spikes well above λ⁺ (θ/θc at least [`SPIKE_STRENGTH`]).
    pub num_spikes: usize,
    /// Outliers with θ/θc below [`NEAR_EDGE_STRENGTH`]: how much of the outlying mass reaches
    /// down to the edge.
    pub num_near_edge: usize,
    /// θ/θc of the rank-one signal that would put an outlier at λmax (1 when λmax is in the
    /// bulk); BBP: λ/σ² = (t + √Q)(t√Q + 1)/(Q t), t = (θ/θc)².
    pub top_strength: f64,
    /// Number of eigenvalues M·rf.
    pub num_evals: usize,
}

/// The phase an ESD's evidence points to, and how clearly.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseCall {
    pub phase: Phase,
    /// The phase across the nearest boundary, when the evidence lies close to it
    /// (confidence below 0.9).
    pub runner_up: Option<Phase>,
    /// 0.5 when the deciding quantity lies on the boundary, 1 when it is far from it.
    pub confidence: f64,
    pub reason: String,
}

/// Eigenvalues below this fraction of λmax are numerically zero (the `zero_mass` column of
/// every layer; the classifier uses the gap of [`zero_gap`] instead).
pub const ZERO_EVAL_RATIO: f64 = 1e-10;
/// A gap of this many decades between consecutive eigenvalues, with a share of at least
/// [`RANK_COLLAPSE_ZERO_MASS`] below it, is a "large-mass spike at λ = 0" (Table 7). No ESD of
/// full rank has such a gap in its lower part: MP's hard edge at Q = 1 puts the k-th smallest
/// eigenvalue at ~k²/M² of the mean, a smooth progression.
pub const ZERO_GAP_DECADES: f64 = 3.0;
/// Zero mass at or above this share means Rank-collapse.
pub const RANK_COLLAPSE_ZERO_MASS: f64 = 0.05;
/// The fewest eigenvalues per matrix (M) for which a phase is called: the benchmark's range.
/// The evidence is asymptotic (an MP edge with Tracy–Widom fluctuations, BBP outliers, a KS
/// distance scaled by M^(−½)), and below it the finite-size bias of the MP fit outgrows the
/// KS limit: i.i.d. Gaussian matrices (Q = 1, 2, 4; 120 each) are called Heavy-Tailed 2.5% of
/// the time at M = 100 but 19% at M = 64, 27% at 48, 53% at 32 and 96% at 8 (docs/phases.md).
/// Smaller layers (a 10-class head, a depthwise convolution's M = 1 maps) get no phase.
pub const MIN_PHASE_M: usize = 100;
/// Rank collapse without a gap: the 5% quantile ([`RANK_COLLAPSE_ZERO_MASS`]) at least this
/// many decades below the median eigenvalue. A full-rank ESD keeps its lower part near its
/// median: MP's hard edge at Q = 1, the lowest, puts the 5% quantile at (0.05·π/2)²σ² ≈
/// 0.006σ², two decades below the median (≈ 0.65σ²), and heavy-tailed entries spread it
/// to at most 3.5 decades on the benchmark's training split (Pareto μ = 0.5, near square).
/// Weights of units that stopped learning and shrink under strong L2 (§6.4) decay
/// geometrically from the step they stopped, each from its own, so their eigenvalues form a
/// continuum reaching many decades down to numerical zero with no single gap: the
/// batch-size experiment's λ = 0.05 layers put it 4.7 and 5.5 decades down.
pub const COLLAPSE_SPREAD_DECADES: f64 = 4.0;

/// Decades between the median eigenvalue and the 5% quantile of sorted `evals` (exact zeros
/// at 10⁻³⁰ λmax, as in [`zero_gap`]).
pub fn low_spread(evals: &[f64]) -> f64 {
    let m = evals.len();
    if m < 2 {
        return 0.0;
    }
    let floor = (1e-30 * evals[m - 1]).max(f64::MIN_POSITIVE);
    let at = |p: f64| evals[((m - 1) as f64 * p).floor() as usize].max(floor);
    (at(0.5) / at(RANK_COLLAPSE_ZERO_MASS)).log10().max(0.0)
}
/// Outliers start 2 Tracy–Widom scales above λ⁺: ΔλM is Johnstone's TW scale of λmax, and
/// a random matrix exceeds λ⁺ + 2ΔλM with probability ~1% (TW₁ 99th percentile 2.02).
pub const OUTLIER_MARGINS: f64 = 2.0;
/// An outlier whose BBP strength θ/θc is at least this is a spike "well above λ⁺" (§5.3);
/// weaker ones bleed out of the edge (§5.2). At finite size an outlier near the threshold
/// sits above its asymptotic place (fluctuations O(N^(−½)), and the bulk fit moves λ⁺ down a
/// little), so the estimated strength of a θ = 1.35 θc signal reaches ~1.6: the boundary
/// lies above that, below the weakest spike of a strong signal. Chosen on the training split
/// of the benchmark (tools/make_phase_benchmark.py).
pub const SPIKE_STRENGTH: f64 = 1.75;
/// Outliers weaker than this (θ < 2θc, within ~30% of λ⁺) are "at the edge".
pub const NEAR_EDGE_STRENGTH: f64 = 2.0;
/// Above this KS distance times √M the bulk is not MP: Heavy-Tailed ("ESD better described by
/// Heavy-Tailed RMT than Gaussian RMT", Table 7). A KS distance of M values fluctuates as
/// M^(−½) (Kolmogorov), so the threshold scales so; on the benchmark's training split the
/// bulks of Gaussian-class matrices, with or without spikes, stay below 0.32/√M, and
/// Heavy-Tailed ones mostly lie above (median 0.7/√M).
pub const BULK_FIT_KS_SQRT_M: f64 = 0.33;
/// λmax beyond this many λ⁺ (soft rank below its inverse) is "λmax ≫ λ⁺" (Table 7) — evidence
/// of heavy tails only together with a mass of outliers ([`HEAVY_TAILED_MIN_SHARE`]): a few
/// spikes, however far out, are Bulk+Spikes.
pub const HEAVY_TAILED_SOFTRANK: f64 = 0.01;
/// See [`HEAVY_TAILED_SOFTRANK`].
pub const HEAVY_TAILED_MIN_SHARE: f64 = 0.02;
/// More than this share of the eigenvalues beyond the edge, reaching past
/// [`HEAVY_TAILED_FAR_SOFTRANK`]: "no good λ⁺; λmax ≫ λ⁺" (Table 7), whatever the bulk fit
/// says. A decaying signal (Bulk-decay) can push as many out, but not that far.
pub const HEAVY_TAILED_SHARE: f64 = 0.1;
/// See [`HEAVY_TAILED_SHARE`]: λmax beyond 10 λ⁺.
pub const HEAVY_TAILED_FAR_SOFTRANK: f64 = 0.1;
/// Bulk-decay: at least this many outliers at the edge, and at least [`DECAY_EDGE_SHARE`]
/// of the outliers there — a continuum of outliers reaching down to λ⁺ (a decaying signal
/// spectrum, "Heavy-Tailed eigenmass above λ⁺", Table 7) rather than isolated spikes.
pub const DECAY_MIN_NEAR_EDGE: usize = 3;
/// See [`DECAY_MIN_NEAR_EDGE`].
pub const DECAY_EDGE_SHARE: f64 = 0.35;

/// The gap at zero: the widest ratio between consecutive eigenvalues in the lower 95% of the
/// ESD, as (share below it, decades). Exact zeros count as below any gap.
pub fn zero_gap(evals: &[f64]) -> (f64, f64) {
    let m = evals.len();
    if m < 2 {
        return (0.0, 0.0);
    }
    // Exact zeros (and the solver's noise around them) sit at the floor: one gap above them.
    let floor = (1e-30 * evals[m - 1]).max(f64::MIN_POSITIVE);
    let mut best = (0, 0.0);
    let top = (m * 95).div_ceil(100).min(m - 1);
    for i in 1..=top {
        let d = (evals[i].max(floor) / evals[i - 1].max(floor)).log10();
        if d > best.1 {
            best = (i, d);
        }
    }
    if best.1 < ZERO_GAP_DECADES {
        return (0.0, best.1.max(0.0));
    }
    (best.0 as f64 / m as f64, best.1)
}

/// θ/θc of a rank-one signal whose outlier lies at `ratio`·λ⁺, for aspect ratio `q`: the
/// larger root t = (θ/θc)² of √Q t² + (1 + Q − Qλ) t + √Q = 0, λ = ratio·(1 + 1/√Q)²
/// (BBP, §5.3). 1 at or below the edge.
pub fn bbp_strength(ratio: f64, q: f64) -> f64 {
    let sq = q.sqrt();
    let lam = ratio * (1.0 + 1.0 / sq).powi(2);
    let b = q * lam - 1.0 - q;
    let disc = b * b - 4.0 * q;
    if b <= 0.0 || disc <= 0.0 {
        return 1.0;
    }
    (((b + disc.sqrt()) / (2.0 * sq)).sqrt()).max(1.0)
}

/// Aspect ratio Q of a fitted bulk from its edges: √(λ⁻/λ⁺) = (1 − Q^(−½))/(1 + Q^(−½)).
fn q_of_fit(mp: &MpFit) -> f64 {
    let s = (mp.bulk_min / mp.bulk_max).max(0.0).sqrt();
    let r = ((1.0 - s) / (1.0 + s)).clamp(1e-6, 1.0);
    1.0 / (r * r)
}

/// Collect the evidence from sorted eigenvalues and an MP fit.
pub fn evidence(evals: &[f64], mp: &MpFit) -> PhaseEvidence {
    let lmax = evals.last().copied().unwrap_or(0.0);
    let (zero_mass, zero_gap_decades) = zero_gap(evals);
    let q = q_of_fit(mp);
    let edge = mp.bulk_max + OUTLIER_MARGINS * mp.tw_margin;
    let strengths: Vec<f64> = evals[evals.partition_point(|&l| l <= edge)..]
        .iter()
        .map(|&l| bbp_strength(l / mp.bulk_max, q))
        .collect();
    let num_spikes = strengths.iter().filter(|&&c| c >= SPIKE_STRENGTH).count();
    PhaseEvidence {
        zero_mass,
        zero_gap_decades,
        low_spread_decades: low_spread(evals),
        bulk_ks: mp.bulk_ks,
        softrank: mp.bulk_max / lmax,
        num_outliers: strengths.len(),
        num_bleeding_out: strengths.len() - num_spikes,
        num_spikes,
        num_near_edge: strengths
            .iter()
            .filter(|&&c| c < NEAR_EDGE_STRENGTH)
            .count(),
        top_strength: strengths.last().copied().unwrap_or(1.0),
        num_evals: evals.len(),
    }
}

/// Confidence of a call decided by `x` against a boundary `at`: 0.5 on the boundary, rising
/// linearly in log(x/at) to 1 at a factor `width` away.
fn confidence(x: f64, at: f64, width: f64) -> f64 {
    let d = ((x / at).ln().abs() / width.ln()).min(1.0);
    if d.is_nan() {
        1.0
    } else {
        0.5 + 0.5 * d
    }
}

/// The evidence and the phase of an ESD of M eigenvalues per matrix, or `None` below
/// [`MIN_PHASE_M`].
pub fn classify_esd(evals: &[f64], mp: &MpFit, m: usize) -> Option<(PhaseEvidence, PhaseCall)> {
    (m >= MIN_PHASE_M).then(|| {
        let e = evidence(evals, mp);
        let call = classify(&e);
        (e, call)
    })
}

/// Classify, and say why in a few words.
pub fn classify(e: &PhaseEvidence) -> PhaseCall {
    let call = |phase, runner_up: Phase, confidence: f64, reason: String| PhaseCall {
        phase,
        runner_up: Some(runner_up).filter(|_| confidence < 0.9),
        confidence,
        reason,
    };
    if e.zero_mass >= RANK_COLLAPSE_ZERO_MASS {
        return call(
            Phase::RankCollapse,
            Phase::HeavyTailed,
            confidence(e.zero_mass, RANK_COLLAPSE_ZERO_MASS, 2.0).min(confidence(
                e.zero_gap_decades,
                ZERO_GAP_DECADES,
                2.0,
            )),
            format!(
                "{:.0}% of eigenvalues at zero, {:.0}+ decades below the rest",
                100.0 * e.zero_mass,
                e.zero_gap_decades.min(99.0)
            ),
        );
    }
    if e.low_spread_decades >= COLLAPSE_SPREAD_DECADES {
        return call(
            Phase::RankCollapse,
            Phase::HeavyTailed,
            confidence(e.low_spread_decades, COLLAPSE_SPREAD_DECADES, 2.0),
            format!(
                "5% of eigenvalues {:.1}+ decades below the median: a continuum down to zero",
                e.low_spread_decades.min(99.0)
            ),
        );
    }
    let n = e.num_evals.max(1) as f64;
    let ks_limit = BULK_FIT_KS_SQRT_M / n.sqrt();
    if e.bulk_ks > ks_limit {
        return call(
            Phase::HeavyTailed,
            Phase::BulkDecay,
            confidence(e.bulk_ks, ks_limit, 2.0),
            format!("no MP bulk fits (KS {:.3} > {ks_limit:.3})", e.bulk_ks),
        );
    }
    let share = e.num_outliers as f64 / n;
    // One outlier short of a spike is within the edge's fluctuations at the 1% level.
    if e.num_outliers <= 1 && e.num_spikes == 0 {
        return call(
            Phase::RandomLike,
            Phase::BleedingOut,
            if e.num_outliers == 0 { 1.0 } else { 0.7 },
            format!(
                "MP bulk fits (KS {:.3}); {} eigenvalue(s) beyond λ⁺+2ΔλM",
                e.bulk_ks, e.num_outliers
            ),
        );
    }
    if e.num_spikes == 0 {
        let (runner_up, c) = if e.num_outliers == 2 {
            (Phase::RandomLike, 0.7)
        } else {
            (
                Phase::BulkSpikes,
                confidence(e.top_strength, SPIKE_STRENGTH, 1.3),
            )
        };
        return call(
            Phase::BleedingOut,
            runner_up,
            c,
            format!(
                "{} eigenvalues just past λ⁺ (BBP strength up to {:.2} θc)",
                e.num_outliers, e.top_strength
            ),
        );
    }
    if e.softrank < HEAVY_TAILED_SOFTRANK && share >= HEAVY_TAILED_MIN_SHARE {
        return call(
            Phase::HeavyTailed,
            Phase::BulkDecay,
            confidence(e.softrank, HEAVY_TAILED_SOFTRANK, 3.0).min(confidence(
                share,
                HEAVY_TAILED_MIN_SHARE,
                2.0,
            )),
            format!(
                "λmax = {:.0} λ⁺ with {:.0}% of eigenvalues beyond the edge",
                1.0 / e.softrank,
                100.0 * share
            ),
        );
    }
    if share > HEAVY_TAILED_SHARE && e.softrank < HEAVY_TAILED_FAR_SOFTRANK {
        return call(
            Phase::HeavyTailed,
            Phase::BulkDecay,
            confidence(share, HEAVY_TAILED_SHARE, 2.0).min(confidence(
                e.softrank,
                HEAVY_TAILED_FAR_SOFTRANK,
                2.0,
            )),
            format!(
                "{:.0}% of eigenvalues beyond the edge, λmax = {:.0} λ⁺: no good λ⁺",
                100.0 * share,
                1.0 / e.softrank
            ),
        );
    }
    let edge_share = e.num_near_edge as f64 / e.num_outliers as f64;
    let continuum = confidence(edge_share, DECAY_EDGE_SHARE, 1.5).min(confidence(
        e.num_near_edge as f64 + 0.5,
        DECAY_MIN_NEAR_EDGE as f64,
        2.0,
    ));
    if e.num_near_edge >= DECAY_MIN_NEAR_EDGE && edge_share >= DECAY_EDGE_SHARE {
        return call(
            Phase::BulkDecay,
            Phase::BulkSpikes,
            continuum,
            format!(
                "{} outliers, {} of them at the edge: a continuum leaving the bulk",
                e.num_outliers, e.num_near_edge
            ),
        );
    }
    call(
        Phase::BulkSpikes,
        Phase::BulkDecay,
        continuum,
        format!(
            "{} spike(s) well above λ⁺ (strongest {:.1} θc), {} at the edge",
            e.num_spikes, e.top_strength, e.num_near_edge
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

    #[test]
    fn bbp_strength_inverts_the_outlier_formula() {
        // λ/σ² = (t + √Q)(t√Q + 1)/(Q t), t = c², against λ⁺ = (1 + 1/√Q)².
        for q in [1.0, 2.0, 8.0] {
            let edge = (1.0 + 1.0 / f64::sqrt(q)).powi(2);
            for c in [1.2, 1.75, 3.0, 15.0] {
                let t: f64 = c * c;
                let lam = (t + q.sqrt()) * (t * q.sqrt() + 1.0) / (q * t);
                let got = bbp_strength(lam / edge, q);
                assert!((got - c).abs() < 1e-9, "q {q} c {c}: {got}");
            }
            // At the threshold the outlier sits on the edge; inside the bulk, strength 1.
            assert!((bbp_strength(1.0, q) - 1.0).abs() < 1e-6);
            assert_eq!(bbp_strength(0.5, q), 1.0);
        }
    }

    #[test]
    fn zero_gap_finds_the_mass_at_zero() {
        // 30 eigenvalues at 1e-12, 70 between 1 and 2: 30% below a 12-decade gap.
        let mut ev: Vec<f64> = (0..30).map(|i| 1e-12 * (1.0 + i as f64 / 30.0)).collect();
        ev.extend((0..70).map(|i| 1.0 + i as f64 / 70.0));
        let (mass, decades) = zero_gap(&ev);
        assert_eq!(mass, 0.3);
        assert!((decades - (1.0f64 / (1e-12 * (1.0 + 29.0 / 30.0))).log10()).abs() < 1e-9);
        // A smooth progression has none.
        let smooth: Vec<f64> = (1..=100).map(|i| (i * i) as f64).collect();
        assert_eq!(zero_gap(&smooth).0, 0.0);
    }
}
