//! Sharded runs: `analyze --shard I/N --part FILE` on each share, then `merge`, must give the
//! bytes of a single run; parts that do not belong together are refused.

use super::{bin, example, run, tmpdir};
use std::path::{Path, PathBuf};
use std::process::Output;

/// A single run's stdout, CSV and JSON with `flags`.
fn single(d: &Path, model: &Path, flags: &[&str]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let (csv, json) = (d.join("single.csv"), d.join("single.json"));
    let out = run(bin()
        .arg("analyze")
        .arg(model)
        .args(flags)
        .arg("--csv")
        .arg(&csv)
        .arg("--json")
        .arg(&json));
    assert_eq!(out.status.code(), Some(0));
    (
        out.stdout,
        std::fs::read(csv).unwrap(),
        std::fs::read(json).unwrap(),
    )
}

/// Run share `i` of `n` of `model` into `<d>/part-<tag>-<i>-of-<n>.json`.
fn share(d: &Path, model: &Path, i: usize, n: usize, flags: &[&str], tag: &str) -> PathBuf {
    let part = d.join(format!("part-{tag}-{i}-of-{n}.json"));
    let out = run(bin()
        .arg("analyze")
        .arg(model)
        .args(flags)
        .arg("--shard")
        .arg(format!("{i}/{n}"))
        .arg("--part")
        .arg(&part));
    assert_eq!(out.status.code(), Some(0), "share {i}/{n}");
    part
}

fn merge(d: &Path, parts: &[PathBuf]) -> (Output, PathBuf, PathBuf) {
    let (csv, json) = (d.join("merged.csv"), d.join("merged.json"));
    let _ = std::fs::remove_file(&csv);
    let _ = std::fs::remove_file(&json);
    let out = run(bin()
        .arg("merge")
        .args(parts)
        .arg("--csv")
        .arg(&csv)
        .arg("--json")
        .arg(&json));
    (out, csv, json)
}

/// The layers a part holds.
fn part_rows(part: &Path) -> usize {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(part).unwrap()).unwrap();
    v["rows"].as_array().unwrap().len()
}

fn merges_to_the_single_run(tag: &str, flags: &[&str], layers: usize, shares: &[usize]) {
    let d = tmpdir(tag);
    let (stdout, csv, json) = single(&d, &example(), flags);
    for &n in shares {
        // Given in reverse order: the merge must not depend on it.
        let parts: Vec<PathBuf> = (0..n)
            .rev()
            .map(|i| share(&d, &example(), i, n, flags, tag))
            .collect();
        let held: usize = parts.iter().map(|p| part_rows(p)).sum();
        assert_eq!(held, layers, "n = {n}: every layer in exactly one share");
        if n > layers {
            let empty = parts.iter().filter(|p| part_rows(p) == 0).count();
            assert_eq!(
                empty,
                n - layers,
                "n = {n}: the shares beyond the layers are empty"
            );
        }
        let (out, m_csv, m_json) = merge(&d, &parts);
        assert_eq!(out.status.code(), Some(0), "n = {n}");
        assert!(std::fs::read(m_csv).unwrap() == csv, "n = {n}: CSV differs");
        assert!(
            std::fs::read(m_json).unwrap() == json,
            "n = {n}: JSON differs"
        );
        assert!(out.stdout == stdout, "n = {n}: stdout differs");
    }
}

#[test]
fn merged_shares_are_byte_identical_to_a_single_run() {
    // --all: every optional column, so every kind of value goes through the part file.
    merges_to_the_single_run("shard-all", &["--all"], 5, &[1, 2, 3, 7]);
}

#[test]
fn merged_shares_of_conv_maps_keep_the_single_run_order() {
    // One row per map of the 3×3 convolutions (rows with slice ids), besides the dense
    // layers' rows: the merge must restore the order of slices within a layer too.
    let d = tmpdir("shard-maps-count");
    let (_, csv, _) = single(&d, &example(), &["--conv-maps"]);
    let rows = String::from_utf8(csv).unwrap().lines().count() - 1;
    assert!(rows > 10, "{rows} rows");
    merges_to_the_single_run("shard-maps", &["--conv-maps"], rows, &[2, 3]);
}

#[test]
fn shares_are_balanced_by_flops() {
    // The example's flops (N·M² + 4/3·M³ per map, ×rf): fc_layers.0 (1152×256) dominates
    // (≈ 1.0e8 of ≈ 1.1e8), so with two shares it is alone in one of them.
    let d = tmpdir("shard-balance");
    let parts: Vec<PathBuf> = (0..2)
        .map(|i| share(&d, &example(), i, 2, &[], "b"))
        .collect();
    let names = |p: &Path| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["layer"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&parts[0]), vec!["fc_layers.0"]);
    assert_eq!(
        names(&parts[1]),
        vec![
            "conv_layers.0",
            "conv_layers.3",
            "conv_layers.6",
            "fc_layers.2"
        ]
    );
}

