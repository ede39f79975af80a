//! The paper's diagnosis (issue: MP fit, spikes, randomization, eigenvectors, phases) against
//! closed forms, generated matrices and weightwatcher 0.7.7 (tests/fixtures/diagnosis/).

use weightscope::diagnose::eigenvectors::{
    localization_ratio, participation_ratio, vector_entropy,
};
use weightscope::diagnose::phase::Phase;
use weightscope::diagnose::phase::{classify, evidence};
use weightscope::diagnose::randomization::{randomization_columns, shuffled_esds};
use weightscope::fit::marchenko_pastur::{fit_marchenko_pastur, MpMethod};
use weightscope::spectrum::{gram_eigenvalues, Precision, Solver};
use weightscope::synth::synth_matrix;

use crate::common::{fixture, floats, load};

fn esd(w: &faer::Mat<f64>) -> Vec<f64> {
    gram_eigenvalues(w.as_ref(), Solver::Auto, Precision::F64).unwrap()
}

#[test]
fn gaussian_matrices_have_no_spikes_and_soft_rank_one() {
    for (i, (n, m)) in [(1000usize, 500usize), (800, 200), (600, 600)]
        .into_iter()
        .enumerate()
    {
        let ev = esd(&synth_matrix(Phase::RandomLike, n, m, 100 + i as u64));
        let fit = fit_marchenko_pastur(&ev, n as f64 / m as f64, m, MpMethod::BulkCdf).unwrap();
        assert_eq!(fit.num_spikes, 0, "{n}x{m}");
        // λmax sits at λ⁺ within the finite-size margin: soft rank 1 within ΔλM/λ⁺ (×3 for
        // the Tracy–Widom tail).
        let tol = 3.0 * fit.tw_margin / fit.bulk_max;
        assert!(
            (fit.mp_softrank - 1.0).abs() <= tol,
            "{n}x{m}: {} ± {tol}",
            fit.mp_softrank
        );
        // σ of the rescaled bulk is 1 for a pure MP law.
        assert!((fit.sigma_mp - 1.0).abs() < 0.01, "{}", fit.sigma_mp);
    }
}

#[test]
fn rank_k_perturbation_above_bbp_gives_exactly_k_spikes() {
    use rand::RngExt;
    for (k, (n, m)) in [
        (1usize, (800usize, 400usize)),
        (3, (1000, 500)),
        (5, (600, 300)),
    ] {
        let mut w = synth_matrix(Phase::RandomLike, n, m, 7 + k as u64);
        let scale = ((n * m) as f64).powf(0.25);
        let mut g = weightscope::diagnose::randomization::rng(k as u64);
        for s in 0..k {
            let c = 3.0 + s as f64; // |Δ| = c (NM)^¼, well above the BBP threshold c = 1
            let u: Vec<f64> = (0..n).map(|_| g.random_range(-1.0..1.0)).collect();
            let v: Vec<f64> = (0..m).map(|_| g.random_range(-1.0..1.0)).collect();
            let (nu, nv) = (
                u.iter().map(|x| x * x).sum::<f64>().sqrt(),
                v.iter().map(|x| x * x).sum::<f64>().sqrt(),
            );
            for j in 0..m {
                for i in 0..n {
                    w[(i, j)] += c * scale * u[i] / nu * v[j] / nv;
                }
            }
        }
        let fit =
            fit_marchenko_pastur(&esd(&w), n as f64 / m as f64, m, MpMethod::BulkCdf).unwrap();
        assert_eq!(fit.num_spikes, k, "{n}x{m}");
        assert_eq!(fit.num_bleeding_out, 0);
    }
}

#[test]
fn pareto_matrices_follow_the_alpha_vs_mu_trend_of_figure_6() {
    // weightwatcher-method α of the fixture's Pareto-element matrices rises with μ, and for
    // the very heavy class (μ < 2) α ≈ 1 + μ/2 (§3.2).
    let rows = load("oracle/ww_details.json");
    let alpha = |mu: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == format!("pareto_mu{mu}_500x250"))
            .unwrap()["alpha"]
            .as_f64()
            .unwrap()
    };
    let report =
        weightscope::analyze(&fixture("oracle/matrices.safetensors"), &Default::default()).unwrap();
    let ours = |mu: &str| {
        report
            .layers
            .iter()
            .find(|r| r.name == format!("pareto_mu{mu}_500x250"))
            .unwrap()
            .alpha
            .unwrap()
    };
    let mus = ["1.5", "2.5", "3.5", "5"];
    for w in mus.windows(2) {
        assert!(ours(w[0]) < ours(w[1]), "α must grow with μ");
    }
    assert!((ours("1.5") - (1.0 + 1.5 / 2.0)).abs() < 0.15);
    for mu in mus {
        assert!((ours(mu) - alpha(mu)).abs() <= 1e-9 * alpha(mu));
    }
}

#[test]
fn weightwatcher_mp_method_agrees_with_weightwatcher() {
    let cases = load("diagnosis/ww_mp_fit.json");
    let mut worst: f64 = 0.0;
    let mut checked = 0;
    for c in cases.as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let ww = &c["ww"];
        let evals = floats(&c["evals"]);
        let internals = &c["internals"];
        // Degenerate cases where every grid point is penalised: weightwatcher returns the
        // first grid point; skip (documented in the fixture README).
        if internals["objective_grid"].as_f64().unwrap() >= 1e6 {
            continue;
        }
        let q = c["Q"].as_f64().unwrap();
        let fit = fit_marchenko_pastur(&evals, q, c["M"].as_u64().unwrap() as usize, MpMethod::Ww)
            .unwrap();
        let s_ww = ww["sigma_mp"].as_f64().unwrap();
        let e = (fit.sigma_mp - s_ww).abs() / s_ww;
        worst = worst.max(e);
        // Same grid, same SciPy Nelder–Mead polish: equal to rounding.
        assert!(e < 1e-9, "{name}: σ {} vs {s_ww}", fit.sigma_mp);
        let bmax = ww["bulk_max"].as_f64().unwrap();
        assert!(
            (fit.bulk_max - bmax).abs() / bmax < 1e-9,
            "{name}: bulk_max"
        );
        let soft = ww["mp_softrank"].as_f64().unwrap();
        assert!((fit.mp_softrank - soft).abs() < 1e-9, "{name}: mp_softrank");
        assert_eq!(
            fit.num_spikes as u64,
            ww["num_spikes"].as_u64().unwrap(),
            "{name}: spikes"
        );
        checked += 1;
    }
    eprintln!("weightwatcher MP method: {checked} layers, worst relative |Δσ| {worst:e}");
    assert!(checked >= 15);
}

