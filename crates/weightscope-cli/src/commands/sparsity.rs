//! `weightscope sparsity`: AlphaPruning's per-layer sparsity ratios from α.

use super::print;
use crate::cli::{SparsityArgs, SparsityMapping, SparsityMetric};
use anyhow::Result;
use serde_json::json;
use std::fmt::Write;
use std::process::ExitCode;
use weightscope::act::{alpha_mid, alpha_peak, block_groups, block_of, sparsity_ratios};
use weightscope::act::{reference_alpha::PEAK_BINS, SparsityOptions};
use weightscope::Status;
use weightscope_report as report;

/// A layer that gets a ratio.
struct Allocated {
    name: String,
    params: u64,
    alpha: f64,
}

pub fn run(args: SparsityArgs) -> Result<ExitCode> {
    let sopts = SparsityOptions {
        target: args.target,
        epsilon: args.epsilon,
    };
    sopts.check()?;
    let mut opts = args.analysis.options()?;
    // The reference estimators need each layer's eigenvalues.
    opts.keep_esd = args.metric != SparsityMetric::Alpha;
    let rep = weightscope::analyze(&args.input.model, &opts)?;

    let mut layers = Vec::new();
    let (mut errors, mut outside) = (0usize, 0usize);
    for r in &rep.layers {
        if r.status == Status::Error {
            eprintln!("error: {}", r.message);
            errors += 1;
            continue;
        }
        if args.mapping == SparsityMapping::BlockWise && block_of(&r.longname).is_none() {
            outside += 1;
            continue;
        }
        let alpha = match args.metric {
            SparsityMetric::Alpha => r.alpha,
            SparsityMetric::AlphaPeak => r
                .esd
                .as_deref()
                .and_then(|e| alpha_peak(e, PEAK_BINS))
                .map(|f| f.alpha),
            SparsityMetric::AlphaMid => r
                .esd
                .as_deref()
                .and_then(|e| alpha_mid(e, 2.0))
                .map(|f| f.alpha),
        };
        match alpha {
            Some(alpha) if alpha.is_finite() => layers.push(Allocated {
                name: r.longname.clone(),
                // The parameters of the matrix analysed (kh·kw maps for a convolution).
                params: (r.n * r.m * r.rf.max(1)) as u64,
                alpha,
            }),
            _ => {
                eprintln!(
                    "error: {}: no α could be fitted; the layer gets no ratio",
                    r.longname
                );
                errors += 1;
            }
        }
    }
    if outside > 0 {
        eprintln!(
            "note: {outside} layer(s) outside the numbered transformer blocks left out \
             (block-wise mapping; use --mapping layer-wise to allocate them too)"
        );
    }
    if layers.is_empty() {
        anyhow::bail!(
            "{}: no layer to allocate a sparsity to",
            args.input.model.display()
        );
    }
    let names: Vec<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    let alphas: Vec<f64> = layers.iter().map(|l| l.alpha).collect();
    let params: Vec<u64> = layers.iter().map(|l| l.params).collect();
    let groups = block_groups(&names);
    let groups = (args.mapping == SparsityMapping::BlockWise).then_some(groups.as_slice());
    let ratios = sparsity_ratios(&alphas, &params, groups, &sopts)?;
    if let Some(r) = ratios.iter().find(|r| !(0.0..1.0).contains(*r)) {
        eprintln!(
            "warning: a ratio ({r:.4}) is outside [0, 1): lower --epsilon or --target \
             (the map is not clipped, as in the reference)"
        );
    }

    let width = names.iter().map(|n| n.len()).max().unwrap_or(5).max(5);
    let mut text = format!(
        "{:<width$}  {:>12}  {:>8}  {:>8}\n",
        "layer", "params", "alpha", "sparsity"
    );
    let mut csv = csv::Writer::from_writer(Vec::new());
    csv.write_record(["name", "params", "alpha", "sparsity"])?;
    for (l, s) in layers.iter().zip(&ratios) {
        writeln!(
            text,
            "{:<width$}  {:>12}  {:>8.4}  {:>8.4}",
            l.name, l.params, l.alpha, s
        )?;
        csv.write_record([
            &l.name,
            &l.params.to_string(),
            &l.alpha.to_string(),
            &s.to_string(),
        ])?;
    }
    let printed = print(&text);
    if let Some(p) = &args.csv {
        report::write_atomic(p, &csv.into_inner()?)?;
    }
    if let Some(p) = &args.json {
        let doc = json!({
            "model": args.input.model.display().to_string(),
            "target": sopts.target,
            "epsilon": sopts.epsilon,
            "metric": metric_name(args.metric),
            "mapping": match args.mapping {
                SparsityMapping::BlockWise => "block_wise",
                SparsityMapping::LayerWise => "layer_wise",
            },
            "layers": layers.iter().zip(&ratios).map(|(l, s)| json!({
                "name": l.name, "params": l.params, "alpha": l.alpha, "sparsity": s,
            })).collect::<Vec<_>>(),
        });
        let mut bytes = serde_json::to_vec_pretty(&doc)?;
        bytes.push(b'\n');
        report::write_atomic(p, &bytes)?;
    }
    printed?;
    Ok(if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The reference's name of the metric.
fn metric_name(m: SparsityMetric) -> &'static str {
    match m {
        SparsityMetric::AlphaPeak => "alpha_peak",
        SparsityMetric::AlphaMid => "alpha_mid",
        SparsityMetric::Alpha => "alpha",
    }
}
