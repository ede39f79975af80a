//! Golden files: every writer's output (terminal table, CSV, JSON, `track`, `compare`, `rank`,
//! `describe`) on the bundled example and the test fixtures, against the bytes committed in
//! `tests/golden/`. They were written by the code before the column registry and the crate
//! split, so a refactor that changes a byte of any output shows here.
//!
//! On this project's machine kind the comparison is byte for byte. Another CPU may pick other
//! SIMD kernels in the matrix products and move the last digit of a float, so when the bytes
//! differ the files must still have the same shape and text, with every number within 1e-9
//! relative; the test prints which cells moved. `WEIGHTSCOPE_BLESS=1` rewrites the files (only
//! for an intended change, named in the commit).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::tmpdir;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run the binary from the repository root (so paths in the outputs are relative and the
/// same on every machine); returns stdout.
fn run(args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_weightscope"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run weightscope");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "weightscope {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()) || (a.is_nan() && b.is_nan())
}

/// Text cells: equal, or both numbers within 1e-9 relative.
fn same_cell(a: &str, b: &str) -> bool {
    a == b
        || matches!((a.trim().parse::<f64>(), b.trim().parse::<f64>()), (Ok(x), Ok(y)) if close(x, y))
}

fn same_json(a: &Value, b: &Value, at: &str, diffs: &mut Vec<String>) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if !close(x.as_f64().unwrap(), y.as_f64().unwrap()) {
                diffs.push(format!("{at}: {x} vs {y}"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let (kx, ky): (Vec<_>, Vec<_>) = (x.keys().collect(), y.keys().collect());
            if kx != ky {
                diffs.push(format!("{at}: keys {kx:?} vs {ky:?}"));
                return;
            }
            for (k, v) in x {
                same_json(v, &y[k], &format!("{at}.{k}"), diffs);
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                same_json(u, v, &format!("{at}[{i}]"), diffs);
            }
        }
        _ if a == b => {}
        _ => diffs.push(format!("{at}: {a} vs {b}")),
    }
}

/// Compare `got` with the golden file `name`.
fn check(name: &str, got: &[u8]) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("WEIGHTSCOPE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (WEIGHTSCOPE_BLESS=1 writes it)", path.display()));
    if want == got {
        return;
    }
    let (w, g) = (String::from_utf8_lossy(&want), String::from_utf8_lossy(got));
    let mut diffs = Vec::new();
    if name.ends_with(".json") {
        let parse = |s: &str| serde_json::from_str::<Value>(s).expect("golden JSON parses");
        same_json(&parse(&w), &parse(&g), "$", &mut diffs);
    } else {
        let (wl, gl): (Vec<&str>, Vec<&str>) = (w.lines().collect(), g.lines().collect());
        if wl.len() != gl.len() {
            diffs.push(format!("{} lines vs {}", wl.len(), gl.len()));
        }
        let split = |l: &str| -> Vec<String> {
            if name.ends_with(".csv") {
                // Quoted cells hold no numbers that move; a plain split keeps columns aligned.
                l.split(',').map(str::to_string).collect()
            } else {
                l.split_whitespace().map(str::to_string).collect()
            }
        };
        for (i, (a, b)) in wl.iter().zip(&gl).enumerate() {
            let (ca, cb) = (split(a), split(b));
            if ca.len() != cb.len() || ca.iter().zip(&cb).any(|(x, y)| !same_cell(x, y)) {
                diffs.push(format!("line {}:\n  want {a}\n  got  {b}", i + 1));
            }
        }
    }
    assert!(
        diffs.is_empty(),
        "{name} differs from {}:\n{}",
        path.display(),
        diffs.join("\n")
    );
    eprintln!("{name}: bytes differ, numbers within 1e-9 relative");
}

/// `analyze` with `args`, checking stdout, CSV and JSON against `<tag>.{txt,csv,json}`.
fn analyze(tag: &str, args: &[&str]) {
    let dir = tmpdir(&format!("golden-{tag}"));
    let (csv, json) = (dir.join("d.csv"), dir.join("d.json"));
    let mut all = vec!["analyze"];
    all.extend(args);
    all.extend([
        "--csv",
        csv.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = run(&all);
    check(&format!("{tag}.txt"), &stdout);
    check(&format!("{tag}.csv"), &std::fs::read(&csv).unwrap());
    check(&format!("{tag}.json"), &std::fs::read(&json).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

const EXAMPLE: &str = "examples/mnist-cnn/model.safetensors";

#[test]
fn example_default_columns() {
    analyze("example", &[EXAMPLE]);
}

#[test]
fn example_all_analyses() {
    analyze("example-all", &[EXAMPLE, "--all", "--seed", "3"]);
}

#[test]
fn fixture_matrices_fits() {
    analyze(
        "oracle-fits",
        &[
            "tests/fixtures/oracle/matrices.safetensors",
            "--mp-fit",
            "--phase",
            "--tail-fits",
            "--detx",
            "--fix-fingers",
            "clip-xmax",
            "--bootstrap",
            "3",
        ],
    );
}

#[test]
fn fixture_diagnosis_xmin_peak() {
    analyze(
        "diagnosis-xmin-peak",
        &[
            "tests/fixtures/diagnosis/matrices.safetensors",
            "--fix-fingers",
            "xmin-peak",
            "--normalize",
            "--pl-method",
            "powerlaw",
        ],
    );
}

#[test]
fn fixture_lora() {
    analyze("lora", &["tests/fixtures/lora/adapter_model.safetensors"]);
}

#[test]
fn track_compare_rank_describe() {
    let dir = tmpdir("golden-series");
    let out = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let stdout = run(&[
        "track",
        EXAMPLE,
        EXAMPLE,
        "--phase",
        "-o",
        &out("track.csv"),
    ]);
    check("track.txt", &stdout);
    check("track.csv", &std::fs::read(out("track.csv")).unwrap());
    let stdout = run(&[
        "track",
        "--ensemble",
        EXAMPLE,
        EXAMPLE,
        "-o",
        &out("ens.csv"),
    ]);
    check("ensemble.txt", &stdout);
    check("ensemble.csv", &std::fs::read(out("ens.csv")).unwrap());
    let lora = "tests/fixtures/lora/adapter_model.safetensors";
    let stdout = run(&["compare", lora, lora, "-o", &out("compare.csv")]);
    check("compare.txt", &stdout);
    check("compare.csv", &std::fs::read(out("compare.csv")).unwrap());
    let stdout = run(&["rank", EXAMPLE, lora, "-o", &out("rank.csv")]);
    check("rank.txt", &stdout);
    check("rank.csv", &std::fs::read(out("rank.csv")).unwrap());
    let stdout = run(&["describe", EXAMPLE, "--json", &out("describe.json")]);
    check("describe.txt", &stdout);
    check(
        "describe.json",
        &std::fs::read(out("describe.json")).unwrap(),
    );
    let _ = std::fs::remove_dir_all(&dir);
}
