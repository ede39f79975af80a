//! Block reads — the panels of rows or columns the analysis streams — of PyTorch and NumPy
//! tensors are the slices of the whole read, bit for bit, in every layout (transposed,
//! sliced and broadcast views, Fortran order, big-endian, stored and deflated entries); a
//! deflate bomb streams panel by panel; files that lie about their size, or shrink while
//! read, give an error naming the file and the tensor.

use super::common::fixture_dir;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use weightscope_formats::{open, TensorSource};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ws-blocks-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Ragged tilings of `0..n`: by 1, 2, 3 and whole.
fn tilings(n: usize) -> Vec<Vec<Range<usize>>> {
    [1, 2, 3, n.max(1)]
        .iter()
        .map(|&k| (0..n).step_by(k).map(|s| s..(s + k).min(n)).collect())
        .collect()
}

/// Every block of every tiling of every readable 2-D float tensor of `src` equals the slice
/// of its whole read; the names of the tensors that read by blocks.
fn blocks_are_slices(src: &dyn TensorSource, what: &str) -> Vec<String> {
    let mut streamed = Vec::new();
    for (i, t) in src.tensors().iter().enumerate() {
        if t.shape.len() != 2 || !t.dtype.is_float() || t.problem.is_some() {
            continue;
        }
        let (n, m) = (t.shape[0], t.shape[1]);
        let all = src.read_f64(i).unwrap_or_else(|e| panic!("{what}: {e}"));
        if src.reads_blocks(i) {
            streamed.push(t.name.clone());
        }
        for rows_tiling in tilings(n) {
            for cols_tiling in tilings(m) {
                for rows in &rows_tiling {
                    for cols in &cols_tiling {
                        let want: Vec<f64> = rows
                            .clone()
                            .flat_map(|r| all[r * m + cols.start..r * m + cols.end].to_vec())
                            .collect();
                        let got = src
                            .read_block_f64(i, rows.clone(), cols.clone())
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                        assert_eq!(
                            bits(&got),
                            bits(&want),
                            "{what}: {} rows {rows:?} cols {cols:?}",
                            t.name
                        );
                    }
                }
            }
        }
    }
    streamed
}

#[test]
fn pytorch_views_and_containers_read_by_blocks() {
    let dir = fixture_dir("pytorch");
    // Stored entries and legacy storages: every 2-D float tensor, any view.
    for (file, streamed) in [
        (
            "views.pt",
            &[
                "transposed",
                "slice",
                "shared_a",
                "shared_b",
                "half_t",
                "expanded",
                "param",
                "tied.a",
                "tied.b",
            ][..],
        ),
        (
            "legacy.pt",
            &[
                "a.weight",
                "h.weight",
                "b16.weight",
                "d.weight",
                "t.weight",
                "s.weight",
            ][..],
        ),
        ("big_endian.pt", &["w_f32", "w_f16", "w_bf16", "w_f64"][..]),
        // Deflated: the tall C-order ones stream; the wide one (its panels are columns,
        // spread over the whole stream) is read whole.
        ("deflated.pt", &["w_f32", "w_f16", "w_f64"][..]),
    ] {
        let src = open(&dir.join(file)).unwrap();
        let mut got = blocks_are_slices(src.as_ref(), file);
        let mut want: Vec<String> = streamed.iter().map(|s| s.to_string()).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{file}");
    }
}

/// The header of a `.npy` of `shape`, stored in `fortran` order as `descr`.
fn npy_header(descr: &str, fortran: bool, shape: [usize; 2]) -> Vec<u8> {
    let mut h = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': ({}, {}), }}",
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
    out
}

/// A `.npy` of the row-major `values` of `shape`, stored in `fortran` order as `descr`.
fn npy(descr: &str, fortran: bool, shape: [usize; 2], values: &[f64]) -> Vec<u8> {
    let mut out = npy_header(descr, fortran, shape);
    let (n, m) = (shape[0], shape[1]);
    let order: Vec<usize> = if fortran {
        (0..m)
            .flat_map(|j| (0..n).map(move |i| i * m + j))
            .collect()
    } else {
        (0..n * m).collect()
    };
    let big = descr.starts_with('>');
    for k in order {
        let v = values[k];
        let b: Vec<u8> = match (&descr[1..], big) {
            ("f8", false) => v.to_le_bytes().to_vec(),
            ("f8", true) => v.to_be_bytes().to_vec(),
            ("f4", false) => (v as f32).to_le_bytes().to_vec(),
            ("f4", true) => (v as f32).to_be_bytes().to_vec(),
            ("f2", false) => half::f16::from_f64(v).to_le_bytes().to_vec(),
            ("f2", true) => half::f16::from_f64(v).to_be_bytes().to_vec(),
            _ => unreachable!(),
        };
        out.extend(b);
    }
    out
}

