//! Plots of a report, as SVG or PNG (the `plotters` crate, pure Rust; text in PNGs is drawn
//! with the bundled DejaVu Sans, SVGs name the `sans-serif` family and leave text to the
//! viewer).
//!
//! Per layer (needs the layer's ESD, [`Options::keep_esd`](weightscope::Options)), see
//! [`LayerPlot`]: the ESD on linear axes with the fitted Marchenko–Pastur density, λ± and the
//! spikes (the paper's Fig. 7); on log-log axes with the fitted power law from xmin (Fig. 16);
//! the CCDF with the fitted line; on log-linear axes; the density of singular values
//! (Fig. 3a); the scree plot (Fig. 2); the shuffled-W ESD over the real one (with
//! `randomize`); and D and α against every candidate xmin (how the fit chose xmin).
//! Per model, see [`ModelPlot`]: α, α̂, stable rank, MP soft rank and log spectral norm against
//! layer depth, coloured by phase with a marker per warning, and the histogram of α over
//! layers (Fig. 12).
//!
//! Each plot is first described as a [`Figure`] (axes, series and legend, in data units),
//! then drawn. Histograms are binned (at most [`MAX_BINS`] bins) and long curves thinned, so
//! a plot's size does not grow with the number of eigenvalues. The same report gives the
//! same bytes. Degenerate layers (one eigenvalue, all equal, no fit, no spectrum) give a plot
//! with a note, never an error.

use crate::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use weightscope::columns::col;
use weightscope::diagnose::metrics::EVALS_THRESH;
use weightscope::diagnose::phase::Phase;
use weightscope::diagnose::warning::{Warning, ALPHA_OVER_TRAINED, ALPHA_UNDER_TRAINED};
use weightscope::fit::marchenko_pastur::{mp_density, MpMethod};
use weightscope::fit::scan_xmin;
use weightscope::{LayerResult, Report, Status};

/// Width and height of every plot, in pixels.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 480;
/// Most histogram bins in a plot.
pub const MAX_BINS: usize = 100;
/// Most points of a curve (scree, CCDF, xmin scan) in a plot.
pub const MAX_POINTS: usize = 600;

mod draw;
mod track;

pub use track::{
    track_figure, track_figures, track_summary_figure, write_track_plots, TrackMetric,
    MAX_TRACK_LAYERS,
};

use draw::{text_metrics, SIZE_TITLE};
/// Draw a figure as SVG (UTF-8 bytes) or PNG.
pub fn render(fig: &Figure, format: ImageFormat) -> Result<Vec<u8>> {
    draw::render(fig, format)
}

/// Image format of a plot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Svg,
    Png,
}

impl ImageFormat {
    pub fn extension(&self) -> &'static str {
        match self {
            ImageFormat::Svg => "svg",
            ImageFormat::Png => "png",
        }
    }
}

/// The plots of one layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerPlot {
    /// ESD histogram on linear axes, fitted MP density, λ⁻ and λ⁺, spikes (Fig. 7a).
    Esd,
    /// The same, zoomed on the MP bulk (Fig. 7b); only when λmax is well past λ⁺.
    EsdZoom,
    /// ESD on log-log axes with the fitted power law from xmin (Fig. 16).
    EsdLogLog,
    /// Empirical CCDF P(Λ ≥ λ) on log-log axes with the fitted power law.
    Ccdf,
    /// ESD on log-linear axes (linear λ, logarithmic density; §3.2).
    EsdLogLin,
    /// Density of the singular values ν = √λ (Fig. 3a).
    SingularValues,
    /// Eigenvalues in decreasing order against their rank (Fig. 2).
    Scree,
    /// The shuffled-W ESD over the real one (only with `randomize`).
    Randomized,
    /// KS distance D and α for every candidate xmin, and the one chosen.
    XminScan,
}

impl LayerPlot {
    pub const ALL: [LayerPlot; 9] = [
        LayerPlot::Esd,
        LayerPlot::EsdZoom,
        LayerPlot::EsdLogLog,
        LayerPlot::Ccdf,
        LayerPlot::EsdLogLin,
        LayerPlot::SingularValues,
        LayerPlot::Scree,
        LayerPlot::Randomized,
        LayerPlot::XminScan,
    ];

