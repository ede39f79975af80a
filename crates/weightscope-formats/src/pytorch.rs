//! PyTorch checkpoints written by `torch.save` (`.pt`, `.pth`, `.bin`, `.ckpt`), in both of
//! its container formats, recognised by their first bytes rather than by extension:
//!
//! * **zip** (torch ≥ 1.6, `torch/serialization.py::_save`): a zip archive whose entries all
//!   sit under one record folder `<archive>/`: `data.pkl` (the object pickle), `data/<key>`
//!   (one raw storage per key, native byte order), `byteorder` (`little`/`big`, absent in
//!   old files: little) and bookkeeping (`version`, `.format_version`, …). torch writes the
//!   entries STORED (uncompressed, 64-byte aligned): a storage is a byte range of the file,
//!   read with `pread`; deflated entries (re-zipped files) are inflated sequentially.
//! * **legacy** (torch < 1.6, `_legacy_save`, still what many published vision weights are):
//!   five pickles back to back — the magic number `0x1950a86a20f9469cfc6c`, the protocol
//!   version 1001, sys info (`little_endian`, type sizes), the object pickle, the sorted
//!   list of storage keys — then, for each key in that list, the storage: its element
//!   count (8 bytes, native order) and its raw bytes.
//!
//! In both, the object pickle is interpreted by [`crate::pickle`] (data only, allow-listed
//! globals). A tensor is a view `(storage, storage_offset, size, stride)` of a storage
//! (`torch._utils._rebuild_tensor_v2`); views are gathered to row-major on read, a block of
//! rows or columns at a time when the analysis streams a 2-D layer ([`crate::blocks`]).

use crate::blocks::{self, Inflaters, Source, View};
use crate::convert::elem_size;
use crate::mapped::Bytes;
use crate::pickle::{self, Obj, Persistent, TensorRef, Unpickled, Value};
use crate::MAX_DEFLATE_RATIO;
use crate::{Error, Result, TensorInfo, TensorSource};
use std::collections::HashMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The legacy format's magic number, as the LONG1 little-endian bytes pickle writes.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// `PROTOCOL_VERSION` of the legacy format.
const LEGACY_PROTOCOL: i64 = 1001;
/// Largest object pickle read (a state dict of a 100k-tensor model is a few tens of MB).
const MAX_PICKLE: u64 = 1 << 30;
/// A strided view may reuse storage elements (stride 0 for `expand`); its element count is
/// then not bounded by the storage. Such views are read only up to this many elements, so
/// that a few header bytes cannot demand terabytes.
const MAX_EXPANDED: usize = 1 << 24;

/// Where a storage's bytes are.
type Loc = Source;

/// How to read one listed tensor.
#[derive(Clone, Debug)]
struct Layout {
    loc: Loc,
    view: View,
}

/// A PyTorch checkpoint file (zip or legacy format).
pub struct PyTorchFile {
    path: PathBuf,
    bytes: Arc<Bytes>,
    /// Decoders part-way through deflated storages, kept between block reads.
    inflaters: Inflaters,
    format: &'static str,
    tensors: Vec<TensorInfo>,
    /// Per tensor; `None` when `problem` is set or the dtype cannot be read.
    layouts: Vec<Option<Layout>>,
}

/// One tensor as found in the pickle, before its storage is located.
struct Found {
    name: String,
    tensor: TensorRef,
}

impl PyTorchFile {
    /// Open a checkpoint: memory-map it to parse its pickle; storages are read lazily, with
    /// `pread` (see [`Bytes::read_range`]).
    pub fn open(path: &Path) -> Result<Self> {
        Self::parse(path, Bytes::map(path)?)
    }

