//! Bad input never aborts the analysis of the other layers, and never panics.

use std::path::{Path, PathBuf};
use weightscope::Status;
use weightscope::{analyze, describe, formats, Error, Options};

use crate::common::{f32_bytes, safetensors_bytes, Rng};

fn random_f32(n: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng(seed);
    (0..n).map(|_| r.next() as f32).collect()
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weightscope-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn good_layer() -> (&'static str, &'static str, Vec<usize>, Vec<u8>) {
    (
        "good.weight",
        "F32",
        vec![60, 30],
        f32_bytes(&random_f32(1800, 1)),
    )
}

#[test]
fn missing_file_names_the_path() {
    let e = analyze(
        Path::new("/nonexistent/model.safetensors"),
        &Options::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Read(formats::Error::Io { .. })));
    assert!(
        e.to_string().contains("/nonexistent/model.safetensors"),
        "{e}"
    );
}

#[test]
fn a_text_file_named_safetensors_is_a_format_error() {
    let p = tmp(
        "text.safetensors",
        b"this is not a checkpoint at all, just text",
    );
    let e = analyze(&p, &Options::default()).unwrap_err();
    assert!(
        matches!(e, Error::Read(formats::Error::Format { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("text.safetensors"));
}

#[test]
fn corrupt_header_json_is_a_format_error() {
    let mut b = safetensors_bytes(&[good_layer()]);
    b[8] = b'#'; // the opening brace of the JSON header
    let p = tmp("corrupt.safetensors", &b);
    let e = describe(&p, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("not JSON"), "{e}");
}

#[test]
fn header_claiming_more_bytes_than_the_file_has() {
    let mut b = safetensors_bytes(&[good_layer()]);
    b[..8].copy_from_slice(&(1u64 << 20).to_le_bytes());
    let p = tmp("short-header.safetensors", &b);
    let e = analyze(&p, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("header claims"), "{e}");
}

#[test]
fn truncated_file_loses_only_the_tensors_past_the_end() {
    let b = safetensors_bytes(&[
        good_layer(),
        (
            "cut.weight",
            "F32",
            vec![40, 20],
            f32_bytes(&random_f32(800, 2)),
        ),
    ]);
    let p = tmp("truncated.safetensors", &b[..b.len() - 100]);
    let r = analyze(&p, &Options::default()).unwrap();
    assert_eq!(r.layers.len(), 2);
    assert_eq!(r.layers[0].status, Status::Success);
    assert_eq!(r.layers[1].status, Status::Error);
    let msg = &r.layers[1].message;
    assert!(
        msg.contains("truncated")
            && msg.contains("cut.weight")
            && msg.contains("truncated.safetensors"),
        "{msg}"
    );
}

#[test]
fn nan_inf_zero_and_tiny_layers_do_not_stop_the_others() {
    let mut nan = random_f32(1800, 3);
    nan[5] = f32::NAN;
    nan[7] = f32::INFINITY;
    let b = safetensors_bytes(&[
        ("nan.weight", "F32", vec![60, 30], f32_bytes(&nan)),
        ("zero.weight", "F32", vec![60, 30], vec![0u8; 7200]),
        (
            "row.weight",
            "F32",
            vec![1, 50],
            f32_bytes(&random_f32(50, 4)),
        ),
        ("ints", "I32", vec![10, 10], vec![0u8; 400]),
        good_layer(),
    ]);
    let p = tmp("mixed.safetensors", &b);
    let r = analyze(&p, &Options::default()).unwrap();
    let by = |n: &str| r.layers.iter().find(|l| l.longname == n).unwrap();
    assert_eq!(by("nan.weight").status, Status::Error);
    assert!(
        by("nan.weight").message.contains("1 NaN and 1 infinite"),
        "{}",
        by("nan.weight").message
    );
    assert!(by("nan.weight").message.contains("mixed.safetensors"));
    assert_eq!(by("zero.weight").status, Status::Error);
    assert!(by("zero.weight").message.contains("all-zero"));
    assert_eq!(by("good.weight").status, Status::Success);
    let skipped: Vec<_> = r
        .skipped
        .iter()
        .map(|s| (s.longname.as_str(), s.reason.as_str()))
        .collect();
    assert!(
        skipped
            .iter()
            .any(|(n, why)| *n == "row.weight" && why.contains("min-evals")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|(n, why)| *n == "ints" && why.contains("I32")),
        "{skipped:?}"
    );
    assert_eq!(r.summary.layers_error, 2);
    assert_eq!(r.summary.layers_analyzed, 1);
}

#[test]
fn shape_disagreeing_with_offsets_is_a_tensor_error() {
    let mut b = safetensors_bytes(&[good_layer()]);
    // Claim a bigger shape than the data hold: rewrite "[60,30]" to "[90,30]" in the header.
    let s = String::from_utf8_lossy(&b).replace("[60,30]", "[90,30]");
    b = s.into_bytes();
    let p = tmp("badshape.safetensors", &b);
    let r = analyze(&p, &Options::default()).unwrap();
    assert_eq!(r.layers[0].status, Status::Error);
    assert!(
        r.layers[0].message.contains("needs"),
        "{}",
        r.layers[0].message
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap stand-in for the fuzz targets: mutate a valid file byte by byte.
    let base = safetensors_bytes(&[
        (
            "a.weight",
            "F32",
            vec![12, 10],
            f32_bytes(&random_f32(120, 5)),
        ),
        ("b.weight", "BF16", vec![10, 10], vec![0x3fu8; 200]),
    ]);
    let mut rng = Rng(9);
    for i in 0..300 {
        let mut b = base.clone();
        let k = ((rng.next() + 0.5) * b.len() as f64) as usize % b.len();
        b[k] = ((rng.next() + 0.5) * 256.0) as u8;
        if i % 7 == 0 {
            b.truncate(k);
        }
        let p = tmp(&format!("mut{i}.safetensors"), &b);
        let _ = analyze(&p, &Options::default());
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn untrained_lora_adapter_is_an_error_row_not_an_abort() {
    // PEFT initialises B to zero: B·A = 0 has no spectrum; the other pair is still analysed.
    let le = |v: Vec<f32>| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let a = le(random_f32(8 * 20, 5));
    let entries = [
        ("x.q.lora_A.weight", "F32", vec![8, 20], a.clone()),
        ("x.q.lora_B.weight", "F32", vec![30, 8], le(vec![0.0; 240])),
        ("x.v.lora_A.weight", "F32", vec![8, 20], a),
        (
            "x.v.lora_B.weight",
            "F32",
            vec![30, 8],
            le(random_f32(240, 6)),
        ),
    ];
    let path = tmp("lora.safetensors", &safetensors_bytes(&entries));
    let report = analyze(&path, &Options::default()).unwrap();
    assert_eq!(report.layers.len(), 2);
    let q = &report.layers[0];
    assert_eq!(q.status, Status::Error);
    assert!(q.message.contains("LoRA B·A is zero"), "{}", q.message);
    assert!(q.message.contains("lora.safetensors"), "{}", q.message);
    assert!(report.layers[1].lambda_max.unwrap() > 0.0);
    assert_eq!(report.layers[1].num_evals, Some(8));
}

#[test]
fn weights_of_extreme_magnitude_give_the_fit_of_the_unscaled_matrix() {
    use crate::common::f64_bytes;
    let mut r = Rng(11);
    let w: Vec<f64> = (0..200 * 50).map(|_| r.next()).collect();
    let scaled = |f: f64| f64_bytes(&w.iter().map(|x| x * f).collect::<Vec<_>>());
    let b = safetensors_bytes(&[
        ("a.weight", "F64", vec![200, 50], scaled(1.0)),
        ("b_up.weight", "F64", vec![200, 50], scaled(2f64.powi(500))),
        (
            "c_down.weight",
            "F64",
            vec![200, 50],
            scaled(2f64.powi(-500)),
        ),
        // WᵀW overflows / underflows f64 even after scaling: λ ≈ 1e320 / 1e-620.
        ("d_huge.weight", "F64", vec![200, 50], scaled(1e160)),
        ("e_subnormal.weight", "F64", vec![200, 50], scaled(1e-310)),
    ]);
    let p = tmp("magnitudes.safetensors", &b);
    for solver in ["auto", "svd"] {
        let opts = Options {
            solver: serde_json::from_value(serde_json::json!(solver)).unwrap(),
            ..Options::default()
        };
        let rep = analyze(&p, &opts).unwrap();
        let by = |n: &str| rep.layers.iter().find(|l| l.longname == n).unwrap();
        let a = by("a.weight");
        assert_eq!(a.status, Status::Success, "{}", a.message);
        // Scaled down, the eigenvalues are exact too, but all below weightwatcher's absolute
        // 1e-5 threshold of the fit (EVALS_THRESH): no fit, as weightwatcher would say.
        let down = by("c_down.weight");
        let scale = 2f64.powi(-500) * 2f64.powi(-500);
        assert_eq!(down.lambda_max, a.lambda_max.map(|x| x * scale), "{solver}");
        assert_eq!(down.status, Status::Failed, "{solver}: {}", down.message);
        assert!(down.message.contains("above 1e-5"), "{}", down.message);
        {
            let (name, k) = ("b_up.weight", 1000);
            let l = by(name);
            assert_eq!(l.status, Status::Success, "{solver} {name}: {}", l.message);
            let scale = 2f64.powi(k / 2) * 2f64.powi(k / 2);
            // Eigenvalues are exact multiples: λmax and xmin (one of them) scale exactly.
            assert_eq!(
                l.lambda_max,
                a.lambda_max.map(|x| x * scale),
                "{solver} {name}"
            );
            assert_eq!(l.xmin, a.xmin.map(|x| x * scale), "{solver} {name}");
            // α and D come from logs of the eigenvalues: equal to rounding.
            let close = |x: Option<f64>, y: Option<f64>| {
                (x.unwrap() - y.unwrap()).abs() <= 1e-12 * y.unwrap().abs()
            };
            assert!(
                close(l.alpha, a.alpha),
                "{solver} {name}: {:?} {:?}",
                l.alpha,
                a.alpha
            );
            assert!(close(l.d, a.d), "{solver} {name}: {:?} {:?}", l.d, a.d);
        }
        let huge = by("d_huge.weight");
        assert_eq!(huge.status, Status::Error);
        assert!(
            huge.message.contains("exceed the range of f64"),
            "{}",
            huge.message
        );
        let tiny = by("e_subnormal.weight");
        assert_eq!(tiny.status, Status::Error);
        assert!(
            tiny.message.contains("below the range of f64"),
            "{}",
            tiny.message
        );
    }
}
