//! Plots of `track`: each metric of each layer against the training step (the paper's
//! Figs. 1, 18 and 19), one line per layer, points coloured by phase when phases were
//! classified; and the model's mean α and α̂ against step.

use super::data::{finite_max, finite_min};
use super::figure::{
    fit_name, phase_color, Axis, Figure, LegendPos, Marker, Rgb, Series, BLUE_, ORANGE,
};
use super::model::{metric_y_range, model_name};
use super::{render, ImageFormat};
use crate::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use weightscope::columns::col;
use weightscope::diagnose::phase::Phase;
use weightscope::{LayerResult, Report};

/// Most layers drawn in one track figure (the rest are named in the subtitle).
pub const MAX_TRACK_LAYERS: usize = 12;

const LAYER_COLORS: [Rgb; 12] = [
    Rgb(31, 119, 180),
    Rgb(255, 127, 14),
    Rgb(44, 160, 44),
    Rgb(214, 39, 40),
    Rgb(148, 103, 189),
    Rgb(140, 86, 75),
    Rgb(227, 119, 194),
    Rgb(127, 127, 127),
    Rgb(188, 189, 34),
    Rgb(23, 190, 207),
    Rgb(0, 0, 128),
    Rgb(128, 128, 0),
];

/// (x, y, phase) of one marker.
type PhasePoint = (f64, f64, Option<Phase>);

/// A per-layer metric plotted by [`track_figures`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackMetric {
    Alpha,
    StableRank,
    Entropy,
    MpSoftrank,
    LambdaMax,
}

impl TrackMetric {
    pub const ALL: [TrackMetric; 5] = [
        TrackMetric::Alpha,
        TrackMetric::StableRank,
        TrackMetric::Entropy,
        TrackMetric::MpSoftrank,
        TrackMetric::LambdaMax,
    ];

    pub fn file_stem(&self) -> &'static str {
        match self {
            TrackMetric::Alpha => "alpha",
            TrackMetric::StableRank => "stable_rank",
            TrackMetric::Entropy => "entropy",
            TrackMetric::MpSoftrank => "mp_softrank",
            TrackMetric::LambdaMax => "lambda_max",
        }
    }

    fn caption(&self) -> &'static str {
        match self {
            TrackMetric::Alpha => "α against step",
            TrackMetric::StableRank => "stable rank against step",
            TrackMetric::Entropy => "matrix entropy against step",
            TrackMetric::MpSoftrank => "MP soft rank against step",
            TrackMetric::LambdaMax => "λmax against step",
        }
    }

    fn ylabel(&self) -> &'static str {
        match self {
            TrackMetric::Alpha => "α (power-law exponent of the ESD tail)",
            TrackMetric::StableRank => "stable rank Rs = Σλ/λmax",
            TrackMetric::Entropy => "matrix entropy (normalised)",
            TrackMetric::MpSoftrank => "MP soft rank Rmp = λ⁺/λmax",
            TrackMetric::LambdaMax => "λmax = ‖W‖₂² (log scale)",
        }
    }

    /// The metric's value in a row: its registry column (named as the file).
    fn value(&self, r: &LayerResult) -> Option<f64> {
        col(self.file_stem())
            .value(r)
            .as_f64()
            .filter(|v| v.is_finite() && (*self != TrackMetric::LambdaMax || *v > 0.0))
    }
}

/// The x of each checkpoint: its step when every checkpoint has one, else its position
/// (1-based); and the axis label.
fn track_xs(series: &[(PathBuf, Option<u64>, Report)]) -> (Vec<f64>, &'static str) {
    if !series.is_empty() && series.iter().all(|s| s.1.is_some()) {
        (
            series.iter().map(|s| s.1.unwrap_or(0) as f64).collect(),
            "training step",
        )
    } else {
        (
            (1..=series.len()).map(|i| i as f64).collect(),
            "checkpoint (in order)",
        )
    }
}

/// Layer keys (longname and slice) in order of first appearance.
fn track_layers(series: &[(PathBuf, Option<u64>, Report)]) -> Vec<(String, Option<usize>, String)> {
    let mut keys: Vec<(String, Option<usize>, String)> = Vec::new();
    for (_, _, r) in series {
        for l in &r.layers {
            if !keys.iter().any(|k| k.0 == l.longname && k.1 == l.slice_id) {
                let label = match l.slice_id {
                    Some(s) => format!("{} [map {s}]", l.name),
                    None => l.name.clone(),
                };
                keys.push((l.longname.clone(), l.slice_id, label));
            }
        }
    }
    keys
}

