//! `.onnx` models: the initializers of the main graph, and the tensors of its `Constant`
//! nodes (Paddle2ONNX and some other exporters store every weight that way), memory-mapped,
//! with the role each plays in the graph (the weight input of a MatMul, Gemm or Conv node).
//!
//! The file is one protobuf `ModelProto` (onnx/onnx.proto), decoded with the minimal
//! wire-format reader in [`crate::protobuf`]. The fields read:
//!
//! ```text
//! ModelProto   7: graph GraphProto
//! GraphProto   1: node NodeProto*   5: initializer TensorProto*
//! NodeProto    1: input string*  2: output string*  4: op_type  5: attribute AttributeProto*
//!              7: domain
//! AttributeProto 1: name  3: i (int64)  5: t (TensorProto)
//! TensorProto  1: dims int64*  2: data_type  3: segment  4: float_data float*
//!              5: int32_data int32*  8: name  9: raw_data  10: double_data double*
//!              13: external_data StringStringEntryProto* (1: key, 2: value)
//!              14: data_location (0 DEFAULT, 1 EXTERNAL)
//! ```
//!
//! Tensor data are never copied at open: each initializer records the byte range of its
//! `raw_data` (or of its whole `TensorProto`, re-walked on read for the typed `float_data`
//! … fields), or its range in an external data file, which is mapped once. Dims are
//! row-major. Gemm computes A'·B' with B' = transB ? Bᵀ : B, so a Gemm weight with
//! transB=1 is stored (N, K) = (out, in), like PyTorch's Linear, and with transB=0 (in,
//! out), as is a MatMul's B. The role says which.

use super::convert::shape_fits;
use super::{DType, TensorInfo, TensorSource};
use crate::mapped::Bytes;
use crate::protobuf::{packed_varints, Fields, Payload, R};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// `TensorProto.DataType`.
mod data_type {
    pub const FLOAT: i32 = 1;
    pub const FLOAT16: i32 = 10;
    pub const DOUBLE: i32 = 11;
    pub const BFLOAT16: i32 = 16;

    pub fn name(t: i32) -> String {
        const NAMES: [&str; 27] = [
            "UNDEFINED",
            "FLOAT",
            "UINT8",
            "INT8",
            "UINT16",
            "INT16",
            "INT32",
            "INT64",
            "STRING",
            "BOOL",
            "FLOAT16",
            "DOUBLE",
            "UINT32",
            "UINT64",
            "COMPLEX64",
            "COMPLEX128",
            "BFLOAT16",
            "FLOAT8E4M3FN",
            "FLOAT8E4M3FNUZ",
            "FLOAT8E5M2",
            "FLOAT8E5M2FNUZ",
            "UINT4",
            "INT4",
            "FLOAT4E2M1",
            "FLOAT8E8M0",
            "UINT2",
            "INT2",
        ];
        usize::try_from(t)
            .ok()
            .and_then(|i| NAMES.get(i))
            .map_or_else(|| format!("data_type {t}"), |s| s.to_string())
    }
}

fn dtype_of(t: i32) -> DType {
    match t {
        data_type::FLOAT => DType::F32,
        data_type::FLOAT16 => DType::F16,
        data_type::DOUBLE => DType::F64,
        data_type::BFLOAT16 => DType::BF16,
        other => DType::Other(data_type::name(other)),
    }
}

fn elem_size(t: i32) -> Option<usize> {
    match t {
        data_type::FLOAT => Some(4),
        data_type::FLOAT16 | data_type::BFLOAT16 => Some(2),
        data_type::DOUBLE => Some(8),
        _ => None,
    }
}

/// Where an initializer's values are.
#[derive(Debug, Clone)]
enum Source {
    /// `raw_data`: little-endian elements at this absolute range of the model file.
    Raw(usize, usize),
    /// The typed repeated fields of the `TensorProto` at this range of the model file.
    Typed(usize, usize),
    /// Little-endian elements at this range of external file `file`.
    External {
        file: usize,
        start: usize,
        end: usize,
    },
    /// Unreadable; the tensor's `problem` says why.
    Nothing,
}

