//! One share of a sharded run and the join of all shares, for the Python package's Ray
//! executor (`weightscope.ray`): each task runs [`analyze_share`] in its worker and returns
//! the part's JSON (the bytes of `weightscope analyze --shard I/N --part FILE`); the driver
//! joins them with [`merge_parts`] into the dict of `analyze_path`, the same rows and the same
//! CSV/JSON bytes as a single run. The split and the checks are the library's
//! ([`weightscope::shard`]), shared with the command line.

use crate::{options, report_to_dict, run_report, to_py_err, OptionError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::path::{Path, PathBuf};
use weightscope::formats::TensorSource;
use weightscope::shard::{self, Part, Shard, Share};
use weightscope::Options;

/// Open a checkpoint (a path or a hub id of the local cache) and plan its layers.
fn open(
    py: Python<'_>,
    path: &Path,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<(PathBuf, Box<dyn TensorSource>, Options)> {
    let opts = options::from_dict(options)?;
    let (located, src) = py
        .detach(|| {
            let p = weightscope::formats::hub::locate(path)?;
            let src = weightscope::formats::open(&p)?;
            Ok::<_, weightscope::formats::Error>((p, src))
        })
        .map_err(|e| to_py_err(e.into()))?;
    Ok((located, src, opts))
}

/// The `layers` option as given (kept in the part: it changes the plan).
fn layers_filter(options: Option<&Bound<'_, PyDict>>) -> PyResult<Option<String>> {
    match options.map(|o| o.get_item("layers")).transpose()?.flatten() {
        Some(v) if !v.is_none() => Ok(Some(v.extract()?)),
        _ => Ok(None),
    }
}

fn shard_of(index: usize, count: usize) -> PyResult<Shard> {
    Shard::new(index, count).map_err(to_py_err)
}

/// How `count` shares split the layers of a checkpoint: for each share, (layers, estimated
/// flops); the driver's progress measure and a check that the checkpoint opens.
#[pyfunction]
#[pyo3(signature = (path, count, options=None))]
pub fn share_plan(
    py: Python<'_>,
    path: PathBuf,
    count: usize,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<Vec<(usize, f64)>> {
    shard_of(0, count)?;
    let (_, src, opts) = open(py, &path, options)?;
    let plans = weightscope::analyze::plan(src.as_ref(), &opts);
    if opts.filter.is_some() && plans.is_empty() {
        return Err(OptionError::new_err(format!(
            "option layers matches no tensor of {} (see the `skipped` list with no filter)",
            path.display()
        )));
    }
    Ok((0..count)
        .map(|i| {
            let s = Share::new(&plans, Shard { index: i, count });
            (s.mine.len(), s.flops)
        })
        .collect())
}

/// Analyse share `index` of `count` of a checkpoint; the part's JSON bytes. `progress` as for
/// `analyze_path`, over this share's flops; `source` the report's source (default: `path`),
/// so that a worker given an absolute path reports the path as the user gave it.
#[pyfunction]
#[pyo3(signature = (path, index, count, options=None, progress=None, source=None))]
pub fn analyze_share<'py>(
    py: Python<'py>,
    path: PathBuf,
    index: usize,
    count: usize,
    options: Option<&Bound<'py, PyDict>>,
    progress: Option<Py<PyAny>>,
    source: Option<String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let shard = shard_of(index, count)?;
    let filter = layers_filter(options)?;
    let (located, src, opts) = open(py, &path, options)?;
    let plans = weightscope::analyze::plan(src.as_ref(), &opts);
    let share = Share::new(&plans, shard);
    let identity = py
        .detach(|| weightscope::formats::identity(&located, &src.files()))
        .map_err(|e| to_py_err(e.into()))?;
    let label = source.unwrap_or_else(|| path.display().to_string());
    let only = Some(share.mine.clone());
    let report = run_report(py, src.as_ref(), None, &label, &opts, progress, only)?;
    let json = Part::new(&share, report, identity, filter)
        .and_then(|p| p.to_json())
        .map_err(to_py_err)?;
    Ok(PyBytes::new(py, &json))
}

/// Join the parts of every share (JSON bytes, each with a label naming it in errors) into the
/// dict of `analyze_path`.
#[pyfunction]
#[pyo3(signature = (parts, labels, want_json=false))]
pub fn merge_parts<'py>(
    py: Python<'py>,
    parts: Vec<Bound<'py, PyBytes>>,
    labels: Vec<String>,
    want_json: bool,
) -> PyResult<Bound<'py, PyDict>> {
    if parts.len() != labels.len() {
        return Err(OptionError::new_err(format!(
            "{} parts but {} labels",
            parts.len(),
            labels.len()
        )));
    }
    let parts: Vec<Vec<u8>> = parts.iter().map(|b| b.as_bytes().to_vec()).collect();
    let report = py
        .detach(|| {
            let parsed = parts
                .iter()
                .zip(&labels)
                .map(|(b, l)| Ok((l.clone(), Part::from_json(b, l)?)))
                .collect::<weightscope::Result<Vec<_>>>()?;
            shard::merge(parsed)
        })
        .map_err(to_py_err)?;
    report_to_dict(py, report, want_json)
}