    /// Parse a checkpoint held in memory; `path` only names it in messages. This is the
    /// entry point of the fuzz target.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        Self::parse(path, Bytes::Owned(bytes))
    }

    fn parse(path: &Path, bytes: Bytes) -> Result<Self> {
        let bytes = Arc::new(bytes);
        let inflaters = Inflaters::default();
        let b: &[u8] = &bytes;
        let (format, big_endian, found, locate) =
            if b.starts_with(b"PK\x03\x04") || b.starts_with(b"PK\x05\x06") {
                let z = parse_zip(path, &bytes, &inflaters)?;
                ("pytorch", z.big_endian, z.found, Locator::Zip(z.entries))
            } else if b.first() == Some(&0x80) {
                let l = parse_legacy(path, b)?;
                (
                    "pytorch (legacy)",
                    l.big_endian,
                    l.found,
                    Locator::Legacy(l.storages),
                )
            } else if b.get(257..262) == Some(b"ustar") {
                return Err(Error::format(
                    path,
                    "a tar-based checkpoint of PyTorch < 0.1.10 is not supported: \
                 re-save it with a current torch",
                ));
            } else {
                return Err(Error::format(
                    path,
                    format!(
                        "not a PyTorch checkpoint: neither a zip archive (torch >= 1.6) nor a \
                     pickle (legacy torch.save); first bytes {:02x?}",
                        &b[..b.len().min(8)]
                    ),
                ));
            };
        let mut tensors = Vec::with_capacity(found.len());
        let mut layouts = Vec::with_capacity(found.len());
        for f in found {
            let t = &f.tensor;
            let dtype = t.storage.stype.dtype.clone();
            let (layout, problem) = match locate.find(&t.storage.key) {
                Err(p) => (None, Some(p)),
                Ok(loc) => match check_view(t, &loc) {
                    Ok(offset) => (
                        Some(Layout {
                            loc,
                            view: View {
                                dtype: dtype.clone(),
                                big_endian,
                                base: 0,
                                offset,
                                shape: t.shape.clone(),
                                stride: t.stride.clone(),
                            },
                        }),
                        None,
                    ),
                    Err(p) => (None, Some(p)),
                },
            };
            tensors.push(TensorInfo {
                role: None,
                name: f.name,
                shape: t.shape.clone(),
                dtype,
                file: path.to_path_buf(),
                problem,
            });
            layouts.push(layout);
        }
        // Dotted names that collide once nested dicts are flattened ("a.b" and {"a": {"b"}}).
        crate::mark_duplicate_names(&mut tensors);
        Ok(PyTorchFile {
            path: path.to_path_buf(),
            bytes,
            inflaters,
            format,
            tensors,
            layouts,
        })
    }
}

/// Validate a view against its storage's size; the element offset of its first element.
fn check_view(t: &TensorRef, loc: &Loc) -> std::result::Result<usize, String> {
    let es = t.storage.stype.elem_size;
    let Some(es) = es else {
        // Non-float, unknown size: the tensor is listed and skipped, not read.
        return Ok(0);
    };
    let avail = loc.len() / es;
    if loc.len() % es != 0 {
        return Err(format!(
            "storage '{}' has {} bytes, not a multiple of the {es}-byte {} elements",
            t.storage.key,
            loc.len(),
            t.storage.stype.dtype
        ));
    }
    let numel = t
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    // A legacy storage view shifts and bounds the tensor's storage.
    let (base, limit) = match t.storage.view {
        Some((o, n)) => {
            let end = o.checked_add(n).filter(|&e| e <= avail as u64);
            if end.is_none() {
                return Err(format!(
                    "storage view [{o}, +{n}) lies outside storage '{}' of {avail} elements",
                    t.storage.key
                ));
            }
            (o as usize, n as usize)
        }
        None => (0, avail),
    };
    let offset = usize::try_from(t.offset).map_err(|_| "storage offset too large")?;
    if numel == 0 {
        return Ok(base);
    }
    // Last element touched: offset + Σ (size_i − 1)·stride_i.
    let last = t
        .shape
        .iter()
        .zip(&t.stride)
        .try_fold(offset, |a, (&d, &s)| a.checked_add((d - 1).checked_mul(s)?))
        .ok_or("strides overflow")?;
    if last >= limit {
        return Err(format!(
            "view (offset {offset}, size {:?}, stride {:?}) reaches element {last} of \
             storage '{}' which has {limit} (truncated?)",
            t.shape, t.stride, t.storage.key
        ));
    }
    if numel > limit && numel > MAX_EXPANDED {
        return Err(format!(
            "view of {numel} elements over a storage of {limit} (overlapping strides): \
             refusing to expand beyond {MAX_EXPANDED} elements"
        ));
    }
    Ok(base + offset)
}

