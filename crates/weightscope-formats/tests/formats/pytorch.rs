//! PyTorch checkpoints written by real `torch.save` (tools/make_pytorch_fixtures.py), each
//! checked bit-for-bit against the same tensors in a `.safetensors` reference.

use super::common::{fixture_dir, names, repo_path};
use std::path::PathBuf;
use weightscope_formats::{open, pytorch::PyTorchFile, DType, TensorSource};

fn fixture(name: &str) -> PathBuf {
    fixture_dir("pytorch").join(name)
}

/// Every tensor of `reference` is in `checkpoint` with the same shape and dtype, and its
/// values have the same bits; `checkpoint` has nothing else except `extra` (listed tensors
/// that the reference lacks, e.g. non-float ones). Returns the checkpoint.
fn assert_same(checkpoint: &str, reference: &str) -> Box<dyn TensorSource> {
    let pt = open(&fixture(checkpoint)).unwrap_or_else(|e| panic!("{e}"));
    let st = open(&fixture(reference)).unwrap();
    assert_same_sources(&*pt, &*st, checkpoint);
    pt
}

fn assert_same_sources(pt: &dyn TensorSource, st: &dyn TensorSource, what: &str) {
    let mut pt_names = names(pt);
    let mut st_names = names(st);
    pt_names.sort();
    st_names.sort();
    assert_eq!(pt_names, st_names, "{what}: tensor names");
    for (i, t) in pt.tensors().iter().enumerate() {
        let j = st.tensors().iter().position(|r| r.name == t.name).unwrap();
        let r = &st.tensors()[j];
        assert_eq!(t.shape, r.shape, "{what}: {} shape", t.name);
        assert_eq!(t.dtype, r.dtype, "{what}: {} dtype", t.name);
        assert!(t.problem.is_none(), "{what}: {}: {:?}", t.name, t.problem);
        if !t.dtype.is_float() {
            let e = pt.read_f64(i).unwrap_err().to_string();
            assert!(e.contains("unsupported dtype"), "{e}");
            continue;
        }
        let a = pt.read_f64(i).unwrap_or_else(|e| panic!("{e}"));
        let b = st.read_f64(j).unwrap();
        assert_eq!(a.len(), t.numel());
        let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(
            same && a.len() == b.len(),
            "{what}: {} values differ",
            t.name
        );
    }
}

#[test]
fn zip_format_all_float_dtypes() {
    let pt = assert_same("zip_dtypes.pt", "zip_dtypes.safetensors");
    assert_eq!(pt.format_name(), "pytorch");
    // Pickle (insertion) order is kept.
    assert_eq!(
        names(&*pt),
        [
            "w_f32",
            "w_f16",
            "w_bf16",
            "w_f64",
            "conv.weight",
            "scalar",
            "steps"
        ]
    );
    let dtypes: Vec<DType> = pt.tensors().iter().map(|t| t.dtype.clone()).collect();
    assert_eq!(
        dtypes,
        [
            DType::F32,
            DType::F16,
            DType::BF16,
            DType::F64,
            DType::F32,
            DType::F32,
            DType::Other("I64".into())
        ]
    );
    assert_eq!(pt.tensors()[5].shape, Vec::<usize>::new());
}

#[test]
fn views_strides_offsets_and_shared_storage() {
    let pt = assert_same("views.pt", "views.safetensors");
    assert_eq!(
        names(&*pt),
        [
            "transposed",
            "slice",
            "shared_a",
            "shared_b",
            "half_t",
            "expanded",
            "param",
            "tied.a",
            "tied.b"
        ]
    );
}

#[test]
fn nested_checkpoints_are_unwrapped() {
    let order = [
        "0.weight",
        "0.bias",
        "3.weight",
        "3.bias",
        "4.weight",
        "4.bias",
        "4.running_mean",
        "4.running_var",
        "4.num_batches_tracked",
        "5.weight",
        "5.bias",
    ];
    for f in [
        "nested_state_dict.pt",
        "nested_model.pt",
        "nested_model_state_dict.pt",
        "nested_extras.pt",
    ] {
        // The optimizer's tensors (exp_avg, …) and the epoch/accuracy/strings are ignored.
        let pt = assert_same(f, "nested.safetensors");
        assert_eq!(names(&*pt), order, "{f}");
    }
    let pt = assert_same("nested_generic.pt", "nested_generic.safetensors");
    assert_eq!(
        names(&*pt),
        ["encoder.layer1.weight", "decoder.0", "decoder.1"]
    );
}

#[test]
fn legacy_format() {
    let pt = assert_same("legacy.pt", "legacy.safetensors");
    assert_eq!(pt.format_name(), "pytorch (legacy)");
    assert_eq!(pt.tensors()[0].name, "a.weight");
}

