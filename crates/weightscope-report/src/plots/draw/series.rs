//! Drawing each kind of [`Series`] in pixel space, recording where it put ink (so the
//! legend can avoid it); markers and dashes, also used by the legend.

use super::geometry::{clip_polyline, simplify};
use super::{DrawResult, Frame, Ink};
use crate::plots::figure::{Marker, Rgb, Series};
use plotters::coord::Shift;
use plotters::prelude::*;

/// Draw one series and record its ink; a legend-only [`Series::Key`] draws nothing.
pub(super) fn draw_series<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    s: &Series,
    ink: &mut Vec<Ink>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    match s {
        Series::Hist { bins, color, .. } => draw_hist(root, frame, bins, *color, ink),
        Series::Line {
            points,
            color,
            width,
            dashed,
            secondary,
            ..
        } => {
            let style = color.color().stroke_width(*width);
            draw_line(root, frame, points, *secondary, style, *dashed, ink)
        }
        Series::VLine { x, color, .. } => draw_vline(root, frame, *x, *color, ink),
        Series::HLine { y, color, .. } => draw_hline(root, frame, *y, *color, ink),
        Series::Points {
            points,
            color,
            marker,
            secondary,
            ..
        } => draw_points(root, frame, points, *secondary, *marker, *color, ink),
        Series::Rug { xs, color, .. } => draw_rug(root, frame, xs, *color, ink),
        Series::Key { .. } => Ok(()),
    }
}

/// A histogram as one filled outline over the bins, from the bottom of the plot.
fn draw_hist<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    bins: &[(f64, f64, f64)],
    color: Rgb,
    ink: &mut Vec<Ink>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (fig, xr, yr) = (frame.fig, frame.xr, frame.yr);
    let mut poly: Vec<(i32, i32)> = Vec::new();
    for &(l, r, h) in bins {
        let (Some(l), Some(r)) = (fig.x.disp(l), fig.x.disp(r)) else {
            continue;
        };
        let (l, r) = (l.clamp(xr.0, xr.1), r.clamp(xr.0, xr.1));
        let hy = fig.y.disp(h).unwrap_or(yr.0).clamp(yr.0, yr.1);
        if poly.is_empty() {
            poly.push(frame.to_px(l, yr.0));
        }
        let (a, b) = (frame.to_px(l, hy), frame.to_px(r, hy));
        ink.push((a.0, a.1, b.0, frame.to_px(l, yr.0).1));
        poly.push(a);
        poly.push(b);
    }
    if let Some(&(lx, _)) = poly.last() {
        let base = frame.to_px(xr.0, yr.0).1;
        poly.push((lx, base));
        poly.dedup();
        root.draw(&Polygon::new(
            poly.clone(),
            color.color().mix(0.45).filled(),
        ))?;
        root.draw(&PathElement::new(poly, color.color().stroke_width(1)))?;
    }
    Ok(())
}

/// A curve, clipped to the plot and simplified to what shows at pixel resolution.
fn draw_line<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    points: &[(f64, f64)],
    secondary: bool,
    style: ShapeStyle,
    dashed: bool,
    ink: &mut Vec<Ink>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let d: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|p| frame.disp(*p, secondary))
        .collect();
    for piece in clip_polyline(&d, frame.xr, frame.yr) {
        let mut px_pts: Vec<(i32, i32)> = piece.iter().map(|p| frame.to_px(p.0, p.1)).collect();
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
        if dashed {
            for w in px_pts.windows(2) {
                dashed_segment(root, w[0], w[1], style)?;
            }
        } else if px_pts.len() > 1 {
            root.draw(&PathElement::new(px_pts, style))?;
        }
    }
    Ok(())
}

fn draw_vline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    x: f64,
    color: Rgb,
    ink: &mut Vec<Ink>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (yr, py) = (frame.yr, &frame.py);
    if let Some(dx) = frame.fig.x.disp(x).filter(|d| frame.in_x(*d)) {
        let p = frame.to_px(dx, yr.1);
        ink.push((p.0 - 3, py.start, p.0 + 3, py.end));
        dashed_segment(
            root,
            frame.to_px(dx, yr.1),
            frame.to_px(dx, yr.0),
            color.color().stroke_width(2),
        )?;
    }
    Ok(())
}

fn draw_hline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    y: f64,
    color: Rgb,
    ink: &mut Vec<Ink>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (xr, px) = (frame.xr, &frame.px);
    if let Some(dy) = frame.fig.y.disp(y).filter(|d| frame.in_y(*d)) {
        let p = frame.to_px(xr.0, dy);
        ink.push((px.start, p.1 - 3, px.end, p.1 + 3));
        dashed_segment(
            root,
            frame.to_px(xr.0, dy),
            frame.to_px(xr.1, dy),
            color.color().stroke_width(2),
        )?;
    }
    Ok(())
}

fn draw_points<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    points: &[(f64, f64)],
    secondary: bool,
    marker: Marker,
    color: Rgb,
    ink: &mut Vec<Ink>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let mut seen: Vec<(i32, i32)> = Vec::new();
    for p in points {
        if let Some(d) = frame
            .disp(*p, secondary)
            .filter(|d| frame.in_x(d.0) && frame.in_y(d.1))
        {
            seen.push(frame.to_px(d.0, d.1));
        }
    }
    // Markers on the same pixel are drawn once.
    seen.dedup();
    for p in seen {
        ink.push((p.0 - 5, p.1 - 5, p.0 + 5, p.1 + 5));
        draw_marker(root, p, marker, color, 4)?;
    }
    Ok(())
}

/// Short ticks along the bottom axis, one per pixel column.
fn draw_rug<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    xs: &[f64],
    color: Rgb,
    ink: &mut Vec<Ink>,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (xr, yr) = (frame.xr, frame.yr);
    let mut seen: Vec<i32> = xs
        .iter()
        .filter_map(|x| frame.fig.x.disp(*x).filter(|d| frame.in_x(*d)))
        .map(|d| frame.to_px(d, yr.0).0)
        .collect();
    seen.sort_unstable();
    seen.dedup();
    let base = frame.to_px(xr.0, yr.0).1;
    for x in seen {
        ink.push((x - 2, base - 14, x + 2, base));
        root.draw(&PathElement::new(
            vec![(x, base - 1), (x, base - 14)],
            color.color().stroke_width(2),
        ))?;
    }
    Ok(())
}

pub(super) fn draw_marker<DB: DrawingBackend>(
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

pub(super) fn dashed_segment<DB: DrawingBackend>(
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
