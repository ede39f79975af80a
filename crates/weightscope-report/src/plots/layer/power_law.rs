//! The power-law views of the ESD tail: the density on log-log axes with the fitted power
//! law from xmin (the paper's Fig. 16), the CCDF with the fitted line, and the KS distance D
//! and α for every candidate xmin (how the fit chose xmin).

use super::eigenvalues;
use crate::plots::data::{
    bin_count, finite_max, finite_min, histogram, thin_indices, thin_log_ranks,
};
use crate::plots::figure::{
    sane_range, Axis, Figure, LegendPos, Marker, Series, BLUE_, ORANGE, RED_,
};
use crate::plots::ticks::fmt_sig;
use crate::plots::MAX_POINTS;
use weightscope::diagnose::metrics::EVALS_THRESH;
use weightscope::fit::scan_xmin;
use weightscope::{LayerResult, Report};

/// Eigenvalues the power law is fitted to (λ > 1e-5, as weightwatcher).
fn fit_values(esd: &[f64]) -> &[f64] {
    &esd[esd.partition_point(|&l| l <= EVALS_THRESH)..]
}

fn no_fit_values_note(esd: &[f64]) -> String {
    format!(
        "no eigenvalue above {EVALS_THRESH:e} (largest {}): nothing to fit",
        fmt_sig(esd[esd.len() - 1], 3)
    )
}

/// The ESD on log-log axes (bins equal in log λ) with the fitted power law from xmin.
pub(super) fn esd_loglog(
    row: &LayerResult,
    esd: &[f64],
    title: String,
    subtitle: String,
    lam: &str,
) -> Figure {
    let nz = fit_values(esd);
    if nz.is_empty() {
        return Figure::empty(title, subtitle, no_fit_values_note(esd));
    }
    let n = nz.len();
    let (lo, hi) = sane_range(nz[0], nz[n - 1], true);
    let nb = if nz[0] == nz[n - 1] { 9 } else { bin_count(n) };
    let bins = histogram(nz, lo, hi, nb, true, n);
    let hpos: Vec<f64> = bins.iter().map(|b| b.2).filter(|h| *h > 0.0).collect();
    let (mut ymin, mut ymax) = (
        finite_min(hpos.iter().copied()).unwrap_or(1.0),
        finite_max(hpos.iter().copied()).unwrap_or(1.0),
    );
    let dropped = esd.len() - n;
    let mut series = vec![Series::Hist {
        bins,
        color: BLUE_,
        label: if dropped > 0 {
            format!(
                "ESD ρ(λ), {} > {EVALS_THRESH:e} ({dropped} below)",
                eigenvalues(n)
            )
        } else {
            format!("ESD ρ(λ), {}", eigenvalues(n))
        },
    }];
    if let (Some(a), Some(xmin)) = (row.alpha, row.xmin) {
        let n_tail = n - nz.partition_point(|&l| l < xmin);
        let c = n_tail as f64 / n as f64 * (a - 1.0) / xmin;
        let xmax = nz[n - 1].max(xmin);
        let pts: Vec<(f64, f64)> = (0..=60)
            .map(|i| {
                let l = xmin * (xmax / xmin).powf(i as f64 / 60.0);
                (l, c * (l / xmin).powf(-a))
            })
            .collect();
        ymin = ymin.min(pts.last().map_or(ymin, |p| p.1));
        ymax = ymax.max(c);
        series.push(Series::Line {
            points: pts,
            color: RED_,
            width: 2,
            dashed: false,
            label: format!(
                "power law ρ ∝ λ^−α, α = {a:.3}, D = {:.3}",
                row.d.unwrap_or(f64::NAN)
            ),
            secondary: false,
        });
        series.push(Series::VLine {
            x: xmin,
            color: ORANGE,
            label: format!("xmin = {} ({n_tail} eigenvalues ≥ xmin)", fmt_sig(xmin, 4)),
        });
    }
    Figure {
        title,
        subtitle,
        x: Axis::log(lam, lo, hi),
        y: Axis::log("ρ(λ) (density)", ymin / 3.0, ymax * 3.0),
        y2: None,
        series,
        legend: LegendPos::Auto,
        note: row
            .alpha
            .is_none()
            .then(|| "no power law fitted".to_string()),
    }
}

