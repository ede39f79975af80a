//! Checkpoints read where they live: `https://` (or `http://`) URLs and `s3://bucket/key`,
//! read by byte range with `object_store`, so that a machine analysing some layers fetches
//! the headers and those layers' bytes, never the whole file.
//!
//! * A `.safetensors` or `.gguf` URL is one file: its header is fetched (safetensors: the
//!   8-byte length, then the JSON; GGUF: a prefix, doubled until the header parses), and it
//!   gives every tensor's byte range.
//! * A `….index.json` URL (the Hugging Face hub's `model.safetensors.index.json`), or a URL
//!   ending in `/` that holds one (else a `model.safetensors`), is a sharded checkpoint: the
//!   shards are the index's file names beside it, each opened as above; a shard that cannot
//!   be opened gives error rows for the tensors the index puts in it (as in a local folder).
//!
//! A tensor read whole is one ranged GET. A tensor read by panels (the analysis streams
//! plain 2-D layers, see `TensorSource::reads_blocks`) is fetched whole once and its panels
//! cut from that copy, which is dropped when the last panel is read, when its stored bytes
//! fit [`TensorSource::limit_block_cache`]'s limit (the analysis counts them in the layer's
//! memory); a larger one is fetched panel by panel (rows as one range, columns as one range
//! per row, which `object_store` coalesces).
//!
//! The `config.json` beside the checkpoint is fetched too (the head layout of fused Q,K,V
//! projections, as a local folder's is read). Requests to the Hugging Face hub carry the
//! user's token (`hub_token`), for gated and private models.
//!
//! Transient errors (5xx, timeouts, dropped connections, a connection silent for 60 s) are
//! retried with exponential backoff by `object_store`'s default `RetryConfig` (10 retries
//! within 3 minutes); a request may last an hour (a large tensor on a slow link); any other
//! failure is an error of the tensor being read, naming the URL, and the others go on.
//! Credentials and endpoints come from the environment (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …, as
//! `AmazonS3Builder::from_env` reads them). The async client runs on a small tokio runtime
//! owned by this module; callers see blocking reads.

use crate::convert::{decode_le, elem_size};
use crate::folder::{inside_folder, parse_index, FailedPart, MultiSource};
use crate::identity::FileIdentity;
use crate::{gguf, safetensors, DType, Error, Result, TensorInfo, TensorSource, MAX_CONFIG_BYTES};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::http::HttpBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ClientOptions, ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The runtime that drives the async client: two worker threads, enough for the requests of
/// the layers analysed in parallel (each blocks its own thread while waiting).
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("weightscope-remote")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::Usage(format!("cannot start the runtime for remote reads: {e}")))
}

/// One remote object: its store, its path there, and the byte counter of the checkpoint it
/// belongs to.
struct Object {
    url: String,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    read: Arc<AtomicU64>,
}

/// Where the environment's S3 endpoint is plain `http://` (a local server), it is allowed:
/// naming one is the user's choice, as with boto3, which needs no extra switch.
fn endpoint_is_http() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .any(|v| v.to_ascii_lowercase().starts_with("http://"))
}

/// Client settings for tensors of any size: object_store's default 30 s limit on a whole
/// request would fail a large tensor on a slow link every time (and every retry); instead a
/// request may take an hour, but a connection silent for 60 s is an error (retried), so that
/// a stalled server never hangs the run.
fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout(Duration::from_secs(3600))
        .with_read_timeout(Duration::from_secs(60))
}

/// The environment, as [`Object::connect_with`] reads it (a parameter so that tests need
/// not change the process's environment).
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// The Hugging Face hub: the origin of `HF_ENDPOINT` (as `huggingface_hub` reads it), by
/// default https://huggingface.co.
fn hub_origin(env: Env) -> Option<url::Origin> {
    let endpoint = env("HF_ENDPOINT").filter(|e| !e.trim().is_empty());
    let endpoint = endpoint.as_deref().unwrap_or("https://huggingface.co");
    url::Url::parse(endpoint.trim()).ok().map(|u| u.origin())
}

