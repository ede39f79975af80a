//! NumPy `.npy` (one array) and `.npz` (a zip of named `.npy` arrays, stored or deflated). The
//! `.npy` header is parsed with `npyz`; the data are decoded here so that f2/f4/f8 in either
//! byte order and Fortran order are all handled the same way: an array is a strided view of
//! the bytes after its header (column-major strides for Fortran order), read whole or a block
//! of rows or columns at a time ([`crate::blocks`]) with `pread`, or by inflating a deflated
//! entry sequentially, so that an array larger than memory streams.

use super::convert::{decode_le, elem_size, fortran_to_c};
use super::{DType, TensorInfo, TensorSource};
use crate::blocks::{self, Inflaters, Source, View};
use crate::mapped::Bytes;
use crate::MAX_DEFLATE_RATIO;
use crate::{Error, Result};
use std::io::Read;
use std::sync::Arc;
// Zip's central-directory walk that keeps repeated names (`ZipArchive` keeps the last copy).
use std::path::{Path, PathBuf};
use zip::unstable::read::ZipIterable;

/// What the `.npy` header says about the data that follows it.
struct NpyLayout {
    shape: Vec<usize>,
    dtype: DType,
    big_endian: bool,
    fortran: bool,
    /// Offset of the data from the start of the `.npy` bytes.
    data_offset: usize,
}

fn parse_npy_header(bytes: &[u8]) -> std::result::Result<NpyLayout, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy array (bad magic)".into());
    }
    // Header length: u16 after version 1.x, u32 after 2.x/3.x.
    let (len, start): (usize, usize) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let data_offset = start
        .checked_add(len)
        .filter(|&o| o <= bytes.len())
        .ok_or("header runs past the end of the file")?;
    let header =
        npyz::NpyFile::new(&bytes[..data_offset]).map_err(|e| format!("bad .npy header ({e})"))?;
    let h = header.header();
    let shape: Vec<usize> = h
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| "shape too large".to_string()))
        .collect::<std::result::Result<_, _>>()?;
    let (dtype, big_endian) = match h.dtype() {
        npyz::DType::Plain(ts) => {
            let s = ts.to_string();
            let big = s.starts_with('>');
            let core = s.trim_start_matches(['<', '>', '|', '=']);
            let dt = match core {
                "f8" => DType::F64,
                "f4" => DType::F32,
                "f2" => DType::F16,
                other => DType::Other(other.to_string()),
            };
            (dt, big)
        }
        other => (DType::Other(other.descr()), false),
    };
    Ok(NpyLayout {
        shape,
        dtype,
        big_endian,
        fortran: matches!(h.order(), npyz::Order::Fortran),
        data_offset,
    })
}

/// The array of a `.npy` whose header is `l`, as a view of the `.npy` bytes, and the number of
/// bytes it needs after the header.
fn view_of(l: &NpyLayout) -> std::result::Result<(View, usize), String> {
    let size = elem_size(&l.dtype).ok_or_else(|| {
        format!(
            "unsupported dtype {} (weights must be float16/32/64)",
            l.dtype
        )
    })?;
    let numel = l
        .shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or("shape overflows")?;
    let nbytes = numel.checked_mul(size).ok_or("shape overflows")?;
    // Row-major strides, or column-major for Fortran order (numel fits, so these do).
    let d = l.shape.len();
    let mut stride = vec![1usize; d];
    if l.fortran {
        for k in 1..d {
            stride[k] = stride[k - 1] * l.shape[k - 1];
        }
    } else {
        for k in (0..d.saturating_sub(1)).rev() {
            stride[k] = stride[k + 1] * l.shape[k + 1];
        }
    }
    let view = View {
        dtype: l.dtype.clone(),
        big_endian: l.big_endian,
        base: l.data_offset,
        offset: 0,
        shape: l.shape.clone(),
        stride,
    };
    Ok((view, nbytes))
}

