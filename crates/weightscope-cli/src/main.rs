//! `weightscope`: the command-line tool, a thin layer over the `weightscope` library.

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use weightscope::fit::{MpMethod, PlMethod};
use weightscope::layers::LayerOptions;
use weightscope::spectrum::{Precision, Solver};
use weightscope::{analyze_source, FixFingers, Hooks, LayerResult, Status};
use weightscope::{formats, LayerFilter, Options};
use weightscope_report as report;
use weightscope_report::plots::{self, ImageFormat};

/// Diagnose trained neural networks from their weights alone, with random matrix theory.
///
/// For each layer weight matrix W (N×M, N ≥ M) weightscope computes the eigenvalues λ of
/// X = WᵀW (the empirical spectral density, ESD), fits a power law ρ(λ) ~ λ^-α to its tail
/// (Clauset–Shalizi–Newman: KS-chosen xmin, MLE α) and reports capacity metrics. In the
/// theory of Martin & Mahoney, well-trained layers have 2 ≤ α ≤ 6; α < 2 suggests
/// over-training, α > 6 under-training. No training or test data needed.
#[derive(Parser)]
#[command(name = "weightscope", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse every layer: ESD, power-law fit, norms, ranks, entropy; table + summary.
    ///
    /// Examples:
    ///   weightscope analyze model.safetensors
    ///   weightscope analyze ./hf-model-folder --csv details.csv --json details.json
    ///   weightscope analyze model.safetensors --layers 'attn,/mlp\.(up|down)/,3'
    #[command(verbatim_doc_comment)]
    Analyze(AnalyzeArgs),
    /// Plot each layer's spectrum and the model's metrics by depth, as SVG and PNG files.
    ///
    /// Per layer (in DIR/layers/<nnn-name>/): the ESD with the fitted Marchenko–Pastur
    /// density, λ± and spikes (esd; esd_zoom zooms on the bulk when λmax ≫ λ⁺); log-log
    /// ESD with the fitted power law and xmin (esd_loglog); the CCDF with the fitted line
    /// (ccdf); log-linear ESD (esd_loglin); singular-value density (singular_values); scree
    /// plot (scree); D and α against every candidate xmin (xmin_scan); with --randomize, the
    /// shuffled-W ESD over the real one (randomized). Per model (in DIR/model/): α, α̂,
    /// stable rank, MP soft rank and log spectral norm against depth, coloured by phase, and
    /// the histogram of α.
    /// The MP fit and the phases are always computed for plots.
    ///
    /// Examples:
    ///   weightscope plot model.safetensors -o plots
    ///   weightscope plot model.safetensors --layers fc -o plots --format png --randomize
    #[command(verbatim_doc_comment)]
    Plot(PlotArgs),
    /// Write a self-contained HTML report: summary, depth plots, a sortable layer table whose
    /// rows open the layer's plots, and a legend. No network needed to view or share it.
    ///
    /// The MP fit and the phases are always computed for the report.
    ///
    /// Example: weightscope report model.safetensors -o report.html
    #[command(verbatim_doc_comment)]
    Report(ReportArgs),
    /// List the layers, their shapes and kinds, and what will be skipped and why. No maths.
    Describe(DescribeArgs),
    /// Write a generated weight matrix typical of one of the paper's 5+1 phases (Table 7),
    /// W = W_rand + Δ: random-like, bleeding-out, bulk-spikes, bulk-decay, heavy-tailed,
    /// rank-collapse.
    ///
    /// Example: weightscope synth --phase bulk-spikes --shape 1000x500 --seed 1 -o w.safetensors
    #[command(verbatim_doc_comment)]
    Synth(SynthArgs),
    /// Follow a series of checkpoints (ordered by the step number in their names, else as
    /// given): one CSV row per (checkpoint, layer), layers matched by name. With --ensemble,
    /// pool each layer's ESD over the files (runs) instead (paper §6.1).
    ///
    /// Example: weightscope track ckpts/epoch_*.safetensors -o track.csv --phase
    Track(TrackArgs),
    /// Compare a fine-tuned model with its base: per layer Δα, Δα̂, Δλmax, the distance
    /// between the two ESDs, and the spectrum of ΔW = W_tuned − W_base.
    ///
    /// Example: weightscope compare base.safetensors tuned.safetensors -o compare.csv
    Compare(CompareArgs),
    /// Several models side by side by their summary metrics; with --accuracy (a CSV of
    /// model,accuracy) also the Pearson and Spearman correlation of each metric with accuracy.
    ///
    /// Example: weightscope rank a.safetensors b.safetensors --accuracy acc.csv -o rank.csv
    Rank(RankArgs),
}

