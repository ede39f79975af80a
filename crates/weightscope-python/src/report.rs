//! `NativeReport`: the Rust [`Report`] of one analysis kept alive for Python, so that
//! `weightscope.Report` can hand out a layer's eigenvalues, draw its plots and write the HTML
//! report with the same code as the command line (`weightscope-report`), without analysing
//! again.

use crate::Error;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use weightscope::Report;
use weightscope_report::plots::{self, ImageFormat, LayerPlot, ModelPlot};

#[pyclass(frozen, module = "weightscope._native")]
pub struct NativeReport {
    pub(crate) report: Report,
}

fn report_err(e: weightscope_report::Error) -> PyErr {
    Error::new_err(e.to_string())
}

fn image_format(name: &str) -> PyResult<ImageFormat> {
    match name {
        "svg" => Ok(ImageFormat::Svg),
        "png" => Ok(ImageFormat::Png),
        _ => Err(Error::new_err(format!(
            "image format {name:?}: expected \"svg\" or \"png\""
        ))),
    }
}

fn row(report: &Report, index: usize) -> PyResult<&weightscope::LayerResult> {
    report.layers.get(index).ok_or_else(|| {
        Error::new_err(format!(
            "row {index} out of range: the report has {} rows",
            report.layers.len()
        ))
    })
}

#[pymethods]
impl NativeReport {
    /// The eigenvalues of row `index` (ascending), or None when the row has no spectrum.
    fn esd(&self, index: usize) -> PyResult<Option<Vec<f64>>> {
        Ok(row(&self.report, index)?.esd.clone())
    }

    /// The first shuffled-W eigenvalues of row `index` (with `randomize`), or None.
    fn rand_esd(&self, index: usize) -> PyResult<Option<Vec<f64>>> {
        Ok(row(&self.report, index)?.rand_esd.clone())
    }

    /// The names of the layer plots that exist for row `index`, in the CLI's order.
    fn layer_plot_kinds(&self, index: usize) -> PyResult<Vec<&'static str>> {
        let r = row(&self.report, index)?;
        Ok(LayerPlot::ALL
            .into_iter()
            .filter(|k| k.available(r))
            .map(|k| k.file_stem())
            .collect())
    }

    /// Plot `kind` of row `index` as SVG or PNG bytes.
    fn layer_plot<'py>(
        &self,
        py: Python<'py>,
        index: usize,
        kind: &str,
        format: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let r = row(&self.report, index)?;
        let all = LayerPlot::ALL;
        let k = all.iter().find(|k| k.file_stem() == kind).ok_or_else(|| {
            let names: Vec<_> = all.iter().map(|k| k.file_stem()).collect();
            Error::new_err(format!(
                "layer plot {kind:?}: expected one of {}",
                names.join(", ")
            ))
        })?;
        if !k.available(r) {
            return Err(Error::new_err(format!(
                "layer plot {kind:?} is not available for {} (status {}){}",
                r.longname,
                r.status.as_str(),
                match k {
                    LayerPlot::Randomized => ": it needs randomize=True",
                    LayerPlot::EsdZoom => ": λmax is not far enough past λ⁺ to zoom",
                    _ => ": the layer has no spectrum",
                }
            )));
        }
        let f = image_format(format)?;
        let bytes = py
            .detach(|| plots::layer_plot(&self.report, index, *k, f))
            .map_err(report_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Model plot `kind` (α, α̂, stable rank, … against depth; the α histogram) as bytes.
    fn model_plot<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        format: &str,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let all = ModelPlot::ALL;
        let k = all.iter().find(|k| k.file_stem() == kind).ok_or_else(|| {
            let names: Vec<_> = all.iter().map(|k| k.file_stem()).collect();
            Error::new_err(format!(
                "model plot {kind:?}: expected one of {}",
                names.join(", ")
            ))
        })?;
        let f = image_format(format)?;
        let bytes = py
            .detach(|| plots::model_plot(&self.report, *k, f))
            .map_err(report_err)?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// The self-contained HTML report (the CLI's `--html`).
    fn html(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| weightscope_report::html::report_html(&self.report))
            .map_err(report_err)
    }

    /// The report as the CLI's JSON (`--json`).
    fn json(&self) -> PyResult<String> {
        let bytes = weightscope_report::to_json(&self.report).map_err(report_err)?;
        String::from_utf8(bytes).map_err(|e| Error::new_err(e.to_string()))
    }

    /// The report as the CLI's CSV (`--csv`).
    fn csv(&self) -> PyResult<String> {
        let bytes = weightscope_report::to_csv(&self.report).map_err(report_err)?;
        String::from_utf8(bytes).map_err(|e| Error::new_err(e.to_string()))
    }
}

/// The plot names, layer plots then model plots, with captions: for help texts and errors.
#[pyfunction]
pub fn plot_kinds() -> Vec<(&'static str, &'static str, &'static str)> {
    let layer = LayerPlot::ALL
        .into_iter()
        .map(|k| ("layer", k.file_stem(), k.caption()));
    let model = ModelPlot::ALL
        .into_iter()
        .map(|k| ("model", k.file_stem(), k.caption()));
    layer.chain(model).collect()
}