    /// File name without extension.
    pub fn file_stem(&self) -> &'static str {
        match self {
            LayerPlot::Esd => "esd",
            LayerPlot::EsdZoom => "esd_zoom",
            LayerPlot::EsdLogLog => "esd_loglog",
            LayerPlot::Ccdf => "ccdf",
            LayerPlot::EsdLogLin => "esd_loglin",
            LayerPlot::SingularValues => "singular_values",
            LayerPlot::Scree => "scree",
            LayerPlot::Randomized => "randomized",
            LayerPlot::XminScan => "xmin_scan",
        }
    }

    /// What the plot shows, in a few words.
    pub fn caption(&self) -> &'static str {
        match self {
            LayerPlot::Esd => "ESD, linear axes, MP fit (Fig. 7)",
            LayerPlot::EsdZoom => "ESD zoomed on the MP bulk (Fig. 7b)",
            LayerPlot::EsdLogLog => "ESD, log-log axes, power-law fit (Fig. 16)",
            LayerPlot::Ccdf => "CCDF, log-log axes, power-law fit",
            LayerPlot::EsdLogLin => "ESD, log-linear axes",
            LayerPlot::SingularValues => "singular-value density (Fig. 3a)",
            LayerPlot::Scree => "scree plot (Fig. 2)",
            LayerPlot::Randomized => "ESD of W and of shuffled W",
            LayerPlot::XminScan => "KS distance D and α against xmin",
        }
    }

    /// Whether this plot exists for the row (every plot needs the ESD; `Randomized` also the
    /// shuffled ESD).
    pub fn available(&self, row: &LayerResult) -> bool {
        match self {
            LayerPlot::Randomized => row.esd.is_some() && row.rand_esd.is_some(),
            LayerPlot::EsdZoom => row.esd.is_some() && zoom_edge(row).is_some(),
            _ => row.esd.is_some(),
        }
    }
}

/// The plots of the whole model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelPlot {
    Alpha,
    AlphaWeighted,
    StableRank,
    MpSoftrank,
    LogSpectralNorm,
    /// Histogram of α over layers (Fig. 12).
    AlphaHistogram,
}

impl ModelPlot {
    pub const ALL: [ModelPlot; 6] = [
        ModelPlot::Alpha,
        ModelPlot::AlphaWeighted,
        ModelPlot::StableRank,
        ModelPlot::MpSoftrank,
        ModelPlot::LogSpectralNorm,
        ModelPlot::AlphaHistogram,
    ];

    pub fn file_stem(&self) -> &'static str {
        match self {
            ModelPlot::Alpha => "depth_alpha",
            ModelPlot::AlphaWeighted => "depth_alpha_weighted",
            ModelPlot::StableRank => "depth_stable_rank",
            ModelPlot::MpSoftrank => "depth_mp_softrank",
            ModelPlot::LogSpectralNorm => "depth_log_spectral_norm",
            ModelPlot::AlphaHistogram => "alpha_histogram",
        }
    }

    /// The registry column plotted against depth (none for the histogram).
    pub fn column(&self) -> Option<&'static str> {
        match self {
            ModelPlot::Alpha => Some("alpha"),
            ModelPlot::AlphaWeighted => Some("alpha_weighted"),
            ModelPlot::StableRank => Some("stable_rank"),
            ModelPlot::MpSoftrank => Some("mp_softrank"),
            ModelPlot::LogSpectralNorm => Some("log_spectral_norm"),
            ModelPlot::AlphaHistogram => None,
        }
    }

    pub fn caption(&self) -> &'static str {
        match self {
            ModelPlot::Alpha => "α by layer depth",
            ModelPlot::AlphaWeighted => "α̂ (weighted alpha) by layer depth",
            ModelPlot::StableRank => "stable rank by layer depth",
            ModelPlot::MpSoftrank => "MP soft rank by layer depth",
            ModelPlot::LogSpectralNorm => "log spectral norm by layer depth",
            ModelPlot::AlphaHistogram => "distribution of α over layers (Fig. 12)",
        }
    }
}

// ---------------------------------------------------------------------------------------
// Figures: what is drawn, in data units.

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    fn color(self) -> plotters::style::RGBColor {
        plotters::style::RGBColor(self.0, self.1, self.2)
    }
}

const BLUE_: Rgb = Rgb(31, 119, 180);
const ORANGE: Rgb = Rgb(255, 127, 14);
const GREEN_: Rgb = Rgb(44, 160, 44);
const RED_: Rgb = Rgb(214, 39, 40);
const PURPLE: Rgb = Rgb(148, 103, 189);
const DARK: Rgb = Rgb(40, 40, 40);