/// The token for a request to `url`, found where `huggingface_hub` looks (`HF_TOKEN`, else
/// the file `HF_TOKEN_PATH`, else `token` in `HF_HOME`, by default ~/.cache/huggingface),
/// for gated and private models. It goes to the hub's own origin only: the hub answers a
/// file with a redirect to a signed CDN URL, and the HTTP client drops the Authorization
/// header on a redirect to another host.
fn hub_token(url: &url::Url, env: Env) -> Option<String> {
    if hub_origin(env)? != url.origin() {
        return None;
    }
    let nonempty = |s: String| Some(s.trim().to_string()).filter(|t| !t.is_empty());
    if let Some(t) = env("HF_TOKEN").and_then(nonempty) {
        return Some(t);
    }
    let file = env("HF_TOKEN_PATH")
        .map(PathBuf::from)
        .or_else(|| env("HF_HOME").map(|h| PathBuf::from(h).join("token")))
        .or_else(|| env("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("huggingface/token")))
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/token")))?;
    // A token is tens of bytes; read no more than a few KB of whatever the file is.
    let mut text = String::new();
    let f = std::fs::File::open(file).ok()?;
    std::io::Read::read_to_string(&mut std::io::Read::take(f, 4096), &mut text).ok()?;
    nonempty(text)
}

impl Object {
    fn connect(url: &str, read: Arc<AtomicU64>) -> Result<Object> {
        Object::connect_with(url, read, &process_env)
    }

    fn connect_with(url: &str, read: Arc<AtomicU64>, env: Env) -> Result<Object> {
        let bad = |m: String| Error::format(Path::new(url), m);
        let parsed = url::Url::parse(url).map_err(|e| bad(format!("not a valid URL ({e})")))?;
        let path = ObjectPath::from_url_path(parsed.path())
            .map_err(|e| bad(format!("not a valid object path ({e})")))?;
        let store: Arc<dyn ObjectStore> = match parsed.scheme() {
            "s3" => {
                let bucket = parsed
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("no bucket in the s3:// URL".into()))?;
                let mut b = AmazonS3Builder::from_env().with_bucket_name(bucket);
                if endpoint_is_http() {
                    b = b.with_allow_http(true);
                }
                // The timeouts of `client_options` unless the environment sets its own.
                for (var, key, value) in [
                    ("AWS_TIMEOUT", ClientConfigKey::Timeout, "1h"),
                    ("AWS_READ_TIMEOUT", ClientConfigKey::ReadTimeout, "60s"),
                ] {
                    if std::env::var_os(var).is_none() {
                        b = b.with_config(AmazonS3ConfigKey::Client(key), value);
                    }
                }
                Arc::new(b.build().map_err(|e| bad(e.to_string()))?)
            }
            scheme @ ("http" | "https") => {
                let origin = parsed.origin().ascii_serialization();
                let mut options = client_options().with_allow_http(scheme == "http");
                if let Some(token) = hub_token(&parsed, env) {
                    let mut value = http::HeaderValue::from_str(&format!("Bearer {token}"))
                        .map_err(|_| {
                            bad(
                                "the Hugging Face token (HF_TOKEN or its file) is not a valid \
                                 HTTP header value"
                                    .into(),
                            )
                        })?;
                    value.set_sensitive(true);
                    let mut headers = http::HeaderMap::new();
                    headers.insert(http::header::AUTHORIZATION, value);
                    options = options.with_default_headers(headers);
                }
                Arc::new(
                    HttpBuilder::new()
                        .with_url(origin)
                        .with_client_options(options)
                        .build()
                        .map_err(|e| bad(e.to_string()))?,
                )
            }
            other => return Err(bad(format!("unsupported URL scheme {other}://"))),
        };
        Ok(Object {
            url: url.to_string(),
            store,
            path,
            read,
        })
    }

    fn file(&self) -> PathBuf {
        PathBuf::from(&self.url)
    }

    /// The object's size and modification time (a HEAD request).
    fn meta(&self) -> std::result::Result<object_store::ObjectMeta, object_store::Error> {
        runtime()
            .map_err(|e| object_store::Error::Generic {
                store: "weightscope",
                source: e.to_string().into(),
            })?
            .block_on(self.store.head(&self.path))
    }

    /// Bytes `range` of the object, counted.
    fn get(&self, range: Range<usize>) -> std::result::Result<Vec<u8>, String> {
        let got = self.get_many(std::slice::from_ref(&range))?;
        Ok(got.into_iter().next().unwrap_or_default())
    }

    /// Several ranges at once, fetched in parallel; ranges closer than the shortest of them
    /// (at most 1 MiB) share one request, so that what is read between them is never more
    /// than what is asked for. Every byte received is counted.
    fn get_many(&self, ranges: &[Range<usize>]) -> std::result::Result<Vec<Vec<u8>>, String> {
        let rt = runtime().map_err(|e| e.to_string())?;
        let wanted: Vec<Range<u64>> = ranges
            .iter()
            .map(|r| r.start as u64..r.end as u64)
            .collect();
        let gap = ranges
            .iter()
            .map(|r| r.len())
            .min()
            .unwrap_or(0)
            .min(1 << 20) as u64;
        let fetch = |r: Range<u64>| {
            let (store, path, read) = (self.store.clone(), self.path.clone(), self.read.clone());
            async move {
                let b = store.get_range(&path, r).await?;
                read.fetch_add(b.len() as u64, Ordering::Relaxed);
                Ok::<_, object_store::Error>(b)
            }
        };
        let got = rt
            .block_on(object_store::coalesce_ranges(&wanted, fetch, gap))
            .map_err(|e| format!("cannot read {}: {e}", self.url))?;
        let mut out = Vec::with_capacity(got.len());
        for (b, r) in got.into_iter().zip(ranges) {
            if b.len() != r.len() {
                return Err(format!(
                    "{} returned {} bytes for bytes {r:?}",
                    self.url,
                    b.len()
                ));
            }
            out.push(b.to_vec());
        }
        Ok(out)
    }
}

/// The message of a failed open: a missing object said plainly, and a refusal with what
/// to do about it.
fn open_error(e: &object_store::Error) -> String {
    match e {
        object_store::Error::NotFound { .. } => format!("not found ({e})"),
        object_store::Error::Unauthenticated { .. }
        | object_store::Error::PermissionDenied { .. } => {
            format!(
                "access denied ({e}): a gated or private Hugging Face model needs a token \
                 (HF_TOKEN, or `hf auth login`), and the model's terms accepted on the hub; \
                 S3 needs credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            )
        }
        _ => e.to_string(),
    }
}

/// How one tensor's bytes decode to values.
#[derive(Clone, Copy)]
enum Decode {
    /// Little-endian floats of a safetensors file.
    Float,
    /// A ggml type of a GGUF file (floats or quant blocks).
    Ggml(u32),
}

/// One remote `.safetensors` or `.gguf` file.
struct RemoteFile {
    object: Object,
    format: &'static str,
    tensors: Vec<TensorInfo>,
    /// Absolute byte range of each tensor's data.
    ranges: Vec<(usize, usize)>,
    decode: Vec<Decode>,
    /// Tensors fetched whole for their panels, until their last panel is read.
    cache: Mutex<HashMap<usize, Arc<Vec<u8>>>>,
    /// The largest tensor (stored bytes) fetched whole for its panels.
    cache_limit: AtomicUsize,
}

/// The cache limit before [`TensorSource::limit_block_cache`] sets one.
const DEFAULT_CACHE_LIMIT: usize = 1 << 30;

/// The first GGUF prefix fetched for its header (doubled until the header parses): 1 MiB
/// holds the header of most models, whose vocabularies are the bulk of it.
const GGUF_PREFIX: usize = 1 << 20;

impl RemoteFile {
    fn open(url: &str, read: Arc<AtomicU64>) -> Result<RemoteFile> {
        let object = Object::connect(url, read)?;
        let file = object.file();
        let meta = object
            .meta()
            .map_err(|e| Error::format(&file, open_error(&e)))?;
        let size = usize::try_from(meta.size)
            .map_err(|_| Error::format(&file, "larger than this machine's address space"))?;
        let io = |m: String| Error::format(&file, m);
        let lower = url.to_ascii_lowercase();
        let lower = lower.split(['?', '#']).next().unwrap_or("");
        let (format, tensors, ranges, decode) = if lower.ends_with(".gguf") {
            let mut prefix = object.get(0..size.min(GGUF_PREFIX)).map_err(io)?;
            let header = loop {
                match gguf::parse_header(&prefix) {
                    Ok(h) => break h,
                    Err(m) if prefix.len() >= size => {
                        return Err(Error::format(&file, format!("not a valid GGUF file: {m}")))
                    }
                    Err(_) => {
                        let more = object
                            .get(prefix.len()..size.min(prefix.len() * 2))
                            .map_err(io)?;
                        prefix.extend_from_slice(&more);
                    }
                }
            };
            let (tensors, ranges) = gguf::listing(&file, &header, size);
            let decode = header.tensors.iter().map(|t| Decode::Ggml(t.ggml_type));
            ("gguf", tensors, ranges, decode.collect())
        } else if lower.ends_with(".safetensors") {
            let mut head = object.get(0..size.min(8)).map_err(io)?;
            let n = safetensors::header_len(&file, &head)?;
            let end = size.min(8 + n);
            head.extend_from_slice(&object.get(8.min(end)..end).map_err(io)?);
            let (tensors, ranges) = safetensors::parse_header_of(&file, &head, size)?;
            let decode = vec![Decode::Float; tensors.len()];
            ("safetensors", tensors, ranges, decode)
        } else {
            return Err(Error::format(
                &file,
                "unknown remote file type: expected a .safetensors or .gguf URL, a \
                 model.safetensors.index.json, or a folder URL ending in / that holds one",
            ));
        };
        Ok(RemoteFile {
            object,
            format,
            tensors,
            ranges,
            decode,
            cache: Mutex::new(HashMap::new()),
            cache_limit: AtomicUsize::new(DEFAULT_CACHE_LIMIT),
        })
    }

    fn err(&self, index: usize, m: impl Into<String>) -> Error {
        Error::tensor(&self.object.file(), &self.tensors[index].name, m)
    }

    /// Why tensor `index` cannot be read, if it cannot (the local readers' messages).
    fn unreadable(&self, index: usize) -> Option<Error> {
        let info = &self.tensors[index];
        if let Some(p) = &info.problem {
            return Some(self.err(index, p.clone()));
        }
        match (self.decode[index], &info.dtype) {
            (Decode::Float, d) if elem_size(d).is_none() => Some(self.err(
                index,
                format!("unsupported dtype {d} (weights must be F64, F32, F16 or BF16)"),
            )),
            (Decode::Ggml(_), DType::Other(t)) => Some(self.err(
                index,
                format!("unsupported dtype {t} (an integer tensor, not weights)"),
            )),
            _ => None,
        }
    }

    fn decode_bytes(&self, index: usize, bytes: &[u8]) -> Result<Vec<f64>> {
        match self.decode[index] {
            Decode::Float => decode_le(bytes, &self.tensors[index].dtype)
                .ok_or_else(|| self.err(index, "cannot decode")),
            Decode::Ggml(ty) => gguf::dequantize(ty, bytes).map_err(|m| self.err(index, m)),
        }
    }

    /// Values and bytes of one unit of tensor `index`'s rows: an element, or a quant block.
    fn unit(&self, index: usize) -> Option<(usize, usize)> {
        match self.decode[index] {
            Decode::Float => elem_size(&self.tensors[index].dtype).map(|s| (1, s)),
            Decode::Ggml(ty) => gguf::block_unit(ty),
        }
    }

    /// The stored bytes of tensor `index`.
    fn stored(&self, index: usize) -> usize {
        let (s, e) = self.ranges[index];
        e.saturating_sub(s)
    }
}

impl TensorSource for RemoteFile {
    fn format_name(&self) -> &str {
        self.format
    }
    fn files(&self) -> Vec<PathBuf> {
        vec![self.object.file()]
    }
    fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }
    fn read_f64(&self, index: usize) -> Result<Vec<f64>> {
        if let Some(e) = self.unreadable(index) {
            return Err(e);
        }
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&index)
            .cloned();
        let bytes = match cached {
            Some(b) => b,
            None => {
                let (s, e) = self.ranges[index];
                Arc::new(self.object.get(s..e).map_err(|m| self.err(index, m))?)
            }
        };
        self.decode_bytes(index, &bytes)
    }
    fn reads_blocks(&self, index: usize) -> bool {
        let info = &self.tensors[index];
        let min_rank = match self.decode[index] {
            Decode::Float => 1,
            Decode::Ggml(_) => 2,
        };
        self.unreadable(index).is_none()
            && info.shape.len() >= min_rank
            && self
                .unit(index)
                .is_some_and(|(values, _)| crate::row_len(info) % values == 0)
    }
    fn read_block_f64(
        &self,
        index: usize,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Vec<f64>> {
        if let Some(e) = self.unreadable(index) {
            return Err(e);
        }
        let info = &self.tensors[index];
        crate::check_block(info, &rows, &cols)?;
        let (values, unit_bytes) = match self.unit(index) {
            Some(u) if crate::row_len(info) % u.0 == 0 => u,
            _ => return Err(self.err(index, "cannot be read by blocks")),
        };
        if rows.is_empty() || cols.is_empty() {
            return Ok(Vec::new());
        }
        let (n, width) = (info.shape[0], crate::row_len(info));
        let row_bytes = width / values * unit_bytes;
        let start = self.ranges[index].0;
        // The units holding the columns, and where the columns start in the first.
        let (u0, u1) = (cols.start / values, cols.end.div_ceil(values));
        let skip = cols.start - u0 * values;
        let whole_rows = cols.start == 0 && cols.end == width;
        // Byte ranges (relative to the tensor) of the block, one per row unless whole rows.
        let spans: Vec<Range<usize>> = if whole_rows {
            std::iter::once(rows.start * row_bytes..rows.end * row_bytes).collect()
        } else {
            rows.clone()
                .map(|r| r * row_bytes + u0 * unit_bytes..r * row_bytes + u1 * unit_bytes)
                .collect()
        };
        let stored = self.stored(index);
        let raw: Vec<Vec<u8>> = if stored <= self.cache_limit.load(Ordering::Relaxed) {
            let whole = {
                let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
                match cache.get(&index) {
                    Some(b) => b.clone(),
                    None => {
                        let b = Arc::new(
                            self.object
                                .get(start..start + stored)
                                .map_err(|m| self.err(index, m))?,
                        );
                        cache.insert(index, b.clone());
                        b
                    }
                }
            };
            // The analysis reads panels in order: the one that reaches the end is the last.
            if rows.end == n && cols.end == width {
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&index);
            }
            spans.iter().map(|s| whole[s.clone()].to_vec()).collect()
        } else {
            let absolute: Vec<Range<usize>> = spans
                .iter()
                .map(|s| start + s.start..start + s.end)
                .collect();
            self.object
                .get_many(&absolute)
                .map_err(|m| self.err(index, m))?
        };
        if whole_rows {
            return self.decode_bytes(index, &raw[0]);
        }
        let mut out = Vec::with_capacity(rows.len() * cols.len());
        for bytes in &raw {
            let v = self.decode_bytes(index, bytes)?;
            out.extend_from_slice(&v[skip..skip + cols.len()]);
        }
        Ok(out)
    }
    fn limit_block_cache(&self, bytes: usize) {
        self.cache_limit.store(bytes, Ordering::Relaxed);
    }
    fn block_cache_bytes(&self, index: usize) -> usize {
        let stored = self.stored(index);
        if stored <= self.cache_limit.load(Ordering::Relaxed) {
            stored
        } else {
            0
        }
    }
}

