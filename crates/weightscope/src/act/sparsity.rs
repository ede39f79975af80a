//! AlphaPruning's layer-wise sparsity (Lu et al., NeurIPS 2024, §3.2 "allocation
//! function"; reference code `lib/prune.py`, `ww_sparsity`, haiquanlu/AlphaPruning at
//! 5f0e984).
//!
//! Layers with a heavier-tailed ESD (smaller α) are better trained and are pruned less. Each
//! layer's metric q_i is mapped linearly onto [1−ε, 1+ε] (smallest α → 1−ε, largest → 1+ε),
//! and all the factors are then scaled by one constant so that the parameter-weighted mean
//! sparsity equals the target S:
//!
//!   φ_i = (q_i − q_min)/(q_max − q_min)·((1+ε) − (1−ε)) + (1−ε)
//!   s_i = φ_i · S·Σ_j p_j / Σ_j p_j φ_j
//!
//! With block grouping (the reference's default `mapping_type = block_wise`), each layer's
//! metric is first replaced by the plain (unweighted) mean of the metrics of its transformer
//! block.
//!
//! As in the reference, the ratios are not clipped: with a high target and a wide ε a ratio
//! can pass 1 (the caller is told, see [`SparsityOptions::check`]).

use crate::{Error, Result};
use std::collections::BTreeMap;

/// The parameters of the allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SparsityOptions {
    /// The parameter-weighted mean sparsity, in [0, 1).
    pub target: f64,
    /// Half-width of the map around 1 (the reference's `--epsilon`, default 0.3), in [0, 1).
    pub epsilon: f64,
}

impl Default for SparsityOptions {
    fn default() -> Self {
        SparsityOptions {
            target: 0.5,
            epsilon: 0.3,
        }
    }
}

impl SparsityOptions {
    /// A usage error if the target or ε is out of range.
    pub fn check(&self) -> Result<()> {
        if !(0.0..1.0).contains(&self.target) {
            return Err(Error::Usage(format!(
                "sparsity target {} is not in [0, 1)",
                self.target
            )));
        }
        if !(0.0..1.0).contains(&self.epsilon) {
            return Err(Error::Usage(format!(
                "sparsity epsilon {} is not in [0, 1)",
                self.epsilon
            )));
        }
        Ok(())
    }
}

/// The transformer block of a layer name: the name up to its first purely numeric dotted
/// component (`model.layers.12.mlp.up_proj.weight` → `model.layers.12`); None for names
/// without one (embeddings, the head).
pub fn block_of(name: &str) -> Option<&str> {
    let mut pos = 0;
    for part in name.split('.') {
        pos += part.len();
        if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            return Some(&name[..pos]);
        }
        pos += 1; // the dot
    }
    None
}

/// A group index per layer name for [`sparsity_ratios`]: its [`block_of`], numbered in order
/// of first appearance; a name outside any block is a group of its own.
pub fn block_groups<S: AsRef<str>>(names: &[S]) -> Vec<usize> {
    let mut ids: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    let mut next = 0;
    names
        .iter()
        .map(|name| {
            let key = block_of(name.as_ref());
            let id = match key {
                Some(_) => *ids.entry(key).or_insert(next),
                None => next,
            };
            if id == next {
                next += 1;
            }
            id
        })
        .collect()
}

