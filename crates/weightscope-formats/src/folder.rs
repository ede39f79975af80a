//! A Hugging Face model folder: `model.safetensors`, or the shards named by
//! `model.safetensors.index.json` (tensors in the index's order), or else every
//! `.safetensors` file in it, by name; without safetensors, `pytorch_model.bin` or the
//! shards named by `pytorch_model.bin.index.json`; else the first `.pt`, `.pth`, `.ckpt`,
//! `.gguf`, `.onnx`, `.keras` or `.h5` file; else every `.npz` or `.npy` file.
//!
//! A shard or file of several that cannot be opened does not fail the folder: its tensors
//! (by the index, else one entry named after the file) are listed with the error as their
//! problem, and so become error rows while the other files are analysed.

use super::pytorch::PyTorchFile;
use super::safetensors::SafetensorsFile;
use super::{npy, DType, TensorInfo, TensorSource};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Several files read as one checkpoint.
pub struct MultiSource {
    format: String,
    parts: Vec<Box<dyn TensorSource>>,
    tensors: Vec<TensorInfo>,
    /// (part, index within part) of each tensor.
    index: Vec<(usize, usize)>,
    /// Whether each tensor is a later occurrence of a name found in an earlier part (see
    /// [`crate::mark_duplicate_names`]): read as its error, not from its part.
    duplicate: Vec<bool>,
}

impl MultiSource {
    /// Concatenate `parts`, or reorder by `order` (tensor names) when given; tensors not named
    /// in `order` follow in file order.
    pub fn new(
        format: &str,
        parts: Vec<Box<dyn TensorSource>>,
        order: Option<Vec<String>>,
    ) -> Self {
        Self::ordered(format, parts, order, &HashMap::new())
    }

    /// As [`new`](Self::new); `home` gives the part an index assigns each name to, whose copy
    /// of a name that several parts hold comes first (and is the one analysed).
    pub(crate) fn ordered(
        format: &str,
        parts: Vec<Box<dyn TensorSource>>,
        order: Option<Vec<String>>,
        home: &HashMap<String, usize>,
    ) -> Self {
        let mut all: Vec<(TensorInfo, (usize, usize))> = Vec::new();
        for (p, part) in parts.iter().enumerate() {
            for (i, t) in part.tensors().iter().enumerate() {
                all.push((t.clone(), (p, i)));
            }
        }
        if let Some(order) = order {
            let rank: HashMap<&str, usize> = order
                .iter()
                .enumerate()
                .map(|(i, n)| (n.as_str(), i))
                .collect();
            // Stable sort: unnamed tensors keep their file order after the named ones.
            all.sort_by_key(|(t, (p, _))| {
                (
                    rank.get(t.name.as_str()).copied().unwrap_or(usize::MAX),
                    home.get(&t.name).is_some_and(|h| h != p),
                )
            });
        }
        let (mut tensors, index): (Vec<TensorInfo>, Vec<_>) = all.into_iter().unzip();
        let mut duplicate = vec![false; tensors.len()];
        for i in crate::mark_duplicate_names(&mut tensors) {
            duplicate[i] = true;
        }
        MultiSource {
            format: format.to_string(),
            parts,
            tensors,
            index,
            duplicate,
        }
    }

    /// The error of a later occurrence of a name, or `None` to read from the part.
    fn duplicate_error(&self, index: usize) -> Option<Error> {
        let t = &self.tensors[index];
        self.duplicate[index]
            .then(|| Error::tensor(&t.file, &t.name, t.problem.clone().unwrap_or_default()))
    }
}

impl TensorSource for MultiSource {
    fn format_name(&self) -> &str {
        &self.format
    }
    fn files(&self) -> Vec<PathBuf> {
        self.parts.iter().flat_map(|p| p.files()).collect()
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        if let Some(e) = self.duplicate_error(index) {
            return Err(e);
        }
        let (p, i) = self.index[index];
        self.parts[p].read_f64(i)
    }
    fn reads_blocks(&self, index: usize) -> bool {
        let (p, i) = self.index[index];
        !self.duplicate[index] && self.parts[p].reads_blocks(i)
    }
    fn read_block_f64(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        if let Some(e) = self.duplicate_error(index) {
            return Err(e);
        }
        let (p, i) = self.index[index];
        self.parts[p].read_block_f64(i, rows, cols)
    }
    fn limit_block_cache(&self, bytes: usize) {
        for p in &self.parts {
            p.limit_block_cache(bytes);
        }
    }
    fn block_cache_bytes(&self, index: usize) -> usize {
        let (p, i) = self.index[index];
        self.parts[p].block_cache_bytes(i)
    }
}

