//! Across checkpoints and models (paper §2.2, §6, §7): a series of checkpoints tracked layer by
//! layer, ensembles of runs pooled into one ESD per layer (§6.1), a fine-tuned model against its
//! base (metric deltas and the ESD of ΔW), and several models ranked by their summary metrics
//! against reported accuracies.

use crate::analyze::{analyze_layer, analyze_source, plan, read_layer, Hooks};
use crate::diagnose::diagnose_esd;
use crate::diagnose::randomization::esd_distance;
use crate::formats;
use crate::layers::lora;
use crate::layers::{plan_layers, LayerPlan};
use crate::options::Options;
use crate::report::Report;
use crate::result::LayerResult;
use crate::summary::summarize;
use crate::{Error, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The last integer in a file or folder name ("checkpoint-1200" → 1200, "epoch_05.pt" → 5).
pub fn step_of(path: &Path) -> Option<u64> {
    let name = path.file_stem()?.to_string_lossy().into_owned();
    let mut best = None;
    let mut cur = String::new();
    for c in name.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_digit() {
            cur.push(c);
        } else if !cur.is_empty() {
            best = cur.parse().ok();
            cur.clear();
        }
    }
    best
}

/// Order checkpoints by the step number in their names when every name has one (stable for
/// ties), else keep the given order.
pub fn order_checkpoints(mut paths: Vec<PathBuf>) -> Vec<(PathBuf, Option<u64>)> {
    let steps: Vec<Option<u64>> = paths.iter().map(|p| step_of(p)).collect();
    if steps.iter().all(Option::is_some) {
        let mut pairs: Vec<(PathBuf, Option<u64>)> = paths.drain(..).zip(steps).collect();
        pairs.sort_by_key(|(_, s)| *s);
        pairs
    } else {
        paths.into_iter().map(|p| (p, None)).collect()
    }
}

/// Analyse each checkpoint of a series, in order. A checkpoint that cannot be read is an
/// error naming it (the others are not lost: the caller gets all reports or the first error).
pub fn track(paths: Vec<PathBuf>, opts: &Options) -> Result<Vec<(PathBuf, Option<u64>, Report)>> {
    order_checkpoints(paths)
        .into_iter()
        .map(|(p, step)| {
            let src = formats::open(&p)?;
            let r = analyze_source(
                src.as_ref(),
                &p.display().to_string(),
                opts,
                Hooks::default(),
            )?;
            Ok((p, step, r))
        })
        .collect()
}

/// Layers pooled over an ensemble of runs: one row per layer whose ESD is the union of the
/// runs' ESDs, with every column of [`LayerResult`] computed on that pooled ESD (the MP fit
/// and phase too when asked), and the spread of the runs' own α around it.
#[derive(Debug, Clone, Serialize)]
pub struct Ensemble {
    /// The runs, in the order given.
    pub runs: Vec<String>,
    /// The pooled layers as a report (`layers[i].runs` = the runs pooled), so the tables and
    /// plots of a single model draw it.
    pub report: Report,
    /// Per pooled layer (same order as `report.layers`): mean and standard deviation over the
    /// runs of each run's own α (runs whose fit failed left out).
    pub run_alpha: Vec<(Option<f64>, Option<f64>)>,
}

