//! Remote checkpoints read by byte range over HTTP (the `remote` feature), against a real
//! HTTP/1.1 server on 127.0.0.1 started here: files laid out as the Hugging Face hub serves
//! them (`/org/name/resolve/main/…`), `Range: bytes=a-b` answered with 206, HEAD with the
//! size, and faults on request (503s before success, missing shards). The results must be
//! the local run's bits, and the bytes fetched exactly the index, the shards' headers and
//! the analysed tensors' data, as the server itself counts them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use weightscope::analyze::{analyze_source, Hooks};
use weightscope::formats::{self, TensorSource};
use weightscope::options::LayerFilter;
use weightscope::{Options, Report, Status};

use crate::common::{f32_bytes, safetensors_bytes, tmpdir, Rng};

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// 503 answers still to give to GETs of a path before serving it.
    fail: HashMap<String, usize>,
    /// Body bytes sent by GET, per path.
    sent: HashMap<String, usize>,
    /// 503s given.
    unavailable: usize,
    /// GET requests answered with data.
    gets: usize,
}

/// An HTTP/1.1 file server on 127.0.0.1 (one thread per connection, closed after each
/// answer), with byte ranges.
struct Server {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        Server { port, state }
    }

    fn put(&self, path: &str, bytes: Vec<u8>) {
        self.state.lock().unwrap().files.insert(path.into(), bytes);
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn sent(&self) -> usize {
        self.state.lock().unwrap().sent.values().sum()
    }

    fn gets(&self) -> usize {
        self.state.lock().unwrap().gets
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.trim().eq_ignore_ascii_case("range") {
                let v = v.trim().trim_start_matches("bytes=");
                let (a, b) = v.split_once('-').unwrap();
                range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()));
            }
        }
    }
    let mut out = conn;
    let mut st = state.lock().unwrap();
    let reply = |out: &mut TcpStream, status: &str, headers: String, body: &[u8]| {
        write!(
            out,
            "HTTP/1.1 {status}\r\n{headers}Connection: close\r\n\r\n"
        )?;
        out.write_all(body)?;
        out.flush()
    };
    let Some(file) = st.files.get(&path).cloned() else {
        drop(st);
        return reply(
            &mut out,
            "404 Not Found",
            "Content-Length: 0\r\n".into(),
            b"",
        );
    };
    let modified = "Last-Modified: Sat, 05 Dec 2026 00:00:00 GMT\r\n";
    if method == "HEAD" {
        drop(st);
        let h = format!("Content-Length: {}\r\n{modified}", file.len());
        return reply(&mut out, "200 OK", h, b"");
    }
    if let Some(n) = st.fail.get_mut(&path).filter(|n| **n > 0) {
        *n -= 1;
        st.unavailable += 1;
        drop(st);
        return reply(
            &mut out,
            "503 Service Unavailable",
            "Content-Length: 0\r\n".into(),
            b"",
        );
    }
    let (status, body, extra) = match range {
        Some((a, b)) => {
            let b = b.min(file.len() - 1);
            (
                "206 Partial Content",
                file[a..=b].to_vec(),
                format!("Content-Range: bytes {a}-{b}/{}\r\n", file.len()),
            )
        }
        None => ("200 OK", file.clone(), String::new()),
    };
    *st.sent.entry(path).or_default() += body.len();
    st.gets += 1;
    drop(st);
    let h = format!("Content-Length: {}\r\n{extra}{modified}", body.len());
    reply(&mut out, status, h, &body)
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng(seed);
    (0..n).map(|_| r.next() as f32).collect()
}

/// A tensor: name, shape, f32 data.
type Tensor = (&'static str, Vec<usize>, Vec<f32>);

fn shard_bytes(tensors: &[Tensor]) -> Vec<u8> {
    let entries: Vec<_> = tensors
        .iter()
        .map(|(n, s, d)| (*n, "F32", s.clone(), f32_bytes(d)))
        .collect();
    safetensors_bytes(&entries)
}

/// Bytes before a safetensors file's data: the 8-byte length and the JSON header.
fn header_size(file: &[u8]) -> usize {
    8 + u64::from_le_bytes(file[..8].try_into().unwrap()) as usize
}

/// A two-shard model: tall, wide and square layers and a norm vector in each shard.
fn model() -> Vec<Vec<Tensor>> {
    let mut seed = 0;
    let mut t = |name: &'static str, shape: Vec<usize>| {
        seed += 1;
        let n = shape.iter().product();
        (name, shape, random(n, seed))
    };
    vec![
        vec![
            t("layers.0.attn.q.weight", vec![64, 64]),
            t("layers.0.mlp.up.weight", vec![160, 64]),
            t("layers.0.mlp.down.weight", vec![64, 160]),
            t("layers.0.norm.weight", vec![64]),
        ],
        vec![
            t("layers.1.attn.q.weight", vec![64, 64]),
            t("layers.1.mlp.up.weight", vec![160, 64]),
            t("layers.1.mlp.down.weight", vec![64, 160]),
            t("layers.1.norm.weight", vec![64]),
        ],
    ]
}

