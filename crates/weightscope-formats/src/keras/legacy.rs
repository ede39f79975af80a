//! The legacy (Keras 2 / tf.keras) HDF5 layout of `model.save("x.h5")` and
//! `save_weights("x.h5")`: layers listed in `layer_names`, each layer's weights in its
//! `weight_names`, named `<layer>.<weight path after the layer's name>`.

use super::config::Cfg;
use super::hdf5_meta::{describe, string_list};
use super::layer_names::{is_einsum, strip_output_index, weight_name};
use super::listing::Lister;
use hdf5_reader::group::Group;

impl Lister<'_> {
    /// A legacy (Keras 2) weights group: `layer_names`, then each layer's `weight_names`.
    pub(super) fn keras2(
        &mut self,
        root: &Group,
        hpath: &str,
        layers: Vec<String>,
        cfg: Option<&Cfg>,
    ) {
        let mut layers = layers;
        // Keras 3's legacy writer keeps a subclassed model's own weights here.
        if !layers.iter().any(|l| l == "top_level_model_weights")
            && root.group("top_level_model_weights").is_ok()
        {
            layers.push("top_level_model_weights".into());
        }
        for layer in layers {
            let lpath = format!("{hpath}/{layer}");
            let Some(g) = self.open_group(root, &layer, &lpath) else {
                continue;
            };
            let weights = match string_list(&g, "weight_names") {
                Ok(w) => w.unwrap_or_default(),
                Err(e) => {
                    self.problem(lpath, format!("cannot read weight_names: {e}"));
                    continue;
                }
            };
            let class = cfg
                .and_then(|c| c.position(&layer).map(|i| c.layers[i].class.as_str()))
                .filter(|c| !c.is_empty());
            let prefix = if layer == "top_level_model_weights" {
                ""
            } else {
                layer.as_str()
            };
            for w in weights {
                let dpath = format!("{lpath}/{}", w.trim_start_matches('/'));
                let info = self
                    .h5
                    .dataset(&dpath)
                    .map_err(|e| format!("listed in weight_names of layer '{layer}': {e}"))
                    .and_then(|ds| describe(&ds));
                let rank = info.as_ref().ok().map(|d| d.shape.len());
                let name = legacy_name(prefix, &w, rank, is_einsum(class));
                self.push(name, dpath, info);
            }
        }
    }
}

/// The name of legacy weight `weight` (e.g. `dense/kernel:0`, `sequential/dense/kernel`)
/// of `layer`: the layer, then the weight's path after the layer's name.
fn legacy_name(layer: &str, weight: &str, rank: Option<usize>, einsum: bool) -> String {
    let comps: Vec<&str> = weight
        .split('/')
        .filter(|c| !c.is_empty())
        .map(strip_output_index)
        .collect();
    let rest = match comps.iter().position(|c| *c == layer) {
        Some(p) if p + 1 < comps.len() => &comps[p + 1..],
        _ => &comps[..],
    };
    let mut parts: Vec<&str> = Vec::new();
    if !layer.is_empty() {
        parts.push(layer);
    }
    parts.extend(rest);
    if let Some(last) = parts.last_mut() {
        if rest.is_empty() {
            // A weight named only by its layer.
        } else {
            *last = weight_name(last, rank, einsum);
        }
    }
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names() {
        assert_eq!(
            legacy_name("dense", "dense/kernel:0", Some(2), false),
            "dense.weight"
        );
        assert_eq!(
            legacy_name("dense", "sequential/dense/kernel", Some(2), false),
            "dense.weight"
        );
        assert_eq!(
            legacy_name("lstm", "lstm/lstm_cell/recurrent_kernel:0", Some(2), false),
            "lstm.lstm_cell.recurrent_kernel"
        );
        assert_eq!(
            legacy_name("inner", "dense_3/kernel:0", Some(2), false),
            "inner.dense_3.weight"
        );
        assert_eq!(
            legacy_name("mha", "mha/query/kernel", Some(3), true),
            "mha.query.kernel"
        );
        assert_eq!(
            legacy_name("emb", "emb/embeddings:0", Some(2), false),
            "emb.weight"
        );
        assert_eq!(legacy_name("", "w:0", Some(2), false), "w");
    }
}
