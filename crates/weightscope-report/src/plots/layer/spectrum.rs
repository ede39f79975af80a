//! The spectrum seen other ways: the density of the singular values ν = √λ (the paper's
//! Fig. 3a) and the scree plot, eigenvalues against their rank (Fig. 2).

use super::esd::mp_curve;
use super::{eigenvalues, from_zero};
use crate::plots::data::{bin_count, finite_max, histogram, thin_indices};
use crate::plots::figure::{
    sane_range, Axis, Figure, LegendPos, Marker, Rgb, Series, BLUE_, PURPLE, RED_,
};
use crate::plots::ticks::fmt_sig;
use crate::plots::MAX_POINTS;
use weightscope::{LayerResult, Report};

/// The density of the singular values ν = √λ, with the MP fit as a density of ν.
pub(super) fn singular_values(
    report: &Report,
    row: &LayerResult,
    esd: &[f64],
    title: String,
    subtitle: String,
) -> Figure {
    let sv: Vec<f64> = esd.iter().map(|l| l.max(0.0).sqrt()).collect();
    let n = sv.len();
    let (lo, hi) = sane_range(sv[0], sv[n - 1], false);
    let nb = if sv[0] == sv[n - 1] { 9 } else { bin_count(n) };
    let bins = histogram(&sv, lo, hi, nb, false, n);
    let hmax = finite_max(bins.iter().map(|b| b.2)).unwrap_or(1.0);
    let mut ymax = hmax;
    let nu = if report.options.normalize {
        "ν (singular value of W/√N)"
    } else {
        "ν (singular value of W)"
    };
    let mut series = vec![Series::Hist {
        bins,
        color: BLUE_,
        label: format!(
            "density of ν = √λ, {n} value{}",
            if n == 1 { "" } else { "s" }
        ),
    }];
    // ρ_ν(ν) = 2ν ρ_λ(ν²).
    if let Some((pts, _)) = mp_curve(report, row, n, |l| {
        let v = l.max(0.0).sqrt();
        (v, 2.0 * v)
    }) {
        let mp = row.mp.as_ref().expect("mp_curve needs mp");
        let cmax = finite_max(pts.iter().map(|p| p.1)).unwrap_or(0.0);
        ymax = ymax.max(cmax.min(1.5 * hmax));
        series.push(Series::Line {
            points: pts,
            color: RED_,
            width: 2,
            dashed: false,
            label: format!(
                "MP fit, as a density of ν (σ = {})",
                fmt_sig(mp.sigma_mp, 4)
            ),
            secondary: false,
        });
        series.push(Series::VLine {
            x: mp.bulk_max.sqrt(),
            color: PURPLE,
            label: format!("√λ⁺ = {}", fmt_sig(mp.bulk_max.sqrt(), 4)),
        });
    }
    let (lo, hi) = match &row.mp {
        Some(mp) if mp.bulk_max > 0.0 && mp.bulk_min >= 0.0 => {
            (lo.min(mp.bulk_min.sqrt()), hi.max(mp.bulk_max.sqrt()))
        }
        _ => (lo, hi),
    };
    let xlo = if from_zero(sv[0].min(lo), hi) {
        0.0
    } else {
        lo - 0.02 * (hi - lo)
    };
    Figure {
        title,
        subtitle,
        x: Axis::linear(nu, xlo, hi + 0.02 * (hi - xlo)),
        y: Axis::linear("ρ(ν) (density)", 0.0, ymax * 1.08),
        y2: None,
        series,
        legend: LegendPos::Auto,
        note: None,
    }
}

/// The eigenvalues in decreasing order against their rank, with λ⁺ and the stable rank.
pub(super) fn scree(
    row: &LayerResult,
    esd: &[f64],
    title: String,
    subtitle: String,
    lam: &str,
) -> Figure {
    let n = esd.len();
    // Rank 1 = largest.
    let pts: Vec<(f64, f64)> = thin_indices(n, MAX_POINTS, None)
        .into_iter()
        .map(|k| ((k + 1) as f64, esd[n - 1 - k]))
        .collect();
    let mut series = vec![if n <= 60 {
        Series::Points {
            points: pts.clone(),
            color: BLUE_,
            marker: Marker::Circle,
            label: String::new(),
            secondary: false,
        }
    } else {
        Series::Key {
            color: BLUE_,
            marker: Marker::Circle,
            label: String::new(),
        }
    }];
    series.push(Series::Line {
        points: pts,
        color: BLUE_,
        width: 2,
        dashed: false,
        label: format!("λᵢ in decreasing order ({})", eigenvalues(n)),
        secondary: false,
    });
    if let Some(mp) = &row.mp {
        series.push(Series::HLine {
            y: mp.bulk_max,
            color: PURPLE,
            label: format!("λ⁺ = {} (MP bulk edge)", fmt_sig(mp.bulk_max, 4)),
        });
    }
    if let Some(sr) = row.stable_rank {
        series.push(Series::Key {
            color: Rgb(255, 255, 255),
            marker: Marker::Square,
            label: format!("stable rank Σλ/λmax = {} (Eqn. 7)", fmt_sig(sr, 4)),
        });
    }
    let lmin = esd[0].min(0.0);
    Figure {
        title,
        subtitle,
        x: Axis::linear(
            "i (rank of the eigenvalue, 1 = largest)",
            0.0,
            n as f64 + 1.0,
        ),
        y: Axis::linear(lam.replacen('λ', "λᵢ", 1), lmin, esd[n - 1] * 1.05),
        y2: None,
        series,
        legend: LegendPos::Auto,
        note: None,
    }
}