#[derive(Args)]
struct TrackArgs {
    /// Checkpoint files or folders (a shell glob expands to many).
    #[arg(required = true)]
    checkpoints: Vec<PathBuf>,
    /// Output CSV.
    #[arg(short, long)]
    output: PathBuf,
    /// Pool each layer's ESD over the files (an ensemble of runs) and fit the pooled ESD
    /// (paper §6.1). The CSV gets one row per layer: the pooled fit, and the mean and standard
    /// deviation of the runs' own α beside it. With --plots, every plot of `weightscope plot`
    /// drawn for the pooled ESDs (with the MP fit).
    #[arg(long)]
    ensemble: bool,
    /// Also fit MP bulks and classify phases (adds mp_softrank, num_spikes, phase).
    #[arg(long)]
    phase: bool,
    #[arg(long)]
    layers: Option<String>,
    /// Also write SVG plots of each metric against step (one line per layer, coloured by
    /// phase with --phase) and of the mean α and α̂ into this folder; with --ensemble, the
    /// plots of each pooled layer (layers/NNN-name/*.svg) and of the pooled model (model/).
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Image formats of --plots.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "svg")]
    plot_format: Vec<FormatArg>,
}

#[derive(Args)]
struct CompareArgs {
    base: PathBuf,
    tuned: PathBuf,
    /// Output CSV.
    #[arg(short, long)]
    output: PathBuf,
    #[arg(long)]
    layers: Option<String>,
}

