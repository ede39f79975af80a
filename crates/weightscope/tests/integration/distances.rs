//! Distances between the layers of two models against weightwatcher 0.7.7's `distances`
//! (tests/fixtures/distances/, written by tools/make_distance_fixtures.py): raw, euclidean and
//! CKA per layer, and the two averages.

use crate::common::{fixture, load};
use weightscope::distances::{averages, layer_distance, DistanceMethod, LayerDistance};
use weightscope::formats;

/// A model's tensors by name, as f64.
fn tensors(model: &str) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    let src = formats::open(&fixture(&format!("distances/{model}.safetensors"))).unwrap();
    src.tensors()
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), t.shape.clone(), src.read_f64(i).unwrap()))
        .collect()
}

fn tensor<'a>(
    ts: &'a [(String, Vec<usize>, Vec<f64>)],
    name: &str,
) -> &'a (String, Vec<usize>, Vec<f64>) {
    ts.iter()
        .find(|t| t.0 == name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
}

#[test]
fn distances_equal_weightwatcher() {
    let f = load("distances/distances.json");
    let mut checked = 0;
    for pair in f["pairs"].as_array().unwrap() {
        let (t1, t2) = (
            tensors(pair["model_1"].as_str().unwrap()),
            tensors(pair["model_2"].as_str().unwrap()),
        );
        let method: DistanceMethod = pair["method"].as_str().unwrap().parse().unwrap();
        // weightwatcher as shipped works on float32 copies of the weights: agreement to float32
        // rounding; with its converter kept at float64, to float64 rounding.
        let tol = match pair["precision"].as_str().unwrap() {
            "float64" => 1e-12,
            _ => 1e-6,
        };
        let mut rows: Vec<LayerDistance> = Vec::new();
        for row in pair["rows"].as_array().unwrap() {
            let name = row["name"].as_str().unwrap();
            let w1 = tensor(&t1, &format!("{name}.weight"));
            let w2 = tensor(&t2, &format!("{name}.weight"));
            // weightwatcher reads the bias of dense layers only.
            let bias = (w1.1.len() == 2).then(|| {
                (
                    tensor(&t1, &format!("{name}.bias")).2.as_slice(),
                    tensor(&t2, &format!("{name}.bias")).2.as_slice(),
                )
            });
            let got = layer_distance(&w1.2, &w2.2, &w1.1, bias, method).unwrap();
            let ctx = format!("{} {name} {:?}", pair["precision"], method);
            let close = |g: f64, w: f64, what: &str| {
                assert!(
                    (g - w).abs() <= tol * w.abs().max(1.0),
                    "{ctx} {what}: {g} vs weightwatcher {w}"
                )
            };
            close(got.delta_w, row["delta_W"].as_f64().unwrap(), "delta_W");
            close(got.delta_b, row["delta_b"].as_f64().unwrap(), "delta_b");
            assert_eq!(got.m as u64, row["M"].as_u64().unwrap(), "{ctx} M");
            assert_eq!(got.n as u64, row["N"].as_u64().unwrap(), "{ctx} N");
            rows.push(got);
            checked += 1;
        }
        let (avg_dw, avg_db) = averages(&rows);
        assert!((avg_dw - pair["avg_dW"].as_f64().unwrap()).abs() <= tol * avg_dw.abs().max(1.0));
        assert!((avg_db - pair["avg_db"].as_f64().unwrap()).abs() <= tol * avg_db.abs().max(1.0));
    }
    assert_eq!(checked, 2 * 2 * 3 * 5);
}

#[test]
fn cka_of_a_matrix_with_itself_and_a_multiple_is_one() {
    // ‖WᵀW‖_F / √(‖WᵀW‖_F·‖WWᵀ‖_F) = 1 since WᵀW and WWᵀ share their nonzero eigenvalues;
    // uncentred CKA is scale-invariant.
    let w: Vec<f64> = (0..12).map(|i| ((i * 7 % 5) as f64) - 1.5).collect();
    let w3: Vec<f64> = w.iter().map(|x| 3.0 * x).collect();
    let d = layer_distance(&w, &w3, &[3, 4], None, DistanceMethod::Cka).unwrap();
    assert!((d.delta_w - 1.0).abs() < 1e-14, "{}", d.delta_w);
    // Euclidean: ‖W − 3W‖ = 2‖W‖.
    let e = layer_distance(&w, &w3, &[3, 4], None, DistanceMethod::Euclidean).unwrap();
    let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!((e.delta_w - 2.0 * norm).abs() < 1e-12);
}

#[test]
fn distances_refuse_different_shapes() {
    let w = vec![0.0; 12];
    assert!(layer_distance(&w, &w[..6], &[3, 4], None, DistanceMethod::Raw).is_err());
    assert!(layer_distance(&w, &w, &[12], None, DistanceMethod::Cka).is_err());
}

#[test]
fn model_distances_of_checkpoints_equal_weightwatcher() {
    use weightscope::distances::model_distances;
    let f = load("distances/distances.json");
    let opts = weightscope::Options::default();
    for pair in f["pairs"].as_array().unwrap() {
        if pair["precision"] != "float64" {
            continue;
        }
        let path = |k: &str| {
            fixture(&format!(
                "distances/{}.safetensors",
                pair[k].as_str().unwrap()
            ))
        };
        let method: DistanceMethod = pair["method"].as_str().unwrap().parse().unwrap();
        let got = model_distances(&path("model_1"), &path("model_2"), &opts, &[method]).unwrap();
        let want = pair["rows"].as_array().unwrap();
        let names: Vec<&str> = got.iter().map(|r| r.name.as_str()).collect();
        // From the files, with weightscope's own choice of layers: the layers weightwatcher
        // reports, no others, each with its value.
        for w in want {
            let name = w["name"].as_str().unwrap();
            let r = got
                .iter()
                .find(|r| r.name == name)
                .unwrap_or_else(|| panic!("{name} missing from {names:?}"));
            let dw = w["delta_W"].as_f64().unwrap();
            assert!(
                (r.distance.delta_w - dw).abs() <= 1e-12 * dw.max(1.0),
                "{name} {method:?}"
            );
        }
        assert_eq!(got.len(), want.len(), "{names:?}");
    }
}