/// Finds a storage's bytes by key.
enum Locator {
    /// Zip entries `data/<key>`: location or a problem.
    Zip(HashMap<String, std::result::Result<Loc, String>>),
    /// Legacy storages by key.
    Legacy(HashMap<String, std::result::Result<Loc, String>>),
}

impl Locator {
    fn find(&self, key: &str) -> std::result::Result<Loc, String> {
        let (m, what) = match self {
            Locator::Zip(m) => (m, "zip entry data/"),
            Locator::Legacy(m) => (m, "legacy storage "),
        };
        match m.get(key) {
            Some(r) => r.clone(),
            None => Err(format!("{what}{key} is missing (truncated?)")),
        }
    }
}

struct ZipParsed {
    big_endian: bool,
    found: Vec<Found>,
    entries: HashMap<String, std::result::Result<Loc, String>>,
}

/// Where a zip entry's data are, without reading them.
fn zip_loc(
    ar: &mut zip::ZipArchive<Cursor<&[u8]>>,
    index: usize,
    file_len: usize,
) -> std::result::Result<Loc, String> {
    let f = ar.by_index_raw(index).map_err(|e| e.to_string())?;
    let start = f.data_start().ok_or("no local header")?;
    let csize = f.compressed_size();
    let size = f.size();
    let end = start.checked_add(csize).filter(|&e| e <= file_len as u64);
    if end.is_none() {
        return Err(format!(
            "entry data [{start}, +{csize}) run past the end of the {file_len}-byte file \
             (truncated?)"
        ));
    }
    let crc = f.crc32();
    match f.compression() {
        zip::CompressionMethod::Stored if csize == size => Ok(Loc::Stored {
            start: start as usize,
            len: csize as usize,
        }),
        zip::CompressionMethod::Deflated
            if size
                <= csize
                    .saturating_mul(MAX_DEFLATE_RATIO)
                    .saturating_add(1 << 16) =>
        {
            Ok(Loc::Deflated {
                start: start as usize,
                csize: csize as usize,
                size: usize::try_from(size).map_err(|_| "entry too large")?,
                crc,
            })
        }
        m => Err(format!(
            "unsupported zip entry ({m:?}, {csize} bytes stored for {size})"
        )),
    }
}

