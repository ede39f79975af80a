//! LeCun's IDX format (the MNIST files), raw or gzipped.
//!
//! Layout: two zero bytes, a type byte (0x08 = unsigned byte, the only one MNIST uses), the
//! number of dimensions d, then d big-endian u32 sizes, then the data in row-major order.

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Decompress if the buffer starts with the gzip magic (1f 8b); otherwise return it as is.
pub fn maybe_gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .context("corrupt gzip stream")?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

/// Parse an uncompressed IDX buffer of unsigned bytes.
pub fn parse(raw: &[u8]) -> Result<Idx> {
    if raw.len() < 4 {
        bail!("IDX: {} bytes, shorter than the 4-byte magic", raw.len());
    }
    if raw[0] != 0 || raw[1] != 0 {
        bail!(
            "IDX: magic starts {:02x} {:02x}, expected 00 00",
            raw[0],
            raw[1]
        );
    }
    if raw[2] != 0x08 {
        bail!(
            "IDX: element type 0x{:02x}, only 0x08 (unsigned byte) is supported",
            raw[2]
        );
    }
    let nd = raw[3] as usize;
    let header = 4 + 4 * nd;
    if raw.len() < header {
        bail!("IDX: truncated header ({} dimensions)", nd);
    }
    let dims: Vec<usize> = (0..nd)
        .map(|i| {
            let b = &raw[4 + 4 * i..8 + 4 * i];
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        })
        .collect();
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .context("IDX: dimensions overflow")?;
    let body = &raw[header..];
    if body.len() != n {
        bail!(
            "IDX: dimensions {:?} need {} data bytes, the file has {}",
            dims,
            n,
            body.len()
        );
    }
    Ok(Idx {
        dims,
        data: body.to_vec(),
    })
}

/// Read and parse an IDX file (gzipped or not); also returns the sha256 (hex) of the
/// uncompressed bytes, the checksum the data README lists.
pub fn read(path: &Path) -> Result<(Idx, String)> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let raw = maybe_gunzip(&bytes).with_context(|| format!("{}", path.display()))?;
    let sha = hex(&Sha256::digest(&raw));
    let idx = parse(&raw).with_context(|| format!("{}", path.display()))?;
    Ok((idx, sha))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::GzEncoder;
    use flate2::Compression;
    use std::io::Write;

    /// A 2×2×3 array 0..12, by hand.
    fn tiny() -> Vec<u8> {
        let mut v = vec![0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
        v.extend(0u8..12);
        v
    }

    #[test]
    fn parses_raw() {
        let idx = parse(&maybe_gunzip(&tiny()).unwrap()).unwrap();
        assert_eq!(idx.dims, vec![2, 2, 3]);
        assert_eq!(idx.data, (0u8..12).collect::<Vec<_>>());
    }

    #[test]
    fn parses_gzipped() {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(&tiny()).unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        let idx = parse(&maybe_gunzip(&gz).unwrap()).unwrap();
        assert_eq!(idx.dims, vec![2, 2, 3]);
        assert_eq!(idx.data[11], 11);
    }

    #[test]
    fn labels_one_dimension() {
        let idx = parse(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 9]).unwrap();
        assert_eq!(idx.dims, vec![3]);
        assert_eq!(idx.data, vec![7, 1, 9]);
    }

    #[test]
    fn rejects_bad_input() {
        let mut t = tiny();
        t.pop();
        assert!(parse(&t)
            .unwrap_err()
            .to_string()
            .contains("need 12 data bytes"));
        let mut t = tiny();
        t[2] = 0x0d; // float
        assert!(parse(&t).is_err());
        assert!(parse(&[0, 1, 8, 1]).is_err());
        assert!(parse(&[0, 0, 8, 2, 0, 0]).is_err());
        assert!(maybe_gunzip(&[0x1f, 0x8b, 1, 2, 3]).is_err());
    }

    #[test]
    fn missing_file_is_named() {
        let e = read(Path::new("/nonexistent/train-images.idx3-ubyte.gz")).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/train-images.idx3-ubyte.gz"));
    }
}
