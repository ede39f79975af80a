//! The model summary: means of the layer metrics (weightwatcher's `get_summary`), plus
//! counts of what was analysed, failed, could not be read or was skipped.

use crate::result::{LayerResult, Status};
use serde::{Deserialize, Serialize};

/// Model-level means (weightwatcher's `get_summary`, plus counts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows with an ESD (status success or failed).
    pub layers_analyzed: usize,
    /// Rows whose power-law fit failed (left out of the α means).
    pub layers_failed: usize,
    /// Rows that could not be analysed (status error).
    pub layers_error: usize,
    /// Tensors not analysed (see `skipped`).
    pub layers_skipped: usize,
    pub log_norm: Option<f64>,
    pub alpha: Option<f64>,
    pub alpha_weighted: Option<f64>,
    pub log_alpha_norm: Option<f64>,
    pub log_spectral_norm: Option<f64>,
    pub stable_rank: Option<f64>,
    pub entropy: Option<f64>,
    /// Mean MP soft rank (with `--mp-fit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp_softrank: Option<f64>,
    /// Number of layers in each phase (with `--phase`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub phases: std::collections::BTreeMap<String, usize>,
}

/// A model-level metric of [`Summary`], for the writers that list them (the summary text, the
/// `rank` CSV, the HTML report, the Python `summary`).
#[derive(Debug)]
pub struct SummaryMetric {
    /// The name (weightwatcher's `get_summary` key).
    pub name: &'static str,
    /// The label of the terminal summary.
    pub label: &'static str,
    /// Shown only when an option computes it (`mp_softrank` needs `--mp-fit`).
    pub optional: bool,
    pub get: fn(&Summary) -> Option<f64>,
}

/// The model-level metrics, in the order they are shown. α-based means are over layers whose
/// fit succeeded; the others over layers with an ESD.
pub static SUMMARY_METRICS: &[SummaryMetric] = &[
    SummaryMetric {
        name: "alpha",
        label: "alpha (mean α)",
        optional: false,
        get: |s| s.alpha,
    },
    SummaryMetric {
        name: "alpha_weighted",
        label: "alpha_weighted (α̂)",
        optional: false,
        get: |s| s.alpha_weighted,
    },
    SummaryMetric {
        name: "log_alpha_norm",
        label: "log_alpha_norm",
        optional: false,
        get: |s| s.log_alpha_norm,
    },
    SummaryMetric {
        name: "log_norm",
        label: "log_norm",
        optional: false,
        get: |s| s.log_norm,
    },
    SummaryMetric {
        name: "log_spectral_norm",
        label: "log_spectral_norm",
        optional: false,
        get: |s| s.log_spectral_norm,
    },
    SummaryMetric {
        name: "stable_rank",
        label: "stable_rank",
        optional: false,
        get: |s| s.stable_rank,
    },
    SummaryMetric {
        name: "entropy",
        label: "entropy",
        optional: false,
        get: |s| s.entropy,
    },
    SummaryMetric {
        name: "mp_softrank",
        label: "mp_softrank",
        optional: true,
        get: |s| s.mp_softrank,
    },
];

/// Mean of the finite values, or None.
fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for v in values.flatten().filter(|v| v.is_finite()) {
        s += v;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

/// Summarise layer rows.
pub fn summarize(layers: &[LayerResult], skipped: usize) -> Summary {
    let with_esd: Vec<&LayerResult> = layers
        .iter()
        .filter(|r| r.status != Status::Error)
        .collect();
    let fitted: Vec<&LayerResult> = layers
        .iter()
        .filter(|r| r.status == Status::Success)
        .collect();
    Summary {
        layers_analyzed: with_esd.len(),
        layers_failed: layers.iter().filter(|r| r.status == Status::Failed).count(),
        layers_error: layers.iter().filter(|r| r.status == Status::Error).count(),
        layers_skipped: skipped,
        log_norm: mean(with_esd.iter().map(|r| r.log_norm)),
        alpha: mean(fitted.iter().map(|r| r.alpha)),
        alpha_weighted: mean(fitted.iter().map(|r| r.alpha_weighted)),
        log_alpha_norm: mean(fitted.iter().map(|r| r.log_alpha_norm)),
        log_spectral_norm: mean(with_esd.iter().map(|r| r.log_spectral_norm)),
        stable_rank: mean(with_esd.iter().map(|r| r.stable_rank)),
        entropy: mean(with_esd.iter().map(|r| r.entropy)),
        mp_softrank: mean(with_esd.iter().map(|r| r.mp.map(|m| m.mp_softrank))),
        phases: layers.iter().filter_map(|r| r.phase.as_ref()).fold(
            Default::default(),
            |mut acc, p| {
                *acc.entry(p.phase.as_str().to_string()).or_insert(0) += 1;
                acc
            },
        ),
    }
}
