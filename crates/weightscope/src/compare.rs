//! Across checkpoints and models (paper §2.2, §6, §7): a series of checkpoints tracked layer by
//! layer, ensembles of runs pooled into one ESD per layer (§6.1), a fine-tuned model against its
//! base (metric deltas and the ESD of ΔW), and several models ranked by their summary metrics
//! against reported accuracies.

use crate::analyze::{
    analyze_layer, analyze_source, read_layer, Hooks, LayerResult, Options, Report,
};
use crate::diagnose::randomization::esd_distance;
use crate::fit::marchenko_pastur::fit_marchenko_pastur;
use crate::fit::{fit_power_law, MpFit, PowerLawFit};
use crate::formats;
use crate::layers::{plan_layers, LayerPlan};
use crate::lora;
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

/// One layer pooled over an ensemble of runs.
#[derive(Debug, Clone, Serialize)]
pub struct EnsembleRow {
    pub longname: String,
    pub runs: usize,
    pub num_evals: usize,
    pub alpha: Option<f64>,
    pub xmin: Option<f64>,
    #[serde(rename = "D")]
    pub d: Option<f64>,
    pub lambda_max: f64,
    pub mp: Option<MpFit>,
}

/// Pool the ESDs of each layer over several runs (files) of the same architecture, as the paper
/// does with N_R = 10 runs to average out finite-size effects (§6.1), and fit the pooled ESD.
/// Layers are matched by name; a layer missing from a run is left out.
pub fn ensemble(paths: &[PathBuf], opts: &Options) -> Result<Vec<EnsembleRow>> {
    let mut o = opts.clone();
    o.keep_esd = true;
    let mut pooled: Vec<(String, usize, usize, f64, Vec<f64>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for p in paths {
        let src = formats::open(p)?;
        let r = analyze_source(src.as_ref(), &p.display().to_string(), &o, Hooks::default())?;
        for l in r.layers {
            let Some(esd) = l.esd else { continue };
            let i = *index.entry(l.longname.clone()).or_insert_with(|| {
                pooled.push((l.longname.clone(), 0, l.m, l.q, Vec::new()));
                pooled.len() - 1
            });
            pooled[i].1 += 1;
            pooled[i].4.extend(esd);
        }
    }
    Ok(pooled
        .into_iter()
        .filter(|x| x.1 == paths.len())
        .map(|(longname, runs, m, q, mut ev)| {
            ev.sort_by(f64::total_cmp);
            let first = ev.partition_point(|&l| l <= crate::diagnose::metrics::EVALS_THRESH);
            let fit: Option<PowerLawFit> = fit_power_law(&ev[first..], opts.pl_method);
            EnsembleRow {
                longname,
                runs,
                num_evals: ev.len(),
                alpha: fit.map(|f| f.alpha),
                xmin: fit.map(|f| f.xmin),
                d: fit.map(|f| f.d),
                lambda_max: ev.last().copied().unwrap_or(f64::NAN),
                mp: fit_marchenko_pastur(&ev, q, m, opts.mp_method),
            }
        })
        .collect())
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
    fn diff(a: Option<f64>, b: Option<f64>) -> Option<f64> {
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
