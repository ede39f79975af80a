//! llama.cpp `.gguf` files (GGUF v2 and v3, little-endian), memory-mapped; quantized tensors
//! are dequantized when read, a whole tensor or a block of its rows (and columns) at a time,
//! from only the bytes that hold it, so that a large layer streams by panels.
//!
//! File layout (ggml `docs/gguf.md`), all little-endian:
//!
//! ```text
//! "GGUF"  u32 version  u64 n_tensors  u64 n_kv
//! n_kv ×      { string key, u32 value_type, value }
//! n_tensors × { string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset }
//! padding to `general.alignment` (default 32)
//! tensor data; each tensor at data_start + offset
//! ```
//!
//! A string is a u64 byte length then the bytes (not NUL-terminated); an array value is
//! `u32 element_type, u64 count, count × value` and may nest. `ne[0]` is the innermost
//! (contiguous) dimension — the row length — so the shape is listed reversed, in PyTorch's
//! order: llama's `blk.0.attn_q.weight` with `ne = [4096, 4096]` reads as (out, in)
//! row-major. Quantized types store each row as consecutive blocks of `block` values packed
//! into `type_size` bytes (ggml `type_traits`); the block layouts decoded here are ggml's
//! `block_q4_0` … `block_q6_K` (`ggml-common.h`) and the arithmetic is that of ggml's
//! `dequantize_row_*` (`ggml-quants.c`), in f32 in the same order, so the values are
//! bit-identical to ggml's and to the `gguf` Python package's.
//!
//! Every count, length and offset read from the file is checked against the bytes that are
//! actually there before anything is allocated or sliced, so a corrupt or hostile header is
//! an error, never a panic or a huge allocation. A bad tensor entry (unknown type, data past
//! the end of the file) marks only that tensor.

use super::convert::shape_fits;
use super::{DType, TensorInfo, TensorSource};
use crate::mapped::Bytes;
use crate::{Error, Result};
use half::f16;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 4] = b"GGUF";
/// `GGUF_DEFAULT_ALIGNMENT`.
const DEFAULT_ALIGNMENT: u64 = 32;
/// `GGML_MAX_DIMS`: llama.cpp rejects tensors with more dimensions.
const MAX_DIMS: u64 = 4;
/// Arrays of arrays are legal; the depth is bounded so that a file of nested one-element
/// arrays cannot overflow the stack (no real model nests more than twice).
const MAX_NESTING: usize = 16;
/// The ggml `QK_K` super-block size of the K-quants.
const QK_K: usize = 256;

/// A metadata value (`gguf_type`).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// The value as an unsigned integer, for any non-negative integer type.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    /// The value as a string, for strings.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Size facts of a ggml tensor type (ggml.c `type_traits`): `block` values are packed into
/// `type_size` bytes.
#[derive(Debug, Clone, Copy)]
struct TypeInfo {
    name: &'static str,
    block: usize,
    type_size: usize,
}

/// ggml type id → name and block size. `None` sizes are ids ggml has removed (their layout
/// is not fixed) — listed by name, never read.
fn type_info(id: u32) -> (String, Option<TypeInfo>) {
    let t = |name, block, type_size| {
        (
            String::from(name),
            Some(TypeInfo {
                name,
                block,
                type_size,
            }),
        )
    };
    match id {
        0 => t("F32", 1, 4),
        1 => t("F16", 1, 2),
        2 => t("Q4_0", 32, 18),
        3 => t("Q4_1", 32, 20),
        6 => t("Q5_0", 32, 22),
        7 => t("Q5_1", 32, 24),
        8 => t("Q8_0", 32, 34),
        9 => t("Q8_1", 32, 36),
        10 => t("Q2_K", QK_K, 84),
        11 => t("Q3_K", QK_K, 110),
        12 => t("Q4_K", QK_K, 144),
        13 => t("Q5_K", QK_K, 176),
        14 => t("Q6_K", QK_K, 210),
        15 => t("Q8_K", QK_K, 292),
        16 => t("IQ2_XXS", QK_K, 66),
        17 => t("IQ2_XS", QK_K, 74),
        18 => t("IQ3_XXS", QK_K, 98),
        19 => t("IQ1_S", QK_K, 50),
        20 => t("IQ4_NL", 32, 18),
        21 => t("IQ3_S", QK_K, 110),
        22 => t("IQ2_S", QK_K, 82),
        23 => t("IQ4_XS", QK_K, 136),
        24 => t("I8", 1, 1),
        25 => t("I16", 1, 2),
        26 => t("I32", 1, 4),
        27 => t("I64", 1, 8),
        28 => t("F64", 1, 8),
        29 => t("IQ1_M", QK_K, 56),
        30 => t("BF16", 1, 2),
        34 => t("TQ1_0", QK_K, 54),
        35 => t("TQ2_0", QK_K, 66),
        39 => t("MXFP4", 32, 17),
        40 => t("NVFP4", 64, 36),
        41 => t("Q1_0", 128, 18),
        4 => ("Q4_2".into(), None),
        5 => ("Q4_3".into(), None),
        31 => ("Q4_0_4_4".into(), None),
        32 => ("Q4_0_4_8".into(), None),
        33 => ("Q4_0_8_8".into(), None),
        36 => ("IQ4_NL_4_4".into(), None),
        37 => ("IQ4_NL_4_8".into(), None),
        38 => ("IQ4_NL_8_8".into(), None),
        other => (format!("ggml type {other}"), None),
    }
}

