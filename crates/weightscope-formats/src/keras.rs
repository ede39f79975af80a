//! Keras weights: `.keras` archives and `.weights.h5` files (Keras 3), and legacy `.h5` /
//! `.hdf5` files (Keras 2 / tf.keras `model.save("x.h5")` and `save_weights("x.h5")`).
//!
//! HDF5 is read with the pure-Rust, read-only `hdf5-reader` crate, so no libhdf5 is needed.
//! It was chosen over `hdf5-pure` and `rustyhdf5` after a trial on real Keras files and on
//! h5py-made variants: it alone read them all — contiguous, compact and chunked datasets,
//! gzip + shuffle + fletcher32 filters, f16 and big-endian data, dense attribute storage and
//! the layout-v5 datasets h5py 3.16 (HDF5 2.0) writes — where `hdf5-pure` 0.47 rejects layout
//! v5 and needs Rust 1.89 (the workspace supports 1.85) and `rustyhdf5` 1.93 (one release)
//! fails on gzip, fletcher32, f16 and dense attributes; it is actively released, MIT/Apache,
//! and bounds what a hostile file can make it allocate (`OpenOptions::max_read_bytes` …).
//!
//! # How Keras lays out weights
//!
//! **Keras 3.** A `.keras` file is a zip of `config.json` (the model's architecture),
//! `metadata.json` and `model.weights.h5`, stored uncompressed; `save_weights("x.weights.h5")`
//! writes that HDF5 file alone. Keras walks the model as a tree of objects: an object (a layer
//! or model) gets a group `<path>/vars` whose attribute `name` is the layer's name and whose
//! datasets `0`, `1`, … are its own variables in creation order — variable names are not
//! stored. Sub-objects live under `<path>/<attribute>`; a list of layers (a Sequential or
//! Functional model's `layers`) is a group whose members are named after the class in
//! snake case, numbered on repeats:
//!
//! ```text
//! vars                                  @name "sequential" (the model)
//! layers/dense/vars/0, 1                kernel (in, out), bias    vars@name "dense"
//! layers/dense_1/vars/0, 1              kernel, bias              vars@name "out"
//! layers/conv2d/vars/0                  kernel (kh, kw, in, out)
//! layers/lstm/cell/vars/0, 1, 2         kernel, recurrent_kernel, bias (the LSTMCell)
//! layers/multi_head_attention/query_dense/vars/0   EinsumDense kernel (d, heads, head_dim)
//! optimizer/vars/0 …                    optimizer state: skipped
//! ```
//!
//! A tensor is named by the chain of layer names (`vars@name`) below the model, dotted, and
//! its variable's name — `out.weight`, `lstm.lstm_cell.recurrent_kernel`, `mha.query.bias` —
//! which is the variable's Keras path (`variable.path`) and the weight name of the legacy
//! format, so a model gets the same tensor names from every file Keras writes. Variable names
//! come from the layer's class (table in [`known_vars`]: `vars/0` of Dense/Conv/EinsumDense is
//! `kernel`, of Embedding `embeddings`, BatchNormalization's are gamma, beta, moving_mean,
//! moving_variance, …). The class is read from `config.json` when there is one (a `.keras`),
//! which also gives options such as `use_bias` and the model's layer order; otherwise from the
//! group's name (the snake-case class), or from the parent (MultiHeadAttention's children are
//! EinsumDense, an RNN's `cell` its cell class). For a class not in the table, the rank
//! decides: a 2-D to 4-D `vars/0` is the kernel, a 1-D `vars/1` after it the bias, other
//! variables are `vars.<i>`. Without `config.json` (a `.weights.h5`), layers come in name
//! order, as HDF5 lists them, rather than in model order.
//!
//! **Keras 2 (legacy HDF5).** `model.save("x.h5")` writes a `model_weights` group whose
//! attribute `layer_names` lists the layers in order; each layer's group has an attribute
//! `weight_names` listing its weights in order, each the path of a dataset inside the layer's
//! group: `model_weights/dense/dense/kernel:0` for weight `dense/kernel:0` of layer `dense`
//! (Keras 3 writing this format prefixes the model's name and drops the `:0`:
//! `sequential/dense/kernel`). `save_weights("x.h5")` writes the same without `model_weights`
//! (the attributes are on the root). Lists too large for one HDF5 attribute are split into
//! `layer_names0`, `layer_names1`, …. The architecture is in the root's `model_config`
//! attribute; `optimizer_weights` is skipped. A tensor is named `<layer>.<the weight's path
//! after the layer's name, without ":0">`: `dense.weight`, `lstm.lstm_cell.recurrent_kernel`.
//!
//! **Names and shapes.** A variable named `kernel` or `embeddings` is given the name `weight`
//! (`<layer path>.weight`), so the analyser picks kernels and embeddings and skips biases,
//! normalisation parameters, running statistics and recurrent kernels, as it does for PyTorch
//! checkpoints — except EinsumDense kernels that are not 2-D (multi-head attention's
//! (d, heads, head_dim) projections are no convolutions), which keep the name `kernel`.
//! Shapes are kept as stored: Dense kernels are (in, out), the transpose of PyTorch's
//! (out, in), with the same singular values; Conv kernels are channels-last, (k, in, out) and
//! (kh, kw, in, out), which the analyser tells from channels-first by their dimensions.
//!
//! Other HDF5 files are read generically: every dataset, named by its path with dots.
//!
//! Not supported: `.keras` archives holding `model.weights.npz` (`weights_format="npz"`),
//! sharded weights (`.weights.json` and its shards), unzipped Keras folders, TensorFlow
//! SavedModel, HDF5 external links, and element types other than IEEE floats (integer
//! tensors, e.g. quantised kernels, are listed but not read). bfloat16, which Keras stores as
//! 2-byte opaque data with the dataset attribute `dtype = "bfloat16"`, is read.

