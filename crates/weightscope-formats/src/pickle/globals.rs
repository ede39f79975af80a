//! The allow-list: the only Python globals a checkpoint may import (`GLOBAL`,
//! `STACK_GLOBAL`), each mapped to the role it plays here ([`Global`]). This is the safety
//! boundary of the reader — anything not listed is refused with its name, and a refusal says
//! why when the file is a TorchScript archive or a pickled model object.

use super::{Global, StorageType};
use crate::DType;

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

#[cfg(test)]
mod tests {
    use super::super::run_for_tests as run;
    use super::*;

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
}