#[derive(Args)]
struct RankArgs {
    #[arg(required = true)]
    models: Vec<PathBuf>,
    /// CSV with columns model,accuracy (model = the path as given on the command line).
    #[arg(long)]
    accuracy: Option<PathBuf>,
    /// Output CSV of models × metrics (correlations go to <output>.corr.csv).
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Args)]
struct SynthArgs {
    /// The phase to generate (e.g. random-like, bleeding-out, bulk-spikes, bulk-decay,
    /// heavy-tailed, rank-collapse).
    #[arg(long)]
    phase: String,
    /// N×M, e.g. 1000x500.
    #[arg(long, default_value = "1000x500")]
    shape: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output .safetensors file (one tensor, `<phase>.weight`, float32).
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum PlMethodArg {
    /// weightwatcher 0.7.x (WWFit): the default, numbers match weightwatcher.
    Ww,
    /// the `powerlaw` package: unique xmin candidates, two-sided KS.
    Powerlaw,
}

#[derive(Clone, Copy, ValueEnum)]
enum SolverArg {
    /// Gram matrix + symmetric eigenvalues; SVD when the spectrum spans > 1e11.
    Auto,
    /// Always Gram + symmetric eigenvalues (fastest; small λ only to ~1e-16·λmax).
    Gram,
    /// Always the singular values of W (slowest; exact small λ).
    Svd,
}

#[derive(Clone, Copy, ValueEnum)]
enum FixFingersArg {
    ClipXmax,
    XminPeak,
}

#[derive(Clone, Copy, ValueEnum)]
enum MpMethodArg {
    BulkCdf,
    Ww,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    F64,
    F32,
}

#[derive(Args)]
struct ModelArgs {
    /// A .safetensors, .npy or .npz file, or a Hugging Face model folder
    /// (model.safetensors, or shards listed in model.safetensors.index.json).
    model: PathBuf,
    /// Only these layers: comma-separated ids (`3`), substrings of the tensor name
    /// (`attn`) or regexes between slashes (`/layer\.1[0-9]\./`).
    #[arg(long)]
    layers: Option<String>,
    /// Skip layers with fewer eigenvalues (M·rf) than this (weightwatcher 0.7.7: 8).
    #[arg(long, default_value_t = 8)]
    min_evals: usize,
    /// Skip layers with more eigenvalues than this. Default: none (weightwatcher skips above
    /// 15000 for memory; weightscope reads one layer at a time and needs no such limit).
    #[arg(long)]
    max_evals: Option<usize>,
    /// Skip layers whose larger dimension N exceeds this. Default: none.
    #[arg(long)]
    max_n: Option<usize>,
    /// One row per convolution map W[:,:,i,j] instead of one pooled ESD per conv layer.
    #[arg(long)]
    conv_maps: bool,
    /// Do not scale convolution weights (default: ×1/√2 pooled, ×√(rf/2) per map, as
    /// weightwatcher's conv2d_norm).
    #[arg(long)]
    no_conv_norm: bool,
    /// Analyse every ≥2-D float tensor. By default, when tensors are named `*.weight`, the
    /// others (masks, positional tables, class tokens) are skipped, as weightwatcher does.
    #[arg(long)]
    all_tensors: bool,
    /// Also analyse each gate of LSTM/GRU weights (weight_ih_l*, weight_hh_l*) on its own.
    #[arg(long)]
    split_gates: bool,
    /// Also analyse Q, K and V of fused attention projections (qkv_proj, c_attn,
    /// query_key_value, Wqkv, in_proj_weight) on their own; head layout from config.json.
    #[arg(long)]
    split_fused: bool,
}

impl ModelArgs {
    fn options(&self) -> Result<Options> {
        Ok(Options {
            layers: LayerOptions {
                min_evals: self.min_evals,
                max_evals: self.max_evals,
                max_n: self.max_n,
                conv_maps: self.conv_maps,
                conv_norm: !self.no_conv_norm,
                all_tensors: self.all_tensors,
                split_gates: self.split_gates,
                split_fused: self.split_fused,
                attention: None,
            },
            filter: self.layers.as_deref().map(LayerFilter::parse).transpose()?,
            ..Options::default()
        })
    }
}

#[derive(Args)]
struct AnalyzeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Write the per-layer details as CSV (weightwatcher's column names).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write the full report (options, summary, layers, skipped tensors) as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Also write the plots of `weightscope plot` to this folder (add --mp-fit or --phase,
    /// or --all, for the MP fit and the phases in them).
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Image formats of --plots.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "svg,png")]
    plot_format: Vec<FormatArg>,
    #[command(flatten)]
    math: MathArgs,
    /// Continue a run that was interrupted: reuse the layers saved in
    /// `<--json or --csv file>.partial.jsonl` (kept while a run with an output file goes on).
    #[arg(long)]
    resume: bool,
    /// Print only the summary, not the per-layer table.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    Svg,
    Png,
}

#[derive(Args)]
struct PlotArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Folder to write the plots to (created if missing).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Image formats.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "svg,png")]
    format: Vec<FormatArg>,
    #[command(flatten)]
    math: MathArgs,
}

#[derive(Args)]
struct ReportArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    math: MathArgs,
}

