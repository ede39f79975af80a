//! `weightscope._native`: the small pyo3 module under the Python package `weightscope`.
//!
//! Two entry points return the same plain dict (the Python layer makes a DataFrame of it):
//! [`analyze_path`] for any checkpoint the command line reads, and [`analyze_tensors`] for
//! tensors held by Python (a torch module, a state dict, numpy arrays), read one at a time
//! through a `fetch(i)` callback. The analysis runs on a separate thread with the GIL
//! released; worker threads take the GIL only inside `fetch` and `progress`, and the calling
//! thread wakes every 50 ms to check for Ctrl-C. Columns come from the registry
//! ([`weightscope::columns::details_columns`]), so the dict's columns are the CLI CSV's.

mod act;
mod options;
mod report;
mod shard;
mod source;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use report::NativeReport;
use source::{Abort, Abortable, PySource};
use std::sync::Mutex;
use std::time::Duration;
use weightscope::columns::{details_columns, Kind, Value, COLUMNS};
use weightscope::formats::TensorSource;
use weightscope::summary::SUMMARY_METRICS;
use weightscope::{analyze_source, Hooks, LayerResult, Options, Report};

create_exception!(
    weightscope,
    Error,
    PyException,
    "Base class of weightscope's errors."
);
create_exception!(
    weightscope,
    ReadError,
    Error,
    "A checkpoint or tensor could not be read (the message names the file and the tensor)."
);
create_exception!(
    weightscope,
    OptionError,
    Error,
    "A bad option: an unknown name, a value of the wrong type, a --layers filter that matches nothing."
);

create_exception!(
    weightscope,
    ShardError,
    Error,
    "Parts of a sharded run that do not join into one report (another checkpoint, other options, a share missing or given twice)."
);

pub(crate) fn to_py_err(e: weightscope::Error) -> PyErr {
    match e {
        weightscope::Error::Read(weightscope::formats::Error::Usage(m)) => OptionError::new_err(m),
        weightscope::Error::Read(r) => ReadError::new_err(r.to_string()),
        weightscope::Error::Usage(m) => OptionError::new_err(m),
        weightscope::Error::Shard(m) => ShardError::new_err(m),
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Int => "int",
        Kind::Float => "float",
        Kind::Text => "text",
    }
}

fn value_to_py<'py>(py: Python<'py>, v: Value<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Int(Some(x)) => x.into_pyobject(py)?.into_any(),
        Value::Float(Some(x)) => x.into_pyobject(py)?.into_any(),
        Value::Int(None) | Value::Float(None) => py.None().into_bound(py),
        Value::Text(s) => s.into_pyobject(py)?.into_any(),
    })
}

fn opt_f64<'py>(py: Python<'py>, v: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
    value_to_py(py, Value::Float(v))
}

/// The report as the dict the Python layer reads.
pub(crate) fn report_to_dict<'py>(
    py: Python<'py>,
    report: Report,
    want_json: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let cols = details_columns(&report.layers);
    let d = PyDict::new(py);
    d.set_item("columns", cols.iter().map(|c| c.name).collect::<Vec<_>>())?;
    d.set_item(
        "kinds",
        cols.iter().map(|c| kind_name(c.kind)).collect::<Vec<_>>(),
    )?;
    let rows = PyList::empty(py);
    for r in &report.layers {
        let row = PyList::empty(py);
        for c in &cols {
            row.append(value_to_py(py, c.value(r))?)?;
        }
        rows.append(row)?;
    }
    d.set_item("rows", rows)?;

    let s = &report.summary;
    let sd = PyDict::new(py);
    sd.set_item("layers_analyzed", s.layers_analyzed)?;
    sd.set_item("layers_failed", s.layers_failed)?;
    sd.set_item("layers_error", s.layers_error)?;
    sd.set_item("layers_skipped", s.layers_skipped)?;
    for m in SUMMARY_METRICS {
        sd.set_item(m.name, opt_f64(py, (m.get)(s))?)?;
    }
    let phases = PyDict::new(py);
    for (k, v) in &s.phases {
        phases.set_item(k, v)?;
    }
    sd.set_item("phases", phases)?;
    d.set_item("summary", sd)?;

    let skipped = PyList::empty(py);
    for k in &report.skipped {
        let kd = PyDict::new(py);
        kd.set_item("layer_id", k.layer_id)?;
        kd.set_item("longname", &k.longname)?;
        kd.set_item("shape", k.shape.clone())?;
        kd.set_item("reason", &k.reason)?;
        skipped.append(kd)?;
    }
    d.set_item("skipped", skipped)?;
    d.set_item("source", &report.source)?;
    d.set_item("format", &report.format)?;
    d.set_item("files", report.files.clone())?;
    d.set_item("version", &report.weightscope)?;
    if want_json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Error::new_err(format!("cannot write the report as JSON: {e}")))?;
        d.set_item("json", text)?;
    } else {
        d.set_item("json", py.None())?;
    }
    d.set_item("native", Py::new(py, NativeReport { report })?)?;
    Ok(d)
}

