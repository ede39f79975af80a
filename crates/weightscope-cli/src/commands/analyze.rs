//! `weightscope analyze`: every layer's metrics, as a table and a summary, CSV and JSON.

use super::outputs::{self, Output};
use super::{exit_code, has_layers, print, write_plots};
use crate::cli::AnalyzeArgs;
use crate::journal::{self, Journal};
use crate::progress::{self, Done};
use anyhow::{bail, Result};
use std::process::ExitCode;
use weightscope::{formats, LayerResult, Status};
use weightscope_report as report;

pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    let journal_path = args.json.as_ref().or(args.csv.as_ref());
    let journal_path = journal_path.and_then(|p| journal::path_beside(p));
    let mut outs = Vec::new();
    if let Some(p) = &args.csv {
        outs.push(Output::File("--csv", p));
    }
    if let Some(p) = &args.json {
        outs.push(Output::File("--json", p));
    }
    if let Some(p) = &journal_path {
        outs.push(Output::File("the journal of --resume", p));
    }
    if let Some(p) = &args.plots {
        outs.push(Output::Folder("--plots", p));
    }
    outputs::check(&outs)?;
    let mut opts = args.analysis.options()?;
    opts.keep_esd = args.plots.is_some();

    let path = &args.input.model;
    let src = formats::open(path)?;
    let source = path.display().to_string();
    let plans = weightscope::analyze::plan(src.as_ref(), &opts);
    if opts.filter.is_some() && plans.is_empty() {
        bail!(
            "--layers {} matches no tensor of {} (see `weightscope describe`)",
            args.analysis.select.layers.as_deref().unwrap_or(""),
            path.display()
        );
    }

    let done = match &journal_path {
        Some(j) => {
            let identity = formats::identity(path, &src.files())?;
            let header = journal::header(&source, &opts, &identity)?;
            let done = if args.resume {
                let loaded = journal::load(j, &header, &plans)?;
                for note in &loaded.notes {
                    eprintln!("warning: {note}");
                }
                loaded.done
            } else {
                Done::new()
            };
            Some((j.clone(), header, done))
        }
        None if args.resume => {
            bail!("--resume needs --json or --csv (the journal sits beside it)")
        }
        None => None,
    };
    let (journal, done) = match done {
        Some((j, header, done)) => (Some(Journal::create(j, &header, &done)?), done),
        None => (None, Done::new()),
    };
    let record = |r: &LayerResult| {
        if let Some(j) = &journal {
            j.record(r);
        }
    };
    let report = progress::analyze(src.as_ref(), &source, &opts, done, Some(&record))?;
    if let Err(e) = has_layers(&report) {
        if let Some(j) = journal {
            j.remove();
        }
        return Err(e);
    }

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
    if let Some(j) = journal {
        j.remove();
    }
    if let Some(dir) = &args.plots {
        let missing = report
            .layers
            .iter()
            .filter(|r| r.status != Status::Error && r.esd.is_none())
            .count();
        if missing > 0 {
            eprintln!(
                "note: {missing} layer(s) resumed from the journal have no eigenvalues kept; \
                 their plots are skipped (run without --resume to plot them)"
            );
        }
        write_plots(&report, dir, &args.plot_format)?;
    }
    printed?;
    Ok(exit_code(&report.layers))
}
