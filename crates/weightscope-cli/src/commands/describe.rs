//! `weightscope describe`: the layer plan, no maths.

use super::outputs::{self, Output};
use super::print;
use crate::cli::DescribeArgs;
use anyhow::Result;
use std::process::ExitCode;
use weightscope_report as report;

pub fn run(args: DescribeArgs) -> Result<ExitCode> {
    if let Some(p) = &args.json {
        outputs::check(&[Output::File("--json", p)])?;
    }
    let opts = args.select.options()?;
    let d = weightscope::describe(&args.input.locate()?, &opts)?;
    let printed = print(&report::describe_table(&d));
    if let Some(path) = &args.json {
        let bytes = serde_json::to_vec_pretty(&d)?;
        report::write_atomic(path, &bytes)?;
    }
    printed?;
    Ok(ExitCode::SUCCESS)
}
