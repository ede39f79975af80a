//! Names of Keras variables: which layer classes weightscope knows, the variables each writes
//! (`vars/0` of a Dense is `kernel`, …), the class a group implies by its snake-case name or
//! its parent, and the small string helpers (repeat numbers, TensorFlow's `:0`, natural
//! order) shared by the Keras 3 and legacy walks.

use super::config::Cfg;

/// Layer classes whose variables weightscope names, with Keras' snake-case group names.
const CLASSES: &[(&str, &str)] = &[
    ("Dense", "dense"),
    ("EinsumDense", "einsum_dense"),
    ("Conv1D", "conv1d"),
    ("Conv2D", "conv2d"),
    ("Conv3D", "conv3d"),
    ("Conv1DTranspose", "conv1d_transpose"),
    ("Conv2DTranspose", "conv2d_transpose"),
    ("Conv3DTranspose", "conv3d_transpose"),
    ("DepthwiseConv1D", "depthwise_conv1d"),
    ("DepthwiseConv2D", "depthwise_conv2d"),
    ("SeparableConv1D", "separable_conv1d"),
    ("SeparableConv2D", "separable_conv2d"),
    ("Embedding", "embedding"),
    ("BatchNormalization", "batch_normalization"),
    ("LayerNormalization", "layer_normalization"),
    ("GroupNormalization", "group_normalization"),
    ("RMSNormalization", "rms_normalization"),
    ("LSTMCell", "lstm_cell"),
    ("GRUCell", "gru_cell"),
    ("SimpleRNNCell", "simple_rnn_cell"),
    ("LSTM", "lstm"),
    ("GRU", "gru"),
    ("SimpleRNN", "simple_rnn"),
    ("MultiHeadAttention", "multi_head_attention"),
    ("GroupedQueryAttention", "grouped_query_attention"),
];

/// The variables of a Keras 3 layer, in the order `save_own_variables` writes them.
fn known_vars(class: &str) -> Option<&'static [&'static str]> {
    Some(match class {
        "Dense" | "EinsumDense" | "Conv1D" | "Conv2D" | "Conv3D" | "Conv1DTranspose"
        | "Conv2DTranspose" | "Conv3DTranspose" | "DepthwiseConv1D" | "DepthwiseConv2D" => {
            &["kernel", "bias"]
        }
        "SeparableConv1D" | "SeparableConv2D" => &["depthwise_kernel", "pointwise_kernel", "bias"],
        "Embedding" => &["embeddings"],
        "BatchNormalization" => &["gamma", "beta", "moving_mean", "moving_variance"],
        "LayerNormalization" | "GroupNormalization" => &["gamma", "beta"],
        "RMSNormalization" => &["scale"],
        "LSTMCell" | "GRUCell" | "SimpleRNNCell" => &["kernel", "recurrent_kernel", "bias"],
        _ => return None,
    })
}

/// Classes whose kernels are einsum operands (named `weight` only when 2-D).
pub(super) fn is_einsum(class: Option<&str>) -> bool {
    matches!(
        class,
        Some("EinsumDense" | "MultiHeadAttention" | "GroupedQueryAttention")
    )
}

/// `dense_3` → `dense`: a snake-case group name without Keras' repeat number.
fn strip_number(name: &str) -> &str {
    match name.rsplit_once('_') {
        Some((stem, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => stem,
        _ => name,
    }
}

pub(super) fn class_of_snake(name: &str) -> Option<&'static str> {
    let stem = strip_number(name);
    CLASSES.iter().find(|(_, s)| *s == stem).map(|(c, _)| *c)
}

/// The class a child object has because of its parent's class.
pub(super) fn implied_class(parent: Option<&str>, link: &str) -> Option<&'static str> {
    match (parent?, link) {
        ("MultiHeadAttention" | "GroupedQueryAttention", l) if l.ends_with("_dense") => {
            Some("EinsumDense")
        }
        ("LSTM", "cell") => Some("LSTMCell"),
        ("GRU", "cell") => Some("GRUCell"),
        ("SimpleRNN", "cell") => Some("SimpleRNNCell"),
        _ => None,
    }
}

