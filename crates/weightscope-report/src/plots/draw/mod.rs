//! Drawing a [`Figure`] with plotters: axes with our own ticks, series in pixel space (so
//! curves can be clipped and simplified), a legend placed where it hides the least data, and
//! the two outputs: SVG (made compact, see `svg`) and PNG (text drawn here, see `png`).
//!
//! `draw_figure` draws in a fixed order — background and titles, axes, series, right-hand
//! axis, legend, note — which the output bytes depend on.

mod geometry;
mod legend;
mod png;
mod series;
mod svg;

pub(super) use png::text_metrics;

use super::figure::{Axis, Figure, Rgb, DARK};
use super::ticks::ticks;
use super::{ImageFormat, HEIGHT, WIDTH};
use crate::{Error, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::BackendCoord;
use std::ops::Range;

const FONT: &str = "sans-serif";
// Text sizes (plotters units; SVG font-size is size/1.24 px). Large enough to read when a
// plot is shown at 600 px wide in the HTML report.
pub(super) const SIZE_TITLE: u32 = 20;
const SIZE_SUBTITLE: u32 = 16;
const SIZE_TICK: u32 = 15;
const SIZE_DESC: u32 = 17;
const SIZE_LEGEND: u32 = 15;
static DEJAVU_SANS: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Height above the chart taken by the title and subtitle, in pixels.
const TITLES_HEIGHT: i32 = 64;
/// Width right of the chart taken by the right-hand axis, when there is one.
const RIGHT_AXIS_WIDTH: i32 = 70;

/// Register the bundled font with plotters (once per process).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled file is a valid TrueType font; a failure would show as missing text.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
}

type DrawResult<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A rectangle of pixels (x0, y0, x1, y1) where data is drawn, kept free of the legend.
type Ink = (i32, i32, i32, i32);

fn text_style(size: u32, color: Rgb) -> TextStyle<'static> {
    let mut t = TextStyle::from((FONT, size).into_font());
    t.color = color.color().to_backend_color();
    t
}

/// A linear axis (in display units) with the given tick positions and no light mesh.
struct TickAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let t = (v - self.lo) / (self.hi - self.lo);
        let len = (limit.1 - limit.0) as f64;
        if !t.is_finite() {
            return (limit.0 + limit.1) / 2;
        }
        // Stay within a sane pixel range even for points far outside the axis.
        limit.0 + (len * t.clamp(-10.0, 11.0) + 1e-3).floor() as i32
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<TickAxis, TickAxis>>;

/// The plot area of a drawn chart: where a data point lands, in display units (log10 on log
/// axes) and in pixels.
struct Frame<'f> {
    fig: &'f Figure,
    /// Display ranges of the x and (left) y axes.
    xr: (f64, f64),
    yr: (f64, f64),
    /// Pixel ranges of the plot area.
    px: Range<i32>,
    py: Range<i32>,
    /// Display coordinates to pixels (the chart's mapping).
    to_px: &'f dyn Fn(f64, f64) -> BackendCoord,
}

impl Frame<'_> {
    fn to_px(&self, x: f64, y: f64) -> BackendCoord {
        (self.to_px)(x, y)
    }

    /// A value of the right-hand axis (display units) on the left axis's display range: the
    /// secondary axis is an affine map of its range onto the primary one.
    fn y2_on_y(&self, y2: &Axis, v: f64) -> f64 {
        let (lo, hi) = y2.disp_range();
        let yr = self.yr;
        yr.0 + (v - lo) / (hi - lo) * (yr.1 - yr.0)
    }

    /// Display coordinates of a data point; `secondary`: its y is on the right-hand axis.
    fn disp(&self, p: (f64, f64), secondary: bool) -> Option<(f64, f64)> {
        let x = self.fig.x.disp(p.0)?;
        let y = if secondary {
            let a = self.fig.y2.as_ref()?;
            let v = a.disp(p.1)?;
            self.y2_on_y(a, v)
        } else {
            self.fig.y.disp(p.1)?
        };
        Some((x, y))
    }

    fn in_x(&self, x: f64) -> bool {
        let xr = self.xr;
        x >= xr.0.min(xr.1) - 1e-12 && x <= xr.1.max(xr.0) + 1e-12
    }

    fn in_y(&self, y: f64) -> bool {
        y >= self.yr.0 - 1e-12 && y <= self.yr.1 + 1e-12
    }
}

/// Draw the whole figure on `root`.
fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    draw_titles(root, fig)?;
    let legend_w = legend::outside_width(fig);
    let right_axis: i32 = if fig.y2.is_some() {
        RIGHT_AXIS_WIDTH
    } else {
        0
    };
    let body = root.margin(TITLES_HEIGHT, 0, 0, 0);
    let chart = draw_axes(&body, fig, 16 + legend_w + right_axis)?;
    let (px, py) = chart.plotting_area().get_pixel_range();
    let to_px = |x: f64, y: f64| chart.backend_coord(&(x, y));
    let frame = Frame {
        fig,
        xr: fig.x.disp_range(),
        yr: fig.y.disp_range(),
        px,
        py,
        to_px: &to_px,
    };
    let mut ink: Vec<Ink> = Vec::new();
    for s in &fig.series {
        series::draw_series(root, &frame, s, &mut ink)?;
    }
    if let Some(a) = &fig.y2 {
        draw_right_axis(root, &frame, a)?;
    }
    legend::draw_legend(root, &frame, legend_w, &ink)?;
    if let Some(note) = &fig.note {
        draw_note(root, &frame, note)?;
    }
    Ok(())
}

