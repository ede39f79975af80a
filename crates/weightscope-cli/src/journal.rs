//! The journal of `analyze --resume`: beside the --json (or --csv) file,
//! `<file>.partial.jsonl` holds a header line that identifies the run (source, options and the
//! checkpoint's identity: each file's size, modification time and a hash of its header and
//! end), then one finished layer per line, so that an interrupted run can pick up where it
//! stopped.
//!
//! What a resumed run trusts: a journal from other options or another source is refused (the
//! user asked to resume a different run; its journal is left alone). A journal whose
//! checkpoint has been replaced since (other size, time or hash) is stale, not wrong: the run
//! starts over with a warning, as rerunning without `--resume` would. Each reused row must
//! still describe a layer of the checkpoint as planned now (tensor name, shape, kind),
//! otherwise it is dropped and computed again.

use crate::progress::Done;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use weightscope::formats::Identity;
use weightscope::layers::LayerPlan;
use weightscope::{LayerResult, Options};

/// Version of the header; journals of another version are not reused.
const VERSION: u64 = 2;

/// An open journal, rewritten from the rows reused and appended to as layers finish.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

/// The journal's path beside `out` (`<out>.partial.jsonl`).
pub fn path_beside(out: &Path) -> Option<PathBuf> {
    let mut name = out.file_name()?.to_os_string();
    name.push(".partial.jsonl");
    Some(out.with_file_name(name))
}

/// The first line: what the rows were computed from.
pub fn header(source: &str, opts: &Options, identity: &Identity) -> Result<String> {
    Ok(serde_json::to_string(&serde_json::json!({
        "weightscope_journal": VERSION,
        "source": source,
        "options": opts,
        "identity": identity,
    }))?)
}

/// What [`load`] found.
pub struct Loaded {
    /// The rows to reuse.
    pub done: Done,
    /// Why the journal's rows were not reused, or some dropped, for a warning.
    pub notes: Vec<String>,
}

/// The rows of the journal at `path` (none if it does not exist) that can be reused for a run
/// with `header` whose layers are `plans`. An error if the journal was written by a run with
/// other options or of another source; no rows, with a note, if the checkpoint's files have
/// changed since. A line cut short by a crash ends the journal.
pub fn load(path: &Path, header: &str, plans: &[LayerPlan]) -> Result<Loaded> {
    let mut loaded = Loaded {
        done: Done::new(),
        notes: Vec::new(),
    };
    let Ok(file) = File::open(path) else {
        return Ok(loaded);
    };
    let mut lines = BufReader::new(file).lines();
    let first = match lines.next() {
        Some(Ok(h)) => h,
        _ => return Ok(loaded),
    };
    let ours: Value = serde_json::from_str(header)?;
    let theirs: Value = serde_json::from_str(&first).unwrap_or(Value::Null);
    let same = |key: &str| theirs.get(key) == ours.get(key);
    if !same("source") || !same("options") {
        bail!(
            "{}: was written by a run with other options or another model; \
             delete it or run without --resume",
            path.display()
        );
    }
    if !same("weightscope_journal") {
        loaded.notes.push(format!(
            "{}: written by another version of weightscope; starting over",
            path.display()
        ));
        return Ok(loaded);
    }
    if !same("identity") {
        loaded.notes.push(format!(
            "{}: the checkpoint has changed since this journal was written ({}); \
             its rows are discarded and every layer is analysed again",
            path.display(),
            changed_files(&theirs["identity"], &ours["identity"])
        ));
        return Ok(loaded);
    }
    let planned: HashMap<(usize, Option<usize>), &LayerPlan> = plans
        .iter()
        .filter(|p| p.skip.is_none())
        .map(|p| ((p.layer_id, p.slice_id), p))
        .collect();
    let mut dropped = Vec::new();
    for line in lines {
        let Ok(line) = line else { break };
        let Ok(r) = serde_json::from_str::<LayerResult>(&line) else {
            break;
        };
        match planned.get(&r.key()) {
            Some(p) if describes(&r, p) => {
                loaded.done.insert(r.key(), r);
            }
            _ => dropped.push(r.longname),
        }
    }
    if !dropped.is_empty() {
        loaded.notes.push(format!(
            "{}: {} row(s) do not match a layer of the checkpoint (tensor name, shape or \
             kind) and are analysed again: {}",
            path.display(),
            dropped.len(),
            dropped.join(", ")
        ));
    }
    Ok(loaded)
}

/// Whether a journal row is a result for the layer `p`: same tensor, shape and kind.
fn describes(r: &LayerResult, p: &LayerPlan) -> bool {
    r.longname == p.longname
        && r.shape == p.shape
        && r.layer_type == p.kind.map_or("unknown", |k| k.as_str())
        && (r.n, r.m, r.rf) == (p.n, p.m, p.rf)
}

/// The names of the files whose identity differs between two headers' `identity` values.
fn changed_files(old: &Value, new: &Value) -> String {
    let files = |v: &Value| -> Vec<Value> {
        v.get("files")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (old, new) = (files(old), files(new));
    let name = |f: &Value| f["name"].as_str().unwrap_or("?").to_string();
    let mut changed: Vec<String> = new
        .iter()
        .filter(|f| !old.contains(f))
        .map(|f| {
            let before = old.iter().find(|o| o["name"] == f["name"]);
            let what = match before {
                None => "new file".to_string(),
                Some(o) if o["size"] != f["size"] => {
                    format!("size {} → {}", o["size"], f["size"])
                }
                Some(o) if o["sha256"] != f["sha256"] => "other content".to_string(),
                Some(_) => "modified since".to_string(),
            };
            format!("{}: {what}", name(f))
        })
        .collect();
    changed.extend(
        old.iter()
            .filter(|o| !new.iter().any(|f| f["name"] == o["name"]))
            .map(|o| format!("{}: gone", name(o))),
    );
    changed.join("; ")
}

impl Journal {
    /// Start the journal at `path`: the header, then the rows already `done`.
    pub fn create(path: PathBuf, header: &str, done: &Done) -> Result<Journal> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)
            .with_context(|| format!("cannot write the journal {}", path.display()))?;
        writeln!(f, "{header}")?;
        for r in done.values() {
            writeln!(f, "{}", serde_json::to_string(r)?)?;
        }
        f.flush()?;
        Ok(Journal {
            path,
            file: Mutex::new(f),
        })
    }

    /// Append a finished row (best effort: a journal that cannot be written only loses the
    /// ability to resume).
    pub fn record(&self, r: &LayerResult) {
        if let (Ok(mut f), Ok(line)) = (self.file.lock(), serde_json::to_string(r)) {
            let _ = writeln!(f, "{line}");
            let _ = f.flush();
        }
    }

    /// The run is complete: remove the journal.
    pub fn remove(self) {
        drop(self.file);
        let _ = std::fs::remove_file(&self.path);
    }
}