use super::convert::{decode_le, elem_size};
use super::{DType, TensorInfo, TensorSource};
use crate::{Error, Result};
use hdf5_reader::group::Group;
use hdf5_reader::{ByteOrder, Dataset, Datatype, Hdf5File, OpenOptions};
use memmap2::Mmap;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const HDF5_SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
const ZIP_SIGNATURE: &[u8; 4] = b"PK\x03\x04";
/// The weights inside a `.keras` archive.
const WEIGHTS_ENTRY: &str = "model.weights.h5";
/// Largest `config.json` parsed.
const MAX_CONFIG_BYTES: u64 = 64 << 20;
/// Deepest group nesting followed (real models nest a few levels).
const MAX_DEPTH: usize = 48;

/// Bounds on what a file can make the reader allocate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest tensor read, in stored bytes; a larger one is an error for that tensor.
    pub max_tensor_bytes: u64,
    /// Largest compressed `model.weights.h5` inflated into memory (Keras stores it
    /// uncompressed, and then it is read in place).
    pub max_inflated_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tensor_bytes: 64 << 30,
            max_inflated_bytes: 8 << 30,
        }
    }
}

/// Bytes shared by the HDF5 reader: the file's map, or the inflated entry.
type Owner = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A byte range of an [`Owner`]: the HDF5 file, alone or inside a `.keras` archive.
struct Window {
    owner: Owner,
    start: usize,
    end: usize,
}

impl AsRef<[u8]> for Window {
    fn as_ref(&self) -> &[u8] {
        &(*self.owner).as_ref()[self.start..self.end]
    }
}

/// Where a listed tensor's data are.
struct Entry {
    /// Absolute HDF5 path of the dataset.
    dataset: String,
    big_endian: bool,
}

/// The `role` of a Keras convolution kernel: stored channels-last.
pub const CHANNELS_LAST_ROLE: &str = "Keras kernel (channels last)";

/// A Keras weights file: `.keras`, `.weights.h5`, legacy `.h5`, or any HDF5 file.
pub struct KerasFile {
    path: PathBuf,
    format: &'static str,
    h5: Hdf5File,
    tensors: Vec<TensorInfo>,
    entries: Vec<Entry>,
    limits: Limits,
}

