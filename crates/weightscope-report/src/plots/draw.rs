//! Drawing a [`Figure`] with plotters: axes with our own ticks, series in pixel space (so
//! curves can be clipped and simplified), a legend placed where it hides the least data, and
//! the two outputs: SVG (made compact) and PNG (text drawn here, see [`PngBackend`]).

use super::figure::{Figure, LegendPos, Marker, Rgb, Series, DARK};
use super::ticks::ticks;
use super::{ImageFormat, HEIGHT, WIDTH};
use crate::{Error, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::BackendCoord;

const FONT: &str = "sans-serif";
// Text sizes (plotters units; SVG font-size is size/1.24 px). Large enough to read when a
// plot is shown at 600 px wide in the HTML report.
pub(super) const SIZE_TITLE: u32 = 20;
const SIZE_SUBTITLE: u32 = 16;
const SIZE_TICK: u32 = 15;
const SIZE_DESC: u32 = 17;
const SIZE_LEGEND: u32 = 15;
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Register the bundled font with plotters (once per process).
fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The bundled file is a valid TrueType font; a failure would show as missing text.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS);
    });
}

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

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

/// Liang–Barsky clipping of a polyline to a rectangle, in display units: the visible pieces.
fn clip_polyline(pts: &[(f64, f64)], x: (f64, f64), y: (f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let clip = |p: (f64, f64), q: (f64, f64)| -> Option<((f64, f64), (f64, f64))> {
        let (dx, dy) = (q.0 - p.0, q.1 - p.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (pp, qq) in [
            (-dx, p.0 - x.0),
            (dx, x.1 - p.0),
            (-dy, p.1 - y.0),
            (dy, y.1 - p.1),
        ] {
            if pp == 0.0 {
                if qq < 0.0 {
                    return None;
                }
            } else {
                let r = qq / pp;
                if pp < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        (t0 <= t1).then_some((
            (p.0 + t0 * dx, p.1 + t0 * dy),
            (p.0 + t1 * dx, p.1 + t1 * dy),
        ))
    };
    if pts.len() == 1 {
        let p = pts[0];
        if p.0 >= x.0 && p.0 <= x.1 && p.1 >= y.0 && p.1 <= y.1 {
            out.push(vec![p]);
        }
        return out;
    }
    for w in pts.windows(2) {
        match clip(w[0], w[1]) {
            Some((a, b)) => {
                if cur.last() != Some(&a) {
                    if cur.len() > 1 {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    cur.push(a);
                }
                cur.push(b);
            }
            None => {
                if cur.len() > 1 {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    if cur.len() > 1 {
        out.push(cur);
    }
    out
}

/// Ramer–Douglas–Peucker: drop points within `tol` pixels of the line through their
/// neighbours that are kept (the drawn curve moves by less than a pixel).
fn simplify(p: &[(i32, i32)], tol: f64) -> Vec<(i32, i32)> {
    if p.len() < 3 {
        return p.to_vec();
    }
    let mut keep = vec![false; p.len()];
    keep[0] = true;
    keep[p.len() - 1] = true;
    let mut stack = vec![(0usize, p.len() - 1)];
    while let Some((a, b)) = stack.pop() {
        if b <= a + 1 {
            continue;
        }
        let (ax, ay) = (p[a].0 as f64, p[a].1 as f64);
        let (dx, dy) = (p[b].0 as f64 - ax, p[b].1 as f64 - ay);
        let len = (dx * dx + dy * dy).sqrt();
        let (mut far, mut dmax) = (a, -1.0f64);
        for (i, q) in p.iter().enumerate().take(b).skip(a + 1) {
            let (qx, qy) = (q.0 as f64 - ax, q.1 as f64 - ay);
            let d = if len == 0.0 {
                (qx * qx + qy * qy).sqrt()
            } else {
                (qx * dy - qy * dx).abs() / len
            };
            if d > dmax {
                dmax = d;
                far = i;
            }
        }
        if dmax > tol {
            keep[far] = true;
            stack.push((a, far));
            stack.push((far, b));
        }
    }
    p.iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(q, _)| *q)
        .collect()
}

fn draw_marker<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    p: (i32, i32),
    marker: Marker,
    color: Rgb,
    size: i32,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let c = color.color();
    match marker {
        Marker::Circle => root.draw(&Circle::new(p, size, c.filled()))?,
        Marker::Triangle => root.draw(&TriangleMarker::new(p, size + 2, c.filled()))?,
        Marker::Square => root.draw(&Rectangle::new(
            [(p.0 - size, p.1 - size), (p.0 + size, p.1 + size)],
            c.filled(),
        ))?,
        Marker::Cross => root.draw(&Cross::new(p, size, c.stroke_width(2)))?,
    }
    Ok(())
}

fn dashed_segment<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    a: (i32, i32),
    b: (i32, i32),
    style: ShapeStyle,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (dx, dy) = ((b.0 - a.0) as f64, (b.1 - a.1) as f64);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 1.0 {
        return Ok(());
    }
    let (dash, gap) = (7.0, 5.0);
    let mut t = 0.0;
    let mut segs = Vec::new();
    while t < len {
        let t1 = (t + dash).min(len);
        let p = |s: f64| {
            (
                a.0 + (dx * s / len).round() as i32,
                a.1 + (dy * s / len).round() as i32,
            )
        };
        segs.push(PathElement::new(vec![p(t), p(t1)], style));
        t += dash + gap;
    }
    for s in segs {
        root.draw(&s)?;
    }
    Ok(())
}

fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &Figure) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (w, _) = root.dim_in_pixel();
    root.draw(&Text::new(fig.title.clone(), (14, 10), {
        let mut t = TextStyle::from((FONT, SIZE_TITLE).into_font());
        t.color = DARK.color().to_backend_color();
        t
    }))?;
    if !fig.subtitle.is_empty() {
        root.draw(&Text::new(
            fig.subtitle.clone(),
            (14, 36),
            text_style(SIZE_SUBTITLE, Rgb(70, 70, 70)),
        ))?;
    }
    let top = 64;
    let legend_w: i32 = if fig.legend == LegendPos::Outside {
        let tw = fig
            .series
            .iter()
            .map(|s| text_metrics(s.label(), SIZE_LEGEND as f64).0.ceil() as i32)
            .max()
            .unwrap_or(0);
        (tw + 56).clamp(150, 330)
    } else {
        0
    };
    let right_axis: i32 = if fig.y2.is_some() { 70 } else { 0 };
    let body = root.margin(top, 0, 0, 0);
    let (xr, yr) = (fig.x.disp_range(), fig.y.disp_range());
    let xt = ticks(&fig.x);
    let yt = ticks(&fig.y);
    let mut chart = ChartBuilder::on(&body)
        .margin_left(10)
        .margin_right(16 + legend_w + right_axis)
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

    let (px, py) = chart.plotting_area().get_pixel_range();
    let to_px = |x: f64, y: f64| chart.backend_coord(&(x, y));
    // Secondary axis: an affine map of its range onto the primary display range.
    let y2map = fig.y2.as_ref().map(|a| {
        let (lo, hi) = a.disp_range();
        move |v: f64| yr.0 + (v - lo) / (hi - lo) * (yr.1 - yr.0)
    });
    let disp = |p: (f64, f64), secondary: bool| -> Option<(f64, f64)> {
        let x = fig.x.disp(p.0)?;
        let y = if secondary {
            let a = fig.y2.as_ref()?;
            let v = a.disp(p.1)?;
            y2map.as_ref()?(v)
        } else {
            fig.y.disp(p.1)?
        };
        Some((x, y))
    };
    let in_x = |x: f64| x >= xr.0.min(xr.1) - 1e-12 && x <= xr.1.max(xr.0) + 1e-12;
    let in_y = |y: f64| y >= yr.0 - 1e-12 && y <= yr.1 + 1e-12;

    // Where data is drawn (pixel rectangles), to keep the legend off it.
    let mut ink: Vec<(i32, i32, i32, i32)> = Vec::new();
    for s in &fig.series {
        match s {
            Series::Hist { bins, color, .. } => {
                let mut poly: Vec<(i32, i32)> = Vec::new();
                for &(l, r, h) in bins {
                    let (Some(l), Some(r)) = (fig.x.disp(l), fig.x.disp(r)) else {
                        continue;
                    };
                    let (l, r) = (l.clamp(xr.0, xr.1), r.clamp(xr.0, xr.1));
                    let hy = fig.y.disp(h).unwrap_or(yr.0).clamp(yr.0, yr.1);
                    if poly.is_empty() {
                        poly.push(to_px(l, yr.0));
                    }
                    let (a, b) = (to_px(l, hy), to_px(r, hy));
                    ink.push((a.0, a.1, b.0, to_px(l, yr.0).1));
                    poly.push(a);
                    poly.push(b);
                }
                if let Some(&(lx, _)) = poly.last() {
                    let base = to_px(xr.0, yr.0).1;
                    poly.push((lx, base));
                    poly.dedup();
                    root.draw(&Polygon::new(
                        poly.clone(),
                        color.color().mix(0.45).filled(),
                    ))?;
                    root.draw(&PathElement::new(poly, color.color().stroke_width(1)))?;
                }
            }
            Series::Line {
                points,
                color,
                width,
                dashed,
                secondary,
                ..
            } => {
                let d: Vec<(f64, f64)> =
                    points.iter().filter_map(|p| disp(*p, *secondary)).collect();
                for piece in clip_polyline(&d, xr, yr) {
                    let mut px_pts: Vec<(i32, i32)> =
                        piece.iter().map(|p| to_px(p.0, p.1)).collect();
                    px_pts.dedup();
                    let px_pts = simplify(&px_pts, 0.7);
                    for w in px_pts.windows(2) {
                        ink.push((
                            w[0].0.min(w[1].0) - 2,
                            w[0].1.min(w[1].1) - 2,
                            w[0].0.max(w[1].0) + 2,
                            w[0].1.max(w[1].1) + 2,
                        ));
                    }
                    let style = color.color().stroke_width(*width);
                    if *dashed {
                        for w in px_pts.windows(2) {
                            dashed_segment(root, w[0], w[1], style)?;
                        }
                    } else if px_pts.len() > 1 {
                        root.draw(&PathElement::new(px_pts, style))?;
                    }
                }
            }
            Series::VLine { x, color, .. } => {
                if let Some(dx) = fig.x.disp(*x).filter(|d| in_x(*d)) {
                    let p = to_px(dx, yr.1);
                    ink.push((p.0 - 3, py.start, p.0 + 3, py.end));
                    dashed_segment(
                        root,
                        to_px(dx, yr.1),
                        to_px(dx, yr.0),
                        color.color().stroke_width(2),
                    )?;
                }
            }
            Series::HLine { y, color, .. } => {
                if let Some(dy) = fig.y.disp(*y).filter(|d| in_y(*d)) {
                    let p = to_px(xr.0, dy);
                    ink.push((px.start, p.1 - 3, px.end, p.1 + 3));
                    dashed_segment(
                        root,
                        to_px(xr.0, dy),
                        to_px(xr.1, dy),
                        color.color().stroke_width(2),
                    )?;
                }
            }
            Series::Points {
                points,
                color,
                marker,
                secondary,
                ..
            } => {
                let mut seen: Vec<(i32, i32)> = Vec::new();
                for p in points {
                    if let Some(d) = disp(*p, *secondary).filter(|d| in_x(d.0) && in_y(d.1)) {
                        seen.push(to_px(d.0, d.1));
                    }
                }
                // Markers on the same pixel are drawn once.
                seen.dedup();
                for p in seen {
                    ink.push((p.0 - 5, p.1 - 5, p.0 + 5, p.1 + 5));
                    draw_marker(root, p, *marker, *color, 4)?;
                }
            }
            Series::Rug { xs, color, .. } => {
                let mut seen: Vec<i32> = xs
                    .iter()
                    .filter_map(|x| fig.x.disp(*x).filter(|d| in_x(*d)))
                    .map(|d| to_px(d, yr.0).0)
                    .collect();
                seen.sort_unstable();
                seen.dedup();
                let base = to_px(xr.0, yr.0).1;
                for x in seen {
                    ink.push((x - 2, base - 14, x + 2, base));
                    root.draw(&PathElement::new(
                        vec![(x, base - 1), (x, base - 14)],
                        color.color().stroke_width(2),
                    ))?;
                }
            }
            Series::Key { .. } => {}
        }
    }

    // Right-hand axis.
    if let (Some(a), Some(map)) = (&fig.y2, &y2map) {
        let x = px.end;
        root.draw(&PathElement::new(
            vec![(x, py.start), (x, py.end)],
            Rgb(90, 90, 90).color().stroke_width(1),
        ))?;
        for (v, label) in ticks(a) {
            let y = to_px(xr.1, map(v)).1;
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
    }

    // Legend.
    let entries: Vec<&Series> = fig
        .series
        .iter()
        .filter(|s| !s.label().is_empty())
        .collect();
    if !entries.is_empty() {
        let style = text_style(SIZE_LEGEND, DARK);
        let row_h = 21;
        let tw = entries
            .iter()
            .map(|s| text_metrics(s.label(), SIZE_LEGEND as f64).0.ceil() as i32)
            .max()
            .unwrap_or(0);
        let box_w = (tw + 40).min(if fig.legend == LegendPos::Outside {
            legend_w - 8
        } else {
            (px.end - px.start) - 20
        });
        let box_h = row_h * entries.len() as i32 + 8;
        let corner = |p: LegendPos| match p {
            LegendPos::UpperLeft => (px.start + 8, py.start + 8),
            LegendPos::LowerRight => (px.end - box_w - 8, py.end - box_h - 8),
            LegendPos::LowerLeft => (px.start + 8, py.end - box_h - 8),
            LegendPos::Outside => (w as i32 - legend_w - 6, py.start),
            LegendPos::UpperRight | LegendPos::Auto => (px.end - box_w - 8, py.start + 8),
        };
        let (bx, by) = if fig.legend == LegendPos::Auto {
            // The corner covering the least drawn area; ties go to the first in this order.
            let covered = |(x0, y0): (i32, i32)| -> i64 {
                let (x1, y1) = (x0 + box_w, y0 + box_h);
                ink.iter()
                    .map(|&(a, b, c, d)| {
                        let (a, c) = (a.min(c), a.max(c));
                        let (b, d) = (b.min(d), b.max(d));
                        let w = (x1.min(c) - x0.max(a)).max(0) as i64;
                        let h = (y1.min(d) - y0.max(b)).max(0) as i64;
                        w * h
                    })
                    .sum()
            };
            [
                LegendPos::UpperRight,
                LegendPos::UpperLeft,
                LegendPos::LowerRight,
                LegendPos::LowerLeft,
            ]
            .into_iter()
            .map(corner)
            .min_by_key(|c| covered(*c))
            .unwrap_or((px.end - box_w - 8, py.start + 8))
        } else {
            corner(fig.legend)
        };
        root.draw(&Rectangle::new(
            [(bx, by), (bx + box_w, by + box_h)],
            WHITE.mix(0.88).filled(),
        ))?;
        root.draw(&Rectangle::new(
            [(bx, by), (bx + box_w, by + box_h)],
            Rgb(170, 170, 170).color().stroke_width(1),
        ))?;
        for (k, s) in entries.iter().enumerate() {
            let cy = by + 4 + row_h * k as i32 + row_h / 2;
            let sx = bx + 8;
            match s {
                Series::Hist { color, .. } => {
                    root.draw(&Rectangle::new(
                        [(sx, cy - 5), (sx + 20, cy + 5)],
                        color.color().mix(0.45).filled(),
                    ))?;
                    root.draw(&Rectangle::new(
                        [(sx, cy - 5), (sx + 20, cy + 5)],
                        color.color().stroke_width(1),
                    ))?;
                }
                Series::Line { color, width, .. } => {
                    root.draw(&PathElement::new(
                        vec![(sx, cy), (sx + 20, cy)],
                        color.color().stroke_width(*width),
                    ))?;
                }
                Series::VLine { color, .. } | Series::HLine { color, .. } => {
                    dashed_segment(root, (sx, cy), (sx + 21, cy), color.color().stroke_width(2))?;
                }
                Series::Points { color, marker, .. } | Series::Key { color, marker, .. } => {
                    if *color != Rgb(255, 255, 255) {
                        draw_marker(root, (sx + 10, cy), *marker, *color, 4)?;
                    }
                }
                Series::Rug { color, .. } => {
                    root.draw(&PathElement::new(
                        vec![(sx + 10, cy - 6), (sx + 10, cy + 6)],
                        color.color().stroke_width(2),
                    ))?;
                }
            }
            root.draw(&Text::new(
                s.label().to_string(),
                (sx + 28, cy),
                style.pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
        }
    }

    if let Some(note) = &fig.note {
        let style =
            text_style(SIZE_DESC, Rgb(150, 40, 40)).pos(Pos::new(HPos::Center, VPos::Center));
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
        root.draw(&Text::new(note.clone(), (cx, cy), style))?;
    }
    Ok(())
}

/// The bundled font, parsed once.
fn font() -> &'static ab_glyph::FontRef<'static> {
    static FONT_REF: std::sync::OnceLock<ab_glyph::FontRef<'static>> = std::sync::OnceLock::new();
    FONT_REF.get_or_init(|| {
        ab_glyph::FontRef::try_from_slice(DEJAVU_SANS).expect("the bundled font is valid TrueType")
    })
}

/// Glyph scale for a plotters text size: the em size SVG viewers use (plotters writes
/// `font-size = size / 1.24`), so PNG and SVG text have the same size.
fn px_scale(size: f64) -> ab_glyph::PxScale {
    use ab_glyph::Font;
    let f = font();
    let upem = f.units_per_em().unwrap_or(2048.0);
    ab_glyph::PxScale::from((size / 1.24) as f32 * f.height_unscaled() / upem)
}

/// Width, ascent and descent (pixels) of a line of text, with kerning.
pub(super) fn text_metrics(text: &str, size: f64) -> (f32, f32, f32) {
    use ab_glyph::{Font, ScaleFont};
    let sf = font().as_scaled(px_scale(size));
    let mut w = 0.0f32;
    let mut prev: Option<ab_glyph::GlyphId> = None;
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            w += sf.kern(p, id);
        }
        w += sf.h_advance(id);
        prev = Some(id);
    }
    (w, sf.ascent(), sf.descent())
}

/// The bitmap backend with its text drawn here: plotters 0.3.7's `ab_glyph` text drops each
/// glyph's side bearing and rounds every advance, which spaces letters unevenly. Glyphs are
/// placed at sub-pixel positions with kerning, on a common baseline; anchors and rotations
/// follow plotters' conventions.
struct PngBackend<'a>(BitMapBackend<'a>);

type PngError<'a> =
    plotters_backend::DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for PngBackend<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> std::result::Result<(), PngError<'a>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> std::result::Result<(), PngError<'a>> {
        self.0.present()
    }
    fn draw_pixel(
        &mut self,
        p: BackendCoord,
        c: plotters_backend::BackendColor,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_pixel(p, c)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        s: &S,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_line(a, b, s)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        s: &S,
        fill: bool,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_rect(a, b, s, fill)
    }
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        s: &S,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_path(path, s)
    }
    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        c: BackendCoord,
        r: u32,
        s: &S,
        fill: bool,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_circle(c, r, s, fill)
    }
    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        v: I,
        s: &S,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.fill_polygon(v, s)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        dim: (u32, u32),
        src: &[u8],
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.blit_bitmap(pos, dim, src)
    }

    fn estimate_text_size<T: plotters_backend::BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> std::result::Result<(u32, u32), PngError<'a>> {
        let (w, a, d) = text_metrics(text, style.size());
        Ok((w.ceil() as u32, (a - d).ceil() as u32))
    }

    fn draw_text<T: plotters_backend::BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> std::result::Result<(), PngError<'a>> {
        use ab_glyph::{Font, ScaleFont};
        use plotters_backend::text_anchor::{HPos as H, VPos as V};
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (width, ascent, descent) = text_metrics(text, style.size());
        let height = ascent - descent;
        let dx = match style.anchor().h_pos {
            H::Left => 0.0,
            H::Right => -width,
            H::Center => -width / 2.0,
        };
        let dy = match style.anchor().v_pos {
            V::Top => 0.0,
            V::Center => -height / 2.0,
            V::Bottom => -height,
        };
        let trans = style.transform();
        let sf = font().as_scaled(px_scale(style.size()));
        let (w, h) = self.0.get_size();
        let mut caret = dx;
        let mut prev: Option<ab_glyph::GlyphId> = None;
        for c in text.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                caret += sf.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(sf.scale(), ab_glyph::point(caret, dy + ascent));
            caret += sf.h_advance(id);
            let Some(outline) = font().outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|x, y, cov| {
                if cov > 0.0 {
                    pixels.push((b.min.x as i32 + x as i32, b.min.y as i32 + y as i32, cov));
                }
            });
            for (x, y, cov) in pixels {
                let (x, y) = trans.transform(x, y);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                    let mut c = color;
                    c.alpha *= f64::from(cov.min(1.0));
                    self.0.draw_pixel((x, y), c)?;
                }
            }
        }
        Ok(())
    }
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
            Ok(compact_svg(&s).into_bytes())
        }
        ImageFormat::Png => {
            let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
            {
                let root = PngBackend(BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)))
                    .into_drawing_area();
                draw_figure(&root, fig).map_err(err)?;
                root.present().map_err(|e| err(Box::new(e)))?;
            }
            encode_png(&buf, WIDTH, HEIGHT)
        }
    }
}