/// A remote checkpoint: one file or the shards of an index, with the count of the bytes
/// fetched for it (headers, index and tensor data).
struct RemoteCheckpoint {
    inner: Box<dyn TensorSource>,
    read: Arc<AtomicU64>,
    /// The `config.json` beside the checkpoint, if the server has one.
    config: Option<String>,
}

impl TensorSource for RemoteCheckpoint {
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
        self.inner.read_f64(index)
    }
    fn reads_blocks(&self, index: usize) -> bool {
        self.inner.reads_blocks(index)
    }
    fn read_block_f64(
        &self,
        index: usize,
        rows: Range<usize>,
        cols: Range<usize>,
    ) -> Result<Vec<f64>> {
        self.inner.read_block_f64(index, rows, cols)
    }
    fn limit_block_cache(&self, bytes: usize) {
        self.inner.limit_block_cache(bytes)
    }
    fn block_cache_bytes(&self, index: usize) -> usize {
        self.inner.block_cache_bytes(index)
    }
    fn bytes_read(&self) -> Option<u64> {
        Some(self.read.load(Ordering::Relaxed))
    }
    fn model_config_text(&self) -> Option<String> {
        self.config.clone()
    }
}

/// Open a remote checkpoint (see the module doc).
pub fn open_url(url: &str) -> Result<Box<dyn TensorSource>> {
    let read = Arc::new(AtomicU64::new(0));
    let inner = open_inner(url, &read)?;
    // The head layout of fused Q,K,V projections is in the config.json beside the weights,
    // as in a local folder (and on the hub). Without one (or if it cannot be fetched) the
    // plan says "no config.json", as locally.
    let base = folder_of(url.split(['?', '#']).next().unwrap_or(url));
    let config = fetch_whole(&format!("{base}config.json"), &read, MAX_CONFIG_BYTES).ok();
    Ok(Box::new(RemoteCheckpoint {
        inner,
        read,
        config,
    }))
}

