//! Everything reported about one layer, from its ESD: the metrics of [`metrics`], the
//! power-law fit (and its finger corrections, alternatives and bootstrap), the MP bulk, the
//! phase, the shuffled baseline and the eigenvector localization — each when its option asks.

use super::eigenvectors;
use super::metrics::{self, EVALS_THRESH};
use super::phase;
use super::randomization;
use super::warning::Warning;
use crate::columns::{Esd, COLUMNS};
use crate::fit::alternatives::compare_alternatives;
use crate::fit::detx::detx;
use crate::fit::farms;
use crate::fit::fingers::{clip_xmax, xmin_peak, ClipXmaxOptions};
use crate::fit::fit_power_law;
use crate::fit::marchenko_pastur::fit_marchenko_pastur;
use crate::fit::truncated::{alpha_hill_for_fit, alpha_xmax, bootstrap_pvalue};
use crate::fit::universality::universality;
use crate::layers::LayerPlan;
use crate::options::{FixFingers, Options};
use crate::result::{FingersResult, LayerResult, PhaseResult, Status};
use faer::Mat;

/// Everything [`crate::analyze::analyze_layer`] reports, from a layer's ESD: `evals` ascending (already
/// divided by N under `--normalize`), the hard-rank loss, and the layer's matrices for the
/// analyses that need more than eigenvalues (`--randomize`, `--vectors`, `--esd farms`; empty
/// skips them).
/// Also used for ESDs pooled over an ensemble of runs (§6.1). No I/O.
pub fn diagnose_esd(
    plan: &LayerPlan,
    evals: Vec<f64>,
    rank_loss: usize,
    mats: &[Mat<f64>],
    opts: &Options,
) -> LayerResult {
    if evals.is_empty() {
        return LayerResult::error(plan, "no eigenvalues");
    }
    let norm_n = if opts.normalize { plan.n as f64 } else { 1.0 };
    let mut r = LayerResult::empty(plan);
    let m = metrics::esd_metrics(&evals, plan.n, opts.tolerance);
    r.num_evals = Some(m.num_evals);
    r.sv_max = Some(m.sv_max);
    r.sv_min = Some(m.sv_min);
    r.rank_loss = Some(rank_loss);
    r.weak_rank_loss = Some(m.weak_rank_loss);
    r.lambda_max = Some(m.lambda_max);
    r.norm = Some(m.norm);
    r.log_norm = Some(m.log_norm);
    r.spectral_norm = Some(m.spectral_norm);
    r.log_spectral_norm = Some(m.log_spectral_norm);
    r.stable_rank = Some(m.stable_rank);
    r.matrix_rank = Some(m.matrix_rank);
    r.entropy = Some(m.entropy);
    let zeros = evals.partition_point(|&l| l < phase::ZERO_EVAL_RATIO * m.lambda_max);
    r.zero_mass = Some(zeros as f64 / evals.len() as f64);
    let esd = Esd {
        evals: &evals,
        n: plan.n,
        m: plan.m,
        rf: plan.rf,
    };
    for c in COLUMNS {
        // A non-finite value is no value: JSON has no NaN (it writes null, which would not
        // read back into the map), so it is left out, as the writers leave out every other.
        if let Some(v) = c.compute.and_then(|f| f(&esd)).filter(|v| v.is_finite()) {
            r.computed.insert(c.name.to_string(), v);
        }
    }

    let first = evals.partition_point(|&l| l <= EVALS_THRESH);
    let mut nz = &evals[first..];
    let mut too_many_dropped = false;
    if let Some(k) = opts.xmax_drop {
        if 2 * k > nz.len() {
            too_many_dropped = true;
        } else {
            nz = &nz[..nz.len() - k];
        }
    }
    let fit = match opts.fix_fingers {
        _ if too_many_dropped => None,
        None => fit_power_law(nz, opts.pl_method),
        Some(FixFingers::ClipXmax) => clip_xmax(nz, opts.pl_method, &ClipXmaxOptions::default())
            .and_then(|c| {
                r.fingers = Some(FingersResult {
                    num_fingers: c.num_fingers,
                    raw_alpha: c.raw_alpha,
                    xmin_peak: None,
                });
                c.fit
            }),
        Some(FixFingers::XminPeak) => xmin_peak(nz, opts.pl_method).map(|x| {
            r.fingers = Some(FingersResult {
                num_fingers: 0,
                raw_alpha: fit_power_law(nz, opts.pl_method).map_or(f64::NAN, |f| f.alpha),
                xmin_peak: Some(x.xmin_peak),
            });
            x.fit
        }),
    };
    match fit {
        Some(fit) if fit.alpha.is_finite() && fit.alpha > 1.0 && fit.d.is_finite() => {
            r.alpha_hill = alpha_hill_for_fit(nz, &fit);
            r.alpha_xmax = alpha_xmax(nz, &fit).map(|f| f.alpha_xmax);
            if let Some(u) = universality(fit.alpha) {
                r.mu = u.mu;
                r.universality = Some(u.universality);
            }
            if opts.tail_fits {
                r.tail = compare_alternatives(nz, fit.xmin);
            }
            if opts.bootstrap > 0 {
                let seed = randomization::shuffle_seed(
                    opts.seed,
                    plan.layer_id,
                    plan.slice_id.unwrap_or(0),
                    1 << 20,
                );
                r.pl_pvalue = bootstrap_pvalue(nz, &fit, opts.pl_method, opts.bootstrap, seed)
                    .map(|g| g.pl_pvalue);
            }
            r.status = Status::Success;
            r.alpha = Some(fit.alpha);
            r.xmin = Some(fit.xmin);
            r.xmax = Some(fit.xmax);
            r.d = Some(fit.d);
            r.sigma = Some(fit.sigma);
            r.num_pl_spikes = Some(nz.len() - nz.partition_point(|&l| l < fit.xmin));
            r.alpha_weighted = Some(metrics::alpha_weighted(fit.alpha, m.lambda_max));
            r.log_alpha_norm = Some(metrics::log_alpha_norm(&evals, fit.alpha));
            r.warning = Warning::from_alpha(fit.alpha);
        }
        _ => {
            r.status = Status::Failed;
            r.message = if too_many_dropped {
                format!(
                    "--xmax {} drops more than half of the {} eigenvalues",
                    opts.xmax_drop.unwrap_or(0),
                    nz.len()
                )
            } else {
                format!(
                    "no power law fits the {} eigenvalue(s) above {EVALS_THRESH:e}",
                    nz.len()
                )
            };
        }
    }

    if opts.detx {
        r.detx = detx(&evals);
    }
    // The phase is read off the MP fit (§5), so `--phase` keeps the fit it classified by.
    let q = plan.q();
    let mp = if opts.mp_fit || opts.phase {
        fit_marchenko_pastur(&evals, q, plan.m, opts.mp_method)
    } else {
        None
    };
    r.mp = mp;
    let called = mp
        .as_ref()
        .filter(|_| opts.phase)
        .and_then(|mp| phase::classify_esd(&evals, mp, plan.m));
    if let Some((evidence, call)) = called {
        r.phase = Some(PhaseResult {
            phase: call.phase,
            runner_up: call.runner_up,
            confidence: call.confidence,
            reason: call.reason,
            evidence,
        });
    }
    if opts.randomize && !mats.is_empty() {
        let seed_id = plan.layer_id * 4096 + plan.slice_id.unwrap_or(0);
        if let Ok(mut shuffled) = randomization::shuffled_esds(
            mats,
            opts.seed,
            seed_id,
            opts.shuffles,
            opts.solver,
            opts.precision_for(plan),
        ) {
            for e in shuffled.iter_mut() {
                e.iter_mut().for_each(|l| *l /= norm_n);
            }
            r.randomization =
                randomization::randomization_columns(&evals, &shuffled, q, plan.m, opts.mp_method);
            if opts.keep_esd {
                r.rand_esd = shuffled.into_iter().next();
            }
        }
    }
    if let (Some(f), false) = (&opts.farms, mats.is_empty()) {
        // A layer too small for a window, or with no fit, keeps its FARMS columns empty.
        r.farms = farms::farms(mats, f, norm_n, opts.solver, opts.precision_for(plan)).ok();
    }
    if opts.vectors && !mats.is_empty() {
        r.vectors = eigenvectors::vector_columns(mats, r.num_pl_spikes.unwrap_or(0));
    }
    if opts.keep_esd {
        r.esd = Some(evals);
    }
    r
}
