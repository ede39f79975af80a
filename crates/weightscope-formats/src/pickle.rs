//! A pickle reader for PyTorch checkpoints that treats the pickle as DATA, never as a program.
//!
//! A pickle is a little stack-machine program: opcodes push values, build containers and —
//! the dangerous part — import arbitrary Python callables (`GLOBAL`, `STACK_GLOBAL`) and call
//! them (`REDUCE`, `NEWOBJ`, `BUILD`). Python's `pickle.load` will run `os.system` if the
//! file asks it to. This module interprets only the opcodes a `torch.save` state dict uses
//! and resolves `GLOBAL`s against a short allow-list ([`resolve_global`]), much like
//! `torch.load(weights_only=True)`; nothing is ever executed: an allowed "call" is modelled
//! here (an `OrderedDict` becomes a dict, `_rebuild_tensor_v2` becomes a tensor record).
//! Anything else is refused with the global's name.
//!
//! The opcodes and their encodings are those of CPython's `Lib/pickle.py` / `pickletools.py`
//! (protocols 0–5); tensors are pickled by `torch/_tensor.py` (`__reduce_ex__` →
//! `torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
//! backward_hooks[, metadata])`) and storages by `torch/serialization.py` (`persistent_id` →
//! `('storage', torch.<Type>Storage, key, location, numel[, view_metadata])`).
//!
//! Every size is guarded: strings and byte runs must fit in the remaining input, and the
//! stack, memo and object heap are capped, so no header field drives an allocation and no
//! input makes the VM panic. Compound objects live in a heap and are referenced by index, so
//! that copying a value (memo `GET`, `DUP`) is O(1) and shared objects stay shared as in
//! Python (a deep copy per `GET` would let a few bytes of input grow exponentially).

use crate::DType;
use std::collections::{HashMap, HashSet};

/// Most objects the heap may hold. A state dict needs ~10 per tensor, so this allows
/// ~400k tensors while bounding memory on hostile input (≈ 200 MB worst case).
const MAX_OBJECTS: usize = 1 << 22;
/// Most entries on the stack (plus marks) and in the memo, for the same reason.
const MAX_STACK: usize = 1 << 22;
/// Deepest container nesting walked when collecting tensors.
const MAX_DEPTH: usize = 256;
/// Most dimensions of a tensor (torch's own limit is 64).
const MAX_DIMS: usize = 64;

/// A value on the stack: scalars inline, everything else an index into the heap.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Obj(usize),
}

/// A storage type class `torch.<Name>Storage`, which fixes the element type.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StorageType {
    /// The class name, e.g. `FloatStorage`.
    pub name: String,
    pub dtype: DType,
    /// Bytes per element, when known (needed to walk the legacy format's storages).
    pub elem_size: Option<usize>,
}

/// A storage as returned by `persistent_load`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StorageRef {
    pub stype: StorageType,
    /// The key naming the storage's data: the zip entry `data/<key>`, or the legacy key.
    pub key: String,
    /// Number of elements as pickled (legacy: needed to walk the raw storages).
    pub numel: u64,
    /// Legacy storage views (`view_metadata = (view_key, offset, size)`, in elements).
    pub view: Option<(u64, u64)>,
}

/// A tensor as rebuilt by `_rebuild_tensor_v2`: a view into a storage.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TensorRef {
    pub storage: StorageRef,
    /// In elements, as torch counts it.
    pub offset: u64,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// The allow-listed globals, by role.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Global {
    /// `collections.OrderedDict`: called with `()` or a list of pairs, then SETITEMS.
    OrderedDict,
    /// `torch._utils._rebuild_tensor` (legacy) and `_rebuild_tensor_v2`.
    RebuildTensor,
    /// `torch._utils._rebuild_parameter(data, requires_grad, hooks)` and `_with_state`.
    RebuildParameter,
    /// `torch._utils._rebuild_from_type_v2(func, new_type, args, state)`: tensor subclasses.
    RebuildFromType,
    /// `torch.Tensor`, `torch.nn.Parameter`, …: only as the `new_type` of the above.
    TensorType,
    /// `torch.<Name>Storage`: only inside a persistent id.
    Storage(StorageType),
    /// Inert data classes found in training checkpoints next to the state dict (numpy
    /// scalars, `argparse.Namespace`, `torch.device`, sets, …): instances become opaque
    /// values that are never looked into.
    Inert(String),
}

