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

pub mod lora;

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
    /// LSTM/GRU/RNN input or hidden weights (gates stacked along the rows).
    Recurrent,
    /// A fused attention projection holding Q, K and V.
    #[serde(rename = "attention_qkv")]
    AttentionQkv,
}

impl LayerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            LayerKind::Dense => "dense",
            LayerKind::Conv1d => "conv1d",
            LayerKind::Conv2d => "conv2d",
            LayerKind::Embedding => "embedding",
            LayerKind::Recurrent => "recurrent",
            LayerKind::AttentionQkv => "attention_qkv",
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
    /// Analyse each gate of an LSTM/GRU weight on its own (besides the stacked matrix).
    #[serde(default)]
    pub split_gates: bool,
    /// Analyse Q, K and V of a fused attention projection on their own.
    #[serde(default)]
    pub split_fused: bool,
    /// Head layout from the model's config.json, for fused projections that need it.
    #[serde(skip)]
    pub attention: Option<AttentionConfig>,
}

/// The attention head layout of a model (from its config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AttentionConfig {
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
}

impl AttentionConfig {
    /// Read the head layout from a Hugging Face `config.json` (keys of the common
    /// families: num_attention_heads / n_head / num_heads, num_key_value_heads /
    /// multi_query, head_dim or hidden_size / n_embd / d_model divided by the heads).
    pub fn from_json(v: &serde_json::Value) -> Option<AttentionConfig> {
        let get = |keys: &[&str]| keys.iter().find_map(|k| v.get(*k).and_then(|x| x.as_u64()));
        let heads = get(&["num_attention_heads", "n_head", "num_heads", "n_heads"])? as usize;
        let hidden = get(&["hidden_size", "n_embd", "d_model", "dim"]);
        let head_dim = get(&["head_dim"])
            .map(|x| x as usize)
            .or(hidden.map(|h| h as usize / heads.max(1)))?;
        let kv = get(&["num_key_value_heads", "n_head_kv", "num_kv_heads"])
            .map(|x| x as usize)
            .unwrap_or(
                if v.get("multi_query").and_then(|x| x.as_bool()) == Some(true) {
                    1
                } else {
                    heads
                },
            );
        (heads > 0 && head_dim > 0 && kv > 0).then_some(AttentionConfig {
            num_heads: heads,
            num_kv_heads: kv,
            head_dim,
        })
    }
}

/// A block of rows (axis 0) or columns (axis 1) of a 2-D weight analysed on its own: a gate
/// of a recurrent layer, or Q, K or V of a fused attention projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Part {
    pub label: String,
    pub axis: usize,
    #[serde(skip)]
    pub index: Vec<usize>,
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
            split_gates: false,
            split_fused: false,
            attention: None,
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
    /// With `conv_maps`, which map (i·kw + j) this row is; with `--split-gates` /
    /// `--split-fused`, which block.
    pub slice_id: Option<usize>,
    /// Why this tensor is not analysed; `None` if it is.
    pub skip: Option<String>,
    /// With `--split-gates`/`--split-fused`: the block of the weight this row analyses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
    /// What the tensor was recognised as, when it matters (gates, fused Q/K/V).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What the reader said the tensor is (ONNX graph role, Keras channels-last kernel).
    #[serde(skip)]
    pub role: Option<String>,
    /// A LoRA adapter's B·A (this row reads the A factor and its B factor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lora: Option<lora::LoraPair>,
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