/// What the listing pass learns from one `TensorProto`.
#[derive(Default)]
struct TensorMeta {
    name: String,
    dims: Vec<i64>,
    data_type: i32,
    raw: Option<(usize, usize)>,
    /// Number of values in float_data / int32_data / double_data.
    n_float: u64,
    n_int32: u64,
    n_double: u64,
    has_other_typed: bool,
    segmented: bool,
    external: bool,
    external_data: Vec<(String, String)>,
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Walk a `TensorProto` (at absolute offset `base`) for its metadata, without its values.
fn tensor_meta(msg: &[u8], base: usize) -> R<TensorMeta> {
    let mut m = TensorMeta::default();
    let mut f = Fields::new(msg, base);
    while let Some((field, p, at)) = f.next_field()? {
        match (field, p) {
            (1, Payload::Varint(v)) => m.dims.push(v as i64),
            (1, Payload::Bytes(b)) => {
                for v in packed_varints(b) {
                    m.dims.push(v? as i64);
                }
            }
            (2, Payload::Varint(v)) => m.data_type = v as i32,
            (3, _) => m.segmented = true,
            (4, Payload::Bytes(b)) => {
                if b.len() % 4 != 0 {
                    return Err("packed float_data is not a whole number of floats".into());
                }
                m.n_float += (b.len() / 4) as u64;
            }
            (4, Payload::Fixed32(_)) => m.n_float += 1,
            (5, Payload::Bytes(b)) => {
                for v in packed_varints(b) {
                    v?;
                    m.n_int32 += 1;
                }
            }
            (5, Payload::Varint(_)) => m.n_int32 += 1,
            (6 | 7 | 11, _) => m.has_other_typed = true,
            (8, Payload::Bytes(b)) => m.name = utf8(b),
            // Protobuf: the last occurrence of a singular field wins.
            (9, Payload::Bytes(b)) => m.raw = Some((at, at + b.len())),
            (10, Payload::Bytes(b)) => {
                if b.len() % 8 != 0 {
                    return Err("packed double_data is not a whole number of doubles".into());
                }
                m.n_double += (b.len() / 8) as u64;
            }
            (10, Payload::Fixed64(_)) => m.n_double += 1,
            (13, Payload::Bytes(b)) => {
                let (mut key, mut value) = (String::new(), String::new());
                let mut e = Fields::new(b, at);
                while let Some((k, p, _)) = e.next_field()? {
                    match (k, p) {
                        (1, Payload::Bytes(s)) => key = utf8(s),
                        (2, Payload::Bytes(s)) => value = utf8(s),
                        _ => {}
                    }
                }
                m.external_data.push((key, value));
            }
            (14, Payload::Varint(v)) => m.external = v == 1,
            (1 | 2 | 4 | 5 | 8 | 9 | 10 | 13 | 14, p) => {
                return Err(format!(
                    "TensorProto field {field} has the wrong wire type ({})",
                    p.wire_name()
                ))
            }
            _ => {}
        }
    }
    Ok(m)
}

/// One graph node, as far as roles and weights go.
struct Node {
    op_type: String,
    domain: String,
    inputs: Vec<String>,
    outputs: Vec<String>,
    /// Integer attributes (name, value).
    ints: Vec<(String, i64)>,
    /// Tensor attributes: (name, absolute byte range of the `TensorProto`).
    tensors: Vec<(String, (usize, usize))>,
}

impl Node {
    /// Whether the node is of the default ONNX domain, where op types mean what the spec says.
    fn is_onnx_domain(&self) -> bool {
        self.domain.is_empty() || self.domain == "ai.onnx"
    }

