//! What HDF5 metadata says, without reading data: a dataset's shape and element type (with
//! byte order, f16 vs bfloat16, and Keras' bfloat16-as-opaque convention), and the string
//! attributes Keras writes (`name`, `layer_names`, `weight_names`, `model_config`).

use crate::DType;
use hdf5_reader::group::Group;
use hdf5_reader::{ByteOrder, Dataset, Datatype};

/// What the header of a dataset says.
pub(super) struct DsInfo {
    pub(super) shape: Vec<usize>,
    pub(super) dtype: DType,
    pub(super) big_endian: bool,
}

pub(super) fn describe(ds: &Dataset) -> std::result::Result<DsInfo, String> {
    let shape = ds
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d} is too large")))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let (dtype, big_endian) = match ds.dtype() {
        Datatype::FloatingPoint { size, byte_order } => {
            let dt = match size {
                8 => DType::F64,
                4 => DType::F32,
                2 => half_kind(ds),
                s => DType::Other(format!("float{}", u32::from(*s) * 8)),
            };
            (dt, matches!(byte_order, ByteOrder::BigEndian))
        }
        // Keras stores bfloat16 (ml_dtypes) as 2-byte opaque data, marked by an attribute.
        Datatype::Opaque { size: 2, .. } if is_keras_bf16(ds) => (DType::BF16, false),
        Datatype::FixedPoint { size, signed, .. } => (
            DType::Other(format!(
                "{}{}",
                if *signed { "int" } else { "uint" },
                u32::from(*size) * 8
            )),
            false,
        ),
        other => (DType::Other(type_class(other).into()), false),
    };
    Ok(DsInfo {
        shape,
        dtype,
        big_endian,
    })
}

fn type_class(t: &Datatype) -> &'static str {
    match t {
        Datatype::FixedPoint { .. } => "integer",
        Datatype::FloatingPoint { .. } => "float",
        Datatype::String { .. } => "string",
        Datatype::Compound { .. } => "compound",
        Datatype::Array { .. } => "array",
        Datatype::Enum { .. } => "enum",
        Datatype::VarLen { .. } => "variable-length",
        Datatype::Opaque { .. } => "opaque",
        Datatype::Reference { .. } => "reference",
        Datatype::Bitfield { .. } => "bitfield",
    }
}

/// A 2-byte IEEE-like float: f16 (5 exponent bits) or bfloat16 (8), from the datatype
/// message's exponent and mantissa sizes (bytes 13 and 15 of a floating-point message).
fn half_kind(ds: &Dataset) -> DType {
    match ds.raw_datatype() {
        Ok(raw) if raw.len() >= 16 && raw[0] & 0x0f == 1 => match (raw[13], raw[15]) {
            (5, 10) => DType::F16,
            (8, 7) => DType::BF16,
            (e, m) => DType::Other(format!("float16 (e{e}m{m})")),
        },
        _ => DType::F16,
    }
}

fn is_keras_bf16(ds: &Dataset) -> bool {
    ds.attribute("dtype")
        .ok()
        .and_then(|a| a.read_strings().ok())
        .is_some_and(|s| s.first().map(String::as_str) == Some("bfloat16"))
}

/// A group's attribute as a list of strings (legacy `layer_names`/`weight_names`), joined
/// from `name0`, `name1`, … when Keras split it; `None` when absent.
pub(super) fn string_list(
    g: &Group,
    name: &str,
) -> std::result::Result<Option<Vec<String>>, String> {
    let attrs = g.attributes().map_err(|e| e.to_string())?;
    let decode = |a: &hdf5_reader::Attribute| -> std::result::Result<Vec<String>, String> {
        match a.read_strings() {
            Ok(v) => Ok(v),
            // An empty list is saved as an empty float array.
            Err(_) if a.shape.contains(&0) => Ok(Vec::new()),
            Err(e) => Err(format!("attribute '{}': {e}", a.name)),
        }
    };
    if let Some(a) = attrs.iter().find(|a| a.name == name) {
        return decode(a).map(Some);
    }
    let mut out = Vec::new();
    let mut found = false;
    for k in 0.. {
        let chunk = format!("{name}{k}");
        let Some(a) = attrs.iter().find(|a| a.name == chunk) else {
            break;
        };
        out.extend(decode(a)?);
        found = true;
    }
    Ok(found.then_some(out))
}

pub(super) fn string_attr(g: &Group, name: &str) -> Option<String> {
    let a = g.attribute(name).ok()?;
    a.read_strings().ok()?.into_iter().next()
}
