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
        let file = open_regular(path)?;
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

/// What a file that is not a regular file is, for the message that refuses it.
pub(crate) fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// The error that refuses a file that is not a regular file.
pub(crate) fn not_regular(path: &Path, meta: &std::fs::Metadata) -> Error {
    Error::format(
        path,
        format!(
            "is {}, not a regular file: refused (reading a pipe or device could block forever \
             or never end)",
            kind_of(meta)
        ),
    )
}

/// Open `path` for reading if it is a regular file (a symbolic link to one is followed), and
/// refuse anything else with a clear error. A FIFO is refused from its metadata before it is
/// opened: opening one for reading blocks until a writer comes. In case the path is swapped
/// between that check and the open, the open itself does not block (`O_NONBLOCK`, which
/// changes nothing for a regular file) and the opened file is checked again.
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(not_regular(path, &meta));
    }
    Ok(file)
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