/// The colour of a phase in model plots (and in the HTML report).
pub fn phase_color(p: Option<Phase>) -> Rgb {
    match p {
        Some(Phase::RandomLike) => Rgb(127, 127, 127),
        Some(Phase::BleedingOut) => Rgb(23, 190, 207),
        Some(Phase::BulkSpikes) => Rgb(44, 160, 44),
        Some(Phase::BulkDecay) => Rgb(188, 189, 34),
        Some(Phase::HeavyTailed) => Rgb(31, 119, 180),
        Some(Phase::RankCollapse) => Rgb(214, 39, 40),
        None => DARK,
    }
}

/// One axis: range in data units, logarithmic or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub label: String,
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
}

impl Axis {
    fn linear(label: impl Into<String>, lo: f64, hi: f64) -> Axis {
        let (lo, hi) = sane_range(lo, hi, false);
        Axis {
            label: label.into(),
            lo,
            hi,
            log: false,
        }
    }
    fn log(label: impl Into<String>, lo: f64, hi: f64) -> Axis {
        let (lo, hi) = sane_range(lo, hi, true);
        Axis {
            label: label.into(),
            lo,
            hi,
            log: true,
        }
    }
    /// Display coordinate of a value (log10 on log axes); None if not drawable.
    fn disp(&self, v: f64) -> Option<f64> {
        let d = if self.log {
            if v > 0.0 {
                v.log10()
            } else {
                return None;
            }
        } else {
            v
        };
        d.is_finite().then_some(d)
    }
    fn disp_range(&self) -> (f64, f64) {
        if self.log {
            (self.lo.log10(), self.hi.log10())
        } else {
            (self.lo, self.hi)
        }
    }
}

/// A finite, non-empty range; positive for log axes.
fn sane_range(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
        (lo.min(hi), lo.max(hi))
    } else if lo.is_finite() {
        (lo, lo)
    } else if hi.is_finite() {
        (hi, hi)
    } else if log {
        (0.1, 10.0)
    } else {
        (0.0, 1.0)
    };
    if log {
        if hi <= 0.0 {
            return (0.1, 10.0);
        }
        if lo <= 0.0 {
            lo = hi * 1e-3;
        }
        if hi / lo < 1.0 + 1e-9 {
            // One value: half a decade each side.
            return (lo / 3.16, hi * 3.16);
        }
        // Keep tick computation sane for absurd spans.
        if hi / lo > 1e30 {
            lo = hi * 1e-30;
        }
        (lo, hi)
    } else {
        if hi - lo <= 1e-12 * hi.abs().max(lo.abs()).max(1e-300) {
            let pad = if lo == 0.0 { 1.0 } else { 0.1 * lo.abs() };
            lo -= pad;
            hi += pad;
        }
        (lo, hi)
    }
}

/// A point marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
}

/// Something drawn in a figure. An empty label leaves it out of the legend.
#[derive(Debug, Clone, PartialEq)]
pub enum Series {
    /// Histogram: bins (left edge, right edge, height), drawn as one filled outline.
    Hist {
        bins: Vec<(f64, f64, f64)>,
        color: Rgb,
        label: String,
    },
    /// A curve (clipped to the axes). `secondary`: its y is on the right axis.
    Line {
        points: Vec<(f64, f64)>,
        color: Rgb,
        width: u32,
        dashed: bool,
        label: String,
        secondary: bool,
    },
    /// A dashed vertical line across the plot.
    VLine { x: f64, color: Rgb, label: String },
    /// A dashed horizontal line across the plot.
    HLine { y: f64, color: Rgb, label: String },
    /// Markers.
    Points {
        points: Vec<(f64, f64)>,
        color: Rgb,
        marker: Marker,
        label: String,
        secondary: bool,
    },
    /// Short ticks along the bottom axis (spikes).
    Rug {
        xs: Vec<f64>,
        color: Rgb,
        label: String,
    },
    /// A legend entry only.
    Key {
        color: Rgb,
        marker: Marker,
        label: String,
    },
}

impl Series {
    fn label(&self) -> &str {
        match self {
            Series::Hist { label, .. }
            | Series::Line { label, .. }
            | Series::VLine { label, .. }
            | Series::HLine { label, .. }
            | Series::Points { label, .. }
            | Series::Rug { label, .. }
            | Series::Key { label, .. } => label,
        }
    }
}