impl KerasFile {
    /// Open a file (memory-mapped): a `.keras` archive or an HDF5 file, told by their
    /// signatures whatever the extension.
    pub fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: read-only map; see the safetensors reader.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Self::from_owner(path, Arc::new(map), Limits::default())
    }

    /// Read a file held in memory; `label` names it in errors. Used by the fuzz target.
    pub fn from_bytes(label: &Path, bytes: Vec<u8>, limits: Limits) -> Result<Self> {
        Self::from_owner(label, Arc::new(bytes), limits)
    }

    fn from_owner(path: &Path, owner: Owner, limits: Limits) -> Result<Self> {
        guarded(|| Self::parse(path, owner, limits)).unwrap_or_else(|m| Err(Error::format(path, m)))
    }

    fn parse(path: &Path, owner: Owner, limits: Limits) -> Result<Self> {
        let bytes: &[u8] = (*owner).as_ref();
        let len = bytes.len();
        let (h5, config, archive) = if bytes.starts_with(ZIP_SIGNATURE) {
            let (h5, config) = open_archive(path, &owner, limits)?;
            (h5, config, true)
        } else if has_hdf5_signature(bytes) {
            let window = Window {
                owner: owner.clone(),
                start: 0,
                end: len,
            };
            (open_hdf5(path, window, limits, "")?, None, false)
        } else {
            return Err(Error::format(
                path,
                "not a Keras weights file: neither HDF5 (no \\x89HDF signature) nor a .keras \
                 (zip) archive",
            ));
        };
        let (format, listed) = list(path, &h5, config.as_ref(), archive)?;
        let (tensors, entries) = dedupe(listed).into_iter().unzip();
        Ok(KerasFile {
            path: path.to_path_buf(),
            format,
            h5,
            tensors,
            entries,
            limits,
        })
    }
}

/// Run `f`, turning a panic (a bug in a parser, on a hostile file) into an error message, so
/// that a bad file is an error of that file or tensor, never an abort of the whole run.
fn guarded<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        format!("the HDF5 reader failed on this file ({what}); please report it")
    })
}

/// The HDF5 signature at byte 0, or at 512, 1024, 2048, … (after a user block).
fn has_hdf5_signature(bytes: &[u8]) -> bool {
    let mut at = 0usize;
    loop {
        match bytes.get(at..at + 8) {
            Some(s) if s == HDF5_SIGNATURE => return true,
            Some(_) => {}
            None => return false,
        }
        at = if at == 0 { 512 } else { at * 2 };
    }
}

fn open_hdf5(path: &Path, window: Window, limits: Limits, what: &str) -> Result<Hdf5File> {
    let max_read = usize::try_from(limits.max_tensor_bytes).unwrap_or(usize::MAX);
    let options = OpenOptions::default()
        // Each tensor is read once: a chunk cache would only hold memory.
        .with_chunk_cache_bytes(0)
        .with_max_read_bytes(max_read)
        .with_max_chunk_bytes(max_read.min(hdf5_reader::DEFAULT_MAX_CHUNK_BYTES));
    Hdf5File::from_owner(window, options)
        .map_err(|e| Error::format(path, format!("{what}not a readable HDF5 file ({e})")))
}

