//! From an ESD and its fits to per-layer metrics, warnings and (later) phases.

pub mod eigenvectors;
pub mod metrics;
pub mod phase;
pub mod randomization;
