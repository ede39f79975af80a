//! The library's integration tests, one harness (one test binary to link) with a module per
//! subject.

mod actions;
mod bad_input;
mod columns;
mod common;
mod diagnosis;
mod distances;
mod ensemble;
mod farms;
mod formats_agree;
mod lora;
mod oracle;
mod phases;
#[cfg(feature = "remote")]
mod remote;
mod smooth;
mod streaming;
mod tail_fits;
