//! The pipeline: plan the layers of a checkpoint, read each tensor, compute its ESD, fit the
//! power law, compute the metrics, and summarise — layers spread over a thread pool, results
//! in checkpoint order and identical whatever the number of threads.

use crate::diagnose::eigenvectors::{self, VectorColumns};
use crate::diagnose::metrics::{self, EVALS_THRESH, WEAK_RANK_TOLERANCE};
use crate::diagnose::phase::{self, PhaseEvidence};
use crate::diagnose::randomization::{self, RandomizationColumns};
use crate::fit::alternatives::{compare_alternatives, TailComparison};
use crate::fit::detx::{detx, DetX};
use crate::fit::fingers::{clip_xmax, xmin_peak, ClipXmaxOptions};
use crate::fit::marchenko_pastur::{fit_marchenko_pastur, MpFit, MpMethod};
use crate::fit::truncated::{alpha_hill_for_fit, alpha_xmax, bootstrap_pvalue};
use crate::fit::universality::universality;
use crate::fit::{fit_power_law, PlMethod};
use crate::formats::{self, TensorSource};
use crate::layers::{self, LayerKind, LayerOptions, LayerPlan};
use crate::lora;
use crate::spectrum::{self, Precision, Solver};
use crate::synth::Phase;
use crate::{Error, Result};
use faer::Mat;
use rayon::prelude::*;
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Everything that changes the numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    #[serde(flatten)]
    pub layers: LayerOptions,
    /// Divide the eigenvalues by N: the paper's X = WᵀW/N (Eqn. 4). Off by default, as in
    /// weightwatcher, whose numbers users compare with.
    pub normalize: bool,
    pub pl_method: PlMethod,
    pub solver: Solver,
    pub precision: Precision,
    /// `weak_rank_loss` counts eigenvalues below this.
    pub tolerance: f64,
    /// Fit a Marchenko–Pastur bulk (`mp` columns).
    pub mp_fit: bool,
    pub mp_method: MpMethod,
    /// ESDs of the element-shuffled matrices (`randomization` columns).
    pub randomize: bool,
    /// Number of shuffles (each an eigen-decomposition).
    pub shuffles: usize,
    /// Seed of the shuffles: same seed, same bytes.
    pub seed: u64,
    /// Eigenvector localization (`vectors` columns): an eigen-decomposition with vectors.
    pub vectors: bool,
    /// The 5+1 phase (implies an MP fit).
    pub phase: bool,
    /// Fit the tail's alternatives (truncated power law, exponential, lognormal, stretched
    /// exponential) and compare each with the power law (`tail` columns, `best_fit`).
    pub tail_fits: bool,
    /// Bootstrap replicates of the power-law goodness-of-fit test (0: off).
    pub bootstrap: usize,
    /// Correct finite-size "fingers" before reporting α.
    pub fix_fingers: Option<FixFingers>,
    /// weightwatcher's detX tail (`detX_num`, `detX_val`).
    pub detx: bool,
    /// Drop the K largest eigenvalues before the power-law fit (weightwatcher's integer
    /// `xmax`); the fit fails if K exceeds half of them.
    pub xmax_drop: Option<usize>,
    /// Keep each layer's eigenvalues in the result (`LayerResult::esd`), for plots.
    #[serde(skip)]
    pub keep_esd: bool,
    /// Only layers matching this filter (not part of the numbers, so not serialised).
    #[serde(skip)]
    pub filter: Option<LayerFilter>,
    /// Worker threads (default: all cores). Never changes the output.
    #[serde(skip)]
    pub threads: Option<usize>,
    /// Cap on the estimated working memory of the layers in flight, in bytes: layers wait
    /// for room before being read (a layer larger than the cap runs alone). Never changes
    /// the output.
    #[serde(skip)]
    pub max_memory: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            layers: LayerOptions::default(),
            normalize: false,
            pl_method: PlMethod::Ww,
            solver: Solver::Auto,
            precision: Precision::F64,
            tolerance: WEAK_RANK_TOLERANCE,
            mp_fit: false,
            mp_method: MpMethod::BulkCdf,
            randomize: false,
            shuffles: 1,
            seed: 0,
            vectors: false,
            phase: false,
            tail_fits: false,
            bootstrap: 0,
            fix_fingers: None,
            detx: false,
            xmax_drop: None,
            keep_esd: false,
            filter: None,
            threads: None,
            max_memory: None,
        }
    }
}