/// A part of a folder that could not be opened (a shard missing, corrupt, not a regular file
/// or outside the folder): its tensors, as far as they are known (the index's names for a
/// shard, else one entry named after the file), are listed with the error as their problem,
/// so that they become error rows while the other parts are analysed.
pub(crate) struct FailedPart {
    file: PathBuf,
    tensors: Vec<TensorInfo>,
}

impl FailedPart {
    pub(crate) fn new(file: &Path, names: Vec<String>, error: &Error) -> Self {
        let message = match error {
            // The path is in the error row already: keep the reason only.
            Error::Io { source, .. } => source.to_string(),
            Error::Format { message, .. } | Error::Tensor { message, .. } => message.clone(),
            Error::Usage(m) => m.clone(),
        };
        let names = if names.is_empty() {
            vec![file_name(file)]
        } else {
            names
        };
        FailedPart {
            file: file.to_path_buf(),
            tensors: names
                .into_iter()
                .map(|name| TensorInfo {
                    name,
                    shape: Vec::new(),
                    dtype: DType::Other("unknown".into()),
                    file: file.to_path_buf(),
                    problem: Some(format!("cannot open the file: {message}")),
                    role: None,
                })
                .collect(),
        }
    }
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

impl TensorSource for FailedPart {
    fn format_name(&self) -> &str {
        "unreadable"
    }
    fn files(&self) -> Vec<PathBuf> {
        vec![self.file.clone()]
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        let t = &self.tensors[index];
        Err(Error::tensor(
            &self.file,
            &t.name,
            t.problem.clone().unwrap_or_default(),
        ))
    }
}

/// Open one part of a folder with `open`; a part that fails becomes a [`FailedPart`] listing
/// `names` (its tensors by the index, if any).
fn open_part<S: TensorSource + 'static>(
    path: &Path,
    names: Vec<String>,
    open: impl FnOnce(&Path) -> Result<S>,
) -> Box<dyn TensorSource> {
    match open(path) {
        Ok(s) => Box::new(s),
        Err(e) => Box::new(FailedPart::new(path, names, &e)),
    }
}

