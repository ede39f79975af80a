//! A model named by its Hugging Face hub id, read from a local hub cache laid out as
//! huggingface_hub lays it out (snapshot files are symbolic links to blobs).

use super::{bin, example, run, tmpdir};
use std::path::{Path, PathBuf};

const COMMIT: &str = "3f2a9c1e5b7d4a6c8e0f1a2b3c4d5e6f7a8b9c0d";

/// `<cache>/models--org--mnist/`: blobs, `refs/main` → COMMIT, and `snapshots/COMMIT/` with
/// the example and a README, each a relative link to its blob.
#[cfg(unix)]
fn hub_cache(d: &Path) -> PathBuf {
    use std::os::unix::fs::symlink;
    let cache = d.join("hub");
    let repo = cache.join("models--org--mnist");
    let blobs = repo.join("blobs");
    let snap = repo.join("snapshots").join(COMMIT);
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), COMMIT).unwrap();
    let model = std::fs::read(example()).unwrap();
    let files: [(&str, &str, &[u8]); 2] = [
        ("model.safetensors", "blob-a", &model),
        ("README.md", "blob-b", b"# mnist"),
    ];
    for (name, blob, bytes) in files {
        std::fs::write(blobs.join(blob), bytes).unwrap();
        symlink(format!("../../blobs/{blob}"), snap.join(name)).unwrap();
    }
    cache
}

/// The CSV of `model` read with HF_HUB_CACHE = `cache`.
fn csv_of(d: &Path, cache: &Path, model: &str, out: &str) -> (Option<i32>, String, PathBuf) {
    let csv = d.join(out);
    let o = run(bin()
        .arg("analyze")
        .arg(model)
        .arg("-q")
        .arg("--csv")
        .arg(&csv)
        .current_dir(d)
        .env("HF_HUB_CACHE", cache));
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        csv,
    )
}

#[cfg(unix)]
#[test]
fn a_hub_id_reads_the_snapshot_of_the_local_cache_through_its_links() {
    let d = tmpdir("hub");
    let cache = hub_cache(&d);
    let (code, _, direct) = csv_of(&d, &cache, &example().to_string_lossy(), "direct.csv");
    assert_eq!(code, Some(0));
    let want = std::fs::read(direct).unwrap();
    for id in [
        "org/mnist",
        "org/mnist@main",
        &format!("org/mnist@{COMMIT}"),
        "org/mnist@3f2a9c",
    ] {
        let (code, err, csv) = csv_of(&d, &cache, id, "hub.csv");
        assert_eq!(code, Some(0), "{id}: {err}");
        assert!(
            std::fs::read(&csv).unwrap() == want,
            "{id}: other rows than the file's"
        );
    }
    // HF_HOME/hub when HF_HUB_CACHE is not set.
    let o = run(bin()
        .args(["describe", "org/mnist"])
        .env_remove("HF_HUB_CACHE")
        .env_remove("HUGGINGFACE_HUB_CACHE")
        .env("HF_HOME", &d));
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("fc_layers.0.weight"));
}

#[cfg(unix)]
#[test]
fn a_missing_revision_or_model_names_the_cache_and_never_downloads() {
    let d = tmpdir("hub-missing");
    let cache = hub_cache(&d);
    let shown = cache.to_string_lossy().into_owned();
    let (code, err, _) = csv_of(&d, &cache, "org/mnist@v2", "x.csv");
    assert_eq!(code, Some(2));
    assert!(
        err.contains("'v2'") && err.contains(&shown) && err.contains("refs: main"),
        "{err}"
    );
    let (code, err, _) = csv_of(&d, &cache, "org/other", "x.csv");
    assert_eq!(code, Some(2));
    assert!(err.contains("org/other") && err.contains(&shown), "{err}");
    assert!(err.contains("never the network"), "{err}");
    // A path that exists wins over a hub id of the same spelling.
    let local = d.join("org/mnist");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::copy(example(), local.join("model.safetensors")).unwrap();
    std::fs::remove_dir_all(&cache).unwrap();
    let (code, err, _) = csv_of(&d, &cache, "org/mnist", "x.csv");
    assert_eq!(code, Some(0), "{err}");
}

/// Every command that takes a model takes a hub id: `rank`, `compare` and `track` read the
/// snapshot as `analyze` does, and label it as written.
#[cfg(unix)]
#[test]
fn rank_compare_and_track_take_hub_ids_too() {
    let d = tmpdir("hub-commands");
    let cache = hub_cache(&d);
    let file = example().to_string_lossy().into_owned();
    let cmd = |args: &[&str]| {
        let o = run(bin().args(args).current_dir(&d).env("HF_HUB_CACHE", &cache));
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
    };
    cmd(&["rank", "org/mnist", &file, "-o", "rank.csv"]);
    let rank = std::fs::read_to_string(d.join("rank.csv")).unwrap();
    let rows: Vec<&str> = rank.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{rank}");
    assert!(rows[0].starts_with("org/mnist,"), "{rank}");
    // The same weights: every metric after the model's name equal.
    let tail = |r: &str| r.split_once(',').unwrap().1.to_string();
    assert_eq!(tail(rows[0]), tail(rows[1]), "{rank}");

    cmd(&["compare", "org/mnist", &file, "-o", "compare.csv"]);
    let compare = std::fs::read_to_string(d.join("compare.csv")).unwrap();
    assert!(compare.lines().count() > 1, "{compare}");

    cmd(&["track", "org/mnist", &file, "-o", "track.csv"]);
    let track = std::fs::read_to_string(d.join("track.csv")).unwrap();
    assert!(track.contains("org/mnist"), "{track}");

    // A mistyped local path that reads as a hub id says both.
    let o = run(bin()
        .args(["rank", "nodir/model.safetensors", &file, "-o", "x.csv"])
        .current_dir(&d)
        .env("HF_HUB_CACHE", &cache));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no such file or folder") && err.contains("never the network"),
        "{err}"
    );
}