fn open_inner(url: &str, read: &Arc<AtomicU64>) -> Result<Box<dyn TensorSource>> {
    let bare = url.split(['?', '#']).next().unwrap_or(url);
    if bare.ends_with('/') {
        // A folder: its index, else its model.safetensors.
        let index_url = format!("{bare}model.safetensors.index.json");
        return match fetch_whole(&index_url, read, MAX_INDEX_BYTES) {
            Ok(text) => open_indexed(&index_url, &text, read),
            Err(FetchError::NotFound(_)) => Ok(Box::new(RemoteFile::open(
                &format!("{bare}model.safetensors"),
                read.clone(),
            )?)),
            Err(FetchError::Other(e)) => Err(e),
        };
    }
    if bare.to_ascii_lowercase().ends_with(".index.json") {
        let text = fetch_whole(bare, read, MAX_INDEX_BYTES).map_err(FetchError::into_error)?;
        return open_indexed(bare, &text, read);
    }
    Ok(Box::new(RemoteFile::open(url, read.clone())?))
}

enum FetchError {
    NotFound(Error),
    Other(Error),
}

impl FetchError {
    fn into_error(self) -> Error {
        match self {
            FetchError::NotFound(e) | FetchError::Other(e) => e,
        }
    }
}

/// The largest index fetched: the hub's biggest are a few MB.
const MAX_INDEX_BYTES: usize = 100_000_000;

