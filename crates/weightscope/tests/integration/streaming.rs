//! Tall layers streamed by row panels (the Gram matrix accumulated panel by panel, the weights
//! never all in memory) give the same bits as the in-memory route, and bad values in any panel
//! are still an error row naming the file and tensor.

use std::path::Path;
use weightscope::analyze::{analyze_layer, streams};
use weightscope::formats;
use weightscope::layers::plan_layers;
use weightscope::spectrum::GRAM_PANEL_ROWS;
use weightscope::Status;
use weightscope::{analyze, Options};

use crate::common::{f32_bytes, fixture, safetensors_bytes, tmpdir, Rng};

/// F32 tensors (name, shape, data) as safetensors.
fn safetensors(path: &Path, entries: &[(&str, [usize; 2], &[f32])]) {
    let entries: Vec<_> = entries
        .iter()
        .map(|(n, s, d)| (*n, "F32", s.to_vec(), f32_bytes(d)))
        .collect();
    std::fs::write(path, safetensors_bytes(&entries)).unwrap();
}

/// One F32 array (row-major `data`) as .npy bytes, stored in C or Fortran order.
fn npy_bytes(shape: [usize; 2], data: &[f32], fortran: bool) -> Vec<u8> {
    let mut h = format!(
        "{{'descr': '<f4', 'fortran_order': {}, 'shape': ({}, {}), }}",
        if fortran { "True" } else { "False" },
        shape[0],
        shape[1]
    );
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((h.len() as u16).to_le_bytes());
    out.extend(h.as_bytes());
    if fortran {
        let (n, m) = (shape[0], shape[1]);
        let columns: Vec<f32> = (0..m)
            .flat_map(|j| (0..n).map(move |i| data[i * m + j]))
            .collect();
        out.extend(f32_bytes(&columns));
    } else {
        out.extend(f32_bytes(data));
    }
    out
}

/// One F32 array as a .npz entry, deflated.
fn npz_deflated(path: &Path, name: &str, npy: &[u8]) {
    use std::io::Write;
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    z.start_file(format!("{name}.npy"), o).unwrap();
    z.write_all(npy).unwrap();
    z.finish().unwrap();
}

fn random(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng(seed);
    (0..n).map(|_| r.next() as f32).collect()
}

#[test]
fn safetensors_blocks_are_blocks_of_the_whole_tensor() {
    let d = tmpdir("stream-rows");
    let w = random(7 * 5, 1);
    let p = d.join("w.safetensors");
    safetensors(&p, &[("a.weight", [7, 5], &w)]);
    let src = formats::open(&p).unwrap();
    assert!(src.reads_blocks(0));
    let all = src.read_f64(0).unwrap();
    for (rows, cols) in [
        (0..7, 0..5),
        (2..5, 0..5),
        (6..7, 1..4),
        (3..3, 0..5),
        (0..7, 4..5),
    ] {
        let want: Vec<f64> = rows
            .clone()
            .flat_map(|r| all[r * 5 + cols.start..r * 5 + cols.end].to_vec())
            .collect();
        assert_eq!(src.read_block_f64(0, rows, cols).unwrap(), want);
    }
    for (rows, cols) in [(5..8, 0..5), (0..2, 3..6)] {
        let e = src.read_block_f64(0, rows, cols).unwrap_err().to_string();
        assert!(e.contains("a.weight") && e.contains("w.safetensors"), "{e}");
    }
}

/// The same layer streamed from several formats and layouts, and read whole (the in-memory
/// route), compared field by field.
fn same_analysis(shape: [usize; 2], data: &[f32], tag: &str, opts: &Options) {
    let d = tmpdir(&format!("stream-{tag}"));
    let st = d.join("w.safetensors");
    safetensors(&st, &[("fc.weight", shape, data)]);
    let np = d.join("fc.weight.npy");
    std::fs::write(&np, npy_bytes(shape, data, false)).unwrap();
    let fortran = d.join("fortran").join("fc.weight.npy");
    std::fs::create_dir_all(fortran.parent().unwrap()).unwrap();
    std::fs::write(&fortran, npy_bytes(shape, data, true)).unwrap();
    let deflated = d.join("w.npz");
    npz_deflated(
        &deflated,
        "fc.weight",
        &npy_bytes(shape, data, shape[0] < shape[1]),
    );
    let src = formats::open(&st).unwrap();
    let plans = plan_layers(src.tensors(), &opts.layers);
    // The in-memory route: the whole tensor, analysed at once.
    let whole = analyze_layer(&plans[0], src.read_f64(0).unwrap(), opts);
    assert_eq!(whole.status, Status::Success, "{}", whole.message);
    for p in [&st, &np, &fortran, &deflated] {
        let src = formats::open(p).unwrap();
        assert!(streams(&plans[0], opts, src.as_ref()), "{p:?}");
        same_layer(&analyze(p, opts).unwrap().layers[0], &whole);
    }
}

