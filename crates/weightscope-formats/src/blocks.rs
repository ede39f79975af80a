//! Block reads of a strided tensor view laid out in a byte source — a stored range of a file,
//! read with `pread`, or a deflate stream inflated sequentially — so that a reader can hand out
//! a panel of rows (or of columns) without holding the whole tensor: the analysis sums WᵀW over
//! such panels, so its memory is M² plus one panel whatever N.
//!
//! Used by the PyTorch reader (a tensor is a view `(storage offset, size, stride)` of a
//! storage, zip entries stored or deflated, legacy storages stored) and the NumPy reader
//! (`.npy`, `.npz` entries stored or deflated, C or Fortran order: Fortran order is the
//! view with column-major strides).
//!
//! Every size that comes from a file is checked before it is allocated: buffers are reserved
//! with `try_reserve`, so a tensor that a file declares too large for memory is an error for
//! that tensor, never an abort.

use crate::convert::elem_size;
use crate::mapped::Bytes;
use crate::DType;
use flate2::read::DeflateDecoder;
use std::io::Read;
use std::ops::Range;
use std::sync::{Arc, Mutex};

/// Where a storage's bytes are in the file.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    /// `len` bytes at `start` (stored zip entries, legacy storages, `.npy` files).
    Stored { start: usize, len: usize },
    /// A raw deflate stream of `csize` bytes at `start` (a deflated zip entry) that inflates
    /// to `size` bytes whose CRC-32 is `crc` (checked when a read reaches the end).
    Deflated {
        start: usize,
        csize: usize,
        size: usize,
        crc: u32,
    },
}

impl Source {
    /// Number of bytes the storage holds (inflated, for a deflated one).
    pub(crate) fn len(&self) -> usize {
        match *self {
            Source::Stored { len, .. } => len,
            Source::Deflated { size, .. } => size,
        }
    }
}

/// A tensor as a view of a storage: element `(i₀, …)` is at byte
/// `base + (offset + Σ iₖ·strideₖ) · element size` of the storage.
#[derive(Clone, Debug)]
pub(crate) struct View {
    pub dtype: DType,
    pub big_endian: bool,
    /// Bytes before element 0 of the storage (a `.npy` header).
    pub base: usize,
    /// First element, in elements.
    pub offset: usize,
    pub shape: Vec<usize>,
    /// In elements, one per dimension.
    pub stride: Vec<usize>,
}

impl View {
    /// Whether blocks of panels (of rows when the 2-D tensor is tall, of columns when it is
    /// wide: the analysis's panels of W) can be read from a deflated storage without
    /// inflating it from the start for every panel: the panel dimension must be the outer one
    /// in the storage, with the other dimension's elements of one panel index contiguous after
    /// it and panels not overlapping, so that consecutive panels are consecutive bytes of the
    /// stream. Other layouts (a transposed view, Fortran order of a tall array) are read whole.
    pub(crate) fn panels_in_stream_order(&self) -> bool {
        if self.shape.len() != 2 {
            return false;
        }
        let (p, o) = if self.shape[0] >= self.shape[1] {
            (0, 1)
        } else {
            (1, 0)
        };
        let inner_ok = self.shape[o] <= 1 || self.stride[o] == 1;
        inner_ok && self.stride[p] >= self.shape[o].max(1)
    }
}

/// A vector of `n` zeros, or an error naming the bytes when memory cannot hold it (the size
/// comes from a file, so it may be anything).
pub(crate) fn try_zeroed<T: Clone + Default>(n: usize) -> Result<Vec<T>, String> {
    let mut v = Vec::new();
    let bytes = n.saturating_mul(std::mem::size_of::<T>());
    v.try_reserve_exact(n)
        .map_err(|_| format!("cannot allocate {bytes} bytes for the data"))?;
    v.resize(n, T::default());
    Ok(v)
}

/// The f64 value of one little- or big-endian element; the same conversions as
/// [`crate::convert::decode_le`], so block reads give the bits of whole reads.
fn element_decoder(dtype: &DType, big_endian: bool) -> Option<fn(&[u8]) -> f64> {
    fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&b[..N]);
        a
    }
    Some(match (dtype, big_endian) {
        (DType::F64, false) => |b| f64::from_le_bytes(arr(b)),
        (DType::F64, true) => |b| f64::from_be_bytes(arr(b)),
        (DType::F32, false) => |b| f32::from_le_bytes(arr(b)) as f64,
        (DType::F32, true) => |b| f32::from_be_bytes(arr(b)) as f64,
        (DType::F16, false) => |b| half::f16::from_le_bytes(arr(b)).to_f64(),
        (DType::F16, true) => |b| half::f16::from_be_bytes(arr(b)).to_f64(),
        (DType::BF16, false) => |b| half::bf16::from_le_bytes(arr(b)).to_f64(),
        (DType::BF16, true) => |b| half::bf16::from_be_bytes(arr(b)).to_f64(),
        _ => return None,
    })
}

