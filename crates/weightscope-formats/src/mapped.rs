//! The bytes of a checkpoint: a read-only memory map of a file, or bytes already in memory
//! (the readers' parse-from-bytes entry points, used by the fuzz targets and tests, so that
//! they exercise the same code as files without writing temporary files).
//!
//! Headers and indexes are parsed from the map at open. Tensor data should be read with
//! [`Bytes::read_range`], which reads a file with `pread` rather than through the map: a
//! checkpoint truncated while it is read (a trainer rewriting it in place) then gives a short
//! read, an error for that tensor, where touching the map past the new end of the file would
//! kill the process with SIGBUS.

use crate::{Error, Result};
use memmap2::Mmap;
use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;

pub(crate) enum Bytes {
    Map(Mmap, std::fs::File),
    Owned(Vec<u8>),
}

impl Bytes {
    /// Memory-map `path` read-only.
    pub(crate) fn map(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only and only read while parsing headers at open; tensor
        // data goes through `read_range`, which does not touch the map.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Bytes::Map(map, file))
    }

    /// The bytes `range`: read from the file (a copy), or borrowed from memory. An error when
    /// the range lies past the end, including a file that has shrunk since it was opened.
    pub(crate) fn read_range(&self, range: Range<usize>) -> std::io::Result<Cow<'_, [u8]>> {
        let past_end = || {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("bytes {range:?} lie past the end of the data"),
            )
        };
        if range.start > range.end || range.end > self.len() {
            return Err(past_end());
        }
        match self {
            #[cfg(unix)]
            Bytes::Map(_, file) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; range.len()];
                file.read_exact_at(&mut buf, range.start as u64)
                    .map_err(|e| match e.kind() {
                        std::io::ErrorKind::UnexpectedEof => std::io::Error::new(
                            e.kind(),
                            format!(
                                "the file ended before bytes {range:?}: it was truncated or \
                                 rewritten while being read"
                            ),
                        ),
                        _ => e,
                    })?;
                Ok(Cow::Owned(buf))
            }
            #[cfg(not(unix))]
            Bytes::Map(m, _) => Ok(Cow::Borrowed(&m[range])),
            Bytes::Owned(v) => Ok(Cow::Borrowed(&v[range])),
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m, _) => m,
            Bytes::Owned(v) => v,
        }
    }
}
