//! weightscope: diagnose trained neural networks from their weights alone, with random
//! matrix theory (Martin & Mahoney, "Implicit Self-Regularization in Deep Neural Networks").
//!
//! The pipeline, one module per stage:
//! [`formats`] (read tensors lazily) → [`layers`] (tensors to matrices) → [`spectrum`]
//! (eigenvalues of WᵀW) → [`fit`] (power law of the tail, alternatives, MP bulk) →
//! [`diagnose`] (metrics, warnings, phases) → a [`Report`] of [`LayerResult`] rows, whose
//! columns the registry [`columns`] defines once. [`analyze()`] runs it all on a checkpoint
//! path; the writers (table, CSV, JSON, plots, HTML) are the `weightscope-report` crate's.
//! The data model: [`options`], [`result`], [`report`], [`summary`].
//!
//! ```no_run
//! let report = weightscope::analyze(std::path::Path::new("model.safetensors"), &Default::default())?;
//! println!("mean alpha = {:?}", report.summary.alpha);
//! # Ok::<(), weightscope::Error>(())
//! ```

pub mod act;
pub mod analyze;
pub mod columns;
pub mod compare;
pub mod diagnose;
pub mod distances;
mod error;
pub mod fit;
pub use weightscope_formats as formats;
pub mod layers;
mod memory;
pub mod options;
pub mod report;
pub mod result;
pub mod shard;
pub mod spectrum;
pub mod summary;
pub mod synth;

pub use analyze::{analyze, analyze_source, describe, Hooks};
pub use error::{Error, Result};
pub use options::{EsdEstimator, FixFingers, LayerFilter, Options};
pub use report::{Description, Report};
pub use result::{LayerResult, SkippedLayer, Status};
pub use summary::Summary;