/// The URL of the folder holding `url`'s object, with its trailing `/` (a folder URL is its
/// own folder).
fn folder_of(url: &str) -> &str {
    &url[..url.rfind('/').map_or(0, |i| i + 1)]
}

/// A whole (small) object as text: an index or a config.json, refused over `limit` bytes.
fn fetch_whole(
    url: &str,
    read: &Arc<AtomicU64>,
    limit: usize,
) -> std::result::Result<String, FetchError> {
    let object = Object::connect(url, read.clone()).map_err(FetchError::Other)?;
    let file = object.file();
    let meta = object.meta().map_err(|e| {
        let err = Error::format(&file, open_error(&e));
        match e {
            object_store::Error::NotFound { .. } => FetchError::NotFound(err),
            _ => FetchError::Other(err),
        }
    })?;
    let size = usize::try_from(meta.size)
        .ok()
        .filter(|&s| s <= limit)
        .ok_or_else(|| {
            FetchError::Other(Error::format(
                &file,
                format!("over {limit} bytes ({}): refused", meta.size),
            ))
        })?;
    let bytes = object
        .get(0..size)
        .map_err(|m| FetchError::Other(Error::format(&file, m)))?;
    String::from_utf8(bytes).map_err(|_| FetchError::Other(Error::format(&file, "not UTF-8 text")))
}

