//! The model's architecture as far as naming needs it: each layer's class, name, the options
//! that drop variables (`use_bias`, `center`, `scale`) and its sub-layers, from a `.keras`'s
//! `config.json` or a legacy file's `model_config` attribute. It refines variable names and
//! gives the layers' model order; files without it are still read.

use super::MAX_DEPTH;

/// A layer of the architecture (`config.json`, or the legacy `model_config` attribute).
#[derive(Debug, Default)]
pub(super) struct Cfg {
    pub(super) class: String,
    pub(super) name: String,
    /// `use_bias`, `center`, `scale` when the config gives them.
    pub(super) use_bias: Option<bool>,
    pub(super) center: Option<bool>,
    pub(super) scale: Option<bool>,
    /// Sub-layers: a model's `layers`, a wrapper's `layer`.
    pub(super) layers: Vec<Cfg>,
}

impl Cfg {
    pub(super) fn parse(v: &serde_json::Value, depth: usize) -> Cfg {
        let c = &v["config"];
        let flag = |k: &str| c.get(k).and_then(|b| b.as_bool());
        let mut layers = Vec::new();
        if depth < MAX_DEPTH {
            if let Some(list) = c.get("layers").and_then(|l| l.as_array()) {
                layers.extend(list.iter().map(|l| Cfg::parse(l, depth + 1)));
            }
            if let Some(inner) = c.get("layer").filter(|l| l.is_object()) {
                layers.push(Cfg::parse(inner, depth + 1));
            }
        }
        let name = c
            .get("name")
            .or_else(|| v.get("name"))
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        Cfg {
            class: v["class_name"].as_str().unwrap_or_default().to_string(),
            name: name.to_string(),
            use_bias: flag("use_bias"),
            center: flag("center"),
            scale: flag("scale"),
            layers,
        }
    }

    pub(super) fn position(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name == name)
    }
}
