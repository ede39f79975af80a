//! Agreement with the reference packages, from fixtures written by `tools/make_fixtures.py`
//! (weightwatcher 0.7.7 and powerlaw 2.0.0; see tests/fixtures/oracle/README.md).

use serde_json::Value;
use std::path::{Path, PathBuf};
use weightscope::fit::{fit_power_law, PlMethod};
use weightscope::{analyze, Options, Status};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/oracle")
        .join(name)
}

fn load(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(name)).unwrap()).unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(1e-300)
    }
}

#[test]
fn weightwatcher_fit_agrees_on_every_fixture_sample() {
    let cases = load("fits.json");
    let mut worst = 0.0f64;
    for c in cases.as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let evals: Vec<f64> = c["evals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut nz: Vec<f64> = evals.into_iter().filter(|&x| x > 1e-5).collect();
        nz.sort_by(f64::total_cmp);
        let ww = &c["ww"];
        let fit = fit_power_law(&nz, PlMethod::Ww).unwrap_or_else(|| panic!("{name}: no fit"));
        let alpha = ww["alpha"].as_f64().unwrap();
        assert_eq!(fit.xmin, ww["xmin"].as_f64().unwrap(), "{name}: xmin");
        assert!(
            rel(fit.alpha, alpha) <= 1e-9,
            "{name}: alpha {} vs {alpha}",
            fit.alpha
        );
        assert!(
            (fit.d - ww["D"].as_f64().unwrap()).abs() <= 1e-9,
            "{name}: D"
        );
        // weightwatcher's small-sample fallback (fewer than 8 values) computes σ before α and
        // reports σ = −1/√n; we report (α−1)/√n there.
        if nz.len() >= 8 {
            assert!(
                rel(fit.sigma, ww["sigma"].as_f64().unwrap()) <= 1e-9,
                "{name}: sigma"
            );
        }
        let tail = nz.iter().filter(|&&x| x >= fit.xmin).count();
        assert_eq!(
            tail as u64,
            ww["num_pl_spikes"].as_u64().unwrap(),
            "{name}: tail"
        );
        worst = worst.max(rel(fit.alpha, alpha));
    }
    eprintln!("worst relative |Δα| vs weightwatcher WWFit: {worst:e}");
}

#[test]
fn powerlaw_package_fit_agrees_on_every_fixture_sample() {
    let cases = load("fits.json");
    let (mut worst_analytic, mut worst_numeric) = (0.0f64, 0.0f64);
    for c in cases.as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let pl = &c["powerlaw"];
        let evals: Vec<f64> = c["evals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let mut nz: Vec<f64> = evals.into_iter().filter(|&x| x > 1e-5).collect();
        nz.sort_by(f64::total_cmp);
        let fit = fit_power_law(&nz, PlMethod::Powerlaw).unwrap();
        let alpha = pl["alpha"].as_f64().unwrap();
        let analytic = pl["analytic"].as_bool().unwrap();
        assert_eq!(fit.xmin, pl["xmin"].as_f64().unwrap(), "{name}: xmin");
        let (e, tol) = (rel(fit.alpha, alpha), if analytic { 1e-9 } else { 1e-4 });
        assert!(
            e <= tol,
            "{name}: alpha {} vs {alpha} (analytic {analytic})",
            fit.alpha
        );
        assert!(
            (fit.d - pl["D"].as_f64().unwrap()).abs() <= tol,
            "{name}: D {} vs {}",
            fit.d,
            pl["D"]
        );
        if analytic {
            worst_analytic = worst_analytic.max(e);
        } else {
            worst_numeric = worst_numeric.max(e);
        }
    }
    eprintln!("worst relative |Δα| vs powerlaw 2.0: analytic {worst_analytic:e}, numerical {worst_numeric:e}");
}