/// The files of `dir` named `*.ext`, by name. Anything but a directory counts, FIFOs and
/// broken links included, so that they are refused with an error naming them rather than
/// skipped in silence.
fn files_with_ext(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = entry.map_err(|e| Error::io(dir, e))?.path();
        if !p.is_dir() && p.extension().and_then(|e| e.to_str()) == Some(ext) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// A Hugging Face `*.index.json`: the tensor order, and the shards (first use first) with
/// the tensors the index puts in each.
pub(crate) struct Index {
    pub(crate) order: Vec<String>,
    pub(crate) shards: Vec<(String, Vec<String>)>,
}

impl Index {
    /// The shard (its position in `shards`) of each tensor name.
    pub(crate) fn homes(&self) -> HashMap<String, usize> {
        self.shards
            .iter()
            .enumerate()
            .flat_map(|(p, (_, names))| names.iter().map(move |n| (n.clone(), p)))
            .collect()
    }
}

/// Read an index, whose `weight_map` maps each tensor name to its shard.
fn read_index(index_path: &Path) -> Result<Index> {
    let text = std::fs::read_to_string(index_path).map_err(|e| Error::io(index_path, e))?;
    parse_index(index_path, &text)
}

/// Parse an index's text (`index_path` names it in errors).
pub(crate) fn parse_index(index_path: &Path, text: &str) -> Result<Index> {
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::format(index_path, format!("not valid JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::format(index_path, "no \"weight_map\" object"))?;
    let order: Vec<String> = map.keys().cloned().collect();
    let mut shards: Vec<(String, Vec<String>)> = Vec::new();
    for (name, v) in map {
        let s = v
            .as_str()
            .ok_or_else(|| Error::format(index_path, "weight_map values must be file names"))?;
        match shards.iter_mut().find(|(x, _)| x == s) {
            Some((_, names)) => names.push(name.clone()),
            None => shards.push((s.to_string(), vec![name.clone()])),
        }
    }
    Ok(Index { order, shards })
}

/// Whether a shard name from an index stays inside the folder: made of plain names only (no
/// `..`, root or drive component). A `..` inside a name (`model..v2.safetensors`) is legal.
pub(crate) fn inside_folder(shard: &str) -> bool {
    let p = Path::new(shard);
    p.components().next().is_some()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Open the shards named by an index; a shard that cannot be opened (missing, corrupt, not a
/// regular file, outside the folder) gives error rows for the tensors the index puts in it.
fn open_indexed<S: TensorSource + 'static>(
    dir: &Path,
    index_path: &Path,
    format: &str,
    open: impl Fn(&Path) -> Result<S>,
) -> Result<Box<dyn TensorSource>> {
    let index = read_index(index_path)?;
    let home = index.homes();
    let parts = index
        .shards
        .into_iter()
        .map(|(shard, names)| {
            let path = dir.join(&shard);
            if inside_folder(&shard) {
                open_part(&path, names, &open)
            } else {
                let e = Error::format(
                    index_path,
                    format!("shard '{shard}' is outside the folder: refused"),
                );
                Box::new(FailedPart::new(&path, names, &e)) as Box<dyn TensorSource>
            }
        })
        .collect();
    Ok(Box::new(MultiSource::ordered(
        format,
        parts,
        Some(index.order),
        &home,
    )))
}

/// Open a model folder.
pub fn open_folder(dir: &Path) -> Result<Box<dyn TensorSource>> {
    let index_path = dir.join("model.safetensors.index.json");
    if index_path.is_file() {
        return open_indexed(
            dir,
            &index_path,
            "safetensors (sharded)",
            SafetensorsFile::open,
        );
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(Box::new(SafetensorsFile::open(&single)?));
    }
    let st = files_with_ext(dir, "safetensors")?;
    if !st.is_empty() {
        let parts = st
            .iter()
            .map(|p| open_part(p, Vec::new(), SafetensorsFile::open))
            .collect();
        return Ok(Box::new(MultiSource::new("safetensors", parts, None)));
    }
    // PyTorch weights of the same folder layout (transformers' WEIGHTS_NAME and
    // WEIGHTS_INDEX_NAME), used only when there are no safetensors.
    let index_path = dir.join("pytorch_model.bin.index.json");
    if index_path.is_file() {
        return open_indexed(dir, &index_path, "pytorch (sharded)", PyTorchFile::open);
    }
    let single = dir.join("pytorch_model.bin");
    if single.is_file() {
        return Ok(Box::new(PyTorchFile::open(&single)?));
    }
    // Then the other single-file formats a model folder may hold (the first by name).
    for ext in ["pt", "pth", "ckpt", "gguf", "onnx", "keras", "h5"] {
        if let Some(p) = files_with_ext(dir, ext)?.into_iter().next() {
            return crate::open(&p);
        }
    }
    let npz = files_with_ext(dir, "npz")?;
    let npys = files_with_ext(dir, "npy")?;
    if !npz.is_empty() || !npys.is_empty() {
        let mut parts: Vec<Box<dyn TensorSource>> = Vec::new();
        for p in &npz {
            parts.push(open_part(p, Vec::new(), npy::NpzFile::open));
        }
        for p in &npys {
            parts.push(open_part(p, Vec::new(), npy::NpyFile::open));
        }
        return Ok(Box::new(MultiSource::new("numpy", parts, None)));
    }
    Err(Error::format(
        dir,
        "no model.safetensors, model.safetensors.index.json, *.safetensors, pytorch_model.bin, \
         pytorch_model.bin.index.json, *.pt, *.pth, *.ckpt, *.gguf, *.onnx, *.keras, *.h5, *.npz \
         or *.npy here",
    ))
}
