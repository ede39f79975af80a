//! `weightscope track`: a series of checkpoints, or with --ensemble, runs pooled per layer.

use super::outputs::{self, Output};
use super::{exit_code, has_layers, image_formats, print, write_plots};
use crate::cli::TrackArgs;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::process::ExitCode;
use weightscope::compare::{ensemble, track};
use weightscope_report as report;

pub fn run(args: TrackArgs) -> Result<ExitCode> {
    let mut outs = vec![Output::File("--output", &args.output)];
    if let Some(p) = &args.plots {
        outs.push(Output::Folder("--plots", p));
    }
    outputs::check(&outs)?;
    let mut opts = args.analysis.options()?;
    // The phase columns come with the MP fit they are read from (mp_softrank, num_spikes).
    opts.mp_fit |= opts.phase;
    if args.ensemble {
        if args.plots.is_some() {
            // The pooled ESD plots show the MP bulk the paper fits to ensembles (Figs. 22–24).
            opts.keep_esd = true;
            opts.mp_fit = true;
        }
        let e = ensemble(&args.checkpoints, &opts)?;
        has_layers(&e.report)?;
        let printed = print(&report::layer_table(&e.report));
        report::write_atomic(&args.output, &report::ensemble_csv(&e)?)?;
        eprintln!(
            "{} layers pooled over {} runs → {}",
            e.report.layers.len(),
            e.runs.len(),
            args.output.display()
        );
        if let Some(dir) = &args.plots {
            write_plots(&e.report, dir, &args.plot_format)?;
        }
        printed?;
        Ok(exit_code(&e.report.layers))
    } else {
        let series = track(args.checkpoints.clone(), &opts)?;
        for (_, _, r) in &series {
            has_layers(r)?;
        }
        let mut text = String::new();
        for (p, step, r) in &series {
            writeln!(
                text,
                "{:<40} step {:>8}  mean α {}  α̂ {}",
                p.display(),
                step.map_or("-".into(), |s| s.to_string()),
                r.summary.alpha.map_or("-".into(), |a| format!("{a:.3}")),
                r.summary
                    .alpha_weighted
                    .map_or("-".into(), |a| format!("{a:.3}"))
            )?;
        }
        let printed = print(&text);
        report::write_atomic(&args.output, &report::track_csv(&series)?)?;
        if let Some(dir) = &args.plots {
            let files =
                report::plots::write_track_plots(&series, dir, &image_formats(&args.plot_format))
                    .with_context(|| format!("cannot write the plots to {}", dir.display()))?;
            eprintln!("wrote {} plot file(s) under {}", files.len(), dir.display());
        }
        printed?;
        Ok(exit_code(series.iter().flat_map(|(_, _, r)| &r.layers)))
    }
}
