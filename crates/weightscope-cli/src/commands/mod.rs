//! One module per subcommand, each with `run(args) -> Result<ExitCode>`, and what they share.
//!
//! Everything meant for stdout goes through `write!` on a locked stdout, so that a closed
//! pipe is an error (ended quietly by `main`), never a panic. Output files are written even
//! when stdout is gone: commands hold the result of printing until their files are written.

pub mod analyze;
pub mod compare;
pub mod describe;
pub mod merge;
pub mod outputs;
pub mod plot;
pub mod rank;
pub mod report;
pub mod smooth;
pub mod sparsity;
pub mod synth;
pub mod track;

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use weightscope::{LayerResult, Report, Status};
use weightscope_report::plots::{self, ImageFormat};

/// Write `text` to stdout.
fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// What `analyze` and `merge` show and write for a whole run: the layer table (unless
/// `quiet`) and the summary on stdout, then the CSV and JSON files. The files are written even
/// when stdout is closed; that print's outcome is returned for the caller to report last.
fn show_and_write(
    report: &Report,
    quiet: bool,
    csv: Option<&Path>,
    json: Option<&Path>,
) -> Result<std::io::Result<()>> {
    let mut text = String::new();
    if !quiet {
        text += &weightscope_report::layer_table(report);
        text += "\n";
    }
    text += &weightscope_report::summary_text(report);
    let printed = print(&text);
    if let Some(p) = csv {
        weightscope_report::write_atomic(p, &weightscope_report::to_csv(report)?)?;
    }
    if let Some(p) = json {
        weightscope_report::write_atomic(p, &weightscope_report::to_json(report)?)?;
    }
    Ok(printed)
}

/// The exit status of every command that analyses, from its layer rows: 0 when every layer
/// has a result (a failed power-law fit is a result), 1 when some are error rows (whose
/// messages go to stderr; the other rows are written all the same). A usage error, a model
/// that cannot be read, or one without any weight matrix ([`has_layers`]) is 2, an `Err`.
fn exit_code<'a>(rows: impl IntoIterator<Item = &'a LayerResult>) -> ExitCode {
    let mut errors = 0;
    for r in rows.into_iter().filter(|r| r.status == Status::Error) {
        eprintln!("error: {}", r.message);
        errors += 1;
    }
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// An error (exit 2) when `report` has no layer rows at all: no tensor of the model is a
/// weight matrix that could be analysed (the reasons are those of `weightscope describe`).
fn has_layers(report: &Report) -> Result<()> {
    if report.layers.is_empty() {
        let mut reasons: Vec<&str> = report.skipped.iter().map(|s| s.reason.as_str()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        let why = if reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", reasons.join("; "))
        };
        anyhow::bail!(
            "no weight matrices found in {} ({} tensors skipped{why}; see `weightscope \
             describe`, --all-tensors, --min-evals)",
            report.source,
            report.skipped.len()
        );
    }
    Ok(())
}

/// The formats asked for, repeats next to each other dropped.
fn image_formats(f: &[ImageFormat]) -> Vec<ImageFormat> {
    let mut v = f.to_vec();
    v.dedup();
    v
}

/// The plots of `weightscope plot` for `report`, under `dir`.
fn write_plots(report: &Report, dir: &Path, formats: &[ImageFormat]) -> Result<()> {
    let files = plots::write_plots(report, dir, &image_formats(formats))
        .with_context(|| format!("cannot write the plots to {}", dir.display()))?;
    eprintln!("wrote {} plot file(s) under {}", files.len(), dir.display());
    Ok(())
}
