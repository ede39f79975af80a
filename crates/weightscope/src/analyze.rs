//! The pipeline: plan the layers of a checkpoint, read each tensor (or stream its row
//! panels), compute its ESD and hand it to [`crate::diagnose::diagnose_esd`] — layers spread
//! over a thread pool under the memory gate, results in checkpoint order and identical
//! whatever the number of threads. The data model lives in [`crate::options`],
//! [`crate::result`] and [`crate::summary`].

use crate::diagnose::diagnose_esd;
use crate::diagnose::metrics;
use crate::formats::{self, TensorSource};
use crate::layers::{self, lora, LayerKind, LayerPlan};
use crate::memory::{self, MemoryGate};
use crate::options::Options;
use crate::report::{Description, Report};
use crate::result::{LayerResult, SkippedLayer, Status};
use crate::spectrum::{self, Precision, Solver};
use crate::summary::summarize;
use crate::{Error, Result};
use faer::Mat;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;

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
            let esd = layer_esd(&mats, plan.n, opts.solver, opts.precision_for(plan));
            (mats, esd.map_err(|e| e.to_string()))
        }
        Some(pair) => {
            let (a, b) = lora::factors(pair, &data);
            drop(data);
            // The product itself only for the analyses that need the matrix.
            let mats = if opts.randomize || opts.vectors || opts.farms.is_some() {
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
    if let Some(r) = out_of_range(plan, &evals) {
        return r;
    }
    let norm_n = if opts.normalize { plan.n as f64 } else { 1.0 };
    evals.iter_mut().for_each(|l| *l /= norm_n);
    diagnose_esd(plan, evals, rank_loss, &mats, opts)
}

/// The attention layout of a Hugging Face `config.json`'s text, if it gives one.
pub fn attention_config(text: &str) -> Option<layers::AttentionConfig> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    // Multimodal configs nest the language model's.
    layers::AttentionConfig::from_json(&v).or_else(|| {
        v.get("text_config")
            .and_then(layers::AttentionConfig::from_json)
    })
}