/// Compare every column of weightscope's rows with weightwatcher's `details`.
fn compare_details(model: &Path, details: &str) {
    let report = analyze(model, &Options::default()).unwrap();
    let expected = load(details);
    let rows = expected.as_array().unwrap();
    assert_eq!(report.layers.len(), rows.len(), "number of analysed layers");
    for e in rows {
        let name = e["name"].as_str().unwrap();
        let r = report
            .layers
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no row {name}"));
        let f = |k: &str| e[k].as_f64().unwrap();
        let u = |k: &str| e[k].as_u64().unwrap() as usize;
        assert_eq!((r.n, r.m, r.rf), (u("N"), u("M"), u("rf")), "{name}");
        assert_eq!(r.layer_type, e["layer_type"].as_str().unwrap(), "{name}");
        assert_eq!(r.num_evals, Some(u("num_evals")), "{name}");
        assert_eq!(r.status, Status::Success, "{name}");
        assert_eq!(
            r.warning.as_str(),
            e["warning"].as_str().unwrap(),
            "{name}: warning"
        );
        // The same eigenvalue is chosen as xmin (SVD and Gram differ in the last bits).
        assert!(rel(r.xmin.unwrap(), f("xmin")) <= 1e-12, "{name}: xmin");
        assert_eq!(r.num_pl_spikes, Some(u("num_pl_spikes")), "{name}");
        assert_eq!(r.matrix_rank, Some(u("matrix_rank")), "{name}: matrix_rank");
        assert_eq!(r.rank_loss, Some(u("rank_loss")), "{name}: rank_loss");
        assert_eq!(
            r.weak_rank_loss,
            Some(u("weak_rank_loss")),
            "{name}: weak_rank_loss"
        );
        let checks = [
            ("alpha", r.alpha, 1e-9),
            ("sigma", r.sigma, 1e-9),
            ("xmax", r.xmax, 1e-9),
            ("lambda_max", r.lambda_max, 1e-9),
            ("sv_max", r.sv_max, 1e-9),
            ("norm", r.norm, 1e-9),
            ("spectral_norm", r.spectral_norm, 1e-9),
            ("stable_rank", r.stable_rank, 1e-9),
            ("alpha_weighted", r.alpha_weighted, 1e-9),
            ("log_alpha_norm", r.log_alpha_norm, 1e-9),
            ("entropy", r.entropy, 1e-9),
        ];
        for (k, v, tol) in checks {
            let v = v.unwrap();
            assert!(rel(v, f(k)) <= tol, "{name}: {k} {v} vs {}", f(k));
        }
        for (k, v) in [
            ("D", r.d),
            ("log_norm", r.log_norm),
            ("log_spectral_norm", r.log_spectral_norm),
        ] {
            assert!((v.unwrap() - f(k)).abs() <= 1e-9, "{name}: {k}");
        }
        // weightwatcher's sv_min is the largest per-map minimum (a bug we do not copy): equal
        // for single-matrix layers only.
        if r.rf == 1 {
            assert!(
                rel(r.sv_min.unwrap(), f("sv_min")) <= 1e-6,
                "{name}: sv_min"
            );
        }
    }
    // Summary means over the same layers (all fits succeed in these fixtures).
    let s = load(&details.replace("details", "summary"));
    for (k, v) in [
        ("alpha", report.summary.alpha),
        ("alpha_weighted", report.summary.alpha_weighted),
        ("log_norm", report.summary.log_norm),
        ("log_alpha_norm", report.summary.log_alpha_norm),
        ("log_spectral_norm", report.summary.log_spectral_norm),
        ("stable_rank", report.summary.stable_rank),
    ] {
        assert!(
            (v.unwrap() - s[k].as_f64().unwrap()).abs()
                <= 1e-9 * s[k].as_f64().unwrap().abs().max(1.0),
            "summary {k}"
        );
    }
}

#[test]
fn weightwatcher_details_agree_on_generated_matrices() {
    compare_details(&fixture("matrices.safetensors"), "ww_details.json");
}

#[test]
fn weightwatcher_details_agree_on_the_bundled_example() {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mnist-cnn/model.safetensors");
    compare_details(&example, "ww_details_example.json");
}