fn same_layer(x: &weightscope::LayerResult, y: &weightscope::LayerResult) {
    assert_eq!(x.status, Status::Success, "{}", x.message);
    // Bit-identical: the same panels summed in the same order.
    assert_eq!(x.lambda_max, y.lambda_max);
    assert_eq!(x.alpha, y.alpha);
    assert_eq!(x.xmin, y.xmin);
    assert_eq!(x.d, y.d);
    assert_eq!(x.norm, y.norm);
    assert_eq!(x.entropy, y.entropy);
    assert_eq!(x.sv_min, y.sv_min);
    assert_eq!(x.matrix_rank, y.matrix_rank);
    assert_eq!(x.rank_loss, y.rank_loss);
    assert_eq!(x.mp, y.mp);
}

#[test]
fn streamed_tall_layer_equals_the_in_memory_route() {
    // 2.5 panels of rows, so the accumulation crosses panel boundaries and ends on a short one.
    let n = 2 * GRAM_PANEL_ROWS + GRAM_PANEL_ROWS / 2;
    let w = random(n * 48, 7);
    let opts = Options {
        mp_fit: true,
        ..Options::default()
    };
    same_analysis([n, 48], &w, "tall", &opts);
    let f32 = Options {
        precision: weightscope::spectrum::Precision::F32,
        ..Options::default()
    };
    same_analysis([n, 48], &w, "tall32", &f32);
    // Stored wide (M × N, W = Aᵀ, e.g. PyTorch's down_proj): streamed by column blocks.
    same_analysis([48, n], &w, "wide", &opts);
    same_analysis([48, n], &w, "wide32", &f32);
}

#[test]
fn leading_zero_panels_give_the_same_bits() {
    // The streamed route skips all-zero panels while the Gram matrix is still zero; the
    // in-memory route sums them. A panel and a half of zeros (-0.0 among them), then rows of
    // full rank.
    let n = 3 * GRAM_PANEL_ROWS + 300;
    let mut w = random(n * 24, 11);
    let zeros = GRAM_PANEL_ROWS * 24 + GRAM_PANEL_ROWS / 2 * 24;
    for (k, x) in w[..zeros].iter_mut().enumerate() {
        *x = if k % 3 == 0 { -0.0 } else { 0.0 };
    }
    let opts = Options {
        mp_fit: true,
        ..Options::default()
    };
    same_analysis([n, 24], &w, "zeros-tall", &opts);
    // The transpose, stored 24 × N and streamed by columns: its first columns are zero.
    let mut stored = vec![0.0f32; 24 * n];
    for (k, x) in w.iter().enumerate() {
        stored[(k % 24) * n + k / 24] = *x;
    }
    same_analysis([24, n], &stored, "zeros-wide", &opts);
}

#[test]
fn streamed_rank_deficient_layer_falls_back_to_the_svd() {
    // Rank 3 by construction (N × 3 times 3 × M): 29 of the 32 eigenvalues are zero, which
    // only the SVD route resolves (the Gram route's error is ≈ ε·λmax); the streamed route
    // must notice and read the whole matrix.
    let (n, m, k) = (GRAM_PANEL_ROWS + 100, 32, 3);
    // Small integers, so that the f32 products are exact and the rank is exactly k.
    let ints = |len: usize, seed: u64| -> Vec<f32> {
        random(len, seed)
            .iter()
            .map(|x| (x * 10.0).round())
            .collect()
    };
    let a = ints(n * k, 3);
    let b = ints(k * m, 4);
    let w: Vec<f32> = (0..n * m)
        .map(|idx| {
            let (i, j) = (idx / m, idx % m);
            (0..k).map(|t| a[i * k + t] * b[t * m + j]).sum()
        })
        .collect();
    same_analysis([n, m], &w, "rank", &Options::default());
    let d = tmpdir("stream-rank-check");
    let p = d.join("w.safetensors");
    safetensors(&p, &[("fc.weight", [n, m], &w)]);
    let r = analyze(&p, &Options::default()).unwrap();
    assert_eq!(r.layers[0].matrix_rank, Some(k));
    assert_eq!(r.layers[0].rank_loss, Some(m - k));
}

