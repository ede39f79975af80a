//! `weightscope report`: one self-contained HTML file.

use super::outputs::{self, Output};
use super::plot::analyze_for_plots;
use super::{exit_code, print};
use crate::cli::ReportArgs;
use anyhow::Result;
use std::process::ExitCode;
use weightscope_report as report;

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    outputs::check(&[Output::File("--output", &args.output)])?;
    let report = analyze_for_plots(&args.input, &args.analysis)?;
    let printed = print(&report::summary_text(&report));
    let html = report::html::report_html(&report)?;
    report::write_atomic(&args.output, html.as_bytes())?;
    eprintln!(
        "wrote {} ({} layers, {} bytes)",
        args.output.display(),
        report.layers.len(),
        html.len()
    );
    printed?;
    Ok(exit_code(&report.layers))
}