/// A span of elements read once and gathered from when it is at most this many elements
/// larger than twice the block (else its lines, or elements, are read one by one).
const SLACK: usize = 4096;

/// Read the block `rows` × `cols` of a view, as row-major f64: the tensor viewed as
/// `shape[0]` rows of the product of the other dimensions. `read` returns storage bytes
/// (relative to the storage's start) or an error. A 2-D view reads only what the block
/// touches; other ranks read the whole view and keep the block.
pub(crate) fn read_block(
    read: &mut dyn FnMut(Range<usize>) -> Result<Vec<u8>, String>,
    view: &View,
    rows: Range<usize>,
    cols: Range<usize>,
) -> Result<Vec<f64>, String> {
    if view.shape.len() != 2 {
        let width: usize = view.shape.iter().skip(1).product();
        if rows.is_empty() || cols.is_empty() {
            // Nothing to gather (and no walk over 2^40 empty rows of an N × 0 tensor).
            return Ok(Vec::new());
        }
        let all = read_whole(read, view)?;
        let mut out = try_zeroed(rows.len() * cols.len())?;
        for (i, r) in rows.enumerate() {
            let src = all
                .get(r * width + cols.start..r * width + cols.end)
                .ok_or("block out of bounds")?;
            out[i * src.len()..(i + 1) * src.len()].copy_from_slice(src);
        }
        return Ok(out);
    }
    let es = elem_size(&view.dtype).ok_or("unsupported dtype")?;
    let decode = element_decoder(&view.dtype, view.big_endian).ok_or("unsupported dtype")?;
    let (r, c) = (rows.len(), cols.len());
    let mut out: Vec<f64> = try_zeroed(r.checked_mul(c).ok_or("block too large")?)?;
    if r == 0 || c == 0 {
        return Ok(out);
    }
    let (s0, s1) = (view.stride[0], view.stride[1]);
    let overflow = || "strides overflow".to_string();
    // Element index of (row, col) of the view; checked, as the strides come from a file.
    let elem = |i: usize, j: usize| -> Result<usize, String> {
        i.checked_mul(s0)
            .and_then(|a| a.checked_add(j.checked_mul(s1)?))
            .and_then(|a| a.checked_add(view.offset))
            .ok_or_else(overflow)
    };
    let byte = |e: usize| -> Result<usize, String> {
        e.checked_mul(es)
            .and_then(|b| b.checked_add(view.base))
            .ok_or_else(overflow)
    };
    let lo = elem(rows.start, cols.start)?;
    let hi = elem(rows.end - 1, cols.end - 1)?;
    let numel = r * c;
    if hi - lo < numel.saturating_mul(2).saturating_add(SLACK) {
        // The whole span at once, then gathered: contiguous panels, transposed or
        // broadcast (stride-0) views.
        let raw = read(byte(lo)?..byte(hi + 1)?)?;
        for i in 0..r {
            for j in 0..c {
                let at = (elem(rows.start + i, cols.start + j)? - lo) * es;
                let b = raw.get(at..at + es).ok_or("short read")?;
                out[i * c + j] = decode(b);
            }
        }
        return Ok(out);
    }
    // Line by line, along the dimension of the smaller stride so that each line is a short
    // span and the lines come in storage order (a deflate stream is then read forwards).
    let by_rows = s1 <= s0;
    let (outer, inner) = if by_rows { (r, c) } else { (c, r) };
    for a in 0..outer {
        let at = |b: usize| {
            let (i, j) = if by_rows { (a, b) } else { (b, a) };
            (i, j, elem(rows.start + i, cols.start + j))
        };
        let (_, _, first) = at(0);
        let (_, _, last) = at(inner - 1);
        let (first, last) = (first?, last?);
        if last - first < inner.saturating_mul(2).saturating_add(SLACK) {
            let raw = read(byte(first)?..byte(last + 1)?)?;
            for b in 0..inner {
                let (i, j, e) = at(b);
                let o = (e? - first) * es;
                out[i * c + j] = decode(raw.get(o..o + es).ok_or("short read")?);
            }
        } else {
            for b in 0..inner {
                let (i, j, e) = at(b);
                let e = e?;
                let raw = read(byte(e)?..byte(e + 1)?)?;
                out[i * c + j] = decode(raw.get(..es).ok_or("short read")?);
            }
        }
    }
    Ok(out)
}

