//! Inputs that are not what they seem: FIFOs and other non-regular files, ONNX external data
//! through symbolic links, missing or corrupt shards, legal names containing `..`, and
//! duplicate tensor names. The bad inputs are made here; the values read are checked against
//! what was written.

use super::common::{self, fixture_dir, names};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;
use weightscope_formats::safetensors::{to_safetensors_bytes, SafetensorsFile};
use weightscope_formats::{open, TensorSource};

/// A fresh, empty scratch folder for one test.
fn scratch(test: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("inputs-{test}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A safetensors file of f32 tensors (name, shape, values).
fn write_safetensors(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let owned: Vec<_> = tensors
        .iter()
        .map(|(n, s, v)| (n.to_string(), s.clone(), v.clone()))
        .collect();
    std::fs::write(path, to_safetensors_bytes(&owned).unwrap()).unwrap();
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Run `f` in a thread and fail (rather than hang the test run) if it has not returned
/// within 20 s: opening a FIFO for reading blocks until a writer comes.
fn within_time<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what}: blocked (no answer in 20 s)"))
}

fn values(src: &dyn TensorSource, name: &str) -> Vec<f64> {
    let i = src
        .tensors()
        .iter()
        .position(|t| t.name == name)
        .unwrap_or_else(|| panic!("no {name}"));
    src.read_f64(i).unwrap_or_else(|e| panic!("{e}"))
}

/// The read errors of the tensors named `name`, in order.
fn errors(src: &dyn TensorSource, name: &str) -> Vec<String> {
    src.tensors()
        .iter()
        .enumerate()
        .filter(|(_, t)| t.name == name)
        .filter_map(|(i, _)| src.read_f64(i).err().map(|e| e.to_string()))
        .collect()
}

#[cfg(unix)]
#[test]
fn fifos_are_refused_without_being_opened() {
    let d = scratch("fifo");
    for ext in [
        "safetensors",
        "npy",
        "npz",
        "pt",
        "bin",
        "gguf",
        "onnx",
        "keras",
        "h5",
    ] {
        let fifo = d.join(format!("model.{ext}"));
        mkfifo(&fifo);
        let e = within_time(ext, move || open(&fifo).err().map(|e| e.to_string()));
        let e = e.unwrap_or_else(|| panic!("{ext}: a FIFO was opened"));
        assert!(
            e.contains(&format!("model.{ext}")) && e.contains("FIFO") && e.contains("refused"),
            "{e}"
        );
    }
    // The readers refuse it too when called directly (the folder reader and the Python module
    // call them without going through `open`).
    let fifo = d.join("model.safetensors");
    let e = within_time("SafetensorsFile::open", move || {
        SafetensorsFile::open(&fifo).err().map(|e| e.to_string())
    });
    assert!(e.unwrap().contains("FIFO"));
    let fifo = d.join("model.pt");
    let e = within_time("PyTorchFile::open", move || {
        weightscope_formats::pytorch::PyTorchFile::open(&fifo)
            .err()
            .map(|e| e.to_string())
    });
    assert!(e.unwrap().contains("FIFO"));
    let fifo = d.join("model.npz");
    let e = within_time("NpzFile::open", move || {
        weightscope_formats::npy::NpzFile::open(&fifo)
            .err()
            .map(|e| e.to_string())
    });
    assert!(e.unwrap().contains("FIFO"));
    // A character device (reached through a link) is no better.
    let dev = d.join("dev.safetensors");
    std::os::unix::fs::symlink("/dev/zero", &dev).unwrap();
    let e = within_time("/dev/zero", move || open(&dev).err().map(|e| e.to_string()));
    assert!(e.unwrap().contains("character device"));
}

#[cfg(unix)]
#[test]
fn a_symlink_to_a_regular_checkpoint_is_followed() {
    // Hugging Face's cache links every file of a snapshot to a blob: the model may be a link.
    let d = scratch("symlinked_model");
    let target = fixture_dir("onnx").join("mlp.onnx");
    let link = d.join("model.onnx");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let m = open(&link).unwrap();
    assert_eq!(names(&*m), names(&*open(&target).unwrap()));
}

/// Copy the external-data ONNX fixture (whose initializers all live in `weights.bin`) into
/// `dir`, with the data file's name replaced by `location` (11 bytes, so that no protobuf
/// length changes); returns the model's path.
fn external_model(dir: &Path, location: &str) -> PathBuf {
    assert_eq!(location.len(), "weights.bin".len());
    let src = fixture_dir("onnx").join("external");
    let bytes = std::fs::read(src.join("model.onnx")).unwrap();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"weights.bin") {
            out.extend(location.as_bytes());
            i += "weights.bin".len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let model = dir.join("model.onnx");
    std::fs::write(&model, out).unwrap();
    model
}

fn external_problems(model: &Path) -> Vec<String> {
    let m = open(model).unwrap();
    let w = m
        .tensors()
        .iter()
        .position(|t| t.name == "fc1.weight")
        .unwrap();
    let e = m.read_f64(w).unwrap_err().to_string();
    assert!(e.contains("fc1.weight"), "{e}");
    assert_eq!(m.files().len(), 1, "the refused data file is not read");
    m.tensors()
        .iter()
        .map(|t| t.problem.clone().unwrap_or_default())
        .collect()
}

#[cfg(unix)]
#[test]
fn onnx_external_data_through_a_link_or_a_fifo_is_refused() {
    use std::os::unix::fs::symlink;
    let d = scratch("onnx_links");
    let data = fixture_dir("onnx").join("external").join("weights.bin");

    // The same bytes as a regular file beside the model: read (the control).
    let plain = d.join("plain");
    std::fs::create_dir(&plain).unwrap();
    let model = external_model(&plain, "weights.bin");
    std::fs::copy(&data, plain.join("weights.bin")).unwrap();
    assert_eq!(
        common::check_against_reference(
            &model,
            &fixture_dir("onnx").join("external/model.ref.safetensors"),
            "plain"
        ),
        4
    );

    // A link to a file outside, a link inside the folder (onnx refuses both), a FIFO.
    let outside = d.join("outside.bin");
    std::fs::copy(&data, &outside).unwrap();
    for (case, make) in [
        (
            "link_out",
            &(|p: &Path| symlink(&outside, p).unwrap()) as &dyn Fn(&Path),
        ),
        ("link_in", &|p: &Path| {
            std::fs::copy(&data, p.with_file_name("real.bin")).unwrap();
            symlink("real.bin", p).unwrap()
        }),
        ("fifo", &|p: &Path| mkfifo(p)),
    ] {
        let dir = d.join(case);
        std::fs::create_dir(&dir).unwrap();
        let model = external_model(&dir, "weights.bin");
        make(&dir.join("weights.bin"));
        let problems = within_time(case, move || external_problems(&model));
        let want = if case == "fifo" {
            "FIFO"
        } else {
            "symbolic link"
        };
        for p in &problems[..4] {
            assert!(p.contains("weights.bin") && p.contains(want), "{case}: {p}");
        }
    }

    // A linked subfolder leads outside the model's folder.
    let dir = d.join("link_dir");
    std::fs::create_dir(&dir).unwrap();
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::copy(&data, elsewhere.join("ights.bin")).unwrap();
    symlink(&elsewhere, dir.join("s")).unwrap();
    let model = external_model(&dir, "s/ights.bin");
    for p in &external_problems(&model)[..4] {
        assert!(p.contains("outside the model's folder"), "{p}");
    }
}

#[cfg(unix)]
#[test]
fn a_bad_shard_gives_error_rows_and_the_others_are_read() {
    let d = scratch("shards");
    write_safetensors(
        &d.join("good.safetensors"),
        &[("a.weight", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0])],
    );
    // A legal name containing "..": not a parent folder.
    write_safetensors(
        &d.join("model..v2.safetensors"),
        &[("b.weight", vec![1, 2], vec![5.0, 6.0])],
    );
    std::fs::write(
        d.join("corrupt.safetensors"),
        b"\xff\xff\xff\xff not a header",
    )
    .unwrap();
    mkfifo(&d.join("fifo.safetensors"));
    let mut map = serde_json::Map::new();
    for (tensor, shard) in [
        ("a.weight", "good.safetensors"),
        ("b.weight", "model..v2.safetensors"),
        ("c.weight", "corrupt.safetensors"),
        ("d.weight", "gone.safetensors"),
        ("e.weight", "../outside.safetensors"),
        ("f.weight", "fifo.safetensors"),
        ("g.weight", "corrupt.safetensors"),
    ] {
        map.insert(tensor.into(), shard.into());
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(d.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let dir = d.clone();
    let src = within_time("sharded folder", move || open(&dir).unwrap());
    assert_eq!(
        names(&*src),
        ["a.weight", "b.weight", "c.weight", "d.weight", "e.weight", "f.weight", "g.weight"]
    );
    assert_eq!(values(&*src, "a.weight"), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(values(&*src, "b.weight"), [5.0, 6.0]);
    let shard_of = [
        (
            "c.weight",
            "corrupt.safetensors",
            "not a valid safetensors file",
        ),
        ("d.weight", "gone.safetensors", "No such file"),
        ("e.weight", "outside.safetensors", "outside the folder"),
        ("f.weight", "fifo.safetensors", "FIFO"),
        (
            "g.weight",
            "corrupt.safetensors",
            "not a valid safetensors file",
        ),
    ];
    for (tensor, file, why) in shard_of {
        let e = errors(&*src, tensor);
        assert_eq!(e.len(), 1, "{tensor}");
        assert!(
            e[0].contains(file) && e[0].contains(tensor) && e[0].contains(why),
            "{tensor}: {}",
            e[0]
        );
        let t = src.tensors().iter().find(|t| t.name == tensor).unwrap();
        assert!(t.shape.is_empty() && t.problem.is_some(), "{tensor}");
    }

    // Without an index: every *.safetensors file; the unreadable one is one error row named
    // after it.
    let d = scratch("shards_no_index");
    write_safetensors(
        &d.join("a.safetensors"),
        &[("a.weight", vec![1, 2], vec![1.0, 2.0])],
    );
    std::fs::write(d.join("b.safetensors"), b"short").unwrap();
    let src = open(&d).unwrap();
    assert_eq!(names(&*src), ["a.weight", "b.safetensors"]);
    assert_eq!(values(&*src, "a.weight"), [1.0, 2.0]);
    let e = errors(&*src, "b.safetensors");
    assert!(e[0].contains("shorter than the 8-byte header"), "{}", e[0]);
}

/// The error row of every later occurrence: the rule of `mark_duplicate_names`.
fn assert_later_copies_are_errors(
    src: &dyn TensorSource,
    name: &str,
    later: usize,
    first_in: &Path,
) {
    let e = errors(src, name);
    assert_eq!(e.len(), later, "{name}: {e:?}");
    let want = format!("duplicate tensor name (first in {})", first_in.display());
    for e in &e {
        assert!(e.contains(name) && e.contains(&want), "{e}");
    }
}

#[test]
fn duplicate_names_first_is_read_later_ones_are_errors() {
    // safetensors: a JSON header with a repeated key (serde would keep the last in silence).
    let header = r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"x":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"w":{"dtype":"F32","shape":[1,1],"data_offsets":[12,16]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header.as_bytes());
    for v in [1.0f32, 2.0, 3.0, 4.0] {
        bytes.extend(v.to_le_bytes());
    }
    let st = SafetensorsFile::from_bytes(Path::new("mem.safetensors"), bytes).unwrap();
    assert_eq!(names(&st), ["w", "x", "w"]);
    assert_eq!(st.read_f64(0).unwrap(), [1.0, 2.0]);
    assert_eq!(st.read_f64(1).unwrap(), [3.0]);
    assert!(st.tensors()[2].shape.is_empty());
    assert_later_copies_are_errors(&st, "w", 1, Path::new("mem.safetensors"));

    // npz with two "w.npy" entries (written with zipfile by tools/make_input_fixtures.py).
    let npz = fixture_dir("numpy").join("duplicate_names.npz");
    let src = open(&npz).unwrap();
    assert_eq!(names(&*src), ["w", "w", "head"]);
    let reference = fixture_dir("numpy").join("duplicate_names.ref.safetensors");
    let reference = open(&reference).unwrap();
    assert_eq!(values(&*src, "w"), values(&*reference, "w"));
    assert_eq!(values(&*src, "head"), values(&*reference, "head"));
    assert_later_copies_are_errors(&*src, "w", 1, &npz);

    // A pickle whose nested dict flattens onto an existing name: torch.save of
    // {"enc.w": A, "enc": {"w": B}, "head.w": C}.
    let pt = fixture_dir("pytorch").join("duplicate_names.pt");
    let src = open(&pt).unwrap();
    assert_eq!(names(&*src), ["enc.w", "enc.w", "head.w"]);
    let reference = open(&fixture_dir("pytorch").join("duplicate_names.safetensors")).unwrap();
    assert_eq!(values(&*src, "enc.w"), values(&*reference, "enc.w"));
    assert_eq!(values(&*src, "head.w"), values(&*reference, "head.w"));
    assert_later_copies_are_errors(&*src, "enc.w", 1, &pt);
}

#[test]
fn duplicate_names_across_shards() {
    // Without an index: the first file by name holds the analysed copy.
    let d = scratch("dup_shards");
    write_safetensors(
        &d.join("a.safetensors"),
        &[("w", vec![1, 2], vec![1.0, 2.0])],
    );
    write_safetensors(
        &d.join("b.safetensors"),
        &[
            ("w", vec![1, 2], vec![3.0, 4.0]),
            ("v", vec![1, 1], vec![5.0]),
        ],
    );
    let src = open(&d).unwrap();
    // The safetensors writer stores "v" before "w" in b.safetensors.
    assert_eq!(names(&*src), ["w", "v", "w"]);
    assert_eq!(src.read_f64(0).unwrap(), [1.0, 2.0]);
    assert_eq!(values(&*src, "v"), [5.0]);
    assert_later_copies_are_errors(&*src, "w", 1, &d.join("a.safetensors"));

    // With an index that puts "w" in b.safetensors: the index's copy is the first.
    let index = serde_json::json!({
        "weight_map": { "w": "b.safetensors", "v": "b.safetensors", "u": "a.safetensors" }
    });
    write_safetensors(
        &d.join("a.safetensors"),
        &[
            ("w", vec![1, 2], vec![1.0, 2.0]),
            ("u", vec![1, 1], vec![6.0]),
        ],
    );
    std::fs::write(d.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let src = open(&d).unwrap();
    assert_eq!(names(&*src), ["w", "w", "v", "u"]);
    assert_eq!(src.read_f64(0).unwrap(), [3.0, 4.0]);
    assert_eq!(values(&*src, "u"), [6.0]);
    assert_later_copies_are_errors(&*src, "w", 1, &d.join("b.safetensors"));
    assert!(!src.reads_blocks(1));
}
