//! Fits of an ESD: the power law of its tail, and the Marchenko–Pastur law of its bulk; and,
//! for the tail, alternatives to the power law ([`alternatives`]), an xmax-truncated fit, the
//! Hill estimator and a bootstrap goodness-of-fit test ([`truncated`]), weightwatcher's
//! fix_fingers ([`fingers`]), detX ([`detx`]) and the universality class ([`universality`]);
//! and α of fixed-aspect-ratio submatrices ([`farms`]).

pub mod alternatives;
pub mod detx;
pub mod farms;
pub mod fingers;
pub mod marchenko_pastur;
pub mod power_law;
pub mod special;
pub mod truncated;
pub mod universality;

pub use marchenko_pastur::{fit_marchenko_pastur, MpFit, MpMethod};
pub use power_law::{fit_power_law, scan_xmin, PlMethod, PowerLawFit, XminScan};
