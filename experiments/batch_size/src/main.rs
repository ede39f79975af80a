//! Martin & Mahoney, "Implicit Self-Regularization in Deep Neural Networks", §7 (Figs. 29–31):
//! the batch size alone moves a network through the phases of training. Train MLP3 on MNIST
//! at several batch sizes from the same initial weights, save the weights as safetensors,
//! diagnose them with weightscope (stable rank, MP soft rank, α, spikes, phase) and write a
//! results page with the ESD of each hidden layer per batch size. Plus §6.4: the same with an
//! explicit L2 term, and a very strong one that tries to exhibit Rank-collapse.

mod idx;
mod mnist;
mod train;

use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::Parser;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use train::{Data, Mlp, Sgd};
use weightscope_report::plots::{layer_plot, ImageFormat, LayerPlot};

/// MLP3 of the paper: two hidden layers of 512 (§4, MLP3; here on MNIST).
const SIZES: [usize; 4] = [mnist::PIXELS, 512, 512, 10];

#[derive(Parser, Debug)]
#[command(about = "Reproduce §7 of Martin & Mahoney (batch size → phases) on MNIST with MLP3")]
struct Args {
    /// Folder with the MNIST IDX files (gzipped or not).
    #[arg(long, default_value = "../shared/data/mnist")]
    data: PathBuf,
    /// Where results.md, results.json, results.csv and esd/*.png go.
    #[arg(long, default_value = "experiments/batch_size/results")]
    out: PathBuf,
    /// Where the checkpoints go (git-ignored).
    #[arg(long, default_value = "experiments/batch_size/checkpoints")]
    checkpoints: PathBuf,
    /// Batch sizes, trained without explicit regularization.
    #[arg(long, value_delimiter = ',', default_value = "500,250,100,32,16,8,4,2")]
    batch_sizes: Vec<usize>,
    /// Extra runs with an explicit L2 term, BATCH:LAMBDA (λ as in v ← μv − η(g + λW)).
    #[arg(long, value_delimiter = ',', default_value = "32:0.0005,32:0.05")]
    wd_runs: Vec<String>,
    /// Train only the --wd-runs (e.g. to resume after an interruption; then --analyze-only
    /// with the full lists rebuilds the tables).
    #[arg(long)]
    skip_batch_runs: bool,
    /// Epochs of every run (no early stopping).
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Train on the first K training images only (0: all 60,000).
    #[arg(long, default_value_t = 0)]
    train_subset: usize,
    /// Seed of the initial weights (the same W₀ for every run) and of the shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Learning rate, the same for every batch size (the paper's 0.01, §6.1).
    #[arg(long, default_value_t = 0.01)]
    lr: f64,
    /// Momentum (the paper's 0.9).
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    /// Also save a checkpoint after every epoch (for `weightscope track`).
    #[arg(long)]
    per_epoch: bool,
    /// Threads for candle and weightscope (1: deterministic, and one core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Skip the sha256 / class-count check of the data.
    #[arg(long)]
    no_verify: bool,
    /// Do not train: re-analyse the checkpoints of an earlier run.
    #[arg(long)]
    analyze_only: bool,
    /// Do not train or read checkpoints: redo the MP fit and the phase of every layer from the
    /// eigenvalues saved in OUT/esds.json (after a change to the classifier), keeping the rest
    /// of OUT/results.json.
    #[arg(long, conflicts_with = "analyze_only")]
    from_esds: bool,
    /// Only time training steps for each batch size (steps/s, s/epoch) and exit.
    #[arg(long)]
    timing: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct EpochLog {
    epoch: usize,
    train_loss: f64,
    test_acc: f64,
    seconds: f64,
}

/// What training a run produced (also `checkpoints/<run>/train.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct TrainResult {
    name: String,
    batch_size: usize,
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    epochs: usize,
    train_examples: usize,
    seed: u64,
    steps: usize,
    diverged: bool,
    train_acc: f64,
    train_loss: f64,
    test_acc: f64,
    test_loss: f64,
    seconds: f64,
    log: Vec<EpochLog>,
}