/// The sparsity ratio of each layer from its metric (α) and parameter count; `groups` (one id
/// per layer, e.g. from [`block_groups`]) averages the metric per group first.
///
/// If every (grouped) metric is equal the map has no slope: every layer gets the target (the
/// reference divides 0 by 0 there and returns NaN).
pub fn sparsity_ratios(
    metrics: &[f64],
    params: &[u64],
    groups: Option<&[usize]>,
    opts: &SparsityOptions,
) -> Result<Vec<f64>> {
    opts.check()?;
    if metrics.len() != params.len() {
        return Err(Error::Usage(format!(
            "sparsity: {} metrics for {} parameter counts",
            metrics.len(),
            params.len()
        )));
    }
    if metrics.is_empty() {
        return Err(Error::Usage("sparsity: no layers".into()));
    }
    if let Some(i) = metrics.iter().position(|m| !m.is_finite()) {
        return Err(Error::Usage(format!(
            "sparsity: the metric of layer {i} is {} (not a finite number)",
            metrics[i]
        )));
    }
    if params.iter().all(|&p| p == 0) {
        return Err(Error::Usage(
            "sparsity: the layers have no parameters".into(),
        ));
    }
    let scores = match groups {
        None => metrics.to_vec(),
        Some(g) => {
            if g.len() != metrics.len() {
                return Err(Error::Usage(format!(
                    "sparsity: {} group ids for {} layers",
                    g.len(),
                    metrics.len()
                )));
            }
            group_means(metrics, g)
        }
    };
    let (lo, hi) = scores
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &s| {
            (lo.min(s), hi.max(s))
        });
    if hi == lo {
        return Ok(vec![opts.target; scores.len()]);
    }
    let (s1, s2) = (1.0 - opts.epsilon, 1.0 + opts.epsilon);
    // Same order of operations as the reference, so that the numbers agree to rounding.
    let factors: Vec<f64> = scores
        .iter()
        .map(|&s| ((s - lo) / (hi - lo)) * (s2 - s1) + s1)
        .collect();
    let total: f64 = params.iter().map(|&p| p as f64).sum();
    let weighted: f64 = params
        .iter()
        .zip(&factors)
        .map(|(&p, &f)| p as f64 * f)
        .sum();
    let scaler = total * opts.target / weighted;
    Ok(factors.iter().map(|f| f * scaler).collect())
}

/// Each value replaced by the plain mean of its group (the reference's `np.mean` per block).
fn group_means(values: &[f64], groups: &[usize]) -> Vec<f64> {
    let mut sums: BTreeMap<usize, (f64, usize)> = BTreeMap::new();
    for (&v, &g) in values.iter().zip(groups) {
        let e = sums.entry(g).or_insert((0.0, 0));
        e.0 += v;
        e.1 += 1;
    }
    groups
        .iter()
        .map(|g| {
            let (s, n) = sums[g];
            s / n as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_of_a_name_is_its_prefix_to_the_first_index() {
        let names = [
            "model.embed_tokens.weight",
            "model.layers.0.self_attn.q_proj.weight",
            "model.layers.0.mlp.up_proj.weight",
            "model.layers.1.self_attn.q_proj.weight",
            "model.layers.10.mlp.down_proj.weight",
            "lm_head.weight",
        ];
        assert_eq!(block_groups(&names), vec![0, 1, 1, 2, 3, 4]);
    }

    #[test]
    fn two_layers_by_hand() {
        // α = (2, 4), p = (1, 3), S = 0.5, ε = 0.25: φ = (0.75, 1.25);
        // scaler = 0.5·4 / (0.75 + 3.75) = 4/9; s = (1/3, 5/9).
        let opts = SparsityOptions {
            target: 0.5,
            epsilon: 0.25,
        };
        let s = sparsity_ratios(&[2.0, 4.0], &[1, 3], None, &opts).unwrap();
        assert!((s[0] - 1.0 / 3.0).abs() < 1e-15, "{s:?}");
        assert!((s[1] - 5.0 / 9.0).abs() < 1e-15, "{s:?}");
    }

    #[test]
    fn equal_metrics_give_the_target_everywhere() {
        let s = sparsity_ratios(&[3.0; 4], &[5, 6, 7, 8], None, &Default::default()).unwrap();
        assert_eq!(s, vec![0.5; 4]);
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        let o = SparsityOptions::default();
        assert!(sparsity_ratios(&[1.0], &[1, 2], None, &o).is_err());
        assert!(sparsity_ratios(&[f64::NAN, 1.0], &[1, 2], None, &o).is_err());
        let bad = SparsityOptions {
            target: 1.0,
            epsilon: 0.3,
        };
        assert!(sparsity_ratios(&[1.0, 2.0], &[1, 2], None, &bad).is_err());
    }
}
