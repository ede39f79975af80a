//! The `options` dict of the Python API → [`weightscope::Options`]. Keys are the command line's
//! flags with underscores (`--min-evals` → `min_evals`); an unknown key, a value of the wrong
//! type or a bad value raises `OptionError` naming the key.

use crate::OptionError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};
use weightscope::fit::farms::{FarmsOptions, FarmsXmin};
use weightscope::fit::marchenko_pastur::MpMethod;
use weightscope::fit::PlMethod;
use weightscope::spectrum::{Precision, Solver};
use weightscope::{FixFingers, LayerFilter, Options};

/// Every key `options` may have, in the order of the command line's help.
pub const KEYS: &[&str] = &[
    "layers",
    "min_evals",
    "max_evals",
    "max_n",
    "conv_maps",
    "conv_norm",
    "all_tensors",
    "split_gates",
    "split_fused",
    "normalize",
    "pl_method",
    "solver",
    "precision",
    "mp_fit",
    "mp_method",
    "randomize",
    "shuffles",
    "seed",
    "vectors",
    "phase",
    "tail_fits",
    "bootstrap",
    "fix_fingers",
    "detx",
    "xmax",
    "esd",
    "farms_rows",
    "farms_q",
    "farms_windows",
    "farms_xmin",
    "all",
    "threads",
    "max_memory",
];

fn bad(key: &str, msg: impl std::fmt::Display) -> PyErr {
    OptionError::new_err(format!("option {key}: {msg}"))
}

fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn get_bool(key: &str, v: &Bound<'_, PyAny>) -> PyResult<bool> {
    // Python bool (and numpy.bool_) only: 0/1 or "yes" are more likely mistakes than intent.
    if v.is_instance_of::<PyBool>() || type_name(v) == "bool_" || type_name(v) == "bool" {
        return v.is_truthy();
    }
    Err(bad(
        key,
        format!("expected True or False, got {}", type_name(v)),
    ))
}

fn get_uint(key: &str, v: &Bound<'_, PyAny>) -> PyResult<usize> {
    if v.is_instance_of::<PyBool>() {
        return Err(bad(key, "expected an integer, got a bool"));
    }
    if !v.is_instance_of::<PyInt>() && v.hasattr("__index__").unwrap_or(false) {
        // numpy integers
        return get_uint(key, &v.call_method0("__index__")?);
    }
    if !v.is_instance_of::<PyInt>() {
        return Err(bad(
            key,
            format!("expected an integer, got {}", type_name(v)),
        ));
    }
    v.extract::<usize>()
        .map_err(|_| bad(key, format!("expected a non-negative integer, got {v}")))
}

fn get_opt_uint(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if v.is_none() {
        Ok(None)
    } else {
        get_uint(key, v).map(Some)
    }
}

fn get_str(key: &str, v: &Bound<'_, PyAny>) -> PyResult<String> {
    if !v.is_instance_of::<PyString>() {
        return Err(bad(key, format!("expected a string, got {}", type_name(v))));
    }
    v.extract::<String>()
}

/// A string option among `choices` (underscores read as dashes, case ignored).
fn get_choice<T: Copy>(key: &str, v: &Bound<'_, PyAny>, choices: &[(&str, T)]) -> PyResult<T> {
    let s = get_str(key, v)?;
    let norm = s.trim().to_ascii_lowercase().replace('_', "-");
    choices
        .iter()
        .find(|(name, _)| *name == norm)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<String> = choices.iter().map(|(n, _)| format!("'{n}'")).collect();
            bad(key, format!("'{s}' is not one of {}", names.join(", ")))
        })
}

/// "2G", "512M", "100k" or plain bytes (as the command line's --max-memory), or an int.
fn get_size(key: &str, v: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    if v.is_none() {
        return Ok(None);
    }
    if !v.is_instance_of::<PyString>() {
        let n = get_uint(key, v)?;
        if n == 0 {
            return Err(bad(key, "must be positive"));
        }
        return Ok(Some(n));
    }
    let s = get_str(key, v)?;
    let t = s.trim();
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let unit = t[i..].to_ascii_lowercase();
            let mult: f64 = match unit.trim_end_matches(['b', 'i']) {
                "" => 1.0,
                "k" => 1024.0,
                "m" => 1024f64.powi(2),
                "g" => 1024f64.powi(3),
                "t" => 1024f64.powi(4),
                _ => {
                    return Err(bad(
                        key,
                        format!("unknown size unit in '{s}' (use K, M, G or T)"),
                    ))
                }
            };
            (&t[..i], mult)
        }
        None => (t, 1.0),
    };
    let x: f64 = num
        .trim()
        .parse()
        .map_err(|_| bad(key, format!("'{s}' is not a size")))?;
    if x.is_nan() || x <= 0.0 {
        return Err(bad(key, format!("'{s}' must be positive")));
    }
    Ok(Some((x * mult) as usize))
}