/// Whether [`dequantize`] reads this type.
fn is_supported(id: u32) -> bool {
    matches!(id, 0..=3 | 6..=8 | 10..=14 | 28 | 30)
}

/// How a ggml type is listed.
fn dtype_of(id: u32, name: &str) -> DType {
    match id {
        0 => DType::F32,
        1 => DType::F16,
        28 => DType::F64,
        30 => DType::BF16,
        24..=27 => DType::Other(name.to_string()),
        _ => DType::Quantized(name.to_string()),
    }
}

/// One entry of the tensor-info table, as stored.
#[derive(Debug, Clone)]
pub struct GgufTensor {
    pub name: String,
    /// `ne`, innermost first (GGUF order).
    pub ne: Vec<u64>,
    /// ggml type id.
    pub ggml_type: u32,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

/// The parsed header of a GGUF file.
#[derive(Debug, Clone)]
pub struct GgufHeader {
    pub version: u32,
    /// Key/value metadata in file order.
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<GgufTensor>,
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_start: u64,
}

impl GgufHeader {
    /// The metadata value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// Bounds-checked little-endian reader over the file's bytes.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

type R<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: u64, what: &str) -> R<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(format!(
                "{what} needs {n} bytes at byte {} but the file has only {} left (truncated or corrupt)",
                self.pos,
                self.remaining()
            ));
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }
    fn array<const N: usize>(&mut self, what: &str) -> R<[u8; N]> {
        Ok(self.take(N as u64, what)?.try_into().unwrap())
    }
    fn u32(&mut self, what: &str) -> R<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> R<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn string(&mut self, what: &str) -> R<String> {
        let n = self.u64(what)?;
        let bytes = self.take(n, what)?;
        // Keys and names are UTF-8 by the spec; tokenizer strings in the wild are not always,
        // and a lossy string still lets the tensors be read.
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// A value of `gguf_type` `ty`.
    fn value(&mut self, ty: u32, depth: usize) -> R<Value> {
        Ok(match ty {
            0 => Value::U8(u8::from_le_bytes(self.array("u8 value")?)),
            1 => Value::I8(i8::from_le_bytes(self.array("i8 value")?)),
            2 => Value::U16(u16::from_le_bytes(self.array("u16 value")?)),
            3 => Value::I16(i16::from_le_bytes(self.array("i16 value")?)),
            4 => Value::U32(self.u32("u32 value")?),
            5 => Value::I32(i32::from_le_bytes(self.array("i32 value")?)),
            6 => Value::F32(f32::from_le_bytes(self.array("f32 value")?)),
            7 => Value::Bool(self.array::<1>("bool value")?[0] != 0),
            8 => Value::String(self.string("string value")?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(format!("arrays nested deeper than {MAX_NESTING}"));
                }
                let elem = self.u32("array type")?;
                let count = self.u64("array length")?;
                // Every element takes at least this many bytes, so a count that cannot fit
                // in the rest of the file is rejected before any allocation.
                let min = match elem {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    t => return Err(format!("unknown array element type {t}")),
                };
                if count > (self.remaining() / min) as u64 {
                    return Err(format!(
                        "array of {count} elements does not fit in the {} bytes left",
                        self.remaining()
                    ));
                }
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.value(elem, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64("u64 value")?),
            11 => Value::I64(i64::from_le_bytes(self.array("i64 value")?)),
            12 => Value::F64(f64::from_le_bytes(self.array("f64 value")?)),
            t => return Err(format!("unknown metadata value type {t}")),
        })
    }
}