/// How to correct finite-size "fingers" (a few huge eigenvalues that inflate α).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum FixFingers {
    /// Drop the top eigenvalues while α falls by more than 1 (at most 10).
    ClipXmax,
    /// Search xmin near the peak of the log-ESD histogram.
    XminPeak,
}

/// One selector of `--layers`.
#[derive(Debug, Clone)]
pub enum LayerSelector {
    /// A layer id (index of the tensor in the checkpoint).
    Id(usize),
    /// A regular expression searched in the full tensor name.
    Regex(Regex),
    /// A substring of the full tensor name.
    Substring(String),
}

/// Layers to keep: a layer is kept if any selector matches it.
#[derive(Debug, Clone)]
pub struct LayerFilter(pub Vec<LayerSelector>);

impl LayerFilter {
    /// Parse a comma-separated list: `12` is a layer id, `/attn\.(q|k)/` a regex, anything
    /// else a substring.
    pub fn parse(s: &str) -> Result<Self> {
        let mut out = Vec::new();
        for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            if let Ok(id) = item.parse::<usize>() {
                out.push(LayerSelector::Id(id));
            } else if item.len() >= 2 && item.starts_with('/') && item.ends_with('/') {
                let re = Regex::new(&item[1..item.len() - 1])
                    .map_err(|e| Error::Usage(format!("--layers: bad regex {item}: {e}")))?;
                out.push(LayerSelector::Regex(re));
            } else {
                out.push(LayerSelector::Substring(item.to_string()));
            }
        }
        Ok(LayerFilter(out))
    }

    pub fn matches(&self, plan: &LayerPlan) -> bool {
        self.0.iter().any(|s| match s {
            LayerSelector::Id(i) => plan.layer_id == *i,
            LayerSelector::Regex(r) => r.is_match(&plan.longname),
            LayerSelector::Substring(x) => plan.longname.contains(x.as_str()),
        })
    }
}

/// Outcome of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// ESD and power-law fit computed.
    Success,
    /// ESD computed, but no power law could be fitted: α and its metrics are empty, and the
    /// layer is left out of α averages (never labelled over-trained).
    Failed,
    /// The layer could not be read or has no spectrum (NaN/Inf, all zeros, corrupt data).
    Error,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Error => "error",
        }
    }
}

/// One row of the details table. Column names are weightwatcher's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerResult {
    pub layer_id: usize,
    pub name: String,
    pub longname: String,
    pub layer_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_id: Option<usize>,
    pub shape: Vec<usize>,
    pub dtype: String,
    #[serde(rename = "N")]
    pub n: usize,
    #[serde(rename = "M")]
    pub m: usize,
    #[serde(rename = "Q")]
    pub q: f64,
    pub rf: usize,
    pub num_evals: Option<usize>,
    pub sv_max: Option<f64>,
    pub sv_min: Option<f64>,
    pub rank_loss: Option<usize>,
    pub weak_rank_loss: Option<usize>,
    pub lambda_max: Option<f64>,
    pub alpha: Option<f64>,
    pub xmin: Option<f64>,
    pub xmax: Option<f64>,
    #[serde(rename = "D")]
    pub d: Option<f64>,
    pub sigma: Option<f64>,
    pub num_pl_spikes: Option<usize>,
    pub status: Status,
    pub warning: String,
    pub norm: Option<f64>,
    pub log_norm: Option<f64>,
    pub spectral_norm: Option<f64>,
    pub log_spectral_norm: Option<f64>,
    pub alpha_weighted: Option<f64>,
    pub log_alpha_norm: Option<f64>,
    pub stable_rank: Option<f64>,
    pub matrix_rank: Option<usize>,
    pub entropy: Option<f64>,
    /// Share of eigenvalues that are numerically zero (λ < 1e-10·λmax): Rank-collapse (§5.6).
    pub zero_mass: Option<f64>,
    /// Hill estimator of the tail index over the power-law tail.
    pub alpha_hill: Option<f64>,
    /// MLE of α with the pdf normalised on [xmin, xmax] (weightwatcher issue #103).
    pub alpha_xmax: Option<f64>,
    /// Tail exponent μ of the entries implied by α (§3.2; empty in the weak class).
    pub mu: Option<f64>,
    /// Universality class from α: very-heavy (μ < 2), fat (2 < μ < 4), weak (μ > 4).
    pub universality: Option<String>,
    /// Why the status is not success.
    pub message: String,
    /// `--mp-fit`: the Marchenko–Pastur bulk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp: Option<MpFit>,
    /// `--randomize`: the shuffled baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomization: Option<RandomizationColumns>,
    /// `--vectors`: eigenvector localization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vectors: Option<VectorColumns>,
    /// `--phase`: the 5+1 phase and the evidence used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<PhaseResult>,
    /// `--tail-fits`: the alternatives to the power law and the likelihood-ratio tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<TailComparison>,
    /// `--fix-fingers`: what was corrected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingers: Option<FingersResult>,
    /// `--detx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detx: Option<DetX>,
    /// `--bootstrap B`: the power law's goodness-of-fit p-value (CSN §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pl_pvalue: Option<f64>,
    /// `track --ensemble`: how many runs' ESDs were pooled into this row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<usize>,
    /// The ESD itself (ascending), kept with `Options::keep_esd` for plots; not serialised.
    #[serde(skip)]
    pub esd: Option<Vec<f64>>,
    /// The first shuffled ESD (with `--randomize` and `keep_esd`); not serialised.
    #[serde(skip)]
    pub rand_esd: Option<Vec<f64>>,
}

