//! The Keras 3 layout (`.keras` archives and `.weights.h5` files): a tree of objects, each
//! with its own variables in `<path>/vars/0, 1, …` and its layer name in `vars@name`, walked
//! in `config.json`'s layer order when there is one.

use super::config::Cfg;
use super::hdf5_meta::{describe, string_attr, DsInfo};
use super::layer_names::{class_of_snake, implied_class, is_einsum, var_names, weight_name};
use super::listing::Lister;
use super::MAX_DEPTH;
use hdf5_reader::group::Group;

impl Lister<'_> {
    /// A Keras 3 object (`is_object`: it has `vars`) or container of objects at `hpath`.
    /// `prefix`: the dotted names of the enclosing layers; `class`/`cfg`: the object's (or,
    /// for a container, its owner's) class and config.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn keras3(
        &mut self,
        g: &Group,
        hpath: &str,
        prefix: &[String],
        is_object: bool,
        class: Option<&str>,
        cfg: Option<&Cfg>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            self.problem(
                hpath.to_string(),
                format!("groups nested deeper than {MAX_DEPTH}: not read"),
            );
            return;
        }
        let Some((groups, _)) = self.members(g, hpath) else {
            return;
        };
        if is_object && groups.iter().any(|n| n == "vars") {
            self.keras3_vars(g, hpath, prefix, class, cfg);
        }
        // Children: objects (with `vars`) and containers, in config order when known.
        let mut children = Vec::new();
        for link in groups {
            if link == "vars" || (depth == 0 && link == "optimizer") {
                continue;
            }
            let child_path = format!("{hpath}/{link}");
            let Some(child) = self.open_group(g, &link, &child_path) else {
                continue;
            };
            if !self.seen.insert(child.address()) {
                continue;
            }
            let vars = child.group("vars").ok();
            let name = vars
                .as_ref()
                .map(|v| string_attr(v, "name").unwrap_or(link.clone()));
            children.push((link, child_path, child, name));
        }
        if let Some(c) = cfg {
            children.sort_by_key(|(_, _, _, name)| {
                name.as_deref()
                    .and_then(|n| c.position(n))
                    .unwrap_or(usize::MAX)
            });
        }
        for (link, child_path, child, name) in children {
            match name {
                Some(name) => {
                    let child_cfg = cfg.and_then(|c| c.position(&name).map(|i| &c.layers[i]));
                    let child_class = child_cfg
                        .and_then(|c| (!c.class.is_empty()).then_some(c.class.as_str()))
                        .or_else(|| implied_class(class, &link))
                        .or_else(|| class_of_snake(&link))
                        .or_else(|| class_of_snake(&name));
                    let mut p = prefix.to_vec();
                    p.push(name);
                    self.keras3(
                        &child,
                        &child_path,
                        &p,
                        true,
                        child_class,
                        child_cfg,
                        depth + 1,
                    );
                }
                None => self.keras3(&child, &child_path, prefix, false, class, cfg, depth + 1),
            }
        }
    }

    /// The own variables `<hpath>/vars/0, 1, …` of a Keras 3 object.
    fn keras3_vars(
        &mut self,
        g: &Group,
        hpath: &str,
        prefix: &[String],
        class: Option<&str>,
        cfg: Option<&Cfg>,
    ) {
        let vpath = format!("{hpath}/vars");
        let Some(vars) = self.open_group(g, "vars", &vpath) else {
            return;
        };
        let Some((_, datasets)) = self.members(&vars, &vpath) else {
            return;
        };
        let infos: Vec<(String, std::result::Result<DsInfo, String>)> = datasets
            .into_iter()
            .map(|d| {
                let info = vars
                    .dataset(&d)
                    .map_err(|e| e.to_string())
                    .and_then(|ds| describe(&ds));
                (d, info)
            })
            .collect();
        let ranks: Vec<Option<usize>> = infos
            .iter()
            .map(|(_, i)| i.as_ref().ok().map(|d| d.shape.len()))
            .collect();
        let names = var_names(class, cfg, &ranks);
        // The model's own variables (prefix empty) are named after the model.
        let stem = if prefix.is_empty() {
            string_attr(&vars, "name").unwrap_or_else(|| "model".into())
        } else {
            prefix.join(".")
        };
        for (((link, info), var), rank) in infos.into_iter().zip(names).zip(ranks) {
            let last = weight_name(&var, rank, is_einsum(class));
            self.push(format!("{stem}.{last}"), format!("{vpath}/{link}"), info);
        }
    }
}