#[test]
fn nan_in_a_late_panel_is_an_error_row_and_the_other_layer_is_analysed() {
    let d = tmpdir("stream-nan");
    let n = GRAM_PANEL_ROWS + 10;
    let mut bad = random(n * 16, 9);
    bad[(GRAM_PANEL_ROWS + 3) * 16 + 5] = f32::NAN;
    bad[(GRAM_PANEL_ROWS + 4) * 16] = f32::INFINITY;
    let good = random(300 * 20, 10);
    let p = d.join("m.safetensors");
    safetensors(
        &p,
        &[
            ("bad.weight", [n, 16], &bad),
            ("good.weight", [300, 20], &good),
        ],
    );
    let r = analyze(&p, &Options::default()).unwrap();
    let bad = r.layers.iter().find(|l| l.name == "bad").unwrap();
    assert_eq!(bad.status, Status::Error);
    assert!(
        bad.message.contains("1 NaN and 1 infinite")
            && bad.message.contains("bad.weight")
            && bad.message.contains("m.safetensors"),
        "{}",
        bad.message
    );
    let good = r.layers.iter().find(|l| l.name == "good").unwrap();
    assert_eq!(good.status, Status::Success);
}

#[test]
fn f32_applies_to_tall_layers_only() {
    // Q = 4: single precision, α within 1e-5 relative of f64 but not the same bits. Q = 1:
    // f64 whatever --precision says, so the same bits.
    let d = tmpdir("stream-f32");
    let p = d.join("m.safetensors");
    let tall = random(400 * 100, 21);
    let square = random(150 * 150, 22);
    safetensors(
        &p,
        &[
            ("tall.weight", [400, 100], &tall),
            ("square.weight", [150, 150], &square),
        ],
    );
    let f64_run = analyze(&p, &Options::default()).unwrap();
    let f32_run = analyze(
        &p,
        &Options {
            precision: weightscope::spectrum::Precision::F32,
            ..Options::default()
        },
    )
    .unwrap();
    let (a, b) = (&f64_run.layers[0], &f32_run.layers[0]);
    assert_eq!(a.name, "tall");
    assert_ne!(a.lambda_max, b.lambda_max);
    let rel = |x: Option<f64>, y: Option<f64>| ((x.unwrap() - y.unwrap()) / x.unwrap()).abs();
    assert!(rel(a.lambda_max, b.lambda_max) < 1e-6);
    assert!(rel(a.alpha, b.alpha) < 1e-5);
    let (a, b) = (&f64_run.layers[1], &f32_run.layers[1]);
    assert_eq!(a.name, "square");
    assert_eq!(a.lambda_max, b.lambda_max);
    assert_eq!(a.alpha, b.alpha);
    assert_eq!(a.sv_min, b.sv_min);
}

