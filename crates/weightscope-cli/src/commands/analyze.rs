//! `weightscope analyze`: every layer's metrics, as a table and a summary, CSV and JSON; or,
//! with `--shard I/N`, one share of the layers as a part for `weightscope merge`.

use super::outputs::{self, Output};
use super::{exit_code, has_layers, print, show_and_write, write_plots};
use crate::cli::AnalyzeArgs;
use crate::journal::{self, Journal};
use crate::progress::{self, Done};
use anyhow::{bail, Result};
use std::process::ExitCode;
use weightscope::shard::{Part, Share};
use weightscope::{formats, LayerResult, Status};
use weightscope_report as report;

pub fn run(args: AnalyzeArgs) -> Result<ExitCode> {
    let journal_path = args
        .json
        .as_ref()
        .or(args.csv.as_ref())
        .or(args.part.as_ref());
    let journal_path = journal_path.and_then(|p| journal::path_beside(p));
    let mut outs = Vec::new();
    if let Some(p) = &args.csv {
        outs.push(Output::File("--csv", p));
    }
    if let Some(p) = &args.json {
        outs.push(Output::File("--json", p));
    }
    if let Some(p) = &args.part {
        outs.push(Output::File("--part", p));
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

    let path = &args.input.locate()?;
    let src = formats::open(path)?;
    let source = args.input.model.display().to_string();
    let plans = weightscope::analyze::plan(src.as_ref(), &opts);
    if opts.filter.is_some() && plans.is_empty() {
        bail!(
            "--layers {} matches no tensor of {} (see `weightscope describe`)",
            args.analysis.select.layers.as_deref().unwrap_or(""),
            path.display()
        );
    }
    let share = args.shard.map(|shard| Share::new(&plans, shard));
    let identity = match (&journal_path, &share) {
        (None, None) => None,
        _ => Some(formats::identity(path, &src.files())?),
    };

    let done = match (&journal_path, &identity) {
        (Some(j), Some(identity)) => {
            let header = journal::header(&source, &opts, identity)?;
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
        _ if args.resume => {
            bail!("--resume needs --json, --csv or --part (the journal sits beside it)")
        }
        _ => None,
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
    let only = share.as_ref().map(|s| s.mine.clone());
    let report = progress::analyze(src.as_ref(), &source, &opts, done, only, Some(&record))?;
    if let Some(n) = src.bytes_read() {
        eprintln!(
            "fetched {n} bytes ({:.1} MiB) from {source}: headers, index and the analysed \
             tensors' byte ranges",
            n as f64 / (1u64 << 20) as f64
        );
    }

    if let (Some(share), Some(part_path), Some(identity)) = (share, &args.part, identity) {
        // A share may hold no layer (more shares than layers): its part is still written, and
        // `merge` decides whether the whole run found any.
        let filter = args.analysis.select.layers.clone();
        let (shard, total, rows) = (share.shard, share.total, report.layers.len());
        let text = (!args.quiet).then(|| report::layer_table(&report) + "\n");
        let code = exit_code(&report.layers);
        let json = Part::new(&share, report, identity, filter)?.to_json()?;
        report::write_atomic(part_path, &json)?;
        if let Some(j) = journal {
            j.remove();
        }
        eprintln!(
            "share {shard}: {rows} of {total} layers, written to {} (join all shares with \
             `weightscope merge`)",
            part_path.display()
        );
        print(&text.unwrap_or_default())?;
        return Ok(code);
    }
    if let Err(e) = has_layers(&report) {
        if let Some(j) = journal {
            j.remove();
        }
        return Err(e);
    }

    let printed = show_and_write(
        &report,
        args.quiet,
        args.csv.as_deref(),
        args.json.as_deref(),
    )?;
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