    /// The tensor a `Constant` node outputs when it is given as a `value` tensor (its other
    /// attributes, `value_float(s)`/`value_int(s)`/…, are scalars and lists, not weights).
    fn constant_value(&self) -> Option<(usize, usize)> {
        if self.op_type != "Constant" || !self.is_onnx_domain() {
            return None;
        }
        self.tensors
            .iter()
            .rev()
            .find(|(name, _)| name == "value")
            .map(|(_, range)| *range)
    }
}

fn parse_node(msg: &[u8], base: usize) -> R<Node> {
    let mut n = Node {
        op_type: String::new(),
        domain: String::new(),
        inputs: Vec::new(),
        outputs: Vec::new(),
        ints: Vec::new(),
        tensors: Vec::new(),
    };
    let mut f = Fields::new(msg, base);
    while let Some((field, p, at)) = f.next_field()? {
        match (field, p) {
            (1, Payload::Bytes(b)) => n.inputs.push(utf8(b)),
            (2, Payload::Bytes(b)) => n.outputs.push(utf8(b)),
            (4, Payload::Bytes(b)) => n.op_type = utf8(b),
            (7, Payload::Bytes(b)) => n.domain = utf8(b),
            (5, Payload::Bytes(b)) => {
                let (mut name, mut i, mut t) = (String::new(), None, None);
                let mut a = Fields::new(b, at);
                while let Some((k, p, t_at)) = a.next_field()? {
                    match (k, p) {
                        (1, Payload::Bytes(s)) => name = utf8(s),
                        (3, Payload::Varint(v)) => i = Some(v as i64),
                        (5, Payload::Bytes(s)) => t = Some((t_at, t_at + s.len())),
                        _ => {}
                    }
                }
                if let Some(i) = i {
                    n.ints.push((name.clone(), i));
                }
                if let Some(t) = t {
                    n.tensors.push((name, t));
                }
            }
            _ => {}
        }
    }
    Ok(n)
}

/// The role of each input position of a node whose initializer inputs are layer weights.
fn roles_of(node: &Node) -> Vec<(usize, String)> {
    if !node.is_onnx_domain() {
        return Vec::new();
    }
    let attr = |name: &str| {
        node.ints
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    };
    match node.op_type.as_str() {
        "Gemm" => vec![
            (0, format!("Gemm A (transA={})", attr("transA"))),
            (1, format!("Gemm B (transB={})", attr("transB"))),
        ],
        "MatMul" => vec![(0, "MatMul A".into()), (1, "MatMul B".into())],
        "Conv" => vec![(1, "Conv W".into())],
        "ConvTranspose" => vec![(1, "ConvTranspose W".into())],
        _ => Vec::new(),
    }
}

/// An external data file, mapped once for all the tensors in it.
struct External {
    path: PathBuf,
    bytes: std::result::Result<Bytes, String>,
}

/// One `.onnx` model.
pub struct OnnxFile {
    path: PathBuf,
    bytes: Bytes,
    externals: Vec<External>,
    tensors: Vec<TensorInfo>,
    sources: Vec<Source>,
}

impl OnnxFile {
    /// Memory-map and parse `path`; external data are looked up beside it. Fails only if
    /// the model's graph itself cannot be decoded.
    pub fn open(path: &Path) -> Result<Self> {
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::build(path, Bytes::map(path)?, Some(dir))
    }

    /// Parse a model held in memory; `path` only names it in listings and errors.
    /// Initializers with external data cannot be located and are listed with a problem.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        Self::build(path, Bytes::Owned(bytes), None)
    }

