//! From an ESD and its fits to per-layer diagnostics: capacity metrics ([`metrics`]), the
//! training warning ([`warning`]), eigenvector localization ([`eigenvectors`]), the
//! element-shuffled baseline ([`randomization`]) and the 5+1 phases of the paper's §5
//! ([`phase`]); [`diagnose_esd`] puts them together into one row.

pub mod eigenvectors;
mod layer;
pub mod metrics;
pub mod phase;
pub mod randomization;
pub mod warning;

pub use layer::diagnose_esd;