fn parse_zip(path: &Path, file: &Arc<Bytes>, inflaters: &Inflaters) -> Result<ZipParsed> {
    let bytes: &[u8] = file;
    let mut ar = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        Error::format(
            path,
            format!("not a readable PyTorch zip checkpoint (truncated or corrupt?): {e}"),
        )
    })?;
    let names: Vec<String> = ar
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::format(path, format!("bad zip entry name: {e}")))?;
    // The record folder is that of `data.pkl` (torch: the archive's one top-level folder);
    // the shallowest wins if a file was re-zipped with extra folders.
    let pkl = names
        .iter()
        .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
        .min_by_key(|n| n.matches('/').count())
        .ok_or_else(|| {
            Error::format(
                path,
                "a zip archive without data.pkl: not a torch.save checkpoint",
            )
        })?
        .clone();
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let read_small = |ar: &mut zip::ZipArchive<Cursor<&[u8]>>, i: usize| {
        let loc = zip_loc(ar, i, bytes.len())?;
        if loc.len() as u64 > MAX_PICKLE {
            return Err(format!("{} bytes", loc.len()));
        }
        inflaters.read(file, &loc, 0..loc.len())
    };
    let big_endian = match index.get(format!("{prefix}byteorder").as_str()) {
        None => false,
        Some(&i) => {
            let b = read_small(&mut ar, i)
                .map_err(|e| Error::format(path, format!("cannot read byteorder: {e}")))?;
            match b.trim_ascii() {
                b"little" => false,
                b"big" => true,
                other => {
                    return Err(Error::format(
                        path,
                        format!(
                            "byteorder is '{}', expected little or big",
                            String::from_utf8_lossy(&other[..other.len().min(16)])
                        ),
                    ))
                }
            }
        }
    };
    let is_torchscript = names.iter().any(|n| {
        n.starts_with(&format!("{prefix}code/")) || n == &format!("{prefix}constants.pkl")
    });
    let pkl_bytes = read_small(&mut ar, index[pkl.as_str()])
        .map_err(|e| Error::format(path, format!("cannot read {pkl}: {e}")))?;
    let u = pickle::unpickle(&pkl_bytes, 0, Persistent::Storages).map_err(|e| {
        let hint = if is_torchscript && !e.contains("TorchScript") {
            " (the archive holds TorchScript code: torch.jit.save, not torch.save)"
        } else {
            ""
        };
        Error::format(path, format!("{pkl}: {e}{hint}"))
    })?;
    let found = found_tensors(&u);
    let mut entries = HashMap::new();
    for f in &found {
        let key = &f.tensor.storage.key;
        if entries.contains_key(key) {
            continue;
        }
        let name = format!("{prefix}data/{key}");
        let loc = match index.get(name.as_str()) {
            Some(&i) => zip_loc(&mut ar, i, bytes.len()).map_err(|e| format!("{name}: {e}")),
            None => Err(format!("zip entry {name} is missing")),
        };
        entries.insert(key.clone(), loc);
    }
    Ok(ZipParsed {
        big_endian,
        found,
        entries,
    })
}

fn found_tensors(u: &Unpickled) -> Vec<Found> {
    pickle::collect_tensors(u)
        .into_iter()
        .map(|(name, tensor)| Found { name, tensor })
        .collect()
}

struct LegacyParsed {
    big_endian: bool,
    found: Vec<Found>,
    storages: HashMap<String, std::result::Result<Loc, String>>,
}