/// Open `model.weights.h5` inside a `.keras` archive, and parse `config.json` if it is there.
fn open_archive(
    path: &Path,
    owner: &Owner,
    limits: Limits,
) -> Result<(Hdf5File, Option<serde_json::Value>)> {
    let bytes: &[u8] = (**owner).as_ref();
    let bad = |m: String| Error::format(path, m);
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| bad(format!("not a valid .keras (zip) archive: {e}")))?;
    let config = read_config(&mut zip);
    let Some(index) = zip.index_for_name(WEIGHTS_ENTRY) else {
        let mut names: Vec<String> = zip
            .file_names()
            .take(12)
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect();
        names.sort_unstable();
        let hint = if zip.index_for_name("model.weights.npz").is_some() {
            " (its weights are in model.weights.npz, saved with weights_format=\"npz\", \
             which is not supported: save with the default h5 format)"
        } else {
            ""
        };
        return Err(bad(format!(
            ".keras archive has no {WEIGHTS_ENTRY}{hint}; entries: [{}]",
            names.join(", ")
        )));
    };
    let (stored, start, size, csize, encrypted) = {
        let f = zip
            .by_index_raw(index)
            .map_err(|e| bad(format!("corrupt {WEIGHTS_ENTRY} entry: {e}")))?;
        (
            f.compression() == zip::CompressionMethod::Stored,
            f.data_start(),
            f.size(),
            f.compressed_size(),
            f.encrypted(),
        )
    };
    if encrypted {
        return Err(bad(format!(
            "{WEIGHTS_ENTRY} is encrypted in the archive: not supported"
        )));
    }
    let window = if stored {
        // Read in place, lazily, like a plain .h5 file.
        let range = start
            .zip((size == csize).then_some(size))
            .and_then(|(s, n)| {
                let s = usize::try_from(s).ok()?;
                let e = s.checked_add(usize::try_from(n).ok()?)?;
                (e <= bytes.len()).then_some((s, e))
            });
        let (start, end) = range.ok_or_else(|| {
            bad(format!(
                "{WEIGHTS_ENTRY} ({size} bytes) runs past the end of the archive (truncated?)"
            ))
        })?;
        Window {
            owner: owner.clone(),
            start,
            end,
        }
    } else {
        if size > limits.max_inflated_bytes {
            return Err(bad(format!(
                "{WEIGHTS_ENTRY} is compressed and inflates to {size} bytes, over the {} limit: \
                 re-zip the archive without compression (Keras stores it uncompressed)",
                limits.max_inflated_bytes
            )));
        }
        let f = zip
            .by_index(index)
            .map_err(|e| bad(format!("cannot read {WEIGHTS_ENTRY}: {e}")))?;
        let mut buf = Vec::with_capacity(size.min(64 << 20) as usize);
        f.take(size.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|e| bad(format!("cannot inflate {WEIGHTS_ENTRY}: {e}")))?;
        if buf.len() as u64 != size {
            return Err(bad(format!(
                "{WEIGHTS_ENTRY} inflates to {} bytes, the archive says {size} (corrupt?)",
                buf.len()
            )));
        }
        let end = buf.len();
        Window {
            owner: Arc::new(buf),
            start: 0,
            end,
        }
    };
    if !has_hdf5_signature(window.as_ref()) {
        return Err(bad(format!(
            "{WEIGHTS_ENTRY} in the archive is not an HDF5 file"
        )));
    }
    let h5 = open_hdf5(path, window, limits, "model.weights.h5 in the archive: ")?;
    Ok((h5, config))
}

