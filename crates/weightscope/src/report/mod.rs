//! Output: the per-layer table for a terminal, CSV and JSON files (written atomically), plots
//! (SVG, PNG) and the HTML report.

pub mod html;
pub mod plots;
mod series;
mod table;

pub use series::{compare_csv, ensemble_csv, rank_csv, track_csv};

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
    "zero_mass",
    "alpha_hill",
    "alpha_xmax",
    "mu",
    "universality",
    "dtype",
    "message",
];

/// Columns of `--tail-fits`.
pub const TAIL_COLUMNS: &[&str] = &[
    "best_fit",
    "tpl_alpha",
    "tpl_lambda",
    "exp_lambda",
    "logn_mu",
    "logn_sigma",
    "sexp_lambda",
    "sexp_beta",
    "R_tpl",
    "p_tpl",
    "R_exp",
    "p_exp",
    "R_logn",
    "p_logn",
    "R_sexp",
    "p_sexp",
];
/// Columns of `--fix-fingers`.
pub const FINGERS_COLUMNS: &[&str] = &["num_fingers", "raw_alpha", "xmin_peak"];
/// Columns of `--detx`.
pub const DETX_COLUMNS: &[&str] = &["detX_num", "detX_val", "detX_val_rescaled"];
/// Column of `--bootstrap`.
pub const PVALUE_COLUMNS: &[&str] = &["pl_pvalue"];

/// Columns of `--mp-fit` (weightwatcher's names, plus weightscope's).
pub const MP_COLUMNS: &[&str] = &[
    "num_spikes",
    "sigma_mp",
    "mp_softrank",
    "W_scale",
    "bulk_max",
    "bulk_min",
    "num_bleeding_out",
    "bulk_ks",
    "tw_margin",
];
/// Columns of `--randomize`.
pub const RANDOMIZATION_COLUMNS: &[&str] = &[
    "max_rand_eval",
    "rand_distance",
    "rand_esd_distance",
    "ww_softrank",
    "ww_maxdist",
    "rand_num_spikes",
    "rand_sigma_mp",
    "rand_mp_softrank",
    "rand_bulk_max",
];
/// Columns of `--vectors`.
pub const VECTOR_COLUMNS: &[&str] = &[
    "bulk_mean_vec_entropy",
    "bulk_var_vec_entropy",
    "bulk_mean_loc_ratio",
    "bulk_var_loc_ratio",
    "bulk_mean_part_ratio",
    "bulk_var_part_ratio",
    "tail_mean_vec_entropy",
    "tail_var_vec_entropy",
    "tail_mean_loc_ratio",
    "tail_var_loc_ratio",
    "tail_mean_part_ratio",
    "tail_var_part_ratio",
];
/// Columns of `--phase`.
pub const PHASE_COLUMNS: &[&str] = &["phase", "phase_reason"];

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
        num(r.zero_mass),
        num(r.alpha_hill),
        num(r.alpha_xmax),
        num(r.mu),
        r.universality.clone().unwrap_or_default(),
        r.dtype.clone(),
        r.message.clone(),
    ]
}

fn mp_row(r: &LayerResult) -> Vec<String> {
    match &r.mp {
        None => vec![String::new(); MP_COLUMNS.len()],
        Some(m) => vec![
            m.num_spikes.to_string(),
            m.sigma_mp.to_string(),
            m.mp_softrank.to_string(),
            (1.0 / m.scale.sqrt()).to_string(),
            m.bulk_max.to_string(),
            m.bulk_min.to_string(),
            m.num_bleeding_out.to_string(),
            m.bulk_ks.to_string(),
            m.tw_margin.to_string(),
        ],
    }
}

fn randomization_row(r: &LayerResult) -> Vec<String> {
    match &r.randomization {
        None => vec![String::new(); RANDOMIZATION_COLUMNS.len()],
        Some(x) => vec![
            x.max_rand_eval.to_string(),
            x.rand_distance.to_string(),
            x.rand_esd_distance.to_string(),
            x.ww_softrank.to_string(),
            x.ww_maxdist.to_string(),
            x.rand_num_spikes.to_string(),
            x.rand_sigma_mp.to_string(),
            x.rand_mp_softrank.to_string(),
            x.rand_bulk_max.to_string(),
        ],
    }
}