/// The weightscope numbers of one layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LayerRow {
    layer: String,
    shape: Vec<usize>,
    stable_rank: Option<f64>,
    mp_softrank: Option<f64>,
    alpha: Option<f64>,
    lambda_max: Option<f64>,
    num_spikes: Option<usize>,
    num_bleeding_out: Option<usize>,
    bulk_ks: Option<f64>,
    phase: Option<String>,
    phase_reason: Option<String>,
    #[serde(default)]
    phase_confidence: Option<f64>,
    #[serde(default)]
    phase_runner_up: Option<String>,
    matrix_rank: Option<usize>,
    zero_mass: Option<f64>,
    entropy: Option<f64>,
    esd_png: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunResult {
    #[serde(flatten)]
    train: TrainResult,
    layers: Vec<LayerRow>,
    /// The eigenvalues behind `layers`, written to esds.json rather than results.json.
    #[serde(skip)]
    esds: Vec<LayerEsd>,
}

/// One layer's ESD: the eigenvalues of X = WᵀW/N (Eqn. 8) as weightscope computed them, with
/// N ≥ M. Everything the MP fit and the phase read, so the phases can be redone without the
/// checkpoints (`--from-esds`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct LayerEsd {
    layer: String,
    n: usize,
    m: usize,
    evals: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunEsds {
    name: String,
    layers: Vec<LayerEsd>,
}

struct RunSpec {
    name: String,
    batch: usize,
    wd: f64,
}

fn run_specs(args: &Args) -> Result<Vec<RunSpec>> {
    let mut v: Vec<RunSpec> = args
        .batch_sizes
        .iter()
        .filter(|_| !args.skip_batch_runs)
        .map(|&b| RunSpec {
            name: format!("b{b}"),
            batch: b,
            wd: 0.0,
        })
        .collect();
    for s in args.wd_runs.iter().filter(|s| !s.trim().is_empty()) {
        let (b, wd) = s
            .split_once(':')
            .with_context(|| format!("--wd-runs: {s:?} is not BATCH:LAMBDA"))?;
        let batch: usize = b
            .parse()
            .with_context(|| format!("--wd-runs: batch {b:?}"))?;
        let wd: f64 = wd.parse().with_context(|| format!("--wd-runs: λ {wd:?}"))?;
        v.push(RunSpec {
            name: format!("b{batch}_wd{wd}"),
            batch,
            wd,
        });
    }
    if v.iter().any(|r| r.batch == 0) {
        bail!("batch sizes must be positive");
    }
    Ok(v)
}

fn main() -> Result<()> {
    let args = Args::parse();
    // candle's CPU matmul and weightscope both size their thread pools from this; one thread
    // keeps the run on one core and the floating-point sums in a fixed order.
    std::env::set_var("RAYON_NUM_THREADS", args.threads.to_string());
    let started = Instant::now();
    let dev = Device::Cpu;
    let specs = run_specs(&args)?;

    if args.from_esds {
        return from_esds(&args, started);
    }
    if args.analyze_only {
        let mut results = Vec::new();
        for spec in &specs {
            let dir = args.checkpoints.join(&spec.name);
            let p = dir.join("train.json");
            let s = std::fs::read_to_string(&p)
                .with_context(|| format!("--analyze-only: cannot read {}", p.display()))?;
            let train: TrainResult = serde_json::from_str(&s)?;
            results.push(analyze_run(&args, train, &dir.join("final.safetensors"))?);
        }
        return write_results(&args, &results, started.elapsed().as_secs_f64());
    }

    let t = Instant::now();
    let data = mnist::load(&args.data, !args.no_verify)?;
    let train_split = if args.train_subset > 0 {
        data.train.head(args.train_subset)
    } else {
        data.train.clone()
    };
    let train = Data::new(
        &train_split.images,
        &train_split.labels,
        mnist::PIXELS,
        &dev,
    )?;
    let test = Data::new(&data.test.images, &data.test.labels, mnist::PIXELS, &dev)?;
    eprintln!(
        "MNIST: {} training (of {}), {} test images, loaded{} in {:.1}s",
        train.n,
        data.train.n,
        test.n,
        if args.no_verify { "" } else { " and verified" },
        t.elapsed().as_secs_f64()
    );

    if args.timing {
        return timing(&args, &specs, &train, &dev);
    }

    let mut results = Vec::new();
    for spec in &specs {
        let dir = args.checkpoints.join(&spec.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
        let tr = train_run(&args, spec, &train, &test, &dev, &dir)?;
        std::fs::write(dir.join("train.json"), serde_json::to_string_pretty(&tr)?)?;
        results.push(analyze_run(&args, tr, &dir.join("final.safetensors"))?);
        // Rewrite after every run, so an interrupted experiment still leaves its numbers.
        write_results(&args, &results, started.elapsed().as_secs_f64())?;
    }
    eprintln!("done in {:.1} min", started.elapsed().as_secs_f64() / 60.0);
    Ok(())
}

fn timing(args: &Args, specs: &[RunSpec], train: &Data, dev: &Device) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for spec in specs.iter().filter(|s| seen.insert(s.batch)) {
        let model = Mlp::new(&SIZES, args.seed, dev)?;
        let mut opt = Sgd::new(&model, args.lr, args.momentum, spec.wd)?;
        // Time about 2,000 examples' worth of steps (at least 20 steps) on a subset.
        let steps = (2000 / spec.batch).max(20);
        let sub = Data {
            x: train.x.narrow(0, 0, (steps * spec.batch).min(train.n))?,
            y: train.y.narrow(0, 0, (steps * spec.batch).min(train.n))?,
            n: (steps * spec.batch).min(train.n),
        };
        let mut rng = train::shuffle_rng(args.seed);
        let t = Instant::now();
        train::train_epoch(&model, &mut opt, &sub, spec.batch, &mut rng)?;
        let s = t.elapsed().as_secs_f64();
        let done = sub.n.div_ceil(spec.batch);
        let per_epoch = s / sub.n as f64 * train.n as f64;
        println!(
            "batch {:4}: {:8.1} steps/s, {:8.0} examples/s, {:7.1} s per epoch of {}",
            spec.batch,
            done as f64 / s,
            sub.n as f64 / s,
            per_epoch,
            train.n
        );
    }
    Ok(())
}