/// Heap objects.
#[derive(Debug)]
pub(crate) enum Obj {
    Str(String),
    /// Bytes are never needed: only their presence is kept.
    Bytes,
    /// An integer too wide for i64 (LONG1/LONG4), little-endian two's complement.
    BigInt(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(Global),
    Storage(StorageRef),
    Tensor(TensorRef),
    /// Something we do not model (an inert class instance, a set, …), by what it was; the
    /// name is kept for debugging only.
    Opaque(#[allow(dead_code)] String),
}

/// What to do with persistent ids (`PERSID`/`BINPERSID`): only the object pickle of a
/// checkpoint may refer to storages.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Persistent {
    Storages,
    Refuse,
}

/// The result of running one pickle: the heap and the value `STOP` returned.
pub(crate) struct Unpickled {
    pub heap: Vec<Obj>,
    pub root: Value,
    /// Offset just past the `STOP` opcode (the legacy format chains several pickles).
    pub end: usize,
}

impl Unpickled {
    pub fn obj(&self, v: Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.heap.get(i),
            _ => None,
        }
    }
    pub fn str(&self, v: Value) -> Option<&str> {
        match self.obj(v) {
            Some(Obj::Str(s)) => Some(s),
            _ => None,
        }
    }
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    heap: Vec<Obj>,
    persistent: Persistent,
}

/// Normalise Python 2 module names the way `pickle`'s `fix_imports` does.
fn py3_module(module: &str) -> &str {
    match module {
        "__builtin__" => "builtins",
        "copy_reg" => "copyreg",
        m => m,
    }
}

/// Element type and size of a `torch.<name>` storage class (torch/storage.py,
/// `_dtype_to_storage_type_map`); names follow the safetensors dtype names.
fn storage_type(name: &str) -> Option<StorageType> {
    let (dtype, size): (DType, Option<usize>) = match name {
        "FloatStorage" => (DType::F32, Some(4)),
        "DoubleStorage" => (DType::F64, Some(8)),
        "HalfStorage" => (DType::F16, Some(2)),
        "BFloat16Storage" => (DType::BF16, Some(2)),
        other => {
            let (n, s) = match other {
                "LongStorage" => ("I64", Some(8)),
                "IntStorage" => ("I32", Some(4)),
                "ShortStorage" => ("I16", Some(2)),
                "CharStorage" => ("I8", Some(1)),
                "ByteStorage" | "UntypedStorage" => ("U8", Some(1)),
                "BoolStorage" => ("BOOL", Some(1)),
                "ComplexFloatStorage" => ("C64", Some(8)),
                "ComplexDoubleStorage" => ("C128", Some(16)),
                "QInt8Storage" => ("QI8", Some(1)),
                "QUInt8Storage" => ("QU8", Some(1)),
                "QInt32Storage" => ("QI32", Some(4)),
                "QUInt4x2Storage" => ("QU4x2", Some(1)),
                "QUInt2x4Storage" => ("QU2x4", Some(1)),
                // A storage class of a future torch: its data can still be skipped in the
                // zip format (entries have their own length), not in the legacy one.
                n if n.ends_with("Storage")
                    && n.len() > "Storage".len()
                    && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    (n.trim_end_matches("Storage"), None)
                }
                _ => return None,
            };
            (DType::Other(n.to_string()), s)
        }
    };
    Some(StorageType {
        name: name.to_string(),
        dtype,
        elem_size: size,
    })
}

/// `torch.<dtype>` objects, which pickle as globals.
const TORCH_DTYPES: [&str; 29] = [
    "float16",
    "float32",
    "float64",
    "bfloat16",
    "half",
    "float",
    "double",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int",
    "long",
    "short",
    "bool",
    "complex32",
    "complex64",
    "complex128",
    "cfloat",
    "cdouble",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
];