fn npz(path: &Path, entries: &[(&str, Vec<u8>)], method: zip::CompressionMethod) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let o = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in entries {
        z.start_file(format!("{name}.npy"), o).unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn numpy_orders_dtypes_and_containers_read_by_blocks() {
    let d = tmpdir("npy");
    // Values exact in every dtype (multiples of 1/8 below 256), so the whole read is known.
    let values =
        |n: usize| -> Vec<f64> { (0..n).map(|k| ((k * 37) % 2000) as f64 / 8.0).collect() };
    for descr in ["<f4", ">f8", "<f2", ">f2"] {
        for fortran in [false, true] {
            for shape in [[37, 5], [5, 37]] {
                let v = values(shape[0] * shape[1]);
                let bytes = npy(descr, fortran, shape, &v);
                let what = format!("{descr} fortran={fortran} {shape:?}");
                let tall = shape[0] >= shape[1];
                let p = d.join("w.npy");
                std::fs::write(&p, &bytes).unwrap();
                let files = [
                    (p, true),
                    (d.join("stored.npz"), true),
                    // Deflated: streamed when panels are consecutive in the stream.
                    (d.join("deflated.npz"), tall != fortran),
                ];
                npz(
                    &files[1].0,
                    &[("w", bytes.clone())],
                    zip::CompressionMethod::Stored,
                );
                npz(
                    &files[2].0,
                    &[("w", bytes)],
                    zip::CompressionMethod::Deflated,
                );
                for (file, streams) in &files {
                    let src = open(file).unwrap();
                    assert_eq!(bits(&src.read_f64(0).unwrap()), bits(&v), "{what} {file:?}");
                    let streamed = blocks_are_slices(src.as_ref(), &what);
                    assert_eq!(streamed.len() == 1, *streams, "{what} {file:?}");
                }
            }
        }
    }
}

/// The bombs' rows: row r is row r / 1024 of the 64 × 64 pattern (tools/make_stream_fixtures.py).
fn bomb_rows(rows: Range<usize>) -> Vec<f64> {
    let pattern = open(&fixture_dir("stream").join("bomb_pattern.safetensors"))
        .unwrap()
        .read_f64(0)
        .unwrap();
    rows.flat_map(|r| pattern[(r / 1024) * 64..(r / 1024 + 1) * 64].to_vec())
        .collect()
}

#[test]
fn deflate_bombs_stream_panel_by_panel() {
    for file in ["bomb.pt", "bomb.npz"] {
        let p = fixture_dir("stream").join(file);
        // A ~80 KB file declaring a 16 MiB tensor.
        assert!(std::fs::metadata(&p).unwrap().len() < 200_000);
        let src = open(&p).unwrap();
        let t = &src.tensors()[0];
        assert_eq!(
            (t.name.as_str(), &t.shape[..]),
            ("embed.weight", &[65536, 64][..])
        );
        assert!(src.reads_blocks(0), "{file}");
        // Ragged panels in order (a decoder carried from one to the next), then a few out of
        // order (a decoder restarted or picked from the cache).
        let mut panels: Vec<Range<usize>> = (0..65536)
            .step_by(3000)
            .map(|s| s..(s + 3000).min(65536))
            .collect();
        panels.extend([40_000..40_100, 10..20, 65_535..65_536, 0..1]);
        for rows in panels {
            let got = src.read_block_f64(0, rows.clone(), 0..64).unwrap();
            assert_eq!(
                bits(&got),
                bits(&bomb_rows(rows.clone())),
                "{file} {rows:?}"
            );
        }
        // Columns of a panel too.
        let got = src.read_block_f64(0, 2040..2050, 5..9).unwrap();
        let want: Vec<f64> = bomb_rows(2040..2050)
            .chunks(64)
            .flat_map(|r| r[5..9].to_vec())
            .collect();
        assert_eq!(bits(&got), bits(&want), "{file}");
    }
}

#[test]
fn declared_sizes_beyond_the_data_are_errors_naming_the_tensor() {
    let d = tmpdir("lies");
    // A header declaring 2^40 × 2^20 floats, and one declaring 1000 × 1000, over 16 bytes.
    for (shape, tag) in [([1usize << 40, 1 << 20], "huge"), ([1000, 1000], "short")] {
        let mut out = npy_header("<f4", false, shape);
        out.extend([0u8; 16]);
        for (file, method) in [
            ("w.npy", None),
            ("s.npz", Some(zip::CompressionMethod::Stored)),
            ("z.npz", Some(zip::CompressionMethod::Deflated)),
        ] {
            let p = d.join(format!("{tag}-{file}"));
            match method {
                None => std::fs::write(&p, &out).unwrap(),
                Some(m) => npz(&p, &[("w", out.clone())], m),
            }
            let src = open(&p).unwrap();
            assert!(!src.reads_blocks(0), "{p:?}");
            let e = src.read_f64(0).unwrap_err().to_string();
            assert!(
                e.contains(&*p.to_string_lossy()) && e.contains("w") && e.contains("truncated"),
                "{e}"
            );
        }
    }
}

#[test]
fn a_file_truncated_while_read_is_an_error_not_a_crash() {
    let d = tmpdir("shrunk");
    // A .pt whose storages lie after the pickle, and a .npy.
    let pt = d.join("views.pt");
    std::fs::copy(fixture_dir("pytorch").join("views.pt"), &pt).unwrap();
    let v: Vec<f64> = (0..4000).map(|k| k as f64).collect();
    let np = d.join("w.npy");
    std::fs::write(&np, npy("<f8", false, [1000, 4], &v)).unwrap();
    for p in [&pt, &np] {
        let src = open(p).unwrap();
        let len = std::fs::metadata(p).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(len / 3)
            .unwrap();
        let mut errors = 0;
        for (i, t) in src.tensors().iter().enumerate() {
            if let Err(e) = src.read_f64(i) {
                let e = e.to_string();
                assert!(e.contains(&t.name), "{e}");
                errors += 1;
            }
            if t.shape.len() == 2 && t.shape[0] > 0 {
                let _ = src.read_block_f64(i, 0..1, 0..t.shape[1]);
            }
        }
        assert!(errors > 0, "{p:?}");
    }
}

/// Keras / HDF5 (tests/fixtures/keras/stream/layouts.weights.h5, written by
/// tools/make_keras_stream_fixtures.py): every block of every tiling of every layout —
/// contiguous (little- and big-endian), chunked with gzip + shuffle, fletcher32 and float16,
/// chunked with unallocated chunks (the default fill value, zeros, and a set one), chunks
/// spanning all rows — is the slice of the whole read, bit for bit, from a file and from bytes
/// in memory. So are those of every 2-D tensor of the fixtures Keras itself wrote (contiguous
/// datasets, bfloat16 as opaque data, in `.h5`, `.weights.h5` and stored or deflated `.keras`
/// archives), of the tf.keras-2-style and of the gzip variants.
#[test]
fn keras_layouts_read_by_blocks() {
    use weightscope_formats::keras::{KerasFile, Limits};
    let p = fixture_dir("keras")
        .join("stream")
        .join("layouts.weights.h5");
    let mut want = [
        "contiguous_tall.weight",
        "contiguous_wide_be.weight",
        "gzip_tall.weight",
        "gzip_wide_f16.weight",
        "fletcher_tall.weight",
        "long_chunks_tall.weight",
        "sparse_tall.weight",
        "sparse_fill_wide.weight",
    ]
    .map(String::from)
    .to_vec();
    want.sort();
    let src = open(&p).unwrap();
    let mut got = blocks_are_slices(src.as_ref(), "layouts.weights.h5");
    got.sort();
    assert_eq!(got, want);
    let mem = KerasFile::from_bytes(&p, std::fs::read(&p).unwrap(), Limits::default()).unwrap();
    let mut got = blocks_are_slices(&mem, "layouts.weights.h5 in memory");
    got.sort();
    assert_eq!(got, want);
    // The unallocated chunks read as the fill value in both reads: zeros, and 0.5.
    let sparse = src
        .tensors()
        .iter()
        .position(|t| t.name == "sparse_tall.weight");
    let all = src.read_f64(sparse.unwrap()).unwrap();
    assert!(all[8 * 5..16 * 5].iter().all(|&x| x == 0.0));
    assert!(all[..8 * 5].iter().all(|&x| x != 0.0));
    let fill = src
        .tensors()
        .iter()
        .position(|t| t.name == "sparse_fill_wide.weight");
    let block = src.read_block_f64(fill.unwrap(), 0..5, 0..8).unwrap();
    assert!(block.iter().all(|&x| x == 0.5), "{block:?}");
    for file in [
        "mlp.weights.h5",
        "mlp.gzip.weights.h5",
        "mlp.keras",
        "mlp.deflated.keras",
        "cnn.h5",
        "cnn.tf2.h5",
        "seq.keras",
        "half.keras",
        "half.weights.h5",
        "sub.weights.h5",
    ] {
        let src = open(&fixture_dir("keras").join(file)).unwrap();
        let streamed = blocks_are_slices(src.as_ref(), file);
        let two_d = src.tensors().iter().filter(|t| t.shape.len() == 2).count();
        assert!(two_d > 0 && streamed.len() == two_d, "{file}: {streamed:?}");
    }
}

/// A 20 KB `.weights.h5` whose chunked tensors have no chunk written (all fill value) and
/// declare 32 MiB, 256 MiB and 4 PiB: a block is read as zeros without the tensor ever being
/// allocated (4 PiB could not be), chunks spanning all rows are left to the whole read, and a
/// whole read past the per-tensor limit is an error naming the file and tensor.
#[test]
fn unallocated_keras_chunks_read_as_zeros_block_by_block() {
    let p = fixture_dir("keras").join("stream").join("bomb.weights.h5");
    assert!(std::fs::metadata(&p).unwrap().len() < 30_000);
    let src = open(&p).unwrap();
    let index = |name: &str| {
        src.tensors()
            .iter()
            .position(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let (zeros, huge, long, real) = (
        index("zeros.weight"),
        index("huge.weight"),
        index("long.weight"),
        index("real.weight"),
    );
    assert_eq!(src.tensors()[huge].shape, [1 << 40, 1 << 20]);
    for (i, rows, cols) in [
        (zeros, 0..2048, 0..8),
        (zeros, (1 << 20) - 5..1 << 20, 3..8),
        (huge, 0..2048, 0..8),
        (huge, (1 << 40) - 3..1 << 40, (1 << 20) - 100..1 << 20),
    ] {
        assert!(src.reads_blocks(i));
        let n = rows.len() * cols.len();
        let got = src.read_block_f64(i, rows, cols).unwrap();
        assert_eq!(got, vec![0.0; n]);
    }
    assert!(!src.reads_blocks(long));
    assert!(src.reads_blocks(real));
    let e = src.read_f64(huge).unwrap_err().to_string();
    assert!(
        e.contains("bomb.weights.h5") && e.contains("huge.weight") && e.contains("limit"),
        "{e}"
    );
    assert_eq!(src.read_f64(real).unwrap().len(), 64 * 16);
}

/// A Keras file cut short after it was opened (a trainer rewriting it in place) gives errors
/// naming the tensors cut off, from whole and block reads, not SIGBUS: the HDF5 reader reads
/// the file with `pread`, not through the map.
#[test]
fn a_keras_file_truncated_while_read_is_an_error_not_a_crash() {
    let d = tmpdir("keras-shrunk");
    for file in ["mlp.weights.h5", "mlp.keras"] {
        let p = d.join(file);
        std::fs::copy(fixture_dir("keras").join(file), &p).unwrap();
        let src = open(&p).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(2000)
            .unwrap();
        let mut errors = 0;
        for (i, t) in src.tensors().iter().enumerate() {
            if let Err(e) = src.read_f64(i) {
                let e = e.to_string();
                assert!(e.contains(&t.name) && e.contains(file), "{e}");
                errors += 1;
            }
            if t.shape.len() == 2 {
                if let Err(e) = src.read_block_f64(i, 0..1, 0..t.shape[1]) {
                    assert!(e.to_string().contains(&t.name), "{e}");
                }
            }
        }
        assert!(errors > 0, "{file}");
    }
}
