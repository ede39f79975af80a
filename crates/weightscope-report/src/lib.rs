//! weightscope's outputs, one writer per format over one [`Report`]: the per-layer table for
//! a terminal ([`table`]), CSV ([`csv`]) and JSON ([`json`]) files, the CSV of `track`,
//! `compare` and `rank` ([`series`]), plots as SVG and PNG ([`plots`]) and the self-contained
//! HTML report ([`html`]). Every per-layer column comes from the registry
//! [`weightscope::columns`]. Files are written atomically ([`write_atomic`]).
//!
//! [`Report`]: weightscope::Report

mod csv;
mod error;
pub mod html;
mod json;
pub mod plots;
mod series;
mod table;

pub use crate::csv::to_csv;
pub use error::{Error, Result};
pub use json::to_json;
pub use series::{compare_csv, ensemble_csv, rank_csv, track_csv};
pub use table::{describe_table, layer_table, summary_text};

use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically: a temporary file in the same folder, then a rename,
/// so a reader never sees half a file and a crash leaves the old file intact.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::Usage(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}
