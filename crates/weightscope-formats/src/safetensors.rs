//! `.safetensors` files, memory-mapped: the header is parsed once and a tensor's bytes are
//! decoded only when it is read.
//!
//! The header is validated per tensor rather than all-or-nothing (as the `safetensors`
//! crate's `SafeTensors::deserialize` does) so that one bad entry or a truncated file loses
//! only the tensors it touches: the others are still analysed. The element types and the
//! header's JSON schema are the `safetensors` crate's own.

use super::convert::{decode_le, elem_size};
use super::{DType, TensorInfo, TensorSource};
use crate::mapped::Bytes;
use crate::{Error, Result};
use safetensors::tensor::Dtype;
use std::path::{Path, PathBuf};

/// Largest header accepted (the `safetensors` crate's limit): guards the allocation.
const MAX_HEADER: u64 = 100_000_000;

/// One `.safetensors` file.
pub struct SafetensorsFile {
    path: PathBuf,
    map: Bytes,
    tensors: Vec<TensorInfo>,
    /// Absolute byte range of each tensor's data in the file.
    ranges: Vec<(usize, usize)>,
}

fn dtype_of(d: Dtype) -> DType {
    match d {
        Dtype::F64 => DType::F64,
        Dtype::F32 => DType::F32,
        Dtype::F16 => DType::F16,
        Dtype::BF16 => DType::BF16,
        other => DType::Other(format!("{other:?}")),
    }
}

impl SafetensorsFile {
    /// Open and parse the header. Fails only if the header itself is unreadable.
    pub fn open(path: &Path) -> Result<Self> {
        Self::from(path, Bytes::map(path)?)
    }

    /// Parse a safetensors file already in memory (`path` names it in errors).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        Self::from(path, Bytes::Owned(bytes))
    }

    fn from(path: &Path, map: Bytes) -> Result<Self> {
        let (tensors, ranges) = parse_header(path, &map)?;
        Ok(SafetensorsFile {
            path: path.to_path_buf(),
            map,
            tensors,
            ranges,
        })
    }
}

/// The tensors of a header, and the absolute byte range of each one's data.
type Listing = (Vec<TensorInfo>, Vec<(usize, usize)>);

/// Parse a safetensors header from the file's bytes.
pub(crate) fn parse_header(path: &Path, bytes: &[u8]) -> Result<Listing> {
    parse_header_of(path, bytes, bytes.len())
}

/// The length of the JSON header that follows the first 8 bytes of a file (`head`, at
/// least 8 bytes long, else an error).
pub(crate) fn header_len(path: &Path, head: &[u8]) -> Result<usize> {
    let bad = |m: &str| Error::format(path, format!("not a valid safetensors file: {m}"));
    let first: [u8; 8] = head
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("shorter than the 8-byte header length"))?;
    let n = u64::from_le_bytes(first);
    if n > MAX_HEADER {
        return Err(bad(&format!("header length {n} is implausibly large")));
    }
    Ok(n as usize)
}

