//! The journal of `analyze --resume`: beside the --json (or --csv) file,
//! `<file>.partial.jsonl` holds a header line that identifies the run (source and options),
//! then one finished layer per line, so that an interrupted run can pick up where it stopped.

use crate::progress::Done;
use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use weightscope::{LayerResult, Options};

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
pub fn header(source: &str, opts: &Options) -> Result<String> {
    Ok(serde_json::to_string(&serde_json::json!({
        "weightscope_journal": 1,
        "source": source,
        "options": opts,
    }))?)
}

/// The rows of the journal at `path` (none if it does not exist); an error if it was written
/// by another run (another `header`). A line cut short by a crash ends the journal.
pub fn load(path: &Path, header: &str) -> Result<Done> {
    let mut done = Done::new();
    let Ok(file) = File::open(path) else {
        return Ok(done);
    };
    let mut lines = BufReader::new(file).lines();
    match lines.next() {
        Some(Ok(h)) if h == header => {}
        Some(_) => bail!(
            "{}: was written by a run with other options or another model; \
             delete it or run without --resume",
            path.display()
        ),
        None => return Ok(done),
    }
    for line in lines {
        let Ok(line) = line else { break };
        let Ok(r) = serde_json::from_str::<LayerResult>(&line) else {
            break;
        };
        done.insert(r.key(), r);
    }
    Ok(done)
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