    fn build(path: &Path, bytes: Bytes, dir: Option<&Path>) -> Result<Self> {
        let bad = |m: String| Error::format(path, format!("not a valid ONNX model: {m}"));
        // ModelProto → graph (field 7; the last one wins, as in protobuf).
        let mut graph = None;
        let mut f = Fields::new(&bytes, 0);
        while let Some((field, p, at)) = f.next_field().map_err(bad)? {
            if field == 7 {
                match p {
                    Payload::Bytes(b) => graph = Some((at, b)),
                    _ => return Err(bad("ModelProto.graph is not a message".into())),
                }
            }
        }
        let (gbase, gbytes) =
            graph.ok_or_else(|| bad("no graph (ModelProto field 7) in the file".into()))?;
        // GraphProto → initializers and nodes.
        let mut inits: Vec<(usize, &[u8])> = Vec::new();
        let mut nodes: Vec<Node> = Vec::new();
        let mut g = Fields::new(gbytes, gbase);
        while let Some((field, p, at)) = g.next_field().map_err(bad)? {
            match (field, p) {
                (5, Payload::Bytes(b)) => inits.push((at, b)),
                (1, Payload::Bytes(b)) => {
                    nodes.push(parse_node(b, at).map_err(|e| bad(format!("graph node: {e}")))?)
                }
                (1 | 5, _) => return Err(bad("graph node/initializer is not a message".into())),
                _ => {}
            }
        }
        // Initializer name → roles, in node order, without repeats.
        let mut roles: HashMap<&str, Vec<String>> = HashMap::new();
        for node in &nodes {
            for (pos, role) in roles_of(node) {
                if let Some(input) = node.inputs.get(pos).filter(|s| !s.is_empty()) {
                    let r = roles.entry(input.as_str()).or_default();
                    if !r.contains(&role) {
                        r.push(role);
                    }
                }
            }
        }
        // The weights: the initializers, then the `value` tensors of the Constant nodes in
        // node order, each named after the node's output (what the consuming nodes name as
        // their input; the TensorProto's own name is optional there).
        let constants = nodes.iter().filter_map(|node| {
            let (s, e) = node.constant_value()?;
            let output = node.outputs.first().cloned().unwrap_or_default();
            Some((&bytes[s..e], s, Some(output)))
        });
        let weights: Vec<(&[u8], usize, Option<String>)> = inits
            .iter()
            .map(|&(at, msg)| (msg, at, None))
            .chain(constants)
            .collect();
        let mut externals: Vec<External> = Vec::new();
        let mut tensors = Vec::with_capacity(weights.len());
        let mut sources = Vec::with_capacity(weights.len());
        for (i, (msg, at, output)) in weights.into_iter().enumerate() {
            let (info, source) = match tensor_meta(msg, at) {
                Ok(mut m) => {
                    if let Some(output) = output {
                        m.name = output;
                    }
                    let (source, problem, shape) =
                        locate(&m, (at, at + msg.len()), dir, &mut externals);
                    let role = roles.get(m.name.as_str()).map(|r| r.join(", "));
                    let info = TensorInfo {
                        name: m.name,
                        shape,
                        dtype: dtype_of(m.data_type),
                        file: path.to_path_buf(),
                        problem,
                        role,
                    };
                    (info, source)
                }
                Err(e) => (
                    TensorInfo {
                        name: match output {
                            Some(o) => o,
                            None => format!("initializer #{i}"),
                        },
                        shape: Vec::new(),
                        dtype: DType::Other("unknown".into()),
                        file: path.to_path_buf(),
                        problem: Some(format!("corrupt TensorProto: {e}")),
                        role: None,
                    },
                    Source::Nothing,
                ),
            };
            tensors.push(info);
            sources.push(source);
        }
        // An initializer and a Constant output of one name, or a name repeated.
        crate::mark_duplicate_names(&mut tensors);
        Ok(OnnxFile {
            path: path.to_path_buf(),
            bytes,
            externals,
            tensors,
            sources,
        })
    }
}

