//! `weightscope smooth` on the SVD-smoothing fixture (tests/fixtures/smooth/, written by
//! tools/make_smooth_fixtures.py from weightwatcher 0.7.7's `SVDSmoothing`).

use crate::{bin, run, tmpdir};
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/smooth")
        .join(rel)
}

fn tensors(path: &Path) -> Vec<(String, Vec<f64>)> {
    let source = weightscope::formats::open(path).unwrap();
    let mut all: Vec<(String, Vec<f64>)> = (0..source.tensors().len())
        .map(|i| {
            (
                source.tensors()[i].name.clone(),
                source.read_f64(i).unwrap(),
            )
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[test]
fn smooth_writes_the_truncated_weights_and_leaves_the_rest_and_the_input_alone() {
    let d = tmpdir("smooth");
    let input = d.join("model.safetensors");
    std::fs::copy(fixture("model.safetensors"), &input).unwrap();
    let before = std::fs::read(&input).unwrap();
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("smooth.json")).unwrap()).unwrap();
    for (flag, name) in [("detx", "detX"), ("rmt", "rmt"), ("alpha-min", "alpha_min")] {
        let output = d.join(format!("{flag}.safetensors"));
        let out = run(bin()
            .arg("smooth")
            .arg(&input)
            .arg("-o")
            .arg(&output)
            .arg("--method")
            .arg(flag));
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(std::fs::read(&input).unwrap(), before, "input modified");
        let run_doc = doc["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == name)
            .unwrap();
        let (orig, smoothed) = (tensors(&input), tensors(&output));
        assert_eq!(orig.len(), smoothed.len());
        for ((n0, v0), (n1, v1)) in orig.iter().zip(&smoothed) {
            assert_eq!(n0, n1);
            let layer = run_doc["layers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["longname"] == n0.as_str());
            match layer {
                // Untouched tensors (biases) are copied exactly.
                None => assert_eq!(v0, v1, "{flag} {n0} changed"),
                // Smoothed weights are stored back as float32: the exact truncation rounded.
                Some(l) => {
                    let exact: Vec<f64> = l["exact"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap())
                        .collect();
                    for (a, b) in v1.iter().zip(&exact) {
                        assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-2), "{flag} {n0}");
                    }
                }
            }
        }
    }
    // Writing over the input is refused.
    let out = run(bin().arg("smooth").arg(&input).arg("-o").arg(&input));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&input).unwrap(), before);
}