#[test]
fn legacy_truncated_keeps_the_storages_before_the_cut() {
    let pt = open(&fixture("legacy_truncated.pt")).unwrap();
    let full = open(&fixture("legacy.pt")).unwrap();
    assert_eq!(names(&*pt), names(&*full));
    let (mut ok, mut bad) = (0, 0);
    for (i, t) in pt.tensors().iter().enumerate() {
        if !t.dtype.is_float() {
            continue;
        }
        match pt.read_f64(i) {
            Ok(v) => {
                ok += 1;
                assert_eq!(v, full.read_f64(i).unwrap());
            }
            Err(e) => {
                bad += 1;
                let e = e.to_string();
                assert!(e.contains("legacy_truncated.pt"), "{e}");
                assert!(e.contains(&t.name), "{e}");
                assert!(e.contains("truncated"), "{e}");
            }
        }
    }
    assert!(ok > 0 && bad > 0, "ok {ok}, bad {bad}");
}

#[test]
fn zip_variants_deflated_and_big_endian() {
    let pt = assert_same("deflated.pt", "zip_dtypes.safetensors");
    assert_eq!(pt.tensors().len(), 7);
    assert_same("big_endian.pt", "zip_dtypes.safetensors");
}

#[test]
fn missing_storage_loses_only_its_tensor() {
    let pt = open(&fixture("missing_storage.pt")).unwrap();
    let st = open(&fixture("zip_dtypes.safetensors")).unwrap();
    assert_eq!(pt.tensors().len(), 7);
    for (i, t) in pt.tensors().iter().enumerate() {
        if t.name == "w_f16" {
            let p = t.problem.as_deref().unwrap();
            assert!(p.contains("data/1") && p.contains("missing"), "{p}");
            let e = pt.read_f64(i).unwrap_err().to_string();
            assert!(
                e.contains("missing_storage.pt") && e.contains("w_f16"),
                "{e}"
            );
        } else if t.dtype.is_float() {
            let j = st.tensors().iter().position(|r| r.name == t.name).unwrap();
            assert_eq!(pt.read_f64(i).unwrap(), st.read_f64(j).unwrap());
        }
    }
}

#[test]
fn truncated_zip_is_a_clear_error() {
    let e = open(&fixture("truncated.pt")).err().unwrap().to_string();
    assert!(e.contains("truncated.pt"), "{e}");
    assert!(e.contains("truncated or corrupt"), "{e}");
}

#[test]
fn malicious_pickles_are_refused_not_run() {
    let e = open(&fixture("malicious_os_system.pt"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("malicious_os_system.pt"), "{e}");
    assert!(
        e.contains("refusing to load global os.system: a checkpoint is data, not code"),
        "{e}"
    );
    let e = open(&fixture("malicious_eval.pt"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("malicious_eval.pt"), "{e}");
    assert!(e.contains("refusing to load global builtins.eval"), "{e}");
}

#[test]
fn whole_models_and_torchscript_are_refused_with_advice() {
    let e = open(&fixture("whole_model.pt")).err().unwrap().to_string();
    assert!(e.contains("torch.nn.modules.linear.Linear"), "{e}");
    assert!(e.contains("state_dict()"), "{e}");
    let e = open(&fixture("torchscript.pt")).err().unwrap().to_string();
    assert!(e.contains("__torch__"), "{e}");
    assert!(e.contains("TorchScript"), "{e}");
}

#[test]
fn hugging_face_folders() {
    let pt = open(&fixture("hf_sharded")).unwrap();
    assert_eq!(pt.format_name(), "pytorch (sharded)");
    // The index's order, not the files' or the alphabet's.
    assert_eq!(
        names(&*pt),
        [
            "lm_head.weight",
            "model.embed.weight",
            "model.layers.0.weight",
            "model.layers.1.weight"
        ]
    );
    assert_eq!(pt.files().len(), 2);
    let st = open(&fixture("hf_sharded.safetensors")).unwrap();
    assert_same_sources(&*pt, &*st, "hf_sharded");

    let single = open(&fixture("hf_single")).unwrap();
    assert_eq!(single.format_name(), "pytorch");
    assert_eq!(
        names(&*single),
        ["model.embed.weight", "model.layers.0.weight"]
    );
}

#[test]
fn mnist_example_matches_its_safetensors_conversion() {
    let pt = open(&fixture("handwriting_model.pth")).unwrap();
    let st = open(&repo_path("examples/mnist-cnn/model.safetensors")).unwrap();
    assert_same_sources(&*pt, &*st, "handwriting_model.pth");
    assert_eq!(pt.tensors().len(), 10);
    assert_eq!(pt.tensors()[0].name, "conv_layers.0.weight");
    assert_eq!(pt.tensors()[6].shape, [256, 1152]);
}

#[test]
fn from_bytes_equals_open_and_survives_every_truncation() {
    let path = fixture("zip_dtypes.pt");
    let bytes = std::fs::read(&path).unwrap();
    let a = PyTorchFile::from_bytes(&path, bytes.clone()).unwrap();
    let b = open(&path).unwrap();
    assert_eq!(names(&a), names(&*b));
    // No prefix of a checkpoint may panic, in either format.
    for f in ["zip_dtypes.pt", "legacy.pt", "views.pt"] {
        let bytes = std::fs::read(fixture(f)).unwrap();
        for n in (0..bytes.len()).step_by(7) {
            if let Ok(s) = PyTorchFile::from_bytes(&path, bytes[..n].to_vec()) {
                for i in 0..s.tensors().len() {
                    let _ = s.read_f64(i);
                }
            }
        }
    }
}
