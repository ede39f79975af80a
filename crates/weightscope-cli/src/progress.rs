//! The progress bar of an analysis, by flops, on stderr when it is a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use weightscope::analyze::plan;
use weightscope::formats::TensorSource;
use weightscope::{analyze_source, Hooks, LayerResult};
use weightscope::{Options, Report};

/// A layer by its layer and slice id.
pub type Key = (usize, Option<usize>);

/// Rows already done (from a --resume journal), by layer and slice id.
pub type Done = HashMap<Key, LayerResult>;

/// Analyse `src` with a progress bar; `done` rows are reused, only the layers of `only` are
/// analysed when it is given (a share of a sharded run), and `also` (the --resume journal)
/// sees each newly finished row.
pub fn analyze(
    src: &dyn TensorSource,
    source: &str,
    opts: &Options,
    done: Done,
    only: Option<HashSet<Key>>,
    also: Option<&(dyn Fn(&LayerResult) + Sync)>,
) -> weightscope::Result<Report> {
    let bar = progress_bar(src, opts, &done, only.as_ref());
    if !done.is_empty() {
        bar.println(format!("resuming: {} layers already done", done.len()));
    }
    let on_layer = |r: &LayerResult, flops: f64| {
        if let Some(f) = also {
            f(r);
        }
        bar.set_message(r.name.clone());
        bar.inc(flops as u64);
    };
    let hooks = Hooks {
        done,
        only,
        on_layer: Some(&on_layer),
    };
    let report = analyze_source(src, source, opts, hooks);
    bar.finish_and_clear();
    report
}

/// A progress bar by flops of the layers still to do, or a hidden one when stderr is not a
/// terminal.
fn progress_bar(
    src: &dyn TensorSource,
    opts: &Options,
    done: &Done,
    only: Option<&HashSet<Key>>,
) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: f64 = plan(src, opts)
        .iter()
        .filter(|p| {
            let key = (p.layer_id, p.slice_id);
            p.skip.is_none() && !done.contains_key(&key) && only.is_none_or(|o| o.contains(&key))
        })
        .map(|p| p.flops())
        .sum();
    let b = ProgressBar::new(total.max(1.0) as u64);
    b.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% of flops, ETA {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    b
}
