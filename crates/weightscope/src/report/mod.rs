//! Output: the per-layer table for a terminal, CSV and JSON files (written atomically).

mod table;

pub use table::{describe_table, layer_table, summary_text};

use crate::analyze::{LayerResult, Report};
use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// CSV columns, in weightwatcher's order, then weightscope's own.
pub const CSV_COLUMNS: &[&str] = &[
    "layer_id",
    "name",
    "longname",
    "layer_type",
    "slice_id",
    "N",
    "M",
    "Q",
    "rf",
    "num_evals",
    "sv_max",
    "sv_min",
    "rank_loss",
    "weak_rank_loss",
    "lambda_max",
    "alpha",
    "xmin",
    "xmax",
    "D",
    "sigma",
    "num_pl_spikes",
    "status",
    "warning",
    "norm",
    "log_norm",
    "spectral_norm",
    "log_spectral_norm",
    "alpha_weighted",
    "log_alpha_norm",
    "stable_rank",
    "matrix_rank",
    "entropy",
    "dtype",
    "message",
];

/// Shortest round-trip decimal (deterministic); empty for missing, `inf`/`-inf`/`NaN` kept.
fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}
fn int(v: Option<usize>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn csv_row(r: &LayerResult) -> Vec<String> {
    vec![
        r.layer_id.to_string(),
        r.name.clone(),
        r.longname.clone(),
        r.layer_type.clone(),
        int(r.slice_id),
        r.n.to_string(),
        r.m.to_string(),
        r.q.to_string(),
        r.rf.to_string(),
        int(r.num_evals),
        num(r.sv_max),
        num(r.sv_min),
        int(r.rank_loss),
        int(r.weak_rank_loss),
        num(r.lambda_max),
        num(r.alpha),
        num(r.xmin),
        num(r.xmax),
        num(r.d),
        num(r.sigma),
        int(r.num_pl_spikes),
        r.status.as_str().to_string(),
        r.warning.clone(),
        num(r.norm),
        num(r.log_norm),
        num(r.spectral_norm),
        num(r.log_spectral_norm),
        num(r.alpha_weighted),
        num(r.log_alpha_norm),
        num(r.stable_rank),
        int(r.matrix_rank),
        num(r.entropy),
        r.dtype.clone(),
        r.message.clone(),
    ]
}

/// The details table as CSV bytes.
pub fn to_csv(report: &Report) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Usage(format!("CSV: {e}"));
    w.write_record(CSV_COLUMNS).map_err(err)?;
    for r in &report.layers {
        w.write_record(csv_row(r)).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| Error::Usage(format!("CSV: {e}")))
}

/// The whole report as pretty JSON bytes (non-finite numbers become null).
pub fn to_json(report: &Report) -> Result<Vec<u8>> {
    let mut v =
        serde_json::to_vec_pretty(report).map_err(|e| Error::Usage(format!("JSON: {e}")))?;
    v.push(b'\n');
    Ok(v)
}

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
