//! The figure model: what a plot shows, in data units (axes, series, legend, colours),
//! before `draw` turns it into pixels.

use weightscope::diagnose::phase::Phase;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub(super) fn color(self) -> plotters::style::RGBColor {
        plotters::style::RGBColor(self.0, self.1, self.2)
    }
}

pub(super) const BLUE_: Rgb = Rgb(31, 119, 180);

pub(super) const ORANGE: Rgb = Rgb(255, 127, 14);

pub(super) const GREEN_: Rgb = Rgb(44, 160, 44);

pub(super) const RED_: Rgb = Rgb(214, 39, 40);

pub(super) const PURPLE: Rgb = Rgb(148, 103, 189);

pub(super) const DARK: Rgb = Rgb(40, 40, 40);

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
    pub(super) fn linear(label: impl Into<String>, lo: f64, hi: f64) -> Axis {
        let (lo, hi) = sane_range(lo, hi, false);
        Axis {
            label: label.into(),
            lo,
            hi,
            log: false,
        }
    }
    pub(super) fn log(label: impl Into<String>, lo: f64, hi: f64) -> Axis {
        let (lo, hi) = sane_range(lo, hi, true);
        Axis {
            label: label.into(),
            lo,
            hi,
            log: true,
        }
    }
    /// Display coordinate of a value (log10 on log axes); None if not drawable.
    pub(super) fn disp(&self, v: f64) -> Option<f64> {
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
    pub(super) fn disp_range(&self) -> (f64, f64) {
        if self.log {
            (self.lo.log10(), self.hi.log10())
        } else {
            (self.lo, self.hi)
        }
    }
}

/// A finite, non-empty range; positive for log axes.
pub(super) fn sane_range(lo: f64, hi: f64, log: bool) -> (f64, f64) {
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
    pub(super) fn label(&self) -> &str {
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
    pub(super) fn empty(title: String, subtitle: String, note: impl Into<String>) -> Figure {
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

/// Keep a title within the width: cut names from the left (their end says most).
pub(super) fn fit_name(name: &str, max_chars: usize) -> String {
    let n = name.chars().count();
    if n <= max_chars {
        return name.to_string();
    }
    let tail: String = name.chars().skip(n - (max_chars - 1)).collect();
    format!("…{tail}")
}