/// Build the options from a dict (None: the defaults, as the command line's).
pub fn from_dict(d: Option<&Bound<'_, PyDict>>) -> PyResult<Options> {
    let mut o = Options::default();
    let mut all = false;
    let (mut farms_on, mut farms) = (false, FarmsOptions::default());
    let Some(d) = d else { return Ok(o) };
    for (k, v) in d.iter() {
        let key: String = k
            .extract()
            .map_err(|_| OptionError::new_err(format!("option names are strings, got {k}")))?;
        let key = key.as_str();
        let l = &mut o.layers;
        match key {
            "layers" => {
                o.filter = if v.is_none() {
                    None
                } else {
                    let s = get_str(key, &v)?;
                    Some(LayerFilter::parse(&s).map_err(|e| bad(key, e))?)
                }
            }
            "min_evals" => l.min_evals = get_uint(key, &v)?,
            "max_evals" => l.max_evals = get_opt_uint(key, &v)?,
            "max_n" => l.max_n = get_opt_uint(key, &v)?,
            "conv_maps" => l.conv_maps = get_bool(key, &v)?,
            "conv_norm" => l.conv_norm = get_bool(key, &v)?,
            "all_tensors" => l.all_tensors = get_bool(key, &v)?,
            "split_gates" => l.split_gates = get_bool(key, &v)?,
            "split_fused" => l.split_fused = get_bool(key, &v)?,
            "normalize" => o.normalize = get_bool(key, &v)?,
            "pl_method" => {
                o.pl_method = get_choice(
                    key,
                    &v,
                    &[("ww", PlMethod::Ww), ("powerlaw", PlMethod::Powerlaw)],
                )?
            }
            "solver" => {
                o.solver = get_choice(
                    key,
                    &v,
                    &[
                        ("auto", Solver::Auto),
                        ("gram", Solver::Gram),
                        ("svd", Solver::Svd),
                    ],
                )?
            }
            "precision" => {
                o.precision =
                    get_choice(key, &v, &[("f64", Precision::F64), ("f32", Precision::F32)])?
            }
            "mp_fit" => o.mp_fit = get_bool(key, &v)?,
            "mp_method" => {
                o.mp_method = get_choice(
                    key,
                    &v,
                    &[("bulk-cdf", MpMethod::BulkCdf), ("ww", MpMethod::Ww)],
                )?
            }
            "randomize" => o.randomize = get_bool(key, &v)?,
            "shuffles" => {
                o.shuffles = get_uint(key, &v)?;
                if o.shuffles == 0 {
                    return Err(bad(key, "must be at least 1"));
                }
            }
            "seed" => {
                o.seed = if v.is_instance_of::<PyBool>() {
                    return Err(bad(key, "expected an integer, got a bool"));
                } else {
                    v.extract::<u64>()
                        .map_err(|_| bad(key, format!("expected an integer in 0..2^64, got {v}")))?
                }
            }
            "vectors" => o.vectors = get_bool(key, &v)?,
            "phase" => o.phase = get_bool(key, &v)?,
            "tail_fits" => o.tail_fits = get_bool(key, &v)?,
            "bootstrap" => o.bootstrap = get_uint(key, &v)?,
            "fix_fingers" => {
                o.fix_fingers = if v.is_none() {
                    None
                } else {
                    Some(get_choice(
                        key,
                        &v,
                        &[
                            ("clip-xmax", FixFingers::ClipXmax),
                            ("xmin-peak", FixFingers::XminPeak),
                        ],
                    )?)
                }
            }
            "detx" => o.detx = get_bool(key, &v)?,
            "xmax" => o.xmax_drop = get_opt_uint(key, &v)?,
            "esd" => farms_on = get_choice(key, &v, &[("full", false), ("farms", true)])?,
            "farms_rows" => farms.rows = get_uint(key, &v)?,
            "farms_q" => {
                if v.is_instance_of::<PyBool>() {
                    return Err(bad(key, "expected a number, got a bool"));
                }
                farms.q = v
                    .extract::<f64>()
                    .map_err(|_| bad(key, format!("expected a number, got {}", type_name(&v))))?
            }
            "farms_windows" => farms.windows = get_uint(key, &v)?,
            "farms_xmin" => {
                farms.xmin = get_choice(
                    key,
                    &v,
                    &[("median", FarmsXmin::Median), ("ks", FarmsXmin::Ks)],
                )?
            }
            "all" => all = get_bool(key, &v)?,
            "threads" => {
                o.threads = get_opt_uint(key, &v)?;
                if o.threads == Some(0) {
                    return Err(bad(key, "must be at least 1 (None: all cores)"));
                }
            }
            "max_memory" => o.max_memory = get_size(key, &v)?,
            _ => {
                return Err(OptionError::new_err(format!(
                    "unknown option '{key}'; the options are: {}",
                    KEYS.join(", ")
                )))
            }
        }
    }
    if farms_on {
        farms
            .validate()
            .map_err(|e| OptionError::new_err(format!("option esd: {e}")))?;
        o.farms = Some(farms);
    }
    // As the command line's --all: every analysis except --bootstrap and --fix-fingers.
    if all {
        o.mp_fit = true;
        o.randomize = true;
        o.vectors = true;
        o.phase = true;
        o.tail_fits = true;
        o.detx = true;
    }
    o.validate()
        .map_err(|e| OptionError::new_err(e.to_string()))?;
    Ok(o)
}