/// Where a tensor's values are, its problem if any, and its shape (empty when the dims are
/// negative or their product overflows).
fn locate(
    m: &TensorMeta,
    msg: (usize, usize),
    dir: Option<&Path>,
    externals: &mut Vec<External>,
) -> (Source, Option<String>, Vec<usize>) {
    let shape: Option<Vec<usize>> = m.dims.iter().map(|&d| usize::try_from(d).ok()).collect();
    let numel = shape
        .as_ref()
        .filter(|s| shape_fits(s))
        .map(|s| s.iter().product::<usize>());
    let (Some(shape), Some(numel)) = (shape, numel) else {
        return (
            Source::Nothing,
            Some(format!("dims {:?} are negative or overflow", m.dims)),
            Vec::new(),
        );
    };
    let fail = |p: String| (Source::Nothing, Some(p), shape.clone());
    // Non-float types (shape constants, token ids, …) are listed without a problem, like
    // the other readers' integer tensors: not weights, and `read_f64` says so.
    let Some(size) = elem_size(m.data_type) else {
        return (Source::Nothing, None, shape);
    };
    if m.segmented {
        return fail("segmented tensors are not supported".into());
    }
    let Some(nbytes) = numel.checked_mul(size) else {
        return fail("size overflows".into());
    };
    if m.external {
        return match external(m, nbytes, dir, externals) {
            Ok(s) => (s, None, shape),
            Err(e) => fail(e),
        };
    }
    if let Some((s, e)) = m.raw {
        return if e - s == nbytes {
            (Source::Raw(s, e), None, shape)
        } else {
            fail(format!(
                "raw_data has {} bytes but dims {:?} of {} need {nbytes}",
                e - s,
                m.dims,
                data_type::name(m.data_type)
            ))
        };
    }
    // The typed field that holds this data type (onnx.proto comments on each field).
    let (count, field) = match m.data_type {
        data_type::FLOAT => (m.n_float, "float_data"),
        data_type::DOUBLE => (m.n_double, "double_data"),
        _ => (m.n_int32, "int32_data"),
    };
    if count == numel as u64 {
        (Source::Typed(msg.0, msg.1), None, shape)
    } else if count == 0 && numel > 0 {
        fail(if m.has_other_typed {
            format!("values are in a field other than {field}")
        } else {
            "no data (no raw_data, typed data or external data)".into()
        })
    } else {
        fail(format!(
            "{field} has {count} values but dims {:?} need {numel}",
            m.dims
        ))
    }
}

/// Resolve external data (`location`, `offset`, `length` keys, relative to the model's
/// folder) to a range of a mapped file.
fn external(
    m: &TensorMeta,
    nbytes: usize,
    dir: Option<&Path>,
    externals: &mut Vec<External>,
) -> R<Source> {
    let key = |k: &str| {
        m.external_data
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let location = key("location").ok_or("external data without a 'location'")?;
    let num = |k: &str| -> R<Option<u64>> {
        key(k)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("external data '{k}' is not a number: '{v}'"))
            })
            .transpose()
    };
    let offset = num("offset")?.unwrap_or(0);
    if let Some(len) = num("length")? {
        if len != nbytes as u64 {
            return Err(format!(
                "external data length {len} but dims {:?} need {nbytes} bytes",
                m.dims
            ));
        }
    }
    // Like onnx's own loader, keep the data inside the model's folder.
    let rel = Path::new(location);
    if rel.is_absolute()
        || rel
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "external data location '{location}' is outside the model's folder"
        ));
    }
    let dir = dir.ok_or("external data cannot be located for a model read from memory")?;
    let full = dir.join(rel);
    let file = match externals.iter().position(|e| e.path == full) {
        Some(i) => i,
        None => {
            let bytes = check_external_file(dir, &full)
                .and_then(|()| Bytes::map(&full).map_err(|e| e.to_string()));
            externals.push(External {
                path: full.clone(),
                bytes,
            });
            externals.len() - 1
        }
    };
    let data = externals[file].bytes.as_ref().map_err(|e| e.clone())?;
    let end = offset
        .checked_add(nbytes as u64)
        .filter(|&e| e <= data.len() as u64)
        .ok_or_else(|| {
            format!(
                "external data [{offset}, +{nbytes}) run past the end of {} ({} bytes)",
                full.display(),
                data.len()
            )
        })?;
    Ok(Source::External {
        file,
        start: offset as usize,
        end: end as usize,
    })
}

