//! What each pickle opcode does (protocols 0–5, as in CPython's `pickletools.py`): the one
//! loop of the machine. Opcodes that would run code are modelled through the allow-list
//! (`GLOBAL`, `REDUCE`, `NEWOBJ`, `BUILD`, `PERSID`), and those a state dict never uses
//! (`INST`, `OBJ`, `EXT*`, out-of-band buffers) are errors.

use super::vm::{Vm, MAX_STACK};
use super::{Global, Obj, Value};

impl Vm<'_> {
    pub(super) fn run(&mut self) -> Result<Value, String> {
        loop {
            let op = self.u8()?;
            match op {
                // PROTO n
                0x80 => {
                    let v = self.u8()?;
                    if v > 5 {
                        return self.err(format!("unsupported pickle protocol {v}"));
                    }
                }
                // FRAME n: a framing hint only (protocol 4); the bytes follow inline.
                0x95 => {
                    self.u64()?;
                }
                // STOP
                b'.' => return self.pop(),
                // MARK, POP, POP_MARK, DUP
                b'(' => {
                    if self.marks.len() >= MAX_STACK {
                        return self.err("too many marks");
                    }
                    self.marks.push(self.stack.len());
                }
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let v = self.top()?;
                    self.push(v)?;
                }
                // Scalars.
                b'N' => self.push(Value::None)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i64))?
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64))?
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i64))?
                }
                0x8a => {
                    let n = self.u8()? as u64;
                    let b = self.len_bytes(n)?;
                    self.int_from_le(b)?
                }
                0x8b => {
                    let n = self.u32()? as i32;
                    if n < 0 {
                        return self.err("negative LONG4 length");
                    }
                    let b = self.len_bytes(n as u64)?;
                    self.int_from_le(b)?
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                    self.push(Value::Float(v))?
                }
                // INT / LONG / FLOAT (protocol 0 text forms).
                b'I' | b'L' | b'F' => {
                    let line = self.line()?;
                    let text = String::from_utf8_lossy(line);
                    let t = text.trim().trim_end_matches('L');
                    let v = match (op, t) {
                        (b'I', "00") => Value::Bool(false),
                        (b'I', "01") => Value::Bool(true),
                        (b'F', _) => match t.parse::<f64>() {
                            Ok(f) => Value::Float(f),
                            Err(_) => return self.err("bad FLOAT"),
                        },
                        _ => match t.parse::<i64>() {
                            Ok(i) => Value::Int(i),
                            // Too wide: keep a placeholder, never needed for tensors.
                            Err(_) if !t.is_empty() => self.alloc(Obj::Opaque("int".into()))?,
                            Err(_) => return self.err("bad INT"),
                        },
                    };
                    self.push(v)?
                }
                // Strings: BINUNICODE, SHORT_BINUNICODE, BINUNICODE8, and the Python 2
                // byte strings BINSTRING / SHORT_BINSTRING (keys of old checkpoints).
                b'X' | b'T' => {
                    let n = self.u32()? as u64;
                    let s = self.len_bytes(n)?;
                    self.string(s)?
                }
                0x8c | b'U' => {
                    let n = self.u8()? as u64;
                    let s = self.len_bytes(n)?;
                    self.string(s)?
                }
                0x8d => {
                    let n = self.u64()?;
                    let s = self.len_bytes(n)?;
                    self.string(s)?
                }
                // UNICODE / STRING (protocol 0 text; escapes are not interpreted).
                b'V' | b'S' => {
                    let l = self.line()?;
                    let l = if op == b'S' {
                        l.strip_prefix(b"'")
                            .and_then(|l| l.strip_suffix(b"'"))
                            .or_else(|| l.strip_prefix(b"\"").and_then(|l| l.strip_suffix(b"\"")))
                            .unwrap_or(l)
                    } else {
                        l
                    };
                    self.string(l)?
                }
                // Bytes: BINBYTES, SHORT_BINBYTES, BINBYTES8, BYTEARRAY8.
                b'B' => {
                    let n = self.u32()? as u64;
                    self.len_bytes(n)?;
                    self.push_obj(Obj::Bytes)?
                }
                b'C' => {
                    let n = self.u8()? as u64;
                    self.len_bytes(n)?;
                    self.push_obj(Obj::Bytes)?
                }
                0x8e | 0x96 => {
                    let n = self.u64()?;
                    self.len_bytes(n)?;
                    self.push_obj(Obj::Bytes)?
                }
                // Containers.
                b'}' => self.push_obj(Obj::Dict(Vec::new()))?,
                b']' => self.push_obj(Obj::List(Vec::new()))?,
                b')' => self.push_obj(Obj::Tuple(Vec::new()))?,
                0x8f => self.push_obj(Obj::Opaque("set".into()))?,
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let base = self.marks.last().copied().unwrap_or(0);
                    if self.stack.len() < base + n {
                        return self.err("stack underflow");
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.push_obj(Obj::Tuple(items))?
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::Tuple(items))?
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_obj(Obj::List(items))?
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let d = self.alloc(Obj::Dict(Vec::new()))?;
                    self.set_items(d, items)?;
                    self.push(d)?
                }
                // FROZENSET: items after MARK.
                0x91 => {
                    self.pop_mark()?;
                    self.push_obj(Obj::Opaque("frozenset".into()))?
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let d = self.top()?;
                    self.set_items(d, vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let d = self.top()?;
                    self.set_items(d, items)?
                }
                b'a' => {
                    let v = self.pop()?;
                    let l = self.top()?;
                    self.append(l, vec![v])?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let l = self.top()?;
                    self.append(l, items)?
                }
                // ADDITEMS (to a set, which is opaque).
                0x90 => {
                    self.pop_mark()?;
                    let s = self.top()?;
                    if !matches!(self.obj_of(s), Some(Obj::Opaque(_))) {
                        return self.err("ADDITEMS on something that is not a set");
                    }
                }
                // Memo: BINPUT, LONG_BINPUT, MEMOIZE, PUT; BINGET, LONG_BINGET, GET.
                b'q' => {
                    let i = self.u8()? as u32;
                    self.memo_put(i)?
                }
                b'r' => {
                    let i = self.u32()?;
                    self.memo_put(i)?
                }
                0x94 => {
                    let i = u32::try_from(self.memo.len()).unwrap_or(u32::MAX);
                    self.memo_put(i)?
                }
                b'p' | b'g' => {
                    let l = self.line()?;
                    let Some(i) = std::str::from_utf8(l)
                        .ok()
                        .and_then(|s| s.parse::<u32>().ok())
                    else {
                        return self.err("bad PUT/GET index");
                    };
                    if op == b'p' {
                        self.memo_put(i)?
                    } else {
                        self.memo_get(i)?
                    }
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    self.memo_get(i)?
                }
                b'j' => {
                    let i = self.u32()?;
                    self.memo_get(i)?
                }
                // GLOBAL "module\nname\n" and STACK_GLOBAL (module, name on the stack).
                b'c' => {
                    let m = String::from_utf8_lossy(self.line()?).into_owned();
                    let n = String::from_utf8_lossy(self.line()?).into_owned();
                    self.global(&m, &n)?
                }
                0x93 => {
                    let n = self.pop()?;
                    let m = self.pop()?;
                    let (Some(m), Some(n)) = (self.as_str(m), self.as_str(n)) else {
                        return self.err("STACK_GLOBAL of non-strings");
                    };
                    let (m, n) = (m.to_string(), n.to_string());
                    self.global(&m, &n)?
                }
                // REDUCE: callable(*args).
                b'R' => {
                    let args = self.pop()?;
                    let f = self.pop()?;
                    let v = self.call(f, args, 0)?;
                    self.push(v)?
                }
                // NEWOBJ: cls.__new__(cls, *args); NEWOBJ_EX adds kwargs.
                0x81 | 0x92 => {
                    if op == 0x92 {
                        self.pop()?;
                    }
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    let v = match self.as_global(cls) {
                        Some(Global::OrderedDict) => self.alloc(Obj::Dict(Vec::new()))?,
                        Some(Global::Inert(n)) => {
                            let n = n.clone();
                            self.alloc(Obj::Opaque(n))?
                        }
                        _ => self.call(cls, args, 0)?,
                    };
                    self.push(v)?
                }
                // BUILD: obj.__setstate__(state). Attributes (an OrderedDict's `_metadata`,
                // a Parameter's hooks state) are not needed: the state is dropped.
                b'b' => {
                    self.pop()?;
                    self.top()?;
                }
                // PERSID (text) and BINPERSID: torch's storages.
                b'P' => {
                    let l = self.line()?.to_vec();
                    let v = self.alloc(Obj::Str(String::from_utf8_lossy(&l).into_owned()))?;
                    self.persistent_load(v)?
                }
                b'Q' => {
                    let pid = self.pop()?;
                    self.persistent_load(pid)?
                }
                // INST / OBJ (protocol 0/1 class instantiation), EXT*, out-of-band buffers.
                b'i' | b'o' => return self.err("INST/OBJ opcodes (protocol 0/1 objects)"),
                0x82..=0x84 => return self.err("EXT opcodes (copyreg extension registry)"),
                0x97 | 0x98 => return self.err("out-of-band buffers (protocol 5)"),
                other => return self.err(format!("unknown opcode 0x{other:02x}")),
            }
        }
    }
}