/// The allow-list. `Err` carries the refusal, naming the global.
pub(crate) fn resolve_global(module: &str, name: &str) -> Result<Global, String> {
    let module = py3_module(module);
    let full = format!("{module}.{name}");
    let g = match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2") => Global::RebuildTensor,
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            Global::RebuildParameter
        }
        ("torch._utils", "_rebuild_from_type_v2") => Global::RebuildFromType,
        ("torch" | "torch._tensor", "Tensor")
        | ("torch.nn.parameter", "Parameter" | "Buffer")
        | ("torch.nn", "Parameter") => Global::TensorType,
        ("torch" | "torch.storage", n) if storage_type(n).is_some() => {
            Global::Storage(storage_type(n).expect("checked"))
        }
        // Data-only classes commonly saved beside a state dict (training arguments, metric
        // scalars, devices, dtypes). torch.load(weights_only=True) accepts most of these.
        ("builtins", "set" | "frozenset" | "bytearray" | "slice" | "complex")
        | ("_codecs", "encode")
        | ("argparse", "Namespace")
        | ("pathlib", "PosixPath" | "WindowsPath" | "PurePosixPath" | "PureWindowsPath")
        | ("torch", "device" | "Size" | "dtype" | "layout" | "memory_format")
        | ("numpy", "dtype" | "ndarray")
        | ("numpy.core.multiarray" | "numpy._core.multiarray", "scalar" | "_reconstruct") => {
            Global::Inert(full)
        }
        // numpy's dtype classes (`numpy.dtypes.Float64DType`, numpy >= 1.25).
        ("numpy.dtypes", n) if n.ends_with("DType") => Global::Inert(full),
        // torch dtypes, e.g. `torch.float32` (saved e.g. in mixed-precision configs).
        ("torch", n) if TORCH_DTYPES.contains(&n) => Global::Inert(full),
        _ => return Err(refusal(module, &full)),
    };
    Ok(g)
}

fn refusal(module: &str, full: &str) -> String {
    if module.starts_with("__torch__") {
        format!(
            "refusing to load global {full}: this is a TorchScript archive (torch.jit.save), \
             which holds code; weightscope reads state dicts (torch.save(model.state_dict()))"
        )
    } else if module == "__main__" || module.starts_with("torch.nn.modules") {
        format!(
            "refusing to load global {full}: the checkpoint pickles a whole Python model object \
             (torch.save(model)); a checkpoint is data, not code: save model.state_dict() instead"
        )
    } else {
        format!("refusing to load global {full}: a checkpoint is data, not code")
    }
}

