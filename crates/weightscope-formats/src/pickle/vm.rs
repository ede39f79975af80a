//! The pickle machine: the input read with every length checked against what is left, the
//! stack with its marks, the memo and the object heap, each capped, and the helpers the
//! opcodes share. [`unpickle`] runs one pickle to its `STOP`; the opcodes themselves are in
//! `opcodes`, the modelled calls in `rebuild`.

use super::globals::resolve_global;
use super::{Global, Obj, Persistent, Unpickled, Value};
use std::collections::HashMap;

/// Most objects the heap may hold. A state dict needs ~10 per tensor, so this allows
/// ~400k tensors while bounding memory on hostile input (≈ 200 MB worst case).
const MAX_OBJECTS: usize = 1 << 22;
/// Most entries on the stack (plus marks) and in the memo, for the same reason.
pub(super) const MAX_STACK: usize = 1 << 22;

/// The machine's state while it runs one pickle.
pub(super) struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    pub(super) stack: Vec<Value>,
    /// Stack lengths at each MARK.
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u32, Value>,
    heap: Vec<Obj>,
    pub(super) persistent: Persistent,
}

impl<'a> Vm<'a> {
    pub(super) fn err<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("pickle: {msg} (at byte {})", self.pos))
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        match self.pos.checked_add(n) {
            Some(end) if end <= self.data.len() => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => self.err(format!(
                "needs {n} more bytes but the data ends (truncated?)"
            )),
        }
    }
    pub(super) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    pub(super) fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    pub(super) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    pub(super) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// A length field, checked against what is left of the input before anything is
    /// allocated for it.
    pub(super) fn len_bytes(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return self.err(format!(
                "a length of {n} bytes exceeds the {left} bytes left (corrupt or truncated)"
            ));
        }
        self.take(n as usize)
    }
    /// A newline-terminated line (text opcodes of protocol 0).
    pub(super) fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => self.err("unterminated line"),
        }
    }

    pub(super) fn push(&mut self, v: Value) -> Result<(), String> {
        if self.stack.len() >= MAX_STACK {
            return self.err("stack too deep");
        }
        self.stack.push(v);
        Ok(())
    }
    pub(super) fn alloc(&mut self, o: Obj) -> Result<Value, String> {
        if self.heap.len() >= MAX_OBJECTS {
            return self.err(format!("more than {MAX_OBJECTS} objects"));
        }
        self.heap.push(o);
        Ok(Value::Obj(self.heap.len() - 1))
    }
    pub(super) fn push_obj(&mut self, o: Obj) -> Result<(), String> {
        let v = self.alloc(o)?;
        self.push(v)
    }
    pub(super) fn pop(&mut self) -> Result<Value, String> {
        // A MARK above the top means the value belongs to an outer frame: stack underflow
        // in pickle terms.
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) {
            return self.err("stack underflow");
        }
        Ok(self.stack.pop().expect("checked"))
    }
    pub(super) fn top(&self) -> Result<Value, String> {
        match self.stack.last() {
            Some(v) if self.stack.len() > self.marks.last().copied().unwrap_or(0) => Ok(*v),
            _ => self.err("stack underflow"),
        }
    }
    /// Pop everything down to the last MARK.
    pub(super) fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let Some(m) = self.marks.pop() else {
            return self.err("no MARK to pop to");
        };
        Ok(self.stack.split_off(m))
    }
    pub(super) fn memo_put(&mut self, idx: u32) -> Result<(), String> {
        let v = self.top()?;
        if self.memo.len() >= MAX_STACK && !self.memo.contains_key(&idx) {
            return self.err("memo too large");
        }
        self.memo.insert(idx, v);
        Ok(())
    }
    pub(super) fn memo_get(&mut self, idx: u32) -> Result<(), String> {
        match self.memo.get(&idx) {
            Some(&v) => self.push(v),
            None => self.err(format!("memo key {idx} not set")),
        }
    }
    pub(super) fn string(&mut self, s: &[u8]) -> Result<(), String> {
        let s = String::from_utf8_lossy(s).into_owned();
        self.push_obj(Obj::Str(s))
    }
    pub(super) fn int_from_le(&mut self, b: &[u8]) -> Result<(), String> {
        // Python longs: little-endian two's complement of any width.
        if b.is_empty() {
            return self.push(Value::Int(0));
        }
        if b.len() <= 8 {
            let neg = b[b.len() - 1] & 0x80 != 0;
            let mut buf = [if neg { 0xff } else { 0 }; 8];
            buf[..b.len()].copy_from_slice(b);
            return self.push(Value::Int(i64::from_le_bytes(buf)));
        }
        self.push_obj(Obj::BigInt(b.to_vec()))
    }
    pub(super) fn global(&mut self, module: &str, name: &str) -> Result<(), String> {
        match resolve_global(module, name) {
            Ok(g) => self.push_obj(Obj::Global(g)),
            // Refusals are not pickle errors: report them verbatim.
            Err(e) => Err(e),
        }
    }

    pub(super) fn as_tuple(&self, v: Value) -> Option<&Vec<Value>> {
        match v {
            Value::Obj(i) => match self.heap.get(i) {
                Some(Obj::Tuple(t)) | Some(Obj::List(t)) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }
    pub(super) fn as_str(&self, v: Value) -> Option<&str> {
        match v {
            Value::Obj(i) => match self.heap.get(i) {
                Some(Obj::Str(s)) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }
    pub(super) fn as_global(&self, v: Value) -> Option<&Global> {
        match v {
            Value::Obj(i) => match self.heap.get(i) {
                Some(Obj::Global(g)) => Some(g),
                _ => None,
            },
            _ => None,
        }
    }

    pub(super) fn obj_of(&self, v: Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.heap.get(i),
            _ => None,
        }
    }

    pub(super) fn set_items(&mut self, target: Value, items: Vec<Value>) -> Result<(), String> {
        if items.len() % 2 != 0 {
            return self.err("SETITEMS with an odd number of values");
        }
        match target {
            Value::Obj(i) => match self.heap.get_mut(i) {
                Some(Obj::Dict(d)) => {
                    d.extend(items.chunks_exact(2).map(|kv| (kv[0], kv[1])));
                    Ok(())
                }
                // Inert instances accept their state; it is not kept.
                Some(Obj::Opaque(_)) => Ok(()),
                _ => self.err("SETITEM on something that is not a dict"),
            },
            _ => self.err("SETITEM on something that is not a dict"),
        }
    }

    pub(super) fn append(&mut self, target: Value, items: Vec<Value>) -> Result<(), String> {
        match target {
            Value::Obj(i) => match self.heap.get_mut(i) {
                Some(Obj::List(l)) => {
                    l.extend(items);
                    Ok(())
                }
                Some(Obj::Opaque(_)) => Ok(()),
                _ => self.err("APPEND on something that is not a list"),
            },
            _ => self.err("APPEND on something that is not a list"),
        }
    }
}

/// Run the pickle starting at `start` in `data` up to its STOP.
pub(crate) fn unpickle(
    data: &[u8],
    start: usize,
    persistent: Persistent,
) -> Result<Unpickled, String> {
    let mut vm = Vm {
        data,
        pos: start.min(data.len()),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        heap: Vec::new(),
        persistent,
    };
    let root = vm.run()?;
    Ok(Unpickled {
        end: vm.pos,
        heap: vm.heap,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::super::collect_tensors;
    use super::super::run_for_tests as run;
    use super::*;

    #[test]
    fn memo_shares_and_dicts_fill_after_memoize() {
        // d = {}; memo[0] = d; d['a'] = 1; [d, d] -> both elements are the same dict.
        let u = run(b"\x80\x02}q\x00X\x01\x00\x00\x00aK\x01sh\x00\x86.").unwrap();
        let Some(Obj::Tuple(t)) = u.obj(u.root) else {
            panic!()
        };
        assert_eq!(t[0], t[1]);
        let Some(Obj::Dict(d)) = u.obj(t[0]) else {
            panic!()
        };
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn hostile_sizes_and_structure_are_errors() {
        // A string claiming 4 GiB.
        assert!(run(b"X\xff\xff\xff\xff").err().unwrap().contains("exceeds"));
        // BINUNICODE8 with u64::MAX.
        assert!(run(b"\x8d\xff\xff\xff\xff\xff\xff\xff\xff").is_err());
        // Underflows, unmatched marks, unknown memo keys, missing STOP.
        for p in [
            &b"."[..],
            b"t.",
            b"(.",
            b"h\x05.",
            b"K\x01",
            b"(K\x01s.",
            b"]K\x01u.",
        ] {
            assert!(run(p).is_err(), "{p:?}");
        }
        // Tuples of a tuple of ... via memo: O(1) per GET, no blow-up.
        let mut p = b")q\x00".to_vec();
        for _ in 0..200 {
            p.extend(b"h\x00h\x00\x86q\x00");
        }
        p.push(b'.');
        let u = run(&p).unwrap();
        assert!(collect_tensors(&u).is_empty());
    }

    #[test]
    fn wide_ints_and_negative_ints() {
        let u = run(b"\x8a\x02\xff\xff.").unwrap();
        assert_eq!(u.root, Value::Int(-1));
        let u = run(b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.").unwrap();
        assert!(matches!(u.obj(u.root), Some(Obj::BigInt(b)) if b.len() == 10));
        let u = run(b"J\xfe\xff\xff\xff.").unwrap();
        assert_eq!(u.root, Value::Int(-2));
    }
}
