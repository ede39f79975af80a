//! Splitting an analysis into shares for several machines (`analyze --shard i/n`): every
//! worker plans the same layers and computes the same partition by itself, with no
//! coordinator, so the partition must be a pure function of the plan.

use crate::layers::LayerPlan;

/// The share (0..n) of each layer to analyse — the plans with no skip reason, in plan order —
/// balanced by estimated flops ([`LayerPlan::flops`], the progress bar's measure).
///
/// Greedy "largest first" (Graham's LPT rule, within 4/3 of the best makespan): layers by
/// decreasing flops, ties by plan order, each to the share with the least flops so far, ties
/// to the lowest share. The loads are sums of the same f64s in the same order on every
/// machine, so every machine gets the same answer.
pub fn partition(plans: &[LayerPlan], n: usize) -> Vec<usize> {
    let todo: Vec<&LayerPlan> = plans.iter().filter(|p| p.skip.is_none()).collect();
    let n = n.max(1);
    let mut order: Vec<usize> = (0..todo.len()).collect();
    order.sort_by(|&a, &b| todo[b].flops().total_cmp(&todo[a].flops()).then(a.cmp(&b)));
    let mut load = vec![0.0f64; n];
    let mut share = vec![0; todo.len()];
    for i in order {
        let least = (0..n)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .unwrap_or(0);
        share[i] = least;
        load[least] += todo[i].flops();
    }
    share
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::{DType, TensorInfo};
    use crate::layers::{plan_layers, LayerOptions};
    use std::path::PathBuf;

    fn plans(shapes: &[[usize; 2]]) -> Vec<LayerPlan> {
        let tensors: Vec<TensorInfo> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| TensorInfo {
                name: format!("l{i}.weight"),
                shape: s.to_vec(),
                dtype: DType::F32,
                file: PathBuf::from("m.safetensors"),
                problem: None,
                role: None,
            })
            .collect();
        plan_layers(&tensors, &LayerOptions::default())
    }

    #[test]
    fn largest_first_to_the_least_loaded_share() {
        // flops N·M² + 4/3·M³ with N = M: 7/3·M³; by M: 40 > 30 > 20 = 20 > 10.
        let p = plans(&[[20, 20], [40, 40], [10, 10], [30, 30], [20, 20]]);
        // Loads in units of 7/3: 40 → share 0 [64000, 0]; 30 → 1 [64000, 27000]; the first
        // 20 → 1 [64000, 35000]; the second 20 → 1 [64000, 43000]; 10 → 1 [64000, 44000].
        assert_eq!(partition(&p, 2), vec![1, 0, 1, 1, 1]);
        assert_eq!(partition(&p, 1), vec![0; 5]);
        // More shares than layers: one layer each, the last shares empty.
        assert_eq!(partition(&p, 7), vec![2, 0, 4, 1, 3]);
    }

    #[test]
    fn skipped_layers_get_no_share() {
        // A 4×4 matrix has M = 4 < 8 eigenvalues (min_evals): skipped, no share.
        let p = plans(&[[4, 4], [20, 20], [10, 10]]);
        assert!(p[0].skip.is_some());
        assert_eq!(partition(&p, 2), vec![0, 1]);
    }
}
