//! Tensor sources for the Python API: [`PySource`] reads a tensor by calling a Python function
//! (one tensor at a time, so the model is never converted whole), and [`Abortable`] wraps any
//! source so that a Ctrl-C or a Python error stops the remaining reads at once.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use weightscope::formats::{DType, Error, Result, TensorInfo, TensorSource};

/// The first Python exception raised during a run (by `fetch` or `progress`), kept to be
/// raised when the run returns, and the flag that stops the remaining layers.
#[derive(Default)]
pub struct Abort {
    pub flag: AtomicBool,
    pub error: Mutex<Option<(Option<String>, PyErr)>>,
}

impl Abort {
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
    pub fn set(&self) {
        self.flag.store(true, Ordering::Relaxed);
    }
    /// Keep `err` if it is the first (with the tensor it was raised for), and stop the run.
    pub fn fail(&self, tensor: Option<String>, err: PyErr) {
        if let Ok(mut slot) = self.error.lock() {
            if slot.is_none() {
                *slot = Some((tensor, err));
            }
        }
        self.set();
    }
    pub fn take_error(&self) -> Option<(Option<String>, PyErr)> {
        self.error.lock().ok().and_then(|mut s| s.take())
    }
}

/// The element type from a name: safetensors' (`F32`, `BF16`), numpy's or torch's
/// (`float32`, `torch.bfloat16`, `half`). Anything else is listed as not a float (skipped).
pub fn parse_dtype(name: &str) -> DType {
    let n = name
        .trim()
        .trim_start_matches("torch.")
        .to_ascii_lowercase();
    match n.as_str() {
        "f64" | "float64" | "double" | "<f8" => DType::F64,
        "f32" | "float32" | "float" | "<f4" => DType::F32,
        "f16" | "float16" | "half" | "<f2" => DType::F16,
        "bf16" | "bfloat16" => DType::BF16,
        _ => DType::Other(name.to_string()),
    }
}

/// A checkpoint held by Python: names, shapes and dtypes up front; each tensor's data from
/// `fetch(i)`, which returns a numpy array (any byte order, float16/32/64; it is read through
/// `.tobytes()`, so C order whatever its strides) or a `(bytes, dtype_str)` pair such as
/// `(b"...", "<f4")`.
pub struct PySource {
    pub tensors: Vec<TensorInfo>,
    pub fetch: Py<PyAny>,
    pub format: String,
    /// The arrays `fetch` returned for 2-D tensors being streamed by panels, kept from the
    /// first panel to the last so that `fetch` (which may copy a GPU or bf16 tensor to the
    /// CPU) runs once per layer; each panel is then sliced from the array, so only the
    /// panel is converted to f64.
    streaming: Mutex<HashMap<usize, Py<PyAny>>>,
}

