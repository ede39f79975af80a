//! From tensors to the matrices whose spectra are analysed.
//!
//! * 2-D weights (Linear/Dense, embeddings, lm_head): W oriented so that N ≥ M.
//! * Conv2D kernels (4-D): the kh·kw "feature maps" W[:,:,i,j] (slides: Conv2D layers as
//!   k×k matrices of shape out×in), each oriented N ≥ M. Channels-first (out,in,kh,kw) vs
//!   channels-last (kh,kw,in,out) is told as weightwatcher does: the two largest dimensions
//!   are the channels. By default their eigenvalues are pooled into one ESD of M·kh·kw values
//!   (rf = kh·kw) and W is scaled by 1/√2 (weightwatcher's `conv2d_norm`); with `conv_maps`
//!   each map is its own row, scaled by √(rf/2) as weightwatcher's unpooled mode does.
//! * Conv1D kernels (3-D): the k slices, treated like Conv2D maps.
//! * 1-D tensors (biases, norms), integer tensors and > 4-D tensors are not layer weights.

use crate::formats::TensorInfo;
use faer::Mat;
use serde::{Deserialize, Serialize};

/// What a weight tensor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    Dense,
    Conv1d,
    Conv2d,
    Embedding,
}

impl LayerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            LayerKind::Dense => "dense",
            LayerKind::Conv1d => "conv1d",
            LayerKind::Conv2d => "conv2d",
            LayerKind::Embedding => "embedding",
        }
    }
}

/// How tensors become matrices, and which are skipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerOptions {
    /// Skip layers with fewer eigenvalues than this (weightwatcher 0.7.7: 8).
    pub min_evals: usize,
    /// Skip layers with more eigenvalues than this (weightwatcher: 15000; default none:
    /// weightscope reads one layer at a time and is not memory-bound the way it is).
    pub max_evals: Option<usize>,
    /// Skip layers whose N exceeds this (weightwatcher: 50000; default none).
    pub max_n: Option<usize>,
    /// One row per convolution map instead of one pooled ESD.
    pub conv_maps: bool,
    /// Scale convolution weights as weightwatcher's `conv2d_norm` (default true).
    pub conv_norm: bool,
    /// Analyse every ≥ 2-D float tensor. By default, when a checkpoint names its weights
    /// `*.weight` (every PyTorch/Hugging Face checkpoint does), other tensors — buffers such as
    /// attention masks, positional tables, class tokens — are skipped, as weightwatcher does.
    pub all_tensors: bool,
}

impl Default for LayerOptions {
    fn default() -> Self {
        LayerOptions {
            min_evals: 8,
            max_evals: None,
            max_n: None,
            conv_maps: false,
            conv_norm: true,
            all_tensors: false,
        }
    }
}

/// A layer as planned from the tensor listing, before any data are read.
#[derive(Debug, Clone, Serialize)]
pub struct LayerPlan {
    /// Index of the tensor in the checkpoint's listing (stable across options).
    pub layer_id: usize,
    /// The tensor name without a trailing `.weight`.
    pub name: String,
    /// The full tensor name.
    pub longname: String,
    pub kind: Option<LayerKind>,
    pub shape: Vec<usize>,
    pub dtype: String,
    /// Larger and smaller matrix dimension (channel dimensions for convolutions).
    #[serde(rename = "N")]
    pub n: usize,
    #[serde(rename = "M")]
    pub m: usize,
    /// Receptive field: number of convolution maps pooled (1 for dense layers).
    pub rf: usize,
    /// Eigenvalues in the ESD: M·rf.
    pub num_evals: usize,
    /// With `conv_maps`, which map (i·kw + j) this row is.
    pub slice_id: Option<usize>,
    /// Why this tensor is not analysed; `None` if it is.
    pub skip: Option<String>,
}

impl LayerPlan {
    /// Q = N/M (paper's aspect ratio, Eqn. 8).
    pub fn q(&self) -> f64 {
        if self.m == 0 {
            f64::NAN
        } else {
            self.n as f64 / self.m as f64
        }
    }

    /// Estimated flops to get the spectrum by the Gram route: per matrix N·M² for the
    /// symmetric product and 4/3·M³ for the tridiagonalisation.
    pub fn flops(&self) -> f64 {
        let (n, m) = (self.n as f64, self.m as f64);
        let maps = if self.slice_id.is_some() {
            1.0
        } else {
            self.rf as f64
        };
        maps * (n * m * m + 4.0 / 3.0 * m * m * m)
    }
}

