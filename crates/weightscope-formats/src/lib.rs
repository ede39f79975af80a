//! Readers of neural-network checkpoint files. Each format implements [`TensorSource`]: it lists the
//! tensors (name, shape, dtype) without reading their data, and reads one tensor at a time
//! as row-major f64 on request — so memory holds one layer, not the model.
//!
//! [`open`] picks the reader from the path: a file by its extension (and magic bytes), a
//! folder as a Hugging Face model folder.

mod blocks;
mod convert;
pub mod error;
pub mod folder;
pub mod gguf;
pub mod hub;
pub mod identity;
pub mod keras;
mod mapped;
pub mod npy;
pub mod onnx;
mod pickle;
mod protobuf;
pub mod pytorch;
#[cfg(feature = "remote")]
pub mod remote;
pub mod safetensors;

pub use error::{Error, Result};
pub use identity::{identity, Identity};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// deflate cannot compress by more than ~1032:1; a zip entry claiming more is corrupt or
/// hostile (a deflate bomb), and is refused before anything is inflated.
pub(crate) const MAX_DEFLATE_RATIO: u64 = 1100;

/// Element type of a stored tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum DType {
    F64,
    F32,
    F16,
    BF16,
    /// A block-quantized llama.cpp (GGUF) type by its ggml name ("Q4_K", "Q8_0", …): read as
    /// the dequantized floats. Types the GGUF reader cannot dequantize (IQ*, TQ*, MXFP4, …)
    /// are listed with their name too, and their tensors carry a per-tensor problem.
    Quantized(String),
    /// Anything else (integers, fp8, …), by its name in the file; not analysed.
    Other(String),
}

impl DType {
    /// Whether weightscope can read this type as weights (floats, and quantized types, which
    /// are read dequantized).
    pub fn is_float(&self) -> bool {
        !matches!(self, DType::Other(_))
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DType::F64 => f.write_str("F64"),
            DType::F32 => f.write_str("F32"),
            DType::F16 => f.write_str("F16"),
            DType::BF16 => f.write_str("BF16"),
            DType::Quantized(s) | DType::Other(s) => f.write_str(s),
        }
    }
}

/// A tensor as listed by a reader.
#[derive(Debug, Clone, Serialize)]
pub struct TensorInfo {
    /// Name in the checkpoint (e.g. `encoder.layer.0.attention.self.query.weight`).
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// File holding it (a shard, for sharded checkpoints).
    pub file: PathBuf,
    /// Set when the listing already shows the tensor cannot be read (e.g. its data lies past
    /// the end of a truncated file); reading it returns this error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// What the model's graph uses the tensor as, where the format says it (ONNX: "Gemm B
    /// (transB=1)", "MatMul B", "Conv W"); tells the layout (out,in) vs (in,out). `None` for
    /// formats without a graph and for tensors that are not such weights (biases, shapes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl TensorInfo {
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A checkpoint: a list of tensors, each readable on its own.
pub trait TensorSource: Send + Sync {
    /// The format, for `describe` ("safetensors", "npz", …).
    fn format_name(&self) -> &str;
    /// The files read, in order.
    fn files(&self) -> Vec<PathBuf>;
    /// The tensors, in the checkpoint's order.
    fn tensors(&self) -> &[TensorInfo];
    /// Read tensor `index` of [`tensors`](Self::tensors) as row-major f64.
    fn read_f64(&self, index: usize) -> Result<Vec<f64>>;
    /// Whether [`read_block_f64`](Self::read_block_f64) reads only the block asked for, so that
    /// a caller can stream a tensor larger than memory through a small buffer.
    fn reads_blocks(&self, _index: usize) -> bool {
        false
    }
    /// Read the block `rows` × `cols` of tensor `index`, viewed as a matrix of `shape[0]` rows
    /// (and the product of the other dimensions as columns), as row-major f64. The default
    /// reads the whole tensor and keeps the block.
    fn read_block_f64(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        let info = &self.tensors()[index];
        check_block(info, &rows, &cols)?;
        let width = row_len(info);
        let all = self.read_f64(index)?;
        Ok(rows
            .flat_map(|r| {
                all[r * width + cols.start..r * width + cols.end]
                    .iter()
                    .copied()
            })
            .collect())
    }
    /// Tell the reader the most stored bytes of one tensor it may hold to serve that
    /// tensor's blocks (a remote reader fetches a tensor whole once, under this limit, rather
    /// than panel by panel). The default keeps nothing.
    fn limit_block_cache(&self, _bytes: usize) {}
    /// Bytes the reader holds while serving blocks of tensor `index` (beyond the blocks
    /// themselves), for the memory estimate of a streamed layer.
    fn block_cache_bytes(&self, _index: usize) -> usize {
        0
    }
    /// Bytes fetched so far, for a checkpoint read over the network (headers, indexes,
    /// config.json and tensor data); `None` for local files.
    fn bytes_read(&self) -> Option<u64> {
        None
    }
    /// The text of the model's Hugging Face `config.json`, read for the attention head layout
    /// of fused projections: the file beside the first file read (or in the folder read); a
    /// remote checkpoint fetches the one beside it. `None` when there is none, it is not
    /// text, or it is over [`MAX_CONFIG_BYTES`].
    fn model_config_text(&self) -> Option<String> {
        let first = self.files().into_iter().next()?;
        let dir = if first.is_dir() {
            first
        } else {
            first.parent()?.to_path_buf()
        };
        let file = std::fs::File::open(dir.join("config.json")).ok()?;
        let len = file.metadata().ok()?.len();
        if !file.metadata().ok()?.is_file() || len > MAX_CONFIG_BYTES as u64 {
            return None;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, len), &mut text).ok()?;
        Some(text)
    }
}