#[test]
fn eigenvector_metrics_agree_with_weightwatcher() {
    let v = load("diagnosis/ww_vectors.json");
    let cases = v["eigh_cases"].as_array().unwrap();
    let tiny = cases.iter().find(|c| c["name"] == "tiny_20x15").unwrap();
    let vecs = tiny["eigenvectors"].as_array().unwrap();
    for (k, col) in vecs.iter().enumerate() {
        let x = floats(col);
        for (f, key) in [
            (vector_entropy(&x), "vec_entropy"),
            (localization_ratio(&x), "loc_ratio"),
            (participation_ratio(&x), "part_ratio"),
        ] {
            let want = tiny[key][k].as_f64().unwrap();
            assert!(
                (f - want).abs() <= 1e-9 * want.abs().max(1.0),
                "vector {k} {key}: {f} vs {want}"
            );
        }
    }
}

#[test]
fn shuffling_exposes_correlation_traps_and_is_reproducible() {
    // Low-rank signal: spikes vanish when the elements are shuffled.
    let spiked = synth_matrix(Phase::BulkSpikes, 400, 200, 3);
    let ev = esd(&spiked);
    let sh = shuffled_esds(
        std::slice::from_ref(&spiked),
        0,
        1,
        1,
        Solver::Auto,
        Precision::F64,
    )
    .unwrap();
    let r = randomization_columns(&ev, &sh, 2.0, 200, MpMethod::BulkCdf).unwrap();
    assert_eq!(r.rand_num_spikes, 0);
    assert!(r.ww_softrank < 0.6, "{}", r.ww_softrank);
    // One huge element: a spike that survives the shuffle (a correlation trap).
    let mut trap = synth_matrix(Phase::RandomLike, 400, 200, 4);
    trap[(10, 20)] = 200.0;
    let ev = esd(&trap);
    let sh = shuffled_esds(
        std::slice::from_ref(&trap),
        0,
        1,
        1,
        Solver::Auto,
        Precision::F64,
    )
    .unwrap();
    let r = randomization_columns(&ev, &sh, 2.0, 200, MpMethod::BulkCdf).unwrap();
    assert!(r.rand_num_spikes >= 1);
    // Same seed, same bytes; another seed, another shuffle.
    let again = shuffled_esds(
        std::slice::from_ref(&trap),
        0,
        1,
        1,
        Solver::Auto,
        Precision::F64,
    )
    .unwrap();
    assert_eq!(sh, again);
    let other = shuffled_esds(
        std::slice::from_ref(&trap),
        1,
        1,
        1,
        Solver::Auto,
        Precision::F64,
    )
    .unwrap();
    assert_ne!(sh, other);
}

#[test]
fn phase_classifier_on_the_synth_generator() {
    // 360 matrices of `weightscope synth` (crates/weightscope/src/synth.rs), which draws each
    // phase with the definitions of the phase benchmark (docs/phases.md) but its own seeds,
    // Gaussian noise only and scale 1. At M ≥ 200 the classifier meets the benchmark's targets
    // (≥ 90% in every class); at M = 100–128 a Bulk-decay signal of 10–38 terms is often read
    // as Bulk+Spikes (measured 9 of 30 wrong, docs/phases.md), so all shapes together are held
    // to ≥ 80% per class and ≥ 93% overall.
    let shapes = [
        (300usize, 100usize),
        (400, 200),
        (256, 128),
        (500, 250),
        (200, 200),
        (800, 100),
    ];
    let (mut right, mut right_large, mut large) = ([0usize; 6], [0usize; 6], 0);
    let mut misses = Vec::new();
    for (ti, truth) in Phase::ALL.into_iter().enumerate() {
        for i in 0..60 {
            let (n, m) = shapes[i % shapes.len()];
            let w = synth_matrix(truth, n, m, 1_000_003 * ti as u64 + i as u64);
            let ev = esd(&w);
            let mp = fit_marchenko_pastur(&ev, n as f64 / m as f64, m, MpMethod::BulkCdf).unwrap();
            let got = classify(&evidence(&ev, &mp)).phase;
            right[ti] += (got == truth) as usize;
            if m >= 200 {
                right_large[ti] += (got == truth) as usize;
                large += (ti == 0) as usize;
            }
            if got != truth {
                misses.push(format!("{truth} → {got} ({n}×{m}, #{i})"));
            }
        }
    }
    eprintln!("synth: {right:?} of 60 each ({right_large:?} of {large} at M ≥ 200); {misses:?}");
    for (ti, truth) in Phase::ALL.into_iter().enumerate() {
        assert!(
            right_large[ti] * 10 >= large * 9,
            "{truth} at M ≥ 200: {right_large:?}"
        );
        assert!(right[ti] >= 48, "{truth}: {right:?} {misses:?}");
    }
    assert!(right.iter().sum::<usize>() >= 335, "{right:?} {misses:?}");
}
