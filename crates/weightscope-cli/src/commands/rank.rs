//! `weightscope rank`: models side by side, and their metrics' correlation with accuracy.

use super::outputs::{self, Output};
use super::{exit_code, has_layers, print};
use crate::cli::RankArgs;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use weightscope_report as report;

pub fn run(args: RankArgs) -> Result<ExitCode> {
    let corr_path = corr_path(&args.output);
    let mut outs = vec![Output::File("--output", &args.output)];
    if args.accuracy.is_some() {
        outs.push(Output::File(
            "the correlations (<output>.corr.csv)",
            &corr_path,
        ));
    }
    outputs::check(&outs)?;
    let opts = args.analysis.options()?;
    let reports = args
        .models
        .iter()
        .map(|m| weightscope::analyze(m, &opts))
        .collect::<Result<Vec<_>, _>>()?;
    for r in &reports {
        has_layers(r)?;
    }
    let accuracy = match &args.accuracy {
        None => None,
        Some(p) => Some(read_accuracy(p, &args.models)?),
    };
    let (models, corr) = report::rank_csv(&reports, accuracy.as_deref())?;
    let mut printed = print(&String::from_utf8_lossy(&models));
    report::write_atomic(&args.output, &models)?;
    if accuracy.is_some() {
        printed = printed.and_then(|()| print(&String::from_utf8_lossy(&corr)));
        report::write_atomic(&corr_path, &corr)?;
    }
    printed?;
    Ok(exit_code(reports.iter().flat_map(|r| &r.layers)))
}

/// Where the correlations go: `<output>.corr.csv`.
fn corr_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().unwrap_or_default().to_os_string();
    name.push(".corr.csv");
    output.with_file_name(name)
}

/// The accuracy of each model from a CSV of model,accuracy (a header line is skipped).
fn read_accuracy(p: &Path, models: &[PathBuf]) -> Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    let mut map = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some((m, a)) = line.rsplit_once(',') else {
            continue;
        };
        match a.trim().parse::<f64>() {
            Ok(v) => {
                map.insert(m.trim().to_string(), v);
            }
            Err(_) if i == 0 => {} // header
            Err(_) => bail!("{}: line {}: '{a}' is not a number", p.display(), i + 1),
        }
    }
    models
        .iter()
        .map(|m| {
            map.get(&m.display().to_string())
                .copied()
                .with_context(|| format!("{}: no accuracy for {}", p.display(), m.display()))
        })
        .collect()
}
