//! Tail fits beyond the power law (alternatives, truncated PL, Hill, bootstrap p, fingers,
//! detX, universality) against closed forms, hand-computed cases and the reference outputs
//! of weightwatcher 0.7.7 and powerlaw 2.0.0 in tests/fixtures/diagnosis/.

use serde_json::Value;
use weightscope::fit::alternatives::{
    exponential_loglikelihoods, loglikelihood_ratio, lognormal_at, lognormal_loglikelihoods,
    power_law_loglikelihoods, stretched_exponential_at, stretched_exponential_loglikelihoods,
    truncated_power_law_at, truncated_power_law_loglikelihoods, AlternativeFits, BestFit, Tail,
};
use weightscope::fit::detx::detx;
use weightscope::fit::fingers::{
    clip_xmax, fit_power_law_xmin_range, log10_histogram_peak, xmin_peak, ClipXmaxOptions,
};
use weightscope::fit::truncated::{
    alpha_hill, alpha_hill_for_fit, bootstrap_pvalue, fit_xmax_truncated,
};
use weightscope::fit::universality::{universality, UniversalityClass};
use weightscope::fit::{fit_power_law, PlMethod};

use crate::common::{floats, load};

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

/// Where powerlaw's Nelder–Mead result is not the maximum of the likelihood, and why. Every
/// other (sample, model) pair is expected to agree with powerlaw to its optimiser tolerance.
fn powerlaw_artefact(name: &str, alt: &str) -> Option<&'static str> {
    match (alt, name) {
        ("truncated_power_law", "gauss_1000x500" | "conv_64x32x3x3" | "rankdef_300x200") => {
            Some("TPL alpha stuck on powerlaw's lower bound 0; the MLE has alpha < 0")
        }
        ("truncated_power_law", "pareto_mu2.5_500x250" | "sample_pareto_a4_n2000") => {
            Some("TPL alpha stuck on powerlaw's upper bound 3")
        }
        ("lognormal", "spiked_400x200" | "pareto_mu2.5_500x250") => Some(
            "runaway mu (-766, -561) with an underflowed normaliser; the maximum is the PL limit",
        ),
        ("lognormal", "synth_pareto_a2.2_n2000") => {
            Some("stopped early on the ridge towards the PL limit (mu -414; the MLE has mu -751)")
        }
        (
            "stretched_exponential",
            "spiked_400x200"
            | "heavy_600x300"
            | "pareto_mu1.5_500x250"
            | "pareto_mu2.5_500x250"
            | "sample_pareto_a2.5_n300"
            | "sample_pareto_a4_n2000"
            | "sample_ties_a2.5_n300_round2"
            | "synth_pareto_a2.2_n2000",
        ) => Some("stopped on the (lambda, beta) ridge towards the PL limit beta -> 0"),
        _ => None,
    }
}

fn our_params(fits: &AlternativeFits, alt: &str) -> Vec<(&'static str, f64)> {
    match alt {
        "truncated_power_law" => vec![
            ("alpha", fits.truncated_power_law.alpha),
            ("Lambda", fits.truncated_power_law.lambda),
        ],
        "exponential" => vec![("Lambda", fits.exponential.lambda)],
        "lognormal" => vec![
            ("mu", fits.lognormal.mu.unwrap_or(f64::NAN)),
            ("sigma", fits.lognormal.sigma.unwrap_or(f64::NAN)),
        ],
        "stretched_exponential" => vec![
            (
                "Lambda",
                fits.stretched_exponential.lambda.unwrap_or(f64::NAN),
            ),
            ("beta", fits.stretched_exponential.beta.unwrap_or(f64::NAN)),
        ],
        _ => unreachable!(),
    }
}

fn our_ll(fits: &AlternativeFits, alt: &str) -> f64 {
    match alt {
        "truncated_power_law" => fits.truncated_power_law.loglikelihood,
        "exponential" => fits.exponential.loglikelihood,
        "lognormal" => fits.lognormal.loglikelihood,
        "stretched_exponential" => fits.stretched_exponential.loglikelihood,
        _ => unreachable!(),
    }
}

