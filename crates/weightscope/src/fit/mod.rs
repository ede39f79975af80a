//! Fits of an ESD: the power law of its tail (and, later, its alternatives and the
//! Marchenko–Pastur bulk).

pub mod power_law;

pub use power_law::{fit_power_law, scan_xmin, PlMethod, PowerLawFit, XminScan};
