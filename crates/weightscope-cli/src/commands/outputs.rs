//! Output paths, checked before any work: a run of an hour must not fail at its end because
//! `--csv` names a folder or a file in a folder that does not exist, nor write two outputs to
//! one path (the second silently replacing the first).

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// An output a command will write: a file, or a folder it creates if missing.
pub enum Output<'a> {
    File(&'static str, &'a Path),
    Folder(&'static str, &'a Path),
}

impl Output<'_> {
    fn option(&self) -> &'static str {
        match self {
            Output::File(o, _) | Output::Folder(o, _) => o,
        }
    }

    fn path(&self) -> &Path {
        match self {
            Output::File(_, p) | Output::Folder(_, p) => p,
        }
    }
}

/// Usage errors for outputs that cannot be written: a file that is an existing folder, a file
/// in a folder that does not exist, a folder that is an existing file, and one path given to
/// two outputs.
pub fn check(outputs: &[Output<'_>]) -> Result<()> {
    for o in outputs {
        let (option, path) = (o.option(), o.path());
        match o {
            Output::File(..) => {
                if path.is_dir() {
                    bail!("{option} {}: is a folder, not a file", path.display());
                }
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    if !parent.is_dir() {
                        bail!(
                            "{option} {}: the folder {} does not exist",
                            path.display(),
                            parent.display()
                        );
                    }
                }
            }
            Output::Folder(..) => {
                if path.exists() && !path.is_dir() {
                    bail!("{option} {}: is a file, not a folder", path.display());
                }
            }
        }
    }
    for (i, a) in outputs.iter().enumerate() {
        for b in &outputs[..i] {
            if same_path(a.path(), b.path()) {
                bail!(
                    "{} and {} name the same path {}: each output needs its own",
                    b.option(),
                    a.option(),
                    a.path().display()
                );
            }
        }
    }
    Ok(())
}

/// Whether two paths name one file: the same name in the same folder, however spelled
/// (`x.csv`, `./x.csv`, `dir/../x.csv`, or through a link to the folder).
fn same_path(a: &Path, b: &Path) -> bool {
    resolved(a) == resolved(b)
}

/// `path` with its folder resolved (the file itself may not exist yet).
fn resolved(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_file_spelled_two_ways_is_the_same_path() {
        let d = std::env::temp_dir().join(format!("ws-outputs-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let a = d.join("x.csv");
        let b = d.join("sub/../x.csv");
        assert!(same_path(&a, &b));
        assert!(!same_path(&a, &d.join("y.csv")));
        let e = check(&[Output::File("--csv", &a), Output::File("--json", &b)]).unwrap_err();
        assert!(e.to_string().contains("--csv and --json"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