/// Parse a safetensors header from the first bytes of a file of `file_len` bytes: `head`
/// holds the 8-byte length and the JSON header (as far as the file has them), not
/// necessarily the data (a remote file's header is fetched alone).
pub(crate) fn parse_header_of(path: &Path, head: &[u8], file_len: usize) -> Result<Listing> {
    let bad = |m: &str| Error::format(path, format!("not a valid safetensors file: {m}"));
    let n = header_len(path, head)?;
    let header = head.get(8..8 + n).ok_or_else(|| {
        bad(&format!(
            "header claims {n} bytes but the file has only {}",
            file_len.saturating_sub(8)
        ))
    })?;
    let text = std::str::from_utf8(header).map_err(|_| bad("header is not UTF-8"))?;
    let HeaderEntries(entries) =
        serde_json::from_str(text).map_err(|e| bad(&format!("header is not JSON ({e})")))?;
    let data_start = 8 + n;
    let mut items = Vec::new();
    for (name, value) in entries {
        if name == "__metadata__" {
            continue;
        }
        let parsed: Result<safetensors::tensor::TensorInfo, _> = serde_json::from_value(value);
        let (info, range) = match parsed {
            Ok(t) => {
                let dtype = dtype_of(t.dtype);
                let (s, e) = t.data_offsets;
                let numel = t
                    .shape
                    .iter()
                    .try_fold(1usize, |a, &b| a.checked_mul(b))
                    .and_then(|n| n.checked_mul(t.dtype.bitsize()))
                    .map(|bits| bits.div_ceil(8));
                let problem = match numel {
                    None => Some("shape overflows".to_string()),
                    Some(_) if e < s => Some(format!("data_offsets [{s}, {e}] are reversed")),
                    Some(nb) if nb != e - s => Some(format!(
                        "shape {:?} of {:?} needs {nb} bytes but data_offsets span {}",
                        t.shape,
                        t.dtype,
                        e - s
                    )),
                    Some(_) if data_start.saturating_add(e) > file_len => Some(format!(
                        "data ends at byte {} but the file has {file_len} bytes (truncated?)",
                        data_start.saturating_add(e),
                    )),
                    Some(_) => None,
                };
                (
                    TensorInfo {
                        name: name.clone(),
                        // An overflowing shape is not listed: its element count is not a number.
                        shape: if numel.is_none() { Vec::new() } else { t.shape },
                        dtype,
                        file: path.to_path_buf(),
                        problem,
                        role: None,
                    },
                    (data_start.saturating_add(s), data_start.saturating_add(e)),
                )
            }
            Err(e) => (
                TensorInfo {
                    name: name.clone(),
                    shape: Vec::new(),
                    dtype: DType::Other("unknown".into()),
                    file: path.to_path_buf(),
                    problem: Some(format!("bad header entry ({e})")),
                    role: None,
                },
                (usize::MAX, usize::MAX),
            ),
        };
        items.push((info, range));
    }
    // A repeated key is a duplicate tensor name, marked in header order (see
    // `mark_duplicate_names`); its data range stays for the sort below.
    let mut infos: Vec<TensorInfo> = items.iter().map(|(t, _)| t.clone()).collect();
    crate::mark_duplicate_names(&mut infos);
    for ((t, _), marked) in items.iter_mut().zip(infos) {
        *t = marked;
    }
    // File order (by data offset), as the tensors were written; name breaks ties.
    items.sort_by(|a, b| a.1 .0.cmp(&b.1 .0).then_with(|| a.0.name.cmp(&b.0.name)));
    Ok(items.into_iter().unzip())
}

/// The header's entries in their order, a repeated key kept (a JSON map keeps only the last
/// value of a key, which would drop a duplicate tensor in silence).
struct HeaderEntries(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for HeaderEntries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = HeaderEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<HeaderEntries, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(HeaderEntries(out))
            }
        }
        d.deserialize_map(Entries)
    }
}

impl TensorSource for SafetensorsFile {
    fn format_name(&self) -> &str {
        "safetensors"
    }
    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        let (s, e) = self.ranges[index];
        self.decode_range(index, s, e)
    }
    fn reads_blocks(&self, index: usize) -> bool {
        let info = &self.tensors[index];
        info.problem.is_none() && elem_size(&info.dtype).is_some() && !info.shape.is_empty()
    }
    fn read_block_f64(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        crate::check_block(info, &rows, &cols)?;
        let width = crate::row_len(info);
        let es = elem_size(&info.dtype).unwrap_or(0);
        let s = self.ranges[index].0;
        let at = |r: usize, c: usize| s.saturating_add((r * width + c) * es);
        if cols.start == 0 && cols.end == width {
            // Whole rows: one contiguous range.
            return self.decode_range(index, at(rows.start, 0), at(rows.end, 0));
        }
        let mut out = Vec::with_capacity(rows.len() * cols.len());
        for r in rows {
            out.extend(self.decode_range(index, at(r, cols.start), at(r, cols.end))?);
        }
        Ok(out)
    }
}

impl SafetensorsFile {
    /// Decode bytes [s, e) of tensor `index`'s data (within its range: checked by the
    /// header parser and the callers), read from the file rather than through the map (see
    /// [`Bytes::read_range`]), so that the decoded pages do not accumulate in the resident set.
    fn decode_range(&self, index: usize, s: usize, e: usize) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        if let Some(p) = &info.problem {
            return Err(Error::tensor(&self.path, &info.name, p.clone()));
        }
        if elem_size(&info.dtype).is_none() {
            return Err(Error::tensor(
                &self.path,
                &info.name,
                format!(
                    "unsupported dtype {} (weights must be F64, F32, F16 or BF16)",
                    info.dtype
                ),
            ));
        }
        let bytes = self
            .map
            .read_range(s..e)
            .map_err(|e| Error::tensor(&self.path, &info.name, e.to_string()))?;
        decode_le(&bytes, &info.dtype)
            .ok_or_else(|| Error::tensor(&self.path, &info.name, "cannot decode"))
    }
}

/// Serialise f32 tensors (name, shape, row-major data) to safetensors bytes, in the given
/// order. Used by `weightscope synth` and the benchmarks.
pub fn to_safetensors_bytes(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, d)| d.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|v| (name.clone(), v))
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Usage(format!("cannot build safetensors: {e}")))?;
    safetensors::tensor::serialize(views, None)
        .map_err(|e| Error::Usage(format!("cannot serialise safetensors: {e}")))
}