fn train_run(
    args: &Args,
    spec: &RunSpec,
    train: &Data,
    test: &Data,
    dev: &Device,
    dir: &Path,
) -> Result<TrainResult> {
    let t = Instant::now();
    // Same seed, same W₀ and the same shuffle stream for every run: only the batch size
    // (or λ) differs.
    let model = Mlp::new(&SIZES, args.seed, dev)?;
    let mut opt = Sgd::new(&model, args.lr, args.momentum, spec.wd)?;
    let mut rng = train::shuffle_rng(args.seed);
    let mut log = Vec::new();
    let mut diverged = false;
    for epoch in 1..=args.epochs {
        let Some(loss) = train::train_epoch(&model, &mut opt, train, spec.batch, &mut rng)? else {
            diverged = true;
            eprintln!("{}: loss not finite in epoch {epoch}: stopped", spec.name);
            break;
        };
        let (test_acc, _) = train::evaluate(&model, test)?;
        let secs = t.elapsed().as_secs_f64();
        eprintln!(
            "{:>12} epoch {epoch:3}: train loss {loss:.4}  test acc {:.4}  ({secs:.0}s)",
            spec.name, test_acc
        );
        log.push(EpochLog {
            epoch,
            train_loss: loss,
            test_acc,
            seconds: secs,
        });
        if args.per_epoch {
            model.save(&dir.join(format!("epoch_{epoch:03}.safetensors")))?;
        }
    }
    model.save(&dir.join("final.safetensors"))?;
    let (train_acc, train_loss) = train::evaluate(&model, train)?;
    let (test_acc, test_loss) = train::evaluate(&model, test)?;
    Ok(TrainResult {
        name: spec.name.clone(),
        batch_size: spec.batch,
        lr: args.lr,
        momentum: args.momentum,
        weight_decay: spec.wd,
        epochs: log.len(),
        train_examples: train.n,
        seed: args.seed,
        steps: log.len() * train.n.div_ceil(spec.batch),
        diverged,
        train_acc,
        train_loss,
        test_acc,
        test_loss,
        seconds: t.elapsed().as_secs_f64(),
        log,
    })
}

