//! SVD smoothing against weightwatcher 0.7.7's `SVDSmoothing` (tests/fixtures/smooth/,
//! written by tools/make_smooth_fixtures.py): the number of components each layer keeps
//! is weightwatcher's exactly; the smoothed weights equal the exact truncated SVD (computed
//! by NumPy's LAPACK SVD) to 1e-10, and weightwatcher's randomized float32 approximation of
//! it to within that solver's own error.

use crate::common::{fixture, floats, load};
use weightscope::act::{kept_per_matrix, smooth_tensor, SmoothMethod};
use weightscope::Options;

fn method(name: &str) -> SmoothMethod {
    match name {
        "detX" => SmoothMethod::DetX,
        "rmt" => SmoothMethod::Rmt,
        "alpha_min" => SmoothMethod::AlphaMin,
        other => panic!("unknown method {other}"),
    }
}

fn singular_values(values: &[f64], shape: &[usize]) -> Vec<f64> {
    let slices: Vec<faer::Mat<f64>> = match *shape {
        [n, m] => vec![faer::Mat::from_fn(n, m, |i, j| values[i * m + j])],
        [o, c, kh, kw] => (0..kh * kw)
            .map(|s| faer::Mat::from_fn(o, c, |i, j| values[(i * c + j) * kh * kw + s]))
            .collect(),
        _ => unreachable!(),
    };
    slices
        .iter()
        .flat_map(|w| {
            let mut s = w.singular_values().unwrap();
            s.sort_by(|a, b| b.total_cmp(a));
            s
        })
        .collect()
}

#[test]
fn smoothing_keeps_weightwatchers_ranks_and_the_exact_truncation() {
    let f = load("smooth/smooth.json");
    let path = fixture("smooth/model.safetensors");
    let source = weightscope::formats::open(&path).unwrap();
    for run in f["runs"].as_array().unwrap() {
        let m = method(run["method"].as_str().unwrap());
        let mut opts = Options::default();
        m.require(&mut opts);
        let report = weightscope::analyze(&path, &opts).unwrap();
        let layers = run["layers"].as_array().unwrap();
        assert_eq!(report.layers.len(), layers.len(), "{}: layers", m.name());
        for layer in layers {
            let name = layer["longname"].as_str().unwrap();
            let row = report
                .layers
                .iter()
                .find(|r| r.longname == name)
                .unwrap_or_else(|| panic!("no layer {name}"));
            let num_smooth = m.num_smooth(row).unwrap();
            assert_eq!(
                num_smooth as u64,
                layer["num_smooth"].as_u64().unwrap(),
                "{} {name}: components kept",
                m.name()
            );
            assert_eq!(
                kept_per_matrix(num_smooth, row.rf) as u64,
                layer["kept_per_matrix"].as_u64().unwrap()
            );

            let index = source
                .tensors()
                .iter()
                .position(|t| t.name == name)
                .unwrap();
            let shape: Vec<usize> = source.tensors()[index].shape.clone();
            let original = source.read_f64(index).unwrap();
            let got = smooth_tensor(&original, &shape, num_smooth)
                .unwrap()
                .unwrap();
            let exact = floats(&layer["exact"]);
            let scale = exact.iter().fold(0.0f64, |a, x| a.max(x.abs()));
            let gap = got
                .iter()
                .zip(&exact)
                .fold(0.0f64, |a, (g, e)| a.max((g - e).abs()));
            assert!(
                gap <= 1e-10 * scale,
                "{} {name}: exact truncation off by {gap:e}",
                m.name()
            );

            // weightwatcher's own result (randomized SVD of the float32 weights): the same
            // matrix up to that solver's error, which the fixture records.
            let frobenius = got.iter().map(|x| x * x).sum::<f64>().sqrt();
            let ww_frobenius = layer["weightwatcher_frobenius"].as_f64().unwrap();
            assert!(
                (frobenius - ww_frobenius).abs() <= 1e-3 * ww_frobenius,
                "{} {name}: ‖W‖F {frobenius} vs weightwatcher {ww_frobenius}",
                m.name()
            );
            let ours = singular_values(&got, &shape);
            let theirs = floats(&layer["weightwatcher_singular_values"]);
            assert_eq!(ours.len(), theirs.len());
            let top = ours.iter().fold(0.0f64, |a, &x| a.max(x));
            for (a, b) in ours.iter().zip(&theirs) {
                assert!(
                    (a - b).abs() <= 2e-2 * top,
                    "{} {name}: singular value {a} vs weightwatcher {b}",
                    m.name()
                );
            }
        }
    }
}