/// The finger correction of a layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FingersResult {
    /// Top eigenvalues removed (clip-xmax; 0 for xmin-peak).
    pub num_fingers: usize,
    /// α of the uncorrected fit.
    pub raw_alpha: f64,
    /// The log-ESD peak near which xmin was searched (xmin-peak).
    pub xmin_peak: Option<f64>,
}

/// The phase of a layer, why, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseResult {
    pub phase: Phase,
    pub reason: String,
    pub evidence: PhaseEvidence,
}

impl LayerResult {
    fn empty(plan: &LayerPlan) -> Self {
        LayerResult {
            layer_id: plan.layer_id,
            name: plan.name.clone(),
            longname: plan.longname.clone(),
            layer_type: plan.kind.map_or("unknown", |k| k.as_str()).to_string(),
            slice_id: plan.slice_id,
            shape: plan.shape.clone(),
            dtype: plan.dtype.clone(),
            n: plan.n,
            m: plan.m,
            q: plan.q(),
            rf: plan.rf,
            num_evals: None,
            sv_max: None,
            sv_min: None,
            rank_loss: None,
            weak_rank_loss: None,
            lambda_max: None,
            alpha: None,
            xmin: None,
            xmax: None,
            d: None,
            sigma: None,
            num_pl_spikes: None,
            status: Status::Error,
            warning: String::new(),
            norm: None,
            log_norm: None,
            spectral_norm: None,
            log_spectral_norm: None,
            alpha_weighted: None,
            log_alpha_norm: None,
            stable_rank: None,
            matrix_rank: None,
            entropy: None,
            zero_mass: None,
            alpha_hill: None,
            alpha_xmax: None,
            mu: None,
            universality: None,
            message: String::new(),
            mp: None,
            randomization: None,
            vectors: None,
            phase: None,
            tail: None,
            fingers: None,
            detx: None,
            pl_pvalue: None,
            runs: None,
            esd: None,
            rand_esd: None,
        }
    }

    pub(crate) fn error(plan: &LayerPlan, message: impl Into<String>) -> Self {
        let mut r = LayerResult::empty(plan);
        r.message = message.into();
        r
    }

    /// Key identifying the row across runs (for `--resume`).
    pub fn key(&self) -> (usize, Option<usize>) {
        (self.layer_id, self.slice_id)
    }
}

/// A tensor that is not analysed, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SkippedLayer {
    pub layer_id: usize,
    pub longname: String,
    pub shape: Vec<usize>,
    pub reason: String,
}

/// Model-level means (weightwatcher's `get_summary`, plus counts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows with an ESD (status success or failed).
    pub layers_analyzed: usize,
    /// Rows whose power-law fit failed (left out of the α means).
    pub layers_failed: usize,
    /// Rows that could not be analysed (status error).
    pub layers_error: usize,
    /// Tensors not analysed (see `skipped`).
    pub layers_skipped: usize,
    pub log_norm: Option<f64>,
    pub alpha: Option<f64>,
    pub alpha_weighted: Option<f64>,
    pub log_alpha_norm: Option<f64>,
    pub log_spectral_norm: Option<f64>,
    pub stable_rank: Option<f64>,
    pub entropy: Option<f64>,
    /// Mean MP soft rank (with `--mp-fit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp_softrank: Option<f64>,
    /// Number of layers in each phase (with `--phase`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub phases: std::collections::BTreeMap<String, usize>,
}

/// The result of `analyze`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// weightscope version that produced it.
    pub weightscope: String,
    /// What was analysed, as given.
    pub source: String,
    pub format: String,
    pub files: Vec<String>,
    pub options: Options,
    pub summary: Summary,
    pub layers: Vec<LayerResult>,
    pub skipped: Vec<SkippedLayer>,
}

