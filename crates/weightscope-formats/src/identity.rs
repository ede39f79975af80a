//! What a checkpoint is, cheaply: for each of its files the name, size, modification time and
//! a SHA-256 of its first MiB and last 64 KiB (the header or index, where every format keeps
//! the tensors' names, shapes and offsets, and the end, which changes when a file is
//! rewritten with other data). Hashing the whole file would cost as much as reading the
//! model; this catches a replaced or re-saved checkpoint, not an edit of bytes in the middle
//! that keeps size and time.
//!
//! `--resume` wants the same files ([`Identity::same_files`]: times included); merging the
//! partial results of a sharded run on several machines wants the same content
//! ([`Identity::same_content`]: copies on other nodes have other times and paths).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

const HEAD: u64 = 1 << 20;
const TAIL: u64 = 64 << 10;

/// One file of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// The file's name relative to the model's root (a folder), or its file name.
    pub name: String,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (0 where the system has none).
    pub modified_ns: u128,
    /// SHA-256 (hex) of the first MiB and the last 64 KiB (the whole file when smaller).
    pub sha256: String,
}

/// Every file of a checkpoint, in the order the reader lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub files: Vec<FileIdentity>,
}

impl Identity {
    /// Same names, sizes, hashes and modification times: the very same files.
    pub fn same_files(&self, other: &Identity) -> bool {
        self == other
    }

    /// Same names, sizes and hashes (times may differ): a copy of the same checkpoint.
    pub fn same_content(&self, other: &Identity) -> bool {
        self.files.len() == other.files.len()
            && self
                .files
                .iter()
                .zip(&other.files)
                .all(|(a, b)| a.name == b.name && a.size == b.size && a.sha256 == b.sha256)
    }
}

/// The identity of the checkpoint at `root` made of `files` (what
/// [`TensorSource::files`](crate::TensorSource::files) lists).
pub fn identity(root: &Path, files: &[PathBuf]) -> Result<Identity> {
    let files = files
        .iter()
        .map(|f| file_identity(root, f))
        .collect::<Result<Vec<_>>>()?;
    Ok(Identity { files })
}

fn file_identity(root: &Path, path: &Path) -> Result<FileIdentity> {
    if crate::is_remote(path) {
        #[cfg(feature = "remote")]
        return crate::remote::file_identity(&path.to_string_lossy(), HEAD, TAIL);
    }
    let io = |e| Error::io(path, e);
    let mut file = File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let size = meta.len();
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut hasher = Sha256::new();
    let head = size.min(HEAD);
    hash_range(&mut file, 0, head, &mut hasher).map_err(io)?;
    let tail_start = size.saturating_sub(TAIL).max(head);
    hash_range(&mut file, tail_start, size - tail_start, &mut hasher).map_err(io)?;
    let name = path
        .strip_prefix(root)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .or_else(|| path.file_name().map(Path::new))
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned();
    Ok(FileIdentity {
        name,
        size,
        modified_ns,
        sha256: hex(&hasher.finalize()),
    })
}

fn hash_range(file: &mut File, start: u64, len: u64, hasher: &mut Sha256) -> std::io::Result<()> {
    file.seek(SeekFrom::Start(start))?;
    let mut buf = vec![0u8; 64 << 10];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        file.read_exact(&mut buf[..n])?;
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::write(path, bytes).unwrap();
    }

    #[test]
    fn hash_of_a_small_file_is_its_sha256() {
        let dir = std::env::temp_dir().join(format!("ws-identity-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.bin");
        write(&f, b"abc");
        let id = identity(&dir, std::slice::from_ref(&f)).unwrap();
        // FIPS 180-2's example: SHA-256("abc").
        assert_eq!(
            id.files[0].sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!((id.files[0].name.as_str(), id.files[0].size), ("a.bin", 3));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_rewritten_tail_or_size_changes_the_identity_and_a_copy_keeps_its_content() {
        let dir = std::env::temp_dir().join(format!("ws-identity2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.bin");
        let mut bytes = vec![7u8; (3 << 20) + 5];
        write(&f, &bytes);
        let a = identity(&dir, std::slice::from_ref(&f)).unwrap();
        // A change in the middle (outside head and tail) is not seen: the documented limit.
        bytes[2 << 20] = 8;
        write(&f, &bytes);
        let b = identity(&dir, std::slice::from_ref(&f)).unwrap();
        assert!(a.same_content(&b));
        let n = bytes.len();
        bytes[n - 1] = 9;
        write(&f, &bytes);
        let c = identity(&dir, std::slice::from_ref(&f)).unwrap();
        assert!(!a.same_content(&c));
        bytes.push(0);
        write(&f, &bytes);
        let d = identity(&dir, std::slice::from_ref(&f)).unwrap();
        assert!(!c.same_content(&d) && d.files[0].size == n as u64 + 1);
        // Another folder, another time: the same content.
        let other = dir.join("copy");
        std::fs::create_dir_all(&other).unwrap();
        let g = other.join("m.bin");
        write(&g, &bytes);
        let e = identity(&other, std::slice::from_ref(&g)).unwrap();
        assert!(d.same_content(&e));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
