//! The command line: clap types of every subcommand and the analysis options they share.

use anyhow::Result;
use clap::error::ErrorKind;
use clap::{ArgGroup, Args, CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use weightscope::columns::Group;
use weightscope::fit::farms::{FarmsOptions, FarmsXmin};
use weightscope::fit::{MpMethod, PlMethod};
use weightscope::layers::LayerOptions;
use weightscope::spectrum::{Precision, Solver};
use weightscope::{EsdEstimator, FixFingers};
use weightscope::{LayerFilter, Options};
use weightscope_report::plots::ImageFormat;

use crate::part::{parse_shard, Shard};

/// Diagnose trained neural networks from their weights alone, with random matrix theory.
///
/// For each layer weight matrix W (N×M, N ≥ M) weightscope computes the eigenvalues λ of
/// X = WᵀW (the empirical spectral density, ESD), fits a power law ρ(λ) ~ λ^-α to its tail
/// (Clauset–Shalizi–Newman: KS-chosen xmin, MLE α) and reports capacity metrics. In the
/// theory of Martin & Mahoney, well-trained layers have 2 ≤ α ≤ 6; α < 2 suggests
/// over-training, α > 6 under-training. No training or test data needed.
#[derive(Parser)]
#[command(name = "weightscope", version, about, long_about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The columns of `--csv`, by the option that adds them, from the column registry.
fn columns_help() -> String {
    let mut s =
        String::from("Columns of --csv (see the README's Columns table for their meaning):\n");
    for g in Group::ALL {
        let names: Vec<&str> = g.columns().map(|c| c.name).collect();
        let by = match g.option() {
            "" => "always".to_string(),
            o => o.to_string(),
        };
        s.push_str(&format!("  {by}: {}\n", names.join(", ")));
    }
    s
}

#[derive(Subcommand)]
pub enum Command {
    /// Analyse every layer: ESD, power-law fit, norms, ranks, entropy; table + summary.
    ///
    /// Examples:
    ///   weightscope analyze model.safetensors
    ///   weightscope analyze ./hf-model-folder --csv details.csv --json details.json
    ///   weightscope analyze model.safetensors --layers 'attn,/mlp\.(up|down)/,3'
    #[command(verbatim_doc_comment, after_long_help = columns_help())]
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
    /// pool each layer's ESD over the files (runs) instead (paper §6.1). --phase also fits
    /// the MP bulks (mp_softrank, num_spikes).
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
    /// Per-layer sparsity ratios for pruning, from each layer's α (AlphaPruning, Lu et al.,
    /// NeurIPS 2024): smaller α (heavier tail, better trained) → less pruned; the ratios map α
    /// linearly onto [1−ε, 1+ε] and are scaled so that the parameter-weighted mean is the
    /// target. Defaults are the reference code's: α of its `alpha_peak` estimator, ε = 0.3,
    /// block-wise mapping (the mean α of each transformer block; layers outside the numbered
    /// blocks are left out, as the reference prunes only the blocks' linear layers).
    ///
    /// Examples:
    ///   weightscope sparsity ./llama-7b --target 0.7 -o ratios.json
    ///   weightscope sparsity model.safetensors --target 0.5 --mapping layer-wise --csv s.csv
    #[command(verbatim_doc_comment)]
    Sparsity(SparsityArgs),
    /// Write a copy of a safetensors checkpoint with each analysed layer cut to its top
    /// singular components, as weightwatcher's SVDSmoothing does: the rank kept is the layer's
    /// detX tail (default), Marchenko–Pastur spikes (rmt) or power-law tail (alpha-min); a
    /// convolution keeps ⌈rank/(kh·kw)⌉ per kernel slice. Other tensors are copied unchanged;
    /// the input is never modified, the output written atomically.
    ///
    /// Example: weightscope smooth model.safetensors -o smoothed.safetensors --method rmt
    #[command(verbatim_doc_comment)]
    Smooth(SmoothArgs),
    /// Join the parts of a sharded run (`analyze --shard I/N --part FILE`, one per share, on
    /// any machines) into the table, summary, CSV and JSON of a single run, byte for byte.
    /// Refuses parts of another checkpoint (names, sizes and hashes of its files; paths and
    /// times may differ), of other options or versions, and a missing or repeated share.
    ///
    /// Example: weightscope merge parts/part-*.json --csv details.csv --json details.json
    #[command(verbatim_doc_comment)]
    Merge(MergeArgs),
}

/// Parse the command line; exits with a usage error (status 2) on a bad one, including the
/// combinations clap cannot express by itself.
pub fn parse() -> Cli {
    let cli = Cli::parse();
    if let Some((name, a)) = cli.command.analysis() {
        if a.xmax.is_some() && a.fix_fingers == Some(FixFingers::ClipXmax) {
            usage_error(
                name,
                ErrorKind::ArgumentConflict,
                "the argument '--xmax <K>' cannot be used with '--fix-fingers clip-xmax' \
                 (clip-xmax chooses which top eigenvalues to drop itself)",
            );
        }
    }
    cli
}

/// Print a usage error of subcommand `name` as clap does (with its usage line) and exit 2.
fn usage_error(name: &str, kind: ErrorKind, message: &str) -> ! {
    let mut cmd = Cli::command();
    cmd.build();
    let sub = cmd
        .find_subcommand_mut(name)
        .expect("usage_error: a subcommand of Cli");
    sub.error(kind, message).exit()
}

impl Command {
    /// The subcommand's name and its analysis options, if it takes them.
    fn analysis(&self) -> Option<(&'static str, &AnalysisArgs)> {
        match self {
            Command::Analyze(a) => Some(("analyze", &a.analysis)),
            Command::Plot(a) => Some(("plot", &a.analysis)),
            Command::Report(a) => Some(("report", &a.analysis)),
            Command::Track(a) => Some(("track", &a.analysis)),
            Command::Compare(a) => Some(("compare", &a.analysis)),
            Command::Rank(a) => Some(("rank", &a.analysis)),
            Command::Sparsity(a) => Some(("sparsity", &a.analysis)),
            Command::Smooth(a) => Some(("smooth", &a.analysis)),
            Command::Describe(_) | Command::Synth(_) | Command::Merge(_) => None,
        }
    }
}

/// The model to read.
#[derive(Args)]
pub struct Input {
    /// A model file or folder: safetensors, PyTorch .pt/.pth/.bin/.ckpt, GGUF, ONNX, Keras
    /// .keras/.h5, NumPy .npy/.npz, or a Hugging Face model folder (model.safetensors, or
    /// shards listed in model.safetensors.index.json); or a Hugging Face hub id
    /// org/name[@revision] (branch, tag or commit), read from the local hub cache
    /// (HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub), never the network; or an
    /// https:// or s3:// URL of a .safetensors or .gguf file, a model.safetensors.index.json
    /// or a folder (ending in /), read by byte range (S3 settings from AWS_* variables; the
    /// hub's token, for gated models, from HF_TOKEN or ~/.cache/huggingface/token).
    pub model: PathBuf,
}

impl Input {
    /// The file or folder to open: the path as given when it exists, else the snapshot of a
    /// hub id in the local Hugging Face cache.
    pub fn locate(&self) -> Result<PathBuf> {
        Ok(weightscope::formats::hub::locate(&self.model)?)
    }
}

#[derive(Args)]
#[command(group(ArgGroup::new("output_file").args(["csv", "json", "part"]).multiple(true)))]
pub struct AnalyzeArgs {
    #[command(flatten)]
    pub input: Input,
    /// Write the per-layer details as CSV (weightwatcher's column names).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write the full report (options, summary, layers, skipped tensors) as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Also write the plots of `weightscope plot` to this folder (add --mp-fit or --phase,
    /// or --all, for the MP fit and the phases in them).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Image formats of --plots.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "svg,png")]
    pub plot_format: Vec<ImageFormat>,
    /// Continue a run that was interrupted: reuse the layers saved in
    /// `<--json, --csv or --part file>.partial.jsonl` (kept while a run with an output file
    /// goes on).
    #[arg(long, requires = "output_file")]
    pub resume: bool,
    /// Analyse only share I of N (I counts from 0, as SLURM_ARRAY_TASK_ID with
    /// `--array=0-N`; e.g. --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT). The layers
    /// are split by estimated flops, the same way on every machine; the share's rows go to
    /// --part, and `weightscope merge` joins the parts of all shares.
    #[arg(
        long,
        value_name = "I/N",
        value_parser = parse_shard,
        requires = "part",
        conflicts_with_all = ["csv", "json", "plots"]
    )]
    pub shard: Option<Shard>,
    /// The partial result of --shard (JSON), for `weightscope merge`.
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub part: Option<PathBuf>,
    /// Print only the summary, not the per-layer table.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