/// Where the legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegendPos {
    /// The corner of the plot where the legend hides the least data.
    Auto,
    UpperRight,
    UpperLeft,
    LowerRight,
    LowerLeft,
    /// In a column right of the plot.
    Outside,
}

/// A plot, in data units.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub title: String,
    pub subtitle: String,
    pub x: Axis,
    pub y: Axis,
    /// A right-hand axis, for series marked `secondary`.
    pub y2: Option<Axis>,
    pub series: Vec<Series>,
    pub legend: LegendPos,
    /// Shown in the middle of the plot (why it is empty, or a caveat).
    pub note: Option<String>,
}

impl Figure {
    fn empty(title: String, subtitle: String, note: impl Into<String>) -> Figure {
        Figure {
            title,
            subtitle,
            x: Axis::linear("", 0.0, 1.0),
            y: Axis::linear("", 0.0, 1.0),
            y2: None,
            series: Vec::new(),
            legend: LegendPos::Auto,
            note: Some(note.into()),
        }
    }

    /// Every label and title, for tests: the fitted values appear here as text.
    pub fn texts(&self) -> Vec<String> {
        let mut t = vec![
            self.title.clone(),
            self.subtitle.clone(),
            self.x.label.clone(),
            self.y.label.clone(),
        ];
        if let Some(y2) = &self.y2 {
            t.push(y2.label.clone());
        }
        t.extend(self.series.iter().map(|s| s.label().to_string()));
        t.extend(self.note.clone());
        t.retain(|s| !s.is_empty());
        t
    }
}

// ---------------------------------------------------------------------------------------
// Number formatting.

/// `v` with `sig` significant digits, plain or scientific, without trailing zeros.
pub fn fmt_sig(v: f64, sig: usize) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    let e = v.abs().log10().floor() as i32;
    if !(-3..5).contains(&e) {
        let s = format!("{:.*e}", sig.saturating_sub(1), v);
        // 1.50e-5 → 1.5e-5
        if let Some((m, ex)) = s.split_once('e') {
            let m = if m.contains('.') {
                m.trim_end_matches('0').trim_end_matches('.')
            } else {
                m
            };
            return format!("{m}e{ex}");
        }
        return s;
    }
    let decimals = (sig as i32 - 1 - e).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Label of the tick m·10ᵏ on a log axis: a plain number near 1, else m·10ᵏ.
fn log_tick_label(m: f64, k: i64) -> String {
    if (-2..4).contains(&k) {
        fmt_sig(m * 10f64.powi(k as i32), 2)
    } else {
        format!("{m}·10{}", superscript(k as i32))
    }
}

fn superscript(n: i32) -> String {
    n.to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            '0' => '⁰',
            '1' => '¹',
            '2' => '²',
            '3' => '³',
            '4' => '⁴',
            '5' => '⁵',
            '6' => '⁶',
            '7' => '⁷',
            '8' => '⁸',
            '9' => '⁹',
            c => c,
        })
        .collect()
}