/// Pool the ESDs of each layer over several runs (files) of the same architecture, as the paper
/// does with N_R = 10 runs to average out finite-size effects (§6.1, Figs. 22–24), and fit the
/// pooled ESD. Layers are matched by name (and slice); a layer that is missing, has another
/// shape, or failed in some run is an error row naming the run, never silently dropped.
/// Columns that add over eigenvalues (norms, stable rank, hard rank) are those of the pooled
/// ESD, i.e. sums over the runs; α, D, xmin, λmax, the MP fit and the phase are those of the
/// pooled density.
pub fn ensemble(paths: &[PathBuf], opts: &Options) -> Result<Ensemble> {
    let mut o = opts.clone();
    o.keep_esd = true;
    struct Pool {
        plan: LayerPlan,
        evals: Vec<f64>,
        rank_loss: usize,
        alphas: Vec<f64>,
        runs: usize,
        problem: Option<String>,
    }
    let mut pools: Vec<Pool> = Vec::new();
    let mut index: HashMap<(String, Option<usize>), usize> = HashMap::new();
    let mut skipped = Vec::new();
    for (k, p) in paths.iter().enumerate() {
        let run = p.display().to_string();
        let src = formats::open(p)?;
        let plans = plan(src.as_ref(), &o);
        let r = analyze_source(src.as_ref(), &run, &o, Hooks::default())?;
        if k == 0 {
            skipped = r.skipped;
        }
        for l in r.layers {
            let key = (l.longname.clone(), l.slice_id);
            let i = match index.get(&key) {
                Some(&i) => i,
                None => {
                    let Some(plan) = plans.iter().find(|p| (p.layer_id, p.slice_id) == l.key())
                    else {
                        continue;
                    };
                    pools.push(Pool {
                        plan: plan.clone(),
                        evals: Vec::new(),
                        rank_loss: 0,
                        alphas: Vec::new(),
                        runs: 0,
                        problem: (k > 0).then(|| format!("not in {}", paths[0].display())),
                    });
                    index.insert(key, pools.len() - 1);
                    pools.len() - 1
                }
            };
            let pool = &mut pools[i];
            if pool.problem.is_some() {
                continue;
            }
            if (l.n, l.m, l.rf) != (pool.plan.n, pool.plan.m, pool.plan.rf) {
                pool.problem = Some(format!(
                    "{}×{} (rf {}) in {run}, {}×{} (rf {}) in {}",
                    l.n,
                    l.m,
                    l.rf,
                    pool.plan.n,
                    pool.plan.m,
                    pool.plan.rf,
                    paths[0].display()
                ));
                continue;
            }
            match l.esd {
                Some(esd) => {
                    pool.evals.extend(esd);
                    pool.rank_loss += l.rank_loss.unwrap_or(0);
                    pool.alphas.extend(l.alpha);
                    pool.runs += 1;
                }
                None => pool.problem = Some(format!("{run}: {}", l.message)),
            }
        }
    }
    let runs = paths.len();
    let (layers, run_alpha): (Vec<LayerResult>, Vec<_>) = pools
        .into_iter()
        .map(|mut pool| {
            let problem = pool.problem.take().or_else(|| {
                (pool.runs < runs).then(|| format!("in {} of the {runs} runs", pool.runs))
            });
            let mut row = match problem {
                Some(why) => LayerResult::error(&pool.plan, format!("not pooled: {why}")),
                None => {
                    pool.evals.sort_by(f64::total_cmp);
                    diagnose_esd(&pool.plan, pool.evals, pool.rank_loss, &[], opts)
                }
            };
            row.runs = Some(pool.runs);
            (row, mean_std(&pool.alphas))
        })
        .unzip();
    let report = Report {
        weightscope: env!("CARGO_PKG_VERSION").to_string(),
        source: format!("ensemble of {runs} runs"),
        format: "ensemble".to_string(),
        files: paths.iter().map(|p| p.display().to_string()).collect(),
        options: opts.clone(),
        summary: summarize(&layers, skipped.len()),
        layers,
        skipped,
    };
    Ok(Ensemble {
        runs: report.files.clone(),
        report,
        run_alpha,
    })
}

/// Mean and (sample) standard deviation; `None` for an empty sample, no deviation for one.
fn mean_std(x: &[f64]) -> (Option<f64>, Option<f64>) {
    if x.is_empty() {
        return (None, None);
    }
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let sd =
        (x.len() > 1).then(|| (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    (Some(m), sd)
}

/// A layer of a fine-tuned model against the same layer of its base.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub longname: String,
    pub base: LayerResult,
    pub tuned: LayerResult,
    /// The layer ΔW = W_tuned − W_base, analysed like any layer (weightwatcher's delta mode).
    pub delta: LayerResult,
    /// JS distance between the base and tuned ESD densities (log10 λ histograms).
    pub esd_distance: f64,
}

impl CompareRow {
    /// b − a, when both are there.
    pub fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
        Some(b? - a?)
    }
    pub fn d_alpha(&self) -> Option<f64> {
        Self::diff(self.base.alpha, self.tuned.alpha)
    }
    pub fn d_alpha_weighted(&self) -> Option<f64> {
        Self::diff(self.base.alpha_weighted, self.tuned.alpha_weighted)
    }
    pub fn d_lambda_max(&self) -> Option<f64> {
        Self::diff(self.base.lambda_max, self.tuned.lambda_max)
    }
    pub fn d_log_spectral_norm(&self) -> Option<f64> {
        Self::diff(self.base.log_spectral_norm, self.tuned.log_spectral_norm)
    }
}