/// Parse the header (metadata and tensor infos) from the whole file's bytes.
pub fn parse_header(bytes: &[u8]) -> R<GgufHeader> {
    let mut r = Reader { b: bytes, pos: 0 };
    if bytes.len() < 4 || &bytes[..4] != MAGIC {
        return Err("not a GGUF file (no \"GGUF\" magic)".into());
    }
    r.pos = 4;
    let version = r.u32("version")?;
    match version {
        2 | 3 => {}
        1 => return Err(
            "GGUF v1 (32-bit counts, 2023) is not supported; re-convert with a current llama.cpp"
                .into(),
        ),
        v if v.swap_bytes() <= 3 => {
            return Err("big-endian GGUF is not supported".into());
        }
        v => return Err(format!("unsupported GGUF version {v}")),
    }
    let n_tensors = r.u64("tensor count")?;
    let n_kv = r.u64("metadata count")?;
    // Smallest entries: a key/value is an empty key (8) + type (4) + a u8 (1); a tensor info
    // an empty name (8) + n_dims (4) + type (4) + offset (8).
    if n_kv > (r.remaining() / 13) as u64 {
        return Err(format!("{n_kv} metadata entries cannot fit in the file"));
    }
    if n_tensors > (r.remaining() / 24) as u64 {
        return Err(format!("{n_tensors} tensor infos cannot fit in the file"));
    }
    let mut metadata = Vec::with_capacity(n_kv as usize);
    for i in 0..n_kv {
        let key = r
            .string("metadata key")
            .map_err(|e| format!("metadata entry {i}: {e}"))?;
        let ty = r
            .u32("value type")
            .map_err(|e| format!("metadata '{key}': {e}"))?;
        let v = r
            .value(ty, 0)
            .map_err(|e| format!("metadata '{key}': {e}"))?;
        metadata.push((key, v));
    }
    let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some((_, v)) => match v.as_u64() {
            // The spec says u32 and a power of two; ggml's align macro needs the latter.
            Some(a) if a.is_power_of_two() && a <= u32::MAX as u64 => a,
            _ => return Err(format!("general.alignment {v:?} is not a power of two")),
        },
    };
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    for i in 0..n_tensors {
        let ctx = |e: String| format!("tensor info {i}: {e}");
        let name = r.string("tensor name").map_err(ctx)?;
        let ctx = |e: String| format!("tensor info {i} ('{name}'): {e}");
        let n_dims = r.u32("n_dims").map_err(ctx)? as u64;
        if n_dims > (r.remaining() / 8) as u64 {
            return Err(ctx(format!("{n_dims} dimensions cannot fit in the file")));
        }
        // More than GGML_MAX_DIMS is a problem of this tensor only (see `from_bytes`).
        let mut ne = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            ne.push(r.u64("dimension").map_err(ctx)?);
        }
        let ggml_type = r.u32("tensor type").map_err(ctx)?;
        let offset = r.u64("tensor offset").map_err(ctx)?;
        tensors.push(GgufTensor {
            name,
            ne,
            ggml_type,
            offset,
        });
    }
    // The data section starts at the next multiple of the alignment (`GGML_PAD`).
    let end = r.pos as u64;
    let data_start = end.div_ceil(alignment) * alignment;
    Ok(GgufHeader {
        version,
        metadata,
        tensors,
        alignment,
        data_start,
    })
}

/// One `.gguf` file.
pub struct GgufFile {
    path: PathBuf,
    bytes: Bytes,
    header: GgufHeader,
    tensors: Vec<TensorInfo>,
    /// Absolute byte range of each tensor's data (empty where the tensor has a problem).
    ranges: Vec<(usize, usize)>,
}

impl GgufFile {
    /// Memory-map and parse `path`. Fails only if the header itself is unreadable.
    pub fn open(path: &Path) -> Result<Self> {
        Self::from_bytes_inner(path, Bytes::map(path)?)
    }

