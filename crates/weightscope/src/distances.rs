//! Distances between the same layer of two models, as weightwatcher 0.7.7's
//! `WeightWatcher.distances(model_1, model_2, method)` defines them (its defaults: pooled
//! convolutions, every layer it analyses):
//!
//! - `raw`: ‖W₁ − W₂‖_F over the whole stored tensor (all four axes of a convolution), and
//!   ‖b₁ − b₂‖ for the bias of a dense layer (weightwatcher reads no conv bias: 0 there);
//! - `euclidean`: the mean over the layer's weight matrices (one per kernel position (i, j) of a
//!   convolution, one for a dense layer) of ‖W₁ − W₂‖_F;
//! - `cka`: the same mean of the *uncentred* CKA similarity
//!   ‖W₁ᵀW₂‖_F / √(‖W₁ᵀW₁‖_F · ‖W₂W₂ᵀ‖_F) (the denominator is raised by 1e-6 when below 1e-6).
//!
//! The orientation of each matrix matters for CKA only; it follows weightwatcher's for PyTorch
//! tensors: a dense weight (out, in) as stored, a convolution's kernel slice W[:, :, i, j]
//! transposed when it has fewer rows than columns. Numerics only: reading the tensors is the
//! caller's.

use crate::{Error, Result};
use faer::Mat;
use serde::Serialize;

/// Which distance (weightwatcher's `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DistanceMethod {
    Raw,
    Euclidean,
    Cka,
}

impl DistanceMethod {
    pub const ALL: [DistanceMethod; 3] = [Self::Raw, Self::Euclidean, Self::Cka];

    pub fn name(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Euclidean => "euclidean",
            Self::Cka => "cka",
        }
    }
}

impl std::str::FromStr for DistanceMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "raw" => Ok(Self::Raw),
            "euclidean" => Ok(Self::Euclidean),
            "cka" => Ok(Self::Cka),
            other => Err(Error::Usage(format!(
                "unknown distance method {other:?} (raw, euclidean or cka)"
            ))),
        }
    }
}

/// One layer's row of weightwatcher's distances table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LayerDistance {
    pub delta_w: f64,
    /// `raw` only: ‖b₁ − b₂‖ of a dense layer's bias; 0 otherwise, as weightwatcher reports.
    pub delta_b: f64,
    /// Smaller and larger dimension: of the stored tensor for `raw` (so a convolution's kernel
    /// size can be M), of its first weight matrix otherwise.
    #[serde(rename = "M")]
    pub m: usize,
    #[serde(rename = "N")]
    pub n: usize,
}

