//! The ESD on linear (or log-linear) axes with the fitted Marchenko–Pastur density, λ⁻ and
//! λ⁺, and the spikes beyond the bulk (the paper's Fig. 7); zoomed on the bulk (Fig. 7b).

use super::{eigenvalues, from_zero};
use crate::plots::data::{bin_count, finite_max, finite_min, histogram};
use crate::plots::figure::{
    sane_range, Axis, Figure, LegendPos, Marker, Rgb, Series, BLUE_, GREEN_, PURPLE, RED_,
};
use crate::plots::ticks::fmt_sig;
use weightscope::fit::marchenko_pastur::{mp_density, MpMethod};
use weightscope::{LayerResult, Report};

/// The ESD histogram on a linear λ axis (a log density axis with `log_y`), cut at `zoom`
/// when zooming on the bulk, with the MP fit, λ⁻, λ⁺ and the spikes.
#[allow(clippy::too_many_arguments)]
pub(super) fn esd_linear(
    report: &Report,
    row: &LayerResult,
    esd: &[f64],
    title: String,
    subtitle: String,
    lam: &str,
    log_y: bool,
    zoom: Option<f64>,
) -> Figure {
    let n = esd.len();
    let lmin = esd[0];
    let lmax = zoom.unwrap_or(esd[n - 1]);
    let shown = esd.partition_point(|&l| l <= lmax);
    let (blo, bhi) = sane_range(lmin, lmax, false);
    // One value: an odd number of bins centres it in the middle one.
    let nb = if lmin == lmax { 9 } else { bin_count(shown) };
    let bins = histogram(&esd[..shown], blo, bhi, nb, false, n);
    let mut series = vec![Series::Hist {
        bins: bins.clone(),
        color: BLUE_,
        label: format!("ESD ρ(λ), {}", eigenvalues(n)),
    }];
    if shown < n {
        series.push(Series::Key {
            color: Rgb(255, 255, 255),
            marker: Marker::Square,
            label: format!(
                "{} eigenvalue(s) beyond the right edge, up to λmax = {}",
                n - shown,
                fmt_sig(esd[n - 1], 4)
            ),
        });
    }
    let hmax = finite_max(bins.iter().map(|b| b.2)).unwrap_or(1.0);
    let mut ymax = hmax;
    if let Some((pts, share)) = mp_curve(report, row, n, |l| (l, 1.0)) {
        let mp = row.mp.as_ref().expect("mp_curve needs mp");
        let cmax = finite_max(pts.iter().map(|p| p.1)).unwrap_or(0.0);
        // The MP density diverges at λ = 0 when Q = 1: do not let it flatten the histogram.
        ymax = ymax.max(cmax.min(1.5 * hmax));
        let share_txt = if share < 1.0 {
            format!(" × bulk share {share:.2}")
        } else {
            String::new()
        };
        series.push(Series::Line {
            points: pts,
            color: RED_,
            width: 2,
            dashed: false,
            label: format!(
                "MP fit (Eqn. 8), σ = {}, Q = {}{share_txt}",
                fmt_sig(mp.sigma_mp, 4),
                fmt_sig(row.q, 3)
            ),
            secondary: false,
        });
        series.push(Series::VLine {
            x: mp.bulk_min,
            color: GREEN_,
            label: format!("λ⁻ = {}", fmt_sig(mp.bulk_min, 4)),
        });
        series.push(Series::VLine {
            x: mp.bulk_max,
            color: PURPLE,
            label: format!("λ⁺ = {} (Eqn. 9)", fmt_sig(mp.bulk_max, 4)),
        });
        let sp = spikes(row, esd);
        if !sp.is_empty() {
            series.push(Series::Rug {
                label: format!("{} spike(s) beyond λ⁺ + ΔλM", sp.len()),
                xs: sp,
                color: RED_,
            });
        }
    }
    // The MP bulk [λ⁻, λ⁺] stays in view (a random-like ESD can stop short of λ⁺).
    let (blo, bhi) = match (&row.mp, zoom) {
        (Some(mp), None) if mp.bulk_max.is_finite() && mp.bulk_min.is_finite() => {
            (blo.min(mp.bulk_min), bhi.max(mp.bulk_max))
        }
        _ => (blo, bhi),
    };
    let xlo = if from_zero(lmin.min(blo), bhi) {
        0.0
    } else {
        blo - 0.02 * (bhi - blo)
    };
    let x = Axis::linear(lam, xlo, bhi + 0.02 * (bhi - xlo));
    let y = if log_y {
        let pos_min = finite_min(bins.iter().map(|b| b.2).filter(|h| *h > 0.0)).unwrap_or(hmax);
        Axis::log("ρ(λ) (density, log scale)", pos_min / 3.0, ymax * 2.0)
    } else {
        Axis::linear("ρ(λ) (density)", 0.0, ymax * 1.08)
    };
    let note = (n == 1 || lmin == lmax).then(|| "all eigenvalues equal".to_string());
    Figure {
        title,
        subtitle,
        x,
        y,
        y2: None,
        series,
        legend: LegendPos::Auto,
        note,
    }
}

/// The MP density in the ESD's units, times the bulk share the fit matched (bulk-CDF fits
/// the bulk's own CDF), on [λ⁻, λ⁺]; with the share.
pub(super) fn mp_curve(
    report: &Report,
    row: &LayerResult,
    n: usize,
    map: impl Fn(f64) -> (f64, f64),
) -> Option<(Vec<(f64, f64)>, f64)> {
    let mp = row.mp.as_ref()?;
    if !(mp.scale > 0.0 && mp.sigma_mp > 0.0 && mp.bulk_max > mp.bulk_min) {
        return None;
    }
    let s2 = mp.sigma_mp * mp.sigma_mp;
    let share = match report.options.mp_method {
        MpMethod::BulkCdf => 1.0 - mp.num_spikes as f64 / n.max(1) as f64,
        MpMethod::Ww => 1.0,
    };
    let (a, b) = (mp.bulk_min, mp.bulk_max);
    let k = 300;
    let pts = (0..=k)
        .map(|i| {
            // Cosine spacing: dense at the square-root edges.
            let t = std::f64::consts::PI * i as f64 / k as f64;
            let l = a + (b - a) * (1.0 - t.cos()) / 2.0;
            let rho = share * mp_density(l / mp.scale, s2, row.q) / mp.scale;
            let (x, jac) = map(l);
            (x, rho * jac)
        })
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    Some((pts, share))
}

/// The spikes: the `num_spikes` largest eigenvalues, beyond the MP bulk.
fn spikes(row: &LayerResult, esd: &[f64]) -> Vec<f64> {
    let k = row.mp.map_or(0, |m| m.num_spikes).min(esd.len());
    esd[esd.len() - k..].to_vec()
}
