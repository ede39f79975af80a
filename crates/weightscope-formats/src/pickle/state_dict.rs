//! The tensors of an unpickled checkpoint: walked from the root (or from the state dict a
//! training script nested under `state_dict`, `model_state_dict` or `model`), named by their
//! dotted key paths, each container walked once.

use super::{Obj, TensorRef, Unpickled, Value};
use std::collections::HashSet;

/// Deepest container nesting walked when collecting tensors.
const MAX_DEPTH: usize = 256;

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
