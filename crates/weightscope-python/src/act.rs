//! The numerics of `weightscope.sparsity` and `weightscope.tempbalance`: AlphaPruning's
//! allocation and the reference α estimators, from the library's `act` module.

use crate::to_py_err;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use weightscope::act::{self, SparsityOptions};

/// Sparsity ratios from metrics and parameter counts; `groups` averages the metric per group.
#[pyfunction]
#[pyo3(signature = (metrics, params, target, epsilon, groups=None))]
pub fn sparsity_ratios(
    metrics: Vec<f64>,
    params: Vec<u64>,
    target: f64,
    epsilon: f64,
    groups: Option<Vec<usize>>,
) -> PyResult<Vec<f64>> {
    let opts = SparsityOptions { target, epsilon };
    act::sparsity_ratios(&metrics, &params, groups.as_deref(), &opts).map_err(to_py_err)
}

/// The transformer block of each name, as group ids (a name outside any block alone).
#[pyfunction]
pub fn block_groups(names: Vec<String>) -> Vec<usize> {
    act::block_groups(&names)
}

/// Whether each name lies in a numbered transformer block.
#[pyfunction]
pub fn in_block(names: Vec<String>) -> Vec<bool> {
    names.iter().map(|n| act::block_of(n).is_some()).collect()
}

/// (α, D, xmin) of a reference estimator ("alpha_peak" or "alpha_mid") on ascending
/// eigenvalues, or None when it cannot fit.
#[pyfunction]
#[pyo3(signature = (eigs, metric, xmin_pos=2.0, bins=act::reference_alpha::PEAK_BINS))]
pub fn reference_alpha(
    eigs: Vec<f64>,
    metric: &str,
    xmin_pos: f64,
    bins: usize,
) -> PyResult<Option<(f64, f64, f64)>> {
    let fit = match metric {
        "alpha_peak" => act::alpha_peak(&eigs, bins),
        "alpha_mid" => act::alpha_mid(&eigs, xmin_pos),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown reference metric {other:?} (alpha_peak, alpha_mid)"
            )))
        }
    };
    Ok(fit.map(|f| (f.alpha, f.d, f.xmin)))
}

/// weightwatcher's distance of one layer of two models: (delta_W, delta_b, M, N) for method
/// "raw", "euclidean" or "cka"; weights row-major of `shape` (PyTorch layout), biases of a
/// dense layer for "raw".
#[pyfunction]
#[pyo3(signature = (w1, w2, shape, method, b1=None, b2=None))]
pub fn layer_distance(
    w1: Vec<f64>,
    w2: Vec<f64>,
    shape: Vec<usize>,
    method: &str,
    b1: Option<Vec<f64>>,
    b2: Option<Vec<f64>>,
) -> PyResult<(f64, f64, usize, usize)> {
    let method: weightscope::distances::DistanceMethod = method.parse().map_err(to_py_err)?;
    let bias = match (&b1, &b2) {
        (Some(a), Some(b)) => Some((a.as_slice(), b.as_slice())),
        _ => None,
    };
    let d = weightscope::distances::layer_distance(&w1, &w2, &shape, bias, method)
        .map_err(to_py_err)?;
    Ok((d.delta_w, d.delta_b, d.m, d.n))
}

/// weightwatcher's SVD smoothing of one weight tensor (row-major, PyTorch layout): the
/// tensor with only its `num_smooth` largest singular components (⌈num_smooth / (kh·kw)⌉ in
/// each kernel slice of a convolution), or None when its shape is not one smoothing applies to.
#[pyfunction]
pub fn smooth_tensor(
    values: Vec<f64>,
    shape: Vec<usize>,
    num_smooth: usize,
) -> PyResult<Option<Vec<f64>>> {
    act::smooth_tensor(&values, &shape, num_smooth)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}