/// A GGUF v3 file of the given tensors (name, ne innermost first, ggml type, data), each at
/// a 32-byte aligned offset.
fn gguf_bytes(tensors: &[(&str, Vec<u64>, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend(0u64.to_le_bytes());
    let mut data = Vec::new();
    for (name, ne, ty, bytes) in tensors {
        b.extend((name.len() as u64).to_le_bytes());
        b.extend(name.as_bytes());
        b.extend((ne.len() as u32).to_le_bytes());
        ne.iter().for_each(|d| b.extend(d.to_le_bytes()));
        b.extend(ty.to_le_bytes());
        b.extend((data.len() as u64).to_le_bytes());
        data.extend(bytes);
        data.resize(data.len().div_ceil(32) * 32, 0);
    }
    b.resize(b.len().div_ceil(32) * 32, 0);
    b.extend(data);
    b
}

/// `blocks` random quant blocks of `size` bytes whose leading f16 scale is a finite normal
/// number (bits 0x1000..0x3000: 2^-11 ..  0.5).
fn quant_blocks(blocks: usize, size: usize, seed: u64) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = Vec::with_capacity(blocks * size);
    for _ in 0..blocks {
        let d = 0x1000 + (r.next() * 8192.0) as u16 % 0x2000;
        out.extend(d.to_le_bytes());
        out.extend((2..size).map(|_| (r.next() * 256.0) as u8));
    }
    out
}

#[test]
fn quantized_gguf_layers_stream_to_the_same_results_as_the_in_memory_route() {
    let d = tmpdir("stream-gguf");
    // Tall Q8_0 (4796 × 64: two full panels of rows and a ragged one) and wide Q4_0
    // (40 × 4800, streamed by column blocks), beside tensors with a zero dimension next to a
    // huge one (no elements: skipped at once, not walked).
    let tall_rows = 2 * GRAM_PANEL_ROWS + 700;
    let p = d.join("m.gguf");
    std::fs::write(
        &p,
        gguf_bytes(&[
            (
                "blk.0.tall.weight",
                vec![64, tall_rows as u64],
                8,
                quant_blocks(tall_rows * 2, 34, 31),
            ),
            ("blk.0.empty.weight", vec![0, 1 << 40], 8, vec![]),
            (
                "blk.0.wide.weight",
                vec![4800, 40],
                2,
                quant_blocks(40 * 150, 18, 32),
            ),
            ("blk.0.void.weight", vec![1 << 40, 0], 0, vec![]),
        ]),
    )
    .unwrap();
    let opts = Options {
        mp_fit: true,
        ..Options::default()
    };
    let src = formats::open(&p).unwrap();
    let plans = plan_layers(src.tensors(), &opts.layers);
    let report = analyze(&p, &opts).unwrap();
    for (name, index) in [("tall", 0), ("wide", 2)] {
        let plan = plans.iter().find(|l| l.layer_id == index).unwrap();
        assert!(streams(plan, &opts, src.as_ref()), "{name}");
        // The same values read whole, through the in-memory route.
        let whole = analyze_layer(plan, src.read_f64(index).unwrap(), &opts);
        let streamed = report.layers.iter().find(|l| l.layer_id == index).unwrap();
        assert_eq!(streamed.status, Status::Success, "{}", streamed.message);
        // Every field of the row, bit for bit, but the names and the dtype.
        let row = |l: &weightscope::LayerResult| {
            let mut v = serde_json::to_value(l).unwrap();
            for k in ["layer_id", "name", "longname", "dtype", "layer_type"] {
                v.as_object_mut().unwrap().remove(k);
            }
            v
        };
        assert_eq!(row(streamed), row(&whole), "{name}");
    }
    let empty: Vec<_> = report
        .layers
        .iter()
        .filter(|l| l.layer_id == 1 || l.layer_id == 3)
        .collect();
    assert!(
        empty.iter().all(|l| l.status != Status::Success),
        "{empty:?}"
    );
}

#[test]
fn a_gguf_truncated_while_it_is_analysed_gives_an_error_row_naming_the_tensor() {
    let d = tmpdir("stream-gguf-cut");
    let p = d.join("cut.gguf");
    let rows = GRAM_PANEL_ROWS + 100;
    std::fs::write(
        &p,
        gguf_bytes(&[
            (
                "blk.0.ok.weight",
                vec![64, 300],
                8,
                quant_blocks(600, 34, 41),
            ),
            (
                "blk.0.cut.weight",
                vec![64, rows as u64],
                8,
                quant_blocks(rows * 2, 34, 42),
            ),
        ]),
    )
    .unwrap();
    // Opened whole, then cut inside the second tensor's last panel, as a trainer rewriting
    // the file in place would: the listing said the data were there.
    let src = formats::open(&p).unwrap();
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 50 * 68)
        .unwrap();
    let opts = Options::default();
    let report =
        weightscope::analyze_source(src.as_ref(), "cut.gguf", &opts, Default::default()).unwrap();
    let ok = report.layers.iter().find(|l| l.layer_id == 0).unwrap();
    assert_eq!(ok.status, Status::Success, "{}", ok.message);
    let cut = report.layers.iter().find(|l| l.layer_id == 1).unwrap();
    assert_eq!(cut.status, Status::Error);
    assert!(
        cut.message.contains("blk.0.cut.weight")
            && cut.message.contains("cut.gguf")
            && cut.message.contains("truncated"),
        "{}",
        cut.message
    );
}