/// A `.npy` array in a storage of `len` bytes: its view, or why it cannot be read.
fn npy_view(l: &NpyLayout, len: usize) -> std::result::Result<View, String> {
    let (view, nbytes) = view_of(l)?;
    if len.saturating_sub(l.data_offset) < nbytes {
        return Err(format!(
            "data are truncated: need {nbytes} bytes after the header, the file has {}",
            len.saturating_sub(l.data_offset)
        ));
    }
    Ok(view)
}

/// Decode the array in `bytes` (a whole `.npy`) to its shape and row-major f64 values; the
/// error says what is wrong. The parse-from-bytes entry point of the fuzz target.
pub fn decode_npy_bytes(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<f64>), String> {
    let shape = parse_npy_header(bytes)?.shape;
    Ok((shape, decode_npy(bytes)?))
}

/// Decode the array in `bytes` (a whole `.npy`) to row-major f64.
fn decode_npy(bytes: &[u8]) -> std::result::Result<Vec<f64>, String> {
    let l = parse_npy_header(bytes)?;
    // The dtype and size checks are view_of's (one place for their messages).
    let (_, nbytes) = view_of(&l)?;
    let size = elem_size(&l.dtype).unwrap_or(1);
    let data = bytes
        .get(l.data_offset..)
        .filter(|d| d.len() >= nbytes)
        .ok_or_else(|| format!("data are truncated: need {nbytes} bytes after the header"))?;
    let data = &data[..nbytes];
    let values = if l.big_endian {
        let swapped: Vec<u8> = data
            .chunks_exact(size)
            .flat_map(|c| c.iter().rev().copied())
            .collect();
        decode_le(&swapped, &l.dtype)
    } else {
        decode_le(data, &l.dtype)
    }
    .ok_or("cannot decode")?;
    Ok(if l.fortran {
        fortran_to_c(&values, &l.shape)
    } else {
        values
    })
}

fn info_from(path: &Path, name: String, bytes: &[u8]) -> TensorInfo {
    match parse_npy_header(bytes) {
        Ok(l) => TensorInfo {
            name,
            shape: l.shape,
            dtype: l.dtype,
            file: path.to_path_buf(),
            problem: None,
            role: None,
        },
        Err(e) => TensorInfo {
            name,
            shape: Vec::new(),
            dtype: DType::Other("unknown".into()),
            file: path.to_path_buf(),
            problem: Some(e),
            role: None,
        },
    }
}

/// A single `.npy` array; its name is the file stem.
pub struct NpyFile {
    path: PathBuf,
    bytes: Arc<Bytes>,
    tensors: Vec<TensorInfo>,
    /// The array as a view of the file; `None` when `problem` is set.
    view: Option<View>,
}

impl NpyFile {
    /// Open a `.npy` file: its header is parsed from a memory map, its data read with
    /// `pread` (see [`Bytes::read_range`]).
    pub fn open(path: &Path) -> Result<Self> {
        Self::from(path, Bytes::map(path)?)
    }

    /// Parse a `.npy` held in memory; `path` only names it in messages (the fuzz target).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        Self::from(path, Bytes::Owned(bytes))
    }

    fn from(path: &Path, bytes: Bytes) -> Result<Self> {
        let l = parse_npy_header(&bytes).map_err(|e| Error::format(path, e))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut info = info_from(path, name, &bytes);
        let view = match npy_view(&l, bytes.len()) {
            Ok(v) => Some(v),
            Err(e) => {
                // An unsupported dtype is said when the tensor is read, as for other formats.
                if elem_size(&l.dtype).is_some() {
                    info.problem = Some(e);
                }
                None
            }
        };
        Ok(NpyFile {
            path: path.to_path_buf(),
            bytes: Arc::new(bytes),
            tensors: vec![info],
            view,
        })
    }

    fn read_view(
        &self,
        index: usize,
        f: impl FnOnce(
            &mut dyn FnMut(std::ops::Range<usize>) -> std::result::Result<Vec<u8>, String>,
            &View,
        ) -> std::result::Result<Vec<f64>, String>,
    ) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        let err = |e: String| Error::tensor(&self.path, &info.name, e);
        if let Some(p) = &info.problem {
            return Err(err(p.clone()));
        }
        let view = self.view.as_ref().ok_or_else(|| {
            err(format!(
                "unsupported dtype {} (weights must be float16/32/64)",
                info.dtype
            ))
        })?;
        let whole = Source::Stored {
            start: 0,
            len: self.bytes.len(),
        };
        let mut read = |r: std::ops::Range<usize>| -> std::result::Result<Vec<u8>, String> {
            Inflaters::default().read(&self.bytes, &whole, r)
        };
        f(&mut read, view).map_err(err)
    }
}