/// The value of attribute `name` in a tag, and the tag without it.
fn take_attr<'t>(tag: &'t str, name: &str) -> Option<(&'t str, String)> {
    let key = format!(" {name}=\"");
    let i = tag.find(&key)?;
    let start = i + key.len();
    let len = tag[start..].find('"')?;
    let rest = format!("{}{}", &tag[..i], &tag[start + len + 1..]);
    Some((&tag[start..start + len], rest))
}

/// Make plotters' SVG smaller without changing what it draws: consecutive strokes with the
/// same style (dashes, ticks, grid lines) become one `<path>`, consecutive equal markers one
/// `<path>` of arcs, default attributes go, font sizes are rounded, and text sits on one line.
fn compact_svg(s: &str) -> String {
    let mut out = String::with_capacity(s.len() / 2);
    // Pending merged path: (attributes, d).
    let mut pending: Option<(String, String)> = None;
    let flush = |out: &mut String, pending: &mut Option<(String, String)>| {
        if let Some((attrs, d)) = pending.take() {
            out.push_str(&format!("<path{attrs} d=\"{d}\"/>\n"));
        }
    };
    let clean = |t: &str| -> String {
        let mut t = t
            .replace(" opacity=\"1\"", "")
            .replace(" stroke-width=\"1\"", "");
        if let Some((v, rest)) = take_attr(&t, "font-size") {
            if let Ok(x) = v.parse::<f64>() {
                let r = (x * 100.0).round() / 100.0;
                t = rest.replacen("<text", &format!("<text font-size=\"{r}\""), 1);
            }
        }
        t
    };
    let mut lines = s.lines().peekable();
    while let Some(line) = lines.next() {
        let t = line.trim();
        // Strokes: polylines and lines.
        let stroke = if t.starts_with("<polyline ") && t.ends_with("/>") {
            take_attr(t, "points").map(|(pts, rest)| {
                let mut d = String::new();
                for (k, p) in pts.split_whitespace().enumerate() {
                    d.push(if k == 0 { 'M' } else { 'L' });
                    d.push_str(&p.replace(',', " "));
                }
                (
                    rest.trim_start_matches("<polyline")
                        .trim_end_matches("/>")
                        .to_string(),
                    d,
                )
            })
        } else if t.starts_with("<line ") && t.ends_with("/>") {
            (|| {
                let (x1, r) = take_attr(t, "x1")?;
                let (y1, r) = take_attr(&r, "y1")?;
                let (x2, r) = take_attr(&r, "x2")?;
                let (y2, r) = take_attr(&r, "y2")?;
                let attrs = r
                    .trim_start_matches("<line")
                    .trim_end_matches("/>")
                    .to_string();
                Some((
                    format!(" fill=\"none\"{attrs}"),
                    format!("M{x1} {y1}L{x2} {y2}"),
                ))
            })()
        } else if t.starts_with("<circle ") && t.ends_with("/>") {
            (|| {
                let (cx, r) = take_attr(t, "cx")?;
                let (cy, r) = take_attr(&r, "cy")?;
                let (rad, r) = take_attr(&r, "r")?;
                let (cx, cy, rad): (i64, i64, i64) =
                    (cx.parse().ok()?, cy.parse().ok()?, rad.parse().ok()?);
                let attrs = r
                    .trim_start_matches("<circle")
                    .trim_end_matches("/>")
                    .to_string();
                Some((
                    format!("{attrs} data-r=\"{rad}\""),
                    format!(
                        "M{} {cy}a{rad} {rad} 0 1 0 {} 0a{rad} {rad} 0 1 0 {} 0",
                        cx - rad,
                        2 * rad,
                        -2 * rad
                    ),
                ))
            })()
        } else {
            None
        };
        if let Some((attrs, d)) = stroke {
            let attrs = clean(&attrs);
            match &mut pending {
                Some((a, dd)) if *a == attrs => dd.push_str(&d),
                _ => {
                    flush(&mut out, &mut pending);
                    pending = Some((attrs, d));
                }
            }
            continue;
        }
        flush(&mut out, &mut pending);
        if t.starts_with("<text") && !t.ends_with("</text>") {
            // <text …>, its content, </text> on three lines.
            let content = lines.next().unwrap_or("");
            let close = lines.peek().map(|l| l.trim()) == Some("</text>");
            if close {
                lines.next();
            }
            out.push_str(&clean(t));
            out.push_str(content.trim());
            out.push_str(if close { "</text>\n" } else { "\n" });
            continue;
        }
        out.push_str(&clean(t));
        out.push('\n');
    }
    flush(&mut out, &mut pending);
    // data-r only kept markers of different radii apart.
    let mut res = String::with_capacity(out.len());
    for line in out.lines() {
        match take_attr(line, "data-r") {
            Some((_, rest)) => res.push_str(&rest),
            None => res.push_str(line),
        }
        res.push('\n');
    }
    res
}

fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let err = |e: png::EncodingError| Error::encode("PNG", e);
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(err)?;
        wr.write_image_data(rgb).map_err(err)?;
        wr.finish().map_err(err)?;
    }
    Ok(out)
}