/// At most [`MAX_TRACK_LAYERS`] of `n` indices, evenly spread over depth.
fn spread(n: usize) -> Vec<usize> {
    if n <= MAX_TRACK_LAYERS {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..MAX_TRACK_LAYERS)
        .map(|i| (i * (n - 1) + (MAX_TRACK_LAYERS - 1) / 2) / (MAX_TRACK_LAYERS - 1))
        .collect();
    v.dedup();
    v
}

fn x_axis(xs: &[f64], label: &str) -> Axis {
    let lo = finite_min(xs.iter().copied()).unwrap_or(0.0);
    let hi = finite_max(xs.iter().copied()).unwrap_or(1.0);
    let pad = 0.04 * (hi - lo).max(1e-9);
    Axis::linear(label, lo - pad, hi + pad)
}

/// The figure of one metric over a `track` series: one line per layer (at most
/// [`MAX_TRACK_LAYERS`], spread over depth), markers coloured by phase when phases were
/// classified.
pub fn track_figure(series: &[(PathBuf, Option<u64>, Report)], metric: TrackMetric) -> Figure {
    let (xs, xlabel) = track_xs(series);
    let keys = track_layers(series);
    let shown = spread(keys.len());
    let title = format!(
        "{} · {}",
        metric.caption(),
        fit_name(&track_name(series), 40)
    );
    let any_phase = series
        .iter()
        .any(|s| s.2.layers.iter().any(|l| l.phase.is_some()));
    let mut lines: Vec<(usize, Vec<PhasePoint>)> = Vec::new();
    for (ci, &ki) in shown.iter().enumerate() {
        let (longname, slice, _) = &keys[ki];
        let pts: Vec<PhasePoint> = series
            .iter()
            .zip(&xs)
            .filter_map(|((_, _, r), &x)| {
                let l = r
                    .layers
                    .iter()
                    .find(|l| &l.longname == longname && l.slice_id == *slice)?;
                metric
                    .value(l)
                    .map(|v| (x, v, l.phase.as_ref().map(|p| p.phase)))
            })
            .collect();
        if !pts.is_empty() {
            lines.push((ci, pts));
        }
    }
    let subtitle = format!(
        "{} checkpoints · {} of {} layers shown{}",
        series.len(),
        lines.len(),
        keys.len(),
        if any_phase {
            " · marker colour: phase"
        } else {
            ""
        }
    );
    let x = x_axis(&xs, xlabel);
    let log = metric == TrackMetric::LambdaMax;
    if lines.is_empty() {
        let why = match metric {
            TrackMetric::MpSoftrank => "no MP fit (track with --phase)",
            _ => "no layer has a value",
        };
        let mut f = Figure::empty(title, subtitle, why);
        f.x = x;
        f.y = if log {
            Axis::log(metric.ylabel(), 0.1, 10.0)
        } else {
            Axis::linear(metric.ylabel(), 0.0, 1.0)
        };
        return f;
    }
    let all = || lines.iter().flat_map(|l| l.1.iter().map(|p| p.1));
    let (ylo, yhi, mut out) = metric_y_range(
        metric.file_stem(),
        finite_min(all()).unwrap_or(0.0),
        finite_max(all()).unwrap_or(1.0),
    );
    let y = if log {
        Axis::log(metric.ylabel(), ylo / 1.3, yhi * 1.3)
    } else {
        let pad = 0.06 * (yhi - ylo).max(1e-9);
        Axis::linear(metric.ylabel(), ylo - pad, yhi + pad)
    };
    for (ci, pts) in &lines {
        let color = LAYER_COLORS[ci % LAYER_COLORS.len()];
        let label = fit_name(&keys[shown[*ci]].2, 36);
        out.push(Series::Line {
            points: pts.iter().map(|p| (p.0, p.1)).collect(),
            color,
            width: 2,
            dashed: false,
            label: label.clone(),
            secondary: false,
        });
        if any_phase {
            let mut phases: Vec<Option<Phase>> = pts.iter().map(|p| p.2).collect();
            phases.dedup();
            let mut seen: Vec<Option<Phase>> = Vec::new();
            for ph in phases {
                if seen.contains(&ph) {
                    continue;
                }
                seen.push(ph);
                out.push(Series::Points {
                    points: pts
                        .iter()
                        .filter(|p| p.2 == ph)
                        .map(|p| (p.0, p.1))
                        .collect(),
                    color: phase_color(ph),
                    marker: Marker::Circle,
                    label: String::new(),
                    secondary: false,
                });
            }
        } else {
            out.push(Series::Points {
                points: pts.iter().map(|p| (p.0, p.1)).collect(),
                color,
                marker: Marker::Circle,
                label: String::new(),
                secondary: false,
            });
        }
    }
    if any_phase {
        for ph in Phase::ALL
            .iter()
            .map(|p| Some(*p))
            .chain(std::iter::once(None))
        {
            if lines.iter().any(|l| l.1.iter().any(|p| p.2 == ph)) {
                out.push(Series::Key {
                    color: phase_color(ph),
                    marker: Marker::Circle,
                    label: match ph {
                        Some(p) => format!("phase: {}", p.as_str()),
                        None => "no phase".into(),
                    },
                });
            }
        }
    }
    Figure {
        title,
        subtitle,
        x,
        y,
        y2: None,
        series: out,
        legend: LegendPos::Outside,
        note: None,
    }
}