/// Run the analysis of `src` with the GIL released, calling `progress` after each layer,
/// and checking for Ctrl-C on the calling thread.
fn run<'py>(
    py: Python<'py>,
    src: &dyn TensorSource,
    python: Option<&PySource>,
    label: &str,
    opts: &Options,
    progress: Option<Py<PyAny>>,
    want_json: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let report = run_report(py, src, python, label, opts, progress, None)?;
    let out = report_to_dict(py, report, want_json)?;
    // Bytes fetched for a remote checkpoint (headers and the analysed tensors' ranges).
    if let Some(n) = src.bytes_read() {
        out.set_item("bytes_read", n)?;
    }
    Ok(out)
}

/// [`run`] as a [`Report`]; with `only`, just those layers (one share of a sharded run: the
/// progress total is then the share's flops).
pub(crate) fn run_report(
    py: Python<'_>,
    src: &dyn TensorSource,
    python: Option<&PySource>,
    label: &str,
    opts: &Options,
    progress: Option<Py<PyAny>>,
    only: Option<std::collections::HashSet<(usize, Option<usize>)>>,
) -> PyResult<Report> {
    let abort = Abort::default();
    let src = Abortable {
        inner: src,
        python,
        abort: &abort,
    };
    let plans = weightscope::analyze::plan(&src, opts);
    if opts.filter.is_some() && plans.is_empty() {
        return Err(OptionError::new_err(format!(
            "option layers matches no tensor of {label} (see the `skipped` list with no filter)"
        )));
    }
    let total: f64 = plans
        .iter()
        .filter(|p| p.skip.is_none())
        .filter(|p| {
            only.as_ref()
                .is_none_or(|o| o.contains(&(p.layer_id, p.slice_id)))
        })
        .map(|p| p.flops())
        .sum();
    let done = Mutex::new(0.0f64);
    let on_layer = |r: &LayerResult, flops: f64| {
        let Some(cb) = &progress else { return };
        if abort.is_set() {
            return;
        }
        let so_far = {
            let mut d = done.lock().unwrap_or_else(|e| e.into_inner());
            *d += flops;
            *d
        };
        Python::attach(|py| {
            if let Err(e) = cb.call1(py, (so_far, total, r.longname.as_str())) {
                abort.fail(None, e);
            }
        });
    };
    let hooks = Hooks {
        on_layer: Some(&on_layer),
        only,
        ..Default::default()
    };
    let mut interrupted: Option<PyErr> = None;
    let result = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        let src = &src;
        let hooks = hooks;
        scope.spawn(move || {
            let r = analyze_source(src, label, opts, hooks);
            let _ = tx.send(r);
        });
        let mut rx = rx;
        loop {
            // Wait without the GIL, so that fetch and progress can take it.
            let (got, back) = py.detach(move || (rx.recv_timeout(Duration::from_millis(50)), rx));
            rx = back;
            match got {
                Ok(r) => break r,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if interrupted.is_none() {
                        if let Err(e) = py.check_signals() {
                            interrupted = Some(e);
                            abort.set();
                        }
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(weightscope::Error::Usage(
                        "the analysis thread stopped without a result (a panic)".into(),
                    ))
                }
            }
        }
    });
    // A Ctrl-C that came after the last check (the run ended within the 50 ms, or this
    // thread was not scheduled while the analysis ran) still stops the caller here.
    if interrupted.is_none() {
        interrupted = py.check_signals().err();
    }
    if let Some(e) = interrupted {
        return Err(e);
    }
    if let Some((tensor, e)) = abort.take_error() {
        return Err(match tensor {
            // An exception in fetch: a ReadError naming the tensor, caused by it.
            Some(name) => {
                let err =
                    ReadError::new_err(format!("{label}: tensor '{name}': fetch failed: {e}"));
                err.set_cause(py, Some(e));
                err
            }
            // An exception in progress: as raised.
            None => e,
        });
    }
    result.map_err(to_py_err)
}