fn vector_row(r: &LayerResult) -> Vec<String> {
    match &r.vectors {
        None => vec![String::new(); VECTOR_COLUMNS.len()],
        Some(v) => [
            v.bulk_mean_vec_entropy,
            v.bulk_var_vec_entropy,
            v.bulk_mean_loc_ratio,
            v.bulk_var_loc_ratio,
            v.bulk_mean_part_ratio,
            v.bulk_var_part_ratio,
            v.tail_mean_vec_entropy,
            v.tail_var_vec_entropy,
            v.tail_mean_loc_ratio,
            v.tail_var_loc_ratio,
            v.tail_mean_part_ratio,
            v.tail_var_part_ratio,
        ]
        .iter()
        .map(|x| x.to_string())
        .collect(),
    }
}

fn phase_row(r: &LayerResult) -> Vec<String> {
    match &r.phase {
        None => vec![String::new(); PHASE_COLUMNS.len()],
        Some(p) => vec![p.phase.as_str().to_string(), p.reason.clone()],
    }
}

fn tail_row(r: &LayerResult) -> Vec<String> {
    match &r.tail {
        None => vec![String::new(); TAIL_COLUMNS.len()],
        Some(t) => vec![
            t.best_fit.as_str().to_string(),
            t.tpl_alpha.to_string(),
            t.tpl_lambda.to_string(),
            t.exp_lambda.to_string(),
            num(t.logn_mu),
            num(t.logn_sigma),
            num(t.sexp_lambda),
            num(t.sexp_beta),
            t.r_tpl.to_string(),
            t.p_tpl.to_string(),
            t.r_exp.to_string(),
            t.p_exp.to_string(),
            t.r_logn.to_string(),
            t.p_logn.to_string(),
            t.r_sexp.to_string(),
            t.p_sexp.to_string(),
        ],
    }
}

fn fingers_row(r: &LayerResult) -> Vec<String> {
    match &r.fingers {
        None => vec![String::new(); FINGERS_COLUMNS.len()],
        Some(f) => vec![
            f.num_fingers.to_string(),
            f.raw_alpha.to_string(),
            num(f.xmin_peak),
        ],
    }
}

fn detx_row(r: &LayerResult) -> Vec<String> {
    match &r.detx {
        None => vec![String::new(); DETX_COLUMNS.len()],
        Some(d) => vec![
            d.detx_num.to_string(),
            d.detx_val.to_string(),
            d.detx_val_rescaled.to_string(),
        ],
    }
}

fn pvalue_row(r: &LayerResult) -> Vec<String> {
    vec![num(r.pl_pvalue)]
}

/// A group of optional columns: its names, how to fill a row, and whether a row has it.
type Group = (
    &'static [&'static str],
    fn(&LayerResult) -> Vec<String>,
    fn(&LayerResult) -> bool,
);

const GROUPS: [Group; 8] = [
    (TAIL_COLUMNS, tail_row, |r| r.tail.is_some()),
    (FINGERS_COLUMNS, fingers_row, |r| r.fingers.is_some()),
    (DETX_COLUMNS, detx_row, |r| r.detx.is_some()),
    (PVALUE_COLUMNS, pvalue_row, |r| r.pl_pvalue.is_some()),
    (MP_COLUMNS, mp_row, |r| r.mp.is_some()),
    (RANDOMIZATION_COLUMNS, randomization_row, |r| {
        r.randomization.is_some()
    }),
    (VECTOR_COLUMNS, vector_row, |r| r.vectors.is_some()),
    (PHASE_COLUMNS, phase_row, |r| r.phase.is_some()),
];

/// The details table as CSV bytes.
pub fn to_csv(report: &Report) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Usage(format!("CSV: {e}"));
    // Optional groups appear when any row has them, so the file's columns depend only on
    // the options, not on the thread schedule.
    let present: Vec<&Group> = GROUPS
        .iter()
        .filter(|g| report.layers.iter().any(|r| (g.2)(r)))
        .collect();
    let mut header: Vec<&str> = CSV_COLUMNS.to_vec();
    for g in &present {
        header.extend_from_slice(g.0);
    }
    w.write_record(&header).map_err(err)?;
    for r in &report.layers {
        let mut row = csv_row(r);
        for g in &present {
            row.extend((g.1)(r));
        }
        w.write_record(&row).map_err(err)?;
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