/// Plan the layers of an opened checkpoint, applying the filter. The head layout comes from
/// `opts.layers.attention`, or else the checkpoint's `config.json` (beside its first file,
/// or fetched beside a remote one).
pub fn plan(src: &dyn TensorSource, opts: &Options) -> Vec<LayerPlan> {
    let mut lo = opts.layers.clone();
    if lo.attention.is_none() {
        lo.attention = src.model_config_text().and_then(|t| attention_config(&t));
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

/// Hooks for a long run: rows already finished (from `--resume`), the layers to analyse when
/// this run is one share of a sharded one (`--shard`; the others are left out of the report's
/// rows), and a callback for each finished row (to save it at once, and to drive a progress
/// bar: its second argument is the estimated flops of the layer).
#[derive(Default)]
pub struct Hooks<'a> {
    pub done: HashMap<(usize, Option<usize>), LayerResult>,
    pub only: Option<HashSet<(usize, Option<usize>)>>,
    #[allow(clippy::type_complexity)]
    pub on_layer: Option<&'a (dyn Fn(&LayerResult, f64) + Sync)>,
}

/// Estimated peak working memory of analysing a layer, in bytes, by route (saturating, so a
/// shape declared absurdly large gives a huge estimate, never an overflow):
/// * streamed by row panels ([`streams`]): the Gram matrix, its copy for the eigen-solver,
///   and four panels of `min(N, GRAM_PANEL_ROWS)` rows: the block read, the accumulator's
///   copy, and the reader's buffers for it (the block's stored bytes, and a decoded HDF5
///   chunk or its compressed bytes, each at most 8 bytes an element); measured on a
///   262144 × 640 float32 matrix (bench/stream_memory_formats.py; estimate 49 MiB), a
///   chunked gzip `.weights.h5` peaks 47 MiB above the process's 10 MiB baseline, a
///   contiguous one 35, safetensors 27 (two panels, the estimate before, were 29 MiB);
///   and what the reader holds to serve them (a remote tensor fetched whole);
/// * read whole: the tensor as f64 and the reader's buffer of its stored bytes (an inflated
///   entry of a zip or HDF5 chunk, ≤ 8 bytes an element), the oriented matrices, the Gram
///   matrix and the eigen-solver's copy; an SVD (`--solver svd`, or a rank-deficient layer on
///   `auto`) adds a copy of W and its workspace;
/// * `--randomize` adds the shuffled copy of W and its Gram matrix; `--vectors` the M × M
///   eigenvectors and their workspace.
pub fn layer_memory(plan: &LayerPlan, opts: &Options, src: &dyn TensorSource) -> usize {
    let numel = plan.shape.iter().fold(1usize, |a, &d| a.saturating_mul(d));
    let lora = plan
        .lora
        .as_ref()
        .map_or(0, |_| plan.n.saturating_mul(plan.m));
    let numel = numel.saturating_add(lora);
    let m2 = plan.m.saturating_mul(plan.m);
    let bytes = |elements: usize| elements.saturating_mul(8);
    if streams(plan, opts, src) {
        let panels = 4usize
            .saturating_mul(spectrum::GRAM_PANEL_ROWS.min(plan.n))
            .saturating_mul(plan.m);
        return bytes(3usize.saturating_mul(m2).saturating_add(panels))
            .saturating_add(src.block_cache_bytes(plan.layer_id));
    }
    // Data, reader buffer, matrices; Gram and its copy; an SVD's copy and workspace.
    let mut elements = 3usize
        .saturating_mul(numel)
        .saturating_add(2usize.saturating_mul(m2))
        .saturating_add(numel.saturating_add(m2));
    if opts.randomize {
        elements = elements
            .saturating_add(numel)
            .saturating_add(2usize.saturating_mul(m2));
    }
    if opts.vectors {
        elements = elements.saturating_add(3usize.saturating_mul(m2));
    }
    bytes(elements)
}

/// Whether a layer's Gram matrix is accumulated from panels read one at a time, so the weights
/// are never all in memory: plain 2-D layers (embeddings, projections, either layout) in a
/// format that reads blocks, when no analysis needs the matrix itself (`--randomize`,
/// `--vectors`, `--esd farms`, `--solver svd`). The result is the same bits as the in-memory route (both sum
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
        && opts.farms.is_none()
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
    let mut gram = spectrum::GramBuilder::new(m, opts.precision_for(plan));
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
        // Leading all-zero panels are not summed: they would add only zeros to a Gram matrix
        // that is still all +0.0, which leaves it all +0.0, so the bits are those of the
        // in-memory route, and a tensor declared huge but never written (unallocated HDF5
        // chunks, a deflate bomb of zeros) costs its reading, not N·M² flops.
        if nan + inf == 0 && nonzero {
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
    if let Some(r) = out_of_range(plan, &evals) {
        return Ok(Some(r));
    }
    if opts.solver == Solver::Auto && spectrum::auto_wants_svd(&evals) {
        return Ok(None);
    }
    let rank_loss = evals.len() - metrics::matrix_rank(&evals, plan.n);
    if opts.normalize {
        evals.iter_mut().for_each(|l| *l /= plan.n as f64);
    }
    Ok(Some(diagnose_esd(plan, evals, rank_loss, &[], opts)))
}

/// A size in MiB (GiB from 10 GiB on), for messages.
fn mib(bytes: usize) -> String {
    let mib = bytes as f64 / (1u64 << 20) as f64;
    if mib >= 10240.0 {
        format!("{:.1} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}

/// The error row of a layer whose eigenvalues are beyond what an f64 holds: the weights are
/// scaled before any product (so |w| up to 1e±300 are handled), but λ ≈ N·|w|² itself
/// overflows from |w| ≈ 1e154 and underflows below ≈ 1e-154. Infinite or zero eigenvalues
/// would give meaningless fits, so the layer is an error.
fn out_of_range(plan: &LayerPlan, evals: &[f64]) -> Option<LayerResult> {
    let max = *evals.last()?;
    if max.is_infinite() {
        return Some(LayerResult::error(
            plan,
            "eigenvalues of WᵀW exceed the range of f64 (weights of magnitude ≳ 1e154): \
             no spectrum",
        ));
    }
    (max < f64::MIN_POSITIVE).then(|| {
        LayerResult::error(
            plan,
            "eigenvalues of WᵀW are below the range of f64 (weights of magnitude ≲ 1e-154): \
             no spectrum",
        )
    })
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
    opts.validate()?;
    let plans = plan(src, opts);
    let (mut todo, skipped): (Vec<&LayerPlan>, Vec<&LayerPlan>) =
        plans.iter().partition(|p| p.skip.is_none());
    if let Some(only) = &hooks.only {
        todo.retain(|p| only.contains(&(p.layer_id, p.slice_id)));
    }
    let gate = MemoryGate::new(opts.max_memory.unwrap_or_else(memory::default_cap));
    // A remote reader fetches a streamed tensor whole (one request, not one per panel) when
    // its stored bytes take at most half the cap; the estimate above counts them.
    src.limit_block_cache(gate.limit() / 2);
    let run_one = |p: &LayerPlan| -> LayerResult {
        if let Some(r) = hooks.done.get(&(p.layer_id, p.slice_id)) {
            return r.clone();
        }
        let need = layer_memory(p, opts, src);
        let held = gate.acquire(need);
        let result = match held {
            // Refused before anything is read: the layer cannot be done within the cap.
            None => Ok(LayerResult::error(
                p,
                format!(
                    "needs ≈ {} of working memory, over the memory cap of {} \
                     (--max-memory; default 3/4 of available memory)",
                    mib(need),
                    mib(gate.limit())
                ),
            )),
            Some(_) => {
                let streamed = if streams(p, opts, src) {
                    analyze_streamed(src, p, opts).transpose()
                } else {
                    None
                };
                streamed.unwrap_or_else(|| read_layer(src, p).map(|d| analyze_layer(p, d, opts)))
            }
        };
        let r = match result {
            Ok(mut r) => {
                if r.status == Status::Error {
                    let file = &src.tensors()[p.layer_id].file;
                    r.message = formats::Error::tensor(file, &p.longname, r.message).to_string();
                }
                r
            }
            Err(e) => LayerResult::error(p, e.to_string()),
        };
        if let Some(h) = held {
            gate.release(h);
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
