//! The results of a layer: one [`LayerResult`] per analysed matrix (a row of the details
//! table), and the tensors skipped and why. Column names are weightwatcher's;
//! [`crate::columns`] defines each column once. [`crate::report`] holds them for a model.

use crate::diagnose::eigenvectors::VectorColumns;
use crate::diagnose::phase::{Phase, PhaseEvidence};
use crate::diagnose::randomization::RandomizationColumns;
use crate::diagnose::warning::Warning;
use crate::fit::alternatives::TailComparison;
use crate::fit::detx::DetX;
use crate::fit::farms::FarmsColumns;
use crate::fit::marchenko_pastur::MpFit;
use crate::fit::universality::UniversalityClass;
use crate::layers::LayerPlan;
use serde::{Deserialize, Serialize};

/// Outcome of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// ESD and power-law fit computed.
    Success,
    /// ESD computed, but no power law could be fitted: α and its metrics are empty, and the
    /// layer is left out of α averages (never labelled over-trained).
    Failed,
    /// The layer could not be read or has no spectrum (NaN/Inf, all zeros, corrupt data).
    Error,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Error => "error",
        }
    }
}

/// One row of the details table. Column names are weightwatcher's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerResult {
    pub layer_id: usize,
    pub name: String,
    pub longname: String,
    pub layer_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_id: Option<usize>,
    pub shape: Vec<usize>,
    pub dtype: String,
    #[serde(rename = "N")]
    pub n: usize,
    #[serde(rename = "M")]
    pub m: usize,
    #[serde(rename = "Q")]
    pub q: f64,
    pub rf: usize,
    pub num_evals: Option<usize>,
    pub sv_max: Option<f64>,
    pub sv_min: Option<f64>,
    pub rank_loss: Option<usize>,
    pub weak_rank_loss: Option<usize>,
    pub lambda_max: Option<f64>,
    pub alpha: Option<f64>,
    pub xmin: Option<f64>,
    pub xmax: Option<f64>,
    #[serde(rename = "D")]
    pub d: Option<f64>,
    pub sigma: Option<f64>,
    pub num_pl_spikes: Option<usize>,
    pub status: Status,
    pub warning: Warning,
    pub norm: Option<f64>,
    pub log_norm: Option<f64>,
    pub spectral_norm: Option<f64>,
    pub log_spectral_norm: Option<f64>,
    pub alpha_weighted: Option<f64>,
    pub log_alpha_norm: Option<f64>,
    pub stable_rank: Option<f64>,
    pub matrix_rank: Option<usize>,
    pub entropy: Option<f64>,
    /// Share of eigenvalues that are numerically zero (λ < 1e-10·λmax): Rank-collapse (§5.6).
    pub zero_mass: Option<f64>,
    /// Hill estimator of the tail index over the power-law tail.
    pub alpha_hill: Option<f64>,
    /// MLE of α with the pdf normalised on [xmin, xmax] (weightwatcher issue #103).
    pub alpha_xmax: Option<f64>,
    /// Tail exponent μ of the entries implied by α (§3.2; empty in the weak class).
    pub mu: Option<f64>,
    /// Universality class from α: very-heavy (μ < 2), fat (2 < μ < 4), weak (μ > 4).
    pub universality: Option<UniversalityClass>,
    /// Why the status is not success.
    pub message: String,
    /// `--mp-fit`: the Marchenko–Pastur bulk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp: Option<MpFit>,
    /// `--randomize`: the shuffled baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomization: Option<RandomizationColumns>,
    /// `--vectors`: eigenvector localization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors: Option<VectorColumns>,
    /// `--phase`: the 5+1 phase and the evidence used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PhaseResult>,
    /// `--tail-fits`: the alternatives to the power law and the likelihood-ratio tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<TailComparison>,
    /// `--fix-fingers`: what was corrected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingers: Option<FingersResult>,
    /// `--detx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detx: Option<DetX>,
    /// `--bootstrap B`: the power law's goodness-of-fit p-value (CSN §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pl_pvalue: Option<f64>,
    /// `--esd farms`: α of fixed-aspect-ratio submatrices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub farms: Option<FarmsColumns>,
    /// `track --ensemble`: how many runs' ESDs were pooled into this row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<usize>,
    /// Columns computed from the ESD by the registry's own `compute` functions
    /// ([`crate::columns::Column::compute`]), by name; serialised as top-level keys.
    #[serde(flatten, default)]
    pub computed: std::collections::BTreeMap<String, f64>,
    /// The ESD itself (ascending), kept with `Options::keep_esd` for plots; not serialised.
    #[serde(skip)]
    pub esd: Option<Vec<f64>>,
    /// The first shuffled ESD (with `--randomize` and `keep_esd`); not serialised.
    #[serde(skip)]
    pub rand_esd: Option<Vec<f64>>,
}