fn draw_titles<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.draw(&Text::new(
        fig.title.clone(),
        (14, 10),
        text_style(SIZE_TITLE, DARK),
    ))?;
    if !fig.subtitle.is_empty() {
        root.draw(&Text::new(
            fig.subtitle.clone(),
            (14, 36),
            text_style(SIZE_SUBTITLE, Rgb(70, 70, 70)),
        ))?;
    }
    Ok(())
}

/// The chart with the x and left y axes, their ticks, labels and grid; `margin_right` leaves
/// room for a right-hand axis and an outside legend.
fn draw_axes<'a, DB: DrawingBackend>(
    body: &'a DrawingArea<DB, Shift>,
    fig: &Figure,
    margin_right: i32,
) -> DrawResult<Chart<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let (xr, yr) = (fig.x.disp_range(), fig.y.disp_range());
    let xt = ticks(&fig.x);
    let yt = ticks(&fig.y);
    let mut chart = ChartBuilder::on(body)
        .margin_left(10)
        .margin_right(margin_right)
        .margin_bottom(8)
        .margin_top(6)
        .x_label_area_size(52)
        .y_label_area_size(84)
        .build_cartesian_2d(
            TickAxis {
                lo: xr.0,
                hi: xr.1,
                ticks: xt.iter().map(|t| t.0).collect(),
            },
            TickAxis {
                lo: yr.0,
                hi: yr.1,
                ticks: yt.iter().map(|t| t.0).collect(),
            },
        )?;
    // plotters asks for the label of each key point; ours are the ticks' own labels.
    let label_of = |ticks: &[(f64, String)], v: f64| -> String {
        ticks
            .iter()
            .min_by(|a, b| (a.0 - v).abs().total_cmp(&(b.0 - v).abs()))
            .map(|t| t.1.clone())
            .unwrap_or_default()
    };
    let xf = |v: &f64| label_of(&xt, *v);
    let yf = |v: &f64| label_of(&yt, *v);
    chart
        .configure_mesh()
        .bold_line_style(Rgb(225, 225, 225).color())
        .light_line_style(TRANSPARENT)
        .axis_style(Rgb(90, 90, 90).color())
        .x_desc(fig.x.label.clone())
        .y_desc(fig.y.label.clone())
        .x_label_formatter(&xf)
        .y_label_formatter(&yf)
        .label_style(text_style(SIZE_TICK, DARK))
        .axis_desc_style(text_style(SIZE_DESC, DARK))
        .draw()?;
    Ok(chart)
}

/// The right-hand axis of series marked `secondary`: its line, ticks and label.
fn draw_right_axis<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    a: &Axis,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (px, py) = (&frame.px, &frame.py);
    let x = px.end;
    root.draw(&PathElement::new(
        vec![(x, py.start), (x, py.end)],
        Rgb(90, 90, 90).color().stroke_width(1),
    ))?;
    for (v, label) in ticks(a) {
        let y = frame.to_px(frame.xr.1, frame.y2_on_y(a, v)).1;
        if y < py.start - 1 || y > py.end + 1 {
            continue;
        }
        root.draw(&PathElement::new(
            vec![(x, y), (x + 5, y)],
            Rgb(90, 90, 90).color(),
        ))?;
        root.draw(&Text::new(
            label,
            (x + 8, y),
            text_style(SIZE_TICK, DARK).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    let mid = (py.start + py.end) / 2;
    root.draw(&Text::new(
        a.label.clone(),
        (x + 58, mid),
        text_style(SIZE_DESC, DARK)
            .transform(FontTransform::Rotate90)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

/// The note in the middle of the plot, on a white box.
fn draw_note<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    note: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (px, py) = (&frame.px, &frame.py);
    let style = text_style(SIZE_DESC, Rgb(150, 40, 40)).pos(Pos::new(HPos::Center, VPos::Center));
    let (cx, cy) = ((px.start + px.end) / 2, (py.start + py.end) / 2);
    let (tw, th) = root.estimate_text_size(note, &style)?;
    let (tw, th) = (tw as i32, th as i32);
    root.draw(&Rectangle::new(
        [
            (cx - tw / 2 - 8, cy - th / 2 - 6),
            (cx + tw / 2 + 8, cy + th / 2 + 6),
        ],
        WHITE.mix(0.9).filled(),
    ))?;
    root.draw(&Text::new(note.to_string(), (cx, cy), style))?;
    Ok(())
}

/// Draw a figure as SVG (UTF-8 bytes) or PNG.
pub(super) fn render(fig: &Figure, format: ImageFormat) -> Result<Vec<u8>> {
    register_font();
    let err = |e: Box<dyn std::error::Error>| Error::encode(format!("plot '{}'", fig.title), e);
    match format {
        ImageFormat::Svg => {
            let mut s = String::new();
            {
                let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
                draw_figure(&root, fig).map_err(err)?;
                root.present().map_err(|e| err(Box::new(e)))?;
            }
            Ok(svg::compact_svg(&s).into_bytes())
        }
        ImageFormat::Png => {
            let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
            {
                let root = png::PngBackend(BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)))
                    .into_drawing_area();
                draw_figure(&root, fig).map_err(err)?;
                root.present().map_err(|e| err(Box::new(e)))?;
            }
            png::encode_png(&buf, WIDTH, HEIGHT)
        }
    }
}
