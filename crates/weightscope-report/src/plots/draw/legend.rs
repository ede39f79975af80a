//! The legend: one row per labelled series (its key and label) in a box, in a corner of the
//! plot or in a column right of it; `Auto` picks the corner that hides the least data.

use super::series::{dashed_segment, draw_marker};
use super::{text_metrics, text_style, DrawResult, Frame, Ink, SIZE_LEGEND};
use crate::plots::figure::{Figure, LegendPos, Rgb, Series, DARK};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Height of one legend row, in pixels.
const ROW_HEIGHT: i32 = 21;

/// Width of the legend column right of the plot ([`LegendPos::Outside`]), 0 for a legend
/// inside the plot: room for the longest label, within bounds.
pub(super) fn outside_width(fig: &Figure) -> i32 {
    if fig.legend == LegendPos::Outside {
        let tw = fig
            .series
            .iter()
            .map(|s| text_metrics(s.label(), SIZE_LEGEND as f64).0.ceil() as i32)
            .max()
            .unwrap_or(0);
        (tw + 56).clamp(150, 330)
    } else {
        0
    }
}

/// The legend of the labelled series, if any; `legend_w` is [`outside_width`], `ink` where
/// the series were drawn.
pub(super) fn draw_legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    frame: &Frame,
    legend_w: i32,
    ink: &[Ink],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let fig = frame.fig;
    let (px, py) = (&frame.px, &frame.py);
    let entries: Vec<&Series> = fig
        .series
        .iter()
        .filter(|s| !s.label().is_empty())
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let style = text_style(SIZE_LEGEND, DARK);
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
    let box_h = ROW_HEIGHT * entries.len() as i32 + 8;
    let (w, _) = root.dim_in_pixel();
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
        let cy = by + 4 + ROW_HEIGHT * k as i32 + ROW_HEIGHT / 2;
        let sx = bx + 8;
        draw_key(root, s, sx, cy)?;
        root.draw(&Text::new(
            s.label().to_string(),
            (sx + 28, cy),
            style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// The key of a legend row: what the series looks like, left of its label at (`sx`, `cy`).
fn draw_key<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    s: &Series,
    sx: i32,
    cy: i32,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
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
    Ok(())
}
