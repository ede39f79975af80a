//! The partial results of a sharded run (`analyze --shard I/N --part FILE`) as files, and their
//! join (`merge`): the format and the checks are the library's ([`weightscope::shard`]), shared
//! with the Python package's Ray executor.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
pub use weightscope::shard::{parse_shard, Part, Shard};
use weightscope::Report;

/// Read a part file.
pub fn read(path: &Path) -> Result<Part> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(Part::from_json(&text, &path.display().to_string())?)
}

/// Join the parts of every share of one run into the report of a single run (refused when a
/// part comes from another checkpoint, other options, another version or another split, and
/// when a share is missing or given twice; the messages name the files).
pub fn merge(parts: Vec<(PathBuf, Part)>) -> Result<Report> {
    let labelled = parts
        .into_iter()
        .map(|(p, part)| (p.display().to_string(), part))
        .collect();
    Ok(weightscope::shard::merge(labelled)?)
}
