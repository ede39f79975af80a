//! Listing the tensors of an open HDF5 file: [`list`] tells the layout apart (legacy
//! `model_weights` / `layer_names`, Keras 3 `vars` trees, or any HDF5 file) and walks it with
//! a [`Lister`], which records each dataset as a tensor or, when it cannot be read, as a
//! tensor with a problem; [`dedupe`] then makes the names unique. The Keras 3 and legacy
//! walks are in their own modules.

use super::config::Cfg;
use super::hdf5_meta::{describe, string_attr, string_list, DsInfo};
use super::layer_names::{natural_cmp, strip_output_index, weight_name};
use super::{Entry, CHANNELS_LAST_ROLE, MAX_DEPTH};
use crate::{DType, Error, Result, TensorInfo};
use hdf5_reader::group::Group;
use hdf5_reader::Hdf5File;
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub(super) type Listed = (TensorInfo, Entry);

pub(super) struct Lister<'a> {
    pub(super) path: &'a Path,
    pub(super) h5: &'a Hdf5File,
    pub(super) out: Vec<Listed>,
    /// Groups already walked (by address): HDF5 hard links may alias or loop.
    pub(super) seen: HashSet<u64>,
}

impl Lister<'_> {
    pub(super) fn problem(&mut self, name: String, message: String) {
        self.out.push((
            TensorInfo {
                role: None,
                name,
                shape: Vec::new(),
                dtype: DType::Other("unknown".into()),
                file: self.path.to_path_buf(),
                problem: Some(message),
            },
            Entry {
                dataset: String::new(),
                big_endian: false,
            },
        ));
    }

    pub(super) fn push(
        &mut self,
        name: String,
        dataset: String,
        info: std::result::Result<DsInfo, String>,
    ) {
        match info {
            Ok(d) => self.out.push((
                TensorInfo {
                    // Keras keeps convolution kernels channels-last, (k, in, out) and
                    // (kh, kw, in, out): say so, the shape alone can be ambiguous.
                    role: (d.shape.len() >= 3 && name.ends_with(".weight"))
                        .then(|| CHANNELS_LAST_ROLE.to_string()),
                    name,
                    shape: d.shape,
                    dtype: d.dtype,
                    file: self.path.to_path_buf(),
                    problem: None,
                },
                Entry {
                    dataset,
                    big_endian: d.big_endian,
                },
            )),
            Err(e) => self.problem(name, e),
        }
    }

    pub(super) fn open_group(&mut self, parent: &Group, link: &str, hpath: &str) -> Option<Group> {
        match parent.group(link) {
            Ok(g) => Some(g),
            Err(e) => {
                self.problem(hpath.to_string(), format!("cannot open group: {e}"));
                None
            }
        }
    }

    pub(super) fn members(&mut self, g: &Group, hpath: &str) -> Option<(Vec<String>, Vec<String>)> {
        match g.member_names() {
            Ok((mut groups, mut datasets)) => {
                groups.sort_by(|a, b| natural_cmp(a, b));
                datasets.sort_by(|a, b| natural_cmp(a, b));
                Some((groups, datasets))
            }
            Err(e) => {
                self.problem(hpath.to_string(), format!("cannot list group: {e}"));
                None
            }
        }
    }

    /// Any HDF5 file: every dataset, by path.
    fn generic(&mut self, g: &Group, hpath: &str, components: &[String], depth: usize) {
        if depth > MAX_DEPTH {
            self.problem(
                hpath.to_string(),
                format!("groups nested deeper than {MAX_DEPTH}: not read"),
            );
            return;
        }
        let Some((groups, datasets)) = self.members(g, hpath) else {
            return;
        };
        for d in datasets {
            let dpath = format!("{hpath}/{d}");
            let info = g
                .dataset(&d)
                .map_err(|e| e.to_string())
                .and_then(|ds| describe(&ds));
            let rank = info.as_ref().ok().map(|i| i.shape.len());
            let mut parts: Vec<&str> = components.iter().map(String::as_str).collect();
            parts.push(weight_name(strip_output_index(&d), rank, false));
            self.push(parts.join("."), dpath, info);
        }
        for link in groups {
            let child_path = format!("{hpath}/{link}");
            let Some(child) = self.open_group(g, &link, &child_path) else {
                continue;
            };
            if !self.seen.insert(child.address()) {
                continue;
            }
            let mut c = components.to_vec();
            c.push(strip_output_index(&link).to_string());
            self.generic(&child, &child_path, &c, depth + 1);
        }
    }
}