/// The shards of an index fetched from `index_url`, each beside it.
fn open_indexed(
    index_url: &str,
    text: &str,
    read: &Arc<AtomicU64>,
) -> Result<Box<dyn TensorSource>> {
    let index_path = PathBuf::from(index_url);
    if index_url
        .to_ascii_lowercase()
        .ends_with("pytorch_model.bin.index.json")
    {
        return Err(Error::format(
            &index_path,
            "remote PyTorch shards are not supported (safetensors and GGUF are)",
        ));
    }
    let index = parse_index(&index_path, text)?;
    let base = folder_of(index_url);
    let home = index.homes();
    let parts = index
        .shards
        .into_iter()
        .map(|(shard, names)| {
            let url = format!("{base}{shard}");
            let file = PathBuf::from(&url);
            let opened = if inside_folder(&shard) {
                RemoteFile::open(&url, read.clone())
            } else {
                Err(Error::format(
                    &index_path,
                    format!("shard '{shard}' is outside the folder: refused"),
                ))
            };
            match opened {
                Ok(f) => Box::new(f) as Box<dyn TensorSource>,
                Err(e) => Box::new(FailedPart::new(&file, names, &e)),
            }
        })
        .collect();
    Ok(Box::new(MultiSource::ordered(
        "safetensors (sharded)",
        parts,
        Some(index.order),
        &home,
    )))
}

