//! `weightscope plot`: every layer's spectrum plots and the model's depth plots.

use super::outputs::{self, Output};
use super::{exit_code, has_layers, print, write_plots};
use crate::cli::{AnalysisArgs, Input, PlotArgs};
use crate::progress::{self, Done};
use anyhow::Result;
use std::process::ExitCode;
use weightscope::{formats, Report};
use weightscope_report as report;

pub fn run(args: PlotArgs) -> Result<ExitCode> {
    outputs::check(&[Output::Folder("--output", &args.output)])?;
    let report = analyze_for_plots(&args.input, &args.analysis)?;
    let printed = print(&report::summary_text(&report));
    write_plots(&report, &args.output, &args.format)?;
    printed?;
    Ok(exit_code(&report.layers))
}

/// Analyse with the options plots need besides those asked for: ESDs kept, MP fit, phases.
pub fn analyze_for_plots(input: &Input, analysis: &AnalysisArgs) -> Result<Report> {
    let mut opts = analysis.options()?;
    opts.keep_esd = true;
    opts.mp_fit = true;
    opts.phase = true;
    let src = formats::open(&input.locate()?)?;
    let source = input.model.display().to_string();
    let report = progress::analyze(src.as_ref(), &source, &opts, Done::new(), None, None)?;
    has_layers(&report)?;
    Ok(report)
}