fn kind_from_name(name: &str) -> LayerKind {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".weight").unwrap_or(&lower);
    let last = stem.rsplit('.').next().unwrap_or(stem);
    if last.contains("embed") || last == "wte" || last == "wpe" || stem.contains("embeddings") {
        LayerKind::Embedding
    } else {
        LayerKind::Dense
    }
}

/// Layout of a convolution kernel: the axes holding (a) the two channel dimensions and (b)
/// the spatial ones. weightwatcher's rule: if the first two dimensions sum to at least the
/// last two, the kernel is channels-first (out, in, kh, kw), else channels-last.
fn conv_channels_first(shape: &[usize]) -> bool {
    match shape.len() {
        4 => shape[0] + shape[1] >= shape[2] + shape[3],
        3 => shape[0] + shape[1] >= shape[2],
        _ => true,
    }
}

/// (rows, cols, maps) of a tensor's matrices before orientation.
fn matrix_dims(shape: &[usize]) -> (usize, usize, usize) {
    match shape.len() {
        2 => (shape[0], shape[1], 1),
        3 if conv_channels_first(shape) => (shape[0], shape[1], shape[2]),
        3 => (shape[1], shape[2], shape[0]),
        4 if conv_channels_first(shape) => (shape[0], shape[1], shape[2] * shape[3]),
        4 => (shape[2], shape[3], shape[0] * shape[1]),
        _ => (0, 0, 0),
    }
}

/// Plan every tensor of a checkpoint. Tensors that are not analysed carry a `skip` reason.
pub fn plan_layers(tensors: &[TensorInfo], opts: &LayerOptions) -> Vec<LayerPlan> {
    let mut plans = Vec::new();
    let named_weights = !opts.all_tensors && tensors.iter().any(|t| t.name.ends_with(".weight"));
    for (id, t) in tensors.iter().enumerate() {
        let name = t
            .name
            .strip_suffix(".weight")
            .unwrap_or(&t.name)
            .to_string();
        let (rows, cols, maps) = matrix_dims(&t.shape);
        let kind = match t.shape.len() {
            2 => Some(kind_from_name(&t.name)),
            3 => Some(LayerKind::Conv1d),
            4 => Some(LayerKind::Conv2d),
            _ => None,
        };
        let (n, m) = (rows.max(cols), rows.min(cols));
        let mut plan = LayerPlan {
            layer_id: id,
            name,
            longname: t.name.clone(),
            kind,
            shape: t.shape.clone(),
            dtype: t.dtype.to_string(),
            n,
            m,
            rf: maps,
            num_evals: m * maps,
            slice_id: None,
            skip: None,
        };
        plan.skip = if t.problem.is_some() && t.shape.is_empty() {
            None // unreadable entry: reported as an error row when read
        } else if !t.dtype.is_float() {
            Some(format!("dtype {} is not a floating-point weight", t.dtype))
        } else if t.shape.len() < 2 {
            Some(format!(
                "{}-D tensor (bias, norm or scalar): not a matrix",
                t.shape.len()
            ))
        } else if t.shape.len() > 4 {
            Some(format!("{}-D tensor: not a layer weight", t.shape.len()))
        } else if t.name.ends_with(".bias") {
            Some("bias: not a layer weight".into())
        } else if named_weights && !t.name.ends_with(".weight") {
            Some("not a '*.weight' tensor (buffer or table); --all-tensors analyses it".into())
        } else if t.shape.contains(&0) {
            Some(format!("empty tensor (shape {:?})", t.shape))
        } else {
            None
        };
        if plan.skip.is_none() && t.problem.is_none() {
            let evals = if opts.conv_maps { m } else { m * maps };
            plan.skip = if evals < opts.min_evals {
                Some(format!(
                    "{evals} eigenvalue(s) < --min-evals {} (M = {m}{})",
                    opts.min_evals,
                    if maps > 1 && !opts.conv_maps {
                        format!(", rf = {maps}")
                    } else {
                        String::new()
                    }
                ))
            } else if opts.max_evals.is_some_and(|x| evals > x) {
                Some(format!(
                    "{evals} eigenvalues > --max-evals {}",
                    opts.max_evals.unwrap()
                ))
            } else if opts.max_n.is_some_and(|x| n > x) {
                Some(format!("N = {n} > --max-n {}", opts.max_n.unwrap()))
            } else {
                None
            };
        }
        if opts.conv_maps && maps > 1 && plan.skip.is_none() {
            for s in 0..maps {
                let mut p = plan.clone();
                p.slice_id = Some(s);
                p.num_evals = m;
                plans.push(p);
            }
        } else {
            plans.push(plan);
        }
    }
    plans
}