/// The last dotted component of a tensor name.
fn last_component(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// PyTorch's recurrent weights: `weight_ih_l0`, `weight_hh_l1_reverse`, …
fn is_recurrent_name(name: &str) -> bool {
    let last = last_component(name);
    last.starts_with("weight_ih_l") || last.starts_with("weight_hh_l")
}

/// Fused attention projections holding Q, K and V.
fn is_fused_qkv_name(name: &str) -> bool {
    let stem = name.strip_suffix(".weight").unwrap_or(name);
    matches!(
        last_component(stem),
        "qkv_proj" | "c_attn" | "query_key_value" | "Wqkv" | "qkv" | "in_proj_weight" | "in_proj"
    )
}

/// Number of gates stacked in a recurrent weight: rows / cols of the matching hidden-to-hidden
/// weight (4 for LSTM, 3 for GRU, 1 for a plain RNN).
fn recurrent_gates(t: &TensorInfo, tensors: &[TensorInfo]) -> Option<usize> {
    let hh_name = t.name.replace("weight_ih_l", "weight_hh_l");
    let hh = tensors.iter().find(|x| x.name == hh_name)?;
    let (r, c) = (*hh.shape.first()?, *hh.shape.get(1)?);
    (c > 0 && r % c == 0 && t.shape.first() == Some(&r)).then_some(r / c)
}

fn contiguous(label: &str, axis: usize, start: usize, len: usize) -> Part {
    Part {
        label: label.to_string(),
        axis,
        index: (start..start + len).collect(),
    }
}

/// The gate blocks of a recurrent weight (rows), in PyTorch's order.
fn gate_parts(t: &TensorInfo, gates: usize) -> Option<Vec<Part>> {
    let labels: &[&str] = match gates {
        4 => &["gate_i", "gate_f", "gate_g", "gate_o"],
        3 => &["gate_r", "gate_z", "gate_n"],
        _ => return None,
    };
    let h = t.shape[0] / gates;
    Some(
        labels
            .iter()
            .enumerate()
            .map(|(k, l)| contiguous(l, 0, k * h, h))
            .collect(),
    )
}

/// Q, K and V of a fused projection, and how the layout was told.
fn qkv_parts(t: &TensorInfo, cfg: Option<AttentionConfig>) -> Option<(Vec<Part>, String)> {
    let (a, b) = (t.shape[0], t.shape[1]);
    let interleaved =
        last_component(t.name.strip_suffix(".weight").unwrap_or(&t.name)) == "query_key_value";
    // The fused axis is the one three times (or q + 2·kv times) the model width.
    let sizes = |len: usize| -> Option<[usize; 3]> {
        if let Some(c) = cfg {
            let (q, kv) = (c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim);
            if q + 2 * kv == len {
                return Some([q, kv, kv]);
            }
        }
        (len % 3 == 0).then_some([len / 3; 3])
    };
    let (axis, len) = if a == 3 * b || (a > b && sizes(a).is_some()) {
        (0, a)
    } else {
        (1, b)
    };
    let [q, k, v] = sizes(len)?;
    if interleaved {
        // GPT-NeoX/BLOOM: per head [q | k | v] rows of head_dim each; needs the head count.
        let c =
            cfg.filter(|c| c.num_kv_heads == c.num_heads && 3 * c.num_heads * c.head_dim == len)?;
        let d = c.head_dim;
        let pick = |o: usize| -> Vec<usize> {
            (0..c.num_heads)
                .flat_map(|h| (h * 3 * d + o * d)..(h * 3 * d + o * d + d))
                .collect()
        };
        let parts = ["q", "k", "v"]
            .iter()
            .enumerate()
            .map(|(o, l)| Part {
                label: l.to_string(),
                axis,
                index: pick(o),
            })
            .collect();
        return Some((
            parts,
            format!(
                "fused Q,K,V interleaved per head ({} heads of {d}, config.json)",
                c.num_heads
            ),
        ));
    }
    let parts = vec![
        contiguous("q", axis, 0, q),
        contiguous("k", axis, q, k),
        contiguous("v", axis, q + k, v),
    ];
    let how = if cfg.is_some() {
        "config.json"
    } else {
        "equal thirds: no config.json"
    };
    Some((
        parts,
        format!(
            "fused Q,K,V along {} ({q}+{k}+{v}, {how})",
            if axis == 0 { "rows" } else { "columns" }
        ),
    ))
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

/// Mixture-of-experts weights stacked in one 3-D tensor (experts, out, in): GGUF's
/// `ffn_up_exps`, Hugging Face's `experts.*`. Each expert is its own matrix, not a conv map.
pub fn is_expert_stack(name: &str, shape: &[usize]) -> bool {
    shape.len() == 3 && (name.contains("_exps") || name.contains("experts"))
}

/// Whether a conv kernel is stored channels-last: the reader says so (Keras), else
/// weightwatcher's shape rule.
fn channels_last(role: Option<&str>, shape: &[usize]) -> bool {
    role.is_some_and(|r| r.contains("channels last")) || !conv_channels_first(shape)
}

/// (rows, cols, maps) of a tensor's matrices before orientation.
fn matrix_dims(name: &str, shape: &[usize], role: Option<&str>) -> (usize, usize, usize) {
    let last = channels_last(role, shape);
    match shape.len() {
        2 => (shape[0], shape[1], 1),
        3 if is_expert_stack(name, shape) => (shape[1], shape[2], shape[0]),
        3 if !last => (shape[0], shape[1], shape[2]),
        3 => (shape[1], shape[2], shape[0]),
        4 if !last => (shape[0], shape[1], shape[2] * shape[3]),
        4 => (shape[2], shape[3], shape[0] * shape[1]),
        _ => (0, 0, 0),
    }
}

/// Plan every tensor of a checkpoint. Tensors that are not analysed carry a `skip` reason.
pub fn plan_layers(tensors: &[TensorInfo], opts: &LayerOptions) -> Vec<LayerPlan> {
    let mut plans = Vec::new();
    let named_weights = !opts.all_tensors && tensors.iter().any(|t| t.name.ends_with(".weight"));
    let is_weight_name = |n: &str| {
        n.ends_with(".weight") || is_recurrent_name(n) || last_component(n) == "in_proj_weight"
    };
    for (id, t) in tensors.iter().enumerate() {
        let name = t
            .name
            .strip_suffix(".weight")
            .unwrap_or(&t.name)
            .to_string();
        let (rows, cols, maps) = matrix_dims(&t.name, &t.shape, t.role.as_deref());
        let experts = is_expert_stack(&t.name, &t.shape);
        let kind = match t.shape.len() {
            3 if experts => Some(LayerKind::Dense),
            2 if is_recurrent_name(&t.name) => Some(LayerKind::Recurrent),
            2 if is_fused_qkv_name(&t.name) => Some(LayerKind::AttentionQkv),
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
            part: None,
            note: None,
            role: t.role.clone(),
            lora: None,
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
        } else if named_weights && !is_weight_name(&t.name) && t.role.is_none() {
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
        // What the graph says the tensor is (ONNX: MatMul/Gemm/Conv weight).
        if let Some(role) = &t.role {
            plan.note = Some(role.clone());
        }
        // Blocks analysed on their own: the gates of a recurrent weight, Q/K/V of a fused
        // projection. The stacked matrix keeps its own row.
        let mut parts = Vec::new();
        if t.shape.len() == 2 && plan.skip.is_none() {
            if plan.kind == Some(LayerKind::Recurrent) {
                if let Some(g) = recurrent_gates(t, tensors).filter(|&g| g > 1) {
                    plan.note = Some(format!(
                        "{} gates of {} stacked (--split-gates)",
                        g,
                        t.shape[0] / g
                    ));
                    if opts.split_gates {
                        parts = gate_parts(t, g).unwrap_or_default();
                    }
                }
            } else if plan.kind == Some(LayerKind::AttentionQkv) {
                match qkv_parts(t, opts.attention) {
                    Some((p, how)) => {
                        plan.note = Some(format!("{how} (--split-fused)"));
                        if opts.split_fused {
                            parts = p;
                        }
                    }
                    None => {
                        plan.note = Some("fused Q,K,V of unknown layout (no config.json)".into())
                    }
                }
            }
        }
        if experts && plan.skip.is_none() {
            // One row per expert: they are separate matrices, not maps of one kernel.
            plan.note = Some(format!("{maps} experts of {rows}×{cols}"));
            plan.num_evals = m;
            plan.skip = (m < opts.min_evals)
                .then(|| format!("{m} eigenvalue(s) < --min-evals {}", opts.min_evals));
        }
        if (opts.conv_maps || experts) && maps > 1 && plan.skip.is_none() {
            for s in 0..maps {
                let mut p = plan.clone();
                p.slice_id = Some(s);
                p.num_evals = m;
                plans.push(p);
            }
        } else {
            plans.push(plan.clone());
        }
        for (k, part) in parts.into_iter().enumerate() {
            let (r, c) = if part.axis == 0 {
                (part.index.len(), t.shape[1])
            } else {
                (t.shape[0], part.index.len())
            };
            let mut p = plan.clone();
            p.name = format!("{}.{}", plan.name, part.label);
            p.n = r.max(c);
            p.m = r.min(c);
            p.num_evals = p.m;
            p.slice_id = Some(k);
            p.skip = (p.m < opts.min_evals)
                .then(|| format!("{} eigenvalue(s) < --min-evals {}", p.m, opts.min_evals));
            p.part = Some(part);
            plans.push(p);
        }
    }
    if tensors.iter().any(|t| t.name.contains("lora_")) {
        lora::pair_factors(&mut plans, tensors, opts.min_evals);
    }
    plans
}

/// Scale applied to convolution weights (weightwatcher's `conv2d_norm`): √(count/2) with
/// count = 1 when maps are pooled and rf when each map is analysed alone.
pub fn conv_scale(plan: &LayerPlan, opts: &LayerOptions) -> f64 {
    if !opts.conv_norm || !matches!(plan.kind, Some(LayerKind::Conv1d | LayerKind::Conv2d)) {
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
    let (rows, cols, maps) = matrix_dims(&plan.longname, shape, plan.role.as_deref());
    let last = channels_last(plan.role.as_deref(), shape);
    let experts = is_expert_stack(&plan.longname, shape);
    let scale = conv_scale(plan, opts);
    debug_assert_eq!(data.len(), rows * cols * maps);
    // Element (r, c) of map k in the row-major data.
    let at = |k: usize, r: usize, c: usize| -> f64 {
        match shape.len() {
            2 => data[r * cols + c],
            // (rows, cols, maps) layout: channels first.
            _ if !experts && !last => data[(r * cols + c) * maps + k],
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
    if let Some(part) = &plan.part {
        // A block of a 2-D weight: the selected rows or columns, oriented N ≥ M.
        let (r, c) = if part.axis == 0 {
            (part.index.len(), cols)
        } else {
            (rows, part.index.len())
        };
        let at = |i: usize, j: usize| -> f64 {
            if part.axis == 0 {
                data[part.index[i] * cols + j]
            } else {
                data[i * cols + part.index[j]]
            }
        };
        return vec![if r >= c {
            Mat::from_fn(r, c, at)
        } else {
            Mat::from_fn(c, r, |j, i| at(i, j))
        }];
    }
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
    fn recurrent_gates_and_fused_qkv_are_split() {
        let t = [
            info("lstm.weight_ih_l0", &[32, 10]),
            info("lstm.weight_hh_l0", &[32, 8]),
            info("h.0.attn.c_attn.weight", &[16, 48]),
            info("layers.0.qkv_proj.weight", &[60, 20]),
            info("other.weight", &[8, 8]),
        ];
        let opts = LayerOptions {
            split_gates: true,
            split_fused: true,
            min_evals: 1,
            ..Default::default()
        };
        let p = plan_layers(&t, &opts);
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert!(
            names.contains(&"lstm.weight_ih_l0.gate_i")
                && names.contains(&"lstm.weight_hh_l0.gate_o")
        );
        assert_eq!(
            p.iter()
                .filter(|p| p.kind == Some(LayerKind::Recurrent))
                .count(),
            10
        );
        let q = p.iter().find(|p| p.name == "h.0.attn.c_attn.q").unwrap();
        assert_eq!((q.part.as_ref().unwrap().axis, q.n, q.m), (1, 16, 16));
        let v = p.iter().find(|p| p.name == "layers.0.qkv_proj.v").unwrap();
        assert_eq!((v.part.as_ref().unwrap().axis, v.n, v.m), (0, 20, 20));
        // The v block is rows 40..60 of the (60, 20) weight.
        let data: Vec<f64> = (0..1200).map(|x| x as f64).collect();
        let m = &layer_matrices(v, &data, &opts)[0];
        assert_eq!(m[(0, 0)], (40 * 20) as f64);
        // Without the flags: one row each, with a note saying what they are.
        let plain = plan_layers(&t, &LayerOptions::default());
        assert_eq!(plain.len(), 5);
        assert!(plain[0].note.as_deref().unwrap().contains("4 gates"));
        assert!(plain[2].note.as_deref().unwrap().contains("fused Q,K,V"));
    }

    #[test]
    fn interleaved_query_key_value_uses_the_head_layout() {
        // 2 heads of dim 3, hidden 6: rows [q0 k0 v0 q1 k1 v1] in blocks of 3.
        let t = [info(
            "gpt_neox.layers.0.attention.query_key_value.weight",
            &[18, 6],
        )];
        let opts = LayerOptions {
            split_fused: true,
            min_evals: 1,
            attention: Some(AttentionConfig {
                num_heads: 2,
                num_kv_heads: 2,
                head_dim: 3,
            }),
            ..Default::default()
        };
        let p = plan_layers(&t, &opts);
        let k = p.iter().find(|p| p.name.ends_with(".k")).unwrap();
        assert_eq!(k.part.as_ref().unwrap().index, vec![3, 4, 5, 12, 13, 14]);
        let cfg = AttentionConfig::from_json(&serde_json::json!({"num_attention_heads": 32, "hidden_size": 4096, "num_key_value_heads": 8})).unwrap();
        assert_eq!(
            (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim),
            (32, 8, 128)
        );
    }

    #[test]
    fn a_channels_last_role_overrides_the_shape_rule() {
        // (k=3, in=8, out=6): the shape rule alone would read it channels-first.
        let mut t = info("conv1d.weight", &[3, 8, 6]);
        assert_eq!(
            (plan_layers(std::slice::from_ref(&t), &LayerOptions::default())[0].rf),
            6
        );
        t.role = Some("Keras kernel (channels last)".into());
        let p = &plan_layers(std::slice::from_ref(&t), &LayerOptions::default())[0];
        assert_eq!((p.n, p.m, p.rf), (8, 6, 3));
        let data: Vec<f64> = (0..144).map(|x| x as f64).collect();
        let opts = LayerOptions {
            conv_norm: false,
            ..Default::default()
        };
        let m = &layer_matrices(p, &data, &opts)[1];
        // Map k = 1 is W[1, :, :]: element (in=2, out=5) at (1·8 + 2)·6 + 5.
        assert_eq!(m[(2, 5)], ((8 + 2) * 6 + 5) as f64);
    }

    #[test]
    fn expert_stacks_give_one_row_per_expert() {
        let t = [info("blk.0.ffn_up_exps.weight", &[3, 20, 10])];
        let p = plan_layers(&t, &LayerOptions::default());
        assert_eq!(p.len(), 3);
        assert_eq!(
            (p[1].n, p[1].m, p[1].slice_id, p[1].kind),
            (20, 10, Some(1), Some(LayerKind::Dense))
        );
        let data: Vec<f64> = (0..600).map(|x| x as f64).collect();
        let m = &layer_matrices(&p[2], &data, &LayerOptions::default())[0];
        // Expert 2, element (5, 7): data[(2·20 + 5)·10 + 7], no conv scaling.
        assert_eq!(m[(5, 7)], ((2 * 20 + 5) * 10 + 7) as f64);
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
