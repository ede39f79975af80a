//! The whole report as JSON: the serde form of [`Report`] (options, summary, every row with
//! the registry's column names, the skipped tensors and why).

use crate::{Error, Result};
use weightscope::Report;

/// The whole report as pretty JSON bytes (non-finite numbers become null).
pub fn to_json(report: &Report) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(report).map_err(|e| Error::encode("JSON", e))?;
    v.push(b'\n');
    Ok(v)
}