/// Aspect ratio Q = N/M from which `--precision f32` takes a layer in single precision. The
/// f32 Gram matrix is exact to ≈ 1e-7·λmax; on tall layers every eigenvalue is far above that
/// (a random layer has λmin/λmax ≈ ((√Q−1)/(√Q+1))², 0.03 at Q = 2), so α moves by ≈ 1e-7
/// relative (measured 1e-7 on 11008 × 4096). On square layers λmin/λmax ≈ 1/(4N²) is below f32
/// resolution: the small end is lost, the auto route falls back to an f32 SVD (3.8× slower
/// than the f64 default on 4096²) and α moved by 5e-5 relative. Those stay in f64.
pub const F32_MIN_Q: f64 = 2.0;

/// The working precision of a layer: `opts.precision`, except that layers more square than
/// [`F32_MIN_Q`] stay in f64.
pub fn layer_precision(plan: &LayerPlan, opts: &Options) -> Precision {
    match opts.precision {
        Precision::F32 if plan.q() < F32_MIN_Q => Precision::F64,
        p => p,
    }
}

/// The ESD of a layer's matrices (pooled, ascending) and weightwatcher's `rank_loss` (summed
/// over the matrices, each with numpy's tolerance).
pub fn layer_esd(
    mats: &[Mat<f64>],
    n: usize,
    solver: Solver,
    precision: Precision,
) -> std::result::Result<(Vec<f64>, usize), spectrum::NoConvergence> {
    let mut evals = Vec::new();
    let mut rank_loss = 0;
    for w in mats {
        let ev = spectrum::gram_eigenvalues(w.as_ref(), solver, precision)?;
        rank_loss += ev.len() - metrics::matrix_rank(&ev, n);
        evals.extend(ev);
    }
    evals.sort_by(f64::total_cmp);
    Ok((evals, rank_loss))
}

/// Analyse one layer from its tensor's row-major data. No I/O. The data are dropped as soon
/// as the layer's matrices are built, so the peak holds one copy of the weights.
pub fn analyze_layer(plan: &LayerPlan, data: Vec<f64>, opts: &Options) -> LayerResult {
    let nan = data.iter().filter(|x| x.is_nan()).count();
    let inf = data.iter().filter(|x| x.is_infinite()).count();
    if let Some(r) = bad_values(plan, nan, inf, data.iter().any(|&x| x != 0.0)) {
        return r;
    }
    let (mats, esd) = match &plan.lora {
        None => {
            let mats = layers::layer_matrices(plan, &data, &opts.layers);
            drop(data);
            let esd = layer_esd(&mats, plan.n, opts.solver, layer_precision(plan, opts));
            (mats, esd.map_err(|e| e.to_string()))
        }
        Some(pair) => {
            let (a, b) = lora::factors(pair, &data);
            drop(data);
            // The product itself only for the analyses that need the matrix.
            let mats = if opts.randomize || opts.vectors {
                vec![lora::product(a.as_ref(), b.as_ref())]
            } else {
                Vec::new()
            };
            let esd = match lora::eigenvalues(a.as_ref(), b.as_ref()) {
                Some(ev) if ev.last().is_some_and(|&l| l > 0.0) => {
                    let loss = ev.len() - metrics::matrix_rank(&ev, plan.n);
                    Ok((ev, loss))
                }
                Some(_) => Err("LoRA B·A is zero (an untrained adapter: B starts at 0)".into()),
                None => Err("SVD of the LoRA factors did not converge".into()),
            };
            (mats, esd)
        }
    };
    let (mut evals, rank_loss) = match esd {
        Ok(x) => x,
        Err(e) => return LayerResult::error(plan, e),
    };
    let norm_n = if opts.normalize { plan.n as f64 } else { 1.0 };
    evals.iter_mut().for_each(|l| *l /= norm_n);
    diagnose_esd(plan, evals, rank_loss, &mats, opts)
}