/// The identity of a remote file (see `identity.rs`): the same name, size and hash of its
/// first MiB and last 64 KiB as a local copy of it would have, so that the parts of a
/// sharded run merge whether each machine read a copy or the URL; the time is the object's
/// last modification.
pub(crate) fn file_identity(url: &str, head: u64, tail: u64) -> Result<FileIdentity> {
    let object = Object::connect(url, Arc::new(AtomicU64::new(0)))?;
    let file = object.file();
    let meta = object
        .meta()
        .map_err(|e| Error::format(&file, open_error(&e)))?;
    let size = meta.size;
    let head_len = size.min(head);
    let tail_start = size.saturating_sub(tail).max(head_len);
    let mut ranges: Vec<Range<usize>> = std::iter::once(0..head_len as usize).collect();
    if tail_start < size {
        ranges.push(tail_start as usize..size as usize);
    }
    let parts = object
        .get_many(&ranges)
        .map_err(|m| Error::format(&file, m))?;
    let mut hasher = Sha256::new();
    for p in &parts {
        hasher.update(p);
    }
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .rsplit('/')
        .next()
        .unwrap_or(url)
        .to_string();
    let digest = hasher.finalize();
    Ok(FileIdentity {
        name,
        size,
        modified_ns: meta
            .last_modified
            .timestamp_nanos_opt()
            .map_or(0, |n| n.max(0) as u128),
        sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// What a loopback server saw: each request's method, path and Authorization header.
    type Seen = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

    /// An HTTP/1.1 server on 127.0.0.1 that answers every path with `answer(method, path,
    /// range)` → (status line, extra headers, body), and records what it was asked.
    fn server(
        answer: impl Fn(&str, &str, Option<(usize, usize)>) -> (String, String, Vec<u8>)
            + Send
            + Sync
            + 'static,
    ) -> (String, Seen) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let origin = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen: Seen = Arc::default();
        let (s, answer) = (seen.clone(), Arc::new(answer));
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (s, answer) = (s.clone(), answer.clone());
                std::thread::spawn(move || -> std::io::Result<()> {
                    let mut reader = BufReader::new(conn.try_clone()?);
                    let mut line = String::new();
                    reader.read_line(&mut line)?;
                    let mut words = line.split_whitespace().map(str::to_string);
                    let (method, path) = (
                        words.next().unwrap_or_default(),
                        words.next().unwrap_or_default(),
                    );
                    let (mut auth, mut range) = (None, None);
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                            break;
                        }
                        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                        if k.eq_ignore_ascii_case("authorization") {
                            auth = Some(v.trim().to_string());
                        }
                        if k.eq_ignore_ascii_case("range") {
                            let (a, b) = v
                                .trim()
                                .trim_start_matches("bytes=")
                                .split_once('-')
                                .unwrap();
                            range = Some((a.parse().unwrap(), b.parse().unwrap()));
                        }
                    }
                    s.lock().unwrap().push((method.clone(), path.clone(), auth));
                    let (status, headers, body) = answer(&method, &path, range);
                    let mut out = conn;
                    write!(
                        out,
                        "HTTP/1.1 {status}\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
                        body.len()
                    )?;
                    if method != "HEAD" {
                        out.write_all(&body)?;
                    }
                    out.flush()
                });
            }
        });
        (origin, seen)
    }

    /// A file server for `bytes` at every path, with byte ranges.
    fn file_server(bytes: Vec<u8>) -> (String, Seen) {
        server(move |method, _, range| {
            let n = bytes.len();
            match (method, range) {
                ("HEAD", _) => ("200 OK".into(), String::new(), bytes.clone()),
                (_, Some((a, b))) => {
                    let b = b.min(n - 1);
                    let h = format!("Content-Range: bytes {a}-{b}/{n}\r\n");
                    ("206 Partial Content".into(), h, bytes[a..=b].to_vec())
                }
                _ => ("200 OK".into(), String::new(), bytes.clone()),
            }
        })
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn the_token_goes_to_the_hub_only_and_not_across_its_redirect() {
        let data: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let (cdn, cdn_seen) = file_server(data.clone());
        // The hub answers with a redirect to the CDN, as huggingface.co does for LFS files.
        let target = cdn.clone();
        let (hub, hub_seen) = server(move |_, path, _| {
            let h = format!("Location: {target}{path}?signed=1\r\n");
            ("302 Found".into(), h, Vec::new())
        });
        let env = env_of(&[("HF_ENDPOINT", &hub), ("HF_TOKEN", " hf_secret \n")]);
        let url = format!("{hub}/org/gated/resolve/main/model.safetensors");
        let object = Object::connect_with(&url, Arc::default(), &env).unwrap();
        assert_eq!(object.meta().unwrap().size, 5000);
        assert_eq!(object.get(100..300).unwrap(), data[100..300]);
        let hub_seen = hub_seen.lock().unwrap().clone();
        assert_eq!(hub_seen.len(), 2, "{hub_seen:?}");
        for (_, path, auth) in &hub_seen {
            assert_eq!(path, "/org/gated/resolve/main/model.safetensors");
            assert_eq!(auth.as_deref(), Some("Bearer hf_secret"));
        }
        {
            let cdn_seen = cdn_seen.lock().unwrap();
            assert_eq!(cdn_seen.len(), 2, "{cdn_seen:?}");
            for (_, path, auth) in cdn_seen.iter() {
                assert_eq!(path, "/org/gated/resolve/main/model.safetensors?signed=1");
                assert_eq!(
                    auth, &None,
                    "the token followed the redirect to another host"
                );
            }
        }

        // A URL of another origin than HF_ENDPOINT's (here the CDN's) never gets it.
        let other =
            Object::connect_with(&format!("{cdn}/x.safetensors"), Arc::default(), &env).unwrap();
        assert_eq!(other.get(0..10).unwrap(), data[0..10]);
        let cdn_seen = cdn_seen.lock().unwrap();
        assert_eq!(cdn_seen.len(), 3);
        assert_eq!(cdn_seen[2].2, None);
    }

    #[test]
    fn the_token_is_found_where_huggingface_hub_looks() {
        let dir = std::env::temp_dir().join(format!("ws-hf-token-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("hf")).unwrap();
        std::fs::write(dir.join("hf/token"), "hf_from_file\n").unwrap();
        std::fs::write(dir.join("other"), "hf_from_path").unwrap();
        let hub = url::Url::parse("https://huggingface.co/org/m/resolve/main/a.gguf").unwrap();
        let home = dir.join("hf").display().to_string();
        let path = dir.join("other").display().to_string();
        // HF_TOKEN first, then HF_TOKEN_PATH, then HF_HOME/token.
        let all = env_of(&[
            ("HF_TOKEN", "hf_env"),
            ("HF_TOKEN_PATH", &path),
            ("HF_HOME", &home),
        ]);
        assert_eq!(hub_token(&hub, &all).as_deref(), Some("hf_env"));
        let file = env_of(&[("HF_TOKEN_PATH", &path), ("HF_HOME", &home)]);
        assert_eq!(hub_token(&hub, &file).as_deref(), Some("hf_from_path"));
        let home_only = env_of(&[("HF_TOKEN", "  "), ("HF_HOME", &home)]);
        assert_eq!(hub_token(&hub, &home_only).as_deref(), Some("hf_from_file"));
        assert_eq!(
            hub_token(&hub, &env_of(&[("HF_HOME", "/nonexistent")])),
            None
        );
        // Not the hub: no token, whatever the environment holds.
        for other in [
            "https://example.com/org/m/resolve/main/a.gguf",
            "http://huggingface.co/org/m/a.gguf",
            "https://cdn-lfs.huggingface.co/x",
        ] {
            assert_eq!(
                hub_token(&url::Url::parse(other).unwrap(), &all),
                None,
                "{other}"
            );
        }
        // HF_ENDPOINT moves the hub (a mirror), trailing slash or not.
        let mirror = env_of(&[
            ("HF_ENDPOINT", "https://hf-mirror.example/"),
            ("HF_TOKEN", "t"),
        ]);
        let at_mirror = url::Url::parse("https://hf-mirror.example/org/m/a.gguf").unwrap();
        assert_eq!(hub_token(&at_mirror, &mirror).as_deref(), Some("t"));
        assert_eq!(hub_token(&hub, &mirror), None);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_refused_request_says_what_is_needed() {
        let (hub, _) = server(|_, _, _| ("401 Unauthorized".into(), String::new(), Vec::new()));
        let url = format!("{hub}/org/gated/resolve/main/model.safetensors");
        let err = RemoteFile::open(&url, Arc::default())
            .err()
            .expect("refused");
        let msg = err.to_string();
        assert!(msg.contains(&url), "{msg}");
        assert!(msg.contains("HF_TOKEN"), "{msg}");
        assert!(msg.contains("access denied"), "{msg}");
    }
}