/// Our MLEs against powerlaw 2.0's numerical fits: (1) ours is never below the likelihood of
/// powerlaw's parameters (evaluated exactly by our code): a certificate that we found the
/// maximum in all 56 cases; (2) where powerlaw converged, log-likelihoods agree within its
/// Nelder–Mead tolerance (fatol 1e-4) and parameters within what that tolerance allows along
/// flat directions; (3) where it did not (documented in `powerlaw_artefact`), ours is higher.
#[test]
fn maximum_likelihood_fits_agree_with_powerlaw_where_it_converged() {
    let (mut worst_ll, mut worst_par, mut worst_par_exp) = (0.0f64, 0.0f64, 0.0f64);
    let mut n_agree = 0;
    for (s, nz) in compare_samples() {
        let name = s["name"].as_str().unwrap();
        let xmin = f(&s["ww"]["xmin"]);
        let fits = AlternativeFits::fit(&nz, xmin).unwrap();
        for alt in ALTS {
            let a = &s["alternatives"][alt];
            let ours = our_ll(&fits, alt);
            if !(alt == "lognormal" && LOGNORMAL_UNDERFLOW.contains(&name)) {
                let at_theirs: f64 = ll_at_powerlaw_params(&fits.tail, alt, &a["parameters"])
                    .iter()
                    .sum();
                assert!(
                    ours >= at_theirs - 1e-10 * ours.abs(),
                    "{name} {alt}: our maximum {ours} below powerlaw's point {at_theirs}"
                );
            }
            let theirs = f(&a["loglikelihood"]);
            match powerlaw_artefact(name, alt) {
                Some(why) => {
                    // Strictly better than powerlaw's (exact) likelihood at its parameters.
                    let at_theirs: f64 = ll_at_powerlaw_params(&fits.tail, alt, &a["parameters"])
                        .iter()
                        .sum();
                    assert!(
                        ours > at_theirs + 1e-4,
                        "{name} {alt} ({why}): {ours} vs {at_theirs}"
                    );
                }
                None => {
                    n_agree += 1;
                    let d = (ours - theirs).abs();
                    assert!(d < 1e-4, "{name} {alt}: loglikelihood {ours} vs {theirs}");
                    worst_ll = worst_ll.max(d);
                    for (k, v) in our_params(&fits, alt) {
                        let w = f(&a["parameters"][k]);
                        if k == "Lambda" && alt == "truncated_power_law" && (v * xmin) < 1e-6 {
                            // At (ours) or next to (powerlaw's 4e-12) the PL boundary λ = 0.
                            assert!(w * xmin < 1e-6, "{name} {alt}: λ {v} vs {w}");
                            continue;
                        }
                        let e = rel(v, w);
                        if alt == "exponential" {
                            // The closed form 1/(mean − xmin) against a numerical fit.
                            worst_par_exp = worst_par_exp.max(e);
                            assert!(e < 5e-3, "{name} {alt} {k}: {v} vs {}", a["parameters"][k]);
                        } else {
                            worst_par = worst_par.max(e);
                            assert!(e < 5e-3, "{name} {alt} {k}: {v} vs {}", a["parameters"][k]);
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "{n_agree} converged powerlaw fits: worst |Δloglikelihood| {worst_ll:e}, worst rel. parameter {worst_par:e} (exponential λ {worst_par_exp:e})"
    );
}

/// The best-fit label follows weightwatcher's best_dist rule. On all 14 samples it equals
/// best_dist applied to WWFit (weightwatcher's own α); powerlaw's Fit differs only where its
/// power law is capped at α = 3 (sample_pareto_a4_n2000 → S_EXP, synth_exponential → TPL).
#[test]
fn best_fit_labels_match_weightwatcher() {
    for (s, nz) in compare_samples() {
        let name = s["name"].as_str().unwrap();
        let fits = AlternativeFits::fit(&nz, f(&s["ww"]["xmin"])).unwrap();
        let ours = fits.best_fit().as_str();
        assert_eq!(ours, s["best_dist_ww"].as_str().unwrap(), "{name}");
        let capped = s["powerlaw_fit"]["power_law"]["noise_flag"]
            .as_bool()
            .unwrap();
        if !capped {
            assert_eq!(ours, s["best_dist_powerlaw"].as_str().unwrap(), "{name}");
        }
    }
}

/// R and p of our fits against the reference comparisons, where both sides fit the same
/// model: powerlaw's own comparison when its PL is not capped, else WWFit's (its uncapped α
/// with powerlaw's alternatives). Exact agreement is not expected: R moves with the
/// alternative's log-likelihood (≤ 1e-4 apart, above) and the Vuong p with the variance of
/// the pointwise differences, which is not stationary at the optimum.
#[test]
fn ratio_tests_agree_with_the_references_where_the_fits_agree() {
    let (mut worst_r, mut worst_p, mut worst_n) = (0.0f64, 0.0f64, 0.0f64);
    for (s, nz) in compare_samples() {
        let name = s["name"].as_str().unwrap();
        let fits = AlternativeFits::fit(&nz, f(&s["ww"]["xmin"])).unwrap();
        let capped = s["powerlaw_fit"]["power_law"]["noise_flag"]
            .as_bool()
            .unwrap();
        let ties = name.contains("ties");
        let c = fits.columns();
        for (alt, r, p, model) in [
            ("truncated_power_law", c.r_tpl, c.p_tpl, BestFit::TPL),
            ("exponential", c.r_exp, c.p_exp, BestFit::EXP),
            ("lognormal", c.r_logn, c.p_logn, BestFit::LogN),
            ("stretched_exponential", c.r_sexp, c.p_sexp, BestFit::SExp),
        ] {
            if powerlaw_artefact(name, alt).is_some() {
                // Our alternative is at least as likely as powerlaw's: R is ≤ theirs (PL side
                // equal), and for the models containing the PL as a limit R ≤ 0.
                if alt != "exponential" {
                    assert!(r <= 1e-9, "{name} {alt}: R {r}");
                }
                continue;
            }
            let a = &s["alternatives"][alt];
            let side = if capped && !ties { "ww" } else { "powerlaw" };
            let reference = &a[side]["pl_vs_alt"]["raw"];
            let normalized = f(&a[side]["pl_vs_alt"]["normalized"]["R"]);
            let er = (r - f(&reference["R"])).abs();
            // p compared on a log scale: it moves with the normalised R.
            let ep = (p.ln() - f(&reference["p"]).ln()).abs();
            let nr = fits.compare(BestFit::PL, model).normalized_r;
            let en = (nr - normalized).abs() / normalized.abs().max(1.0);
            assert!(er < 1e-4, "{name} {alt}: R {r} vs {}", reference["R"]);
            assert!(ep < 0.2, "{name} {alt}: p {p} vs {}", reference["p"]);
            assert!(en < 2e-2, "{name} {alt}: normalized R {nr} vs {normalized}");
            worst_r = worst_r.max(er);
            worst_p = worst_p.max(ep);
            worst_n = worst_n.max(en);
        }
    }
    eprintln!(
        "R and p vs references: worst |ΔR| {worst_r:e}, |Δ ln p| {worst_p:e}, rel. Δ(normalised R) {worst_n:e}"
    );
}

// ---------------------------------------------------------------------------------------------
// xmax-truncated power law, Hill, bootstrap p-value

/// Our xmax-truncated MLE against powerlaw's forced numerical fit
/// (`Power_Law(xmin, xmax=max, force_numerical_fit=True, alpha ≥ 1)`).
#[test]
fn xmax_truncated_mle_agrees_with_powerlaw_numerical_fit() {
    let (mut worst_a, mut worst_ll) = (0.0f64, 0.0f64);
    for (s, nz) in compare_samples() {
        let name = s["name"].as_str().unwrap();
        let xmin = f(&s["ww"]["xmin"]);
        let xmax = *nz.last().unwrap();
        assert_eq!(xmax, f(&s["powerlaw_fit_xmax"]["xmax"]), "{name}");
        let fit = fit_xmax_truncated(&nz, xmin, xmax).unwrap();
        let want = &s["xmax_truncated_mle"];
        let (ea, ell) = (
            rel(fit.alpha_xmax, f(&want["alpha"])),
            fit.loglikelihood - f(&want["loglikelihood"]),
        );
        // Nelder–Mead (tolerance 1e-4) against the exact root of the score equation: ours is
        // never less likely, and within the optimiser's tolerance.
        assert!(
            ell > -1e-9,
            "{name}: {} vs {}",
            fit.loglikelihood,
            want["loglikelihood"]
        );
        assert!(ell < 1e-4, "{name}: loglikelihood {ell}");
        assert!(
            ea < 1e-3,
            "{name}: alpha {} vs {}",
            fit.alpha_xmax,
            want["alpha"]
        );
        worst_a = worst_a.max(ea);
        worst_ll = worst_ll.max(ell);
        // Truncating at xmax can only lower α relative to the untruncated MLE (the data end
        // at xmax, so a steeper-looking tail is explained by the bound).
        let untruncated = 1.0
            + fit.n as f64
                / nz[nz.len() - fit.n..]
                    .iter()
                    .map(|x| (x / xmin).ln())
                    .sum::<f64>();
        assert!(fit.alpha_xmax < untruncated, "{name}");
    }
    eprintln!("alpha_xmax vs powerlaw: worst rel. Δα {worst_a:e}, worst ΔLL {worst_ll:e}");
}

#[test]
fn xmax_truncated_mle_hand_cases() {
    // Two points at the ends, x ∈ {1, e}: ū = U/2, the score root is a = 0 (α = 1): the
    // uniform density of u on [0, 1], log-likelihood −Σ ln x = −1.
    let fit = fit_xmax_truncated(&[1.0, std::f64::consts::E], 1.0, std::f64::consts::E).unwrap();
    assert!((fit.alpha_xmax - 1.0).abs() < 1e-12, "{}", fit.alpha_xmax);
    assert!((fit.loglikelihood + 1.0).abs() < 1e-12);
    // A large exact Pareto sample with xmax far beyond the data behaves like the untruncated
    // MLE 1 + n/Σ ln(x/xmin).
    let x: Vec<f64> = (0..4000)
        .map(|k| (1.0 - (k as f64 + 0.5) / 4000.0).powf(-1.0 / 1.5))
        .rev()
        .collect();
    let mut x = x;
    x.sort_by(f64::total_cmp);
    let s: f64 = x.iter().map(|v| v.ln()).sum();
    let mle = 1.0 + 4000.0 / s;
    let fit = fit_xmax_truncated(&x, 1.0, 1e12).unwrap();
    assert!(
        (fit.alpha_xmax - mle).abs() < 1e-9,
        "{} vs {mle}",
        fit.alpha_xmax
    );
    assert!(fit_xmax_truncated(&[2.0], 1.0, 3.0).is_none());
}

#[test]
fn hill_estimator_hand_cases() {
    // Top k = 2 of (1, 2, 4, 8) above x₍₃₎ = 2: ln 2 + ln 4 = 3 ln 2 → α = 1 + 2/(3 ln 2).
    let x = [1.0, 2.0, 4.0, 8.0];
    let want = 1.0 + 2.0 / (3.0 * 2f64.ln());
    assert!((alpha_hill(&x, 2).unwrap() - want).abs() < 1e-15);
    assert!(alpha_hill(&x, 0).is_none());
    assert!(alpha_hill(&x, 4).is_none());
    // Default k = tail size: with the tail = whole sample, k = n − 1 and α_hill is CSN's MLE
    // with the (n−1)/n correction.
    let fit = weightscope::fit::PowerLawFit {
        alpha: 2.0,
        xmin: 1.0,
        xmax: 8.0,
        d: 0.1,
        sigma: 0.5,
        n_tail: 4,
        xmin_index: 0,
    };
    let s: f64 = x.iter().map(|v| v.ln()).sum();
    assert!((alpha_hill_for_fit(&x, &fit).unwrap() - (1.0 + 3.0 / s)).abs() < 1e-15);
    // Tail = top 2 (xmin = 4): threshold = 2, k = 2.
    let fit = weightscope::fit::PowerLawFit {
        xmin: 4.0,
        n_tail: 2,
        xmin_index: 2,
        ..fit
    };
    assert!((alpha_hill_for_fit(&x, &fit).unwrap() - want).abs() < 1e-15);
}

fn pareto_sample(n: usize, alpha: f64, seed: u64) -> Vec<f64> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut x: Vec<f64> = (0..n)
        .map(|_| (1.0 - rng.random::<f64>()).powf(-1.0 / (alpha - 1.0)))
        .collect();
    x.sort_by(f64::total_cmp);
    x
}

fn exponential_sample(n: usize, seed: u64) -> Vec<f64> {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut x: Vec<f64> = (0..n).map(|_| -(1.0 - rng.random::<f64>()).ln()).collect();
    x.sort_by(f64::total_cmp);
    x
}

/// CSN §4.1: a pure Pareto sample passes (p > 0.1) and an exponential one fails (p < 0.1),
/// B = 100, n = 500, and the result is reproducible bit for bit. (One fixed seed; the rates over
/// many seeds are in the next test.)
#[test]
fn bootstrap_pvalue_separates_pareto_from_exponential() {
    let x = pareto_sample(500, 2.5, 101);
    let fit = fit_power_law(&x, PlMethod::Ww).unwrap();
    let gof = bootstrap_pvalue(&x, &fit, PlMethod::Ww, 100, 1).unwrap();
    assert!(gof.pl_pvalue > 0.1, "Pareto: p = {}", gof.pl_pvalue);
    assert_eq!(gof.replicates, 100);
    assert_eq!(
        gof,
        bootstrap_pvalue(&x, &fit, PlMethod::Ww, 100, 1).unwrap()
    );
    let x = exponential_sample(500, 201);
    let fit = fit_power_law(&x, PlMethod::Ww).unwrap();
    let gof = bootstrap_pvalue(&x, &fit, PlMethod::Ww, 100, 1).unwrap();
    assert!(gof.pl_pvalue < 0.1, "exponential: p = {}", gof.pl_pvalue);
}

/// Size and power over 12 seeds (n = 500, B = 100). Pareto samples pass at about the nominal
/// rate (measured 11/12 with p > 0.1 for both methods). Against exponential samples the test
/// is powerful with powerlaw's method (10/12 with p < 0.1), whose α ≤ 3 cap forces tails of
/// 150–280 values, but weak with WWFit's (4/12): its xmin search often settles on the last
/// 20–40 values, where an exponential is locally indistinguishable from a steep power law
/// (α 5–9). A known limit of CSN with free xmin (CSN §4.1 warn that small tails give little
/// power); worth stating next to `pl_pvalue`.
#[test]
fn bootstrap_pvalue_size_and_power_over_seeds() {
    let pvalue = |x: &[f64], m: PlMethod, seed: u64| {
        let fit = fit_power_law(x, m).unwrap();
        bootstrap_pvalue(x, &fit, m, 100, seed).unwrap().pl_pvalue
    };
    for m in [PlMethod::Ww, PlMethod::Powerlaw] {
        let pass = (1u64..=12)
            .filter(|&s| pvalue(&pareto_sample(500, 2.5, 100 + s), m, s) > 0.1)
            .count();
        assert!(pass >= 10, "{m:?}: {pass}/12 Pareto samples pass");
        let reject = (1u64..=12)
            .filter(|&s| pvalue(&exponential_sample(500, 200 + s), m, s) < 0.1)
            .count();
        match m {
            PlMethod::Powerlaw => assert!(reject >= 9, "{m:?}: {reject}/12 rejected"),
            PlMethod::Ww => assert!(reject >= 3, "{m:?}: {reject}/12 rejected"),
        }
        eprintln!("{m:?}: Pareto pass {pass}/12, exponential rejected {reject}/12");
    }
}

// ---------------------------------------------------------------------------------------------
// fix_fingers, detX, universality (weightwatcher 0.7.7 fixtures)

/// The eigenvalues of a layer of the diagnosis fixtures (all, ascending, zeros included).
fn layer_evals(source: &str, name: &str) -> Vec<f64> {
    let mp = load("diagnosis/ww_mp_fit.json");
    let row = mp
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"] == source && r["name"] == name)
        .unwrap();
    floats(&row["evals"])
}

fn nz(evals: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = evals.iter().copied().filter(|&x| x > 1e-5).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// clip-xmax against weightwatcher's `fit_clipped_powerlaw`: every refit weightwatcher made
/// (idx = 2..9 removed) is reproduced to 1e-9, and our decisions differ from its only through
/// its documented bugs:
/// * num_fingers counts removed values: conv_64x32x3x3 and finger_mild_300x150 remove the same
///   values with the same α, and report 3 and 2 where weightwatcher reports 2 and 1;
/// * k = 1 is tried: gauss_400x400 (α 40.25 → 7.58) and example/conv_layers.0 (5.40 → 3.43)
///   stop at one removed value, where weightwatcher, starting at 2, removes two;
/// * k = max_fingers = 10 is tried: conv_16x3x5x5 drops from α 5.01 to 2.95 at k = 10, a step
///   weightwatcher's range(2, 10) never reaches;
/// * example/fc_layers.2 (10 values), which weightwatcher fails, keeps its first fit.
#[test]
fn clip_xmax_reproduces_weightwatcher_refits_without_its_bugs() {
    let ff = load("diagnosis/ww_fix_fingers.json");
    let mut worst = 0.0f64;
    for r in ff["clip_xmax"].as_array().unwrap() {
        let (src, name) = (r["source"].as_str().unwrap(), r["name"].as_str().unwrap());
        let x = nz(&layer_evals(src, name));
        let seq = &r["clip_sequence"];
        assert_eq!(x.len() as u64, seq["n"].as_u64().unwrap(), "{name}");
        let ours = clip_xmax(&x, PlMethod::Ww, &ClipXmaxOptions::default()).unwrap();
        let e = rel(ours.raw_alpha, f(&seq["first_alpha"]));
        assert!(e < 1e-9, "{name}: raw alpha");
        worst = worst.max(e);
        for step in seq["steps"].as_array().unwrap() {
            let k = step["idx"].as_u64().unwrap() as usize;
            if let Some(a) = step.get("alpha") {
                // Our own refit of nz[..n−k], whether or not the search got that far.
                let fit = fit_power_law(&x[..x.len() - k], PlMethod::Ww).unwrap();
                let e = rel(fit.alpha, f(a));
                assert!(e < 1e-9, "{name} k={k}: {} vs {a}", fit.alpha);
                worst = worst.max(e);
                if let Some(Some(t)) = ours.tried.get(k - 1) {
                    assert_eq!(*t, fit.alpha);
                }
            }
        }
        let alpha = ours.fit.unwrap().alpha;
        let ww_nf = r["num_fingers"].as_u64();
        let expected_nf = match name {
            "conv_64x32x3x3" => 3,
            "finger_mild_300x150" => 2,
            "gauss_400x400" | "conv_layers.0" => 1,
            "conv_16x3x5x5" => 10,
            _ => 0,
        };
        assert_eq!(ours.num_fingers, expected_nf, "{name}");
        match name {
            "conv_64x32x3x3" | "finger_mild_300x150" => {
                assert_eq!(ours.num_fingers as u64, ww_nf.unwrap() + 1);
                assert!(rel(alpha, f(&r["alpha"])) < 1e-9, "{name}");
            }
            "fc_layers.2" => assert_eq!(r["status"], "failed"),
            "gauss_400x400" | "conv_layers.0" => {
                // One value removed is enough: α drops by more than 1 already.
                assert!(ours.tried[0].unwrap() + 1.0 < ours.raw_alpha);
            }
            "conv_16x3x5x5" => assert!(alpha + 1.0 < ours.raw_alpha),
            _ => {
                assert_eq!(ww_nf, Some(0), "{name}");
                assert!(rel(alpha, f(&r["alpha"])) < 1e-9, "{name}");
            }
        }
    }
    eprintln!("clip-xmax refits vs weightwatcher: worst rel. Δα {worst:e}");
    // max_fingers is honoured: with 2, conv_64x32x3x3 (needs 3) keeps its first fit.
    let x = nz(&layer_evals("oracle", "conv_64x32x3x3"));
    let opts = ClipXmaxOptions {
        max_fingers: 2,
        ..Default::default()
    };
    assert_eq!(clip_xmax(&x, PlMethod::Ww, &opts).unwrap().num_fingers, 0);
}

/// numpy's histogram peak and powerlaw's restricted xmin search are reproduced (with
/// weightwatcher's own mixed log/linear range, through `fit_power_law_xmin_range`), and the
/// fixed xmin-peak searches [0.95, 1.5]·peak in linear units, on every layer.
#[test]
fn xmin_peak_matches_the_emulated_weightwatcher_search() {
    let ff = load("diagnosis/ww_fix_fingers.json");
    let mut checked = 0;
    for r in ff["xmin_peak_emulated"].as_array().unwrap() {
        let (src, name) = (r["source"].as_str().unwrap(), r["name"].as_str().unwrap());
        let x = nz(&layer_evals(src, name));
        let (bin, xmin2) = log10_histogram_peak(&x, 100).unwrap();
        assert_eq!(bin as u64, r["peak_bin"].as_u64().unwrap(), "{name}");
        assert!(
            rel(xmin2, f(&r["xmin2"])) < 1e-13,
            "{name}: {xmin2} vs {}",
            r["xmin2"]
        );
        // Fixed version: always a fit, xmin in the linear range unless no candidate is there.
        let fixed = xmin_peak(&x, PlMethod::Powerlaw).unwrap();
        let (lo, hi) = fixed.xmin_range;
        assert!(
            fixed.snapped || (fixed.fit.xmin >= lo && fixed.fit.xmin <= hi),
            "{name}"
        );
        if r["error"].is_null() {
            // powerlaw's candidates: unique(x[(x ≥ lo) & (x < hi)])[:-1] with weightwatcher's
            // lo = log10(0.95·xmin2), hi = 1.5·xmin2.
            let (lo, hi) = ((0.95 * xmin2).log10(), 1.5 * xmin2);
            let mut cands: Vec<f64> = x.iter().copied().filter(|&v| v >= lo && v < hi).collect();
            cands.dedup();
            cands.pop();
            assert_eq!(
                cands.len() as u64,
                r["num_xmin_candidates"].as_u64().unwrap(),
                "{name}"
            );
            let fit = fit_power_law_xmin_range(&x, PlMethod::Powerlaw, lo, *cands.last().unwrap())
                .unwrap();
            assert_eq!(fit.xmin, f(&r["xmin"]), "{name}");
            let tol = if r["noise_flag"].as_bool().unwrap() {
                1e-12
            } else {
                1e-9
            };
            assert!(
                rel(fit.alpha, f(&r["alpha"])) < tol,
                "{name}: {} vs {}",
                fit.alpha,
                r["alpha"]
            );
            assert!((fit.d - f(&r["D"])).abs() < 1e-9, "{name}: D");
            assert_eq!(fit.n_tail as f64, f(&r["n_tail"]));
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
}

/// detX against weightwatcher: Wscale bit for bit (numpy's pairwise sum), detX_num on every
/// layer, and detX_val (original scale, weightwatcher's `detX_val`) and detX_val_rescaled
/// (weightwatcher's misnamed `detX_val_unrescaled`) exactly, except in the whole-spectrum
/// case, where weightwatcher reports the value at idx 1 for a tail starting at idx 0.
#[test]
fn detx_matches_weightwatcher() {
    let rows = load("diagnosis/ww_detx.json");
    for r in rows.as_array().unwrap() {
        let (src, name) = (r["source"].as_str().unwrap(), r["name"].as_str().unwrap());
        let ev = layer_evals(src, name);
        let d = detx(&ev).unwrap();
        assert_eq!(d.wscale, f(&r["internals"]["Wscale"]), "{name}: Wscale");
        assert_eq!(d.detx_num as u64, r["detX_num"].as_u64().unwrap(), "{name}");
        assert_eq!(
            d.erg_gap(r["num_pl_spikes"].as_u64().unwrap() as usize),
            r["ERG_gap"].as_i64().unwrap()
        );
        let ww_idx = r["internals"]["detX_idx"].as_u64().unwrap() as usize;
        if d.detx_num == ev.len() {
            // example/conv_layers.0 and fc_layers.2.
            assert_eq!((ww_idx, d.idx), (1, 0), "{name}");
            assert!(rel(d.detx_val, ev[0]) < 1e-15);
            assert!(rel(f(&r["detX_val"]), ev[1]) < 1e-15);
            continue;
        }
        assert_eq!(d.idx, ww_idx, "{name}");
        assert_eq!(d.detx_val, f(&r["detX_val"]), "{name}: detX_val");
        assert_eq!(d.detx_val_rescaled, f(&r["detX_val_unrescaled"]), "{name}");
    }
}

#[test]
fn universality_classes_from_alpha() {
    let u = universality(1.5).unwrap();
    assert_eq!(
        (u.mu, u.universality),
        (Some(1.0), UniversalityClass::VeryHeavy)
    );
    let u = universality(2.0).unwrap();
    assert_eq!((u.mu, u.universality), (Some(2.0), UniversalityClass::Fat));
    let u = universality(3.2).unwrap();
    assert_eq!((u.mu, u.universality), (Some(3.2), UniversalityClass::Fat));
    let u = universality(4.0).unwrap();
    assert_eq!((u.mu, u.universality), (None, UniversalityClass::Weak));
    assert!(universality(1.0).is_none());
    assert!(universality(f64::NAN).is_none());
    // Continuous at α = 2: 2(α − 1) → 2 from below.
    assert!((universality(2.0 - 1e-12).unwrap().mu.unwrap() - 2.0).abs() < 1e-11);
    let json = serde_json::to_string(&universality(1.5).unwrap()).unwrap();
    assert_eq!(json, r#"{"mu":1.0,"universality":"very-heavy"}"#);
}

/// Properties that hold whatever the data: the PL is a limit of TPL, LOG_N and S_EXP, so their
/// maxima are never below it (R ≤ 0); narrow and degenerate tails do not break the fits.
#[test]
fn alternatives_contain_the_power_law_and_survive_odd_tails() {
    let mut cases: Vec<Vec<f64>> = vec![
        pareto_sample(3000, 1.6, 7),
        pareto_sample(300, 4.0, 8),
        exponential_sample(400, 9),
        // A nearly degenerate tail: spread 1e-5 in log (a lognormal with tiny σ).
        (0..200)
            .map(|k| 1.0 + 1e-5 * (k as f64 / 200.0).powi(2))
            .collect(),
        // Two values; many ties.
        vec![1.0, 2.0],
        (0..100).map(|k| 1.0 + (k % 4) as f64).collect(),
    ];
    for x in cases.iter_mut() {
        x.sort_by(f64::total_cmp);
    }
    for (i, x) in cases.iter().enumerate() {
        let fits = AlternativeFits::fit(x, x[0]).unwrap_or_else(|| panic!("case {i}"));
        let c = fits.columns();
        for (what, r) in [("tpl", c.r_tpl), ("logn", c.r_logn), ("sexp", c.r_sexp)] {
            assert!(
                r <= 1e-8 * fits.power_law.loglikelihood.abs().max(1.0),
                "case {i} {what}: R {r}"
            );
        }
        for p in [c.p_tpl, c.p_exp, c.p_logn, c.p_sexp] {
            assert!((0.0..=1.0).contains(&p), "case {i}: p {p}");
        }
    }
    assert!(AlternativeFits::fit(&[1.0, 1.0, 1.0], 1.0).is_none());
    assert!(AlternativeFits::fit(&[1.0, 2.0], 3.0).is_none());
}

/// A large sample from x^−1.8 e^−0.02x on [1, ∞) (the fixture's rejection sampler) gives back
/// its parameters, and TPL is the best fit.
#[test]
fn truncated_power_law_recovers_its_parameters() {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut x = Vec::new();
    while x.len() < 20_000 {
        let p: f64 = (1.0 - rng.random::<f64>()).powf(-1.0 / 0.8);
        if rng.random::<f64>() < (-0.02 * (p - 1.0)).exp() {
            x.push(p);
        }
    }
    x.sort_by(f64::total_cmp);
    let fits = AlternativeFits::fit(&x, 1.0).unwrap();
    let t = fits.truncated_power_law;
    assert!((t.alpha - 1.8).abs() < 0.03, "alpha {}", t.alpha);
    assert!((t.lambda - 0.02).abs() < 0.003, "lambda {}", t.lambda);
    assert_eq!(fits.best_fit(), BestFit::TPL);
}

/// The column names the report will use.
#[test]
fn column_names() {
    let (s, x) = &compare_samples()[12]; // synth_exponential: every model interior
    let fits = AlternativeFits::fit(x, f(&s["ww"]["xmin"])).unwrap();
    let v = serde_json::to_value(fits.columns()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "best_fit",
            "tpl_alpha",
            "tpl_lambda",
            "exp_lambda",
            "logn_mu",
            "logn_sigma",
            "sexp_lambda",
            "sexp_beta",
            "R_tpl",
            "p_tpl",
            "R_exp",
            "p_exp",
            "R_logn",
            "p_logn",
            "R_sexp",
            "p_sexp"
        ]
    );
    assert_eq!(v["best_fit"], "PL");
    let fit = fit_power_law(x, PlMethod::Ww).unwrap();
    let j = |v: Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let t = weightscope::fit::truncated::alpha_xmax(x, &fit).unwrap();
    assert_eq!(j(serde_json::to_value(t).unwrap()), ["alpha_xmax"]);
    let g = bootstrap_pvalue(x, &fit, PlMethod::Ww, 5, 0).unwrap();
    assert_eq!(j(serde_json::to_value(g).unwrap()), ["pl_pvalue"]);
    let c = clip_xmax(x, PlMethod::Ww, &ClipXmaxOptions::default()).unwrap();
    assert_eq!(
        j(serde_json::to_value(&c).unwrap()),
        ["num_fingers", "raw_alpha"]
    );
    let p = xmin_peak(x, PlMethod::Ww).unwrap();
    assert_eq!(j(serde_json::to_value(p).unwrap()), ["xmin_peak"]);
    let d = detx(x).unwrap();
    assert_eq!(
        j(serde_json::to_value(d).unwrap()),
        ["detX_num", "detX_val", "detX_val_rescaled"]
    );
}