/// Everything [`analyze_layer`] reports, from a layer's ESD: `evals` ascending (already
/// divided by N under `--normalize`), the hard-rank loss, and the layer's matrices for the
/// analyses that need more than eigenvalues (`--randomize`, `--vectors`; empty skips them).
/// Also used for ESDs pooled over an ensemble of runs (§6.1). No I/O.
pub fn diagnose_esd(
    plan: &LayerPlan,
    evals: Vec<f64>,
    rank_loss: usize,
    mats: &[Mat<f64>],
    opts: &Options,
) -> LayerResult {
    if evals.is_empty() {
        return LayerResult::error(plan, "no eigenvalues");
    }
    let norm_n = if opts.normalize { plan.n as f64 } else { 1.0 };
    let mut r = LayerResult::empty(plan);
    let m = metrics::esd_metrics(&evals, plan.n, opts.tolerance);
    r.num_evals = Some(m.num_evals);
    r.sv_max = Some(m.sv_max);
    r.sv_min = Some(m.sv_min);
    r.rank_loss = Some(rank_loss);
    r.weak_rank_loss = Some(m.weak_rank_loss);
    r.lambda_max = Some(m.lambda_max);
    r.norm = Some(m.norm);
    r.log_norm = Some(m.log_norm);
    r.spectral_norm = Some(m.spectral_norm);
    r.log_spectral_norm = Some(m.log_spectral_norm);
    r.stable_rank = Some(m.stable_rank);
    r.matrix_rank = Some(m.matrix_rank);
    r.entropy = Some(m.entropy);
    let zeros = evals.partition_point(|&l| l < phase::ZERO_EVAL_RATIO * m.lambda_max);
    r.zero_mass = Some(zeros as f64 / evals.len() as f64);

    let first = evals.partition_point(|&l| l <= EVALS_THRESH);
    let mut nz = &evals[first..];
    let mut too_many_dropped = false;
    if let Some(k) = opts.xmax_drop {
        if 2 * k > nz.len() {
            too_many_dropped = true;
        } else {
            nz = &nz[..nz.len() - k];
        }
    }
    let fit = match opts.fix_fingers {
        _ if too_many_dropped => None,
        None => fit_power_law(nz, opts.pl_method),
        Some(FixFingers::ClipXmax) => clip_xmax(nz, opts.pl_method, &ClipXmaxOptions::default())
            .and_then(|c| {
                r.fingers = Some(FingersResult {
                    num_fingers: c.num_fingers,
                    raw_alpha: c.raw_alpha,
                    xmin_peak: None,
                });
                c.fit
            }),
        Some(FixFingers::XminPeak) => xmin_peak(nz, opts.pl_method).map(|x| {
            r.fingers = Some(FingersResult {
                num_fingers: 0,
                raw_alpha: fit_power_law(nz, opts.pl_method).map_or(f64::NAN, |f| f.alpha),
                xmin_peak: Some(x.xmin_peak),
            });
            x.fit
        }),
    };
    match fit {
        Some(fit) if fit.alpha.is_finite() && fit.alpha > 1.0 && fit.d.is_finite() => {
            r.alpha_hill = alpha_hill_for_fit(nz, &fit);
            r.alpha_xmax = alpha_xmax(nz, &fit).map(|f| f.alpha_xmax);
            if let Some(u) = universality(fit.alpha) {
                r.mu = u.mu;
                r.universality = Some(u.universality.as_str().to_string());
            }
            if opts.tail_fits {
                r.tail = compare_alternatives(nz, fit.xmin);
            }
            if opts.bootstrap > 0 {
                let seed = randomization::shuffle_seed(
                    opts.seed,
                    plan.layer_id,
                    plan.slice_id.unwrap_or(0),
                    1 << 20,
                );
                r.pl_pvalue = bootstrap_pvalue(nz, &fit, opts.pl_method, opts.bootstrap, seed)
                    .map(|g| g.pl_pvalue);
            }
            r.status = Status::Success;
            r.alpha = Some(fit.alpha);
            r.xmin = Some(fit.xmin);
            r.xmax = Some(fit.xmax);
            r.d = Some(fit.d);
            r.sigma = Some(fit.sigma);
            r.num_pl_spikes = Some(nz.len() - nz.partition_point(|&l| l < fit.xmin));
            r.alpha_weighted = Some(metrics::alpha_weighted(fit.alpha, m.lambda_max));
            r.log_alpha_norm = Some(metrics::log_alpha_norm(&evals, fit.alpha));
            r.warning = metrics::alpha_warning(fit.alpha).to_string();
        }
        _ => {
            r.status = Status::Failed;
            r.message = if too_many_dropped {
                format!(
                    "--xmax {} drops more than half of the {} eigenvalues",
                    opts.xmax_drop.unwrap_or(0),
                    nz.len()
                )
            } else {
                format!(
                    "no power law fits the {} eigenvalue(s) above {EVALS_THRESH:e}",
                    nz.len()
                )
            };
        }
    }

    if opts.detx {
        r.detx = detx(&evals);
    }
    let q = plan.q();
    let mp = if opts.mp_fit || opts.phase {
        fit_marchenko_pastur(&evals, q, plan.m, opts.mp_method)
    } else {
        None
    };
    if opts.mp_fit {
        r.mp = mp;
    }
    if let (true, Some(mp)) = (opts.phase, &mp) {
        let evidence = phase::evidence(&evals, mp);
        let (p, reason) = phase::classify(&evidence);
        r.phase = Some(PhaseResult {
            phase: p,
            reason,
            evidence,
        });
    }
    if opts.randomize && !mats.is_empty() {
        let seed_id = plan.layer_id * 4096 + plan.slice_id.unwrap_or(0);
        if let Ok(mut shuffled) = randomization::shuffled_esds(
            mats,
            opts.seed,
            seed_id,
            opts.shuffles,
            opts.solver,
            layer_precision(plan, opts),
        ) {
            for e in shuffled.iter_mut() {
                e.iter_mut().for_each(|l| *l /= norm_n);
            }
            r.randomization =
                randomization::randomization_columns(&evals, &shuffled, q, plan.m, opts.mp_method);
            if opts.keep_esd {
                r.rand_esd = shuffled.into_iter().next();
            }
        }
    }
    if opts.vectors && !mats.is_empty() {
        r.vectors = eigenvectors::vector_columns(mats, r.num_pl_spikes.unwrap_or(0));
    }
    if opts.keep_esd {
        r.esd = Some(evals);
    }
    r
}

