//! `weightscope compare`: a fine-tuned model against its base, layer by layer.

use super::outputs::{self, Output};
use super::{exit_code, print};
use crate::cli::CompareArgs;
use anyhow::Result;
use std::fmt::Write;
use std::process::ExitCode;
use weightscope::compare::compare;
use weightscope_report as report;

pub fn run(args: CompareArgs) -> Result<ExitCode> {
    outputs::check(&[Output::File("--output", &args.output)])?;
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
    let printed = print(&text);
    report::write_atomic(&args.output, &report::compare_csv(&rows)?)?;
    printed?;
    // Error rows are those of either model. ΔW has none of its own to count: an all-zero ΔW
    // (a layer left unchanged by fine-tuning) is a finding, not a failure.
    Ok(exit_code(rows.iter().flat_map(|r| [&r.base, &r.tuned])))
}