/// `config.json` of a `.keras` archive, if present and valid (it only refines names/order).
fn read_config<R: Read + std::io::Seek>(zip: &mut zip::ZipArchive<R>) -> Option<serde_json::Value> {
    let f = zip.by_name("config.json").ok()?;
    if f.size() > MAX_CONFIG_BYTES {
        return None;
    }
    let mut text = Vec::new();
    f.take(MAX_CONFIG_BYTES).read_to_end(&mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

// ---------------------------------------------------------------------------------------
// Layer classes and variable names.

/// A layer of the architecture (`config.json`, or the legacy `model_config` attribute).
#[derive(Debug, Default)]
struct Cfg {
    class: String,
    name: String,
    /// `use_bias`, `center`, `scale` when the config gives them.
    use_bias: Option<bool>,
    center: Option<bool>,
    scale: Option<bool>,
    /// Sub-layers: a model's `layers`, a wrapper's `layer`.
    layers: Vec<Cfg>,
}

impl Cfg {
    fn parse(v: &serde_json::Value, depth: usize) -> Cfg {
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

    fn position(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| l.name == name)
    }
}

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
fn is_einsum(class: Option<&str>) -> bool {
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

fn class_of_snake(name: &str) -> Option<&'static str> {
    let stem = strip_number(name);
    CLASSES.iter().find(|(_, s)| *s == stem).map(|(c, _)| *c)
}

/// The class a child object has because of its parent's class.
fn implied_class(parent: Option<&str>, link: &str) -> Option<&'static str> {
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
fn var_names(class: Option<&str>, cfg: Option<&Cfg>, ranks: &[Option<usize>]) -> Vec<String> {
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
fn weight_name(var: &str, rank: Option<usize>, einsum: bool) -> &str {
    match var {
        "kernel" if !(einsum && rank != Some(2)) => "weight",
        "embeddings" => "weight",
        v => v,
    }
}

/// `kernel:0` → `kernel` (TensorFlow's output index).
fn strip_output_index(c: &str) -> &str {
    match c.rsplit_once(':') {
        Some((stem, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => stem,
        _ => c,
    }
}

/// Natural order: `dense_2` before `dense_10`, `vars/2` before `vars/10`.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
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

// ---------------------------------------------------------------------------------------
// Listing.

/// What the header of a dataset says.
struct DsInfo {
    shape: Vec<usize>,
    dtype: DType,
    big_endian: bool,
}

fn describe(ds: &Dataset) -> std::result::Result<DsInfo, String> {
    let shape = ds
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is too large")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let (dtype, big_endian) = match ds.dtype() {
        Datatype::FloatingPoint { size, byte_order } => {
            let dt = match size {
                8 => DType::F64,
                4 => DType::F32,
                2 => half_kind(ds),
                s => DType::Other(format!("float{}", u32::from(*s) * 8)),
            };
            (dt, matches!(byte_order, ByteOrder::BigEndian))
        }
        // Keras stores bfloat16 (ml_dtypes) as 2-byte opaque data, marked by an attribute.
        Datatype::Opaque { size: 2, .. } if is_keras_bf16(ds) => (DType::BF16, false),
        Datatype::FixedPoint { size, signed, .. } => (
            DType::Other(format!(
                "{}{}",
                if *signed { "int" } else { "uint" },
                u32::from(*size) * 8
            )),
            false,
        ),
        other => (DType::Other(type_class(other).into()), false),
    };
    Ok(DsInfo {
        shape,
        dtype,
        big_endian,
    })
}

fn type_class(t: &Datatype) -> &'static str {
    match t {
        Datatype::FixedPoint { .. } => "integer",
        Datatype::FloatingPoint { .. } => "float",
        Datatype::String { .. } => "string",
        Datatype::Compound { .. } => "compound",
        Datatype::Array { .. } => "array",
        Datatype::Enum { .. } => "enum",
        Datatype::VarLen { .. } => "variable-length",
        Datatype::Opaque { .. } => "opaque",
        Datatype::Reference { .. } => "reference",
        Datatype::Bitfield { .. } => "bitfield",
    }
}

/// A 2-byte IEEE-like float: f16 (5 exponent bits) or bfloat16 (8), from the datatype
/// message's exponent and mantissa sizes (bytes 13 and 15 of a floating-point message).
fn half_kind(ds: &Dataset) -> DType {
    match ds.raw_datatype() {
        Ok(raw) if raw.len() >= 16 && raw[0] & 0x0f == 1 => match (raw[13], raw[15]) {
            (5, 10) => DType::F16,
            (8, 7) => DType::BF16,
            (e, m) => DType::Other(format!("float16 (e{e}m{m})")),
        },
        _ => DType::F16,
    }
}

fn is_keras_bf16(ds: &Dataset) -> bool {
    ds.attribute("dtype")
        .ok()
        .and_then(|a| a.read_strings().ok())
        .is_some_and(|s| s.first().map(String::as_str) == Some("bfloat16"))
}

/// A group's attribute as a list of strings (legacy `layer_names`/`weight_names`), joined
/// from `name0`, `name1`, … when Keras split it; `None` when absent.
fn string_list(g: &Group, name: &str) -> std::result::Result<Option<Vec<String>>, String> {
    let attrs = g.attributes().map_err(|e| e.to_string())?;
    let decode = |a: &hdf5_reader::Attribute| -> std::result::Result<Vec<String>, String> {
        match a.read_strings() {
            Ok(v) => Ok(v),
            // An empty list is saved as an empty float array.
            Err(_) if a.shape.contains(&0) => Ok(Vec::new()),
            Err(e) => Err(format!("attribute '{}': {e}", a.name)),
        }
    };
    if let Some(a) = attrs.iter().find(|a| a.name == name) {
        return decode(a).map(Some);
    }
    let mut out = Vec::new();
    let mut found = false;
    for k in 0.. {
        let chunk = format!("{name}{k}");
        let Some(a) = attrs.iter().find(|a| a.name == chunk) else {
            break;
        };
        out.extend(decode(a)?);
        found = true;
    }
    Ok(found.then_some(out))
}

fn string_attr(g: &Group, name: &str) -> Option<String> {
    let a = g.attribute(name).ok()?;
    a.read_strings().ok()?.into_iter().next()
}

type Listed = (TensorInfo, Entry);

struct Lister<'a> {
    path: &'a Path,
    h5: &'a Hdf5File,
    out: Vec<Listed>,
    /// Groups already walked (by address): HDF5 hard links may alias or loop.
    seen: HashSet<u64>,
}

impl Lister<'_> {
    fn problem(&mut self, name: String, message: String) {
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

    fn push(&mut self, name: String, dataset: String, info: std::result::Result<DsInfo, String>) {
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

    fn open_group(&mut self, parent: &Group, link: &str, hpath: &str) -> Option<Group> {
        match parent.group(link) {
            Ok(g) => Some(g),
            Err(e) => {
                self.problem(hpath.to_string(), format!("cannot open group: {e}"));
                None
            }
        }
    }

    fn members(&mut self, g: &Group, hpath: &str) -> Option<(Vec<String>, Vec<String>)> {
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

    /// A Keras 3 object (`is_object`: it has `vars`) or container of objects at `hpath`.
    /// `prefix`: the dotted names of the enclosing layers; `class`/`cfg`: the object's (or,
    /// for a container, its owner's) class and config.
    #[allow(clippy::too_many_arguments)]
    fn keras3(
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

    /// A legacy (Keras 2) weights group: `layer_names`, then each layer's `weight_names`.
    fn keras2(&mut self, root: &Group, hpath: &str, layers: Vec<String>, cfg: Option<&Cfg>) {
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

/// List the tensors of an open file; returns the format's name for `describe`.
fn list(
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
fn dedupe(mut listed: Vec<Listed>) -> Vec<Listed> {
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

impl TensorSource for KerasFile {
    fn format_name(&self) -> &str {
        self.format
    }
    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        guarded(|| self.read(index))
            .unwrap_or_else(|m| Err(Error::tensor(&self.path, &self.tensors[index].name, m)))
    }
}

impl KerasFile {
    fn read(&self, index: usize) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        let entry = &self.entries[index];
        let err = |m: String| Error::tensor(&self.path, &info.name, m);
        if let Some(p) = &info.problem {
            return Err(err(p.clone()));
        }
        let size = elem_size(&info.dtype).ok_or_else(|| {
            err(format!(
                "unsupported dtype {} (weights must be float16, bfloat16, float32 or float64)",
                info.dtype
            ))
        })?;
        let nbytes = info
            .shape
            .iter()
            .try_fold(size, |a, &d| a.checked_mul(d))
            .ok_or_else(|| err(format!("shape {:?} overflows", info.shape)))?;
        if nbytes as u64 > self.limits.max_tensor_bytes {
            return Err(err(format!(
                "{nbytes} bytes exceed the {}-byte limit on one tensor",
                self.limits.max_tensor_bytes
            )));
        }
        let ds = self
            .h5
            .dataset(&entry.dataset)
            .map_err(|e| err(e.to_string()))?;
        let mut raw = ds.read_raw_bytes().map_err(|e| err(e.to_string()))?;
        if raw.len() != nbytes {
            return Err(err(format!(
                "read {} bytes, expected {nbytes} for shape {:?}",
                raw.len(),
                info.shape
            )));
        }
        if entry.big_endian {
            raw.chunks_exact_mut(size).for_each(<[u8]>::reverse);
        }
        decode_le(&raw, &info.dtype).ok_or_else(|| err("cannot decode".into()))
    }
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

    #[test]
    fn guarded_turns_panics_into_errors() {
        assert_eq!(guarded(|| 7), Ok(7));
        let e = guarded(|| -> u8 { panic!("boom") }).unwrap_err();
        assert!(e.contains("boom") && e.contains("please report"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"hello",
            b"\x89HDF\r\n\x1a\n\0\0\0\0",
            b"PK\x03\x04garbage",
        ] {
            let e = KerasFile::from_bytes(Path::new("x.h5"), bytes.to_vec(), Limits::default());
            let msg = e.err().expect("error").to_string();
            assert!(msg.starts_with("x.h5: "), "{msg}");
        }
    }
}