/// Options that change the numbers, shared by analyze, plot and report.
#[derive(Args)]
struct MathArgs {
    /// Eigenvalues of X = WᵀW/N (the paper's Eqn. 4) instead of WᵀW (weightwatcher's
    /// convention, the default). Changes λ-valued columns, not α.
    #[arg(long)]
    normalize: bool,
    /// Power-law fit variant.
    #[arg(long, value_enum, default_value = "ww")]
    pl_method: PlMethodArg,
    /// Eigenvalue route.
    #[arg(long, value_enum, default_value = "auto")]
    solver: SolverArg,
    /// Working precision of the eigen-solver. f64 matches weightwatcher to ~1e-12. f32 forms
    /// the Gram product in single precision (eigenvalues still in f64) on tall layers
    /// (N/M ≥ 2), where α moves by ~1e-7 relative, up to 2× faster there; more square layers
    /// stay in f64, since f32 would lose their small eigenvalues.
    #[arg(long, value_enum, default_value = "f64")]
    precision: PrecisionArg,
    /// Fit a Marchenko–Pastur bulk (Eqns. 8–9): sigma_mp, bulk_min/max (λ±), num_spikes
    /// (beyond λ⁺ + the finite-size margin ΔλM), num_bleeding_out, mp_softrank = λ⁺/λmax
    /// (Eqn. 11; 0 when no MP bulk fits), bulk_ks (fit quality).
    #[arg(long)]
    mp_fit: bool,
    /// MP fitting method: bulk-cdf (KS fit of the bulk below its own edge, the default) or
    /// ww (weightwatcher's density fit against a kernel density estimate).
    #[arg(long, value_enum, default_value = "bulk-cdf")]
    mp_method: MpMethodArg,
    /// Compare with the ESD of W with its elements shuffled (seeded): max_rand_eval,
    /// rand_num_spikes (correlation traps), ww_softrank, ww_maxdist, rand_distance,
    /// rand_esd_distance, rand_sigma_mp (σ_shuf).
    #[arg(long)]
    randomize: bool,
    /// Shuffles per layer for --randomize (the paper suggests up to 100).
    #[arg(long, default_value_t = 1)]
    shuffles: usize,
    /// Seed of the shuffles (same seed → same bytes).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Eigenvector localization (§3.3): mean and variance of vector entropy, localization
    /// ratio and participation ratio over bulk and tail eigenvectors.
    #[arg(long)]
    vectors: bool,
    /// Classify each layer into the paper's 5+1 phases (Table 7): Random-like,
    /// Bleeding-out, Bulk+Spikes, Bulk-decay, Heavy-Tailed, Rank-collapse.
    #[arg(long)]
    phase: bool,
    /// Fit the tail's alternatives to a power law (truncated power law, exponential,
    /// lognormal, stretched exponential; paper Table 5) by maximum likelihood and test each
    /// against the power law (log-likelihood ratio R, p-value); best_fit as weightwatcher's rule.
    #[arg(long)]
    tail_fits: bool,
    /// Goodness-of-fit p-value of the power law by B bootstrap replicates (Clauset–Shalizi–
    /// Newman §4.1; p ≤ 0.1 rules the power law out). Costs B refits per layer.
    #[arg(long, value_name = "B", default_value_t = 0)]
    bootstrap: usize,
    /// Correct finite-size "fingers" before reporting α: clip-xmax drops the top eigenvalues
    /// while α falls by more than 1 (≤ 10; num_fingers, raw_alpha), xmin-peak searches xmin
    /// near the peak of the log-ESD histogram.
    #[arg(long, value_enum)]
    fix_fingers: Option<FixFingersArg>,
    /// weightwatcher's detX tail: detX_num, detX_val.
    #[arg(long)]
    detx: bool,
    /// Drop the K largest eigenvalues before the power-law fit (weightwatcher's integer
    /// xmax; the fit fails if K is more than half of them).
    #[arg(long, value_name = "K")]
    xmax: Option<usize>,
    /// Everything above except --bootstrap and --fix-fingers: --mp-fit --randomize --vectors
    /// --phase --tail-fits --detx.
    #[arg(long)]
    all: bool,
    /// Worker threads (default: all cores). Output is identical for any value.
    #[arg(long)]
    threads: Option<usize>,
    /// Cap the estimated memory of the layers analysed at once (e.g. 2G, 512M): layers wait
    /// for room; a layer larger than the cap runs alone. Output is identical for any value.
    #[arg(long, value_parser = parse_size)]
    max_memory: Option<usize>,
}

impl MathArgs {
    fn apply(&self, opts: &mut Options) {
        opts.normalize = self.normalize;
        opts.pl_method = match self.pl_method {
            PlMethodArg::Ww => PlMethod::Ww,
            PlMethodArg::Powerlaw => PlMethod::Powerlaw,
        };
        opts.solver = match self.solver {
            SolverArg::Auto => Solver::Auto,
            SolverArg::Gram => Solver::Gram,
            SolverArg::Svd => Solver::Svd,
        };
        opts.precision = match self.precision {
            PrecisionArg::F64 => Precision::F64,
            PrecisionArg::F32 => Precision::F32,
        };
        opts.threads = self.threads;
        opts.mp_fit = self.mp_fit || self.all;
        opts.mp_method = match self.mp_method {
            MpMethodArg::BulkCdf => MpMethod::BulkCdf,
            MpMethodArg::Ww => MpMethod::Ww,
        };
        opts.randomize = self.randomize || self.all;
        opts.shuffles = self.shuffles.max(1);
        opts.seed = self.seed;
        opts.vectors = self.vectors || self.all;
        opts.phase = self.phase || self.all;
        opts.max_memory = self.max_memory;
        opts.tail_fits = self.tail_fits || self.all;
        opts.detx = self.detx || self.all;
        opts.bootstrap = self.bootstrap;
        opts.xmax_drop = self.xmax;
        opts.fix_fingers = self.fix_fingers.map(|f| match f {
            FixFingersArg::ClipXmax => FixFingers::ClipXmax,
            FixFingersArg::XminPeak => FixFingers::XminPeak,
        });
    }
}

