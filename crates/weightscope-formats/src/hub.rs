//! Models in the local Hugging Face hub cache, named as on the hub: `org/name[@revision]`.
//!
//! Only the cache on disk is read, never the network. Its layout (huggingface_hub's
//! `file_download`): `<cache>/models--org--name/refs/<revision>` holds a commit hash, and
//! `snapshots/<commit>/` holds the repository's files as symbolic links to
//! `../../blobs/<hash>` (regular files, which the readers open through the links). The
//! cache is `HF_HUB_CACHE`, else `HUGGINGFACE_HUB_CACHE` (its older name), else
//! `HF_HOME/hub`, else `XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`,
//! as huggingface_hub's `constants.py` chooses it.

use crate::error::{Error, Result};
use std::path::{Component, Path, PathBuf};

/// What to open for `arg`: `arg` itself when it exists (a file or folder always wins), else,
/// when it reads as a hub repository id `org/name[@revision]`, the snapshot folder of that
/// revision (default `main`) in the local hub cache; else `arg` (opening it then says it is
/// not found).
pub fn locate(arg: &Path) -> Result<PathBuf> {
    if std::fs::symlink_metadata(arg).is_ok() {
        return Ok(arg.to_path_buf());
    }
    match arg.to_str().and_then(parse_repo_id) {
        Some((repo, revision)) => {
            let cache = cache_dir().ok_or_else(|| {
                Error::Usage(format!(
                    "{} is neither a file nor a folder, and no Hugging Face cache is known \
                     to look for it in (set HF_HUB_CACHE or HF_HOME)",
                    arg.display()
                ))
            })?;
            let repo_dir = cache.join(format!("models--{}", repo.replace('/', "--")));
            if !repo_dir.is_dir() {
                // As likely a mistyped path as a model not downloaded: say both.
                return Err(Error::format(
                    arg,
                    format!(
                        "no such file or folder, and no model {repo} in the Hugging Face \
                         cache {} (weightscope reads only the local cache, never the \
                         network: `hf download {repo}` first)",
                        cache.display()
                    ),
                ));
            }
            snapshot(&cache, repo, revision.unwrap_or("main"))
        }
        None => Ok(arg.to_path_buf()),
    }
}