/// ‖a − b‖ over all elements (Frobenius for matrices and tensors).
pub fn frobenius_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Uncentred CKA of two row-major `rows × cols` matrices (weightwatcher's `matrix_distance`
/// with method `cka`).
pub fn cka(w1: &[f64], w2: &[f64], rows: usize, cols: usize) -> f64 {
    let a = Mat::<f64>::from_fn(rows, cols, |i, j| w1[i * cols + j]);
    let b = Mat::<f64>::from_fn(rows, cols, |i, j| w2[i * cols + j]);
    let cross = (a.transpose() * &b).norm_l2();
    let norm_a = (a.transpose() * &a).norm_l2();
    let norm_b = (&b * b.transpose()).norm_l2();
    let mut norm = (norm_a * norm_b).sqrt();
    // weightwatcher's guard against an all-zero matrix, kept so that results match.
    if norm < 1e-6 {
        norm += 1e-6;
    }
    cross / norm
}

/// weightwatcher's weight matrices of a PyTorch-layout tensor, row-major with their
/// (rows, cols): a 2-D weight as is; a 4-D convolution (out, in, kh, kw) as its kh·kw kernel
/// slices in (i, j) order, each made tall (transposed when out < in). Other ranks: none.
pub fn weight_matrices(data: &[f64], shape: &[usize]) -> Vec<(Vec<f64>, usize, usize)> {
    match *shape {
        [r, c] => vec![(data.to_vec(), r, c)],
        [out, inp, kh, kw] => {
            let at =
                |o: usize, c: usize, i: usize, j: usize| data[((o * inp + c) * kh + i) * kw + j];
            let mut mats = Vec::with_capacity(kh * kw);
            for i in 0..kh {
                for j in 0..kw {
                    if out < inp {
                        let m: Vec<f64> = (0..inp)
                            .flat_map(|c| (0..out).map(move |o| (c, o)))
                            .map(|(c, o)| at(o, c, i, j))
                            .collect();
                        mats.push((m, inp, out));
                    } else {
                        let m: Vec<f64> = (0..out)
                            .flat_map(|o| (0..inp).map(move |c| (o, c)))
                            .map(|(o, c)| at(o, c, i, j))
                            .collect();
                        mats.push((m, out, inp));
                    }
                }
            }
            mats
        }
        _ => Vec::new(),
    }
}

/// The distance between one layer of two models. `bias` is the pair of dense-layer biases
/// (used by `raw` only). Errors when the two tensors differ in shape, as weightwatcher refuses.
pub fn layer_distance(
    w1: &[f64],
    w2: &[f64],
    shape: &[usize],
    bias: Option<(&[f64], &[f64])>,
    method: DistanceMethod,
) -> Result<LayerDistance> {
    let len: usize = shape.iter().product();
    if w1.len() != len || w2.len() != len || shape.len() < 2 {
        return Err(Error::Usage(format!(
            "the two weights differ in shape or are not matrices (shape {shape:?}, {} and {} values)",
            w1.len(),
            w2.len()
        )));
    }
    match method {
        DistanceMethod::Raw => {
            let delta_b = match bias {
                Some((b1, b2)) if b1.len() == b2.len() => frobenius_distance(b1, b2),
                _ => 0.0,
            };
            Ok(LayerDistance {
                delta_w: frobenius_distance(w1, w2),
                delta_b,
                m: *shape.iter().min().unwrap_or(&0),
                n: *shape.iter().max().unwrap_or(&0),
            })
        }
        DistanceMethod::Euclidean | DistanceMethod::Cka => {
            let (m1, m2) = (weight_matrices(w1, shape), weight_matrices(w2, shape));
            let Some(&(_, rows, cols)) = m1.first().map(|(v, r, c)| (v, *r, *c)).as_ref() else {
                return Err(Error::Usage(format!(
                    "a tensor of shape {shape:?} has no weight matrices"
                )));
            };
            let total: f64 = m1
                .iter()
                .zip(&m2)
                .map(|((a, r, c), (b, _, _))| match method {
                    DistanceMethod::Cka => cka(a, b, *r, *c),
                    _ => frobenius_distance(a, b),
                })
                .sum();
            Ok(LayerDistance {
                delta_w: total / m1.len() as f64,
                delta_b: 0.0,
                m: rows.min(cols),
                n: rows.max(cols),
            })
        }
    }
}

/// weightwatcher's two averages over the layers: (mean ΔW, mean Δb).
pub fn averages(rows: &[LayerDistance]) -> (f64, f64) {
    let n = rows.len() as f64;
    (
        rows.iter().map(|r| r.delta_w).sum::<f64>() / n,
        rows.iter().map(|r| r.delta_b).sum::<f64>() / n,
    )
}

/// One row of weightwatcher's distances table for one method.
#[derive(Debug, Clone, Serialize)]
pub struct DistanceRow {
    pub method: DistanceMethod,
    pub layer_id: usize,
    pub name: String,
    pub longname: String,
    #[serde(flatten)]
    pub distance: LayerDistance,
}

/// Distances of every layer analysed in `model_1` (its plan under `opts`: the same layers as
/// `analyze`) to the layer of the same tensor name and shape in `model_2`, for each method in
/// `methods`, rows grouped by method. Layers read as LoRA products, blocks, single conv maps
/// or channels-last kernels are left out (weightwatcher's matrices are those of whole PyTorch
/// tensors), as are layers missing from `model_2` (weightwatcher would stop there). A layer
/// that cannot be read is an error naming the file and the tensor.
pub fn model_distances(
    model_1: &std::path::Path,
    model_2: &std::path::Path,
    opts: &crate::Options,
    methods: &[DistanceMethod],
) -> Result<Vec<DistanceRow>> {
    let (s1, s2) = (
        crate::formats::open(model_1)?,
        crate::formats::open(model_2)?,
    );
    let index = |src: &dyn crate::formats::TensorSource, name: &str, shape: Option<&[usize]>| {
        src.tensors()
            .iter()
            .position(|t| t.name == name && shape.is_none_or(|s| t.shape == s))
    };
    let read = |src: &dyn crate::formats::TensorSource, path: &std::path::Path, i: usize| {
        src.read_f64(i).map_err(|e| {
            Error::Usage(format!(
                "{}: tensor {}: {e}",
                path.display(),
                src.tensors()[i].name
            ))
        })
    };
    let mut per_method: Vec<Vec<DistanceRow>> = vec![Vec::new(); methods.len()];
    for p in crate::analyze::plan(s1.as_ref(), opts) {
        let whole_tensor = p.skip.is_none()
            && p.lora.is_none()
            && p.part.is_none()
            && p.slice_id.is_none()
            && matches!(p.shape.len(), 2 | 4)
            && !p
                .role
                .as_deref()
                .is_some_and(|r| r.contains("channels last"));
        if !whole_tensor {
            continue;
        }
        let Some(j) = index(s2.as_ref(), &p.longname, Some(&p.shape)) else {
            continue;
        };
        let w1 = read(s1.as_ref(), model_1, p.layer_id)?;
        let w2 = read(s2.as_ref(), model_2, j)?;
        // weightwatcher reads the bias of dense layers only.
        let bias_name = format!("{}.bias", p.name);
        let biases = match (
            p.shape.len() == 2,
            index(s1.as_ref(), &bias_name, None),
            index(s2.as_ref(), &bias_name, None),
        ) {
            (true, Some(a), Some(b)) => Some((
                read(s1.as_ref(), model_1, a)?,
                read(s2.as_ref(), model_2, b)?,
            )),
            _ => None,
        };
        for (k, &method) in methods.iter().enumerate() {
            let bias = biases.as_ref().map(|(a, b)| (a.as_slice(), b.as_slice()));
            let distance = layer_distance(&w1, &w2, &p.shape, bias, method).map_err(|e| {
                Error::Usage(format!("{}: tensor {}: {e}", model_2.display(), p.longname))
            })?;
            per_method[k].push(DistanceRow {
                method,
                layer_id: p.layer_id,
                name: p.name.clone(),
                longname: p.longname.clone(),
                distance,
            });
        }
    }
    Ok(per_method.into_iter().flatten().collect())
}
