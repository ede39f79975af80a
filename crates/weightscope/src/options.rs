//! The options of an analysis: everything that changes the numbers (serialised with the
//! report, so a file says how it was made), and what only changes how it runs (threads, memory
//! cap, filter), which is not serialised.

use crate::diagnose::metrics::WEAK_RANK_TOLERANCE;
use crate::fit::farms::FarmsOptions;
use crate::fit::marchenko_pastur::MpMethod;
use crate::fit::PlMethod;
use crate::layers::{LayerOptions, LayerPlan};
use crate::spectrum::{Precision, Solver};
use crate::{Error, Result};
use regex::Regex;
use serde::{Deserialize, Serialize};

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
    /// The 5+1 phase (implies an MP fit, whose columns it keeps).
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
    /// `--esd farms`: α of the pooled ESD of fixed-aspect-ratio submatrices (`farms`
    /// columns), beside the standard α of the whole ESD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub farms: Option<FarmsOptions>,
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
    /// for room before being read, and a layer whose estimate alone exceeds the cap is an
    /// error row naming what it needs. `None`: 3/4 of the available memory
    /// (`MemAvailable`), 8 GiB where unknown. Never changes the other rows.
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
            farms: None,
            keep_esd: false,
            filter: None,
            threads: None,
            max_memory: None,
        }
    }
}

/// Aspect ratio Q = N/M from which `--precision f32` takes a layer in single precision. The
/// f32 Gram matrix is exact to ≈ 1e-7·λmax; on tall layers every eigenvalue is far above that
/// (a random layer has λmin/λmax ≈ ((√Q−1)/(√Q+1))², 0.03 at Q = 2), so α moves by ≈ 1e-7
/// relative (measured 1e-7 on 11008 × 4096). On square layers λmin/λmax ≈ 1/(4N²) is below f32
/// resolution: the small end is lost, the auto route falls back to an f32 SVD (3.8× slower
/// than the f64 default on 4096²) and α moved by 5e-5 relative. Those stay in f64.
pub const F32_MIN_Q: f64 = 2.0;

/// Most worker threads: beyond this a pool costs more to start than it can gain on any
/// machine we know of (1024 is the largest core count Linux's default `NR_CPUS` allows for).
pub const MAX_THREADS: usize = 1024;
/// Most bootstrap replicates: each is a full refit of the tail; Clauset–Shalizi–Newman §4.1
/// ask for ≈ 2500 to resolve p to ±0.01, so 100000 is already 40 times that.
pub const MAX_BOOTSTRAP: usize = 100_000;
/// Most shuffles for `--randomize`: each is an eigen-decomposition of the whole layer; the
/// paper suggests up to 100.
pub const MAX_SHUFFLES: usize = 10_000;
/// Smallest `--max-memory`: below one MiB not even a small layer's Gram matrix fits.
pub const MIN_MAX_MEMORY: usize = 1 << 20;

impl Options {
    /// Check every numeric option against its bounds, so that a mistyped value is a clear
    /// error up front rather than a panic (capacity overflow), an abort or a run of hours.
    /// The command line and the Python options both call this; so does
    /// [`crate::analyze_source`], for any other caller.
    pub fn validate(&self) -> Result<()> {
        fn out_of(name: &str, v: impl std::fmt::Display, range: &str) -> Error {
            Error::Usage(format!("{name} = {v} is out of range: {range}"))
        }
        if let Some(t) = self.threads {
            if !(1..=MAX_THREADS).contains(&t) {
                return Err(out_of("threads", t, &format!("1 to {MAX_THREADS}")));
            }
        }
        if self.bootstrap > MAX_BOOTSTRAP {
            let range = format!("0 (off) to {MAX_BOOTSTRAP} replicates");
            return Err(out_of("bootstrap", self.bootstrap, &range));
        }
        if !(1..=MAX_SHUFFLES).contains(&self.shuffles) {
            let range = format!("1 to {MAX_SHUFFLES}");
            return Err(out_of("shuffles", self.shuffles, &range));
        }
        if let Some(m) = self.max_memory {
            if m < MIN_MAX_MEMORY {
                return Err(out_of("max_memory", m, "at least 1M (1048576 bytes)"));
            }
        }
        let l = &self.layers;
        if let Some(max) = l.max_evals {
            if max < l.min_evals {
                return Err(Error::Usage(format!(
                    "max_evals = {max} is below min_evals = {}: no layer could be analysed",
                    l.min_evals
                )));
            }
        }
        if l.max_n == Some(0) {
            return Err(out_of("max_n", 0, "at least 1"));
        }
        if !(self.tolerance.is_finite() && self.tolerance >= 0.0) {
            return Err(out_of("tolerance", self.tolerance, "a finite value ≥ 0"));
        }
        Ok(())
    }

    /// The working precision of a layer: [`Options::precision`], except that layers more
    /// square than [`F32_MIN_Q`] stay in f64.
    pub fn precision_for(&self, plan: &LayerPlan) -> Precision {
        match self.precision {
            Precision::F32 if plan.q() < F32_MIN_Q => Precision::F64,
            p => p,
        }
    }
}

/// Which ESD estimators to report: the whole ESD's (always), and FARMS's beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum EsdEstimator {
    /// The ESD of the whole matrix only.
    #[default]
    Full,
    /// Also α of the pooled ESD of fixed-aspect-ratio submatrices (the `farms` columns).
    Farms,
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