/// Refuse an external data file as onnx's own loader does (onnx/checker.cc,
/// `resolve_external_data_location`): a symbolic link (a link to /etc/passwd would otherwise be
/// read as weights), anything but a regular file (a FIFO would block the read), and a path
/// that resolves outside the model's folder (through a linked subfolder).
fn check_external_file(dir: &Path, full: &Path) -> R<()> {
    let shown = full.display();
    let meta = std::fs::symlink_metadata(full).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("external data file {shown} is missing"),
        _ => format!("external data file {shown}: {e}"),
    })?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "external data file {shown} is a symbolic link: refused, as onnx's loader refuses it"
        ));
    }
    if !meta.is_file() {
        return Err(format!(
            "external data file {shown} is {}, not a regular file: refused",
            crate::mapped::kind_of(&meta)
        ));
    }
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let canonical =
        |p: &Path| std::fs::canonicalize(p).map_err(|e| format!("external data file {shown}: {e}"));
    if !canonical(full)?.starts_with(canonical(dir)?) {
        return Err(format!(
            "external data file {shown} resolves outside the model's folder: refused, as \
             onnx's loader refuses it"
        ));
    }
    Ok(())
}

/// Decode little-endian elements of ONNX `data_type` `t`.
fn decode_raw(b: &[u8], t: i32) -> Vec<f64> {
    match t {
        data_type::FLOAT => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        data_type::DOUBLE => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        data_type::FLOAT16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        _ => b
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
    }
}

/// Decode the typed field of a `TensorProto` that holds data type `t`: float_data (4) for
/// FLOAT, double_data (10) for DOUBLE, int32_data (5) for FLOAT16/BFLOAT16, whose low 16
/// bits are the element's bit pattern. Packed and unpacked encodings are both accepted.
fn decode_typed(msg: &[u8], base: usize, t: i32, numel: usize) -> R<Vec<f64>> {
    let mut out = Vec::with_capacity(numel);
    let mut f = Fields::new(msg, base);
    let bits16 = |v: u64| -> f64 {
        let b = (v as u16).to_le_bytes();
        if t == data_type::FLOAT16 {
            half::f16::from_le_bytes(b).to_f64()
        } else {
            half::bf16::from_le_bytes(b).to_f64()
        }
    };
    while let Some((field, p, _)) = f.next_field()? {
        match (t, field, p) {
            (data_type::FLOAT, 4, Payload::Bytes(b)) => out.extend(decode_raw(b, t)),
            (data_type::FLOAT, 4, Payload::Fixed32(b)) => out.push(f32::from_le_bytes(b) as f64),
            (data_type::DOUBLE, 10, Payload::Bytes(b)) => out.extend(decode_raw(b, t)),
            (data_type::DOUBLE, 10, Payload::Fixed64(b)) => out.push(f64::from_le_bytes(b)),
            (data_type::FLOAT16 | data_type::BFLOAT16, 5, Payload::Bytes(b)) => {
                for v in packed_varints(b) {
                    out.push(bits16(v?));
                }
            }
            (data_type::FLOAT16 | data_type::BFLOAT16, 5, Payload::Varint(v)) => {
                out.push(bits16(v))
            }
            _ => {}
        }
    }
    if out.len() != numel {
        return Err(format!(
            "typed data have {} values, expected {numel}",
            out.len()
        ));
    }
    Ok(out)
}