impl TensorSource for NpyFile {
    fn format_name(&self) -> &str {
        "npy"
    }
    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        self.read_view(index, |read, view| blocks::read_whole(read, view))
    }
    fn reads_blocks(&self, index: usize) -> bool {
        self.tensors[index].problem.is_none()
            && self.view.as_ref().is_some_and(|v| v.shape.len() == 2)
    }
    fn read_block_f64(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        crate::check_block(&self.tensors[index], &rows, &cols)?;
        self.read_view(index, |read, view| {
            blocks::read_block(read, view, rows, cols)
        })
    }
}

/// A `.npz` archive of named arrays (plain or compressed).
pub struct NpzFile {
    path: PathBuf,
    tensors: Vec<TensorInfo>,
    /// Zip entry index of each tensor; with `by_position`, its position in the central
    /// directory instead.
    entries: Vec<usize>,
    /// Whether the archive repeats a name: `ZipArchive` keys its entries by name and keeps
    /// only the last copy, so such an archive is listed and read by central-directory
    /// position, every copy seen (see `mark_duplicate_names`).
    by_position: bool,
    /// The archive's bytes, read with `pread`.
    bytes: Arc<Bytes>,
    /// Decoders part-way through deflated entries, kept between block reads.
    inflaters: Inflaters,
    /// Per tensor, where its entry's bytes are and the array as a view of them, for stored
    /// and deflated entries of an archive without repeated names; `None` otherwise (read
    /// with the `zip` crate, whole).
    streams: Vec<Option<(Source, View)>>,
}

/// Where entry `index`'s data are in the archive, and the array it holds as a view of them
/// (`head`: its first bytes, holding the `.npy` header); `Ok(None)` for an entry compressed
/// in another way, read whole by the `zip` crate.
fn entry_stream(
    archive: &mut zip::ZipArchive<std::fs::File>,
    index: usize,
    head: &[u8],
    file_len: usize,
) -> std::result::Result<Option<(Source, View)>, String> {
    let f = archive.by_index_raw(index).map_err(|e| e.to_string())?;
    let start = f.data_start().ok_or("no local header")?;
    let (csize, size, crc) = (f.compressed_size(), f.size(), f.crc32());
    if start.saturating_add(csize) > file_len as u64 {
        return Err(format!(
            "entry data [{start}, +{csize}) run past the end of the {file_len}-byte file \
             (truncated?)"
        ));
    }
    let as_usize = |v: u64| usize::try_from(v).map_err(|_| "entry too large".to_string());
    let source = match f.compression() {
        zip::CompressionMethod::Stored if csize == size => Source::Stored {
            start: as_usize(start)?,
            len: as_usize(size)?,
        },
        zip::CompressionMethod::Deflated => {
            if size
                > csize
                    .saturating_mul(MAX_DEFLATE_RATIO)
                    .saturating_add(1 << 16)
            {
                return Err(format!(
                    "entry claims {size} bytes from {csize} deflated: more than deflate can \
                     produce (corrupt or hostile)"
                ));
            }
            Source::Deflated {
                start: as_usize(start)?,
                csize: as_usize(csize)?,
                size: as_usize(size)?,
                crc,
            }
        }
        _ => return Ok(None),
    };
    let l = parse_npy_header(head)?;
    if elem_size(&l.dtype).is_none() {
        return Ok(None);
    }
    let view = npy_view(&l, source.len())?;
    Ok(Some((source, view)))
}

