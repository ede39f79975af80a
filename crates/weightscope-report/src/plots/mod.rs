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
//!
//! The code: the public kinds and [`write_plots`] here; the figure model in `figure`, ticks
//! and number formatting in `ticks`, binning and thinning in `data`; the layer figures in
//! `layer` (one file per family), the model figures in `model`, the `track` figures in
//! `track`; drawing (SVG and PNG) in `draw`.

mod data;
mod draw;
mod figure;
mod layer;
mod model;
mod ticks;
mod track;

pub use figure::{phase_color, Axis, Figure, LegendPos, Marker, Rgb, Series};
pub use layer::layer_figure;
pub use model::model_figure;
pub use ticks::fmt_sig;
pub use track::{
    track_figure, track_figures, track_summary_figure, write_track_plots, TrackMetric,
    MAX_TRACK_LAYERS,
};

use crate::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use weightscope::LayerResult;
use weightscope::Report;

/// Width and height of every plot, in pixels.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 480;
/// Most histogram bins in a plot.
pub const MAX_BINS: usize = 100;
/// Most points of a curve (scree, CCDF, xmin scan) in a plot.
pub const MAX_POINTS: usize = 600;

/// Draw a figure as SVG (UTF-8 bytes) or PNG.
pub fn render(fig: &Figure, format: ImageFormat) -> Result<Vec<u8>> {
    draw::render(fig, format)
}

/// Image format of a plot file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ImageFormat {
    /// SVG, vector graphics.
    Svg,
    /// PNG, a bitmap.
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
            LayerPlot::EsdZoom => row.esd.is_some() && layer::zoom_edge(row).is_some(),
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