fn analyze_run(args: &Args, train: TrainResult, ckpt: &Path) -> Result<RunResult> {
    let opts = weightscope::Options {
        mp_fit: true,
        phase: true,
        keep_esd: true,
        threads: Some(args.threads),
        ..Default::default()
    };
    let report = weightscope::analyze(ckpt, &opts)
        .with_context(|| format!("weightscope on {}", ckpt.display()))?;
    let esd_dir = args.out.join("esd");
    std::fs::create_dir_all(&esd_dir).with_context(|| format!("{}", esd_dir.display()))?;
    let mut layers = Vec::new();
    let mut esds = Vec::new();
    for (i, r) in report.layers.iter().enumerate() {
        let layer = r.longname.trim_end_matches(".weight").to_string();
        // The ESD with its MP fit (Figs. 30–31) for the hidden layers; fc3 (10 eigenvalues)
        // has too few for a histogram to mean much.
        let esd_png = if layer != "fc3" && r.esd.is_some() {
            let name = format!("{}_{layer}.png", train.name);
            let bytes = layer_plot(&report, i, LayerPlot::Esd, ImageFormat::Png)?;
            std::fs::write(esd_dir.join(&name), bytes)?;
            Some(format!("esd/{name}"))
        } else {
            None
        };
        layers.push(LayerRow {
            layer,
            shape: r.shape.clone(),
            stable_rank: r.stable_rank,
            mp_softrank: r.mp.as_ref().map(|m| m.mp_softrank),
            alpha: r.alpha,
            lambda_max: r.lambda_max,
            num_spikes: r.mp.as_ref().map(|m| m.num_spikes),
            num_bleeding_out: r.mp.as_ref().map(|m| m.num_bleeding_out),
            bulk_ks: r.mp.as_ref().map(|m| m.bulk_ks),
            phase: r.phase.as_ref().map(|p| p.phase.as_str().to_string()),
            phase_reason: r.phase.as_ref().map(|p| p.reason.clone()),
            phase_confidence: r.phase.as_ref().map(|p| p.confidence),
            phase_runner_up: r
                .phase
                .as_ref()
                .and_then(|p| p.runner_up)
                .map(|p| p.as_str().to_string()),
            matrix_rank: r.matrix_rank,
            zero_mass: r.zero_mass,
            entropy: r.entropy,
            esd_png,
        });
        if let Some(evals) = &r.esd {
            esds.push(LayerEsd {
                layer: layers.last().expect("just pushed").layer.clone(),
                n: r.n,
                m: r.m,
                evals: evals.clone(),
            });
        }
    }
    Ok(RunResult {
        train,
        layers,
        esds,
    })
}

/// Redo the MP fit (Eqns. 8–9) and the phase of `row` from its saved eigenvalues, exactly as
/// `weightscope::analyze` does with `mp_fit` and `phase` on (same estimator, same evidence).
fn reclassify(row: &mut LayerRow, esd: &LayerEsd) {
    use weightscope::diagnose::phase;
    use weightscope::fit::marchenko_pastur::fit_marchenko_pastur;
    let q = esd.n as f64 / esd.m as f64;
    let mp = fit_marchenko_pastur(
        &esd.evals,
        q,
        esd.m,
        weightscope::Options::default().mp_method,
    );
    row.mp_softrank = mp.as_ref().map(|m| m.mp_softrank);
    row.num_spikes = mp.as_ref().map(|m| m.num_spikes);
    row.num_bleeding_out = mp.as_ref().map(|m| m.num_bleeding_out);
    row.bulk_ks = mp.as_ref().map(|m| m.bulk_ks);
    let call = mp
        .as_ref()
        .and_then(|mp| phase::classify_esd(&esd.evals, mp, esd.m))
        .map(|(_, call)| call);
    row.phase = call.as_ref().map(|c| c.phase.as_str().to_string());
    row.phase_reason = call.as_ref().map(|c| c.reason.clone());
    row.phase_confidence = call.as_ref().map(|c| c.confidence);
    row.phase_runner_up = call
        .as_ref()
        .and_then(|c| c.runner_up)
        .map(|p| p.as_str().to_string());
}

fn from_esds(args: &Args, started: Instant) -> Result<()> {
    let read = |name: &str| -> Result<serde_json::Value> {
        let p = args.out.join(name);
        let s = std::fs::read_to_string(&p)
            .with_context(|| format!("--from-esds: cannot read {}", p.display()))?;
        serde_json::from_str(&s).with_context(|| format!("--from-esds: {}", p.display()))
    };
    let mut runs: Vec<RunResult> = serde_json::from_value(read("results.json")?["runs"].take())
        .context("--from-esds: results.json runs")?;
    let saved: Vec<RunEsds> = serde_json::from_value(read("esds.json")?["runs"].take())
        .context("--from-esds: esds.json runs")?;
    for run in &mut runs {
        let Some(s) = saved.iter().find(|s| s.name == run.train.name) else {
            bail!("--from-esds: esds.json has no run {}", run.train.name);
        };
        for row in &mut run.layers {
            let Some(esd) = s.layers.iter().find(|e| e.layer == row.layer) else {
                bail!(
                    "--from-esds: esds.json has no {} of run {}",
                    row.layer,
                    run.train.name
                );
            };
            reclassify(row, esd);
        }
        run.esds = s.layers.clone();
    }
    write_results(args, &runs, started.elapsed().as_secs_f64())
}

