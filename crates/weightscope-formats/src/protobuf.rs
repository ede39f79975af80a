//! A minimal reader of the protobuf wire format (protobuf.dev "Encoding"), enough to walk
//! ONNX messages field by field without generated code.
//!
//! Why hand-written rather than `prost`: the ONNX reader needs a handful of fields of four
//! messages, and it must not copy tensor payloads (`raw_data`, `float_data`, …) out of the
//! memory map — generated `prost` code decodes every field into owned `Vec`s, so reading the
//! graph would copy the whole model. Slices into the map cost nothing, and the reader
//! adds no dependency and no `protoc`/generated file to keep in sync.
//!
//! A message is a sequence of fields `tag (varint: field_number << 3 | wire_type)` +
//! payload: wire type 0 a varint, 1 eight bytes, 2 a varint length then that many bytes,
//! 5 four bytes (3 and 4, the deprecated groups, are rejected). Every length is checked
//! against the bytes left, so a lying length is an error, not a panic or an allocation.

pub(crate) type R<T> = std::result::Result<T, String>;

/// A field's payload.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    Varint(u64),
    Fixed64([u8; 8]),
    Bytes(&'a [u8]),
    Fixed32([u8; 4]),
}

/// Iterates over the fields of one message.
pub(crate) struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the enclosing buffer (for error messages and byte ranges).
    base: usize,
}

impl<'a> Fields<'a> {
    /// The fields of the message `buf`, which starts at `base` in the file.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Fields { buf, pos: 0, base }
    }

    /// Absolute offset of the next byte to read.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The next field: `(field number, payload, absolute offset of the payload)`, `None` at
    /// the end of the message.
    pub(crate) fn next_field(&mut self) -> R<Option<(u32, Payload<'a>, usize)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let at = self.offset();
        let tag = self.varint()?;
        let field = tag >> 3;
        if field == 0 || field > u32::MAX as u64 {
            return Err(format!("bad field number {field} at byte {at}"));
        }
        let payload = match tag & 7 {
            0 => Payload::Varint(self.varint()?),
            1 => Payload::Fixed64(self.take(8)?.try_into().unwrap()),
            2 => {
                let n = self.varint()?;
                Payload::Bytes(self.take_u64(n)?)
            }
            5 => Payload::Fixed32(self.take(4)?.try_into().unwrap()),
            w => return Err(format!("unsupported wire type {w} at byte {at}")),
        };
        let start = match payload {
            Payload::Bytes(b) => self.offset() - b.len(),
            _ => at,
        };
        Ok(Some((field as u32, payload, start)))
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        self.take_u64(n as u64)
    }

    fn take_u64(&mut self, n: u64) -> R<&'a [u8]> {
        let left = self.buf.len() - self.pos;
        if n > left as u64 {
            return Err(format!(
                "field at byte {} claims {n} bytes but its message has only {left} left \
                 (truncated or corrupt)",
                self.offset()
            ));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn varint(&mut self) -> R<u64> {
        let (v, n) = varint(&self.buf[self.pos..]).ok_or_else(|| {
            format!(
                "truncated or overlong varint at byte {}",
                self.base + self.pos
            )
        })?;
        self.pos += n;
        Ok(v)
    }
}

/// Decode a varint at the start of `b`: (value, bytes used); `None` if it runs off the end
/// or is longer than the 10 bytes a u64 takes.
pub(crate) fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= ((byte & 0x7F) as u64) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// The varints of a packed repeated field, one at a time.
pub(crate) fn packed_varints(mut b: &[u8]) -> impl Iterator<Item = R<u64>> + '_ {
    std::iter::from_fn(move || {
        if b.is_empty() {
            return None;
        }
        Some(match varint(b) {
            Some((v, n)) => {
                b = &b[n..];
                Ok(v)
            }
            None => {
                b = &[];
                Err("truncated varint in a packed field".to_string())
            }
        })
    })
}

impl Payload<'_> {
    pub(crate) fn wire_name(&self) -> &'static str {
        match self {
            Payload::Varint(_) => "varint",
            Payload::Fixed64(_) => "fixed64",
            Payload::Bytes(_) => "length-delimited",
            Payload::Fixed32(_) => "fixed32",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_decode_and_reject_overlong() {
        assert_eq!(varint(&[0x96, 0x01]), Some((150, 2)));
        assert_eq!(varint(&[0x80]), None);
        assert_eq!(varint(&[0xFF; 11]), None);
    }

    #[test]
    fn lying_length_is_an_error() {
        // Field 1, wire type 2, length 2^60, no bytes.
        let mut msg = vec![0x0A];
        let mut n = 1u64 << 60;
        while n >= 0x80 {
            msg.push((n as u8) | 0x80);
            n >>= 7;
        }
        msg.push(n as u8);
        let err = Fields::new(&msg, 0).next_field().unwrap_err();
        assert!(err.contains("claims"), "{err}");
    }

    #[test]
    fn fields_in_order() {
        // field 1 varint 5; field 2 bytes "ab"; field 3 fixed32.
        let msg = [0x08, 5, 0x12, 2, b'a', b'b', 0x1D, 1, 2, 3, 4];
        let mut f = Fields::new(&msg, 100);
        assert!(matches!(
            f.next_field().unwrap(),
            Some((1, Payload::Varint(5), 100))
        ));
        match f.next_field().unwrap() {
            Some((2, Payload::Bytes(b), 104)) => assert_eq!(b, b"ab"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            f.next_field().unwrap(),
            Some((3, Payload::Fixed32([1, 2, 3, 4]), 106))
        ));
        assert!(f.next_field().unwrap().is_none());
    }
}
