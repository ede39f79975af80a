//! Acting on the diagnosis, against the reference code (tests/fixtures/actions/, written by
//! tools/make_action_fixtures.py): AlphaPruning's sparsity ratios, and the α estimators of
//! AlphaPruning and TempBalance on the reference's eigenvalues and on ours.

use crate::common::{fixture, floats, load};
use weightscope::act::{alpha_mid, alpha_peak, block_groups, sparsity_ratios, SparsityOptions};
use weightscope::Options;

#[test]
fn sparsity_ratios_equal_alphapruning_ww_sparsity() {
    let f = load("actions/alphapruning.json");
    let mut checked = 0;
    for setup in f["setups"].as_array().unwrap() {
        let names: Vec<&str> = setup["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let params: Vec<u64> = setup["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect();
        let alphas = floats(&setup["alphas"]);
        let blocks = block_groups(&names);
        for case in setup["cases"].as_array().unwrap() {
            let opts = SparsityOptions {
                target: case["target"].as_f64().unwrap(),
                epsilon: case["epsilon"].as_f64().unwrap(),
            };
            let groups = match case["mapping_type"].as_str().unwrap() {
                "block_wise" => Some(blocks.as_slice()),
                _ => None,
            };
            let got = sparsity_ratios(&alphas, &params, groups, &opts).unwrap();
            let want = floats(&case["ratios"]);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-12,
                    "{} {} layer {i} ({}): {g} vs reference {w}",
                    setup["label"],
                    case["mapping_type"],
                    names[i]
                );
            }
            // The property the map is built for: the weighted mean is the target.
            let total: f64 = params.iter().map(|&p| p as f64).sum();
            let mean: f64 = got
                .iter()
                .zip(&params)
                .map(|(s, &p)| s * p as f64)
                .sum::<f64>()
                / total;
            assert!((mean - opts.target).abs() < 1e-12);
            checked += 1;
        }
    }
    assert_eq!(checked, 24);
}

#[test]
fn reference_estimators_equal_tempbalance_on_its_eigenvalues() {
    let f = load("actions/tempbalance.json");
    for run in f["runs"].as_array().unwrap() {
        let fitting = run["pl_fitting"].as_str().unwrap();
        for layer in run["layers"].as_array().unwrap() {
            let eigs = floats(&layer["eigs"]);
            let fit = match fitting {
                "median" => alpha_mid(&eigs, 2.0),
                _ => alpha_peak(&eigs, 100),
            }
            .unwrap();
            let (a, d) = (
                layer["alpha"].as_f64().unwrap(),
                layer["D"].as_f64().unwrap(),
            );
            let name = layer["longname"].as_str().unwrap();
            assert!(
                (fit.alpha - a).abs() <= 1e-12 * a,
                "{fitting} {name}: α {} vs {a}",
                fit.alpha
            );
            assert!(
                (fit.d - d).abs() <= 1e-12,
                "{fitting} {name}: D {} vs {d}",
                fit.d
            );
        }
    }
}

/// The whole path: weightscope's own eigenvalues of the reference's net (conv layers pooled
/// over the kernel positions and scaled by 1/2, as the reference's `conv_norm = 0.5` does)
/// give the reference's α.
#[test]
fn reference_estimators_on_our_eigenvalues_equal_tempbalance() {
    let f = load("actions/tempbalance.json");
    let opts = Options {
        keep_esd: true,
        ..Default::default()
    };
    let report =
        weightscope::analyze(&fixture("actions/tempbalance_net.safetensors"), &opts).unwrap();
    for run in f["runs"].as_array().unwrap() {
        let fitting = run["pl_fitting"].as_str().unwrap();
        for layer in run["layers"].as_array().unwrap() {
            let name = layer["longname"].as_str().unwrap();
            let row = report
                .layers
                .iter()
                .find(|r| r.longname == format!("{name}.weight"))
                .unwrap_or_else(|| panic!("no layer {name}"));
            let esd = row.esd.as_ref().unwrap();
            let want = floats(&layer["eigs"]);
            assert_eq!(esd.len(), want.len(), "{name}: number of eigenvalues");
            let fit = match fitting {
                "median" => alpha_mid(esd, 2.0),
                _ => alpha_peak(esd, 100),
            }
            .unwrap();
            let a = layer["alpha"].as_f64().unwrap();
            assert!(
                (fit.alpha - a).abs() <= 1e-9 * a,
                "{fitting} {name}: α {} vs {a}",
                fit.alpha
            );
        }
    }
}