/// The deflate bombs of tools/make_stream_fixtures.py (~80 KB declaring 16 MiB): streamed
/// panel by panel from .pt and .npz, with the bits of the in-memory route.
#[test]
fn deflate_bombs_are_analysed_streamed() {
    let opts = Options::default();
    let mut results = Vec::new();
    for file in ["bomb.pt", "bomb.npz"] {
        let p = crate::common::fixture(&format!("stream/{file}"));
        let src = formats::open(&p).unwrap();
        let plans = plan_layers(src.tensors(), &opts.layers);
        assert!(streams(&plans[0], &opts, src.as_ref()), "{file}");
        let whole = analyze_layer(&plans[0], src.read_f64(0).unwrap(), &opts);
        let r = analyze(&p, &opts).unwrap();
        same_layer(&r.layers[0], &whole);
        results.push(r.layers[0].clone());
    }
    same_layer(&results[0], &results[1]);
}

/// Keras / HDF5 layers of more than two panels (tests/fixtures/keras/stream/panels.weights.h5,
/// tools/make_keras_stream_fixtures.py) — chunked with gzip + shuffle, contiguous and wide,
/// chunked with every other chunk unallocated — stream to the same row, bit for bit, as the
/// whole matrix through the in-memory route.
#[test]
fn keras_layers_stream_to_the_same_results_as_the_in_memory_route() {
    let p = fixture("keras/stream/panels.weights.h5");
    let opts = Options {
        mp_fit: true,
        ..Options::default()
    };
    let src = formats::open(&p).unwrap();
    let plans = plan_layers(src.tensors(), &opts.layers);
    let report = analyze(&p, &opts).unwrap();
    let row = |l: &weightscope::LayerResult| {
        let mut v = serde_json::to_value(l).unwrap();
        for k in ["layer_id", "name", "longname", "dtype", "layer_type"] {
            v.as_object_mut().unwrap().remove(k);
        }
        v
    };
    let mut seen = 0;
    for plan in &plans {
        assert!(plan.n > 2 * GRAM_PANEL_ROWS, "{}", plan.longname);
        assert!(streams(plan, &opts, src.as_ref()), "{}", plan.longname);
        let whole = analyze_layer(plan, src.read_f64(plan.layer_id).unwrap(), &opts);
        let streamed = report
            .layers
            .iter()
            .find(|l| l.layer_id == plan.layer_id)
            .unwrap();
        assert_eq!(streamed.status, Status::Success, "{}", streamed.message);
        assert_eq!(row(streamed), row(&whole), "{}", plan.longname);
        seen += 1;
    }
    assert_eq!(seen, 3);
}

/// A 20 KB `.weights.h5` declaring tensors of 32 MiB, 256 MiB and 4 PiB with no chunk
/// written, under `--max-memory 64M`: the 32 MiB one streams in panels (its estimate is a
/// few hundred KiB, where a whole read would need ≈ 1 GiB) and is the all-zero error row; the
/// 4 PiB one (its Gram matrix alone would be 8 TiB) and the one whose chunks span all rows
/// (read whole: ≈ 8 GiB) are refused before anything is read, naming the memory they need;
/// the real layer is analysed.
#[test]
fn a_keras_file_of_unwritten_chunks_is_bounded_by_the_memory_cap() {
    let p = fixture("keras/stream/bomb.weights.h5");
    let opts = Options {
        max_memory: Some(64 << 20),
        ..Options::default()
    };
    let r = analyze(&p, &opts).unwrap();
    let layer = |name: &str| r.layers.iter().find(|l| l.name == name).unwrap();
    for (name, want) in [
        ("zeros", "all-zero matrix"),
        ("huge", "needs ≈"),
        ("long", "needs ≈"),
    ] {
        let l = layer(name);
        assert_eq!(l.status, Status::Error, "{name}");
        assert!(
            l.message.contains(&format!("{name}.weight"))
                && l.message.contains("bomb.weights.h5")
                && l.message.contains(want),
            "{}",
            l.message
        );
    }
    assert!(
        layer("huge").message.contains("GiB"),
        "{}",
        layer("huge").message
    );
    assert_eq!(
        layer("real").status,
        Status::Success,
        "{}",
        layer("real").message
    );
}
