//! The partial result of one share of a sharded run (`analyze --shard I/N --part FILE`), and
//! the join of all shares (`merge`) into the report a single run would have made.
//!
//! A part holds what the merge must check (the checkpoint's identity, the options, the share)
//! and the share's rows as the --resume journal writes them (serde_json with
//! `float_roundtrip`: every f64 reads back to the same bits), each with its index among the
//! layers to analyse, so that the merge restores the single run's row order.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use weightscope::formats::Identity;
use weightscope::summary::summarize;
use weightscope::{LayerResult, Options, Report, SkippedLayer};

/// The version of the part format, `weightscope_part` in the file.
const PART_FORMAT: u32 = 1;

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
    /// The part of `shard` from a report of its layers; `plan_index` maps a row's (layer id,
    /// slice id) to its index among all the layers to analyse.
    pub fn new(
        shard: Shard,
        report: Report,
        identity: Identity,
        layers_filter: Option<String>,
        layers_total: usize,
        plan_index: impl Fn(&LayerResult) -> Option<usize>,
    ) -> Result<Part> {
        let rows = report
            .layers
            .into_iter()
            .map(|layer| {
                let plan_index = plan_index(&layer)
                    .with_context(|| format!("layer {} is not in the plan", layer.longname))?;
                Ok(PartRow { plan_index, layer })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Part {
            weightscope_part: PART_FORMAT,
            weightscope: report.weightscope,
            shard,
            source: report.source,
            format: report.format,
            files: report.files,
            identity,
            options: report.options,
            layers_filter,
            layers_total,
            skipped: report.skipped,
            rows,
        })
    }

    /// Read a part file.
    pub fn read(path: &Path) -> Result<Part> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("{}: not a JSON file", path.display()))?;
        match json.get("weightscope_part").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(PART_FORMAT) => {}
            Some(v) => bail!(
                "{}: a part of format {v}, this weightscope reads format {PART_FORMAT}",
                path.display()
            ),
            None => bail!(
                "{}: not a partial result of `weightscope analyze --shard` (no \
                 weightscope_part field)",
                path.display()
            ),
        }
        serde_json::from_value(json)
            .with_context(|| format!("{}: not a valid partial result", path.display()))
    }
}

/// Join the parts of every share of one run into the report of a single run: refused when a
/// part comes from another checkpoint (other file names, sizes or hashes: copies on other
/// machines may differ in path and time), other options, another version or another number
/// of shares, and when a share is missing or given twice.
pub fn merge(parts: Vec<(PathBuf, Part)>) -> Result<Report> {
    let Some((first_path, first)) = parts.first() else {
        bail!("no part to merge");
    };
    let shown = |p: &Path| p.display().to_string();
    let (a, first_options) = (shown(first_path), serde_json::to_value(&first.options)?);
    for (path, p) in &parts[1..] {
        let b = shown(path);
        if p.weightscope != first.weightscope {
            bail!(
                "{b} was written by weightscope {}, {a} by {}: run every share with the same \
                 version",
                p.weightscope,
                first.weightscope
            );
        }
        if !p.identity.same_content(&first.identity) {
            bail!(
                "{b} is a share of another checkpoint than {a} ({})",
                identity_difference(&first.identity, &p.identity)
            );
        }
        let options = serde_json::to_value(&p.options)?;
        if options != first_options || p.layers_filter != first.layers_filter {
            bail!(
                "{b} was run with other options than {a} ({})",
                option_difference(&first_options, &options, first, p)
            );
        }
        if p.shard.count != first.shard.count || p.layers_total != first.layers_total {
            bail!(
                "{b} is share {} but {a} is share {}: all parts must come from one run split \
                 the same way",
                p.shard,
                first.shard
            );
        }
    }
    let count = first.shard.count;
    let mut by_share: Vec<Option<&Path>> = vec![None; count];
    for (path, p) in &parts {
        if p.shard.index >= count {
            bail!("{}: share {} does not exist", path.display(), p.shard);
        }
        if let Some(other) = by_share[p.shard.index] {
            bail!(
                "share {} is given twice: {} and {}",
                p.shard,
                other.display(),
                path.display()
            );
        }
        by_share[p.shard.index] = Some(path);
    }
    let missing: Vec<String> = (0..count)
        .filter(|&i| by_share[i].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "share(s) {} missing: merge needs the parts of all {count} shares",
            missing.join(", ")
        );
    }

    let total = first.layers_total;
    let mut rows: Vec<Option<LayerResult>> = vec![None; total];
    let mut share_zero = first;
    for (path, p) in &parts {
        if p.shard.index == 0 {
            share_zero = p;
        }
        for r in &p.rows {
            match rows.get_mut(r.plan_index) {
                Some(slot @ None) => *slot = Some(r.layer.clone()),
                _ => bail!(
                    "{}: layer {} (index {}) is not this share's or is in two parts: the parts \
                     are inconsistent",
                    path.display(),
                    r.layer.longname,
                    r.plan_index
                ),
            }
        }
    }
    let layers = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.with_context(|| format!("no part holds layer index {i} of {total}")))
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