/// Analyse a checkpoint file or model folder (any format the command line reads), or a hub
/// id `org/name[@revision]` from the local Hugging Face cache (as the command line does).
#[pyfunction]
#[pyo3(signature = (path, options=None, progress=None, want_json=false, keep_esd=false))]
fn analyze_path<'py>(
    py: Python<'py>,
    path: std::path::PathBuf,
    options: Option<&Bound<'py, PyDict>>,
    progress: Option<Py<PyAny>>,
    want_json: bool,
    keep_esd: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let mut opts = options::from_dict(options)?;
    opts.keep_esd = keep_esd;
    let src = py
        .detach(|| weightscope::formats::open(&path))
        .map_err(|e| to_py_err(e.into()))?;
    let label = path.display().to_string();
    run(py, src.as_ref(), None, &label, &opts, progress, want_json)
}

/// Analyse tensors held by Python: `fetch(i)` returns tensor i as a numpy array (float16/32/64)
/// or a `(bytes, "<f4")` pair; it is called from worker threads, one tensor at a time.
#[pyfunction]
#[pyo3(signature = (names, shapes, dtypes, fetch, options=None, progress=None, source="<python>", want_json=false, keep_esd=false))]
#[allow(clippy::too_many_arguments)]
fn analyze_tensors<'py>(
    py: Python<'py>,
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    dtypes: Vec<String>,
    fetch: Py<PyAny>,
    options: Option<&Bound<'py, PyDict>>,
    progress: Option<Py<PyAny>>,
    source: &str,
    want_json: bool,
    keep_esd: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let mut opts = options::from_dict(options)?;
    opts.keep_esd = keep_esd;
    let src = PySource::new(names, shapes, dtypes, fetch, source)?;
    run(py, &src, Some(&src), source, &opts, progress, want_json)
}

/// The column registry: every per-layer column once, in CSV order.
#[pyfunction]
fn columns(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let out = PyList::empty(py);
    for c in COLUMNS {
        let d = PyDict::new(py);
        d.set_item("name", c.name)?;
        let by = c.group.option();
        d.set_item(
            "option",
            if by.is_empty() {
                None
            } else {
                // The keyword argument of the option ("--esd farms" is esd="farms").
                let flag = by.split(' ').next().unwrap_or(by);
                Some(flag.trim_start_matches("--").replace('-', "_"))
            },
        )?;
        d.set_item("kind", kind_name(c.kind))?;
        d.set_item("meaning", c.meaning)?;
        out.append(d)?;
    }
    Ok(out)
}

/// The names of the options `analyze_*` accept.
#[pyfunction]
fn option_names() -> Vec<&'static str> {
    options::KEYS.to_vec()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("ReadError", py.get_type::<ReadError>())?;
    m.add("OptionError", py.get_type::<OptionError>())?;
    m.add("ShardError", py.get_type::<ShardError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(analyze_path, m)?)?;
    m.add_function(wrap_pyfunction!(analyze_tensors, m)?)?;
    m.add_function(wrap_pyfunction!(shard::share_plan, m)?)?;
    m.add_function(wrap_pyfunction!(shard::analyze_share, m)?)?;
    m.add_function(wrap_pyfunction!(shard::merge_parts, m)?)?;
    m.add_function(wrap_pyfunction!(columns, m)?)?;
    m.add_function(wrap_pyfunction!(option_names, m)?)?;
    m.add_function(wrap_pyfunction!(report::plot_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(act::sparsity_ratios, m)?)?;
    m.add_function(wrap_pyfunction!(act::block_groups, m)?)?;
    m.add_function(wrap_pyfunction!(act::in_block, m)?)?;
    m.add_function(wrap_pyfunction!(act::reference_alpha, m)?)?;
    m.add_function(wrap_pyfunction!(act::layer_distance, m)?)?;
    m.add_function(wrap_pyfunction!(act::smooth_tensor, m)?)?;
    m.add_class::<NativeReport>()?;
    Ok(())
}
