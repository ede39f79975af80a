//! The figures of the whole model ([`ModelPlot`]): a metric against layer depth, coloured by
//! phase with a marker per warning, and the histogram of α over layers (the paper's
//! Fig. 12); the warning-threshold lines, also drawn by the track plots.

use super::data::{finite_max, finite_min};
use super::figure::{
    fit_name, phase_color, Axis, Figure, LegendPos, Marker, Rgb, Series, BLUE_, DARK, RED_,
};
use super::ticks::fmt_sig;
use super::ModelPlot;
use std::path::Path;
use weightscope::columns::col;
use weightscope::diagnose::phase::Phase;
use weightscope::diagnose::warning::{Warning, ALPHA_OVER_TRAINED, ALPHA_UNDER_TRAINED};
use weightscope::{LayerResult, Report};

/// The figure of one model plot.
pub fn model_figure(report: &Report, kind: ModelPlot) -> Figure {
    let title = format!("{} · {}", model_name(report), kind.caption());
    if kind == ModelPlot::AlphaHistogram {
        return alpha_histogram(report, title);
    }
    let column = kind.column().map(col);
    let value = |r: &LayerResult| -> Option<f64> {
        column
            .and_then(|c| c.value(r).as_f64())
            .filter(|v| v.is_finite())
    };
    let ylabel = match kind {
        ModelPlot::Alpha => "α (power-law exponent of the ESD tail)",
        ModelPlot::AlphaWeighted => "α̂ = α·log₁₀ λmax (weighted alpha)",
        ModelPlot::StableRank => "stable rank Rs = Σλ/λmax (Eqn. 7)",
        ModelPlot::MpSoftrank => "MP soft rank Rmp = λ⁺/λmax (Eqn. 11)",
        ModelPlot::LogSpectralNorm => "log₁₀ λmax = log₁₀ ‖W‖₂²",
        ModelPlot::AlphaHistogram => "",
    };
    let pts: Vec<(usize, &LayerResult, f64)> = report
        .layers
        .iter()
        .enumerate()
        .filter_map(|(i, r)| value(r).map(|v| (i + 1, r, v)))
        .collect();
    let nl = report.layers.len();
    let x = Axis::linear(
        "layer (depth order: 1 = first analysed layer)",
        0.5,
        nl.max(1) as f64 + 0.5,
    );
    let mean = if pts.is_empty() {
        None
    } else {
        Some(pts.iter().map(|p| p.2).sum::<f64>() / pts.len() as f64)
    };
    let subtitle = match mean {
        Some(m) => format!(
            "{} of {nl} layers · mean {} · colour: phase · marker: warning",
            pts.len(),
            fmt_sig(m, 4)
        ),
        None => format!("0 of {nl} layers have a value"),
    };
    if pts.is_empty() {
        let why = match kind {
            ModelPlot::MpSoftrank => "no MP fit (analyse with --mp-fit or --phase)",
            _ => "no layer has a value",
        };
        let mut f = Figure::empty(title, subtitle, why);
        f.x = x;
        f.y = Axis::linear(ylabel, 0.0, 1.0);
        return f;
    }
    let ymin = finite_min(pts.iter().map(|p| p.2)).unwrap_or(0.0);
    let ymax = finite_max(pts.iter().map(|p| p.2)).unwrap_or(1.0);
    let (ylo, yhi, mut series) = metric_y_range(kind.column().unwrap_or(""), ymin, ymax);
    let pad = 0.06 * (yhi - ylo).max(1e-9);
    let (ylo, yhi) = (ylo - pad, yhi + pad);
    // A thin line through the layers in order, when there are few enough to follow it.
    if pts.len() <= 100 {
        series.push(Series::Line {
            points: pts.iter().map(|p| (p.0 as f64, p.2)).collect(),
            color: Rgb(190, 190, 190),
            width: 1,
            dashed: false,
            label: String::new(),
            secondary: false,
        });
    }
    // One marker series per (phase, warning) group, in a fixed order.
    let phases: Vec<Option<Phase>> = Phase::ALL
        .iter()
        .map(|p| Some(*p))
        .chain(std::iter::once(None))
        .collect();
    let markers = [Marker::Circle, Marker::Triangle, Marker::Square];
    for ph in &phases {
        for mk in markers {
            let group: Vec<(f64, f64)> = pts
                .iter()
                .filter(|p| {
                    p.1.phase.as_ref().map(|x| x.phase) == *ph && warning_marker(p.1.warning) == mk
                })
                .map(|p| (p.0 as f64, p.2))
                .collect();
            if !group.is_empty() {
                series.push(Series::Points {
                    points: group,
                    color: phase_color(*ph),
                    marker: mk,
                    label: String::new(),
                    secondary: false,
                });
            }
        }
    }
    for ph in &phases {
        if pts
            .iter()
            .any(|p| p.1.phase.as_ref().map(|x| x.phase) == *ph)
        {
            series.push(Series::Key {
                color: phase_color(*ph),
                marker: Marker::Circle,
                label: match ph {
                    Some(p) => p.as_str().to_string(),
                    None => "no phase (analyse with --phase)".into(),
                },
            });
        }
    }
    for (w, text) in [
        (
            Warning::OverTrained,
            format!("over-trained (α < {ALPHA_OVER_TRAINED})"),
        ),
        (
            Warning::UnderTrained,
            format!("under-trained (α > {ALPHA_UNDER_TRAINED})"),
        ),
    ] {
        if pts.iter().any(|p| p.1.warning == w) {
            series.push(Series::Key {
                color: DARK,
                marker: warning_marker(w),
                label: text,
            });
        }
    }
    Figure {
        title,
        subtitle,
        x,
        y: Axis::linear(ylabel, ylo, yhi),
        y2: None,
        series,
        legend: LegendPos::Outside,
        note: None,
    }
}

