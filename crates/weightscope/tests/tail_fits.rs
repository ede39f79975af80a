//! Tail fits beyond the power law (alternatives, truncated PL, Hill, bootstrap p, fingers,
//! detX, universality) against closed forms, hand-computed cases and the reference outputs
//! of weightwatcher 0.7.7 and powerlaw 2.0.0 in tests/fixtures/diagnosis/.

use serde_json::Value;
use std::path::{Path, PathBuf};
use weightscope::fit::alternatives::{
    exponential_loglikelihoods, loglikelihood_ratio, lognormal_at, lognormal_loglikelihoods,
    power_law_loglikelihoods, stretched_exponential_at, stretched_exponential_loglikelihoods,
    truncated_power_law_at, truncated_power_law_loglikelihoods, AlternativeFits, BestFit, Tail,
};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

fn load(rel: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture(rel)).unwrap()).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(1e-300)
    }
}

/// The samples of powerlaw_compare.json with their nz = data[data > 1e-5], sorted.
fn compare_samples() -> Vec<(Value, Vec<f64>)> {
    let fits = load("oracle/fits.json");
    let samples = load("diagnosis/powerlaw_compare.json");
    samples
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let data = if let Some(d) = s.get("data") {
                floats(d)
            } else {
                let name = s["origin"]["name"].as_str().unwrap();
                let c = fits
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["name"] == name)
                    .unwrap();
                floats(&c["evals"])
            };
            let mut nz: Vec<f64> = data.into_iter().filter(|&x| x > 1e-5).collect();
            nz.sort_by(f64::total_cmp);
            (s.clone(), nz)
        })
        .collect()
}

const ALTS: [&str; 4] = [
    "truncated_power_law",
    "exponential",
    "lognormal",
    "stretched_exponential",
];

/// Per-point log-likelihoods of powerlaw's fitted alternative `alt`, evaluated by our code.
fn ll_at_powerlaw_params(tail: &Tail, alt: &str, p: &Value) -> Vec<f64> {
    match alt {
        "truncated_power_law" => {
            let t = truncated_power_law_at(tail, f(&p["alpha"]), f(&p["Lambda"])).unwrap();
            truncated_power_law_loglikelihoods(tail, &t)
        }
        "exponential" => exponential_loglikelihoods(tail, f(&p["Lambda"])),
        "lognormal" => {
            let l = lognormal_at(tail, f(&p["mu"]), f(&p["sigma"])).unwrap();
            lognormal_loglikelihoods(tail, &l)
        }
        "stretched_exponential" => {
            let s = stretched_exponential_at(tail, f(&p["Lambda"]), f(&p["beta"]));
            stretched_exponential_loglikelihoods(tail, &s, 2.0)
        }
        _ => unreachable!(),
    }
}

/// powerlaw's lognormal normaliser 0.5·erfc((ln xmin − μ)/(√2σ)) underflows to a subnormal
/// for its runaway fits (μ = −766 and −561): its log-likelihood is then inflated, e.g. by 0.69
/// for pareto_mu2.5 (mpmath at 50 digits gives −457.1025 at powerlaw's own parameters, where
/// it reports −456.4076). Those two comparisons cannot be reproduced in exact arithmetic.
const LOGNORMAL_UNDERFLOW: [&str; 2] = ["spiked_400x200", "pareto_mu2.5_500x250"];

/// Our densities and the likelihood-ratio test reproduce powerlaw's R and p exactly when fed
/// powerlaw's own fitted parameters: this checks every normalisation (TPL via Γ(1−α, λxmin),
/// lognormal truncated at xmin, stretched exponential) and the Vuong/χ² p-values, apart from
/// the optimiser.
#[test]
fn densities_and_ratio_test_reproduce_powerlaw_at_its_parameters() {
    let (mut worst_r, mut worst_p, mut worst_ll) = (0.0f64, 0.0f64, 0.0f64);
    for (s, nz) in compare_samples() {
        let name = s["name"].as_str().unwrap();
        let xmin = f(&s["ww"]["xmin"]);
        let tail = Tail::new(&nz, xmin).unwrap();
        assert_eq!(tail.len() as f64, f(&s["powerlaw_fit"]["n_tail"]), "{name}");
        let pl_alpha = f(&s["powerlaw_fit"]["power_law"]["parameters"]["alpha"]);
        let ll_pl = power_law_loglikelihoods(&tail, pl_alpha);
        let sum_pl: f64 = ll_pl.iter().sum();
        let want = f(&s["powerlaw_fit"]["power_law"]["loglikelihood"]);
        assert!(rel(sum_pl, want) < 1e-12, "{name}: PL loglikelihood");
        for alt in ALTS {
            if alt == "lognormal" && LOGNORMAL_UNDERFLOW.contains(&name) {
                continue;
            }
            let a = &s["alternatives"][alt];
            let ll = ll_at_powerlaw_params(&tail, alt, &a["parameters"]);
            let sum: f64 = ll.iter().sum();
            let e_ll = rel(sum, f(&a["loglikelihood"]));
            assert!(
                e_ll < 1e-11,
                "{name} {alt}: loglikelihood {sum} vs {}",
                a["loglikelihood"]
            );
            let t = loglikelihood_ratio(&ll_pl, &ll, alt == "truncated_power_law");
            let raw = &a["powerlaw"]["pl_vs_alt"]["raw"];
            let norm = &a["powerlaw"]["pl_vs_alt"]["normalized"];
            // R is a difference of sums of size ~|LL|: compare relative to the sums.
            let e_r = (t.r - f(&raw["R"])).abs() / sum.abs();
            let e_n = (t.normalized_r - f(&norm["R"])).abs() / f(&norm["R"]).abs().max(1.0);
            // scipy's 1 − chi2.cdf (nested) is quantised in steps of 1.1e-16.
            let quantum = if alt == "truncated_power_law" {
                2.3e-16
            } else {
                0.0
            };
            let e_p = ((t.p - f(&raw["p"])).abs() - quantum).max(0.0) / f(&raw["p"]).max(1e-300);
            assert!(e_r < 1e-12, "{name} {alt}: R {} vs {}", t.r, raw["R"]);
            assert!(
                e_n < 1e-8,
                "{name} {alt}: normalized R {} vs {}",
                t.normalized_r,
                norm["R"]
            );
            assert!(e_p < 1e-8, "{name} {alt}: p {} vs {}", t.p, raw["p"]);
            worst_r = worst_r.max(e_r);
            worst_p = worst_p.max(e_p);
            worst_ll = worst_ll.max(e_ll);
        }
    }
    eprintln!(
        "at powerlaw's parameters: worst rel. loglikelihood {worst_ll:e}, R (rel. to LL) {worst_r:e}, p {worst_p:e}"
    );
}