/// Scale applied to convolution weights (weightwatcher's `conv2d_norm`): √(count/2) with
/// count = 1 when maps are pooled and rf when each map is analysed alone.
pub fn conv_scale(plan: &LayerPlan, opts: &LayerOptions) -> f64 {
    if !opts.conv_norm || plan.shape.len() < 3 {
        return 1.0;
    }
    let count = if plan.slice_id.is_some() {
        plan.rf as f64
    } else {
        1.0
    };
    (count / 2.0).sqrt()
}

/// The matrices of a layer, each N × M (N ≥ M), scaled, from the tensor's row-major data.
/// With `slice_id` set, only that map.
pub fn layer_matrices(plan: &LayerPlan, data: &[f64], opts: &LayerOptions) -> Vec<Mat<f64>> {
    let shape = &plan.shape;
    let (rows, cols, maps) = matrix_dims(shape);
    let scale = conv_scale(plan, opts);
    debug_assert_eq!(data.len(), rows * cols * maps);
    // Element (r, c) of map k in the row-major data.
    let at = |k: usize, r: usize, c: usize| -> f64 {
        match shape.len() {
            2 => data[r * cols + c],
            // (rows, cols, maps) layout: channels first.
            _ if conv_channels_first(shape) => data[(r * cols + c) * maps + k],
            // (maps, rows, cols) layout: channels last.
            _ => data[(k * rows + r) * cols + c],
        }
    };
    let one = |k: usize| -> Mat<f64> {
        if rows >= cols {
            Mat::from_fn(rows, cols, |r, c| scale * at(k, r, c))
        } else {
            Mat::from_fn(cols, rows, |c, r| scale * at(k, r, c))
        }
    };
    match plan.slice_id {
        Some(k) => vec![one(k)],
        None => (0..maps).map(one).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::DType;

    fn info(name: &str, shape: &[usize]) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: DType::F32,
            file: "x".into(),
            problem: None,
            role: None,
        }
    }

    #[test]
    fn plans_kinds_dims_and_skips() {
        let t = [
            info("fc.weight", &[10, 300]),
            info("fc.bias", &[10]),
            info("conv.weight", &[64, 32, 3, 3]),
            info("tf_conv.weight", &[5, 5, 3, 16]),
            info("emb.word_embeddings.weight", &[1000, 64]),
            info("tiny.weight", &[1, 50]),
            info("pos_embed", &[1, 197, 768]),
        ];
        let p = plan_layers(&t, &LayerOptions::default());
        assert_eq!(
            (p[0].n, p[0].m, p[0].rf, p[0].kind),
            (300, 10, 1, Some(LayerKind::Dense))
        );
        assert!(p[1].skip.as_deref().unwrap().contains("1-D"));
        assert_eq!((p[2].n, p[2].m, p[2].rf, p[2].num_evals), (64, 32, 9, 288));
        assert_eq!((p[3].n, p[3].m, p[3].rf), (16, 3, 25));
        assert_eq!(p[4].kind, Some(LayerKind::Embedding));
        assert!(p[5].skip.as_deref().unwrap().contains("min-evals"));
        assert!(p[6].skip.as_deref().unwrap().contains("*.weight"));
        let all = LayerOptions {
            all_tensors: true,
            ..Default::default()
        };
        assert_eq!(plan_layers(&t, &all)[6].skip, None);
    }

    #[test]
    fn conv_maps_are_the_kernel_slices() {
        // (out=3, in=2, kh=1, kw=2): map j holds W[:, :, 0, j].
        let data: Vec<f64> = (0..12).map(|x| x as f64).collect();
        let t = [info("c", &[3, 2, 1, 2])];
        let opts = LayerOptions {
            conv_norm: false,
            min_evals: 1,
            ..Default::default()
        };
        let p = plan_layers(&t, &opts);
        let mats = layer_matrices(&p[0], &data, &opts);
        assert_eq!(mats.len(), 2);
        // W[o, i, 0, 1] = ((o*2 + i)*2 + 1)
        assert_eq!(mats[1][(2, 1)], ((2 * 2 + 1) * 2 + 1) as f64);
        assert_eq!(mats[0][(1, 0)], ((2) * 2) as f64);
    }

    #[test]
    fn wide_matrices_are_transposed() {
        let data: Vec<f64> = (0..6).map(|x| x as f64).collect(); // 2×3
        let t = [info("w", &[2, 3])];
        let opts = LayerOptions {
            min_evals: 1,
            ..Default::default()
        };
        let p = plan_layers(&t, &opts);
        let m = &layer_matrices(&p[0], &data, &opts)[0];
        assert_eq!((m.nrows(), m.ncols()), (3, 2));
        assert_eq!(m[(2, 1)], 5.0); // W[1, 2]
    }
}