/// Tick positions (display units) and labels of an axis.
fn ticks(axis: &Axis) -> Vec<(f64, String)> {
    let (lo, hi) = axis.disp_range();
    if axis.log {
        let span = hi - lo;
        if span >= 1.0 - 1e-9 {
            let (k0, k1) = ((lo - 1e-9).ceil() as i64, (hi + 1e-9).floor() as i64);
            let count = (k1 - k0 + 1).max(1);
            let stride = ((count + 7) / 8).max(1);
            let mut t: Vec<(f64, String)> = (k0..=k1)
                .filter(|k| (k - k0) % stride == 0)
                .map(|k| (k as f64, format!("10{}", superscript(k as i32))))
                .collect();
            if span < 3.5 {
                // Few decades: also 2× and 5×, and plain numbers near 1 for all.
                for (d, label) in t.iter_mut() {
                    *label = log_tick_label(1.0, d.round() as i64);
                }
                for k in (k0 - 1)..=k1 {
                    for m in [2.0f64, 5.0] {
                        let d = k as f64 + m.log10();
                        if d >= lo && d <= hi {
                            t.push((d, log_tick_label(m, k)));
                        }
                    }
                }
                t.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            t
        } else {
            // Less than a decade: linear ticks on the values.
            linear_ticks(10f64.powf(lo), 10f64.powf(hi), 5)
                .into_iter()
                .filter(|(v, _)| *v > 0.0)
                .map(|(v, s)| (v.log10(), s))
                .collect()
        }
    } else {
        linear_ticks(lo, hi, 7)
    }
}

fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<(f64, String)> {
    let raw = (hi - lo) / target as f64;
    if raw <= 0.0 || !raw.is_finite() {
        return vec![(lo, fmt_sig(lo, 3))];
    }
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    // Significant digits enough to tell neighbours apart.
    let top = lo.abs().max(hi.abs()).max(step);
    let sig = ((top.log10().floor() - step.log10().floor()) as i64 + 2).clamp(1, 8) as usize;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
            (v, fmt_sig(v, sig))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Data helpers.

/// Number of histogram bins for n values.
fn bin_count(n: usize) -> usize {
    ((2.0 * (n as f64).sqrt()).round() as usize).clamp(8, MAX_BINS)
}

/// Density histogram of `values` over [lo, hi] (`log`: bins equal in log10), normalised by
/// `total` values (so that the bins of a subset integrate to its share).
fn histogram(
    values: &[f64],
    lo: f64,
    hi: f64,
    nb: usize,
    log: bool,
    total: usize,
) -> Vec<(f64, f64, f64)> {
    let (a, b) = if log {
        (lo.log10(), hi.log10())
    } else {
        (lo, hi)
    };
    if a.is_nan() || b.is_nan() || b <= a || nb == 0 || total == 0 {
        return Vec::new();
    }
    let w = (b - a) / nb as f64;
    let mut counts = vec![0usize; nb];
    for &v in values {
        let d = if log {
            if v <= 0.0 {
                continue;
            }
            v.log10()
        } else {
            v
        };
        if !d.is_finite() || d < a - 1e-12 * w.abs() || d > b + 1e-12 * w.abs() {
            continue;
        }
        let i = (((d - a) / w) as usize).min(nb - 1);
        counts[i] += 1;
    }
    let edge = |i: usize| {
        let d = a + w * i as f64;
        if log {
            10f64.powf(d)
        } else {
            d
        }
    };
    (0..nb)
        .map(|i| {
            let (l, r) = (edge(i), edge(i + 1));
            (l, r, counts[i] as f64 / (total as f64 * (r - l)))
        })
        .collect()
}

/// At most `max` indices of 0..n, evenly spread, always with the first and last, plus `keep`.
fn thin_indices(n: usize, max: usize, keep: Option<usize>) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..max)
        .map(|k| ((k as f64) * (n - 1) as f64 / (max - 1) as f64).round() as usize)
        .collect();
    v.extend(keep.filter(|&k| k < n));
    v.sort_unstable();
    v.dedup();
    v
}