impl<'a> Vm<'a> {
    fn err<T>(&self, msg: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("pickle: {msg} (at byte {})", self.pos))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
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
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    /// A length field, checked against what is left of the input before anything is
    /// allocated for it.
    fn len_bytes(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return self.err(format!(
                "a length of {n} bytes exceeds the {left} bytes left (corrupt or truncated)"
            ));
        }
        self.take(n as usize)
    }
    /// A newline-terminated line (text opcodes of protocol 0).
    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.data[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.pos += i + 1;
                Ok(&rest[..i])
            }
            None => self.err("unterminated line"),
        }
    }

    fn push(&mut self, v: Value) -> Result<(), String> {
        if self.stack.len() >= MAX_STACK {
            return self.err("stack too deep");
        }
        self.stack.push(v);
        Ok(())
    }
    fn alloc(&mut self, o: Obj) -> Result<Value, String> {
        if self.heap.len() >= MAX_OBJECTS {
            return self.err(format!("more than {MAX_OBJECTS} objects"));
        }
        self.heap.push(o);
        Ok(Value::Obj(self.heap.len() - 1))
    }
    fn push_obj(&mut self, o: Obj) -> Result<(), String> {
        let v = self.alloc(o)?;
        self.push(v)
    }
    fn pop(&mut self) -> Result<Value, String> {
        // A MARK above the top means the value belongs to an outer frame: stack underflow
        // in pickle terms.
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) {
            return self.err("stack underflow");
        }
        Ok(self.stack.pop().expect("checked"))
    }
    fn top(&self) -> Result<Value, String> {
        match self.stack.last() {
            Some(v) if self.stack.len() > self.marks.last().copied().unwrap_or(0) => Ok(*v),
            _ => self.err("stack underflow"),
        }
    }
    /// Pop everything down to the last MARK.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let Some(m) = self.marks.pop() else {
            return self.err("no MARK to pop to");
        };
        Ok(self.stack.split_off(m))
    }
    fn memo_put(&mut self, idx: u32) -> Result<(), String> {
        let v = self.top()?;
        if self.memo.len() >= MAX_STACK && !self.memo.contains_key(&idx) {
            return self.err("memo too large");
        }
        self.memo.insert(idx, v);
        Ok(())
    }
    fn memo_get(&mut self, idx: u32) -> Result<(), String> {
        match self.memo.get(&idx) {
            Some(&v) => self.push(v),
            None => self.err(format!("memo key {idx} not set")),
        }
    }
    fn string(&mut self, s: &[u8]) -> Result<(), String> {
        let s = String::from_utf8_lossy(s).into_owned();
        self.push_obj(Obj::Str(s))
    }
    fn int_from_le(&mut self, b: &[u8]) -> Result<(), String> {
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
    fn global(&mut self, module: &str, name: &str) -> Result<(), String> {
        match resolve_global(module, name) {
            Ok(g) => self.push_obj(Obj::Global(g)),
            // Refusals are not pickle errors: report them verbatim.
            Err(e) => Err(e),
        }
    }

    fn as_tuple(&self, v: Value) -> Option<&Vec<Value>> {
        match v {
            Value::Obj(i) => match self.heap.get(i) {
                Some(Obj::Tuple(t)) | Some(Obj::List(t)) => Some(t),
                _ => None,
            },
            _ => None,
        }
    }
    fn as_str(&self, v: Value) -> Option<&str> {
        match v {
            Value::Obj(i) => match self.heap.get(i) {
                Some(Obj::Str(s)) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }
    fn as_global(&self, v: Value) -> Option<&Global> {
        match v {
            Value::Obj(i) => match self.heap.get(i) {
                Some(Obj::Global(g)) => Some(g),
                _ => None,
            },
            _ => None,
        }
    }
    fn as_uint(&self, v: Value, what: &str) -> Result<u64, String> {
        match v {
            Value::Int(i) if i >= 0 => Ok(i as u64),
            _ => self.err(format!("{what} is not a non-negative integer")),
        }
    }
    fn dims(&self, v: Value, what: &str) -> Result<Vec<usize>, String> {
        let Some(items) = self.as_tuple(v) else {
            return self.err(format!("{what} is not a tuple"));
        };
        if items.len() > MAX_DIMS {
            return self.err(format!("{what} has {} dimensions", items.len()));
        }
        items
            .iter()
            .map(|&d| {
                let d = self.as_uint(d, what)?;
                usize::try_from(d).or_else(|_| self.err(format!("{what} too large")))
            })
            .collect()
    }

    /// `persistent_load` of torch/serialization.py: a storage from its persistent id.
    fn persistent_load(&mut self, pid: Value) -> Result<(), String> {
        if self.persistent == Persistent::Refuse {
            return self.err("a persistent id outside the object pickle");
        }
        let Some(t) = self.as_tuple(pid).cloned() else {
            return self.err("persistent id is not a tuple");
        };
        let kind = t.first().and_then(|&v| self.as_str(v)).unwrap_or("");
        if kind == "module" {
            return Err(
                "refusing to load a pickled nn.Module (torch.save(model)): a checkpoint is \
                 data, not code; save model.state_dict() instead"
                    .into(),
            );
        }
        if kind != "storage" || t.len() < 5 {
            return self.err(format!(
                "unsupported persistent id (kind '{kind}', {} fields)",
                t.len()
            ));
        }
        let stype = match self.as_global(t[1]) {
            Some(Global::Storage(s)) => s.clone(),
            _ => return self.err("persistent id names no torch storage type"),
        };
        let key = match t[2] {
            Value::Int(i) => i.to_string(),
            v => match self.as_str(v) {
                Some(s) => s.to_string(),
                None => return self.err("storage key is not a string"),
            },
        };
        let numel = self.as_uint(t[4], "storage size")?;
        // Legacy view_metadata: (view_key, offset, view_size), in elements.
        let view = match t.get(5) {
            None | Some(Value::None) => None,
            Some(&v) => match self.as_tuple(v) {
                Some(vm) if vm.len() == 3 => {
                    let (o, s) = (vm[1], vm[2]);
                    Some((
                        self.as_uint(o, "view offset")?,
                        self.as_uint(s, "view size")?,
                    ))
                }
                _ => return self.err("bad storage view metadata"),
            },
        };
        self.push_obj(Obj::Storage(StorageRef {
            stype,
            key,
            numel,
            view,
        }))
    }

    /// The model of calling an allowed global (REDUCE / NEWOBJ).
    fn call(&mut self, f: Value, args: Value, depth: usize) -> Result<Value, String> {
        let Some(g) = self.as_global(f).cloned() else {
            return match self.obj_of(f) {
                Some(Obj::Opaque(_)) => self.alloc(Obj::Opaque("call result".into())),
                _ => self.err("call of an object that is not an allowed global"),
            };
        };
        let a = self.as_tuple(args).cloned().unwrap_or_default();
        match g {
            Global::OrderedDict => {
                // OrderedDict() or OrderedDict([(k, v), …]).
                let mut items = Vec::new();
                if let Some(&list) = a.first() {
                    if let Some(pairs) = self.as_tuple(list) {
                        for &p in pairs {
                            if let Some(kv) = self.as_tuple(p) {
                                if kv.len() == 2 {
                                    items.push((kv[0], kv[1]));
                                }
                            }
                        }
                    }
                }
                self.alloc(Obj::Dict(items))
            }
            Global::RebuildTensor => {
                if a.len() < 4 {
                    return self.err("_rebuild_tensor needs (storage, offset, size, stride)");
                }
                let storage = match self.obj_of(a[0]) {
                    Some(Obj::Storage(s)) => s.clone(),
                    _ => return self.err("_rebuild_tensor of something that is not a storage"),
                };
                let offset = self.as_uint(a[1], "storage offset")?;
                let shape = self.dims(a[2], "size")?;
                let stride = self.dims(a[3], "stride")?;
                if shape.len() != stride.len() {
                    return self.err(format!(
                        "size has {} dimensions but stride has {}",
                        shape.len(),
                        stride.len()
                    ));
                }
                self.alloc(Obj::Tensor(TensorRef {
                    storage,
                    offset,
                    shape,
                    stride,
                }))
            }
            Global::RebuildParameter => match a.first() {
                Some(&t) if matches!(self.obj_of(t), Some(Obj::Tensor(_))) => Ok(t),
                _ => self.err("_rebuild_parameter of something that is not a tensor"),
            },
            Global::RebuildFromType => {
                // (func, new_type, args, state): the tensor is func(*args); new_type must be
                // a tensor class (a Parameter, a plain Tensor), the state is ignored.
                if a.len() < 3 || depth > 4 {
                    return self.err("bad _rebuild_from_type_v2 call");
                }
                if !matches!(self.as_global(a[1]), Some(Global::TensorType)) {
                    return self.err("_rebuild_from_type_v2 of a type that is not a tensor type");
                }
                self.call(a[0], a[2], depth + 1)
            }
            Global::Inert(name) => self.alloc(Obj::Opaque(name)),
            Global::TensorType => self.alloc(Obj::Opaque("tensor type".into())),
            Global::Storage(s) => self.err(format!(
                "torch.{} called directly (storages inside pickles are not supported)",
                s.name
            )),
        }
    }

    fn obj_of(&self, v: Value) -> Option<&Obj> {
        match v {
            Value::Obj(i) => self.heap.get(i),
            _ => None,
        }
    }

    fn set_items(&mut self, target: Value, items: Vec<Value>) -> Result<(), String> {
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

    fn append(&mut self, target: Value, items: Vec<Value>) -> Result<(), String> {
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

    fn run(&mut self) -> Result<Value, String> {
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

/// Keys under which training scripts nest the state dict; the tensors found there are named
/// as in the model (`conv1.weight`, not `state_dict.conv1.weight`), and siblings such as the
/// optimizer state are ignored — the way timm's and Lightning's loaders unwrap checkpoints.
const WRAPPER_KEYS: [&str; 3] = ["state_dict", "model_state_dict", "model"];

/// The tensors reachable from the pickle's root, with dotted names, in pickle (insertion)
/// order. Non-tensor leaves (epochs, learning rates, strings, opaque objects) are skipped.
pub(crate) fn collect_tensors(u: &Unpickled) -> Vec<(String, TensorRef)> {
    let mut root = u.root;
    if let Some(Obj::Dict(items)) = u.obj(root) {
        let has_tensor = items
            .iter()
            .any(|(_, v)| matches!(u.obj(*v), Some(Obj::Tensor(_))));
        if !has_tensor {
            'keys: for key in WRAPPER_KEYS {
                for (k, v) in items {
                    if u.str(*k) == Some(key) && matches!(u.obj(*v), Some(Obj::Dict(_))) {
                        root = *v;
                        break 'keys;
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    walk(u, root, String::new(), 0, &mut seen, &mut out);
    out
}

fn walk(
    u: &Unpickled,
    v: Value,
    name: String,
    depth: usize,
    seen: &mut HashSet<usize>,
    out: &mut Vec<(String, TensorRef)>,
) {
    let Value::Obj(id) = v else { return };
    let join = |k: &str| {
        if name.is_empty() {
            k.to_string()
        } else {
            format!("{name}.{k}")
        }
    };
    match u.heap.get(id) {
        Some(Obj::Tensor(t)) => {
            // The same tensor object may appear under several names (tied weights): each
            // name is listed.
            let n = if name.is_empty() {
                "tensor".into()
            } else {
                name
            };
            out.push((n, t.clone()));
        }
        // Containers are walked once each: a shared or cyclic structure cannot make the walk
        // exponential or endless.
        Some(Obj::Dict(items)) if depth < MAX_DEPTH && seen.insert(id) => {
            for (k, v) in items {
                let key = match *k {
                    Value::Int(i) => i.to_string(),
                    Value::Bool(b) => b.to_string(),
                    k => match u.str(k) {
                        Some(s) => s.to_string(),
                        None => continue,
                    },
                };
                walk(u, *v, join(&key), depth + 1, seen, out);
            }
        }
        Some(Obj::List(items)) | Some(Obj::Tuple(items))
            if depth < MAX_DEPTH && seen.insert(id) =>
        {
            for (i, v) in items.iter().enumerate() {
                walk(u, *v, join(&i.to_string()), depth + 1, seen, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &[u8]) -> Result<Unpickled, String> {
        unpickle(p, 0, Persistent::Storages)
    }

    #[test]
    fn refuses_os_system_and_eval() {
        let e = run(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.")
            .err()
            .unwrap();
        assert!(e.contains("refusing to load global os.system"), "{e}");
        assert!(e.contains("data, not code"), "{e}");
        let e = run(b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.")
            .err()
            .unwrap();
        assert!(e.contains("builtins.eval"), "{e}");
        // Python 2 spelling of the same module.
        let e = run(b"c__builtin__\neval\n.").err().unwrap();
        assert!(e.contains("builtins.eval"), "{e}");
        let e = run(b"c__torch__.Net\nNet\n.").err().unwrap();
        assert!(e.contains("TorchScript"), "{e}");
        // torch functions next to allowed names are still refused.
        for (m, n) in [
            ("torch", "load"),
            ("torch", "int_repr"),
            ("torch._utils", "x"),
        ] {
            let e = resolve_global(m, n).err().unwrap();
            assert!(
                e.contains(&format!("refusing to load global {m}.{n}")),
                "{e}"
            );
        }
        assert!(resolve_global("torch", "bfloat16").is_ok());
        assert!(resolve_global("numpy.dtypes", "Float64DType").is_ok());
    }

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
    fn rebuilds_a_tensor_from_a_persistent_id() {
        // OrderedDict with one tensor, as torch.save writes it.
        let mut p = b"\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00w".to_vec();
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.extend(b"(X\x07\x00\x00\x00storagectorch\nHalfStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQ");
        p.extend(b"K\x01K\x02K\x02\x86K\x01K\x02\x86\x89ccollections\nOrderedDict\n)RtRu.");
        let u = run(&p).unwrap();
        let t = collect_tensors(&u);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].0, "w");
        assert_eq!(t[0].1.shape, vec![2, 2]);
        assert_eq!(t[0].1.stride, vec![1, 2]);
        assert_eq!(t[0].1.offset, 1);
        assert_eq!(t[0].1.storage.stype.dtype, DType::F16);
        assert_eq!(t[0].1.storage.key, "0");
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