const SHARDS: [&str; 2] = [
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
];
const REPO: &str = "/org/name/resolve/main/";

/// The model written to a local folder and served as the hub would: the index and the shards
/// (`serve` says which shards the server has). Returns the folder, the server, and the bytes
/// of the index and of each shard.
fn hub(tag: &str, serve: [bool; 2]) -> (std::path::PathBuf, Server, Vec<u8>, Vec<Vec<u8>>) {
    let dir = tmpdir(tag);
    let server = Server::start();
    let mut weight_map = serde_json::Map::new();
    let mut shards = Vec::new();
    for (i, tensors) in model().iter().enumerate() {
        for (name, _, _) in tensors {
            weight_map.insert(name.to_string(), SHARDS[i].into());
        }
        let bytes = shard_bytes(tensors);
        std::fs::write(dir.join(SHARDS[i]), &bytes).unwrap();
        if serve[i] {
            server.put(&format!("{REPO}{}", SHARDS[i]), bytes.clone());
        }
        shards.push(bytes);
    }
    let index = serde_json::to_vec_pretty(&serde_json::json!({
        "metadata": {"total_size": 0},
        "weight_map": weight_map,
    }))
    .unwrap();
    std::fs::write(dir.join("model.safetensors.index.json"), &index).unwrap();
    server.put(
        &format!("{REPO}model.safetensors.index.json"),
        index.clone(),
    );
    (dir, server, index, shards)
}

fn run(src: &dyn TensorSource, opts: &Options) -> Report {
    analyze_source(src, "model", opts, Hooks::default()).unwrap()
}

/// The rows as JSON values, for comparing runs bit for bit (floats serialise exactly).
fn rows(r: &Report) -> Vec<serde_json::Value> {
    r.layers
        .iter()
        .map(|l| serde_json::to_value(l).unwrap())
        .collect()
}

fn stored_bytes(src: &dyn TensorSource, longnames: &[String]) -> usize {
    src.tensors()
        .iter()
        .filter(|t| longnames.contains(&t.name))
        .map(|t| t.numel() * 4)
        .sum()
}

