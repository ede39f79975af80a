//! `weightscope synth`: a generated weight matrix of one of the paper's phases.

use crate::cli::SynthArgs;
use anyhow::{Context, Result};
use std::process::ExitCode;
use weightscope::diagnose::phase::Phase;
use weightscope::formats;
use weightscope::synth::synth_matrix;
use weightscope_report as report;

pub fn run(args: SynthArgs) -> Result<ExitCode> {
    let phase = Phase::parse(&args.phase).with_context(|| {
        format!(
            "unknown phase '{}'; one of: {}",
            args.phase,
            Phase::ALL.map(|p| p.as_str()).join(", ")
        )
    })?;
    let (n, m) = args
        .shape
        .split_once(['x', 'X', '×'])
        .and_then(|(a, b)| {
            Some((
                a.trim().parse::<usize>().ok()?,
                b.trim().parse::<usize>().ok()?,
            ))
        })
        .filter(|&(a, b)| a > 0 && b > 0)
        .with_context(|| {
            format!(
                "--shape must be NxM with positive N and M, got '{}'",
                args.shape
            )
        })?;
    let w = synth_matrix(phase, n, m, args.seed);
    // Row-major N×M as given (synth orients N ≥ M; keep the user's orientation).
    let (rows, cols) = (n, m);
    let data: Vec<f32> = (0..rows)
        .flat_map(|i| {
            let w = &w;
            (0..cols).map(move |j| if n >= m { w[(i, j)] } else { w[(j, i)] } as f32)
        })
        .collect();
    let name = format!(
        "{}.weight",
        phase.as_str().to_ascii_lowercase().replace('+', "_")
    );
    let bytes =
        formats::safetensors::to_safetensors_bytes(&[(name.clone(), vec![rows, cols], data)])?;
    report::write_atomic(&args.output, &bytes)?;
    eprintln!(
        "wrote {} ({name}, {rows}×{cols}, {phase}, seed {})",
        args.output.display(),
        args.seed
    );
    Ok(ExitCode::SUCCESS)
}
