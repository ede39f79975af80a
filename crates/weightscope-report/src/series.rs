//! CSV for `track`, `ensemble`, `compare` and `rank`.

use crate::{Error, Result};
use std::path::PathBuf;
use weightscope::columns::col;
use weightscope::compare::{pearson, spearman, CompareRow, Ensemble};
use weightscope::summary::{SummaryMetric, SUMMARY_METRICS};
use weightscope::{LayerResult, Report};

fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn write(header: &[&str], rows: Vec<Vec<String>>) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| Error::encode("CSV", e);
    w.write_record(header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    w.into_inner().map_err(|e| Error::encode("CSV", e))
}

/// The registry columns of `track`, after the checkpoint and its step.
const TRACK_COLUMNS: [&str; 17] = [
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

/// The registry columns' CSV cells of a row.
fn cells<'a>(r: &'a LayerResult, names: &'a [&str]) -> impl Iterator<Item = String> + 'a {
    names.iter().map(move |n| col(n).value(r).to_csv())
}

/// One row per (checkpoint, layer).
pub fn track_csv(series: &[(PathBuf, Option<u64>, Report)]) -> Result<Vec<u8>> {
    let mut header = vec!["checkpoint", "step"];
    header.extend(TRACK_COLUMNS);
    let mut rows = Vec::new();
    for (path, step, report) in series {
        for l in &report.layers {
            let mut row = vec![
                path.display().to_string(),
                step.map(|s| s.to_string()).unwrap_or_default(),
            ];
            row.extend(cells(l, &TRACK_COLUMNS));
            rows.push(row);
        }
    }
    write(&header, rows)
}

/// One row per layer of a pooled ensemble: the fit of the pooled ESD, and the mean and
/// standard deviation of the runs' own α beside it.
pub fn ensemble_csv(e: &Ensemble) -> Result<Vec<u8>> {
    const FIT: [&str; 7] = [
        "status",
        "num_evals",
        "alpha",
        "xmin",
        "D",
        "num_pl_spikes",
        "lambda_max",
    ];
    const MP: [&str; 5] = ["sigma_mp", "mp_softrank", "num_spikes", "phase", "message"];
    let mut header = vec!["longname", "runs"];
    header.extend(FIT);
    header.extend(["alpha_runs_mean", "alpha_runs_std"]);
    header.extend(MP);
    let rows = e
        .report
        .layers
        .iter()
        .zip(&e.run_alpha)
        .map(|(r, (mean, sd))| {
            let mut row = vec![r.longname.clone(), r.runs.unwrap_or(0).to_string()];
            row.extend(cells(r, &FIT));
            row.extend([num(*mean), num(*sd)]);
            row.extend(cells(r, &MP));
            row
        })
        .collect();
    write(&header, rows)
}

/// One row per matched layer of base vs tuned: for each of these metrics the base value, the
/// tuned value and the change; then the change of log λmax, the distance between the two
/// ESDs, and columns of the spectrum of ΔW (prefixed `delta_`).
const COMPARED: [&str; 3] = ["alpha", "alpha_weighted", "lambda_max"];
const DELTA_W: [&str; 4] = ["alpha", "lambda_max", "stable_rank", "norm"];

/// One row per matched layer of base vs tuned.
pub fn compare_csv(rows: &[CompareRow]) -> Result<Vec<u8>> {
    let mut header = vec!["longname".to_string()];
    for n in COMPARED {
        header.extend([format!("{n}_base"), format!("{n}_tuned"), format!("d_{n}")]);
    }
    header.extend(["d_log_spectral_norm".into(), "esd_distance".into()]);
    header.extend(DELTA_W.iter().map(|n| format!("delta_{n}")));
    let value = |r: &LayerResult, n: &str| col(n).value(r).as_f64();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    write(
        &header,
        rows.iter()
            .map(|r| {
                let mut row = vec![r.longname.clone()];
                for n in COMPARED {
                    let (b, t) = (value(&r.base, n), value(&r.tuned, n));
                    row.extend([num(b), num(t), num(CompareRow::diff(b, t))]);
                }
                row.push(num(r.d_log_spectral_norm()));
                row.push(r.esd_distance.to_string());
                row.extend(cells(&r.delta, &DELTA_W));
                row
            })
            .collect(),
    )
}

/// The summary metrics ranked across models: those every analysis computes.
fn rank_metrics() -> impl Iterator<Item = &'static SummaryMetric> {
    SUMMARY_METRICS.iter().filter(|m| !m.optional)
}

/// Models side by side (one row each), and, when accuracies are given (same order), the
/// Pearson and Spearman correlation of each metric with accuracy.
pub fn rank_csv(reports: &[Report], accuracy: Option<&[f64]>) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut header = vec!["model"];
    header.extend(rank_metrics().map(|m| m.name));
    header.push("accuracy");
    let rows = reports
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = vec![r.source.clone()];
            row.extend(rank_metrics().map(|m| num((m.get)(&r.summary))));
            row.push(accuracy.map(|a| a[i].to_string()).unwrap_or_default());
            row
        })
        .collect();
    let models = write(&header, rows)?;
    let mut corr = Vec::new();
    if let Some(acc) = accuracy {
        for m in rank_metrics() {
            let pairs: Vec<(f64, f64)> = reports
                .iter()
                .zip(acc)
                .filter_map(|(r, &a)| (m.get)(&r.summary).map(|v| (v, a)))
                .collect();
            let (x, y): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
            corr.push(vec![
                m.name.to_string(),
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
