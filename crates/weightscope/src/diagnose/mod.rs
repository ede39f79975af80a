//! From an ESD and its fits to per-layer metrics, warnings and (later) phases.

pub mod eigenvectors;
mod layer;
pub mod metrics;
pub mod phase;
pub mod randomization;
pub mod warning;

pub use layer::diagnose_esd;