/// Mean α (left axis) and mean α̂ (right axis) of the model against step.
pub fn track_summary_figure(series: &[(PathBuf, Option<u64>, Report)]) -> Figure {
    let (xs, xlabel) = track_xs(series);
    let title = format!(
        "mean α and α̂ against step · {}",
        fit_name(&track_name(series), 40)
    );
    let pick = |f: &dyn Fn(&Report) -> Option<f64>| -> Vec<(f64, f64)> {
        series
            .iter()
            .zip(&xs)
            .filter_map(|((_, _, r), &x)| f(r).filter(|v| v.is_finite()).map(|v| (x, v)))
            .collect()
    };
    let a = pick(&|r| r.summary.alpha);
    let aw = pick(&|r| r.summary.alpha_weighted);
    let subtitle = format!("{} checkpoints · model summary", series.len());
    let x = x_axis(&xs, xlabel);
    if a.is_empty() && aw.is_empty() {
        let mut f = Figure::empty(title, subtitle, "no checkpoint has a power-law fit");
        f.x = x;
        f.y = Axis::linear("mean α", 0.0, 1.0);
        return f;
    }
    let range = |p: &[(f64, f64)]| {
        let lo = finite_min(p.iter().map(|q| q.1)).unwrap_or(0.0);
        let hi = finite_max(p.iter().map(|q| q.1)).unwrap_or(1.0);
        let pad = 0.08 * (hi - lo).max(1e-9);
        (lo - pad, hi + pad)
    };
    let (alo, ahi) = range(&a);
    let (wlo, whi) = range(&aw);
    let mut out = Vec::new();
    for (pts, color, label, secondary) in [
        (&a, BLUE_, "mean α (left axis)", false),
        (&aw, ORANGE, "mean α̂ = α·log₁₀ λmax (right axis)", true),
    ] {
        if pts.is_empty() {
            continue;
        }
        out.push(Series::Line {
            points: pts.clone(),
            color,
            width: 2,
            dashed: false,
            label: label.into(),
            secondary,
        });
        out.push(Series::Points {
            points: pts.clone(),
            color,
            marker: if secondary {
                Marker::Square
            } else {
                Marker::Circle
            },
            label: String::new(),
            secondary,
        });
    }
    Figure {
        title,
        subtitle,
        x,
        y: Axis::linear("mean α over layers", alo, ahi),
        y2: (!aw.is_empty()).then(|| Axis::linear("mean α̂ (weighted alpha)", wlo, whi)),
        series: out,
        legend: LegendPos::Outside,
        note: None,
    }
}

fn track_name(series: &[(PathBuf, Option<u64>, Report)]) -> String {
    match series.first() {
        Some((_, _, r)) => model_name(r),
        None => "no checkpoints".into(),
    }
}

/// Every track figure with its file stem: `summary`, then one per [`TrackMetric`] (MP soft
/// rank only when some layer has an MP fit).
pub fn track_figures(series: &[(PathBuf, Option<u64>, Report)]) -> Vec<(String, Figure)> {
    let mut v = vec![("summary".to_string(), track_summary_figure(series))];
    let has_mp = series
        .iter()
        .any(|s| s.2.layers.iter().any(|l| l.mp.is_some()));
    for m in TrackMetric::ALL {
        if m == TrackMetric::MpSoftrank && !has_mp {
            continue;
        }
        v.push((m.file_stem().to_string(), track_figure(series, m)));
    }
    v
}

/// Write every track figure under `dir` as `<stem>.<ext>`. Returns the files written.
pub fn write_track_plots(
    series: &[(PathBuf, Option<u64>, Report)],
    dir: &Path,
    formats: &[ImageFormat],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let figs = track_figures(series);
    let jobs: Vec<(PathBuf, &Figure, ImageFormat)> = figs
        .iter()
        .flat_map(|(stem, fig)| {
            formats
                .iter()
                .map(move |f| (dir.join(format!("{stem}.{}", f.extension())), fig, *f))
        })
        .collect();
    jobs.par_iter()
        .map(|(path, fig, f)| crate::write_atomic(path, &render(fig, *f)?))
        .collect::<Result<Vec<()>>>()?;
    let mut files: Vec<PathBuf> = jobs.into_iter().map(|j| j.0).collect();
    files.sort();
    Ok(files)
}