#[derive(Args)]
struct DescribeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Write the layer plan as JSON.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// "2G", "512M", "100k" or plain bytes.
fn parse_size(s: &str) -> std::result::Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = t[i..].to_ascii_lowercase();
            let mult: usize = match unit.trim_end_matches(['b', 'i']) {
                "" => 1,
                "k" => 1 << 10,
                "m" => 1 << 20,
                "g" => 1 << 30,
                "t" => 1 << 40,
                _ => return Err(format!("unknown size unit in '{s}' (use K, M, G or T)")),
            };
            (&t[..i], mult)
        }
        None => (t, 1),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a size"))?;
    if v.is_nan() || v <= 0.0 {
        return Err(format!("'{s}' must be positive"));
    }
    Ok((v * mult as f64) as usize)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(a) => run_analyze(a),
        Command::Plot(p) => run_plot(p),
        Command::Report(r) => run_report(r),
        Command::Describe(d) => run_describe(d),
        Command::Synth(s) => run_synth(s),
        Command::Track(t) => run_track(t),
        Command::Compare(c) => run_compare(c),
        Command::Rank(r) => run_rank(r),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn filtered(layers: &Option<String>) -> Result<Options> {
    Ok(Options {
        filter: layers.as_deref().map(LayerFilter::parse).transpose()?,
        ..Options::default()
    })
}