    /// Parse a GGUF file held in memory; `path` only names it in listings and errors.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        Self::from_bytes_inner(path, Bytes::Owned(bytes))
    }

    fn from_bytes_inner(path: &Path, bytes: Bytes) -> Result<Self> {
        let header = parse_header(&bytes)
            .map_err(|m| Error::format(path, format!("not a valid GGUF file: {m}")))?;
        let (tensors, ranges) = listing(path, &header, bytes.len());
        Ok(GgufFile {
            path: path.to_path_buf(),
            bytes,
            header,
            tensors,
            ranges,
        })
    }

    /// The parsed header: version, metadata, raw tensor infos, alignment.
    pub fn header(&self) -> &GgufHeader {
        &self.header
    }
}

/// The tensors of a parsed header of a file of `file_len` bytes, and the absolute byte range
/// of each one's data (`(0, 0)` where the tensor has a problem).
pub(crate) fn listing(
    path: &Path,
    header: &GgufHeader,
    file_len: usize,
) -> (Vec<TensorInfo>, Vec<(usize, usize)>) {
    let mut tensors = Vec::with_capacity(header.tensors.len());
    let mut ranges = Vec::with_capacity(header.tensors.len());
    for t in &header.tensors {
        let (type_name, ti) = type_info(t.ggml_type);
        let is_int = matches!(t.ggml_type, 24..=27);
        let checked = if t.ne.len() as u64 > MAX_DIMS {
            Err(format!(
                "{} dimensions (ggml allows at most {MAX_DIMS})",
                t.ne.len()
            ))
        } else if !is_supported(t.ggml_type) && !is_int {
            Err(format!("unsupported quantization type {type_name}"))
        } else {
            check_tensor(t, ti, header, file_len)
        };
        let mut problem = match checked {
            Ok(range) => {
                ranges.push(range);
                None
            }
            Err(p) => {
                ranges.push((0, 0));
                Some(p)
            }
        };
        // A shape whose product overflows would make every consumer that multiplies
        // the dims panic: such a tensor is listed without one (its problem says why).
        let shape: Vec<usize> = if shape_fits(&t.ne) {
            t.ne.iter().rev().map(|&d| d as usize).collect()
        } else {
            problem.get_or_insert_with(|| format!("shape (ne) {:?} overflows", t.ne));
            Vec::new()
        };
        tensors.push(TensorInfo {
            name: t.name.clone(),
            shape,
            dtype: dtype_of(t.ggml_type, &type_name),
            file: path.to_path_buf(),
            problem,
            role: None,
        });
    }
    // llama.cpp and gguf-py refuse a file that lists a name twice; see
    // `mark_duplicate_names`.
    crate::mark_duplicate_names(&mut tensors);
    (tensors, ranges)
}

/// For a tensor of ggml type `ty` that [`GgufFile::reads_blocks`] would read by blocks: the
/// values and the bytes of one quant block (1 and the element size for plain floats).
#[cfg(feature = "remote")]
pub(crate) fn block_unit(ty: u32) -> Option<(usize, usize)> {
    match type_info(ty) {
        (_, Some(ti)) if is_supported(ty) => Some((ti.block, ti.type_size)),
        _ => None,
    }
}

/// The absolute byte range of a tensor's data, or why it cannot be read.
fn check_tensor(
    t: &GgufTensor,
    ti: Option<TypeInfo>,
    h: &GgufHeader,
    file_len: usize,
) -> R<(usize, usize)> {
    let Some(ti) = ti else {
        let (name, _) = type_info(t.ggml_type);
        return Err(format!(
            "unsupported quantization type {name} (unknown to this reader or removed from ggml)"
        ));
    };
    let numel =
        t.ne.iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .filter(|&n| usize::try_from(n).is_ok())
            .ok_or_else(|| format!("shape (ne) {:?} overflows", t.ne))?;
    let row = t.ne.first().copied().unwrap_or(1);
    if row % ti.block as u64 != 0 {
        return Err(format!(
            "row length {row} is not a multiple of the {} block size {}",
            ti.name, ti.block
        ));
    }
    let nbytes = (numel / ti.block as u64)
        .checked_mul(ti.type_size as u64)
        .ok_or("size overflows")?;
    let start = h
        .data_start
        .checked_add(t.offset)
        .ok_or("offset overflows")?;
    let end = start.checked_add(nbytes).ok_or("size overflows")?;
    if end > file_len as u64 {
        return Err(format!(
            "data [{start}, {end}) run past the end of the file ({file_len} bytes; truncated?)"
        ));
    }
    Ok((start as usize, end as usize))
}

