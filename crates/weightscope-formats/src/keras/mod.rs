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
//! come from the layer's class (table `known_vars` in `layer_names`: `vars/0` of
//! Dense/Conv/EinsumDense is `kernel`, of Embedding `embeddings`, BatchNormalization's are
//! gamma, beta, moving_mean, moving_variance, …). The class is read from `config.json` when
//! there is one (a `.keras`), which also gives options such as `use_bias` and the model's
//! layer order; otherwise from the group's name (the snake-case class), or from the parent
//! (MultiHeadAttention's children are EinsumDense, an RNN's `cell` its cell class). For a
//! class not in the table, the rank decides: a 2-D to 4-D `vars/0` is the kernel, a 1-D
//! `vars/1` after it the bias, other variables are `vars.<i>`. Without `config.json` (a
//! `.weights.h5`), layers come in name order, as HDF5 lists them, rather than in model order.
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
//!
//! # Where the code is
//!
//! - `container`: finding the HDF5 file — in place, or `model.weights.h5` inside a `.keras`
//!   zip — and opening it with bounded reads.
//! - `listing`: walking the HDF5 file into named tensors, choosing the layout (Keras 3,
//!   legacy, generic HDF5) and making names unique; the layouts' own walks are in
//!   `keras3` (`vars` trees: `.keras` and `.weights.h5`) and `legacy` (`layer_names` /
//!   `weight_names`: Keras 2 `.h5`).
//! - `layer_names`: Keras classes and their variable names, and the name helpers;
//!   `config`: the architecture from `config.json` / `model_config` that refines them.
//! - `hdf5_meta`: what a dataset header and the string attributes say.
//! - Here: the public reader, [`KerasFile`], its [`Limits`], and reading a tensor's data:
//!   whole, or by blocks (row or column panels of a 2-D tensor, for the streamed analysis)
//!   through the HDF5 reader's hyperslab reads, which read only the byte ranges of a
//!   contiguous dataset and only the chunks of a chunked one that the block covers; chunks
//!   never written read as the fill value for the block alone, so a small file declaring a
//!   huge unwritten tensor costs memory by the block, not by the declared size.

mod config;
mod container;
mod hdf5_meta;
mod keras3;
mod layer_names;
mod legacy;
mod listing;

use super::convert::{decode_le, elem_size};
use super::{TensorInfo, TensorSource};
use crate::mapped::Bytes;
use crate::{Error, Result};
use container::{has_hdf5_signature, open_archive, open_hdf5, Owner, Window, ZIP_SIGNATURE};
use hdf5_reader::{Dataset, Datatype, H5Type, Hdf5File, SliceInfo, SliceInfoElem};
use listing::{dedupe, list};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Deepest group nesting followed (real models nest a few levels).
const MAX_DEPTH: usize = 48;

/// Bounds on what a file can make the reader allocate.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest tensor read, in stored bytes; a larger one is an error for that tensor.
    pub max_tensor_bytes: u64,
    /// Largest compressed `model.weights.h5` inflated (into a temporary file: Keras stores it
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
        Self::from_owner(path, Arc::new(Bytes::map(path)?), Limits::default())
    }

    /// Read a file held in memory; `label` names it in errors. Used by the fuzz target.
    pub fn from_bytes(label: &Path, bytes: Vec<u8>, limits: Limits) -> Result<Self> {
        Self::from_owner(label, Arc::new(Bytes::Owned(bytes)), limits)
    }

    fn from_owner(path: &Path, owner: Owner, limits: Limits) -> Result<Self> {
        guarded(|| Self::parse(path, owner, limits)).unwrap_or_else(|m| Err(Error::format(path, m)))
    }

    fn parse(path: &Path, owner: Owner, limits: Limits) -> Result<Self> {
        let bytes: &[u8] = &owner;
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
    /// 2-D float datasets stored contiguous (read by byte ranges), compact, or chunked with
    /// chunks short along the panel dimension (see [`MAX_PANEL_CHUNK_EXTENT`]); unallocated
    /// chunks, and a dataset with no data written at all, read as the fill value for the
    /// block alone.
    fn reads_blocks(&self, index: usize) -> bool {
        guarded(|| self.block_layout(index).is_ok()).unwrap_or(false)
    }
    /// The hyperslab `rows` × `cols` through the HDF5 reader, which reads only the bytes of a
    /// contiguous dataset that the block covers and decodes (inflate, unshuffle, checksum) only
    /// the chunks that overlap it; the stored bytes then go through the decoding of
    /// [`read_f64`](Self::read_f64), so the values are the same bits.
    fn read_block_f64(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        guarded(|| self.read_block(index, rows, cols))
            .unwrap_or_else(|m| Err(Error::tensor(&self.path, &self.tensors[index].name, m)))
    }
}

/// Longest extent of a chunk along the panel dimension (rows of a tall tensor, columns of a
/// wide one) for which a chunked dataset is read by blocks. A block read decodes each chunk
/// it overlaps whole, and the HDF5 reader keeps no chunk cache (each tensor is read once), so
/// with chunks no longer than a panel of the analysis (2048 rows) each chunk is decoded at
/// most twice over the tensor, one at a time, and a decoded chunk is at most a panel's
/// elements. Longer chunks (a tall matrix stored in column chunks would be decoded whole for
/// every panel) are read whole, within `--max-memory`. h5py's automatic chunks are ≤ 1 MiB;
/// Keras itself writes contiguous datasets.
pub const MAX_PANEL_CHUNK_EXTENT: usize = 2048;