fn parse_legacy(path: &Path, bytes: &[u8]) -> Result<LegacyParsed> {
    let fmt =
        |what: &str, e: String| Error::format(path, format!("legacy checkpoint, {what}: {e}"));
    let magic =
        pickle::unpickle(bytes, 0, Persistent::Refuse).map_err(|e| fmt("magic number", e))?;
    if !matches!(magic.obj(magic.root), Some(Obj::BigInt(b)) if b[..] == LEGACY_MAGIC) {
        // A bare pickle (pickle.dump of a state dict) is not what torch.save writes, and
        // torch.load rejects it too.
        return Err(Error::format(
            path,
            "a pickle without torch's magic number: not a torch.save checkpoint",
        ));
    }
    let proto =
        pickle::unpickle(bytes, magic.end, Persistent::Refuse).map_err(|e| fmt("protocol", e))?;
    if proto.root != Value::Int(LEGACY_PROTOCOL) {
        return Err(Error::format(
            path,
            format!(
                "legacy checkpoint with protocol {:?}, expected 1001",
                proto.root
            ),
        ));
    }
    let sys =
        pickle::unpickle(bytes, proto.end, Persistent::Refuse).map_err(|e| fmt("sys info", e))?;
    let mut big_endian = false;
    if let Some(Obj::Dict(items)) = sys.obj(sys.root) {
        for (k, v) in items {
            if sys.str(*k) == Some("little_endian") {
                big_endian = *v == Value::Bool(false);
            }
        }
    }
    let obj = pickle::unpickle(bytes, sys.end, Persistent::Storages)
        .map_err(|e| fmt("object pickle", e))?;
    let found = found_tensors(&obj);
    // Every storage the object pickle refers to, with the element size of its first
    // occurrence (torch.load sizes the storage by that one).
    let mut elem: HashMap<String, Option<usize>> = HashMap::new();
    for h in &obj.heap {
        if let Obj::Storage(s) = h {
            elem.entry(s.key.clone()).or_insert(s.stype.elem_size);
        }
    }
    let mut storages = HashMap::new();
    let keys = match pickle::unpickle(bytes, obj.end, Persistent::Refuse) {
        Ok(k) => k,
        // Truncated before the key list: the tensors are listed, none is readable.
        Err(e) => {
            for f in &found {
                storages.insert(
                    f.tensor.storage.key.clone(),
                    Err(format!("storage key list unreadable ({e})")),
                );
            }
            return Ok(LegacyParsed {
                big_endian,
                found,
                storages,
            });
        }
    };
    let key_list: Vec<String> = match keys.obj(keys.root) {
        Some(Obj::List(l)) | Some(Obj::Tuple(l)) => l
            .iter()
            .filter_map(|v| keys.str(*v).map(String::from))
            .collect(),
        _ => {
            return Err(Error::format(
                path,
                "legacy checkpoint: storage keys are not a list",
            ))
        }
    };
    // Walk the storages in key-list order: count (8 bytes) then count × element size bytes.
    let mut pos = keys.end;
    let mut broken: Option<String> = None;
    for key in key_list {
        if let Some(b) = &broken {
            storages.insert(key, Err(b.clone()));
            continue;
        }
        let Some(&es) = elem.get(&key) else {
            broken = Some(format!(
                "storage '{key}' is in the key list but used by no tensor"
            ));
            continue;
        };
        let Some(es) = es else {
            broken = Some(format!(
                "storage '{key}' has an element type of unknown size; later storages cannot be found"
            ));
            storages.insert(key, Err(broken.clone().unwrap()));
            continue;
        };
        let count = bytes.get(pos..pos + 8).map(|c| {
            let c: [u8; 8] = c.try_into().unwrap();
            if big_endian {
                u64::from_be_bytes(c)
            } else {
                u64::from_le_bytes(c)
            }
        });
        let start = pos + 8;
        let len = count.and_then(|n| usize::try_from(n).ok()?.checked_mul(es));
        match (count, len) {
            (Some(_), Some(len)) if start.checked_add(len).is_some_and(|e| e <= bytes.len()) => {
                storages.insert(key, Ok(Loc::Stored { start, len }));
                pos = start + len;
            }
            _ => {
                let msg = format!(
                    "storage '{key}' at byte {pos} runs past the end of the {}-byte file (truncated?)",
                    bytes.len()
                );
                storages.insert(key, Err(msg.clone()));
                broken = Some(format!("an earlier storage is unreadable: {msg}"));
            }
        }
    }
    Ok(LegacyParsed {
        big_endian,
        found,
        storages,
    })
}

