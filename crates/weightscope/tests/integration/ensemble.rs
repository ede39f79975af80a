//! `track --ensemble` (paper §6.1): ESDs of the same layer pooled over runs, checked against
//! spectra known by hand and the Marchenko–Pastur edge (Eqn. 9).

use std::path::{Path, PathBuf};
use weightscope::compare::ensemble;
use weightscope::fit::{fit_power_law, PlMethod};
use weightscope::Options;
use weightscope::Status;

use crate::common::{f64_bytes, safetensors_bytes, tmpdir, Rng};

/// A safetensors file of F64 tensors (name, shape, row-major data), in order.
fn write_safetensors(path: &Path, entries: &[(&str, [usize; 2], Vec<f64>)]) {
    let entries: Vec<_> = entries
        .iter()
        .map(|(n, s, d)| (*n, "F64", s.to_vec(), f64_bytes(d)))
        .collect();
    std::fs::write(path, safetensors_bytes(&entries)).unwrap();
}

/// N × M with `s` on the diagonal: the eigenvalues of WᵀW are exactly s².
fn diagonal(n: usize, s: &[f64]) -> Vec<f64> {
    let m = s.len();
    let mut w = vec![0.0; n * m];
    for (i, v) in s.iter().enumerate() {
        w[i * m + i] = *v;
    }
    w
}

#[test]
fn pooled_esd_is_the_union_of_the_runs_spectra() {
    let d = tmpdir("ensemble-union");
    // Three runs of a 40 × 24 layer with known singular values: a Pareto-like ladder per run,
    // different in each run, so the pooled ESD is the union of the three sets of squares.
    let mut all = Vec::new();
    let mut runs = Vec::new();
    let mut alphas = Vec::new();
    for k in 0..3 {
        let s: Vec<f64> = (0..24)
            .map(|i| (1.0 + i as f64 + 0.3 * k as f64).powf(1.1 + 0.1 * k as f64))
            .collect();
        all.extend(s.iter().map(|v| v * v));
        let mut sq: Vec<f64> = s.iter().map(|v| v * v).collect();
        sq.sort_by(f64::total_cmp);
        alphas.push(fit_power_law(&sq, PlMethod::Ww).unwrap().alpha);
        let p = d.join(format!("run{k}.safetensors"));
        write_safetensors(&p, &[("fc.weight", [40, 24], diagonal(40, &s))]);
        runs.push(p);
    }
    all.sort_by(f64::total_cmp);
    let e = ensemble(&runs, &Options::default()).unwrap();
    assert_eq!(e.runs.len(), 3);
    assert_eq!(e.report.layers.len(), 1);
    let row = &e.report.layers[0];
    assert_eq!(row.runs, Some(3));
    assert_eq!(row.status, Status::Success, "{}", row.message);
    assert_eq!(row.num_evals, Some(72));
    let lmax = all[all.len() - 1];
    assert!((row.lambda_max.unwrap() - lmax).abs() <= 1e-12 * lmax);
    // The pooled fit is the fit of the union (not of any one run, nor their mean).
    let want = fit_power_law(&all, PlMethod::Ww).unwrap();
    assert!((row.alpha.unwrap() - want.alpha).abs() < 1e-9 * want.alpha);
    assert!((row.xmin.unwrap() - want.xmin).abs() < 1e-9 * want.xmin);
    // Norm-like columns add over the runs: Σλ of the union = Σ‖W_k‖_F².
    assert!((row.norm.unwrap() - all.iter().sum::<f64>()).abs() < 1e-9 * row.norm.unwrap());
    // The runs' own α: mean and sample standard deviation.
    let mean = alphas.iter().sum::<f64>() / 3.0;
    let sd = (alphas.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    let (m, s) = e.run_alpha[0];
    assert!((m.unwrap() - mean).abs() < 1e-12 && (s.unwrap() - sd).abs() < 1e-12);
    assert!(sd > 0.01, "the runs differ: {alphas:?}");
}

#[test]
fn pooled_gaussian_runs_give_the_marchenko_pastur_edge() {
    // Eight random 300 × 150 runs (Q = 2, element variance 1/12): pooled, the bulk edge of
    // X = WᵀW is λ⁺ = N·σ²(1 + 1/√Q)² (Eqn. 9) = 300/12 · (1 + 1/√2)² ≈ 72.86, and the fitted
    // σ (on mean-one eigenvalues) is 1. Pooling 8 runs tightens both against one run.
    let d = tmpdir("ensemble-mp");
    let (n, m) = (300, 150);
    let runs: Vec<PathBuf> = (0..8)
        .map(|k| {
            let mut r = Rng(1000 + k);
            let w: Vec<f64> = (0..n * m).map(|_| r.next()).collect();
            let p = d.join(format!("seed{k}.safetensors"));
            write_safetensors(&p, &[("fc.weight", [n, m], w)]);
            p
        })
        .collect();
    let opts = Options {
        mp_fit: true,
        phase: true,
        ..Options::default()
    };
    let e = ensemble(&runs, &opts).unwrap();
    let row = &e.report.layers[0];
    assert_eq!(row.num_evals, Some(8 * m));
    let mp = row.mp.unwrap();
    let edge = n as f64 / 12.0 * (1.0 + (m as f64 / n as f64).sqrt()).powi(2);
    assert!(
        (mp.bulk_max - edge).abs() < 0.02 * edge,
        "λ⁺ {} vs {edge}",
        mp.bulk_max
    );
    assert!((mp.sigma_mp - 1.0).abs() < 0.02, "σ {}", mp.sigma_mp);
    assert!(mp.mp_softrank > 0.9, "soft rank {}", mp.mp_softrank);
    assert_eq!(
        row.phase.as_ref().unwrap().phase.as_str(),
        "Random-like",
        "{}",
        row.phase.as_ref().unwrap().reason
    );
}

#[test]
fn a_layer_missing_or_reshaped_in_one_run_is_an_error_row_and_the_rest_is_pooled() {
    let d = tmpdir("ensemble-mismatch");
    let mut r = Rng(5);
    let mut w = |len: usize| -> Vec<f64> { (0..len).map(|_| r.next()).collect() };
    let a = d.join("a.safetensors");
    let b = d.join("b.safetensors");
    write_safetensors(
        &a,
        &[
            ("fc1.weight", [50, 20], w(1000)),
            ("fc2.weight", [40, 20], w(800)),
            ("fc3.weight", [30, 12], w(360)),
        ],
    );
    write_safetensors(
        &b,
        &[
            ("fc1.weight", [50, 20], w(1000)),
            ("fc2.weight", [40, 16], w(640)),
        ],
    );
    let e = ensemble(&[a, b.clone()], &Options::default()).unwrap();
    let by = |name: &str| e.report.layers.iter().find(|l| l.name == name).unwrap();
    assert_eq!(by("fc1").status, Status::Success);
    assert_eq!(by("fc1").num_evals, Some(40));
    let fc2 = by("fc2");
    assert_eq!(fc2.status, Status::Error);
    assert!(fc2.message.contains("40×16") && fc2.message.contains("b.safetensors"));
    let fc3 = by("fc3");
    assert_eq!(fc3.status, Status::Error);
    assert!(fc3.message.contains("1 of the 2 runs"), "{}", fc3.message);
    // Summary averages only the pooled layer.
    assert_eq!(e.report.summary.alpha, by("fc1").alpha);
}
