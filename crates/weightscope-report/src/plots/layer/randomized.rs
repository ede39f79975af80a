//! The ESD of W over that of W with its elements shuffled (`randomize`): where they differ,
//! W holds correlations; spikes of the shuffled ESD are correlation traps.

use crate::plots::data::{bin_count, finite_max, finite_min, histogram};
use crate::plots::figure::{
    sane_range, Axis, Figure, LegendPos, Marker, Rgb, Series, BLUE_, ORANGE,
};
use crate::plots::ticks::fmt_sig;
use weightscope::LayerResult;

/// The densities of log₁₀ λ of W and of shuffled W, with both λmax.
pub(super) fn randomized(
    row: &LayerResult,
    esd: &[f64],
    title: String,
    subtitle: String,
    lam: &str,
) -> Figure {
    let Some(rand) = row.rand_esd.as_deref() else {
        return Figure::empty(
            title,
            subtitle,
            "no shuffled ESD (analyse with --randomize)",
        );
    };
    let pos = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .copied()
            .filter(|x| *x > 0.0 && x.is_finite())
            .collect()
    };
    let (a, b) = (pos(esd), pos(rand));
    if a.is_empty() && b.is_empty() {
        return Figure::empty(title, subtitle, "no positive eigenvalues");
    }
    let lo = finite_min(a.iter().chain(&b).copied()).unwrap_or(1.0);
    let hi = finite_max(a.iter().chain(&b).copied()).unwrap_or(1.0);
    let (lo, hi) = sane_range(lo.max(hi * 1e-12), hi, true);
    let nb = bin_count(a.len().max(b.len()));
    // Density of log10 λ: bins equal in log10, heights per unit of log10 λ.
    let to_log_density = |v: &[f64], n: usize| -> Vec<(f64, f64, f64)> {
        histogram(v, lo, hi, nb, true, n)
            .into_iter()
            .map(|(l, r, h)| (l, r, h * (r - l) / (r.log10() - l.log10())))
            .collect()
    };
    let ha = to_log_density(&a, esd.len());
    let hb = to_log_density(&b, rand.len());
    let ymax = finite_max(ha.iter().chain(&hb).map(|x| x.2)).unwrap_or(1.0);
    let mut series = vec![
        Series::Hist {
            bins: ha,
            color: BLUE_,
            label: "ESD of W".into(),
        },
        Series::Hist {
            bins: hb,
            color: ORANGE,
            label: "ESD of W with its elements shuffled".into(),
        },
    ];
    if let Some(l) = row.lambda_max {
        series.push(Series::VLine {
            x: l,
            color: BLUE_,
            label: format!("λmax = {}", fmt_sig(l, 4)),
        });
    }
    if let Some(r) = &row.randomization {
        series.push(Series::VLine {
            x: r.max_rand_eval,
            color: ORANGE,
            label: format!("λmax of shuffled W = {}", fmt_sig(r.max_rand_eval, 4)),
        });
        series.push(Series::Key {
            color: Rgb(255, 255, 255),
            marker: Marker::Square,
            label: format!(
                "{} correlation trap(s); JS distance {:.3}",
                r.rand_num_spikes, r.rand_esd_distance
            ),
        });
    }
    Figure {
        title,
        subtitle,
        x: Axis::log(lam, lo, hi),
        y: Axis::linear("density of log₁₀ λ", 0.0, ymax * 1.1),
        y2: None,
        series,
        legend: LegendPos::Auto,
        note: None,
    }
}