/// Mean of the finite values, or None.
fn mean(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for v in values.flatten().filter(|v| v.is_finite()) {
        s += v;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

/// Summarise layer rows.
pub fn summarize(layers: &[LayerResult], skipped: usize) -> Summary {
    let with_esd: Vec<&LayerResult> = layers
        .iter()
        .filter(|r| r.status != Status::Error)
        .collect();
    let fitted: Vec<&LayerResult> = layers
        .iter()
        .filter(|r| r.status == Status::Success)
        .collect();
    Summary {
        layers_analyzed: with_esd.len(),
        layers_failed: layers.iter().filter(|r| r.status == Status::Failed).count(),
        layers_error: layers.iter().filter(|r| r.status == Status::Error).count(),
        layers_skipped: skipped,
        log_norm: mean(with_esd.iter().map(|r| r.log_norm)),
        alpha: mean(fitted.iter().map(|r| r.alpha)),
        alpha_weighted: mean(fitted.iter().map(|r| r.alpha_weighted)),
        log_alpha_norm: mean(fitted.iter().map(|r| r.log_alpha_norm)),
        log_spectral_norm: mean(with_esd.iter().map(|r| r.log_spectral_norm)),
        stable_rank: mean(with_esd.iter().map(|r| r.stable_rank)),
        entropy: mean(with_esd.iter().map(|r| r.entropy)),
        mp_softrank: mean(with_esd.iter().map(|r| r.mp.map(|m| m.mp_softrank))),
        phases: layers.iter().filter_map(|r| r.phase.as_ref()).fold(
            Default::default(),
            |mut acc, p| {
                *acc.entry(p.phase.as_str().to_string()).or_insert(0) += 1;
                acc
            },
        ),
    }
}

/// What `describe` shows: the plan, no maths.
#[derive(Debug, Clone, Serialize)]
pub struct Description {
    pub source: String,
    pub format: String,
    pub files: Vec<String>,
    pub layers: Vec<LayerPlan>,
}

/// The attention layout in the `config.json` beside a checkpoint (in its folder, or next to
/// the file), if any.
pub fn model_config(path: &Path) -> Option<layers::AttentionConfig> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    // Multimodal configs nest the language model's.
    layers::AttentionConfig::from_json(&v).or_else(|| {
        v.get("text_config")
            .and_then(layers::AttentionConfig::from_json)
    })
}

/// Plan the layers of an opened checkpoint, applying the filter. The head layout comes from
/// `opts.layers.attention`, or else the `config.json` beside the checkpoint's first file.
pub fn plan(src: &dyn TensorSource, opts: &Options) -> Vec<LayerPlan> {
    let mut lo = opts.layers.clone();
    if lo.attention.is_none() {
        lo.attention = src.files().first().and_then(|f| model_config(f));
    }
    let mut plans = layers::plan_layers(src.tensors(), &lo);
    if let Some(f) = &opts.filter {
        plans.retain(|p| f.matches(p));
    }
    plans
}

/// Describe a checkpoint: layers, shapes, kinds, and what will be skipped and why.
pub fn describe(path: &Path, opts: &Options) -> Result<Description> {
    let src = formats::open(path)?;
    Ok(Description {
        source: path.display().to_string(),
        format: src.format_name().to_string(),
        files: src
            .files()
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
        layers: plan(src.as_ref(), opts),
    })
}

/// Hooks for a long run: rows already finished (from `--resume`), and a callback for each
/// finished row (to save it at once, and to drive a progress bar: its second argument is the
/// estimated flops of the layer).
#[derive(Default)]
pub struct Hooks<'a> {
    pub done: HashMap<(usize, Option<usize>), LayerResult>,
    #[allow(clippy::type_complexity)]
    pub on_layer: Option<&'a (dyn Fn(&LayerResult, f64) + Sync)>,
}

