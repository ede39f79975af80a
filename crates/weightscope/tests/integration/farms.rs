//! FARMS against its reference implementation (github.com/HUST-AI-HYZ/FARMS, run by
//! tools/make_farms_fixtures.py on seeded matrices: tests/fixtures/farms/), and end to end
//! through `analyze` with `Options::farms`.

use faer::Mat;
use std::path::{Path, PathBuf};
use weightscope::fit::farms::{farms, FarmsOptions, FarmsXmin};
use weightscope::spectrum::{Precision, Solver};

/// The fixture script's generator: splitmix64, uniforms in (0, 1].
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * 2f64.powi(-53)
    }
}

/// The fixture's matrix, rows × cols (rows ≤ cols), row-major.
fn fixture_matrix(rows: usize, cols: usize, dist: &str, seed: u64, mu: Option<f64>) -> Vec<f64> {
    let mut g = SplitMix64(seed);
    (0..rows * cols)
        .map(|_| {
            if dist == "gaussian" {
                let (u1, u2) = (g.uniform_open(), g.uniform_open());
                (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            } else {
                let (u, s) = (g.uniform_open(), g.next_u64());
                u.powf(-1.0 / mu.unwrap()) * if s & 1 == 1 { 1.0 } else { -1.0 }
            }
        })
        .collect()
}

fn fixtures() -> Vec<(PathBuf, serde_json::Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/farms");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let v = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            (p, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 10,
        "FARMS fixtures missing in {}",
        dir.display()
    );
    out
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

#[test]
fn farms_agrees_with_the_reference() {
    for (path, f) in fixtures() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let rows = f["rows"].as_u64().unwrap() as usize;
        let cols = f["cols"].as_u64().unwrap() as usize;
        let data = fixture_matrix(
            rows,
            cols,
            f["dist"].as_str().unwrap(),
            f["seed"].as_u64().unwrap(),
            f["mu"].as_f64(),
        );
        // The generators agree (libm may differ in the last bit).
        let sum: f64 = data.iter().sum();
        assert!(
            rel(sum, f["matrix_sum"].as_f64().unwrap()) < 1e-9,
            "{name}: sum"
        );
        for (k, x) in f["matrix_first"].as_array().unwrap().iter().enumerate() {
            assert!(
                rel(data[k], x.as_f64().unwrap()) < 1e-14,
                "{name}: entry {k}"
            );
        }
        // weightscope holds the matrix tall (N × M): the transpose of the wide fixture.
        let w = Mat::from_fn(cols, rows, |i, j| data[j * cols + i]);
        let ks = f["fit"] == "ks";
        let opts = FarmsOptions {
            rows: f["num_row_samples"].as_u64().unwrap() as usize,
            q: f["Q_ratio"].as_f64().unwrap(),
            windows: f["sampling_ops_per_dim"].as_u64().unwrap() as usize,
            xmin: if ks { FarmsXmin::Ks } else { FarmsXmin::Median },
        };
        let got = farms(&[w], &opts, 1.0, Solver::Auto, Precision::F64).unwrap();
        assert_eq!(
            got.farms_num_evals as u64,
            f["num_evals"].as_u64().unwrap(),
            "{name}"
        );
        // The reference's KS branch keeps α and D in float32 tensors (`torch.zeros(N - 1)`),
        // so there it is exact only to float32's resolution; its median branch computes α in
        // float64. Its D is float32-limited in both: the empirical CDF k/n comes from
        // `torch.arange(n)` with a float n, a float32 tensor (measured: 6.5e-8 relative).
        let tol = if ks { 1e-6 } else { 1e-9 };
        let (alpha, d) = (f["alpha"].as_f64().unwrap(), f["D"].as_f64().unwrap());
        assert!(
            rel(got.farms_alpha, alpha) < tol,
            "{name}: α {} vs reference {alpha}",
            got.farms_alpha
        );
        assert!(
            rel(got.farms_d, d) < 1e-6,
            "{name}: D {} vs reference {d}",
            got.farms_d
        );
        eprintln!(
            "{name}: α {:.3e}, D {:.3e} relative to the reference",
            rel(got.farms_alpha, alpha),
            rel(got.farms_d, d)
        );
        if let Some(xmin) = f["xmin"].as_f64() {
            assert!(rel(got.farms_xmin, xmin) < 1e-9, "{name}: xmin");
        }
        assert_eq!(got.farms_rows, opts.rows.min(rows), "{name}");
    }
}

#[test]
fn analyze_fills_the_farms_columns_and_keeps_the_standard_alpha() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mnist-cnn/model.safetensors");
    let plain = weightscope::analyze(&path, &weightscope::Options::default()).unwrap();
    let opts = weightscope::Options {
        farms: Some(FarmsOptions::default()),
        ..Default::default()
    };
    let with = weightscope::analyze(&path, &opts).unwrap();
    assert_eq!(plain.layers.len(), with.layers.len());
    let mut filled = 0;
    for (a, b) in plain.layers.iter().zip(&with.layers) {
        // The standard α is the same fit of the same full ESD.
        assert_eq!(a.alpha, b.alpha, "{}", a.longname);
        assert!(a.farms.is_none());
        if let Some(f) = b.farms {
            filled += 1;
            assert!(
                f.farms_alpha > 1.0 && f.farms_d >= 0.0,
                "{}: {f:?}",
                b.longname
            );
            assert!(f.farms_cols as f64 >= 2.0 * f.farms_rows as f64 - 1.0);
            assert_eq!(f.farms_num_evals, f.farms_num_submatrices * f.farms_rows);
        }
    }
    assert!(filled > 0, "no layer got FARMS columns");
}
