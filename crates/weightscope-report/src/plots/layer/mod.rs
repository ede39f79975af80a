//! The figures of one layer ([`LayerPlot`]): [`layer_figure`] picks the builder, and the
//! titles and subtitles they share are made here. Each family has its file: the ESD on
//! linear axes with the MP fit (`esd`), the power-law views (`power_law`), singular values
//! and scree (`spectrum`), and the shuffled-W ESD (`randomized`).

mod esd;
mod power_law;
mod randomized;
mod spectrum;

use super::draw::{text_metrics, SIZE_TITLE};
use super::figure::{fit_name, Figure};
use super::ticks::fmt_sig;
use super::{LayerPlot, WIDTH};
use esd::esd_linear;
use power_law::{ccdf, esd_loglog, xmin_scan};
use randomized::randomized;
use spectrum::{scree, singular_values};
use weightscope::{LayerResult, Report, Status};

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

/// Right edge of the zoomed ESD: 3λ⁺, when λmax lies beyond 4λ⁺ (else the full plot
/// already shows the bulk).
pub(super) fn zoom_edge(row: &LayerResult) -> Option<f64> {
    let mp = row.mp.as_ref()?;
    let lmax = row.lambda_max?;
    (mp.bulk_max > 0.0 && lmax > 4.0 * mp.bulk_max).then_some(3.0 * mp.bulk_max)
}

/// Whether a linear axis should start at 0: when the values start near it.
fn from_zero(lo: f64, hi: f64) -> bool {
    lo >= 0.0 && lo <= 0.3 * hi
}

/// "n eigenvalues", in the singular for one.
fn eigenvalues(n: usize) -> String {
    if n == 1 {
        "1 eigenvalue".into()
    } else {
        format!("{n} eigenvalues")
    }
}

/// The x-axis label of eigenvalues: of which matrix, normalised or not.
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
