//! NumPy `.npy` (one array, memory-mapped) and `.npz` (a zip of named `.npy` arrays, read one
//! entry at a time). The `.npy` header is parsed with `npyz`; the data are decoded here so
//! that f2/f4/f8 in either byte order and Fortran order are all handled the same way.

use super::convert::{decode_le, elem_size, fortran_to_c};
use super::{DType, TensorInfo, TensorSource};
use crate::{Error, Result};
use memmap2::Mmap;
use std::io::Read;
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

/// Decode the array in `bytes` (a whole `.npy`) to its shape and row-major f64 values; the
/// error says what is wrong. The parse-from-bytes entry point of the fuzz target.
pub fn decode_npy_bytes(bytes: &[u8]) -> std::result::Result<(Vec<usize>, Vec<f64>), String> {
    let shape = parse_npy_header(bytes)?.shape;
    Ok((shape, decode_npy(bytes)?))
}

/// Decode the array in `bytes` (a whole `.npy`) to row-major f64.
fn decode_npy(bytes: &[u8]) -> std::result::Result<Vec<f64>, String> {
    let l = parse_npy_header(bytes)?;
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
    map: Mmap,
    tensors: Vec<TensorInfo>,
}

impl NpyFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = crate::mapped::open_regular(path)?;
        // SAFETY: read-only map; see the safetensors reader.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        parse_npy_header(&map).map_err(|e| Error::format(path, e))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let info = info_from(path, name, &map);
        Ok(NpyFile {
            path: path.to_path_buf(),
            map,
            tensors: vec![info],
        })
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
        let name = &self.tensors[index].name;
        decode_npy(&self.map).map_err(|e| Error::tensor(&self.path, name, e))
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
    let mut buf = Vec::with_capacity(cap as usize);
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
    let mut buf = Vec::with_capacity(cap as usize);
    f.take(cap)
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    Ok(buf)
}

impl NpzFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file = crate::mapped::open_regular(path)?;
        let mut archive = zip::ZipArchive::new(file)
            .map_err(|e| Error::format(path, format!("not a valid .npz (zip) archive: {e}")))?;
        let mut tensors = Vec::new();
        let mut entries = Vec::new();
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
            let info = match head {
                Ok(head) => info_from(path, name, &head),
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
        }
        // Two entries of one name: numpy keeps the last; see `mark_duplicate_names`.
        crate::mark_duplicate_names(&mut tensors);
        Ok(NpzFile {
            path: path.to_path_buf(),
            tensors,
            entries,
            by_position,
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
