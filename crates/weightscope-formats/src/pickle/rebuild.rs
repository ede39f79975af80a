//! What the allowed calls build, in place of running them: torch's `persistent_load` (a
//! storage record from its persistent id), `_rebuild_tensor_v2` (a tensor record: a view of a
//! storage), `_rebuild_parameter` and `_rebuild_from_type_v2` (the tensor they wrap),
//! `OrderedDict` (a dict) and the inert classes (opaque values).

use super::vm::Vm;
use super::{Global, Obj, Persistent, StorageRef, TensorRef, Value};

/// Most dimensions of a tensor (torch's own limit is 64).
const MAX_DIMS: usize = 64;

impl Vm<'_> {
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
    pub(super) fn persistent_load(&mut self, pid: Value) -> Result<(), String> {
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
    pub(super) fn call(&mut self, f: Value, args: Value, depth: usize) -> Result<Value, String> {
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
}

#[cfg(test)]
mod tests {
    use super::super::collect_tensors;
    use super::super::run_for_tests as run;
    use crate::DType;

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
}