impl TensorSource for GgufFile {
    fn format_name(&self) -> &str {
        "gguf"
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
        if let DType::Other(t) = &info.dtype {
            return Err(err(format!(
                "unsupported dtype {t} (an integer tensor, not weights)"
            )));
        }
        let (s, e) = self.ranges[index];
        let bytes = self
            .bytes
            .read_range(s..e)
            .map_err(|e| err(e.to_string()))?;
        dequantize(self.header.tensors[index].ggml_type, &bytes).map_err(err)
    }
    /// Tensors of two or more dimensions: a row of the `shape[0]` × rest view is a whole
    /// number of ggml rows (`ne[0]` values each), hence of quant blocks, so a block of rows
    /// is a contiguous byte range and needs nothing else to dequantize.
    fn reads_blocks(&self, index: usize) -> bool {
        let info = &self.tensors[index];
        info.problem.is_none()
            && info.shape.len() >= 2
            && !matches!(info.dtype, DType::Other(_))
            && is_supported(self.header.tensors[index].ggml_type)
    }
    /// Reads only the bytes of the rows asked for and dequantizes only the quant blocks that
    /// hold the columns asked for (one contiguous range when the block spans whole rows, one
    /// range per row otherwise), with the same decoders as [`read_f64`](Self::read_f64), so
    /// the values are the same bits.
    fn read_block_f64(
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
        let ty = self.header.tensors[index].ggml_type;
        let ti = match type_info(ty) {
            (_, Some(ti)) if is_supported(ty) && !matches!(info.dtype, DType::Other(_)) => ti,
            (name, _) => return Err(err(format!("cannot read {name} by blocks"))),
        };
        let width = crate::row_len(info);
        if !reads_whole_blocks(info, ti) {
            return Err(err(format!(
                "a row of {width} values is not a whole number of {} blocks",
                ti.name
            )));
        }
        // Bytes per row of the view; the block lies inside the tensor (checked above), whose
        // byte range lies inside the file (checked at open), so none of this overflows.
        let row_bytes = width / ti.block * ti.type_size;
        let start = self.ranges[index].0;
        let read = |range: std::ops::Range<usize>| {
            let bytes = self
                .bytes
                .read_range(range)
                .map_err(|e| err(e.to_string()))?;
            dequantize(ty, &bytes).map_err(err)
        };
        if cols.start == 0 && cols.end == width {
            return read(start + rows.start * row_bytes..start + rows.end * row_bytes);
        }
        // The quant blocks holding the columns, and where the columns start in the first.
        let (b0, b1) = (cols.start / ti.block, cols.end.div_ceil(ti.block));
        let skip = cols.start - b0 * ti.block;
        let mut out = Vec::with_capacity(rows.len() * cols.len());
        for r in rows {
            let at = start + r * row_bytes;
            let values = read(at + b0 * ti.type_size..at + b1 * ti.type_size)?;
            out.extend_from_slice(&values[skip..skip + cols.len()]);
        }
        Ok(out)
    }
}

/// Whether a row of the tensor viewed as `shape[0]` rows is a whole number of quant blocks
/// (true of every tensor of two or more dimensions that passed [`check_tensor`]; checked
/// again so that a block read can never slice a quant block).
fn reads_whole_blocks(info: &TensorInfo, ti: TypeInfo) -> bool {
    info.shape.len() >= 2 && crate::row_len(info) % ti.block == 0
}

// ---------------------------------------------------------------------------------------
// Dequantization (ggml-quants.c `dequantize_row_*`), block by block, in f32.

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}