/// The finger correction of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FingersResult {
    /// Top eigenvalues removed (clip-xmax; 0 for xmin-peak).
    pub num_fingers: usize,
    /// α of the uncorrected fit.
    pub raw_alpha: f64,
    /// The log-ESD peak near which xmin was searched (xmin-peak).
    pub xmin_peak: Option<f64>,
}

fn certain() -> f64 {
    1.0
}

/// The phase of a layer, why, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    pub phase: Phase,
    /// The next most likely phase where the evidence lies near a boundary.
    #[serde(default, rename = "phase_runner_up")]
    pub runner_up: Option<Phase>,
    /// 0.5 on the boundary between `phase` and `runner_up`, 1 far from it (results written
    /// before it existed read as 1).
    #[serde(default = "certain", rename = "phase_confidence")]
    pub confidence: f64,
    pub reason: String,
    pub evidence: PhaseEvidence,
}

impl LayerResult {
    pub(crate) fn empty(plan: &LayerPlan) -> Self {
        LayerResult {
            layer_id: plan.layer_id,
            name: plan.name.clone(),
            longname: plan.longname.clone(),
            layer_type: plan.kind.map_or("unknown", |k| k.as_str()).to_string(),
            slice_id: plan.slice_id,
            shape: plan.shape.clone(),
            dtype: plan.dtype.clone(),
            n: plan.n,
            m: plan.m,
            q: plan.q(),
            rf: plan.rf,
            num_evals: None,
            sv_max: None,
            sv_min: None,
            rank_loss: None,
            weak_rank_loss: None,
            lambda_max: None,
            alpha: None,
            xmin: None,
            xmax: None,
            d: None,
            sigma: None,
            num_pl_spikes: None,
            status: Status::Error,
            warning: Warning::None,
            norm: None,
            log_norm: None,
            spectral_norm: None,
            log_spectral_norm: None,
            alpha_weighted: None,
            log_alpha_norm: None,
            stable_rank: None,
            matrix_rank: None,
            entropy: None,
            zero_mass: None,
            alpha_hill: None,
            alpha_xmax: None,
            mu: None,
            universality: None,
            message: String::new(),
            mp: None,
            randomization: None,
            vectors: None,
            phase: None,
            tail: None,
            fingers: None,
            detx: None,
            pl_pvalue: None,
            farms: None,
            runs: None,
            computed: Default::default(),
            esd: None,
            rand_esd: None,
        }
    }

    pub(crate) fn error(plan: &LayerPlan, message: impl Into<String>) -> Self {
        let mut r = LayerResult::empty(plan);
        r.message = message.into();
        r
    }

    /// Key identifying the row across runs (for `--resume`).
    pub fn key(&self) -> (usize, Option<usize>) {
        (self.layer_id, self.slice_id)
    }
}

/// A tensor that is not analysed, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkippedLayer {
    pub layer_id: usize,
    pub longname: String,
    pub shape: Vec<usize>,
    pub reason: String,
}