/// An element as its stored bytes, so that a block read by the HDF5 reader goes through the
/// same byte swap and decoding as a whole read ([`decode_le`]).
#[derive(Clone)]
struct Stored<const N: usize>([u8; N]);

impl<const N: usize> H5Type for Stored<N> {
    fn hdf5_type() -> Datatype {
        Datatype::Opaque {
            size: N as u32,
            tag: String::new(),
        }
    }
    fn from_bytes(bytes: &[u8], _: &Datatype) -> hdf5_reader::error::Result<Self> {
        let mut a = [0u8; N];
        a.copy_from_slice(bytes.get(..N).ok_or_else(|| {
            hdf5_reader::error::Error::InvalidData(format!("element of {} bytes", bytes.len()))
        })?);
        Ok(Stored(a))
    }
    fn element_size(_: &Datatype) -> usize {
        N
    }
}

/// The hyperslab `sel` of `n` elements, row-major, as f64: the stored bytes go through
/// `decode` (the whole read's byte swap and [`decode_le`]) a few thousand elements at a time,
/// so that beside the reader's buffers only the f64 block is held.
fn stored_slice<const N: usize>(
    ds: &Dataset,
    sel: &SliceInfo,
    n: usize,
    decode: &dyn Fn(Vec<u8>) -> Result<Vec<f64>>,
    err: &dyn Fn(String) -> Error,
) -> Result<Vec<f64>> {
    let a = ds
        .read_slice::<Stored<N>>(sel)
        .map_err(|e| err(e.to_string()))?;
    if a.len() != n {
        return Err(err(format!("read {} elements, expected {n}", a.len())));
    }
    let mut out = Vec::new();
    out.try_reserve_exact(n)
        .map_err(|_| err(format!("cannot allocate {} bytes for the block", n * 8)))?;
    const BATCH: usize = 4096;
    let mut raw = Vec::with_capacity(BATCH * N);
    for e in a.iter() {
        raw.extend_from_slice(&e.0);
        if raw.len() == BATCH * N {
            out.extend(decode(std::mem::replace(
                &mut raw,
                Vec::with_capacity(BATCH * N),
            ))?);
        }
    }
    out.extend(decode(raw)?);
    Ok(out)
}

impl KerasFile {
    /// The dataset of a tensor that [`reads_blocks`](TensorSource::reads_blocks), or why not.
    fn block_layout(&self, index: usize) -> std::result::Result<Dataset, String> {
        let info = &self.tensors[index];
        if info.problem.is_some() || info.shape.len() != 2 || elem_size(&info.dtype).is_none() {
            return Err("not a readable 2-D float tensor".into());
        }
        let ds = self
            .h5
            .dataset(&self.entries[index].dataset)
            .map_err(|e| e.to_string())?;
        if let Some(chunk) = ds.chunks() {
            let (n, m) = (info.shape[0], info.shape[1]);
            let panel_dim = usize::from(n < m);
            let along = chunk.get(panel_dim).map_or(usize::MAX, |&c| c as usize);
            let elements = chunk
                .iter()
                .try_fold(1usize, |a, &c| a.checked_mul(c as usize))
                .unwrap_or(usize::MAX);
            if chunk.len() != 2
                || along > MAX_PANEL_CHUNK_EXTENT
                || elements > MAX_PANEL_CHUNK_EXTENT.saturating_mul(n.min(m).max(1))
            {
                return Err(format!("chunks {chunk:?} span more than a panel"));
            }
        }
        Ok(ds)
    }

    fn read_block(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        let err = |m: String| Error::tensor(&self.path, &info.name, m);
        if let Some(p) = &info.problem {
            return Err(err(p.clone()));
        }
        crate::check_block(info, &rows, &cols)?;
        let ds = self
            .block_layout(index)
            .map_err(|m| err(format!("cannot read by blocks: {m}")))?;
        let n = rows
            .len()
            .checked_mul(cols.len())
            .ok_or_else(|| err("block too large".into()))?;
        if n == 0 {
            return Ok(Vec::new());
        }
        let dim = |r: &std::ops::Range<usize>| SliceInfoElem::Slice {
            start: r.start as u64,
            end: r.end as u64,
            step: 1,
        };
        let sel = SliceInfo {
            selections: vec![dim(&rows), dim(&cols)],
        };
        let decode = |raw: Vec<u8>| self.decode(index, raw);
        match elem_size(&info.dtype) {
            Some(2) => stored_slice::<2>(&ds, &sel, n, &decode, &err),
            Some(4) => stored_slice::<4>(&ds, &sel, n, &decode, &err),
            Some(8) => stored_slice::<8>(&ds, &sel, n, &decode, &err),
            _ => Err(err(format!("unsupported dtype {}", info.dtype))),
        }
    }

    /// Stored bytes of tensor `index` (the dataset's byte order) as f64.
    fn decode(&self, index: usize, mut raw: Vec<u8>) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        let err = |m: String| Error::tensor(&self.path, &info.name, m);
        let size = elem_size(&info.dtype).ok_or_else(|| err("unsupported dtype".into()))?;
        if self.entries[index].big_endian {
            raw.chunks_exact_mut(size).for_each(<[u8]>::reverse);
        }
        decode_le(&raw, &info.dtype).ok_or_else(|| err("cannot decode".into()))
    }

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
        let raw = ds.read_raw_bytes().map_err(|e| err(e.to_string()))?;
        if raw.len() != nbytes {
            return Err(err(format!(
                "read {} bytes, expected {nbytes} for shape {:?}",
                raw.len(),
                info.shape
            )));
        }
        self.decode(index, raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