/// Read a whole view as row-major f64 (any rank; a 0-d view is one element).
pub(crate) fn read_whole(
    read: &mut dyn FnMut(Range<usize>) -> Result<Vec<u8>, String>,
    view: &View,
) -> Result<Vec<f64>, String> {
    if view.shape.len() == 2 {
        return read_block(read, view, 0..view.shape[0], 0..view.shape[1]);
    }
    let es = elem_size(&view.dtype).ok_or("unsupported dtype")?;
    let decode = element_decoder(&view.dtype, view.big_endian).ok_or("unsupported dtype")?;
    let numel = view
        .shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("shape overflows")?;
    let mut out: Vec<f64> = try_zeroed(numel)?;
    if numel == 0 {
        return Ok(out);
    }
    // The span from the first element to the last (strides are never negative).
    let last = view
        .shape
        .iter()
        .zip(&view.stride)
        .try_fold(view.offset, |a, (&d, &s)| {
            a.checked_add((d - 1).checked_mul(s)?)
        })
        .ok_or("strides overflow")?;
    let start = view
        .offset
        .checked_mul(es)
        .and_then(|b| b.checked_add(view.base))
        .ok_or("strides overflow")?;
    let end = (last + 1)
        .checked_mul(es)
        .and_then(|b| b.checked_add(view.base))
        .ok_or("strides overflow")?;
    let raw = read(start..end)?;
    // Walk the view in row-major order.
    let nd = view.shape.len();
    let mut idx = vec![0usize; nd];
    let mut rel = 0usize;
    for v in out.iter_mut() {
        let o = rel * es;
        *v = decode(raw.get(o..o + es).ok_or("view out of bounds")?);
        for k in (0..nd).rev() {
            idx[k] += 1;
            // Wrapping: a size-1 dimension may carry any stride (checked views bound only
            // (size − 1)·stride); the net result is exact modulo 2^64 and back in bounds.
            rel = rel.wrapping_add(view.stride[k]);
            if idx[k] < view.shape[k] {
                break;
            }
            rel = rel.wrapping_sub(view.stride[k].wrapping_mul(view.shape[k]));
            idx[k] = 0;
        }
    }
    Ok(out)
}

/// Reads a byte range of a file with `pread` (see [`Bytes::read_range`]), for a deflate
/// decoder that owns its input.
struct RangeReader {
    bytes: Arc<Bytes>,
    pos: usize,
    end: usize,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.end - self.pos);
        if n == 0 {
            return Ok(0);
        }
        let got = self.bytes.read_range(self.pos..self.pos + n)?;
        buf[..n].copy_from_slice(&got);
        self.pos += n;
        Ok(n)
    }
}

/// A deflate decoder part-way through a stream.
struct Inflater {
    /// `start` of the stream's [`Source::Deflated`].
    stream: usize,
    /// Bytes of inflated output already produced.
    pos: usize,
    crc: flate2::Crc,
    decoder: DeflateDecoder<RangeReader>,
    last_used: u64,
}

/// Decoders kept per stream, and per file: reading panels in order continues one decoder
/// where the last panel ended instead of inflating from the start; a few more serve layers
/// analysed in parallel. Each holds ~100 KB (window and input buffer).
const INFLATERS_PER_STREAM: usize = 4;
const INFLATERS_PER_FILE: usize = 16;

/// The deflate decoders of one file, kept between reads (see [`INFLATERS_PER_STREAM`]).
#[derive(Default)]
pub(crate) struct Inflaters {
    idle: Mutex<(Vec<Inflater>, u64)>,
}

impl Inflaters {
    /// Bytes `range` of the storage at `source` in `bytes`.
    pub(crate) fn read(
        &self,
        bytes: &Arc<Bytes>,
        source: &Source,
        range: Range<usize>,
    ) -> Result<Vec<u8>, String> {
        if range.start > range.end || range.end > source.len() {
            return Err(format!(
                "bytes {range:?} lie outside the storage of {} bytes",
                source.len()
            ));
        }
        match *source {
            Source::Stored { start, .. } => bytes
                .read_range(start + range.start..start + range.end)
                .map(|c| c.into_owned())
                .map_err(|e| e.to_string()),
            Source::Deflated {
                start,
                csize,
                size,
                crc,
            } => {
                let mut inf = self.take(bytes, start, csize, range.start);
                let got = inflate_range(&mut inf, range, size, crc);
                if got.is_ok() {
                    self.give_back(inf);
                }
                got
            }
        }
    }

    /// The idle decoder of `stream` furthest along but not past `at`, or a new one.
    fn take(&self, bytes: &Arc<Bytes>, stream: usize, csize: usize, at: usize) -> Inflater {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let best = idle
            .0
            .iter()
            .enumerate()
            .filter(|(_, d)| d.stream == stream && d.pos <= at)
            .max_by_key(|(_, d)| d.pos)
            .map(|(i, _)| i);
        match best {
            Some(i) => idle.0.swap_remove(i),
            None => Inflater {
                stream,
                pos: 0,
                crc: flate2::Crc::new(),
                decoder: DeflateDecoder::new(RangeReader {
                    bytes: bytes.clone(),
                    pos: stream,
                    end: stream.saturating_add(csize),
                }),
                last_used: 0,
            },
        }
    }