/// The hub cache folder, from the environment (see the module doc).
pub fn cache_dir() -> Option<PathBuf> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HUB_CACHE")
        .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
        .or_else(|| var("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| var("XDG_CACHE_HOME").map(|c| c.join("huggingface").join("hub")))
        .or_else(|| var("HOME").map(|h| h.join(".cache").join("huggingface").join("hub")))
}

/// `org/name[@revision]` split in repository id and revision, if `s` reads as one: exactly one
/// `/` between two non-empty names of letters, digits, `-`, `_` and `.` (the hub's rule), the
/// first not starting with `.` (so that `./x` and `../x` stay paths).
pub fn parse_repo_id(s: &str) -> Option<(&str, Option<&str>)> {
    let (repo, revision) = match s.split_once('@') {
        Some((r, rev)) => (r, Some(rev)),
        None => (s, None),
    };
    let (org, name) = repo.split_once('/')?;
    let part_ok = |p: &str| {
        !p.is_empty()
            && !p.starts_with('.')
            && p.len() <= 96
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if !part_ok(org) || !part_ok(name) || revision.is_some_and(str::is_empty) {
        return None;
    }
    Some((repo, revision))
}

/// The snapshot folder of `revision` of `repo` in `cache`: a branch or tag under `refs/`, or
/// a commit hash or a prefix of one (4 hex digits at least) naming a folder under
/// `snapshots/`.
pub fn snapshot(cache: &Path, repo: &str, revision: &str) -> Result<PathBuf> {
    let repo_dir = cache.join(format!("models--{}", repo.replace('/', "--")));
    if !repo_dir.is_dir() {
        return Err(Error::format(
            &repo_dir,
            format!(
                "model {repo} is not in the Hugging Face cache {} (weightscope reads only the \
                 local cache, never the network: `hf download {repo}` first)",
                cache.display()
            ),
        ));
    }
    let snapshots = repo_dir.join("snapshots");
    // A revision is a path under refs/ ("main", "v1.0", "refs/pr/1"): no "..", no root.
    let safe = Path::new(revision)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    let ref_file = repo_dir.join("refs").join(revision);
    let commit = if safe && ref_file.is_file() {
        let text = std::fs::read_to_string(&ref_file).map_err(|e| Error::io(&ref_file, e))?;
        let commit = text.trim().to_string();
        if !is_hex(&commit) {
            return Err(Error::format(
                &ref_file,
                format!("holds '{commit}', not a commit hash"),
            ));
        }
        commit
    } else if revision.len() >= 4 && is_hex(revision) {
        let mut found: Vec<String> = list(&snapshots)
            .into_iter()
            .filter(|c| c.starts_with(revision))
            .collect();
        match found.len() {
            1 => found.remove(0),
            0 => return Err(missing(&repo_dir, repo, revision)),
            _ => {
                return Err(Error::format(
                    &snapshots,
                    format!(
                        "revision {revision} of {repo} is ambiguous: {}",
                        found.join(", ")
                    ),
                ))
            }
        }
    } else {
        return Err(missing(&repo_dir, repo, revision));
    };
    let dir = snapshots.join(&commit);
    if !dir.is_dir() {
        return Err(Error::format(
            &dir,
            format!(
                "revision {revision} of {repo} is commit {commit}, whose snapshot is not in the \
                 cache (download that revision first)"
            ),
        ));
    }
    Ok(dir)
}

/// The error of a revision the cache does not hold, with those it holds.
fn missing(repo_dir: &Path, repo: &str, revision: &str) -> Error {
    let refs = list(&repo_dir.join("refs"));
    let snaps = list(&repo_dir.join("snapshots"));
    let or_none = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    Error::format(
        repo_dir,
        format!(
            "no revision '{revision}' of {repo} in the cache (refs: {}; snapshots: {})",
            or_none(&refs),
            or_none(&snaps)
        ),
    )
}

/// The names in a folder, sorted (none if it cannot be read).
fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
    const OLD: &str = "fedcba9876543210fedcba9876543210fedcba98";

    /// A cache as huggingface_hub lays it out: blobs, refs/main, two snapshots of symlinks.
    fn cache(tag: &str) -> PathBuf {
        let c = std::env::temp_dir().join(format!("ws-hub-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&c);
        let repo = c.join("models--org--name");
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("blobs/aaaa"), b"{}").unwrap();
        std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
        for commit in [COMMIT, OLD] {
            let snap = repo.join("snapshots").join(commit);
            std::fs::create_dir_all(&snap).unwrap();
            symlink("../../blobs/aaaa", snap.join("config.json")).unwrap();
        }
        c
    }

    #[test]
    fn repo_ids_and_paths_are_told_apart() {
        assert_eq!(parse_repo_id("org/name"), Some(("org/name", None)));
        assert_eq!(
            parse_repo_id("meta-llama/Llama-3.1-8B@v1.0"),
            Some(("meta-llama/Llama-3.1-8B", Some("v1.0")))
        );
        for path in [
            "model.safetensors",
            "./a/b",
            "../a/b",
            "/a/b",
            "a/b/c",
            "a/",
            "a/b@",
        ] {
            assert_eq!(parse_repo_id(path), None, "{path}");
        }
    }

    #[test]
    fn a_ref_a_commit_and_a_commit_prefix_resolve_to_their_snapshot() {
        let c = cache("resolve");
        let snaps = c.join("models--org--name/snapshots");
        assert_eq!(
            snapshot(&c, "org/name", "main").unwrap(),
            snaps.join(COMMIT)
        );
        assert_eq!(snapshot(&c, "org/name", OLD).unwrap(), snaps.join(OLD));
        assert_eq!(snapshot(&c, "org/name", "fedc").unwrap(), snaps.join(OLD));
        let _ = std::fs::remove_dir_all(&c);
    }

    #[test]
    fn a_missing_model_or_revision_names_the_cache_and_the_revision() {
        let c = cache("missing");
        let e = snapshot(&c, "org/other", "main").unwrap_err().to_string();
        assert!(
            e.contains(&*c.to_string_lossy()) && e.contains("org/other"),
            "{e}"
        );
        let e = snapshot(&c, "org/name", "v2").unwrap_err().to_string();
        assert!(e.contains("'v2'") && e.contains("refs: main"), "{e}");
        assert!(e.contains(&*c.to_string_lossy()), "{e}");
        let e = snapshot(&c, "org/name", "../../x").unwrap_err().to_string();
        assert!(e.contains("no revision"), "{e}");
        // A ref to a commit whose snapshot was deleted.
        std::fs::write(c.join("models--org--name/refs/v1"), "abcdef12").unwrap();
        let e = snapshot(&c, "org/name", "v1").unwrap_err().to_string();
        assert!(
            e.contains("abcdef12") && e.contains("not in the cache"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&c);
    }
}
