//! A pickle reader for PyTorch checkpoints that treats the pickle as DATA, never as a program.
//!
//! A pickle is a little stack-machine program: opcodes push values, build containers and —
//! the dangerous part — import arbitrary Python callables (`GLOBAL`, `STACK_GLOBAL`) and call
//! them (`REDUCE`, `NEWOBJ`, `BUILD`). Python's `pickle.load` will run `os.system` if the
//! file asks it to. This module interprets only the opcodes a `torch.save` state dict uses
//! and resolves `GLOBAL`s against a short allow-list
//! ([`resolve_global`](globals::resolve_global)), much like `torch.load(weights_only=True)`;
//! nothing is ever executed: an allowed "call" is modelled here (an `OrderedDict` becomes a
//! dict, `_rebuild_tensor_v2` becomes a tensor record).
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
//!
//! # Where the code is
//!
//! - [`vm`]: the machine — input reading with guarded lengths, the stack, marks, memo and
//!   heap, and [`unpickle`]; [`opcodes`]: what each opcode does.
//! - [`globals`]: the allow-list of importable globals, and the refusals naming the others.
//! - [`rebuild`]: the model of torch's calls — `persistent_load` of storages,
//!   `_rebuild_tensor_v2`, `_rebuild_parameter`, `OrderedDict`, … — which builds records.
//! - [`state_dict`]: the tensors reachable from the result, with their dotted names.
//! - Here: the values and heap objects they share.

mod globals;
mod opcodes;
mod rebuild;
mod state_dict;
mod vm;

pub(crate) use state_dict::collect_tensors;
pub(crate) use vm::unpickle;

use crate::DType;

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

/// Run a whole pickle from its first byte, storages allowed: the unit tests' entry point.
#[cfg(test)]
fn run_for_tests(p: &[u8]) -> Result<Unpickled, String> {
    unpickle(p, 0, Persistent::Storages)
}