/// Decode `bytes`, a whole number of blocks of ggml type `ty`, to row-major f64.
pub fn dequantize(ty: u32, bytes: &[u8]) -> R<Vec<f64>> {
    let (name, ti) = type_info(ty);
    let ti = ti
        .filter(|_| is_supported(ty))
        .ok_or_else(|| format!("unsupported quantization type {name}"))?;
    if bytes.len() % ti.type_size != 0 {
        return Err(format!(
            "{} bytes are not a whole number of {name} blocks of {} bytes",
            bytes.len(),
            ti.type_size
        ));
    }
    let n = bytes.len() / ti.type_size * ti.block;
    let mut out = Vec::with_capacity(n);
    let blocks = bytes.chunks_exact(ti.type_size);
    // Plain floats need no block buffer.
    match ty {
        0 => {
            out.extend(blocks.map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64));
            return Ok(out);
        }
        1 => {
            out.extend(blocks.map(|c| f16::from_le_bytes([c[0], c[1]]).to_f64()));
            return Ok(out);
        }
        30 => {
            out.extend(blocks.map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64()));
            return Ok(out);
        }
        28 => {
            out.extend(blocks.map(|c| f64::from_le_bytes(c.try_into().unwrap())));
            return Ok(out);
        }
        _ => {}
    }
    let decode: fn(&[u8], &mut [f32]) = match ty {
        2 => q4_0,
        3 => q4_1,
        6 => q5_0,
        7 => q5_1,
        8 => q8_0,
        10 => q2_k,
        11 => q3_k,
        12 => q4_k,
        13 => q5_k,
        14 => q6_k,
        _ => unreachable!("is_supported covers the types above"),
    };
    let mut y = vec![0f32; ti.block];
    for b in blocks {
        decode(b, &mut y);
        out.extend(y.iter().map(|&v| v as f64));
    }
    Ok(out)
}

/// `block_q4_0`: f16 d, 16 bytes of nibbles; value j is the low nibble of byte j, value
/// j+16 the high nibble, each minus 8, times d.
fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qs = &b[2..18];
    for j in 0..16 {
        y[j] = ((qs[j] & 0xF) as i32 - 8) as f32 * d;
        y[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
    }
}

/// `block_q4_1`: f16 d, f16 m, 16 bytes of nibbles; x·d + m.
fn q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qs = &b[4..20];
    for j in 0..16 {
        y[j] = (qs[j] & 0xF) as f32 * d + m;
        y[j + 16] = (qs[j] >> 4) as f32 * d + m;
    }
}

/// `block_q5_0`: f16 d, u32 qh (bit i = fifth bit of value i), 16 bytes of nibbles; values
/// are 5-bit minus 16, times d.
fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes(b[2..6].try_into().unwrap());
    let qs = &b[6..22];
    for j in 0..16 {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = (((qs[j] & 0xF) as u32 | h0) as i32 - 16) as f32 * d;
        y[j + 16] = (((qs[j] >> 4) as u32 | h1) as i32 - 16) as f32 * d;
    }
}

/// `block_q5_1`: f16 d, f16 m, u32 qh, 16 bytes of nibbles; x·d + m with 5-bit x.
fn q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (f16_at(b, 0), f16_at(b, 2));
    let qh = u32::from_le_bytes(b[4..8].try_into().unwrap());
    let qs = &b[8..24];
    for j in 0..16 {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        y[j] = ((qs[j] & 0xF) as u32 | h0) as f32 * d + m;
        y[j + 16] = ((qs[j] >> 4) as u32 | h1) as f32 * d + m;
    }
}

/// `block_q8_0`: f16 d, 32 × i8; x·d.
fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..32 {
        y[j] = (b[2 + j] as i8) as f32 * d;
    }
}

/// `block_q2_K`: 16 bytes of scales (low nibble scale, high nibble min, per 16 values),
/// 64 bytes of 2-bit quants, f16 d, f16 dmin. Each 128-value half reads 32 quant bytes four
/// times at shifts 0, 2, 4, 6.
fn q2_k(b: &[u8], y: &mut [f32]) {
    let scales = &b[0..16];
    let d = f16_at(b, 80);
    let min = f16_at(b, 82);
    let mut is = 0;
    let mut k = 0;
    for n in 0..2 {
        let q = &b[16 + 32 * n..16 + 32 * n + 32];
        for shift in [0, 2, 4, 6] {
            for half in 0..2 {
                let sc = scales[is];
                is += 1;
                let dl = d * (sc & 0xF) as f32;
                let ml = min * (sc >> 4) as f32;
                for l in 0..16 {
                    y[k] = dl * ((q[16 * half + l] >> shift) & 3) as f32 - ml;
                    k += 1;
                }
            }
        }
    }
}