/// Indices for a log-scaled rank axis: every index among the top `dense`, then log-spaced.
fn thin_log_ranks(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = Vec::with_capacity(max + 1);
    for k in 0..max {
        // Ranks r = n − i from 1 to n, log-spaced.
        let r = ((n as f64).ln() * k as f64 / (max - 1) as f64)
            .exp()
            .round() as usize;
        v.push(n - r.clamp(1, n));
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn finite_max(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
        .fold(None, |m, x| Some(m.map_or(x, |m: f64| m.max(x))))
}
fn finite_min(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
        .fold(None, |m, x| Some(m.map_or(x, |m: f64| m.min(x))))
}

fn eigenvalues(n: usize) -> String {
    if n == 1 {
        "1 eigenvalue".into()
    } else {
        format!("{n} eigenvalues")
    }
}

fn lambda_symbol(report: &Report) -> &'static str {
    if report.options.normalize {
        "λ (eigenvalue of X = WᵀW/N)"
    } else {
        "λ (eigenvalue of X = WᵀW)"
    }
}

fn shape_text(row: &LayerResult) -> String {
    let shape = if row.rf > 1 {
        format!("{}×{}, {} maps", row.n, row.m, row.rf)
    } else {
        format!("{}×{}", row.n, row.m)
    };
    match row.runs {
        Some(k) => format!("{shape}, pooled over {k} runs"),
        None => shape,
    }
}

/// Keep a title within the width: cut names from the left (their end says most).
fn fit_name(name: &str, max_chars: usize) -> String {
    let n = name.chars().count();
    if n <= max_chars {
        return name.to_string();
    }
    let tail: String = name.chars().skip(n - (max_chars - 1)).collect();
    format!("…{tail}")
}

fn layer_title(row: &LayerResult, kind: LayerPlot) -> String {
    let rest = format!(" · {} · {}", shape_text(row), kind.caption());
    let name = match row.slice_id {
        Some(s) => format!("{} [map {s}]", row.name),
        None => row.name.clone(),
    };
    // Cut the name (from the left) until the title fits the width, keeping 16 characters.
    let room = WIDTH as f32 - 30.0;
    let mut keep = name.chars().count();
    loop {
        let t = format!("{}{rest}", fit_name(&name, keep));
        if keep <= 16 || text_metrics(&t, SIZE_TITLE as f64).0 <= room {
            return t;
        }
        keep -= 1;
    }
}

fn layer_subtitle(row: &LayerResult) -> String {
    let mut parts = Vec::new();
    match (row.alpha, row.status) {
        (Some(a), _) => {
            parts.push(format!("α = {a:.3}"));
            if let Some(d) = row.d {
                parts.push(format!("D = {d:.3}"));
            }
        }
        (None, Status::Failed) => parts.push("no power-law fit".into()),
        (None, _) => parts.push("no spectrum".into()),
    }
    if let Some(l) = row.lambda_max {
        parts.push(format!("λmax = {}", fmt_sig(l, 4)));
    }
    if let Some(p) = &row.phase {
        parts.push(p.phase.as_str().to_string());
    }
    if !row.warning.is_none() {
        parts.push(row.warning.as_str().to_string());
    }
    parts.join(" · ")
}

// ---------------------------------------------------------------------------------------
// Layer figures.

/// The figure of one plot of layer row `index` of the report.
pub fn layer_figure(report: &Report, index: usize, kind: LayerPlot) -> Figure {
    let row = &report.layers[index];
    let title = layer_title(row, kind);
    let subtitle = layer_subtitle(row);
    let Some(esd) = row.esd.as_deref() else {
        let why = if row.message.is_empty() {
            "no eigenvalues kept (analyse with keep_esd)".to_string()
        } else {
            format!("no spectrum: {}", row.message)
        };
        return Figure::empty(title, subtitle, why);
    };
    let esd: Vec<f64> = esd.iter().copied().filter(|v| v.is_finite()).collect();
    if esd.is_empty() {
        return Figure::empty(title, subtitle, "no eigenvalues");
    }
    let lam = lambda_symbol(report);
    match kind {
        LayerPlot::Esd => esd_linear(report, row, &esd, title, subtitle, lam, false, None),
        LayerPlot::EsdZoom => match zoom_edge(row) {
            Some(z) => esd_linear(report, row, &esd, title, subtitle, lam, false, Some(z)),
            None => Figure::empty(
                title,
                subtitle,
                "no MP bulk well below λmax: nothing to zoom on",
            ),
        },
        LayerPlot::EsdLogLin => esd_linear(report, row, &esd, title, subtitle, lam, true, None),
        LayerPlot::EsdLogLog => esd_loglog(row, &esd, title, subtitle, lam),
        LayerPlot::Ccdf => ccdf(row, &esd, title, subtitle, lam),
        LayerPlot::SingularValues => singular_values(report, row, &esd, title, subtitle),
        LayerPlot::Scree => scree(row, &esd, title, subtitle, lam),
        LayerPlot::Randomized => randomized(row, &esd, title, subtitle, lam),
        LayerPlot::XminScan => xmin_scan(report, row, &esd, title, subtitle),
    }
}

/// The MP density in the ESD's units, times the bulk share the fit matched (bulk-CDF fits
/// the bulk's own CDF), on [λ⁻, λ⁺]; with the share.
fn mp_curve(
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

fn spikes(row: &LayerResult, esd: &[f64]) -> Vec<f64> {
    let k = row.mp.map_or(0, |m| m.num_spikes).min(esd.len());
    esd[esd.len() - k..].to_vec()
}

/// Right edge of the zoomed ESD: 3λ⁺, when λmax lies beyond 4λ⁺ (else the full plot
/// already shows the bulk).
fn zoom_edge(row: &LayerResult) -> Option<f64> {
    let mp = row.mp.as_ref()?;
    let lmax = row.lambda_max?;
    (mp.bulk_max > 0.0 && lmax > 4.0 * mp.bulk_max).then_some(3.0 * mp.bulk_max)
}

/// Whether a linear axis should start at 0: when the values start near it.
fn from_zero(lo: f64, hi: f64) -> bool {
    lo >= 0.0 && lo <= 0.3 * hi
}

#[allow(clippy::too_many_arguments)]
fn esd_linear(
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

fn esd_loglog(
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

fn ccdf(row: &LayerResult, esd: &[f64], title: String, subtitle: String, lam: &str) -> Figure {
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

fn singular_values(
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

fn scree(row: &LayerResult, esd: &[f64], title: String, subtitle: String, lam: &str) -> Figure {
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

fn randomized(
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

fn xmin_scan(
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

// ---------------------------------------------------------------------------------------
// Model figures.

fn model_name(report: &Report) -> String {
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
pub(crate) fn threshold_lines(line: fn(f64, String) -> Series) -> [Series; 2] {
    [
        line(
            ALPHA_OVER_TRAINED,
            format!("α = {ALPHA_OVER_TRAINED}, α = {ALPHA_UNDER_TRAINED} (warning thresholds)"),
        ),
        line(ALPHA_UNDER_TRAINED, String::new()),
    ]
}

pub(crate) fn hline(y: f64, label: String) -> Series {
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
    let (mut ylo, mut yhi) = (ymin, ymax);
    let mut series = Vec::new();
    if kind == ModelPlot::Alpha {
        ylo = ylo.min(1.5);
        yhi = yhi.max(6.5);
        series.extend(threshold_lines(hline));
    }
    if kind == ModelPlot::MpSoftrank {
        ylo = 0.0;
        yhi = yhi.max(1.0);
    }
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
                label: text.into(),
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

/// One plot of layer row `index`, as SVG or PNG bytes.
pub fn layer_plot(
    report: &Report,
    index: usize,
    kind: LayerPlot,
    format: ImageFormat,
) -> Result<Vec<u8>> {
    render(&layer_figure(report, index, kind), format)
}

/// One model plot, as SVG or PNG bytes.
pub fn model_plot(report: &Report, kind: ModelPlot, format: ImageFormat) -> Result<Vec<u8>> {
    render(&model_figure(report, kind), format)
}

/// The folder name of layer row `index` under `layers/`: its position, then its name with
/// anything but letters, digits, `.`, `-` and `_` replaced.
pub fn layer_dir_name(report: &Report, index: usize) -> String {
    let row = &report.layers[index];
    let width = report.layers.len().to_string().len().max(3);
    let safe: String = row
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let slice = row.slice_id.map(|s| format!("-map{s}")).unwrap_or_default();
    format!("{:0width$}-{safe}{slice}", index + 1)
}

/// Write every plot of the report under `dir`: `model/<plot>.<ext>` and, for each layer
/// with an ESD, `layers/<nnn-name>/<plot>.<ext>`. Returns the files written, sorted.
pub fn write_plots(report: &Report, dir: &Path, formats: &[ImageFormat]) -> Result<Vec<PathBuf>> {
    let mkdir = |d: &Path| std::fs::create_dir_all(d).map_err(|e| Error::io(d, e));
    let model_dir = dir.join("model");
    mkdir(&model_dir)?;
    enum Job {
        Layer(usize, LayerPlot),
        Model(ModelPlot),
    }
    let mut jobs: Vec<(PathBuf, Job, ImageFormat)> = Vec::new();
    for kind in ModelPlot::ALL {
        for &f in formats {
            let path = model_dir.join(format!("{}.{}", kind.file_stem(), f.extension()));
            jobs.push((path, Job::Model(kind), f));
        }
    }
    for (i, row) in report.layers.iter().enumerate() {
        if row.esd.is_none() {
            continue;
        }
        let ldir = dir.join("layers").join(layer_dir_name(report, i));
        mkdir(&ldir)?;
        for kind in LayerPlot::ALL.into_iter().filter(|k| k.available(row)) {
            for &f in formats {
                let path = ldir.join(format!("{}.{}", kind.file_stem(), f.extension()));
                jobs.push((path, Job::Layer(i, kind), f));
            }
        }
    }
    jobs.par_iter()
        .map(|(path, job, f)| {
            let bytes = match job {
                Job::Layer(i, k) => layer_plot(report, *i, *k, *f)?,
                Job::Model(k) => model_plot(report, *k, *f)?,
            };
            super::write_atomic(path, &bytes)
        })
        .collect::<Result<Vec<()>>>()?;
    let mut files: Vec<PathBuf> = jobs.into_iter().map(|j| j.0).collect();
    files.sort();
    Ok(files)
}