/// Compare a fine-tuned checkpoint with its base, layer by layer (matched by tensor name and
/// shape; unmatched layers are listed by the caller from the two reports).
pub fn compare(base: &Path, tuned: &Path, opts: &Options) -> Result<Vec<CompareRow>> {
    let (sb, st) = (formats::open(base)?, formats::open(tuned)?);
    let mut o = opts.clone();
    o.keep_esd = true;
    let rb = analyze_source(
        sb.as_ref(),
        &base.display().to_string(),
        &o,
        Hooks::default(),
    )?;
    let rt = analyze_source(
        st.as_ref(),
        &tuned.display().to_string(),
        &o,
        Hooks::default(),
    )?;
    let tuned_plans = plan_layers(st.tensors(), &o.layers);
    let by_name: HashMap<&str, &LayerResult> =
        rt.layers.iter().map(|l| (l.longname.as_str(), l)).collect();
    let mut rows = Vec::new();
    for b in &rb.layers {
        let Some(t) = by_name.get(b.longname.as_str()) else {
            continue;
        };
        if b.shape != t.shape || b.slice_id != t.slice_id {
            continue;
        }
        let plan = tuned_plans
            .iter()
            .find(|p| p.layer_id == t.layer_id && p.slice_id == t.slice_id)
            .ok_or_else(|| Error::Usage(format!("no plan for {}", t.longname)))?;
        // LoRA rows: ΔW is the difference of the two products B·A (of rank up to 2r).
        let full = |src: &dyn formats::TensorSource| -> Result<Vec<f64>> {
            let data = read_layer(src, plan)?;
            Ok(match &plan.lora {
                Some(pair) => lora::product_row_major(pair, &data),
                None => data,
            })
        };
        let (wb, wt) = (full(sb.as_ref())?, full(st.as_ref())?);
        let delta: Vec<f64> = wt.iter().zip(&wb).map(|(x, y)| x - y).collect();
        let delta_plan = LayerPlan {
            lora: None,
            num_evals: plan.m,
            ..plan.clone()
        };
        let mut d = analyze_layer(&delta_plan, delta, &o);
        d.esd = None;
        let dist = match (&b.esd, &t.esd) {
            (Some(x), Some(y)) => esd_distance(x, y),
            _ => f64::NAN,
        };
        let (mut b, mut t) = (b.clone(), (*t).clone());
        b.esd = None;
        t.esd = None;
        rows.push(CompareRow {
            longname: b.longname.clone(),
            base: b,
            tuned: t,
            delta: d,
            esd_distance: dist,
        });
    }
    Ok(rows)
}

/// Pearson correlation of two equal-length samples (NaN if either is constant).
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

/// Ranks with ties sharing their mean rank (1-based).
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && x[idx[j + 1]] == x[idx[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman rank correlation (Pearson of the ranks, ties averaged).
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    pearson(&ranks(x), &ranks(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_from_names() {
        assert_eq!(step_of(Path::new("run/checkpoint-1200")), Some(1200));
        assert_eq!(step_of(Path::new("epoch_05.safetensors")), Some(5));
        assert_eq!(step_of(Path::new("final.safetensors")), None);
        let o = order_checkpoints(vec!["e10.pt".into(), "e2.pt".into(), "e1.pt".into()]);
        assert_eq!(
            o.iter().map(|x| x.1.unwrap()).collect::<Vec<_>>(),
            vec![1, 2, 10]
        );
        let o = order_checkpoints(vec!["b.pt".into(), "a1.pt".into()]);
        assert_eq!(o[0].0, PathBuf::from("b.pt"));
    }

    #[test]
    fn correlations_hand_computed() {
        let x = [1.0, 2.0, 3.0, 4.0];
        assert!((pearson(&x, &[2.0, 4.0, 6.0, 8.0]) - 1.0).abs() < 1e-15);
        assert!((pearson(&x, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-15);
        // Monotone but not linear: Spearman 1, Pearson < 1.
        let y = [1.0, 8.0, 27.0, 64.0];
        assert!((spearman(&x, &y) - 1.0).abs() < 1e-15);
        assert!(pearson(&x, &y) < 0.99);
        // Ties get mean ranks: ranks of [1,1,2] are [1.5,1.5,3].
        assert_eq!(ranks(&[1.0, 1.0, 2.0]), vec![1.5, 1.5, 3.0]);
    }
}