/// `block_q3_K`: 32 bytes hmask (high bit, inverted: a clear bit subtracts 4), 64 bytes of
/// 2-bit quants, 12 bytes of sixteen 6-bit scales (biased by 32), f16 d.
fn q3_k(b: &[u8], y: &mut [f32]) {
    let hm = &b[0..32];
    let d_all = f16_at(b, 108);
    // Unpack the scales as ggml does with its kmask1/kmask2 shuffle: scale i takes its low
    // 4 bits from byte i%8 (low nibble for i<8, high for i≥8) and its high 2 bits from
    // byte 8 + i%4 at shift 2·(i/4).
    let sb = &b[96..108];
    let mut scales = [0i32; 16];
    for (i, s) in scales.iter_mut().enumerate() {
        let low = if i < 8 { sb[i] & 0xF } else { sb[i - 8] >> 4 };
        let high = (sb[8 + i % 4] >> (2 * (i / 4))) & 3;
        *s = (low | (high << 4)) as i32 - 32;
    }
    let mut is = 0;
    let mut k = 0;
    let mut m: u8 = 1;
    for n in 0..2 {
        let q = &b[32 + 32 * n..32 + 32 * n + 32];
        for shift in [0, 2, 4, 6] {
            for half in 0..2 {
                let dl = d_all * scales[is] as f32;
                is += 1;
                for l in 16 * half..16 * half + 16 {
                    let hi = if hm[l] & m != 0 { 0 } else { 4 };
                    y[k] = dl * (((q[l] >> shift) & 3) as i32 - hi) as f32;
                    k += 1;
                }
            }
            m = m.wrapping_shl(1);
        }
    }
}

/// ggml `get_scale_min_k4`: the eight 6-bit (scale, min) pairs of Q4_K/Q5_K packed in 12
/// bytes.
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

/// `block_q4_K`: f16 d, f16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles; each
/// 64 values take 32 bytes, low nibbles first, with their own (scale, min).
fn q4_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let min = f16_at(b, 2);
    let sc = &b[4..16];
    let mut k = 0;
    for j in 0..4 {
        let q = &b[16 + 32 * j..16 + 32 * j + 32];
        for (nib, shift) in [(0usize, 0u8), (1, 4)] {
            let (s, m) = scale_min_k4(2 * j + nib, sc);
            let d1 = d * s as f32;
            let m1 = min * m as f32;
            for &byte in q {
                y[k] = d1 * ((byte >> shift) & 0xF) as f32 - m1;
                k += 1;
            }
        }
    }
}

/// `block_q5_K`: as Q4_K plus 32 bytes qh holding the fifth bits (bit 2j for the low
/// nibbles of the j-th 64 values, bit 2j+1 for the high ones).
fn q5_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 0);
    let min = f16_at(b, 2);
    let sc = &b[4..16];
    let qh = &b[16..48];
    let mut k = 0;
    for j in 0..4 {
        let ql = &b[48 + 32 * j..48 + 32 * j + 32];
        for (nib, shift) in [(0usize, 0u8), (1, 4)] {
            let (s, m) = scale_min_k4(2 * j + nib, sc);
            let d1 = d * s as f32;
            let m1 = min * m as f32;
            let u = 1u8 << (2 * j + nib);
            for l in 0..32 {
                let hi = if qh[l] & u != 0 { 16 } else { 0 };
                y[k] = d1 * (((ql[l] >> shift) & 0xF) + hi) as f32 - m1;
                k += 1;
            }
        }
    }
}

/// `block_q6_K`: 128 bytes low nibbles, 64 bytes of 2-bit high parts, sixteen i8 scales,
/// f16 d; 6-bit values minus 32, times d·scale.
fn q6_k(b: &[u8], y: &mut [f32]) {
    let d = f16_at(b, 208);
    for n in 0..2 {
        let ql = &b[64 * n..64 * n + 64];
        let qh = &b[128 + 32 * n..128 + 32 * n + 32];
        let sc = &b[192 + 8 * n..192 + 8 * n + 8];
        let y = &mut y[128 * n..128 * n + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
            let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
            y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
            y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}