/// The entry names of a zip archive in central-directory order, repeats kept.
fn names_by_position(path: &Path) -> std::result::Result<Vec<String>, String> {
    let file = crate::mapped::open_regular(path).map_err(|e| e.to_string())?;
    let mut archive =
        ZipIterable::try_new(file, zip::read::Config::default()).map_err(|e| e.to_string())?;
    let mut names = Vec::new();
    for entry in archive.files().map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        names.push(entry.name().map_err(|e| e.to_string())?.into_owned());
    }
    Ok(names)
}

/// Read entry `position` (in central-directory order) of a zip archive, at most `limit`
/// bytes; as [`read_entry`] otherwise.
fn read_at_position(
    path: &Path,
    position: usize,
    limit: Option<u64>,
) -> std::result::Result<Vec<u8>, String> {
    let file = crate::mapped::open_regular(path).map_err(|e| e.to_string())?;
    let mut body = file.try_clone().map_err(|e| e.to_string())?;
    let mut archive =
        ZipIterable::try_new(file, zip::read::Config::default()).map_err(|e| e.to_string())?;
    let entry = archive
        .files()
        .map_err(|e| e.to_string())?
        .nth(position)
        .ok_or("the entry is gone from the archive")?
        .map_err(|e| e.to_string())?;
    let f = entry
        .with_reader(&mut body, zip::ZipReadOptions::new())
        .map_err(|e| e.to_string())?;
    let size = f.size();
    if size > MAX_ENTRY {
        return Err(format!("entry claims {size} bytes"));
    }
    let cap = limit.map_or(size, |l| l.min(size));
    read_capped(f, cap)
}

/// Read at most `cap` bytes (declared by the archive) from `f` into a buffer reserved with
/// `try_reserve`: a size memory cannot hold is an error, not an abort.
fn read_capped(f: impl Read, cap: u64) -> std::result::Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    buf.try_reserve_exact(usize::try_from(cap).unwrap_or(usize::MAX))
        .map_err(|_| format!("cannot allocate the {cap} bytes the entry declares"))?;
    f.take(cap)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Upper bound on one uncompressed entry read into memory, against zip headers that lie.
const MAX_ENTRY: u64 = 64 << 30;

fn read_entry(
    archive: &mut zip::ZipArchive<std::fs::File>,
    entry: usize,
    limit: Option<u64>,
) -> std::result::Result<Vec<u8>, String> {
    let f = archive.by_index(entry).map_err(|e| e.to_string())?;
    let size = f.size();
    if size > MAX_ENTRY {
        return Err(format!("entry claims {size} bytes"));
    }
    let cap = limit.map_or(size, |l| l.min(size));
    read_capped(f, cap)
}

impl NpzFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = crate::mapped::open_regular(path)?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| Error::format(path, format!("not a valid .npz (zip) archive: {e}")))?;
        let mut tensors = Vec::new();
        let mut entries = Vec::new();
        let mut streams = Vec::new();
        let bytes = Arc::new(Bytes::map(path)?);
        let by_position = archive.has_duplicate_names();
        let repeated: Option<Vec<String>> =
            if by_position {
                Some(names_by_position(path).map_err(|e| {
                    Error::format(path, format!("not a valid .npz (zip) archive: {e}"))
                })?)
            } else {
                None
            };
        let count = repeated.as_ref().map_or(archive.len(), |n| n.len());
        // Archive order = the order numpy wrote the arrays.
        for index in 0..count {
            let entry = match match &repeated {
                Some(names) => Ok(names[index].clone()),
                None => archive
                    .by_index_raw(index)
                    .and_then(|f| Ok(f.name()?.into_owned())),
            } {
                Ok(e) => e,
                Err(e) => {
                    return Err(Error::format(
                        path,
                        format!("corrupt .npz entry {index}: {e}"),
                    ))
                }
            };
            if entry.ends_with('/') {
                continue;
            }
            let name = entry.strip_suffix(".npy").unwrap_or(&entry).to_string();
            // The header is in the first few hundred bytes.
            let head = if by_position {
                read_at_position(path, index, Some(1 << 16))
            } else {
                read_entry(&mut archive, index, Some(1 << 16))
            };
            let mut stream = None;
            let info = match head {
                Ok(head) => {
                    let mut info = info_from(path, name, &head);
                    if !by_position && info.problem.is_none() {
                        match entry_stream(&mut archive, index, &head, bytes.len()) {
                            Ok(s) => stream = s,
                            Err(e) => info.problem = Some(e),
                        }
                    }
                    info
                }
                Err(e) => TensorInfo {
                    name,
                    shape: Vec::new(),
                    dtype: DType::Other("unknown".into()),
                    file: path.to_path_buf(),
                    problem: Some(e),
                    role: None,
                },
            };
            tensors.push(info);
            entries.push(index);
            streams.push(stream);
        }
        // Two entries of one name: numpy keeps the last; see `mark_duplicate_names`.
        crate::mark_duplicate_names(&mut tensors);
        Ok(NpzFile {
            path: path.to_path_buf(),
            tensors,
            entries,
            by_position,
            bytes,
            inflaters: Inflaters::default(),
            streams,
        })
    }
}