impl TensorSource for OnnxFile {
    fn format_name(&self) -> &str {
        "onnx"
    }
    fn files(&self) -> Vec<PathBuf> {
        let mut f = vec![self.path.clone()];
        f.extend(
            self.externals
                .iter()
                .filter(|e| e.bytes.is_ok())
                .map(|e| e.path.clone()),
        );
        f
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        let err = |m: String| Error::tensor(&self.path, &info.name, m);
        if let Some(p) = &info.problem {
            return Err(err(p.clone()));
        }
        let t = match info.dtype {
            DType::F32 => data_type::FLOAT,
            DType::F64 => data_type::DOUBLE,
            DType::F16 => data_type::FLOAT16,
            DType::BF16 => data_type::BFLOAT16,
            _ => {
                return Err(err(format!(
                    "unsupported dtype {} (weights must be FLOAT, DOUBLE, FLOAT16 or BFLOAT16)",
                    info.dtype
                )))
            }
        };
        match self.sources[index] {
            Source::Raw(..) | Source::External { .. } => {
                let (bytes, start, end) = self.little_endian(index).map_err(err)?;
                self.decode_range(index, bytes, start..end, t)
            }
            Source::Typed(s, e) => {
                let msg = self
                    .bytes
                    .read_range(s..e)
                    .map_err(|e| err(e.to_string()))?;
                decode_typed(&msg, s, t, info.numel()).map_err(err)
            }
            Source::Nothing => Err(err("no readable data".into())),
        }
    }
    /// `raw_data` and external data: little-endian elements in one byte range, so a block of
    /// rows is a sub-range. (The typed repeated fields are varint- or field-framed, with no
    /// fixed position per element, and are read whole.)
    fn reads_blocks(&self, index: usize) -> bool {
        let info = &self.tensors[index];
        info.problem.is_none()
            && !info.shape.is_empty()
            && elem_type(&info.dtype).is_some()
            && self.little_endian(index).is_ok()
    }
    fn read_block_f64(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        let info = &self.tensors[index];
        let err = |m: String| Error::tensor(&self.path, &info.name, m);
        if let Some(p) = &info.problem {
            return Err(err(p.clone()));
        }
        crate::check_block(info, &rows, &cols)?;
        let Some((t, size)) = elem_type(&info.dtype) else {
            return Err(err(format!("cannot read {} by blocks", info.dtype)));
        };
        let (bytes, start, _) = self.little_endian(index).map_err(err)?;
        let width = crate::row_len(info);
        // Inside the tensor's range (checked above), which lies inside its file (checked at
        // open): no overflow.
        let at = |r: usize, c: usize| start + (r * width + c) * size;
        if cols.start == 0 && cols.end == width {
            return self.decode_range(index, bytes, at(rows.start, 0)..at(rows.end, 0), t);
        }
        let mut out = Vec::with_capacity(rows.len() * cols.len());
        for r in rows {
            out.extend(self.decode_range(index, bytes, at(r, cols.start)..at(r, cols.end), t)?);
        }
        Ok(out)
    }
}

/// The ONNX data type and element size of a float dtype.
fn elem_type(dtype: &DType) -> Option<(i32, usize)> {
    let t = match dtype {
        DType::F32 => data_type::FLOAT,
        DType::F64 => data_type::DOUBLE,
        DType::F16 => data_type::FLOAT16,
        DType::BF16 => data_type::BFLOAT16,
        _ => return None,
    };
    Some((t, elem_size(t)?))
}

impl OnnxFile {
    /// The bytes holding tensor `index`'s little-endian elements (the model file for
    /// `raw_data`, its external file otherwise) and their range there.
    fn little_endian(&self, index: usize) -> R<(&Bytes, usize, usize)> {
        match self.sources[index] {
            Source::Raw(s, e) => Ok((&self.bytes, s, e)),
            Source::External { file, start, end } => match &self.externals[file].bytes {
                Ok(b) => Ok((b, start, end)),
                Err(e) => Err(e.clone()),
            },
            Source::Typed(..) | Source::Nothing => Err("no little-endian data".into()),
        }
    }

    /// Decode `range` of `bytes` as elements of data type `t`, read from the file rather than
    /// through the map (see [`Bytes::read_range`]): a file truncated since it was opened is an
    /// error naming the tensor, not a SIGBUS.
    fn decode_range(
        &self,
        index: usize,
        bytes: &Bytes,
        range: std::ops::Range<usize>,
        t: i32,
    ) -> Result<Vec<f64>> {
        let data = bytes
            .read_range(range)
            .map_err(|e| Error::tensor(&self.path, &self.tensors[index].name, e.to_string()))?;
        Ok(decode_raw(&data, t))
    }
}
