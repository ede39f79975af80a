//! From an ESD and its fits to per-layer metrics, warnings and (later) phases.

pub mod metrics;
pub mod phase;