    fn give_back(&self, mut inf: Inflater) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        idle.1 += 1;
        inf.last_used = idle.1;
        let stream = inf.stream;
        idle.0.push(inf);
        // Evict the least recently used: of this stream beyond its share, then of the file.
        while idle.0.iter().filter(|d| d.stream == stream).count() > INFLATERS_PER_STREAM {
            evict(&mut idle.0, |d| d.stream == stream);
        }
        while idle.0.len() > INFLATERS_PER_FILE {
            evict(&mut idle.0, |_| true);
        }
    }
}

fn evict(idle: &mut Vec<Inflater>, which: impl Fn(&Inflater) -> bool) {
    if let Some((i, _)) = idle
        .iter()
        .enumerate()
        .filter(|(_, d)| which(d))
        .min_by_key(|(_, d)| d.last_used)
    {
        idle.swap_remove(i);
    }
}

/// Inflate `range` of the stream with `inf` (positioned at or before its start), skipping
/// what comes before; at the end of the declared `size`, check the CRC-32.
fn inflate_range(
    inf: &mut Inflater,
    range: Range<usize>,
    size: usize,
    crc: u32,
) -> Result<Vec<u8>, String> {
    let short = |at: usize| {
        format!("the deflated data end at byte {at}, before the {size} bytes the entry declares")
    };
    let mut scratch = vec![0u8; 64 << 10];
    while inf.pos < range.start {
        let n = scratch.len().min(range.start - inf.pos);
        let got = inf
            .decoder
            .read(&mut scratch[..n])
            .map_err(|e| format!("cannot inflate ({e})"))?;
        if got == 0 {
            return Err(short(inf.pos));
        }
        inf.crc.update(&scratch[..got]);
        inf.pos += got;
    }
    let mut out: Vec<u8> = try_zeroed(range.len())?;
    let mut filled = 0;
    while filled < out.len() {
        let got = inf
            .decoder
            .read(&mut out[filled..])
            .map_err(|e| format!("cannot inflate ({e})"))?;
        if got == 0 {
            return Err(short(inf.pos));
        }
        inf.crc.update(&out[filled..filled + got]);
        filled += got;
        inf.pos += got;
    }
    if inf.pos == size && inf.crc.sum() != crc {
        return Err(format!(
            "CRC-32 of the inflated entry is {:08x}, the archive says {crc:08x}: corrupt",
            inf.crc.sum()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(offset: usize, shape: &[usize], stride: &[usize]) -> View {
        View {
            dtype: DType::F32,
            big_endian: false,
            base: 0,
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn from(storage: &[f32]) -> impl FnMut(Range<usize>) -> Result<Vec<u8>, String> + '_ {
        move |r: Range<usize>| {
            let b: Vec<u8> = storage.iter().flat_map(|x| x.to_le_bytes()).collect();
            b.get(r).map(<[u8]>::to_vec).ok_or("out".into())
        }
    }

    /// Every block of a view equals the slice of the whole view, for strides that take each
    /// path: one span, line by line, element by element.
    #[test]
    fn blocks_are_slices_of_the_whole_view() {
        let s: Vec<f32> = (0..60_000).map(|x| x as f32).collect();
        let views = [
            view(0, &[100, 40], &[40, 1]),   // contiguous
            view(3, &[40, 100], &[1, 40]),   // transposed
            view(0, &[7, 9], &[5000, 1]),    // rows far apart: line by line
            view(1, &[6, 5], &[6000, 5000]), // both strides large: element by element
            view(2, &[50, 30], &[0, 1]),     // broadcast rows
            view(0, &[30, 50], &[1, 0]),     // broadcast columns
        ];
        for v in &views {
            let whole = read_whole(&mut from(&s), v).unwrap();
            let (n, m) = (v.shape[0], v.shape[1]);
            // The element (i, j) is storage element offset + i·s0 + j·s1.
            for i in 0..n {
                for j in 0..m {
                    let e = v.offset + i * v.stride[0] + j * v.stride[1];
                    assert_eq!(whole[i * m + j], e as f64, "{v:?}");
                }
            }
            for (rows, cols) in [
                (0..n, 0..m),
                (1..n - 1, 2..m - 1),
                (n - 1..n, 0..m),
                (0..n, m - 1..m),
                (2..2, 0..m),
            ] {
                let block = read_block(&mut from(&s), v, rows.clone(), cols.clone()).unwrap();
                let want: Vec<f64> = rows
                    .flat_map(|i| whole[i * m + cols.start..i * m + cols.end].to_vec())
                    .collect();
                assert_eq!(block, want, "{v:?}");
            }
        }
    }
}