/// The largest `config.json` read: real ones are a few KB (a multimodal model's, with its
/// vision and text configs, tens of KB), so a bigger file is not a model config.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// Whether `path` names a remote checkpoint (`http://`, `https://` or `s3://`) rather
/// than a file.
pub fn is_remote(path: &Path) -> bool {
    let s = path.to_string_lossy();
    ["http://", "https://", "s3://"]
        .iter()
        .any(|p| s.len() > p.len() && s[..p.len()].eq_ignore_ascii_case(p))
}

/// The one rule for a tensor name that appears more than once in a checkpoint (a JSON header
/// with a repeated key, two npz entries of one name, pickled names that collide once
/// flattened, the same tensor in two shards, a GGUF listing it twice): the first occurrence,
/// in the checkpoint's order, is analysed, and every later one becomes an error row naming the
/// file of the first. The formats' own loaders disagree on which copy counts (JSON, zip and
/// pickle dicts keep the last, gguf-py and llama.cpp refuse the file), so none is dropped in
/// silence. A later occurrence loses its shape (an error row, never a skipped one); the
/// indices marked are returned.
pub(crate) fn mark_duplicate_names(tensors: &mut [TensorInfo]) -> Vec<usize> {
    let mut first: std::collections::HashMap<String, PathBuf> = Default::default();
    let mut marked = Vec::new();
    for (i, t) in tensors.iter_mut().enumerate() {
        match first.get(&t.name) {
            Some(file) => {
                t.problem = Some(format!(
                    "duplicate tensor name (first in {})",
                    file.display()
                ));
                t.shape = Vec::new();
                marked.push(i);
            }
            None => {
                first.insert(t.name.clone(), t.file.clone());
            }
        }
    }
    marked
}

/// Elements per row of a tensor viewed as `shape[0]` rows.
fn row_len(info: &TensorInfo) -> usize {
    info.shape.iter().skip(1).product()
}

/// That the block lies inside the tensor viewed as `shape[0]` × [`row_len`].
fn check_block(
    info: &TensorInfo,
    rows: &std::ops::Range<usize>,
    cols: &std::ops::Range<usize>,
) -> Result<()> {
    let n = info.shape.first().copied().unwrap_or(0);
    let width = row_len(info);
    if rows.start > rows.end || rows.end > n || cols.start > cols.end || cols.end > width {
        return Err(Error::tensor(
            &info.file,
            &info.name,
            format!("block rows {rows:?} × columns {cols:?} out of its {n} × {width}"),
        ));
    }
    Ok(())
}

/// Open a checkpoint file or model folder, or a remote checkpoint by its URL (see
/// [`remote`]).
pub fn open(path: &Path) -> Result<Box<dyn TensorSource>> {
    if is_remote(path) {
        #[cfg(feature = "remote")]
        return remote::open_url(&path.to_string_lossy());
        #[cfg(not(feature = "remote"))]
        return Err(Error::format(
            path,
            "remote checkpoints need weightscope built with the `remote` feature",
        ));
    }
    // A path that does not exist may be a hub id `org/name[@revision]` of the local Hugging
    // Face cache: every command and the Python API take one wherever they take a path.
    let located = hub::locate(path)?;
    let path = located.as_path();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return folder::open_folder(path);
    }
    // A FIFO, socket or device is refused before it is opened (opening a FIFO blocks).
    if !meta.is_file() {
        return Err(mapped::not_regular(path, &meta));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "safetensors" => Ok(Box::new(safetensors::SafetensorsFile::open(path)?)),
        "npy" => Ok(Box::new(npy::NpyFile::open(path)?)),
        "npz" => Ok(Box::new(npy::NpzFile::open(path)?)),
        "gguf" => Ok(Box::new(gguf::GgufFile::open(path)?)),
        "onnx" => Ok(Box::new(onnx::OnnxFile::open(path)?)),
        // zip or legacy container: told apart by the magic bytes, not the extension.
        "bin" | "pt" | "pth" | "ckpt" => Ok(Box::new(pytorch::PyTorchFile::open(path)?)),
        // Keras: a .keras archive or an HDF5 file, told apart by their signatures.
        "keras" | "h5" | "hdf5" => Ok(Box::new(keras::KerasFile::open(path)?)),
        _ => Err(Error::format(
            path,
            "unknown file type: expected .safetensors, .npy, .npz, .pt, .pth, .bin, .ckpt, .gguf, \
             .onnx, .keras, .h5 or a model folder",
        )),
    }
}
