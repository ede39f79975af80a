//! A Hugging Face model folder: `model.safetensors`, or the shards named by
//! `model.safetensors.index.json` (tensors in the index's order), or else every
//! `.safetensors` file in it, by name; without safetensors, `pytorch_model.bin` or the
//! shards named by `pytorch_model.bin.index.json`; else the first `.pt`, `.pth`, `.ckpt`,
//! `.gguf`, `.onnx`, `.keras` or `.h5` file; else every `.npz` or `.npy` file.

use super::pytorch::PyTorchFile;
use super::safetensors::SafetensorsFile;
use super::{npy, TensorInfo, TensorSource};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Several files read as one checkpoint.
pub struct MultiSource {
    format: String,
    parts: Vec<Box<dyn TensorSource>>,
    tensors: Vec<TensorInfo>,
    /// (part, index within part) of each tensor.
    index: Vec<(usize, usize)>,
}

impl MultiSource {
    /// Concatenate `parts`, or reorder by `order` (tensor names) when given; tensors not named
    /// in `order` follow in file order.
    pub fn new(
        format: &str,
        parts: Vec<Box<dyn TensorSource>>,
        order: Option<Vec<String>>,
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
            all.sort_by_key(|(t, _)| rank.get(t.name.as_str()).copied().unwrap_or(usize::MAX));
        }
        let (tensors, index) = all.into_iter().unzip();
        MultiSource {
            format: format.to_string(),
            parts,
            tensors,
            index,
        }
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
        let (p, i) = self.index[index];
        self.parts[p].read_f64(i)
    }
    fn reads_blocks(&self, index: usize) -> bool {
        let (p, i) = self.index[index];
        self.parts[p].reads_blocks(i)
    }
    fn read_block_f64(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        let (p, i) = self.index[index];
        self.parts[p].read_block_f64(i, rows, cols)
    }
}

fn files_with_ext(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let p = entry.map_err(|e| Error::io(dir, e))?.path();
        if p.is_file() && p.extension().and_then(|e| e.to_str()) == Some(ext) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The tensor order and the shard files (deduplicated, first use first) of a Hugging Face
/// `*.index.json`, whose `weight_map` maps each tensor name to its shard.
fn read_index(index_path: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let text = std::fs::read_to_string(index_path).map_err(|e| Error::io(index_path, e))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::format(index_path, format!("not valid JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::format(index_path, "no \"weight_map\" object"))?;
    let order: Vec<String> = map.keys().cloned().collect();
    let mut shards: Vec<String> = Vec::new();
    for v in map.values() {
        let s = v
            .as_str()
            .ok_or_else(|| Error::format(index_path, "weight_map values must be file names"))?;
        // Shard names come from the file: keep them inside the folder.
        if s.contains("..") || Path::new(s).is_absolute() {
            return Err(Error::format(
                index_path,
                format!("shard '{s}' is outside the folder"),
            ));
        }
        if !shards.iter().any(|x| x == s) {
            shards.push(s.to_string());
        }
    }
    Ok((order, shards))
}

/// Open a model folder.
pub fn open_folder(dir: &Path) -> Result<Box<dyn TensorSource>> {
    let index_path = dir.join("model.safetensors.index.json");
    if index_path.is_file() {
        let (order, shards) = read_index(&index_path)?;
        let mut parts: Vec<Box<dyn TensorSource>> = Vec::new();
        for s in &shards {
            parts.push(Box::new(SafetensorsFile::open(&dir.join(s))?));
        }
        return Ok(Box::new(MultiSource::new(
            "safetensors (sharded)",
            parts,
            Some(order),
        )));
    }
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(Box::new(SafetensorsFile::open(&single)?));
    }
    let st = files_with_ext(dir, "safetensors")?;
    if !st.is_empty() {
        let parts = st
            .iter()
            .map(|p| SafetensorsFile::open(p).map(|s| Box::new(s) as Box<dyn TensorSource>))
            .collect::<Result<Vec<_>>>()?;
        return Ok(Box::new(MultiSource::new("safetensors", parts, None)));
    }
    // PyTorch weights of the same folder layout (transformers' WEIGHTS_NAME and
    // WEIGHTS_INDEX_NAME), used only when there are no safetensors.
    let index_path = dir.join("pytorch_model.bin.index.json");
    if index_path.is_file() {
        let (order, shards) = read_index(&index_path)?;
        let mut parts: Vec<Box<dyn TensorSource>> = Vec::new();
        for s in &shards {
            parts.push(Box::new(PyTorchFile::open(&dir.join(s))?));
        }
        return Ok(Box::new(MultiSource::new(
            "pytorch (sharded)",
            parts,
            Some(order),
        )));
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
            parts.push(Box::new(npy::NpzFile::open(p)?));
        }
        for p in &npys {
            parts.push(Box::new(npy::NpyFile::open(p)?));
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
