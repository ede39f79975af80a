//! CSV for `track`, `ensemble`, `compare` and `rank`.

use crate::analyze::Report;
use crate::compare::{pearson, spearman, CompareRow, Ensemble};
use crate::{Error, Result};
use std::path::PathBuf;

fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn write(header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::Usage(format!("CSV: {e}"));
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| Error::Usage(format!("CSV: {e}")))
}

/// One row per (checkpoint, layer).
pub fn track_csv(series: &[(PathBuf, Option<u64>, Report)]) -> Result<Vec<u8>> {
    let header = [
        "checkpoint",
        "step",
        "layer_id",
        "name",
        "longname",
        "N",
        "M",
        "status",
        "alpha",
        "alpha_weighted",
        "D",
        "xmin",
        "stable_rank",
        "entropy",
        "lambda_max",
        "log_spectral_norm",
        "mp_softrank",
        "num_spikes",
        "phase",
    ];
    let mut rows = Vec::new();
    for (path, step, report) in series {
        for l in &report.layers {
            rows.push(vec![
                path.display().to_string(),
                step.map(|s| s.to_string()).unwrap_or_default(),
                l.layer_id.to_string(),
                l.name.clone(),
                l.longname.clone(),
                l.n.to_string(),
                l.m.to_string(),
                l.status.as_str().to_string(),
                num(l.alpha),
                num(l.alpha_weighted),
                num(l.d),
                num(l.xmin),
                num(l.stable_rank),
                num(l.entropy),
                num(l.lambda_max),
                num(l.log_spectral_norm),
                num(l.mp.map(|m| m.mp_softrank)),
                l.mp.map(|m| m.num_spikes.to_string()).unwrap_or_default(),
                l.phase
                    .as_ref()
                    .map(|p| p.phase.as_str().to_string())
                    .unwrap_or_default(),
            ]);
        }
    }
    write(&header, rows)
}

/// One row per layer of a pooled ensemble: the fit of the pooled ESD, and the mean and
/// standard deviation of the runs' own α beside it.
pub fn ensemble_csv(e: &Ensemble) -> Result<Vec<u8>> {
    let header = [
        "longname",
        "runs",
        "status",
        "num_evals",
        "alpha",
        "xmin",
        "D",
        "num_pl_spikes",
        "lambda_max",
        "alpha_runs_mean",
        "alpha_runs_std",
        "sigma_mp",
        "mp_softrank",
        "num_spikes",
        "phase",
        "message",
    ];
    write(
        &header,
        e.report
            .layers
            .iter()
            .zip(&e.run_alpha)
            .map(|(r, (mean, sd))| {
                vec![
                    r.longname.clone(),
                    r.runs.unwrap_or(0).to_string(),
                    r.status.as_str().to_string(),
                    r.num_evals.map(|n| n.to_string()).unwrap_or_default(),
                    num(r.alpha),
                    num(r.xmin),
                    num(r.d),
                    r.num_pl_spikes.map(|n| n.to_string()).unwrap_or_default(),
                    num(r.lambda_max),
                    num(*mean),
                    num(*sd),
                    num(r.mp.map(|m| m.sigma_mp)),
                    num(r.mp.map(|m| m.mp_softrank)),
                    r.mp.map(|m| m.num_spikes.to_string()).unwrap_or_default(),
                    r.phase
                        .as_ref()
                        .map(|p| p.phase.as_str().to_string())
                        .unwrap_or_default(),
                    r.message.clone(),
                ]
            })
            .collect(),
    )
}

/// One row per matched layer of base vs tuned.
pub fn compare_csv(rows: &[CompareRow]) -> Result<Vec<u8>> {
    let header = [
        "longname",
        "alpha_base",
        "alpha_tuned",
        "d_alpha",
        "alpha_weighted_base",
        "alpha_weighted_tuned",
        "d_alpha_weighted",
        "lambda_max_base",
        "lambda_max_tuned",
        "d_lambda_max",
        "d_log_spectral_norm",
        "esd_distance",
        "delta_alpha",
        "delta_lambda_max",
        "delta_stable_rank",
        "delta_norm",
    ];
    write(
        &header,
        rows.iter()
            .map(|r| {
                vec![
                    r.longname.clone(),
                    num(r.base.alpha),
                    num(r.tuned.alpha),
                    num(r.d_alpha()),
                    num(r.base.alpha_weighted),
                    num(r.tuned.alpha_weighted),
                    num(r.d_alpha_weighted()),
                    num(r.base.lambda_max),
                    num(r.tuned.lambda_max),
                    num(r.d_lambda_max()),
                    num(r.d_log_spectral_norm()),
                    r.esd_distance.to_string(),
                    num(r.delta.alpha),
                    num(r.delta.lambda_max),
                    num(r.delta.stable_rank),
                    num(r.delta.norm),
                ]
            })
            .collect(),
    )
}

/// The summary metrics ranked across models.
pub const RANK_METRICS: [&str; 7] = [
    "alpha",
    "alpha_weighted",
    "log_alpha_norm",
    "log_norm",
    "log_spectral_norm",
    "stable_rank",
    "entropy",
];

fn metric(r: &Report, k: &str) -> Option<f64> {
    let s = &r.summary;
    match k {
        "alpha" => s.alpha,
        "alpha_weighted" => s.alpha_weighted,
        "log_alpha_norm" => s.log_alpha_norm,
        "log_norm" => s.log_norm,
        "log_spectral_norm" => s.log_spectral_norm,
        "stable_rank" => s.stable_rank,
        "entropy" => s.entropy,
        _ => None,
    }
}

/// Models side by side (one row each), and, when accuracies are given (same order), the
/// Pearson and Spearman correlation of each metric with accuracy.
pub fn rank_csv(reports: &[Report], accuracy: Option<&[f64]>) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut header = vec!["model"];
    header.extend(RANK_METRICS);
    header.push("accuracy");
    let rows = reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = vec![r.source.clone()];
            row.extend(RANK_METRICS.iter().map(|k| num(metric(r, k))));
            row.push(accuracy.map(|a| a[i].to_string()).unwrap_or_default());
            row
        })
        .collect();
    let models = write(&header, rows)?;
    let mut corr = Vec::new();
    if let Some(acc) = accuracy {
        for k in RANK_METRICS {
            let pairs: Vec<(f64, f64)> = reports
                .iter()
                .zip(acc)
                .filter_map(|(r, &a)| metric(r, k).map(|v| (v, a)))
                .collect();
            let (x, y): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            corr.push(vec![
                k.to_string(),
                x.len().to_string(),
                pearson(&x, &y).to_string(),
                spearman(&x, &y).to_string(),
            ]);
        }
    }
    Ok((
        models,
        write(&["metric", "models", "pearson", "spearman"], corr)?,
    ))
}