impl TensorSource for PyTorchFile {
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
        let info = &self.tensors[index];
        let err = |m: String| Error::tensor(&self.path, &info.name, m);
        if let Some(p) = &info.problem {
            return Err(err(p.clone()));
        }
        if !info.dtype.is_float() {
            return Err(err(format!(
                "unsupported dtype {} (weights must be F64, F32, F16 or BF16)",
                info.dtype
            )));
        }
        let l = self.layouts[index]
            .as_ref()
            .ok_or_else(|| err("no data".into()))?;
        let mut read = |r| self.inflaters.read(&self.bytes, &l.loc, r);
        blocks::read_whole(&mut read, &l.view).map_err(err)
    }
    /// 2-D views of stored storages, in any layout (transposed, sliced, broadcast); of
    /// deflated ones when panels are consecutive in the stream (see
    /// [`View::panels_in_stream_order`]), so that they inflate once, not once per panel.
    fn reads_blocks(&self, index: usize) -> bool {
        let info = &self.tensors[index];
        match &self.layouts[index] {
            Some(l) if info.problem.is_none() && elem_size(&info.dtype).is_some() => {
                l.view.shape.len() == 2
                    && (matches!(l.loc, Loc::Stored { .. }) || l.view.panels_in_stream_order())
            }
            _ => false,
        }
    }
    fn read_block_f64(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        crate::check_block(info, &rows, &cols)?;
        let err = |m: String| Error::tensor(&self.path, &info.name, m);
        let Some(l) = self.layouts[index]
            .as_ref()
            .filter(|_| info.problem.is_none())
        else {
            // Not readable: the whole-read path gives the tensor's message.
            return self.read_f64(index);
        };
        if elem_size(&info.dtype).is_none() {
            return self.read_f64(index);
        }
        let mut read = |r| self.inflaters.read(&self.bytes, &l.loc, r);
        blocks::read_block(&mut read, &l.view, rows, cols).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::DType;

    fn layout(offset: usize, shape: &[usize], stride: &[usize]) -> View {
        View {
            dtype: DType::F32,
            big_endian: false,
            base: 0,
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    /// A view of `storage` read whole, as the reader does.
    fn decode_view(
        storage: &[u8],
        dtype: &DType,
        big_endian: bool,
        view: &View,
    ) -> std::result::Result<Vec<f64>, String> {
        let view = View {
            dtype: dtype.clone(),
            big_endian,
            ..view.clone()
        };
        let mut read = |r: std::ops::Range<usize>| {
            storage
                .get(r)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| "out of bounds".to_string())
        };
        blocks::read_whole(&mut read, &view)
    }

    fn f32s(v: &[f32], big: bool) -> Vec<u8> {
        v.iter()
            .flat_map(|x| {
                if big {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                }
            })
            .collect()
    }

    #[test]
    fn gathers_transposed_sliced_and_broadcast_views() {
        // Storage 0..12 as a 3x4 row-major matrix.
        let s: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let b = f32s(&s, false);
        // Transpose: shape (4, 3), strides (1, 4).
        let t = decode_view(&b, &DType::F32, false, &layout(0, &[4, 3], &[1, 4])).unwrap();
        assert_eq!(t, [0., 4., 8., 1., 5., 9., 2., 6., 10., 3., 7., 11.]);
        // Rows 1..3, every other column: offset 4, strides (4, 2).
        let t = decode_view(&b, &DType::F32, false, &layout(4, &[2, 2], &[4, 2])).unwrap();
        assert_eq!(t, [4., 6., 8., 10.]);
        // expand: stride 0.
        let t = decode_view(&b, &DType::F32, false, &layout(1, &[2, 3], &[0, 1])).unwrap();
        assert_eq!(t, [1., 2., 3., 1., 2., 3.]);
        // A size-1 dimension with an absurd stride is legal and must not overflow.
        let t = decode_view(
            &b,
            &DType::F32,
            false,
            &layout(0, &[1, 2, 2], &[usize::MAX, 1, 4]),
        )
        .unwrap();
        assert_eq!(t, [0., 4., 1., 5.]);
        // 0-d and empty.
        let t = decode_view(&b, &DType::F32, false, &layout(5, &[], &[])).unwrap();
        assert_eq!(t, [5.]);
        let t = decode_view(&b, &DType::F32, false, &layout(0, &[0, 3], &[3, 1])).unwrap();
        assert!(t.is_empty());
        // Big-endian, contiguous and gathered.
        let bb = f32s(&s, true);
        let t = decode_view(&bb, &DType::F32, true, &layout(2, &[3], &[1])).unwrap();
        assert_eq!(t, [2., 3., 4.]);
        let t = decode_view(&bb, &DType::F32, true, &layout(0, &[2, 2], &[1, 4])).unwrap();
        assert_eq!(t, [0., 4., 1., 5.]);
    }

    #[test]
    fn garbage_is_a_format_error() {
        let p = Path::new("x.pt");
        for b in [
            &b""[..],
            b"PK\x03\x04",
            b"\x80",
            b"\x80\x02K\x01.",
            b"hello world",
        ] {
            let e = PyTorchFile::from_bytes(p, b.to_vec()).err().unwrap();
            assert!(e.to_string().starts_with("x.pt: "), "{e}");
        }
    }
}
