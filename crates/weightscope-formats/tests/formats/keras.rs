//! The Keras reader against files written by real Keras 3 (and a few synthetic layouts), from
//! `tools/make_keras_fixtures.py`: every tensor is named as designed and bit-identical to the
//! model's weights in `<model>.reference.safetensors` (see tests/fixtures/keras/README.md).

use super::common::{fixture_dir, names};
use std::path::PathBuf;
use weightscope_formats::keras::{KerasFile, Limits};
use weightscope_formats::safetensors::SafetensorsFile;
use weightscope_formats::{open, DType, Error, TensorSource};

fn dir() -> PathBuf {
    fixture_dir("keras")
}

fn manifest() -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let m: serde_json::Value = serde_json::from_str(&text).unwrap();
    m["files"].as_array().unwrap().clone()
}

#[test]
fn every_fixture_matches_its_reference_bit_for_bit() {
    let files = manifest();
    assert!(files.len() >= 15, "manifest lists {} files", files.len());
    for f in files {
        let file = f["file"].as_str().unwrap();
        let src = open(&dir().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let reference = SafetensorsFile::open(&dir().join(f["reference"].as_str().unwrap()))
            .unwrap_or_else(|e| panic!("{file}: reference: {e}"));
        assert_eq!(src.format_name(), f["format"].as_str().unwrap(), "{file}");
        let expected: Vec<String> = f["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        let mut got = names(src.as_ref());
        if f["ordered"].as_bool().unwrap() {
            assert_eq!(got, expected, "{file}: names in order");
        } else {
            let mut want = expected.clone();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{file}: names");
        }
        for (i, t) in src.tensors().iter().enumerate() {
            assert!(t.problem.is_none(), "{file}: {}: {:?}", t.name, t.problem);
            assert_eq!(t.file, dir().join(file));
            let r = reference
                .tensors()
                .iter()
                .position(|x| x.name == t.name)
                .unwrap_or_else(|| panic!("{file}: {} not in the reference", t.name));
            let rt = &reference.tensors()[r];
            assert_eq!(t.shape, rt.shape, "{file}: {}: shape", t.name);
            assert_eq!(t.dtype, rt.dtype, "{file}: {}: dtype", t.name);
            let a = src.read_f64(i).unwrap_or_else(|e| panic!("{file}: {e}"));
            let b = reference.read_f64(r).unwrap();
            assert_eq!(a.len(), b.len(), "{file}: {}", t.name);
            // Both decode the same stored type to f64 exactly: equal bits iff equal values.
            let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{file}: {}: values differ from the reference", t.name);
        }
    }
}

#[test]
fn kernels_and_embeddings_are_weights_with_keras_shapes() {
    let shapes = |file: &str| -> Vec<(String, Vec<usize>, DType)> {
        let src = open(&dir().join(file)).unwrap();
        src.tensors()
            .iter()
            .map(|t| (t.name.clone(), t.shape.clone(), t.dtype.clone()))
            .collect()
    };
    // Dense kernels stay (in, out); the optimizer state is not listed.
    let mlp = shapes("mlp.keras");
    assert_eq!(mlp.len(), 4);
    assert_eq!(mlp[0], ("hidden.weight".into(), vec![20, 16], DType::F32));
    assert_eq!(mlp[1], ("hidden.bias".into(), vec![16], DType::F32));
    // Conv2D kernels stay channels-last (kh, kw, in, out).
    let cnn = shapes("cnn.h5");
    assert_eq!(cnn[0], ("conv.weight".into(), vec![3, 3, 3, 8], DType::F32));
    assert_eq!(cnn[6], ("fc.weight".into(), vec![200, 10], DType::F32));
    // Embedding tables are weights; 3-D einsum kernels of attention are not.
    let seq = shapes("seq.keras");
    let find = |n: &str| seq.iter().find(|t| t.0 == n).unwrap().1.clone();
    assert_eq!(find("embed.weight"), vec![50, 8]);
    assert_eq!(find("conv1d_layer.weight"), vec![3, 8, 6]);
    assert_eq!(find("mha.query.kernel"), vec![8, 2, 4]);
    assert_eq!(find("lstm.lstm_cell.weight"), vec![8, 24]);
    assert_eq!(find("head.head_dense.weight"), vec![12, 5]);
    // Half precision: Keras' opaque bfloat16 and IEEE float16.
    let half = shapes("half.keras");
    assert_eq!(half[0].2, DType::BF16);
    assert_eq!(half[2].2, DType::F16);
}

#[test]
fn from_bytes_reads_like_a_file() {
    for file in [
        "mlp.keras",
        "mlp.deflated.keras",
        "cnn.tf2.h5",
        "seq.weights.h5",
    ] {
        let path = dir().join(file);
        let bytes = std::fs::read(&path).unwrap();
        let mem = KerasFile::from_bytes(&path, bytes, Limits::default()).unwrap();
        let disk = open(&path).unwrap();
        assert_eq!(names(&mem), names(disk.as_ref()), "{file}");
        for i in 0..mem.tensors().len() {
            assert_eq!(mem.read_f64(i).unwrap(), disk.read_f64(i).unwrap());
        }
    }
}

#[test]
fn limits_are_errors() {
    let path = dir().join("mlp.deflated.keras");
    let bytes = std::fs::read(&path).unwrap();
    let small = Limits {
        max_tensor_bytes: 1 << 20,
        max_inflated_bytes: 1000,
    };
    let e = KerasFile::from_bytes(&path, bytes, small).err().unwrap();
    assert!(e.to_string().contains("re-zip"), "{e}");
    // A tensor over the limit fails alone.
    let path = dir().join("mlp.keras");
    let bytes = std::fs::read(&path).unwrap();
    let tiny = Limits {
        max_tensor_bytes: 100,
        ..Limits::default()
    };
    let src = KerasFile::from_bytes(&path, bytes, tiny).unwrap();
    let e = src.read_f64(0).unwrap_err().to_string();
    assert!(
        e.contains("tensor 'hidden.weight'") && e.contains("limit"),
        "{e}"
    );
    assert_eq!(src.read_f64(1).unwrap().len(), 16);
}

#[test]
fn corrupt_files_are_clear_errors_naming_the_file() {
    let corrupt = dir().join("corrupt");
    for (file, needle) in [
        ("garbage.h5", "neither HDF5"),
        ("no-weights.keras", "no model.weights.h5"),
        ("truncated.keras", "not a valid .keras"),
        ("bad-weights.keras", "model.weights.h5 in the archive"),
    ] {
        let path = corrupt.join(file);
        let e = open(&path).err().unwrap_or_else(|| panic!("{file} opened"));
        assert!(matches!(e, Error::Format { .. }), "{file}: {e:?}");
        let msg = e.to_string();
        assert!(msg.starts_with(&format!("{}: ", path.display())), "{msg}");
        assert!(msg.contains(needle), "{file}: {msg}");
    }
    // Half a legacy .h5: the tensors before the cut are read, the others fail one by one,
    // each error naming the file and the tensor.
    let path = corrupt.join("truncated.h5");
    let src = open(&path).unwrap();
    let mut ok = 0;
    let mut failed = 0;
    for (i, t) in src.tensors().iter().enumerate() {
        match src.read_f64(i) {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                let msg = e.to_string();
                let head = format!("{}: tensor '{}': ", path.display(), t.name);
                assert!(msg.starts_with(&head), "{msg}");
            }
        }
    }
    assert!(ok >= 1 && failed >= 1, "ok {ok}, failed {failed}");
}

#[test]
fn a_compressed_archive_claiming_more_than_deflate_can_compress_is_refused() {
    // mlp.deflated.keras with its central directory's uncompressed size of model.weights.h5
    // raised to 2000× the compressed size (deflate's ceiling is ~1032:1): refused before
    // anything is inflated, where the real archive opens.
    let path = dir().join("mlp.deflated.keras");
    let mut bytes = std::fs::read(&path).unwrap();
    let name = b"model.weights.h5";
    let cd = (0..bytes.len() - 46)
        .find(|&i| bytes[i..i + 4] == *b"PK\x01\x02" && bytes[i + 46..].starts_with(name))
        .expect("central directory entry");
    let csize = u32::from_le_bytes(bytes[cd + 20..cd + 24].try_into().unwrap());
    let claimed = csize.saturating_mul(2000);
    bytes[cd + 24..cd + 28].copy_from_slice(&claimed.to_le_bytes());
    let e = KerasFile::from_bytes(&path, bytes, Limits::default())
        .err()
        .expect("refused");
    assert!(e.to_string().contains("deflate bomb"), "{e}");
    assert!(KerasFile::from_bytes(&path, std::fs::read(&path).unwrap(), Limits::default()).is_ok());
}
