//! `weightscope`: the command-line tool, a thin layer over the `weightscope` library.
//!
//! `cli` declares the command line, `commands` holds one module per subcommand, `progress`
//! the progress bar of an analysis, `journal` the journal of `analyze --resume` and `part`
//! the partial results of `analyze --shard` that `merge` joins.

mod cli;
mod commands;
mod journal;
mod part;
mod progress;

use cli::Command;
use commands::{
    analyze, compare, describe, merge, plot, rank, report, smooth, sparsity, synth, track,
};
use std::io::ErrorKind;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::parse();
    let result = match cli.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Report(a) => report::run(a),
        Command::Describe(a) => describe::run(a),
        Command::Synth(a) => synth::run(a),
        Command::Track(a) => track::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Rank(a) => rank::run(a),
        Command::Sparsity(a) => sparsity::run(a),
        Command::Smooth(a) => smooth::run(a),
        Command::Merge(a) => merge::run(a),
    };
    match result {
        Ok(code) => code,
        // The reader of our stdout has gone (`weightscope analyze m | head`): it has all it
        // wanted, so end quietly, as ripgrep does. Output files are written by then.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether `e`, or an error under it, is a write to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == ErrorKind::BrokenPipe)
    })
}