/// Estimated peak working memory of analysing a layer, in bytes: its data as f64, the
/// oriented matrices, the M × M Gram matrix and the solver's workspace — or, for a layer
/// streamed by row panels ([`streams`]), the Gram matrix, its f64 copy for the eigen-solver
/// and two panels.
pub fn layer_memory(plan: &LayerPlan, opts: &Options, src: &dyn TensorSource) -> usize {
    let numel: usize = plan.shape.iter().product();
    let m = plan.m;
    if streams(plan, opts, src) {
        return 8 * (3 * m * m + 2 * spectrum::GRAM_PANEL_ROWS * m);
    }
    8 * (2 * numel + 2 * m * m) + (8 * numel) / 2
}

/// Whether a layer's Gram matrix is accumulated from panels read one at a time, so the weights
/// are never all in memory: plain 2-D layers (embeddings, projections, either layout) in a
/// format that reads blocks, when no analysis needs the matrix itself (`--randomize`,
/// `--vectors`, `--solver svd`). The result is the same bits as the in-memory route (both sum
/// the same panels of [`spectrum::GRAM_PANEL_ROWS`] rows of W).
pub fn streams(plan: &LayerPlan, opts: &Options, src: &dyn TensorSource) -> bool {
    plan.shape.len() == 2
        && plan.rf == 1
        && plan.part.is_none()
        && plan.slice_id.is_none()
        && plan.lora.is_none()
        && !matches!(plan.kind, Some(LayerKind::Conv1d | LayerKind::Conv2d))
        && !opts.randomize
        && !opts.vectors
        && opts.solver != Solver::Svd
        && src.reads_blocks(plan.layer_id)
}

/// [`analyze_layer`] for a layer that [`streams`]: the Gram matrix from panels of rows of W
/// read one at a time — rows of the stored tensor when it is N × M (N ≥ M), columns when it
/// is stored M × N (W = Aᵀ, as PyTorch stores a Linear layer whose output is the smaller
/// side). `Ok(None)` when [`Solver::Auto`] wants an SVD (the layer is numerically
/// rank-deficient), which needs the whole matrix: the caller then reads it.
fn analyze_streamed(
    src: &dyn TensorSource,
    plan: &LayerPlan,
    opts: &Options,
) -> Result<Option<LayerResult>> {
    let (rows, cols) = (plan.shape[0], plan.shape[1]);
    let tall = rows >= cols;
    let (n, m) = if tall { (rows, cols) } else { (cols, rows) };
    let mut gram = spectrum::GramBuilder::new(m, layer_precision(plan, opts));
    let (mut nan, mut inf, mut nonzero) = (0usize, 0usize, false);
    let mut r0 = 0;
    while r0 < n {
        let k = spectrum::GRAM_PANEL_ROWS.min(n - r0);
        // Rows r0..r0+k of W: rows of the tensor, or its columns (an m × k block).
        let block = if tall {
            src.read_block_f64(plan.layer_id, r0..r0 + k, 0..m)?
        } else {
            src.read_block_f64(plan.layer_id, 0..m, r0..r0 + k)?
        };
        nan += block.iter().filter(|x| x.is_nan()).count();
        inf += block.iter().filter(|x| x.is_infinite()).count();
        nonzero |= block.iter().any(|&x| x != 0.0);
        if nan + inf == 0 {
            if tall {
                gram.add_panel_with(k, |i, j| block[i * m + j]);
            } else {
                gram.add_panel_with(k, |i, j| block[j * k + i]);
            }
        }
        r0 += k;
    }
    if let Some(r) = bad_values(plan, nan, inf, nonzero) {
        return Ok(Some(r));
    }
    let mut evals = match gram.eigenvalues() {
        Ok(ev) => ev,
        Err(e) => return Ok(Some(LayerResult::error(plan, e.to_string()))),
    };
    if opts.solver == Solver::Auto && spectrum::auto_wants_svd(&evals) {
        return Ok(None);
    }
    let rank_loss = evals.len() - metrics::matrix_rank(&evals, plan.n);
    if opts.normalize {
        evals.iter_mut().for_each(|l| *l /= plan.n as f64);
    }
    Ok(Some(diagnose_esd(plan, evals, rank_loss, &[], opts)))
}