/// List the tensors of an open file; returns the format's name for `describe`.
pub(super) fn list(
    path: &Path,
    h5: &Hdf5File,
    config: Option<&serde_json::Value>,
    archive: bool,
) -> Result<(&'static str, Vec<Listed>)> {
    let what = if archive {
        "model.weights.h5 in the archive: "
    } else {
        ""
    };
    let bad = |m: String| Error::format(path, format!("{what}{m}"));
    let root = h5
        .root_group()
        .map_err(|e| bad(format!("cannot read the HDF5 root group ({e})")))?;
    let mut lister = Lister {
        path,
        h5,
        out: Vec::new(),
        seen: HashSet::from([root.address()]),
    };
    // Children are looked up by name, not listed: one unreadable child (a truncated
    // optimizer state, say) must not hide the others.
    let has = |n: &str| root.group(n).is_ok();
    let legacy_cfg = || {
        string_attr(&root, "model_config")
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .map(|v| Cfg::parse(&v, 0))
    };
    let format = if has("model_weights") {
        let mw = root
            .group("model_weights")
            .map_err(|e| bad(format!("cannot open model_weights ({e})")))?;
        let layers =
            string_list(&mw, "layer_names").map_err(|e| bad(format!("model_weights: {e}")))?;
        match layers {
            Some(layers) => {
                let cfg = legacy_cfg();
                lister.keras2(&mw, "/model_weights", layers, cfg.as_ref());
            }
            None => {
                lister.seen.insert(mw.address());
                lister.generic(&mw, "/model_weights", &[], 1);
            }
        }
        "keras (legacy h5)"
    } else if let Some(layers) =
        string_list(&root, "layer_names").map_err(|e| bad(format!("root group: {e}")))?
    {
        let cfg = legacy_cfg();
        lister.keras2(&root, "", layers, cfg.as_ref());
        "keras (legacy h5 weights)"
    } else if has("vars") || has("layers") {
        let cfg = config.map(|c| Cfg::parse(c, 0));
        let class = cfg.as_ref().map(|c| c.class.as_str());
        lister.keras3(&root, "", &[], true, class, cfg.as_ref(), 0);
        if archive {
            "keras"
        } else {
            "keras (weights.h5)"
        }
    } else {
        lister.generic(&root, "", &[], 0);
        "hdf5"
    };
    Ok((format, lister.out))
}

/// Make names unique: a repeated `a.b.weight` becomes `a.b_1.weight`, `a.b_2.weight`, ….
pub(super) fn dedupe(mut listed: Vec<Listed>) -> Vec<Listed> {
    let mut used: HashMap<String, usize> = HashMap::new();
    for (t, _) in &listed {
        *used.entry(t.name.clone()).or_default() += 1;
    }
    let mut seen: HashSet<String> = HashSet::new();
    for (t, _) in &mut listed {
        if seen.insert(t.name.clone()) {
            continue;
        }
        let (stem, last) = match t.name.rsplit_once('.') {
            Some((s, l)) => (s.to_string(), format!(".{l}")),
            None => (t.name.clone(), String::new()),
        };
        let mut k = 1;
        let name = loop {
            let candidate = format!("{stem}_{k}{last}");
            if !used.contains_key(&candidate) && !seen.contains(&candidate) {
                break candidate;
            }
            k += 1;
        };
        seen.insert(name.clone());
        t.name = name;
    }
    listed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedupes_names() {
        let t = |n: &str| {
            (
                TensorInfo {
                    role: None,
                    name: n.into(),
                    shape: vec![],
                    dtype: DType::F32,
                    file: "x".into(),
                    problem: None,
                },
                Entry {
                    dataset: String::new(),
                    big_endian: false,
                },
            )
        };
        let out = dedupe(vec![t("a.weight"), t("a.weight"), t("a_1.weight")]);
        let names: Vec<_> = out.iter().map(|(t, _)| t.name.as_str()).collect();
        assert_eq!(names, ["a.weight", "a_2.weight", "a_1.weight"]);
    }
}
