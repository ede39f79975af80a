//! Splitting an analysis into shares for several machines (`analyze --shard i/n`, the Python
//! package's Ray executor): every worker plans the same layers and computes the same partition
//! by itself, with no coordinator, so the partition must be a pure function of the plan. Each
//! share's rows go into a [`Part`], and [`merge`] joins the parts of all shares into the
//! report a single run would have made, row for row and bit for bit.
//!
//! A part holds what the merge must check (the checkpoint's identity, the options, the share)
//! and the share's rows as the --resume journal writes them (serde_json with
//! `float_roundtrip`: every f64 reads back to the same bits), each with its index among the
//! layers to analyse, so that the merge restores the single run's row order.

use crate::formats::Identity;
use crate::layers::LayerPlan;
use crate::summary::summarize;
use crate::{Error, LayerResult, Options, Report, Result, SkippedLayer};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// The version of the part format, `weightscope_part` in the file.
pub const PART_FORMAT: u32 = 1;

/// A layer's key: its layer id and slice id (the rows of a split tensor share a layer id).
pub type Key = (usize, Option<usize>);

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

/// Share `index` of `count`, counting from 0 (as `SLURM_ARRAY_TASK_ID` with `--array=0-N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Share `index` of `count`, refused unless 0 ≤ index < count.
    pub fn new(index: usize, count: usize) -> Result<Shard> {
        if count == 0 {
            return Err(Error::Usage(
                "the number of shares must be at least 1".to_string(),
            ));
        }
        if index >= count {
            return Err(Error::Usage(format!(
                "share {index}/{count}: shares count from 0, so index < count (0/{count} … \
                 {}/{count})",
                count - 1
            )));
        }
        Ok(Shard { index, count })
    }
}

/// Parse `I/N` with 0 ≤ I < N.
pub fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("'{s}' is not I/N (e.g. 0/4)"))?;
    let index: usize = i
        .trim()
        .parse()
        .map_err(|_| format!("'{i}' in '{s}' is not a share index (0, 1, …)"))?;
    let count: usize = n
        .trim()
        .parse()
        .map_err(|_| format!("'{n}' in '{s}' is not a number of shares"))?;
    if count == 0 {
        return Err(format!("'{s}': the number of shares must be at least 1"));
    }
    if index >= count {
        return Err(format!(
            "'{s}': shares count from 0, so I/N needs I < N (0/{count} … {}/{count}, as \
             SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT with --array=0-{})",
            count - 1,
            count - 1
        ));
    }
    Ok(Shard { index, count })
}

/// One share of a sharded run, as every worker computes it from the plan.
pub struct Share {
    pub shard: Shard,
    /// The layers of this share.
    pub mine: HashSet<Key>,
    /// Every layer to analyse, by its index among them (the order of a single run's rows).
    pub index: HashMap<Key, usize>,
    /// How many layers all the shares analyse together.
    pub total: usize,
    /// The estimated flops of this share's layers (the progress bar's measure).
    pub flops: f64,
}

impl Share {
    /// Share `shard` of the layers of `plans` (see [`partition`]).
    pub fn new(plans: &[LayerPlan], shard: Shard) -> Share {
        let shares = partition(plans, shard.count);
        let todo: Vec<&LayerPlan> = plans.iter().filter(|p| p.skip.is_none()).collect();
        let keys: Vec<Key> = todo.iter().map(|p| (p.layer_id, p.slice_id)).collect();
        let flops = todo
            .iter()
            .zip(&shares)
            .filter(|(_, &s)| s == shard.index)
            .map(|(p, _)| p.flops())
            .sum();
        Share {
            shard,
            mine: keys
                .iter()
                .zip(&shares)
                .filter(|(_, &s)| s == shard.index)
                .map(|(k, _)| *k)
                .collect(),
            index: keys.iter().enumerate().map(|(i, k)| (*k, i)).collect(),
            total: keys.len(),
            flops,
        }
    }
}

/// One analysed layer of a share.
#[derive(Serialize, Deserialize)]
pub struct PartRow {
    /// The layer's index among all the layers to analyse (the plans with no skip reason).
    pub plan_index: usize,
    pub layer: LayerResult,
}

/// The partial result of one share.
#[derive(Serialize, Deserialize)]
pub struct Part {
    pub weightscope_part: u32,
    /// The weightscope version that wrote it.
    pub weightscope: String,
    pub shard: Shard,
    /// What was analysed, as given, its format and files (the merged report takes share 0's).
    pub source: String,
    pub format: String,
    pub files: Vec<String>,
    pub identity: Identity,
    pub options: Options,
    /// `--layers` (the filter is not part of the serialised options, but changes the plan).
    pub layers_filter: Option<String>,
    /// How many layers all the shares analyse together.
    pub layers_total: usize,
    pub skipped: Vec<SkippedLayer>,
    pub rows: Vec<PartRow>,
}

impl Part {
    /// The part of `share` from a report of its layers (rows placed by the share's index of
    /// every layer to analyse).
    pub fn new(
        share: &Share,
        report: Report,
        identity: Identity,
        layers_filter: Option<String>,
    ) -> Result<Part> {
        let rows = report
            .layers
            .into_iter()
            .map(|layer| {
                let plan_index = share.index.get(&layer.key()).copied().ok_or_else(|| {
                    Error::Shard(format!("layer {} is not in the plan", layer.longname))
                })?;
                Ok(PartRow { plan_index, layer })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Part {
            weightscope_part: PART_FORMAT,
            weightscope: report.weightscope,
            shard: share.shard,
            source: report.source,
            format: report.format,
            files: report.files,
            identity,
            options: report.options,
            layers_filter,
            layers_total: share.total,
            skipped: report.skipped,
            rows,
        })
    }

    /// The part as the JSON of `analyze --part` (compact).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self)
            .map_err(|e| Error::Shard(format!("cannot serialise the part: {e}")))
    }

