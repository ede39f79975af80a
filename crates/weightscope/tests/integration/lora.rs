//! LoRA adapters against weightwatcher 0.7.7 with `peft=True` (tests/fixtures/lora, made by
//! tools/make_lora_fixtures.py). weightwatcher gets the r eigenvalues of B·A from ARPACK's
//! `svds`, which is accurate to ≈ 1e-8 relative here (a dense SVD of B·A in NumPy agrees with
//! ours to 1e-15), so the columns are compared to 1e-6.

use std::path::Path;
use weightscope::{analyze, Options};

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/lora")
        .join(name)
}

#[test]
fn lora_pairs_match_weightwatcher_peft() {
    let ww: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("ww_peft.json")).unwrap()).unwrap();
    let rows = ww["rows"].as_array().unwrap();
    let report = analyze(&fixture("adapter_model.safetensors"), &Options::default()).unwrap();
    assert_eq!(report.layers.len(), rows.len());
    // Every B factor is read with its A, never analysed alone.
    assert_eq!(report.skipped.len(), rows.len());
    assert!(report.skipped.iter().all(|s| s.reason.contains("LoRA B")));
    for (ours, theirs) in report.layers.iter().zip(rows) {
        let name = theirs["longname"].as_str().unwrap();
        assert_eq!(ours.longname, format!("{name}.weight"));
        assert_eq!(ours.n as f64, theirs["N"].as_f64().unwrap());
        assert_eq!(ours.m as f64, theirs["M"].as_f64().unwrap());
        assert_eq!(
            ours.num_evals.unwrap() as f64,
            theirs["num_evals"].as_f64().unwrap()
        );
        let close = |what: &str, x: Option<f64>| {
            let (x, y) = (x.unwrap(), theirs[what].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-6 * y.abs(), "{name} {what}: {x} vs {y}");
        };
        close("alpha", ours.alpha);
        close("xmin", ours.xmin);
        close("D", ours.d);
        close("lambda_max", ours.lambda_max);
        close("stable_rank", ours.stable_rank);
        close("entropy", ours.entropy);
        close("norm", ours.norm);
        close("alpha_weighted", ours.alpha_weighted);
    }
}