/// The empirical CCDF P(Λ ≥ λ) with the fitted power law, whose CCDF falls as λ^(1−α).
pub(super) fn ccdf(
    row: &LayerResult,
    esd: &[f64],
    title: String,
    subtitle: String,
    lam: &str,
) -> Figure {
    let nz = fit_values(esd);
    if nz.is_empty() {
        return Figure::empty(title, subtitle, no_fit_values_note(esd));
    }
    let n = nz.len();
    let pts: Vec<(f64, f64)> = thin_log_ranks(n, MAX_POINTS)
        .into_iter()
        .map(|i| (nz[i], (n - i) as f64 / n as f64))
        .collect();
    let label = format!("empirical P(Λ ≥ λ), {}", eigenvalues(n));
    let mut series = vec![if pts.len() <= 150 {
        Series::Points {
            points: pts,
            color: BLUE_,
            marker: Marker::Circle,
            label,
            secondary: false,
        }
    } else {
        Series::Line {
            points: pts,
            color: BLUE_,
            width: 3,
            dashed: false,
            label,
            secondary: false,
        }
    }];
    if let (Some(a), Some(xmin)) = (row.alpha, row.xmin) {
        let n_tail = n - nz.partition_point(|&l| l < xmin);
        let p = n_tail as f64 / n as f64;
        let xmax = nz[n - 1].max(xmin);
        let line: Vec<(f64, f64)> = (0..=60)
            .map(|i| {
                let l = xmin * (xmax / xmin).powf(i as f64 / 60.0);
                (l, p * (l / xmin).powf(1.0 - a))
            })
            .collect();
        series.push(Series::Line {
            points: line,
            color: RED_,
            width: 2,
            dashed: false,
            label: format!("power law ∝ λ^(1−α), α = {a:.3}"),
            secondary: false,
        });
        series.push(Series::VLine {
            x: xmin,
            color: ORANGE,
            label: format!("xmin = {}", fmt_sig(xmin, 4)),
        });
    }
    let (lo, hi) = sane_range(nz[0], nz[n - 1], true);
    Figure {
        title,
        subtitle,
        x: Axis::log(lam, lo, hi),
        y: Axis::log("P(Λ ≥ λ) (CCDF)", 0.5 / n as f64, 1.5),
        y2: None,
        series,
        legend: LegendPos::Auto,
        note: row
            .alpha
            .is_none()
            .then(|| "no power law fitted".to_string()),
    }
}

/// D (left axis) and α (right axis) of the fit from every candidate xmin, and the one
/// the fit chose.
pub(super) fn xmin_scan(
    report: &Report,
    row: &LayerResult,
    esd: &[f64],
    title: String,
    subtitle: String,
) -> Figure {
    let nz = fit_values(esd);
    let scan = scan_xmin(nz, report.options.pl_method);
    if scan.xmins.is_empty() {
        return Figure::empty(
            title,
            subtitle,
            format!(
                "{} eigenvalue(s) above {EVALS_THRESH:e}: no candidate xmin",
                nz.len()
            ),
        );
    }
    let chosen = row
        .xmin
        .and_then(|x| scan.xmins.iter().position(|&v| v == x));
    let idx = thin_indices(scan.xmins.len(), MAX_POINTS, chosen);
    let d_pts: Vec<(f64, f64)> = idx.iter().map(|&i| (scan.xmins[i], scan.ds[i])).collect();
    let a_pts: Vec<(f64, f64)> = idx
        .iter()
        .map(|&i| (scan.xmins[i], scan.alphas[i]))
        .filter(|p| p.1.is_finite())
        .collect();
    let dmax = finite_max(scan.ds.iter().copied()).unwrap_or(1.0).max(1e-3);
    let a_chosen = row.alpha.unwrap_or(3.0);
    let amax = finite_max(scan.alphas.iter().copied())
        .unwrap_or(3.0)
        .min((2.0 * a_chosen).max(8.0));
    let amin = finite_min(scan.alphas.iter().copied())
        .unwrap_or(1.0)
        .min(a_chosen);
    let mut series = vec![
        Series::Line {
            points: d_pts,
            color: BLUE_,
            width: 2,
            dashed: false,
            label: "KS distance D (left axis)".into(),
            secondary: false,
        },
        Series::Line {
            points: a_pts,
            color: RED_,
            width: 2,
            dashed: false,
            label: "α (right axis)".into(),
            secondary: true,
        },
    ];
    if let (Some(x), Some(a), Some(d)) = (row.xmin, row.alpha, row.d) {
        series.push(Series::VLine {
            x,
            color: ORANGE,
            label: format!("chosen: xmin = {}, D = {d:.3}, α = {a:.3}", fmt_sig(x, 4)),
        });
        series.push(Series::Points {
            points: vec![(x, d)],
            color: BLUE_,
            marker: Marker::Circle,
            label: String::new(),
            secondary: false,
        });
        series.push(Series::Points {
            points: vec![(x, a)],
            color: RED_,
            marker: Marker::Circle,
            label: String::new(),
            secondary: true,
        });
    }
    let (lo, hi) = sane_range(scan.xmins[0], scan.xmins[scan.xmins.len() - 1], true);
    let method = match report.options.pl_method {
        weightscope::fit::PlMethod::Ww => "weightwatcher method",
        weightscope::fit::PlMethod::Powerlaw => "powerlaw method",
    };
    Figure {
        title,
        subtitle,
        x: Axis::log(format!("candidate xmin (λ; {method})"), lo, hi),
        y: Axis::linear("D (Kolmogorov–Smirnov distance)", 0.0, dmax * 1.05),
        y2: Some(Axis::linear(
            "α (fitted exponent)",
            amin.min(1.0),
            amax * 1.05,
        )),
        series,
        legend: LegendPos::Auto,
        note: row
            .alpha
            .is_none()
            .then(|| "no power law fitted: no xmin chosen".to_string()),
    }
}
