//! Finding the HDF5 file to read: the file itself (after an optional user block), or
//! `model.weights.h5` inside a `.keras` zip — read in place when stored, as Keras writes it,
//! inflated into a temporary file (within [`Limits::max_inflated_bytes`]) when compressed — and opening
//! it with the HDF5 reader bounded by [`Limits`].
//!
//! The HDF5 reader reads a file on disk with `pread` ([`Bytes::read_range`]), headers and data
//! alike, never through the map: a file truncated while it is read (a trainer rewriting it)
//! is then an error for the tensors cut off, where touching the map past the new end would
//! kill the process with SIGBUS. Only the zip directory and the signatures are read from the
//! map, at open.

use super::Limits;
use crate::mapped::Bytes;
use crate::MAX_DEFLATE_RATIO;
use crate::{Error, Result};
use hdf5_reader::{BytesStorage, Hdf5File, OpenOptions, RangeRequestStorage};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

const HDF5_SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";
pub(super) const ZIP_SIGNATURE: &[u8; 4] = b"PK\x03\x04";
/// The weights inside a `.keras` archive.
const WEIGHTS_ENTRY: &str = "model.weights.h5";
/// Largest `config.json` parsed.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// Bytes shared by the HDF5 reader: the file (mapped, read with `pread`), or bytes in memory
/// (an inflated entry, or a file given as bytes).
pub(super) type Owner = Arc<Bytes>;

/// A byte range of an [`Owner`]: the HDF5 file, alone or inside a `.keras` archive.
pub(super) struct Window {
    pub(super) owner: Owner,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl AsRef<[u8]> for Window {
    fn as_ref(&self) -> &[u8] {
        &self.owner[self.start..self.end]
    }
}

/// The HDF5 signature at byte 0, or at 512, 1024, 2048, … (after a user block).
pub(super) fn has_hdf5_signature(bytes: &[u8]) -> bool {
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

pub(super) fn open_hdf5(
    path: &Path,
    window: Window,
    limits: Limits,
    what: &str,
) -> Result<Hdf5File> {
    let max_read = usize::try_from(limits.max_tensor_bytes).unwrap_or(usize::MAX);
    let options = OpenOptions::default()
        // Each tensor is read once: a chunk cache would only hold memory.
        .with_chunk_cache_bytes(0)
        .with_max_read_bytes(max_read)
        .with_max_chunk_bytes(max_read.min(hdf5_reader::DEFAULT_MAX_CHUNK_BYTES));
    let opened = match &*window.owner {
        Bytes::Map(..) => {
            let (owner, start) = (window.owner.clone(), window.start);
            let len = window.end - window.start;
            let read = move |offset: u64, n: usize| -> hdf5_reader::error::Result<Vec<u8>> {
                // In range of the window: the storage checks `offset + n <= len` first.
                let at = usize::try_from(offset)
                    .ok()
                    .and_then(|o| o.checked_add(start))
                    .ok_or(hdf5_reader::error::Error::OffsetOutOfBounds(offset))?;
                Ok(owner.read_range(at..at + n)?.into_owned())
            };
            let storage = RangeRequestStorage::new(len as u64, read);
            Hdf5File::from_storage_with_options(Arc::new(storage), options)
        }
        Bytes::Owned(_) => {
            Hdf5File::from_storage_with_options(Arc::new(BytesStorage::from_owner(window)), options)
        }
    };
    opened.map_err(|e| Error::format(path, format!("{what}not a readable HDF5 file ({e})")))
}

/// Open `model.weights.h5` inside a `.keras` archive, and parse `config.json` if it is there.
pub(super) fn open_archive(
    path: &Path,
    owner: &Owner,
    limits: Limits,
) -> Result<(Hdf5File, Option<serde_json::Value>)> {
    let bytes: &[u8] = owner;
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
        if size > csize.saturating_mul(MAX_DEFLATE_RATIO) {
            return Err(bad(format!(
                "{WEIGHTS_ENTRY} claims to inflate from {csize} to {size} bytes, more than \
                 deflate can compress (a deflate bomb?): refused"
            )));
        }
        let f = zip
            .by_index(index)
            .map_err(|e| bad(format!("cannot read {WEIGHTS_ENTRY}: {e}")))?;
        // Inflated into an unnamed temporary file, not into memory, so that --max-memory
        // bounds an archive a user re-zipped with compression like any other file: the HDF5
        // reader then reads it with pread, a block at a time.
        let io = |what: &str, e: std::io::Error| bad(format!("cannot {what} {WEIGHTS_ENTRY}: {e}"));
        let mut tmp = tempfile::tempfile().map_err(|e| io("make a temporary file for", e))?;
        let n = std::io::copy(&mut f.take(size.saturating_add(1)), &mut tmp)
            .map_err(|e| io("inflate", e))?;
        if n != size {
            return Err(bad(format!(
                "{WEIGHTS_ENTRY} inflates to {n} bytes, the archive says {size} (corrupt?)"
            )));
        }
        // SAFETY: the file is unnamed and ours alone, so nothing else can change or truncate
        // it; data are read from it with pread anyway (`Bytes::read_range`).
        let map = unsafe { memmap2::Mmap::map(&tmp) }.map_err(|e| io("map the inflated", e))?;
        Window {
            owner: Arc::new(Bytes::Map(map, tmp)),
            start: 0,
            end: n as usize,
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