fn run_track(args: TrackArgs) -> Result<ExitCode> {
    let mut opts = filtered(&args.layers)?;
    opts.phase = args.phase;
    opts.mp_fit = args.phase;
    if args.ensemble {
        if args.plots.is_some() {
            // The pooled ESD plots show the MP bulk the paper fits to ensembles (Figs. 22–24).
            opts.keep_esd = true;
            opts.mp_fit = true;
        }
        let e = weightscope::compare::ensemble(&args.checkpoints, &opts)?;
        print!("{}", report::layer_table(&e.report));
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
    } else {
        let series = weightscope::compare::track(args.checkpoints.clone(), &opts)?;
        for (p, step, r) in &series {
            println!(
                "{:<40} step {:>8}  mean α {}  α̂ {}",
                p.display(),
                step.map_or("-".into(), |s| s.to_string()),
                r.summary.alpha.map_or("-".into(), |a| format!("{a:.3}")),
                r.summary
                    .alpha_weighted
                    .map_or("-".into(), |a| format!("{a:.3}"))
            );
        }
        report::write_atomic(&args.output, &report::track_csv(&series)?)?;
        if let Some(dir) = &args.plots {
            let files =
                report::plots::write_track_plots(&series, dir, &image_formats(&args.plot_format))
                    .with_context(|| format!("cannot write the plots to {}", dir.display()))?;
            eprintln!("wrote {} plot file(s) under {}", files.len(), dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn run_compare(args: CompareArgs) -> Result<ExitCode> {
    let opts = filtered(&args.layers)?;
    let rows = weightscope::compare::compare(&args.base, &args.tuned, &opts)?;
    for r in &rows {
        println!(
            "{:<50} Δα {:>8}  ESD distance {:.4}  α(ΔW) {}",
            r.longname,
            r.d_alpha().map_or("-".into(), |d| format!("{d:+.3}")),
            r.esd_distance,
            r.delta.alpha.map_or("-".into(), |a| format!("{a:.3}"))
        );
    }
    report::write_atomic(&args.output, &report::compare_csv(&rows)?)?;
    Ok(ExitCode::SUCCESS)
}

fn run_rank(args: RankArgs) -> Result<ExitCode> {
    let opts = Options::default();
    let reports = args
        .models
        .iter()
        .map(|m| weightscope::analyze(m, &opts))
        .collect::<Result<Vec<_>, _>>()?;
    let accuracy = match &args.accuracy {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let mut map = HashMap::new();
            for (i, line) in text.lines().enumerate() {
                let Some((m, a)) = line.rsplit_once(',') else {
                    continue;
                };
                match a.trim().parse::<f64>() {
                    Ok(v) => {
                        map.insert(m.trim().to_string(), v);
                    }
                    Err(_) if i == 0 => {} // header
                    Err(_) => {
                        anyhow::bail!("{}: line {}: '{a}' is not a number", p.display(), i + 1)
                    }
                }
            }
            let acc = args
                .models
                .iter()
                .map(|m| {
                    map.get(&m.display().to_string()).copied().with_context(|| {
                        format!("{}: no accuracy for {}", p.display(), m.display())
                    })
                })
                .collect::<Result<Vec<f64>>>()?;
            Some(acc)
        }
    };
    let (models, corr) = report::rank_csv(&reports, accuracy.as_deref())?;
    print!("{}", String::from_utf8_lossy(&models));
    report::write_atomic(&args.output, &models)?;
    if accuracy.is_some() {
        let mut name = args.output.file_name().unwrap_or_default().to_os_string();
        name.push(".corr.csv");
        let cpath = args.output.with_file_name(name);
        print!("{}", String::from_utf8_lossy(&corr));
        report::write_atomic(&cpath, &corr)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn run_synth(args: SynthArgs) -> Result<ExitCode> {
    use weightscope::diagnose::phase::Phase;
    use weightscope::synth::synth_matrix;
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

fn run_describe(args: DescribeArgs) -> Result<ExitCode> {
    let opts = args.model.options()?;
    let d = weightscope::describe(&args.model.model, &opts)?;
    print!("{}", report::describe_table(&d));
    if let Some(path) = &args.json {
        let bytes = serde_json::to_vec_pretty(&d)?;
        report::write_atomic(path, &bytes)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The journal of finished layers: first line identifies the run, then one row per line.
fn journal_path(args: &AnalyzeArgs) -> Option<PathBuf> {
    let out = args.json.as_ref().or(args.csv.as_ref())?;
    let mut name = out.file_name()?.to_os_string();
    name.push(".partial.jsonl");
    Some(out.with_file_name(name))
}

fn journal_header(source: &str, opts: &Options) -> Result<String> {
    Ok(serde_json::to_string(&serde_json::json!({
        "weightscope_journal": 1,
        "source": source,
        "options": opts,
    }))?)
}

fn load_journal(path: &Path, header: &str) -> Result<HashMap<(usize, Option<usize>), LayerResult>> {
    let mut done = HashMap::new();
    let Ok(file) = std::fs::File::open(path) else {
        return Ok(done);
    };
    let mut lines = std::io::BufReader::new(file).lines();
    match lines.next() {
        Some(Ok(h)) if h == header => {}
        Some(_) => anyhow::bail!(
            "{}: was written by a run with other options or another model; \
             delete it or run without --resume",
            path.display()
        ),
        None => return Ok(done),
    }
    for line in lines {
        let Ok(line) = line else { break };
        // A line cut short by a crash ends the journal.
        let Ok(r) = serde_json::from_str::<LayerResult>(&line) else {
            break;
        };
        done.insert(r.key(), r);
    }
    Ok(done)
}

fn run_analyze(args: AnalyzeArgs) -> Result<ExitCode> {
    let mut opts = args.model.options()?;
    args.math.apply(&mut opts);
    opts.keep_esd = args.plots.is_some();

    let path = &args.model.model;
    let src = formats::open(path)?;
    let source = path.display().to_string();

    let journal = journal_path(&args);
    let header = journal_header(&source, &opts)?;
    let done = match (&journal, args.resume) {
        (Some(j), true) => load_journal(j, &header)?,
        (None, true) => {
            anyhow::bail!("--resume needs --json or --csv (the journal sits beside it)")
        }
        _ => HashMap::new(),
    };
    let resumed = done.len();
    let writer = match &journal {
        Some(j) => {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(j)
                .with_context(|| format!("cannot write the journal {}", j.display()))?;
            writeln!(f, "{header}")?;
            for r in done.values() {
                writeln!(f, "{}", serde_json::to_string(r)?)?;
            }
            f.flush()?;
            Some(Mutex::new(f))
        }
        None => None,
    };

    if opts.filter.is_some() && weightscope::analyze::plan(src.as_ref(), &opts).is_empty() {
        anyhow::bail!(
            "--layers {} matches no tensor of {} (see `weightscope describe`)",
            args.model.layers.as_deref().unwrap_or(""),
            path.display()
        );
    }
    let bar = progress_bar(src.as_ref(), &opts, &done);
    if resumed > 0 {
        bar.println(format!("resuming: {resumed} layers already done"));
    }
    let on_layer = |r: &LayerResult, flops: f64| {
        if let Some(w) = &writer {
            if let (Ok(mut f), Ok(line)) = (w.lock(), serde_json::to_string(r)) {
                let _ = writeln!(f, "{line}");
                let _ = f.flush();
            }
        }
        bar.set_message(r.name.clone());
        bar.inc(flops as u64);
    };
    let hooks = Hooks {
        done,
        on_layer: Some(&on_layer),
    };
    let report = analyze_source(src.as_ref(), &source, &opts, hooks)?;
    bar.finish_and_clear();

    if !args.quiet {
        print!("{}", report::layer_table(&report));
        println!();
    }
    print!("{}", report::summary_text(&report));
    if let Some(p) = &args.csv {
        report::write_atomic(p, &report::to_csv(&report)?)?;
    }
    if let Some(p) = &args.json {
        report::write_atomic(p, &report::to_json(&report)?)?;
    }
    if let Some(j) = &journal {
        let _ = std::fs::remove_file(j);
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
    Ok(exit_code(&report))
}

fn exit_code(report: &weightscope::Report) -> ExitCode {
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

/// A progress bar by flops on stderr when it is a terminal, else hidden.
fn progress_bar(
    src: &dyn formats::TensorSource,
    opts: &Options,
    done: &HashMap<(usize, Option<usize>), LayerResult>,
) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: f64 = weightscope::analyze::plan(src, opts)
        .iter()
        .filter(|p| p.skip.is_none() && !done.contains_key(&(p.layer_id, p.slice_id)))
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

/// Analyse with a progress bar and the options plots need (ESDs kept, MP fit, phases).
fn analyze_for_plots(model: &ModelArgs, math: &MathArgs) -> Result<weightscope::Report> {
    let mut opts = model.options()?;
    math.apply(&mut opts);
    opts.keep_esd = true;
    opts.mp_fit = true;
    opts.phase = true;
    let src = formats::open(&model.model)?;
    let source = model.model.display().to_string();
    let done = HashMap::new();
    let bar = progress_bar(src.as_ref(), &opts, &done);
    let on_layer = |r: &LayerResult, flops: f64| {
        bar.set_message(r.name.clone());
        bar.inc(flops as u64);
    };
    let hooks = Hooks {
        done,
        on_layer: Some(&on_layer),
    };
    let report = analyze_source(src.as_ref(), &source, &opts, hooks)?;
    bar.finish_and_clear();
    Ok(report)
}

fn image_formats(f: &[FormatArg]) -> Vec<ImageFormat> {
    let mut v: Vec<ImageFormat> = f
        .iter()
        .map(|x| match x {
            FormatArg::Svg => ImageFormat::Svg,
            FormatArg::Png => ImageFormat::Png,
        })
        .collect();
    v.dedup();
    v
}

fn write_plots(report: &weightscope::Report, dir: &Path, formats: &[FormatArg]) -> Result<()> {
    let files = plots::write_plots(report, dir, &image_formats(formats))
        .with_context(|| format!("cannot write the plots to {}", dir.display()))?;
    eprintln!("wrote {} plot file(s) under {}", files.len(), dir.display());
    Ok(())
}

fn run_plot(args: PlotArgs) -> Result<ExitCode> {
    let report = analyze_for_plots(&args.model, &args.math)?;
    print!("{}", report::summary_text(&report));
    write_plots(&report, &args.output, &args.format)?;
    Ok(exit_code(&report))
}

fn run_report(args: ReportArgs) -> Result<ExitCode> {
    let report = analyze_for_plots(&args.model, &args.math)?;
    print!("{}", report::summary_text(&report));
    let html = report::html::report_html(&report)?;
    report::write_atomic(&args.output, html.as_bytes())?;
    eprintln!(
        "wrote {} ({} layers, {} bytes)",
        args.output.display(),
        report.layers.len(),
        html.len()
    );
    Ok(exit_code(&report))
}