impl PySource {
    pub fn new(
        names: Vec<String>,
        shapes: Vec<Vec<usize>>,
        dtypes: Vec<String>,
        fetch: Py<PyAny>,
        label: &str,
    ) -> PyResult<Self> {
        if names.len() != shapes.len() || names.len() != dtypes.len() {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "names, shapes and dtypes differ in length ({}, {}, {})",
                names.len(),
                shapes.len(),
                dtypes.len()
            )));
        }
        let tensors = names
            .into_iter()
            .zip(shapes)
            .zip(dtypes)
            .map(|((name, shape), dtype)| TensorInfo {
                name,
                shape,
                dtype: parse_dtype(&dtype),
                // Only for messages: `files()` stays empty, so no config.json is looked for.
                file: PathBuf::from(label),
                problem: None,
                role: None,
            })
            .collect();
        Ok(PySource {
            tensors,
            fetch,
            format: "python".into(),
            streaming: Mutex::new(HashMap::new()),
        })
    }

    /// Rows × cols of 2-D tensor `index`, sliced from the array `fetch` returns (fetched at
    /// the first panel, dropped after the last: the one that ends at both the last row and
    /// the last column, whichever way the tensor is streamed). `Ok(None)` when `fetch`
    /// returned something that cannot be sliced (a `(bytes, dtype)` pair).
    fn block_f64(
        &self,
        py: Python<'_>,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> PyResult<Option<std::result::Result<Vec<f64>, String>>> {
        let shape = &self.tensors[index].shape;
        let last = rows.end == shape[0] && cols.end == shape[1];
        let cached = {
            let mut map = self.streaming.lock().unwrap_or_else(|e| e.into_inner());
            if last {
                map.remove(&index)
            } else {
                map.get(&index).map(|a| a.clone_ref(py))
            }
        };
        let array = match cached {
            Some(a) => a,
            None => {
                let a = self.fetch.call1(py, (index,))?;
                if a.bind(py).cast::<PyTuple>().is_ok() || !a.bind(py).hasattr("dtype")? {
                    return Ok(None);
                }
                if !last {
                    let mut map = self.streaming.lock().unwrap_or_else(|e| e.into_inner());
                    map.insert(index, a.clone_ref(py));
                }
                a
            }
        };
        let array = array.bind(py);
        let got: Vec<usize> = array.getattr("shape")?.extract()?;
        if got != *shape {
            return Ok(Some(Err(format!(
                "fetch returned an array of shape {got:?}, the tensor's is {shape:?}"
            ))));
        }
        let slice = |r: &std::ops::Range<usize>| {
            pyo3::types::PySlice::new(py, r.start as isize, r.end as isize, 1)
        };
        let block = array.get_item((slice(&rows), slice(&cols)))?;
        let code: String = block.getattr("dtype")?.getattr("str")?.extract()?;
        let bytes = block.call_method0("tobytes")?;
        let bytes = bytes.cast::<PyBytes>()?;
        Ok(Some(decode(
            bytes.as_bytes(),
            &code,
            rows.len() * cols.len(),
        )))
    }

    fn fetch_f64(
        &self,
        py: Python<'_>,
        index: usize,
    ) -> PyResult<std::result::Result<Vec<f64>, String>> {
        let obj = self.fetch.call1(py, (index,))?;
        let obj = obj.bind(py);
        let (bytes, code) = if let Ok(t) = obj.cast::<PyTuple>() {
            if t.len() != 2 {
                return Ok(Err(
                    "fetch returned a tuple that is not (bytes, dtype)".into()
                ));
            }
            let data = t.get_item(0)?;
            let b: Vec<u8> = match data.cast::<PyBytes>() {
                Ok(b) => b.as_bytes().to_vec(),
                Err(_) => data
                    .call_method0("tobytes")?
                    .cast::<PyBytes>()?
                    .as_bytes()
                    .to_vec(),
            };
            (BytesOrRef::Owned(b), t.get_item(1)?.extract::<String>()?)
        } else {
            let code: String = obj.getattr("dtype")?.getattr("str")?.extract()?;
            let b = obj.call_method0("tobytes")?;
            (BytesOrRef::Py(b.cast_into::<PyBytes>()?), code)
        };
        let bytes = bytes.as_slice();
        let numel = self.tensors[index].numel();
        let out = decode(bytes, &code, numel);
        Ok(out)
    }
}

enum BytesOrRef<'py> {
    Owned(Vec<u8>),
    Py(Bound<'py, PyBytes>),
}

impl BytesOrRef<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            BytesOrRef::Owned(v) => v,
            BytesOrRef::Py(b) => b.as_bytes(),
        }
    }
}

/// Little- or big-endian f16/f32/f64 bytes (numpy's dtype.str: `<f4`, `>f8`, `<f2`; `=`
/// and `|` mean native) to f64.
fn decode(b: &[u8], code: &str, numel: usize) -> std::result::Result<Vec<f64>, String> {
    let (order, kind) = code.split_at(code.len().min(1));
    let little = match order {
        "<" => true,
        ">" => false,
        "=" | "|" => cfg!(target_endian = "little"),
        _ => return Err(format!("unknown dtype '{code}' (expected e.g. '<f4')")),
    };
    let size = match kind {
        "f2" => 2,
        "f4" => 4,
        "f8" => 8,
        _ => {
            return Err(format!(
                "fetch returned dtype '{code}': expected float16, float32 or float64"
            ))
        }
    };
    if b.len() != numel * size {
        return Err(format!(
            "fetch returned {} bytes of '{code}', the shape needs {} ({} elements)",
            b.len(),
            numel * size,
            numel
        ));
    }
    let out = match (size, little) {
        (2, true) => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        (2, false) => b
            .chunks_exact(2)
            .map(|c| half::f16::from_be_bytes([c[0], c[1]]).to_f64())
            .collect(),
        (4, true) => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        (4, false) => b
            .chunks_exact(4)
            .map(|c| f32::from_be_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        (_, true) => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        (_, false) => b
            .chunks_exact(8)
            .map(|c| f64::from_be_bytes(c.try_into().unwrap()))
            .collect(),
    };
    Ok(out)
}

/// A source that stops reading once the run is aborted: the remaining layers become error
/// rows at once (the caller discards the report and raises), and a Python error in `fetch`
/// is kept to be raised.
pub struct Abortable<'a> {
    pub inner: &'a dyn TensorSource,
    pub python: Option<&'a PySource>,
    pub abort: &'a Abort,
}