    /// Read a part from its JSON; `label` (a file name, a task) names it in errors.
    pub fn from_json(bytes: &[u8], label: &str) -> Result<Part> {
        let json: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::Shard(format!("{label}: not a JSON file: {e}")))?;
        match json.get("weightscope_part").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(PART_FORMAT) => {}
            Some(v) => {
                return Err(Error::Shard(format!(
                    "{label}: a part of format {v}, this weightscope reads format {PART_FORMAT}"
                )))
            }
            None => {
                return Err(Error::Shard(format!(
                    "{label}: not a partial result of `weightscope analyze --shard` (no \
                     weightscope_part field)"
                )))
            }
        }
        serde_json::from_value(json)
            .map_err(|e| Error::Shard(format!("{label}: not a valid partial result: {e}")))
    }
}

/// Join the parts of every share of one run (each with a label naming it in errors: a file,
/// a task) into the report of a single run: refused when a part comes from another
/// checkpoint (other file names, sizes or hashes: copies on other machines may differ in path
/// and time), other options, another version or another number of shares, and when a share
/// is missing or given twice.
pub fn merge(parts: Vec<(String, Part)>) -> Result<Report> {
    let bad = |m: String| Err(Error::Shard(m));
    let Some((a, first)) = parts.first() else {
        return bad("no part to merge".to_string());
    };
    let options_json = |o: &Options| {
        serde_json::to_value(o).map_err(|e| Error::Shard(format!("cannot compare options: {e}")))
    };
    let first_options = options_json(&first.options)?;
    for (b, p) in &parts[1..] {
        if p.weightscope != first.weightscope {
            return bad(format!(
                "{b} was written by weightscope {}, {a} by {}: run every share with the same \
                 version",
                p.weightscope, first.weightscope
            ));
        }
        if !p.identity.same_content(&first.identity) {
            return bad(format!(
                "{b} is a share of another checkpoint than {a} ({})",
                identity_difference(&first.identity, &p.identity)
            ));
        }
        let options = options_json(&p.options)?;
        if options != first_options || p.layers_filter != first.layers_filter {
            return bad(format!(
                "{b} was run with other options than {a} ({})",
                option_difference(&first_options, &options, first, p)
            ));
        }
        if p.shard.count != first.shard.count || p.layers_total != first.layers_total {
            return bad(format!(
                "{b} is share {} but {a} is share {}: all parts must come from one run split \
                 the same way",
                p.shard, first.shard
            ));
        }
    }
    let count = first.shard.count;
    let mut by_share: Vec<Option<&str>> = vec![None; count];
    for (label, p) in &parts {
        if p.shard.index >= count {
            return bad(format!("{label}: share {} does not exist", p.shard));
        }
        if let Some(other) = by_share[p.shard.index] {
            return bad(format!(
                "share {} is given twice: {other} and {label}",
                p.shard
            ));
        }
        by_share[p.shard.index] = Some(label);
    }
    let missing: Vec<String> = (0..count)
        .filter(|&i| by_share[i].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return bad(format!(
            "share(s) {} missing: merge needs the parts of all {count} shares",
            missing.join(", ")
        ));
    }

    let total = first.layers_total;
    let mut rows: Vec<Option<LayerResult>> = vec![None; total];
    let mut share_zero = first;
    for (label, p) in &parts {
        if p.shard.index == 0 {
            share_zero = p;
        }
        for r in &p.rows {
            match rows.get_mut(r.plan_index) {
                Some(slot @ None) => *slot = Some(r.layer.clone()),
                _ => {
                    return bad(format!(
                        "{label}: layer {} (index {}) is not this share's or is in two parts: \
                         the parts are inconsistent",
                        r.layer.longname, r.plan_index
                    ))
                }
            }
        }
    }
    let layers = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.ok_or_else(|| Error::Shard(format!("no part holds layer index {i} of {total}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let z = share_zero;
    Ok(Report {
        weightscope: z.weightscope.clone(),
        source: z.source.clone(),
        format: z.format.clone(),
        files: z.files.clone(),
        options: z.options.clone(),
        summary: summarize(&layers, z.skipped.len()),
        layers,
        skipped: z.skipped.clone(),
    })
}

/// The first file that differs between two identities, for the message.
fn identity_difference(a: &Identity, b: &Identity) -> String {
    if a.files.len() != b.files.len() {
        return format!("{} file(s) against {}", b.files.len(), a.files.len());
    }
    for (x, y) in a.files.iter().zip(&b.files) {
        if x.name != y.name {
            return format!("file '{}' where '{}' was expected", y.name, x.name);
        }
        if x.size != y.size {
            return format!("'{}' has {} bytes, not {}", y.name, y.size, x.size);
        }
        if x.sha256 != y.sha256 {
            return format!("'{}' has other content (SHA-256 of its ends)", y.name);
        }
    }
    "same files".to_string()
}

/// The options that differ between two parts, for the message.
fn option_difference(a: &serde_json::Value, b: &serde_json::Value, pa: &Part, pb: &Part) -> String {
    let mut diffs = Vec::new();
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (k, va) in a {
            let vb = b.get(k).unwrap_or(&serde_json::Value::Null);
            if va != vb {
                diffs.push(format!("{k}: {vb} against {va}"));
            }
        }
    }
    if pa.layers_filter != pb.layers_filter {
        diffs.push(format!(
            "--layers: {:?} against {:?}",
            pb.layers_filter, pa.layers_filter
        ));
    }
    diffs.join(", ")
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
