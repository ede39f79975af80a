//! `weightscope compare`: a fine-tuned model against its base, layer by layer.

use super::outputs::{self, Output};
use super::{exit_code, print};
use crate::cli::CompareArgs;
use anyhow::Result;
use std::fmt::Write;
use std::process::ExitCode;
use weightscope::compare::compare;
use weightscope::distances::{averages, model_distances, DistanceMethod};
use weightscope_report as report;

pub fn run(args: CompareArgs) -> Result<ExitCode> {
    outputs::check(&[Output::File("--output", &args.output)])?;
    if let Some(d) = &args.distances {
        outputs::check(&[Output::File("--distances", d)])?;
    }
    let opts = args.analysis.options()?;
    let rows = compare(&args.base, &args.tuned, &opts)?;
    if rows.is_empty() {
        anyhow::bail!(
            "no weight matrices found in common between {} and {}",
            args.base.display(),
            args.tuned.display()
        );
    }
    let mut text = String::new();
    for r in &rows {
        writeln!(
            text,
            "{:<50} Δα {:>8}  ESD distance {:.4}  α(ΔW) {}",
            r.longname,
            r.d_alpha().map_or("-".into(), |d| format!("{d:+.3}")),
            r.esd_distance,
            r.delta.alpha.map_or("-".into(), |a| format!("{a:.3}"))
        )?;
    }
    if let Some(path) = &args.distances {
        let table = model_distances(&args.base, &args.tuned, &opts, &DistanceMethod::ALL)?;
        for method in DistanceMethod::ALL {
            let rows: Vec<_> = table
                .iter()
                .filter(|r| r.method == method)
                .map(|r| r.distance)
                .collect();
            if !rows.is_empty() {
                let (avg_dw, avg_db) = averages(&rows);
                writeln!(
                    text,
                    "distance {:<9} mean ΔW {avg_dw:.6}  mean Δb {avg_db:.6}  ({} layers)",
                    method.name(),
                    rows.len()
                )?;
            }
        }
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(["method", "layer_id", "name", "delta_W", "delta_b", "M", "N"])?;
        for r in &table {
            csv.write_record([
                r.method.name().to_string(),
                r.layer_id.to_string(),
                r.name.clone(),
                r.distance.delta_w.to_string(),
                r.distance.delta_b.to_string(),
                r.distance.m.to_string(),
                r.distance.n.to_string(),
            ])?;
        }
        report::write_atomic(path, &csv.into_inner()?)?;
    }
    let printed = print(&text);
    report::write_atomic(&args.output, &report::compare_csv(&rows)?)?;
    printed?;
    // Error rows are those of either model. ΔW has none of its own to count: an all-zero ΔW
    // (a layer left unchanged by fine-tuning) is a finding, not a failure.
    Ok(exit_code(rows.iter().flat_map(|r| [&r.base, &r.tuned])))
}