impl TensorSource for NpzFile {
    fn format_name(&self) -> &str {
        "npz"
    }
    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        let err = |e: String| Error::tensor(&self.path, &info.name, e);
        if let Some(p) = &info.problem {
            return Err(err(p.clone()));
        }
        if let Some((source, view)) = &self.streams[index] {
            let mut read = |r| self.inflaters.read(&self.bytes, source, r);
            return blocks::read_whole(&mut read, view).map_err(err);
        }
        if self.by_position {
            let bytes = read_at_position(&self.path, self.entries[index], None).map_err(err)?;
            return decode_npy(&bytes).map_err(err);
        }
        // A fresh handle per read keeps the reader Sync without a lock.
        let file = crate::mapped::open_regular(&self.path)?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| err(e.to_string()))?;
        let bytes = read_entry(&mut archive, self.entries[index], None).map_err(err)?;
        decode_npy(&bytes).map_err(err)
    }
    /// 2-D arrays of stored entries in either order; of deflated entries when panels are
    /// consecutive in the stream (see [`View::panels_in_stream_order`]): C order of a tall
    /// array, Fortran order of a wide one.
    fn reads_blocks(&self, index: usize) -> bool {
        self.tensors[index].problem.is_none()
            && match &self.streams[index] {
                Some((Source::Stored { .. }, v)) => v.shape.len() == 2,
                Some((Source::Deflated { .. }, v)) => v.panels_in_stream_order(),
                None => false,
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
        match &self.streams[index] {
            Some((source, view)) if info.problem.is_none() => {
                let mut read = |r| self.inflaters.read(&self.bytes, source, r);
                blocks::read_block(&mut read, view, rows, cols)
                    .map_err(|e| Error::tensor(&self.path, &info.name, e))
            }
            _ => {
                let width = crate::row_len(info);
                let all = self.read_f64(index)?;
                Ok(rows
                    .flat_map(|r| all[r * width + cols.start..r * width + cols.end].to_vec())
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy_bytes(descr: &str, fortran: bool, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut h = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((h.len() as u16).to_le_bytes());
        out.extend(h.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn decodes_big_endian_fortran_f4() {
        // Logical [[1,2],[3,4]] in Fortran order: 1,3,2,4, big-endian f4.
        let data: Vec<u8> = [1.0f32, 3.0, 2.0, 4.0]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let b = npy_bytes(">f4", true, "(2, 2)", &data);
        assert_eq!(decode_npy(&b).unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn truncated_data_is_an_error_not_a_panic() {
        let b = npy_bytes("<f8", false, "(1000, 1000)", &[0u8; 16]);
        assert!(decode_npy(&b).unwrap_err().contains("truncated"));
        let b = npy_bytes("<i8", false, "(2,)", &[0u8; 16]);
        assert!(decode_npy(&b).unwrap_err().contains("unsupported dtype"));
        assert!(decode_npy(b"\x93NUMPY\x01").is_err());
    }
}