#[test]
fn a_copy_elsewhere_merges_and_another_checkpoint_is_refused() {
    let d = tmpdir("shard-copy");
    let (_, csv, json) = single(&d, &example(), &[]);
    // A copy under another path, written now (another time): the same content.
    let elsewhere = d.join("node2");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let copy = elsewhere.join("model.safetensors");
    std::fs::copy(example(), &copy).unwrap();
    let p0 = share(&d, &example(), 0, 2, &[], "orig");
    let p1 = share(&d, &copy, 1, 2, &[], "copy");
    let (out, m_csv, m_json) = merge(&d, &[p1.clone(), p0.clone()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read(m_csv).unwrap() == csv);
    assert!(std::fs::read(m_json).unwrap() == json);

    // Another checkpoint: one byte of a tensor in the last 64 KiB changed.
    let mut bytes = std::fs::read(example()).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    let other = d.join("other.safetensors");
    std::fs::write(&other, &bytes).unwrap();
    let p1_other = share(&d, &other, 1, 2, &[], "other");
    let (out, m_csv, _) = merge(&d, &[p0, p1_other.clone()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another checkpoint") && err.contains(&*p1_other.to_string_lossy()),
        "{err}"
    );
    assert!(!m_csv.exists(), "nothing written on refusal");
}

#[test]
fn other_options_and_missing_or_repeated_shares_are_refused() {
    let d = tmpdir("shard-refuse");
    let p0 = share(&d, &example(), 0, 3, &[], "a");
    let p1 = share(&d, &example(), 1, 3, &[], "a");
    let p2 = share(&d, &example(), 2, 3, &[], "a");
    let p2_norm = share(&d, &example(), 2, 3, &["--normalize"], "norm");
    let p2_filter = share(&d, &example(), 2, 3, &["--layers", "fc"], "filter");
    let p1_of_2 = share(&d, &example(), 1, 2, &[], "two");

    let refused = |parts: &[PathBuf], words: &[&str]| {
        let (out, csv, _) = merge(&d, parts);
        assert_eq!(out.status.code(), Some(2), "{parts:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        for w in words {
            assert!(err.contains(w), "{w:?} not in {err}");
        }
        assert!(!csv.exists());
    };
    refused(
        &[p0.clone(), p1.clone(), p2_norm],
        &["other options", "normalize"],
    );
    refused(
        &[p0.clone(), p1.clone(), p2_filter],
        &["other options", "--layers"],
    );
    refused(&[p0.clone(), p2.clone()], &["share(s) 1/3 missing"]);
    refused(
        &[p0.clone(), p1.clone(), p1.clone(), p2.clone()],
        &["given twice", "1/3"],
    );
    refused(&[p0.clone(), p1_of_2], &["split the same way"]);
    let not_a_part = d.join("not-a-part.json");
    std::fs::write(&not_a_part, "{\"layers\": []}").unwrap();
    refused(&[p0.clone(), not_a_part], &["not a partial result"]);
    let (out, _, _) = merge(&d, &[p0, p1, p2]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_share_index_counts_from_zero() {
    let d = tmpdir("shard-usage");
    for (bad, words) in [
        ("2/2", "I < N"),
        ("0/0", "at least 1"),
        ("1", "I/N"),
        ("a/2", "share index"),
    ] {
        let out = run(bin()
            .arg("analyze")
            .arg(example())
            .args(["--shard", bad, "--part"])
            .arg(d.join("p.json")));
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(words), "{bad}: {err}");
    }
    // --shard needs --part, and writes no --csv or --json itself.
    let out = run(bin().arg("analyze").arg(example()).args(["--shard", "0/2"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(bin()
        .arg("analyze")
        .arg(example())
        .args(["--shard", "0/2", "--part", "p.json", "--csv", "x.csv"]));
    assert_eq!(out.status.code(), Some(2));
}

/// A stand-in for `sbatch` that runs a job at once, and the tasks of an array one after
/// another with Slurm's variables set, printing a job id as `--parsable` does; sbatch's own
/// options come before the script, the script's arguments after it.
#[cfg(unix)]
const SBATCH: &str = r#"#!/bin/bash
array=""; args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --array=*) array=${1#--array=} ;;
    --parsable|--dependency=afterok:*) ;;
    --*) echo "unexpected option $1" >&2; exit 1 ;;
    *) args=("$@"); break ;;
  esac
  shift
done
if [[ -n $array ]]; then
  lo=${array%-*}; hi=${array#*-}
  for i in $(seq "$lo" "$hi"); do
    SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=$((hi - lo + 1)) SLURM_CPUS_PER_TASK=1 \
      bash "${args[@]}" >&2 || exit 1
  done
else
  bash "${args[@]}" >&2 || exit 1
fi
echo 42
"#;

#[cfg(unix)]
#[test]
fn the_slurm_example_array_and_merge_give_the_single_run() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmpdir("shard-slurm");
    let (_, csv, json) = single(&d, &example(), &["--phase"]);
    let bin_dir = d.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let sbatch = bin_dir.join("sbatch");
    std::fs::write(&sbatch, SBATCH).unwrap();
    std::fs::set_permissions(&sbatch, std::fs::Permissions::from_mode(0o755)).unwrap();
    let weightscope = Path::new(env!("CARGO_BIN_EXE_weightscope"));
    let path = format!(
        "{}:{}:{}",
        bin_dir.display(),
        weightscope.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let submit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/slurm/submit.sh");
    let out = run(std::process::Command::new("bash")
        .arg(submit)
        .arg(example())
        .args(["3", "--phase"])
        .current_dir(&d)
        .env("PATH", path));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("array job 42 (3 shares)"));
    for i in 0..3 {
        assert!(d.join(format!("parts/part-{i}.json")).is_file());
    }
    assert!(std::fs::read(d.join("details.csv")).unwrap() == csv);
    assert!(std::fs::read(d.join("details.json")).unwrap() == json);
}