#[test]
fn a_sharded_hub_checkpoint_over_http_gives_the_local_results_from_its_layers_bytes() {
    let (dir, server, index, shards) = hub("remote-hub", [true, true]);
    let headers: usize = shards.iter().map(|s| header_size(s)).sum();
    let opts = Options::default();
    let local = run(formats::open(&dir).unwrap().as_ref(), &opts);
    assert!(local.layers.iter().all(|l| l.status != Status::Error));
    assert_eq!(local.layers.len(), 6);

    // The index's URL, and the folder's (a `resolve/<rev>/` base that holds the index).
    for url in [
        server.url(&format!("{REPO}model.safetensors.index.json")),
        server.url(REPO),
    ] {
        let (before, gets) = (server.sent(), server.gets());
        let src = formats::open(Path::new(&url)).unwrap();
        assert_eq!(src.format_name(), "safetensors (sharded)");
        let remote = run(src.as_ref(), &opts);
        assert_eq!(rows(&remote), rows(&local), "{url}");
        let longnames: Vec<String> = remote.layers.iter().map(|l| l.longname.clone()).collect();
        // Every analysed tensor once, the headers and the index: nothing else (the norms
        // are not read).
        let want = index.len() + headers + stored_bytes(src.as_ref(), &longnames);
        assert_eq!(src.bytes_read(), Some(want as u64), "{url}");
        assert_eq!(server.sent() - before, want, "{url}");
        // One request per analysed tensor (its panels are cut from it), two per header, the
        // index.
        assert_eq!(server.gets() - gets, 6 + 2 * 2 + 1, "{url}");
        // The identity of `--resume` and `merge` is a local copy's: parts from the URL and
        // from a copy merge.
        let local_files = formats::open(&dir).unwrap().files();
        let here = formats::identity(&dir, &local_files).unwrap();
        let there = formats::identity(Path::new(&url), &src.files()).unwrap();
        assert_eq!(there.files.len(), 2);
        assert!(here.same_content(&there), "{here:?} {there:?}");
    }

    // A share of the layers reads only its tensors' bytes.
    let opts = Options {
        filter: Some(LayerFilter::parse("mlp.down").unwrap()),
        ..Options::default()
    };
    let url = server.url(&format!("{REPO}model.safetensors.index.json"));
    let src = formats::open(Path::new(&url)).unwrap();
    let remote = run(src.as_ref(), &opts);
    let local_share = run(formats::open(&dir).unwrap().as_ref(), &opts);
    assert_eq!(remote.layers.len(), 2);
    assert_eq!(rows(&remote), rows(&local_share));
    let down = 2 * 64 * 160 * 4;
    assert_eq!(
        src.bytes_read(),
        Some((index.len() + headers + down) as u64)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_503_is_retried_and_a_missing_shard_gives_error_rows_for_its_tensors_only() {
    let (dir, server, _, _) = hub("remote-faults", [true, false]);
    let local = run(formats::open(&dir).unwrap().as_ref(), &Options::default());
    // Two 503s before the first shard's first GET (its header) succeeds.
    let first = format!("{REPO}{}", SHARDS[0]);
    server.state.lock().unwrap().fail.insert(first, 2);
    let url = server.url(&format!("{REPO}model.safetensors.index.json"));
    let src = formats::open(Path::new(&url)).unwrap();
    let remote = run(src.as_ref(), &Options::default());
    assert_eq!(server.state.lock().unwrap().unavailable, 2);

    let (ok, bad): (Vec<_>, Vec<_>) = remote
        .layers
        .iter()
        .partition(|l| l.longname.starts_with("layers.0."));
    // The first shard's layers as in the local run.
    let local0: Vec<_> = local
        .layers
        .iter()
        .filter(|l| l.longname.starts_with("layers.0."))
        .map(|l| serde_json::to_value(l).unwrap())
        .collect();
    let ok: Vec<_> = ok
        .iter()
        .map(|l| serde_json::to_value(l).unwrap())
        .collect();
    assert_eq!(ok, local0);
    // The second shard's tensors (the index's names) are error rows naming its URL.
    let missing = server.url(&format!("{REPO}{}", SHARDS[1]));
    assert_eq!(bad.len(), 4, "{bad:?}");
    for l in bad {
        assert_eq!(l.status, Status::Error);
        assert!(
            l.message.contains(&missing) && l.message.contains("not found"),
            "{}",
            l.message
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn panels_of_tensors_over_the_cache_limit_are_fetched_alone() {
    // With a 10 MiB cap a tensor is fetched whole under 5 MiB; these two (6.1 MB each, whose
    // streamed estimate, 8.8 MB, fits the cap) are fetched panel by panel: row ranges of the
    // tall one, one range per row of the wide one.
    let tensors: Vec<Tensor> = vec![
        ("wide.weight", vec![128, 12000], random(128 * 12000, 7)),
        ("tall.weight", vec![12000, 128], random(12000 * 128, 8)),
    ];
    let bytes = shard_bytes(&tensors);
    let dir = tmpdir("remote-panels");
    let local_path = dir.join("model.safetensors");
    std::fs::write(&local_path, &bytes).unwrap();
    let server = Server::start();
    server.put("/bucket/model.safetensors", bytes.clone());
    let opts = Options {
        max_memory: Some(10 << 20),
        ..Options::default()
    };
    let local = run(formats::open(&local_path).unwrap().as_ref(), &opts);
    assert!(local.layers.iter().all(|l| l.status == Status::Success));
    let src = formats::open(Path::new(&server.url("/bucket/model.safetensors"))).unwrap();
    let remote = run(src.as_ref(), &opts);
    assert_eq!(rows(&remote), rows(&local));
    let want = bytes.len();
    assert_eq!(src.bytes_read(), Some(want as u64));
    assert_eq!(server.sent(), want);
    // The header (2), the tall tensor's 6 row panels, the wide one's 128 rows × 6 panels.
    assert_eq!(server.gets(), 2 + 6 + 128 * 6);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A GGUF v3 file by hand: `kv` string-array metadata entry `vocab` of `words`, and F32
/// tensors (ggml's `ne` is the shape innermost first), aligned to 32 bytes. Returns the bytes
/// and where the header ends.
fn gguf_bytes(words: &[String], tensors: &[Tensor]) -> (Vec<u8>, usize) {
    let string = |out: &mut Vec<u8>, s: &str| {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    };
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend(1u64.to_le_bytes());
    string(&mut out, "tokenizer.ggml.tokens");
    out.extend(9u32.to_le_bytes()); // array
    out.extend(8u32.to_le_bytes()); // of strings
    out.extend((words.len() as u64).to_le_bytes());
    for w in words {
        string(&mut out, w);
    }
    let mut offset = 0u64;
    for (name, shape, data) in tensors {
        string(&mut out, name);
        out.extend((shape.len() as u32).to_le_bytes());
        for d in shape.iter().rev() {
            out.extend((*d as u64).to_le_bytes());
        }
        out.extend(0u32.to_le_bytes()); // F32
        out.extend(offset.to_le_bytes());
        offset += (data.len() * 4).div_ceil(32) as u64 * 32;
    }
    let header_end = out.len();
    while out.len() % 32 != 0 {
        out.push(0);
    }
    for (_, _, data) in tensors {
        out.extend(f32_bytes(data));
        while out.len() % 32 != 0 {
            out.push(0);
        }
    }
    (out, header_end)
}

#[test]
fn a_gguf_over_http_gives_the_local_results_with_a_header_over_the_first_prefix() {
    // A vocabulary of 1.4 MB: the first 1 MiB fetched does not hold the header, 2 MiB do.
    let words: Vec<String> = (0..35_000).map(|i| format!("{i:0>32}")).collect();
    let tensors: Vec<Tensor> = vec![
        ("blk.0.ffn_up.weight", vec![160, 64], random(160 * 64, 11)),
        ("blk.0.ffn_down.weight", vec![64, 160], random(64 * 160, 12)),
        ("blk.0.attn_norm.weight", vec![64], random(64, 13)),
    ];
    let (bytes, header_end) = gguf_bytes(&words, &tensors);
    assert!(header_end > 1 << 20 && header_end < 2 << 20);
    let dir = tmpdir("remote-gguf");
    let path = dir.join("model.gguf");
    std::fs::write(&path, &bytes).unwrap();
    let server = Server::start();
    server.put("/models/model.gguf", bytes.clone());
    let opts = Options::default();
    let local = run(formats::open(&path).unwrap().as_ref(), &opts);
    assert_eq!(local.layers.len(), 2);
    assert!(local.layers.iter().all(|l| l.status != Status::Error));
    let src = formats::open(Path::new(&server.url("/models/model.gguf"))).unwrap();
    assert_eq!(src.format_name(), "gguf");
    let remote = run(src.as_ref(), &opts);
    assert_eq!(rows(&remote), rows(&local));
    // The prefixes (1 MiB, then up to 2 MiB, or the file) and the two matrices once.
    let prefix = bytes.len().min(2 << 20);
    let want = prefix + 2 * 160 * 64 * 4;
    assert_eq!(src.bytes_read(), Some(want as u64));
    assert_eq!(server.sent(), want);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A GPT-NeoX-style fused projection (Q, K, V interleaved per head) can be split only with
/// the head count of the model's config.json: a remote checkpoint fetches the config.json
/// beside it, as a local folder reads its own, and splits exactly as the local run does.
#[test]
fn the_config_json_beside_a_remote_checkpoint_gives_the_local_split_of_fused_qkv() {
    let dir = tmpdir("remote-config");
    let server = Server::start();
    // 4 heads of 16: the fused weight is 3·64 × 64.
    let tensors: Vec<Tensor> = vec![
        (
            "gpt_neox.layers.0.attention.query_key_value.weight",
            vec![192, 64],
            random(192 * 64, 11),
        ),
        (
            "gpt_neox.layers.0.mlp.dense_h_to_4h.weight",
            vec![256, 64],
            random(256 * 64, 12),
        ),
    ];
    let file = shard_bytes(&tensors);
    let config = serde_json::to_vec(&serde_json::json!({
        "architectures": ["GPTNeoXForCausalLM"],
        "hidden_size": 64,
        "num_attention_heads": 4,
    }))
    .unwrap();
    std::fs::write(dir.join("model.safetensors"), &file).unwrap();
    std::fs::write(dir.join("config.json"), &config).unwrap();
    server.put(&format!("{REPO}model.safetensors"), file.clone());
    let mut opts = Options::default();
    opts.layers.split_fused = true;
    let local = run(formats::open(&dir).unwrap().as_ref(), &opts);
    let names: Vec<&str> = local.layers.iter().map(|l| l.longname.as_str()).collect();
    // The whole projection, then Q, K and V by the heads of config.json, then the MLP.
    assert_eq!(local.layers.len(), 5, "{names:?}");

    // No config.json on the server: the split the plan can make without one (none).
    let url = server.url(&format!("{REPO}model.safetensors"));
    let bare = formats::open(Path::new(&url)).unwrap();
    assert_eq!(bare.model_config_text(), None);
    let without = run(bare.as_ref(), &opts);
    assert_eq!(without.layers.len(), 2);
    assert_ne!(rows(&without), rows(&local));

    // With it: the local rows, bit for bit; the config's bytes are counted as fetched.
    server.put(&format!("{REPO}config.json"), config.clone());
    for url in [
        server.url(&format!("{REPO}model.safetensors")),
        server.url(REPO),
    ] {
        let src = formats::open(Path::new(&url)).unwrap();
        assert_eq!(src.model_config_text().unwrap().as_bytes(), config);
        let before = src.bytes_read().unwrap();
        assert_eq!(before as usize, header_size(&file) + config.len(), "{url}");
        let remote = run(src.as_ref(), &opts);
        assert_eq!(rows(&remote), rows(&local), "{url}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
