//! Fits of an ESD: the power law of its tail, and the Marchenko–Pastur law of its bulk.

pub mod marchenko_pastur;
pub mod power_law;

pub use marchenko_pastur::{fit_marchenko_pastur, MpFit, MpMethod};
pub use power_law::{fit_power_law, scan_xmin, PlMethod, PowerLawFit, XminScan};