fn alpha_histogram(report: &Report, title: String) -> Figure {
    let alphas: Vec<f64> = report
        .layers
        .iter()
        .filter_map(|r| r.alpha)
        .filter(|a| a.is_finite())
        .collect();
    let n = alphas.len();
    let subtitle = format!(
        "{n} of {} layers with a power-law fit{}",
        report.layers.len(),
        report
            .summary
            .alpha
            .map(|a| format!(" · mean α = {a:.3}"))
            .unwrap_or_default()
    );
    if n == 0 {
        let mut f = Figure::empty(title, subtitle, "no layer has a power-law fit");
        f.x = Axis::linear("α (power-law exponent)", 0.0, 8.0);
        f.y = Axis::linear("number of layers", 0.0, 1.0);
        return f;
    }
    let amin = finite_min(alphas.iter().copied()).unwrap_or(1.0).min(2.0);
    let amax = finite_max(alphas.iter().copied()).unwrap_or(6.0).max(6.0);
    // Bins of a round width, 0.25 or wider, aligned on multiples of the width.
    let width = [0.25, 0.5, 1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .find(|w| (amax - amin) / w <= 40.0)
        .unwrap_or(20.0);
    let lo = (amin / width).floor() * width;
    let nb = (((amax - lo) / width).floor() as usize + 1).max(1);
    let mut counts = vec![0usize; nb];
    for a in &alphas {
        counts[(((a - lo) / width).floor() as usize).min(nb - 1)] += 1;
    }
    let bins: Vec<(f64, f64, f64)> = counts
        .iter()
        .enumerate()
        .map(|(i, &c)| (lo + width * i as f64, lo + width * (i + 1) as f64, c as f64))
        .collect();
    let cmax = *counts.iter().max().unwrap_or(&1) as f64;
    let mut series = vec![Series::Hist {
        bins,
        color: BLUE_,
        label: format!("layers per bin of width {width}"),
    }];
    series.extend(threshold_lines(vline));
    if let Some(m) = report.summary.alpha {
        series.push(Series::VLine {
            x: m,
            color: DARK,
            label: format!("mean α = {m:.3}"),
        });
    }
    let hi = lo + width * nb as f64;
    Figure {
        title,
        subtitle,
        x: Axis::linear("α (power-law exponent of the ESD tail)", lo, hi),
        y: Axis::linear("number of layers", 0.0, cmax * 1.15 + 0.5),
        y2: None,
        series,
        legend: LegendPos::Auto,
        note: None,
    }
}

pub(super) fn model_name(report: &Report) -> String {
    let s = Path::new(&report.source)
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_else(|| report.source.clone());
    fit_name(&s, 40)
}

fn warning_marker(w: Warning) -> Marker {
    match w {
        Warning::OverTrained => Marker::Triangle,
        Warning::UnderTrained => Marker::Square,
        Warning::None => Marker::Circle,
    }
}

/// The two horizontal (or vertical) lines at weightwatcher's warning thresholds.
/// The y range of a metric's plot, from its data range, and its reference lines: α always
/// shows the warning thresholds (so at least 1.5–6.5), the MP soft rank starts at 0 and
/// reaches 1 (Eqn. 11's range). Shared by the depth plots and the track plots.
pub(super) fn metric_y_range(column: &str, lo: f64, hi: f64) -> (f64, f64, Vec<Series>) {
    match column {
        "alpha" => (lo.min(1.5), hi.max(6.5), threshold_lines(hline).into()),
        "mp_softrank" => (0.0, hi.max(1.0), Vec::new()),
        _ => (lo, hi, Vec::new()),
    }
}

pub(super) fn threshold_lines(line: fn(f64, String) -> Series) -> [Series; 2] {
    [
        line(
            ALPHA_OVER_TRAINED,
            format!("α = {ALPHA_OVER_TRAINED}, α = {ALPHA_UNDER_TRAINED} (warning thresholds)"),
        ),
        line(ALPHA_UNDER_TRAINED, String::new()),
    ]
}

pub(super) fn hline(y: f64, label: String) -> Series {
    Series::HLine {
        y,
        color: RED_,
        label,
    }
}

fn vline(x: f64, label: String) -> Series {
    Series::VLine {
        x,
        color: RED_,
        label,
    }
}