/// Names of a Keras 3 object's variables `vars/0..n` (`ranks[i]`: rank of variable i, if
/// its header could be read).
pub(super) fn var_names(
    class: Option<&str>,
    cfg: Option<&Cfg>,
    ranks: &[Option<usize>],
) -> Vec<String> {
    let n = ranks.len();
    let mut names: Vec<String> = (0..n).map(|i| format!("vars.{i}")).collect();
    if let Some(table) = class.and_then(known_vars) {
        let mut table: Vec<&str> = table.to_vec();
        if let Some(c) = cfg {
            table.retain(|v| match *v {
                "bias" => c.use_bias != Some(false),
                "beta" => c.center != Some(false),
                "gamma" => c.scale != Some(false),
                _ => true,
            });
        } else if n + 1 == table.len() && table.last() == Some(&"bias") {
            table.pop(); // use_bias=False
        }
        if n >= table.len() {
            for (slot, v) in names.iter_mut().zip(&table) {
                *slot = v.to_string();
            }
        }
        return names;
    }
    // Unknown class: by rank.
    if matches!(ranks.first(), Some(Some(2..=4))) {
        names[0] = "kernel".into();
        if n > 1 && ranks[1] == Some(1) {
            names[1] = "bias".into();
        }
    }
    names
}

/// The final name component of a variable: kernels and embeddings are `weight`.
pub(super) fn weight_name(var: &str, rank: Option<usize>, einsum: bool) -> &str {
    match var {
        "kernel" if !(einsum && rank != Some(2)) => "weight",
        "embeddings" => "weight",
        v => v,
    }
}

/// `kernel:0` → `kernel` (TensorFlow's output index).
pub(super) fn strip_output_index(c: &str) -> &str {
    match c.rsplit_once(':') {
        Some((stem, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => stem,
        _ => c,
    }
}

/// Natural order: `dense_2` before `dense_10`, `vars/2` before `vars/10`.
pub(super) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn key(s: &str) -> Vec<(String, u128)> {
        let mut out = Vec::new();
        let mut text = String::new();
        let mut digits = String::new();
        for ch in s.chars() {
            if ch.is_ascii_digit() {
                digits.push(ch);
            } else {
                if !digits.is_empty() {
                    out.push((
                        std::mem::take(&mut text),
                        digits.parse().unwrap_or(u128::MAX),
                    ));
                    digits.clear();
                }
                text.push(ch);
            }
        }
        out.push((text, digits.parse().unwrap_or(0)));
        out
    }
    key(a).cmp(&key(b)).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::super::container::has_hdf5_signature;
    use super::*;

    #[test]
    fn keras3_var_names() {
        let r = |v: &[usize]| v.iter().map(|&r| Some(r)).collect::<Vec<_>>();
        assert_eq!(
            var_names(Some("Dense"), None, &r(&[2, 1])),
            ["kernel", "bias"]
        );
        assert_eq!(var_names(Some("Dense"), None, &r(&[2])), ["kernel"]);
        let bn = var_names(Some("BatchNormalization"), None, &r(&[1, 1, 1, 1]));
        assert_eq!(bn, ["gamma", "beta", "moving_mean", "moving_variance"]);
        let cfg = Cfg {
            scale: Some(false),
            ..Cfg::default()
        };
        let bn = var_names(Some("BatchNormalization"), Some(&cfg), &r(&[1, 1, 1]));
        assert_eq!(bn, ["beta", "moving_mean", "moving_variance"]);
        assert_eq!(
            var_names(None, None, &r(&[4, 1, 1])),
            ["kernel", "bias", "vars.2"]
        );
        assert_eq!(var_names(None, None, &r(&[1, 2])), ["vars.0", "vars.1"]);
        // LoRA adds variables after the table's.
        assert_eq!(
            var_names(Some("Dense"), None, &r(&[2, 1, 2, 2])),
            ["kernel", "bias", "vars.2", "vars.3"]
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(strip_number("dense_12"), "dense");
        assert_eq!(strip_number("conv2d"), "conv2d");
        assert_eq!(
            class_of_snake("conv2d_transpose_3"),
            Some("Conv2DTranspose")
        );
        assert_eq!(strip_output_index("kernel:0"), "kernel");
        let mut v = vec!["dense_10", "dense_2", "dense", "vars"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["dense", "dense_2", "dense_10", "vars"]);
        assert!(has_hdf5_signature(b"\x89HDF\r\n\x1a\nrest"));
        assert!(!has_hdf5_signature(b"\x89HDF"));
    }
}