/// The phases of `layer` in the runs without L2, from the largest batch to the smallest, and
/// whether each is the same as or later than the one before in the 5+1 order of Table 7.
fn phase_walk(results: &[RunResult], layer: &str) -> Option<(Vec<String>, bool)> {
    use weightscope::diagnose::phase::Phase;
    let mut runs: Vec<(usize, Phase)> = results
        .iter()
        .filter(|r| r.train.weight_decay == 0.0)
        .filter_map(|r| {
            let l = r.layers.iter().find(|l| l.layer == layer)?;
            Some((r.train.batch_size, Phase::parse(l.phase.as_deref()?)?))
        })
        .collect();
    if runs.len() < 2 {
        return None;
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.0));
    let ordered = runs.windows(2).all(|w| w[0].1 <= w[1].1);
    let walk = runs
        .iter()
        .map(|(b, p)| format!("{} (b{b})", p.as_str()))
        .collect();
    Some((walk, ordered))
}

/// The phase, with its confidence and runner-up when the evidence lies between two phases.
fn phase_cell(l: &LayerRow) -> String {
    match (&l.phase, l.phase_confidence, &l.phase_runner_up) {
        (None, ..) => "–".into(),
        (Some(p), Some(c), Some(r)) => format!("{p} ({c:.2}; or {r})"),
        (Some(p), ..) => p.clone(),
    }
}

fn f(x: Option<f64>, prec: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.prec$}"))
}