impl Abortable<'_> {
    fn stopped(&self, index: usize) -> Error {
        let t = &self.inner.tensors()[index];
        Error::tensor(&t.file, &t.name, "interrupted")
    }
}

impl TensorSource for Abortable<'_> {
    fn format_name(&self) -> &str {
        self.inner.format_name()
    }
    fn files(&self) -> Vec<PathBuf> {
        self.inner.files()
    }
    fn tensors(&self) -> &[TensorInfo] {
        self.inner.tensors()
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        if self.abort.is_set() {
            return Err(self.stopped(index));
        }
        let Some(py_src) = self.python else {
            return self.inner.read_f64(index);
        };
        let t = &py_src.tensors[index];
        // Called from a worker thread while the caller's thread has released the GIL: take it
        // for the call only.
        let got = Python::attach(|py| py_src.fetch_f64(py, index));
        match got {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(msg)) => Err(Error::tensor(&t.file, &t.name, msg)),
            Err(e) => {
                let msg = format!("fetch failed: {e}");
                self.abort.fail(Some(t.name.clone()), e);
                Err(Error::tensor(&t.file, &t.name, msg))
            }
        }
    }
    fn limit_block_cache(&self, bytes: usize) {
        self.inner.limit_block_cache(bytes)
    }
    fn block_cache_bytes(&self, index: usize) -> usize {
        self.inner.block_cache_bytes(index)
    }
    fn bytes_read(&self) -> Option<u64> {
        self.inner.bytes_read()
    }
    fn reads_blocks(&self, index: usize) -> bool {
        match self.python {
            // 2-D float tensors are sliced panel by panel from the fetched array.
            Some(p) => {
                let t = &p.tensors[index];
                t.shape.len() == 2 && t.dtype.is_float()
            }
            None => self.inner.reads_blocks(index),
        }
    }
    fn read_block_f64(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) -> Result<Vec<f64>> {
        if self.abort.is_set() {
            return Err(self.stopped(index));
        }
        if let Some(py_src) = self.python {
            let t = &py_src.tensors[index];
            let got = Python::attach(|py| py_src.block_f64(py, index, rows.clone(), cols.clone()));
            return match got {
                Ok(Some(Ok(v))) => Ok(v),
                Ok(Some(Err(msg))) => Err(Error::tensor(&t.file, &t.name, msg)),
                // Not an array: read the tensor and cut the block.
                Ok(None) => {
                    let width: usize = t.shape.iter().skip(1).product();
                    let all = self.read_f64(index)?;
                    Ok(rows
                        .flat_map(|r| {
                            all[r * width + cols.start..r * width + cols.end]
                                .iter()
                                .copied()
                        })
                        .collect())
                }
                Err(e) => {
                    let msg = format!("fetch failed: {e}");
                    self.abort.fail(Some(t.name.clone()), e);
                    Err(Error::tensor(&t.file, &t.name, msg))
                }
            };
        }
        self.inner.read_block_f64(index, rows, cols)
    }
}

/// PySource as a plain TensorSource (its reads go through [`Abortable`]).
impl TensorSource for PySource {
    fn format_name(&self) -> &str {
        &self.format
    }
    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        let t = &self.tensors[index];
        match Python::attach(|py| self.fetch_f64(py, index)) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(msg)) => Err(Error::tensor(&t.file, &t.name, msg)),
            Err(e) => Err(Error::tensor(
                &t.file,
                &t.name,
                format!("fetch failed: {e}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_floats_in_either_byte_order() {
        let x = [1.5f64, -2.25, 0.0];
        let le64: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let be32: Vec<u8> = x.iter().flat_map(|v| (*v as f32).to_be_bytes()).collect();
        let le16: Vec<u8> = x
            .iter()
            .flat_map(|v| half::f16::from_f64(*v).to_le_bytes())
            .collect();
        assert_eq!(decode(&le64, "<f8", 3).unwrap(), x);
        assert_eq!(decode(&be32, ">f4", 3).unwrap(), x);
        assert_eq!(decode(&le16, "<f2", 3).unwrap(), x);
    }

    #[test]
    fn rejects_wrong_sizes_and_types() {
        assert!(decode(&[0u8; 8], "<f4", 3)
            .unwrap_err()
            .contains("needs 12"));
        assert!(decode(&[0u8; 8], "<i8", 1).unwrap_err().contains("float16"));
        assert!(decode(&[0u8; 8], "f8", 1).is_err());
    }

    #[test]
    fn dtype_names() {
        assert_eq!(parse_dtype("torch.bfloat16"), DType::BF16);
        assert_eq!(parse_dtype("float32"), DType::F32);
        assert_eq!(parse_dtype("F16"), DType::F16);
        assert_eq!(parse_dtype("int64"), DType::Other("int64".into()));
    }
}
