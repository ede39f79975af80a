//! `weightscope merge`: join the parts of a sharded run (`analyze --shard I/N --part FILE`)
//! into the table, summary, CSV and JSON a single run would have written, byte for byte.

use super::{exit_code, has_layers, print};
use crate::cli::MergeArgs;
use crate::part::{self, Part};
use anyhow::Result;
use std::process::ExitCode;
use weightscope_report as report;

pub fn run(args: MergeArgs) -> Result<ExitCode> {
    let parts = args
        .parts
        .iter()
        .map(|p| Ok((p.clone(), Part::read(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let report = part::merge(parts)?;
    has_layers(&report)?;

    let mut text = String::new();
    if !args.quiet {
        text += &report::layer_table(&report);
        text += "\n";
    }
    text += &report::summary_text(&report);
    let printed = print(&text);
    if let Some(p) = &args.csv {
        report::write_atomic(p, &report::to_csv(&report)?)?;
    }
    if let Some(p) = &args.json {
        report::write_atomic(p, &report::to_json(&report)?)?;
    }
    printed?;
    Ok(exit_code(&report.layers))
}
