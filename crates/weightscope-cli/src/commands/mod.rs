//! One module per subcommand, each with `run(args) -> Result<ExitCode>`, and what they share.
//!
//! Everything meant for stdout goes through `write!` on a locked stdout, so that a closed
//! pipe is an error (ended quietly by `main`), never a panic. Output files are written even
//! when stdout is gone: commands hold the result of printing until their files are written.

pub mod analyze;
pub mod compare;
pub mod describe;
pub mod merge;
pub mod plot;
pub mod rank;
pub mod report;
pub mod synth;
pub mod track;

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use weightscope::{Report, Status};
use weightscope_report::plots::{self, ImageFormat};

/// Write `text` to stdout.
fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// 0 if every layer was analysed, 1 if some failed, 2 if all did; the failures go to stderr.
fn exit_code(report: &Report) -> ExitCode {
    for r in report.layers.iter().filter(|r| r.status == Status::Error) {
        eprintln!("error: {}", r.message);
    }
    let errors = report.summary.layers_error;
    if report.summary.layers_analyzed == 0 && errors > 0 {
        ExitCode::from(2)
    } else if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
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
