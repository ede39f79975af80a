//! The bytes of a checkpoint: a read-only memory map of a file, or bytes already in memory
//! (the readers' parse-from-bytes entry points, used by the fuzz targets and tests, so that
//! they exercise the same code as files without writing temporary files).

use crate::{Error, Result};
use memmap2::Mmap;
use std::path::Path;

pub(crate) enum Bytes {
    Map(Mmap),
    Owned(Vec<u8>),
}

impl Bytes {
    /// Memory-map `path` read-only.
    pub(crate) fn map(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only; a checkpoint modified while we read it is the same
        // hazard every mmap-based reader (including the reference tools) accepts.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Bytes::Map(map))
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Map(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}