fn write_results(args: &Args, results: &[RunResult], seconds: f64) -> Result<()> {
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let json = serde_json::json!({
        "command": command,
        "seconds": seconds,
        "runs": results,
    });
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    // serde_json writes f64 by the shortest round-trip form, so the eigenvalues read back are
    // bit for bit the ones the phases were computed from.
    let esds: Vec<RunEsds> = results
        .iter()
        .map(|r| RunEsds {
            name: r.train.name.clone(),
            layers: r.esds.clone(),
        })
        .collect();
    std::fs::write(
        out.join("esds.json"),
        serde_json::to_string(&serde_json::json!({ "runs": esds }))?,
    )?;

    // CSV: one row per (run, layer).
    let mut csv = String::from(
        "run,batch_size,weight_decay,lr,epochs,train_examples,steps,diverged,train_acc,test_acc,\
         train_loss,test_loss,train_seconds,layer,N,M,stable_rank,mp_softrank,alpha,lambda_max,\
         num_spikes,num_bleeding_out,bulk_ks,phase,phase_confidence,phase_runner_up,matrix_rank,\
         zero_mass,entropy\n",
    );
    for r in results {
        let t = &r.train;
        for l in &r.layers {
            let o = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v}"));
            let u = |x: Option<usize>| x.map_or(String::new(), |v| v.to_string());
            writeln!(
                csv,
                "{},{},{},{},{},{},{},{},{},{},{},{},{:.1},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                t.name,
                t.batch_size,
                t.weight_decay,
                t.lr,
                t.epochs,
                t.train_examples,
                t.steps,
                t.diverged,
                t.train_acc,
                t.test_acc,
                t.train_loss,
                t.test_loss,
                t.seconds,
                l.layer,
                l.shape.first().copied().unwrap_or(0),
                l.shape.get(1).copied().unwrap_or(0),
                o(l.stable_rank),
                o(l.mp_softrank),
                o(l.alpha),
                o(l.lambda_max),
                u(l.num_spikes),
                u(l.num_bleeding_out),
                o(l.bulk_ks),
                l.phase.clone().unwrap_or_default(),
                o(l.phase_confidence),
                l.phase_runner_up.clone().unwrap_or_default(),
                u(l.matrix_rank),
                o(l.zero_mass),
                o(l.entropy),
            )?;
        }
    }
    std::fs::write(out.join("results.csv"), csv)?;

    // Markdown: the accuracy table, one table per layer, and the ESD panel.
    let mut md = String::new();
    writeln!(
        md,
        "# Batch size → phases (Martin & Mahoney §7), MLP3 on MNIST\n"
    )?;
    writeln!(
        md,
        "Generated by `batch-size-experiment` (see [../README.md](../README.md)).\n\n\
         Command: `{command}`  \nWall time of this command: {:.1} min; training time summed over \
         the runs: {:.1} min (one thread).  \n\
         Every run: MLP3 784→512→512→10, same Glorot-normal W₀ (seed {}), SGD lr {} momentum {}, \
         {} epochs on {} training images, no early stopping.\n",
        seconds / 60.0,
        results.iter().map(|r| r.train.seconds).sum::<f64>() / 60.0,
        args.seed,
        args.lr,
        args.momentum,
        args.epochs,
        results.first().map_or(0, |r| r.train.train_examples),
    )?;
    writeln!(md, "## Accuracy\n")?;
    writeln!(
        md,
        "| run | batch | L2 λ | steps | train acc | test acc | gap | train loss | time (s) |"
    )?;
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for r in results {
        let t = &r.train;
        writeln!(
            md,
            "| {}{} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.0} |",
            t.name,
            if t.diverged { " (diverged)" } else { "" },
            t.batch_size,
            t.weight_decay,
            t.steps,
            t.train_acc,
            t.test_acc,
            t.train_acc - t.test_acc,
            t.train_loss,
            t.seconds
        )?;
    }
    let layer_names: Vec<String> = results
        .first()
        .map(|r| r.layers.iter().map(|l| l.layer.clone()).collect())
        .unwrap_or_default();
    for name in &layer_names {
        let shape = results[0]
            .layers
            .iter()
            .find(|l| &l.layer == name)
            .map(|l| format!("{:?}", l.shape))
            .unwrap_or_default();
        writeln!(md, "\n## {name} {shape}\n")?;
        writeln!(
            md,
            "| run | stable rank | MP soft rank | α | λmax | spikes (bleeding) | bulk KS | phase | rank | zero mass |"
        )?;
        writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")?;
        for r in results {
            let Some(l) = r.layers.iter().find(|l| &l.layer == name) else {
                continue;
            };
            writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} ({}) | {} | {} | {} | {} |",
                r.train.name,
                f(l.stable_rank, 2),
                f(l.mp_softrank, 3),
                f(l.alpha, 2),
                f(l.lambda_max, 2),
                l.num_spikes.map_or("–".into(), |v| v.to_string()),
                l.num_bleeding_out.map_or("–".into(), |v| v.to_string()),
                f(l.bulk_ks, 3),
                phase_cell(l),
                l.matrix_rank.map_or("–".into(), |v| v.to_string()),
                f(l.zero_mass, 3),
            )?;
        }
        if let Some((walk, ordered)) = phase_walk(results, name) {
            writeln!(
                md,
                "\nPhases as the batch shrinks (runs without L2): {}. In the paper's order \
                 (§7, Table 7: each phase the same as or later than the one before): **{}**.",
                walk.join(" → "),
                if ordered { "yes" } else { "no" }
            )?;
        }
    }
    writeln!(
        md,
        "\n## ESDs (cf. Figs. 30–31): histogram of the eigenvalues of WᵀW with the fitted MP \
         bulk\n"
    )?;
    writeln!(md, "| run | fc1 | fc2 |\n|---|---|---|")?;
    for r in results {
        let img = |n: &str| {
            r.layers
                .iter()
                .find(|l| l.layer == n)
                .and_then(|l| l.esd_png.clone())
                .map_or("–".into(), |p| format!("![{} {n}]({p})", r.train.name))
        };
        writeln!(md, "| {} | {} | {} |", r.train.name, img("fc1"), img("fc2"))?;
    }
    std::fs::write(out.join("results.md"), md)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(batch: usize, wd: f64, phase: &str) -> RunResult {
        let mut r: RunResult = serde_json::from_value(serde_json::json!({
            "name": format!("b{batch}"), "batch_size": batch, "lr": 0.01, "momentum": 0.9,
            "weight_decay": wd, "epochs": 1, "train_examples": 1, "seed": 0, "steps": 1,
            "diverged": false, "train_acc": 0.0, "train_loss": 0.0, "test_acc": 0.0,
            "test_loss": 0.0, "seconds": 0.0, "log": [], "layers": []
        }))
        .unwrap();
        r.layers.push(
            serde_json::from_value(serde_json::json!({
                "layer": "fc1", "shape": [2, 2], "phase": phase
            }))
            .unwrap(),
        );
        r
    }

    #[test]
    fn phase_walk_follows_table_7() {
        // Listed out of order on purpose: the walk sorts by batch, largest first.
        let runs = vec![
            run_with(8, 0.0, "Heavy-Tailed"),
            run_with(500, 0.0, "Bleeding-out"),
            run_with(32, 0.0, "Bulk-decay"),
            run_with(100, 0.0, "Bulk-decay"),
            run_with(32, 0.05, "Random-like"), // an L2 run: not part of the walk
        ];
        let (walk, ordered) = phase_walk(&runs, "fc1").unwrap();
        assert_eq!(
            walk,
            [
                "Bleeding-out (b500)",
                "Bulk-decay (b100)",
                "Bulk-decay (b32)",
                "Heavy-Tailed (b8)"
            ]
        );
        assert!(ordered);
        let back = vec![
            run_with(100, 0.0, "Bulk+Spikes"),
            run_with(8, 0.0, "Bleeding-out"),
        ];
        assert!(!phase_walk(&back, "fc1").unwrap().1);
        assert!(phase_walk(&back, "fc2").is_none());
    }

    /// Phases redone from esds.json equal the ones `weightscope::analyze` gave on the
    /// checkpoint, and esds.json holds the eigenvalues bit for bit.
    #[test]
    fn phases_from_saved_esds_equal_the_analysis() {
        let dev = Device::Cpu;
        let dir = std::env::temp_dir().join(format!("bse-esds-{}", std::process::id()));
        let out = dir.join("out");
        std::fs::create_dir_all(&dir).unwrap();
        let ckpt = dir.join("final.safetensors");
        Mlp::new(&[300, 200, 150, 10], 3, &dev)
            .unwrap()
            .save(&ckpt)
            .unwrap();
        let args = Args::parse_from(["x", "--out", out.to_str().unwrap()]);
        let train = TrainResult {
            name: "b7".into(),
            batch_size: 7,
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 0.0,
            epochs: 0,
            train_examples: 0,
            seed: 3,
            steps: 0,
            diverged: false,
            train_acc: 0.0,
            train_loss: 0.0,
            test_acc: 0.0,
            test_loss: 0.0,
            seconds: 0.0,
            log: vec![],
        };
        let analysed = analyze_run(&args, train, &ckpt).unwrap();
        assert_eq!(analysed.esds.len(), 3);
        assert_eq!(analysed.esds[0].n, 300);
        assert_eq!(analysed.esds[0].m, 200);
        // fc1 (M = 200) and fc2 (M = 150) get a phase, fc3 (M = 10) none: below MIN_PHASE_M.
        let phased: Vec<bool> = analysed.layers.iter().map(|l| l.phase.is_some()).collect();
        assert_eq!(phased, [true, true, false]);
        write_results(&args, std::slice::from_ref(&analysed), 0.0).unwrap();

        from_esds(&args, Instant::now()).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap())
                .unwrap();
        let redone: Vec<RunResult> = serde_json::from_value(json["runs"].clone()).unwrap();
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("esds.json")).unwrap()).unwrap();
        let saved: Vec<RunEsds> = serde_json::from_value(saved["runs"].clone()).unwrap();
        assert_eq!(saved[0].layers, analysed.esds);
        for (a, b) in analysed.layers.iter().zip(&redone[0].layers) {
            assert_eq!(a.phase, b.phase, "{}", a.layer);
            assert_eq!(a.phase_reason, b.phase_reason, "{}", a.layer);
            assert_eq!(a.phase_confidence, b.phase_confidence, "{}", a.layer);
            assert_eq!(a.phase_runner_up, b.phase_runner_up, "{}", a.layer);
            assert_eq!(a.mp_softrank, b.mp_softrank, "{}", a.layer);
            assert_eq!(a.num_spikes, b.num_spikes, "{}", a.layer);
            assert_eq!(a.bulk_ks, b.bulk_ks, "{}", a.layer);
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
