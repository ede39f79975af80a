//! `weightscope merge`: join the parts of a sharded run (`analyze --shard I/N --part FILE`)
//! into the table, summary, CSV and JSON a single run would have written, byte for byte.

use super::{exit_code, has_layers, show_and_write};
use crate::cli::MergeArgs;
use crate::part;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: MergeArgs) -> Result<ExitCode> {
    let parts = args
        .parts
        .iter()
        .map(|p| Ok((p.clone(), part::read(p)?)))
        .collect::<Result<Vec<_>>>()?;
    let report = part::merge(parts)?;
    has_layers(&report)?;

    let printed = show_and_write(
        &report,
        args.quiet,
        args.csv.as_deref(),
        args.json.as_deref(),
    )?;
    printed?;
    Ok(exit_code(&report.layers))
}
