//! The [`Report`] of a whole analysis: what was read, the options, the summary, every row and
//! every skipped tensor (its writers — table, CSV, JSON, plots, HTML — are the
//! `weightscope-report` crate's); and the [`Description`] of `describe`.

use crate::layers::LayerPlan;
use crate::options::Options;
use crate::result::{LayerResult, SkippedLayer};
use crate::summary::Summary;
use serde::{Deserialize, Serialize};

/// The result of `analyze`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// weightscope version that produced it.
    pub weightscope: String,
    /// What was analysed, as given.
    pub source: String,
    pub format: String,
    pub files: Vec<String>,
    pub options: Options,
    pub summary: Summary,
    pub layers: Vec<LayerResult>,
    pub skipped: Vec<SkippedLayer>,
}

/// What `describe` shows: the plan, no maths.
#[derive(Debug, Clone, Serialize)]
pub struct Description {
    pub source: String,
    pub format: String,
    pub files: Vec<String>,
    pub layers: Vec<LayerPlan>,
}