#[derive(Args)]
pub struct MergeArgs {
    /// The parts written by `analyze --shard I/N --part FILE`, one per share, in any order.
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,
    /// Write the per-layer details as CSV, as `analyze --csv` would have.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Write the full report as JSON, as `analyze --json` would have.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Print only the summary, not the per-layer table.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Args)]
pub struct PlotArgs {
    #[command(flatten)]
    pub input: Input,
    /// Folder to write the plots to (created if missing).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// Image formats.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "svg,png")]
    pub format: Vec<ImageFormat>,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

#[derive(Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub input: Input,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

#[derive(Args)]
pub struct DescribeArgs {
    #[command(flatten)]
    pub input: Input,
    /// Write the layer plan as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub select: LayerArgs,
}

#[derive(Args)]
pub struct SynthArgs {
    /// The phase to generate (e.g. random-like, bleeding-out, bulk-spikes, bulk-decay,
    /// heavy-tailed, rank-collapse).
    #[arg(long)]
    pub phase: String,
    /// N×M, e.g. 1000x500.
    #[arg(long, default_value = "1000x500")]
    pub shape: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output .safetensors file (one tensor, `<phase>.weight`, float32).
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Args)]
pub struct TrackArgs {
    /// Checkpoint files or folders (a shell glob expands to many).
    #[arg(required = true)]
    pub checkpoints: Vec<PathBuf>,
    /// Output CSV.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Pool each layer's ESD over the files (an ensemble of runs) and fit the pooled ESD
    /// (paper §6.1). The CSV gets one row per layer: the pooled fit, and the mean and standard
    /// deviation of the runs' own α beside it. With --plots, every plot of `weightscope plot`
    /// drawn for the pooled ESDs (with the MP fit).
    #[arg(long)]
    pub ensemble: bool,
    /// Also write SVG plots of each metric against step (one line per layer, coloured by
    /// phase with --phase) and of the mean α and α̂ into this folder; with --ensemble, the
    /// plots of each pooled layer (layers/NNN-name/*.svg) and of the pooled model (model/).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Image formats of --plots.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "svg")]
    pub plot_format: Vec<ImageFormat>,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

#[derive(Args)]
pub struct CompareArgs {
    pub base: PathBuf,
    pub tuned: PathBuf,
    /// Output CSV.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write weightwatcher's `distances` table (raw, euclidean, uncentred CKA per layer,
    /// rows grouped by method: method,layer_id,name,delta_W,delta_b,M,N) to this CSV, and
    /// print each method's averages over the layers.
    #[arg(long, value_name = "CSV")]
    pub distances: Option<PathBuf>,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

#[derive(Args)]
pub struct RankArgs {
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// CSV with columns model,accuracy (model = the path as given on the command line).
    #[arg(long)]
    pub accuracy: Option<PathBuf>,
    /// Output CSV of models × metrics (correlations go to <output>.corr.csv).
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// How `smooth` counts the components a layer keeps.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmoothMethodArg {
    /// weightwatcher's default: `detX_num`, the tail where the eigenvalues' product reaches 1.
    Detx,
    /// `num_spikes`: eigenvalues above the Marchenko–Pastur bulk (weightwatcher's MP fit).
    Rmt,
    /// `num_pl_spikes`: eigenvalues in the power-law tail (≥ xmin).
    AlphaMin,
}

#[derive(Args)]
pub struct SmoothArgs {
    #[command(flatten)]
    pub input: Input,
    /// The smoothed checkpoint to write (safetensors).
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
    /// Which estimate of each layer's signal rank.
    #[arg(long, value_enum, default_value = "detx")]
    pub method: SmoothMethodArg,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// The α that `sparsity` maps to ratios.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SparsityMetric {
    /// The reference's default: xmin searched near the peak of the log-ESD histogram, its
    /// own KS distance (see `weightscope::act::reference_alpha`).
    AlphaPeak,
    /// The reference's `alpha_mid`: xmin at the median eigenvalue.
    AlphaMid,
    /// weightscope's α (weightwatcher's fit, changed by the analysis options below).
    Alpha,
}

/// How `sparsity` groups layers before the map.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SparsityMapping {
    /// Each layer gets the mean α of its transformer block (`model.layers.12.` …).
    BlockWise,
    /// Each layer its own α; every analysed layer is allocated.
    LayerWise,
}

#[derive(Args)]
pub struct SparsityArgs {
    #[command(flatten)]
    pub input: Input,
    /// The parameter-weighted mean sparsity, in [0, 1).
    #[arg(long)]
    pub target: f64,
    /// Half-width of the map: factors in [1−ε, 1+ε] before scaling.
    #[arg(long, default_value_t = 0.3)]
    pub epsilon: f64,
    /// Which α.
    #[arg(long, value_enum, default_value = "alpha-peak")]
    pub metric: SparsityMetric,
    /// Block-wise (the reference's default) or layer-wise.
    #[arg(long, value_enum, default_value = "block-wise")]
    pub mapping: SparsityMapping,
    /// Write the ratios as JSON: the options and, per layer in checkpoint order, name,
    /// params, alpha, sparsity.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the ratios as CSV (name,params,alpha,sparsity).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    #[command(flatten)]
    pub analysis: AnalysisArgs,
}

/// Which tensors become layers, and which of those to analyse.
#[derive(Args)]
#[command(next_help_heading = "Layer selection")]
pub struct LayerArgs {
    /// Only these layers: comma-separated ids (`3`), substrings of the tensor name
    /// (`attn`) or regexes between slashes (`/layer\.1[0-9]\./`).
    #[arg(long)]
    pub layers: Option<String>,
    /// Skip layers with fewer eigenvalues (M·rf) than this (weightwatcher 0.7.7: 8).
    #[arg(long, default_value_t = 8)]
    pub min_evals: usize,
    /// Skip layers with more eigenvalues than this. Default: none (weightwatcher skips above
    /// 15000 for memory; weightscope reads one layer at a time and needs no such limit).
    #[arg(long)]
    pub max_evals: Option<usize>,
    /// Skip layers whose larger dimension N exceeds this. Default: none.
    #[arg(long)]
    pub max_n: Option<usize>,
    /// One row per convolution map W[:,:,i,j] instead of one pooled ESD per conv layer.
    #[arg(long)]
    pub conv_maps: bool,
    /// Do not scale convolution weights (default: ×1/√2 pooled, ×√(rf/2) per map, as
    /// weightwatcher's conv2d_norm).
    #[arg(long)]
    pub no_conv_norm: bool,
    /// Analyse every ≥2-D float tensor. By default, when tensors are named `*.weight`, the
    /// others (masks, positional tables, class tokens) are skipped, as weightwatcher does.
    #[arg(long)]
    pub all_tensors: bool,
    /// Also analyse each gate of LSTM/GRU weights (weight_ih_l*, weight_hh_l*) on its own.
    #[arg(long)]
    pub split_gates: bool,
    /// Also analyse Q, K and V of fused attention projections (qkv_proj, c_attn,
    /// query_key_value, Wqkv, in_proj_weight) on their own; head layout from config.json.
    #[arg(long)]
    pub split_fused: bool,
}

impl LayerArgs {
    /// The layer options and filter; every other option at its default.
    pub fn options(&self) -> Result<Options> {
        let opts = Options {
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
        };
        opts.validate()?;
        Ok(opts)
    }
}

/// The analysis options shared by analyze, plot, report, track, compare and rank: which
/// layers, and what to compute of them.
#[derive(Args)]
#[command(next_help_heading = "Analysis")]
pub struct AnalysisArgs {
    /// Eigenvalues of X = WᵀW/N (the paper's Eqn. 4) instead of WᵀW (weightwatcher's
    /// convention, the default). Changes λ-valued columns, not α.
    #[arg(long)]
    pub normalize: bool,
    /// Power-law fit variant.
    #[arg(long, value_enum, default_value = "ww")]
    pub pl_method: PlMethod,
    /// Eigenvalue route.
    #[arg(long, value_enum, default_value = "auto")]
    pub solver: Solver,
    /// Working precision of the eigen-solver. f64 matches weightwatcher to ~1e-12. f32 forms
    /// the Gram product in single precision (eigenvalues still in f64) on tall layers
    /// (N/M ≥ 2), where α moves by ~1e-7 relative, up to 2× faster there; more square layers
    /// stay in f64, since f32 would lose their small eigenvalues.
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: Precision,
    /// Fit a Marchenko–Pastur bulk (Eqns. 8–9): sigma_mp, bulk_min/max (λ±), num_spikes
    /// (beyond λ⁺ + the finite-size margin ΔλM), num_bleeding_out, mp_softrank = λ⁺/λmax
    /// (Eqn. 11; 0 when no MP bulk fits), bulk_ks (fit quality).
    #[arg(long)]
    pub mp_fit: bool,
    /// MP fitting method: bulk-cdf (KS fit of the bulk below its own edge, the default) or
    /// ww (weightwatcher's density fit against a kernel density estimate).
    #[arg(long, value_enum, default_value = "bulk-cdf")]
    pub mp_method: MpMethod,
    /// Compare with the ESD of W with its elements shuffled (seeded): max_rand_eval,
    /// rand_num_spikes (correlation traps), ww_softrank, ww_maxdist, rand_distance,
    /// rand_esd_distance, rand_sigma_mp (σ_shuf).
    #[arg(long)]
    pub randomize: bool,
    /// Shuffles per layer for --randomize (the paper suggests up to 100).
    #[arg(long, default_value_t = 1)]
    pub shuffles: usize,
    /// Seed of the shuffles (same seed → same bytes).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Eigenvector localization (§3.3): mean and variance of vector entropy, localization
    /// ratio and participation ratio over bulk and tail eigenvectors.
    #[arg(long)]
    pub vectors: bool,
    /// Classify each layer into the paper's 5+1 phases (Table 7): Random-like,
    /// Bleeding-out, Bulk+Spikes, Bulk-decay, Heavy-Tailed, Rank-collapse.
    #[arg(long)]
    pub phase: bool,
    /// Fit the tail's alternatives to a power law (truncated power law, exponential,
    /// lognormal, stretched exponential; paper Table 5) by maximum likelihood and test each
    /// against the power law (log-likelihood ratio R, p-value); best_fit as weightwatcher's rule.
    #[arg(long)]
    pub tail_fits: bool,
    /// Goodness-of-fit p-value of the power law by B bootstrap replicates (Clauset–Shalizi–
    /// Newman §4.1; p ≤ 0.1 rules the power law out). Costs B refits per layer.
    #[arg(long, value_name = "B", default_value_t = 0)]
    pub bootstrap: usize,
    /// Correct finite-size "fingers" before reporting α: clip-xmax drops the top eigenvalues
    /// while α falls by more than 1 (≤ 10; num_fingers, raw_alpha), xmin-peak searches xmin
    /// near the peak of the log-ESD histogram.
    #[arg(long, value_enum)]
    pub fix_fingers: Option<FixFingers>,
    /// weightwatcher's detX tail: detX_num, detX_val.
    #[arg(long)]
    pub detx: bool,
    /// Drop the K largest eigenvalues before the power-law fit (weightwatcher's integer
    /// xmax; the fit fails if K is more than half of them).
    #[arg(long, value_name = "K")]
    pub xmax: Option<usize>,
    /// ESD estimators: full (the whole matrix's ESD, always reported) or farms, which adds
    /// farms_alpha, farms_xmin, farms_D and the window sizes: α of the pooled ESD of
    /// submatrices of one fixed aspect ratio (FARMS, Hu et al. ICML 2025), comparable between
    /// layers of different shapes. Needs each matrix in memory (no streaming).
    #[arg(long, value_enum, default_value = "full")]
    pub esd: EsdEstimator,
    /// FARMS: rows of each submatrix (fewer in small layers).
    #[arg(long, default_value_t = 100)]
    pub farms_rows: usize,
    /// FARMS: aspect ratio of each submatrix, columns/rows (≥ 1).
    #[arg(long, default_value_t = 2.0)]
    pub farms_q: f64,
    /// FARMS: submatrix positions per axis (up to its square of submatrices per matrix).
    #[arg(long, default_value_t = 10)]
    pub farms_windows: usize,
    /// FARMS: xmin of the fit, the median of the pooled ESD (the reference's default) or the
    /// KS-optimal one.
    #[arg(long, value_enum, default_value = "median")]
    pub farms_xmin: FarmsXmin,
    /// Everything above except --bootstrap and --fix-fingers: --mp-fit --randomize --vectors
    /// --phase --tail-fits --detx.
    #[arg(long)]
    pub all: bool,
    /// Worker threads (default: all cores). Output is identical for any value.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Cap the estimated working memory of the layers analysed at once (e.g. 2G, 512M; at
    /// least 1M): layers wait for room, and a layer that alone needs more is an error row
    /// naming the memory it needs (the others are analysed). Default: 3/4 of the available
    /// memory (MemAvailable in /proc/meminfo), 8G where unknown.
    #[arg(long, value_parser = parse_size)]
    pub max_memory: Option<usize>,
    // Last, so that its heading does not take over the fields above.
    #[command(flatten)]
    pub select: LayerArgs,
}

impl AnalysisArgs {
    /// The library's options. With no flag given they are `Options::default()`.
    pub fn options(&self) -> Result<Options> {
        let opts = Options {
            normalize: self.normalize,
            pl_method: self.pl_method,
            solver: self.solver,
            precision: self.precision,
            mp_fit: self.mp_fit || self.all,
            mp_method: self.mp_method,
            randomize: self.randomize || self.all,
            shuffles: self.shuffles,
            seed: self.seed,
            vectors: self.vectors || self.all,
            phase: self.phase || self.all,
            tail_fits: self.tail_fits || self.all,
            bootstrap: self.bootstrap,
            fix_fingers: self.fix_fingers,
            detx: self.detx || self.all,
            xmax_drop: self.xmax,
            farms: self.farms_options()?,
            threads: self.threads,
            max_memory: self.max_memory,
            ..self.select.options()?
        };
        opts.validate()?;
        Ok(opts)
    }
}

impl AnalysisArgs {
    /// The FARMS parameters under `--esd farms`, checked before any layer is read.
    fn farms_options(&self) -> Result<Option<FarmsOptions>> {
        if self.esd != EsdEstimator::Farms {
            return Ok(None);
        }
        let f = FarmsOptions {
            rows: self.farms_rows,
            q: self.farms_q,
            windows: self.farms_windows,
            xmin: self.farms_xmin,
        };
        f.validate()?;
        Ok(Some(f))
    }
}

/// A size in bytes: "2G", "512M", "100k", "1.5g" or plain bytes (K, M, G, T are powers of
/// 1024; a trailing B or iB is allowed).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_size_units() {
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("100k"), Ok(100 << 10));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size(" 8 G "), Ok(8 << 30));
    }

    #[test]
    fn parse_size_plain_bytes() {
        assert_eq!(parse_size("12345"), Ok(12345));
        assert_eq!(parse_size("1"), Ok(1));
        assert_eq!(parse_size("100b"), Ok(100));
    }

    #[test]
    fn parse_size_rejects_bad_units_and_non_positive_sizes() {
        for bad in ["2X", "5 gigs", "3p"] {
            let e = parse_size(bad).unwrap_err();
            assert!(e.contains("unknown size unit"), "{bad}: {e}");
        }
        for bad in ["", "G", "abc", "1.2.3M", "--5"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        for bad in ["0", "0M", "-1", "-2G", "NaN"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn numeric_options_out_of_bounds_are_usage_errors_not_panics() {
        let max = u64::MAX.to_string();
        for (flag, value, names) in [
            ("--bootstrap", max.as_str(), "bootstrap"),
            ("--bootstrap", "100000000000", "bootstrap"),
            ("--threads", "10000", "threads"),
            ("--threads", "0", "threads"),
            ("--shuffles", max.as_str(), "shuffles"),
            ("--shuffles", "0", "shuffles"),
            ("--max-memory", "1000", "max_memory"),
            ("--max-evals", "3", "max_evals"),
            ("--max-n", "0", "max_n"),
        ] {
            let cli = Cli::try_parse_from(["weightscope", "rank", "a", "-o", "r.csv", flag, value])
                .unwrap();
            let Command::Rank(r) = cli.command else {
                panic!("rank")
            };
            let e = r.analysis.options().unwrap_err().to_string();
            assert!(
                e.contains(names) && e.contains(value),
                "{flag} {value}: {e}"
            );
        }
        // The bounds themselves are accepted.
        let cli = Cli::try_parse_from([
            "weightscope",
            "rank",
            "a",
            "-o",
            "r.csv",
            "--threads",
            "1024",
            "--bootstrap",
            "100000",
            "--max-memory",
            "1M",
            "--max-evals",
            "8",
        ])
        .unwrap();
        let Command::Rank(r) = cli.command else {
            panic!("rank")
        };
        assert!(r.analysis.options().is_ok());
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_flag_gives_the_default_options() {
        let cli = Cli::try_parse_from(["weightscope", "rank", "a", "-o", "r.csv"]).unwrap();
        let Command::Rank(r) = cli.command else {
            panic!("rank")
        };
        let (got, want) = (r.analysis.options().unwrap(), Options::default());
        assert_eq!(
            serde_json::to_value(&got).unwrap(),
            serde_json::to_value(&want).unwrap()
        );
        assert!(got.filter.is_none() && got.threads.is_none() && got.max_memory.is_none());
        assert!(!got.keep_esd);
    }
}