/// The error row of a layer with NaN/Inf or only zeros, or `None` if its values are usable.
fn bad_values(plan: &LayerPlan, nan: usize, inf: usize, nonzero: bool) -> Option<LayerResult> {
    if nan + inf > 0 {
        return Some(LayerResult::error(
            plan,
            format!("{nan} NaN and {inf} infinite values: no spectrum"),
        ));
    }
    (!nonzero).then(|| LayerResult::error(plan, "all-zero matrix: no spectrum"))
}

/// Admits layers while their estimated memory fits under a cap.
struct MemoryGate {
    limit: usize,
    used: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

impl MemoryGate {
    fn acquire(&self, want: usize) -> usize {
        let want = want.min(self.limit);
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        while *used > 0 && *used + want > self.limit {
            used = self.freed.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += want;
        want
    }
    fn release(&self, n: usize) {
        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        *used -= n;
        self.freed.notify_all();
    }
}

/// The data [`analyze_layer`] takes for a plan: the tensor, or both factors of a LoRA pair.
pub fn read_layer(src: &dyn TensorSource, plan: &LayerPlan) -> Result<Vec<f64>> {
    match &plan.lora {
        None => Ok(src.read_f64(plan.layer_id)?),
        Some(pair) => lora::read_factors(src, plan, pair),
    }
}

/// Analyse a checkpoint file or model folder.
pub fn analyze(path: &Path, opts: &Options) -> Result<Report> {
    let src = formats::open(path)?;
    analyze_source(
        src.as_ref(),
        &path.display().to_string(),
        opts,
        Hooks::default(),
    )
}

/// Analyse an opened checkpoint.
pub fn analyze_source(
    src: &dyn TensorSource,
    source: &str,
    opts: &Options,
    hooks: Hooks<'_>,
) -> Result<Report> {
    let plans = plan(src, opts);
    let (todo, skipped): (Vec<&LayerPlan>, Vec<&LayerPlan>) =
        plans.iter().partition(|p| p.skip.is_none());
    let gate = opts.max_memory.map(|limit| MemoryGate {
        limit,
        used: std::sync::Mutex::new(0),
        freed: std::sync::Condvar::new(),
    });
    let run_one = |p: &LayerPlan| -> LayerResult {
        if let Some(r) = hooks.done.get(&(p.layer_id, p.slice_id)) {
            return r.clone();
        }
        let held = gate
            .as_ref()
            .map_or(0, |g| g.acquire(layer_memory(p, opts, src)));
        let streamed = if streams(p, opts, src) {
            analyze_streamed(src, p, opts).transpose()
        } else {
            None
        };
        let result =
            streamed.unwrap_or_else(|| read_layer(src, p).map(|d| analyze_layer(p, d, opts)));
        let r = match result {
            Ok(mut r) => {
                if r.status == Status::Error {
                    let file = &src.tensors()[p.layer_id].file;
                    r.message = Error::tensor(file, &p.longname, r.message).to_string();
                }
                r
            }
            Err(e) => LayerResult::error(p, e.to_string()),
        };
        if let Some(g) = &gate {
            g.release(held);
        }
        if let Some(cb) = hooks.on_layer {
            cb(&r, p.flops());
        }
        r
    };
    let run_all = || -> Vec<LayerResult> { todo.par_iter().map(|p| run_one(p)).collect() };
    let layers = match opts.threads {
        Some(t) => rayon::ThreadPoolBuilder::new()
            .num_threads(t.max(1))
            .build()
            .map_err(|e| Error::Usage(format!("cannot start {t} threads: {e}")))?
            .install(run_all),
        None => run_all(),
    };
    let skipped: Vec<SkippedLayer> = skipped
        .iter()
        .map(|p| SkippedLayer {
            layer_id: p.layer_id,
            longname: p.longname.clone(),
            shape: p.shape.clone(),
            reason: p.skip.clone().unwrap_or_default(),
        })
        .collect();
    Ok(Report {
        weightscope: env!("CARGO_PKG_VERSION").to_string(),
        source: source.to_string(),
        format: src.format_name().to_string(),
        files: src
            .files()
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
        options: opts.clone(),
        summary: summarize(&layers, skipped.len()),
        layers,
        skipped,
    })
}
