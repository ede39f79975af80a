//! The command line as a user meets it: exit codes, outputs, determinism, resume, inputs;
//! and, in [`golden`], every writer's output against the committed golden files. One test
//! harness (one binary to link) for the crate.

mod golden;
mod hub;
mod shard;
mod smooth;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weightscope"))
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/mnist-cnn/model.safetensors")
}

pub(crate) fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("weightscope-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run weightscope");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// A .npy (v1) holding `data` (f64, row-major) of `shape`.
fn npy(shape: &[usize], data: &[f64]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut h = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((h.len() as u16).to_le_bytes());
    out.extend(h.as_bytes());
    out.extend(data.iter().flat_map(|x| x.to_le_bytes()));
    out
}

fn pseudo_random(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        })
        .collect()
}

#[test]
fn analyze_example_writes_csv_and_json_and_exits_0() {
    let d = tmpdir("ex");
    let (csv, json) = (d.join("d.csv"), d.join("d.json"));
    let out = run(bin()
        .arg("analyze")
        .arg(example())
        .arg("--csv")
        .arg(&csv)
        .arg("--json")
        .arg(&json));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("fc_layers.0") && stdout.contains("alpha_weighted"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("layer_id,name,longname,layer_type"));
    assert_eq!(text.lines().count(), 6); // header + 5 layers
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["layers"].as_array().unwrap().len(), 5);
    assert_eq!(v["skipped"].as_array().unwrap().len(), 5);
    // No journal left behind after a finished run.
    assert!(!d.join("d.json.partial.jsonl").exists());
}

#[test]
fn output_bytes_do_not_depend_on_thread_count() {
    let d = tmpdir("det");
    let mut outs = Vec::new();
    for t in ["1", "2", "3"] {
        let p = d.join(format!("t{t}.json"));
        let c = d.join(format!("t{t}.csv"));
        run(bin()
            .arg("analyze")
            .arg(example())
            .args(["--threads", t, "-q", "--json"])
            .arg(&p)
            .arg("--csv")
            .arg(&c));
        outs.push((std::fs::read(&p).unwrap(), std::fs::read(&c).unwrap()));
    }
    assert!(outs.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn missing_file_exits_2_and_names_it() {
    let out = run(bin().args(["analyze", "/no/such/model.safetensors"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/model.safetensors"));
}

#[test]
fn a_bad_layer_exits_1_and_the_rest_is_analysed() {
    let d = tmpdir("bad");
    let mut good = pseudo_random(40 * 20, 1);
    let mut bad = pseudo_random(30 * 10, 2);
    bad[3] = f64::NAN;
    good[0] += 1.0;
    std::fs::write(d.join("a_good.npy"), npy(&[40, 20], &good)).unwrap();
    std::fs::write(d.join("b_bad.npy"), npy(&[30, 10], &bad)).unwrap();
    let out = run(bin().arg("analyze").arg(&d));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("a_good") && stdout.contains("1 layers analysed"),
        "{stdout}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("b_bad"));
}

#[test]
fn a_missing_shard_is_error_rows_and_the_other_shards_are_analysed() {
    let d = tmpdir("lost_shard");
    // A legal shard name containing "..", and a shard the index names that is not there.
    std::fs::copy(example(), d.join("model..v2.safetensors")).unwrap();
    let index = serde_json::json!({"metadata": {}, "weight_map": {
        "fc_layers.2.weight": "model..v2.safetensors",
        "lost.weight": "model-00002-of-00002.safetensors"
    }});
    std::fs::write(d.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let out = run(bin().arg("analyze").arg(&d));
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("fc_layers.2") && stdout.contains("conv_layers.0"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lost.weight") && stderr.contains("model-00002-of-00002.safetensors"),
        "{stderr}"
    );
}

#[test]
fn onnx_weights_in_constant_nodes_are_analysed() {
    // tools/make_input_fixtures.py: a Gemm (16×8) and a MatMul (16×4) weight, both Constant
    // nodes; each has at least 4 eigenvalues.
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/onnx/constants.onnx");
    let out = run(bin().arg("analyze").arg(&model).args(["--min-evals", "4"]));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("2 layers analysed"), "{stdout}");
}

#[test]
fn npz_and_npy_give_the_same_numbers() {
    let d = tmpdir("npz");
    let w = pseudo_random(50 * 20, 7);
    std::fs::write(d.join("w.npy"), npy(&[50, 20], &w)).unwrap();
    let f = std::fs::File::create(d.join("m.npz")).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let o = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    z.start_file("w.npy", o).unwrap();
    z.write_all(&npy(&[50, 20], &w)).unwrap();
    z.finish().unwrap();
    let a = run(bin()
        .arg("analyze")
        .arg(d.join("w.npy"))
        .args(["-q", "--json"])
        .arg(d.join("a.json")));
    let b = run(bin()
        .arg("analyze")
        .arg(d.join("m.npz"))
        .args(["-q", "--json"])
        .arg(d.join("b.json")));
    assert_eq!((a.status.code(), b.status.code()), (Some(0), Some(0)));
    let va: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("a.json")).unwrap()).unwrap();
    let vb: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("b.json")).unwrap()).unwrap();
    assert_eq!(va["layers"], vb["layers"]);
}

#[test]
fn resume_reuses_the_journal_of_an_interrupted_run() {
    let d = tmpdir("resume");
    let json = d.join("r.json");
    // A complete run gives the rows and the journal header.
    run(bin()
        .arg("analyze")
        .arg(example())
        .args(["-q", "--json"])
        .arg(&json));
    let full: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    // Forge the journal an interrupted run would leave: header + the first row, with a
    // marker value that only the journal could supply.
    let header = journal_header(&example(), &full["options"]);
    let mut row = full["layers"][0].clone();
    row["alpha"] = serde_json::json!(123.5);
    let journal = d.join("r.json.partial.jsonl");
    std::fs::write(
        &journal,
        format!(
            "{}\n{}\n{{\"cut short",
            serde_json::to_string(&header).unwrap(),
            row
        ),
    )
    .unwrap();
    let out = run(bin()
        .arg("analyze")
        .arg(example())
        .args(["-q", "--resume", "--json"])
        .arg(&json));
    assert_eq!(out.status.code(), Some(0));
    let resumed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(resumed["layers"][0]["alpha"], 123.5);
    assert_eq!(resumed["layers"][1], full["layers"][1]);
    assert!(!journal.exists());
    // A journal from other options is refused rather than mixed in.
    std::fs::write(
        &journal,
        "{\"weightscope_journal\":1,\"source\":\"other\"}\n",
    )
    .unwrap();
    let out = run(bin()
        .arg("analyze")
        .arg(example())
        .args(["-q", "--resume", "--json"])
        .arg(&json));
    assert_eq!(out.status.code(), Some(2));
}

/// The header line a run of `model` with `options` writes to its journal.
fn journal_header(model: &Path, options: &serde_json::Value) -> serde_json::Value {
    let identity = weightscope::formats::identity(model, &[model.to_path_buf()]).unwrap();
    serde_json::json!({
        "weightscope_journal": 2,
        "source": model.display().to_string(),
        "options": options,
        "identity": identity,
    })
}

/// Run `analyze model -q --json json`, with `--resume` when asked; the report written.
fn analyze_json(model: &Path, json: &Path, resume: bool) -> (Output, serde_json::Value) {
    let mut cmd = bin();
    cmd.arg("analyze")
        .arg(model)
        .args(["-q", "--json"])
        .arg(json);
    if resume {
        cmd.arg("--resume");
    }
    let out = run(&mut cmd);
    let v = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    (out, v)
}

#[test]
fn resume_starts_over_when_the_checkpoint_was_replaced() {
    let d = tmpdir("resume_replaced");
    let model = d.join("m.safetensors");
    std::fs::copy(example(), &model).unwrap();
    let json = d.join("r.json");
    let (_, full) = analyze_json(&model, &json, false);
    // The journal of an interrupted run of this very file, one row marked.
    let mut row = full["layers"][0].clone();
    row["alpha"] = serde_json::json!(123.5);
    let journal = d.join("r.json.partial.jsonl");
    let header = journal_header(&model, &full["options"]);
    std::fs::write(&journal, format!("{header}\n{row}\n")).unwrap();
    // The checkpoint is then rewritten with other weights (same size and tensors).
    let mut bytes = std::fs::read(&model).unwrap();
    let last = bytes.len() - 8;
    bytes[last] ^= 0x55;
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&model, &bytes).unwrap();
    let (out, resumed) = analyze_json(&model, &json, true);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the checkpoint has changed") && stderr.contains("m.safetensors"),
        "{stderr}"
    );
    // Nothing of the old journal is reused: the rows are those of a fresh run of the new file.
    let (_, fresh) = analyze_json(&model, &d.join("fresh.json"), false);
    assert_ne!(resumed["layers"][0]["alpha"], 123.5);
    assert_eq!(resumed["layers"], fresh["layers"]);
    assert!(!journal.exists());
}

#[test]
fn resume_drops_journal_rows_that_do_not_match_the_checkpoint() {
    let d = tmpdir("resume_rows");
    let json = d.join("r.json");
    let (_, full) = analyze_json(&example(), &json, false);
    let header = journal_header(&example(), &full["options"]);
    // Row 0 names another tensor, row 1 has another shape, row 2 another kind, row 3 is
    // a layer id the checkpoint does not have; row 4 is right (and marked).
    let mut rows: Vec<serde_json::Value> = (0..5).map(|i| full["layers"][i].clone()).collect();
    rows[0]["longname"] = "someone.else.weight".into();
    rows[1]["shape"] = serde_json::json!([1, 2]);
    rows[2]["layer_type"] = "embedding".into();
    rows[3]["layer_id"] = 999.into();
    for r in &mut rows {
        r["alpha"] = serde_json::json!(123.5);
    }
    let lines: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    std::fs::write(
        d.join("r.json.partial.jsonl"),
        format!("{header}\n{}\n", lines.join("\n")),
    )
    .unwrap();
    let (out, resumed) = analyze_json(&example(), &json, true);
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("4 row(s) do not match"), "{stderr}");
    for i in 0..4 {
        assert_eq!(resumed["layers"][i], full["layers"][i], "row {i}");
    }
    assert_eq!(resumed["layers"][4]["alpha"], 123.5);
}

#[test]
fn sharded_folder_follows_the_index_order() {
    let d = tmpdir("shards");
    let src = std::fs::read(example()).unwrap();
    // Two "shards" that are the same file, each holding all tensors; the index picks from both.
    std::fs::write(d.join("model-00001-of-00002.safetensors"), &src).unwrap();
    std::fs::write(d.join("model-00002-of-00002.safetensors"), &src).unwrap();
    let index = serde_json::json!({"metadata": {}, "weight_map": {
        "fc_layers.2.weight": "model-00002-of-00002.safetensors",
        "conv_layers.3.weight": "model-00001-of-00002.safetensors"
    }});
    std::fs::write(d.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let out = run(bin().arg("describe").arg(&d));
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    let first = s.find("fc_layers.2.weight").unwrap();
    let second = s.find("conv_layers.3.weight").unwrap();
    assert!(first < second, "{s}");
}

#[test]
fn layer_filter_by_id_substring_and_regex() {
    let out = run(bin()
        .arg("analyze")
        .arg(example())
        .args(["--layers", "1,fc_layers.2,/conv_layers\\.6/", "--json"])
        .arg(tmpdir("flt").join("f.json")));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("3 layers analysed"), "{s}");
    assert!(!s.contains("fc_layers.0"));
}

#[test]
fn synth_writes_a_matrix_whose_phase_analyze_recovers() {
    let d = tmpdir("synth");
    for (phase, want) in [
        ("bulk-spikes", "Bulk+Spikes"),
        ("rank-collapse", "Rank-collapse"),
        ("random-like", "Random-like"),
    ] {
        let f = d.join(format!("{phase}.safetensors"));
        let out = run(bin()
            .args([
                "synth", "--phase", phase, "--shape", "400x200", "--seed", "5", "-o",
            ])
            .arg(&f));
        assert_eq!(out.status.code(), Some(0));
        let out = run(bin().arg("analyze").arg(&f).args(["--phase", "-q"]));
        let s = String::from_utf8_lossy(&out.stdout);
        assert!(s.contains(&format!("1 {want}")), "{phase}: {s}");
    }
    let out = run(bin()
        .args(["synth", "--phase", "nonsense", "-o"])
        .arg(d.join("x.safetensors")));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown phase"));
}

#[test]
fn all_diagnosis_flags_add_their_columns_and_stay_deterministic() {
    let d = tmpdir("all");
    let (a, b) = (d.join("a.csv"), d.join("b.csv"));
    run(bin()
        .arg("analyze")
        .arg(example())
        .args(["--all", "-q", "--threads", "1", "--csv"])
        .arg(&a));
    run(bin()
        .arg("analyze")
        .arg(example())
        .args(["--all", "-q", "--threads", "2", "--csv"])
        .arg(&b));
    let text = std::fs::read_to_string(&a).unwrap();
    for col in [
        "sigma_mp",
        "mp_softrank",
        "rand_distance",
        "tail_mean_vec_entropy",
        "phase",
    ] {
        assert!(
            text.lines().next().unwrap().split(',').any(|c| c == col),
            "{col}"
        );
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
}

#[test]
fn track_compare_and_rank_on_a_small_series() {
    let d = tmpdir("series");
    let base = pseudo_random(80 * 40, 11);
    // Three "checkpoints" of one layer, the signal growing: a rank-one term added to W.
    for (k, step) in [(0.0, 1), (3.0, 2), (9.0, 10)] {
        let dir = d.join(format!("epoch_{step}"));
        std::fs::create_dir_all(&dir).unwrap();
        let w: Vec<f64> = (0..80 * 40)
            .map(|i| base[i] + k * ((i / 40) as f64 / 80.0 - 0.5) * ((i % 40) as f64 / 40.0 - 0.5))
            .collect();
        std::fs::write(dir.join("fc.npy"), npy(&[80, 40], &w)).unwrap();
    }
    // Given out of order: epoch_10 must come last.
    let out = run(bin()
        .arg("track")
        .arg(d.join("epoch_10"))
        .arg(d.join("epoch_1"))
        .arg(d.join("epoch_2"))
        .arg("-o")
        .arg(d.join("track.csv"))
        .arg("--phase")
        .arg("--plots")
        .arg(d.join("plots")));
    assert_eq!(out.status.code(), Some(0));
    for stem in [
        "summary",
        "alpha",
        "stable_rank",
        "entropy",
        "mp_softrank",
        "lambda_max",
    ] {
        let svg = std::fs::read_to_string(d.join("plots").join(format!("{stem}.svg")))
            .unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "{stem}"
        );
        assert!(svg.contains("training step"), "{stem}");
        if stem != "summary" {
            assert!(svg.contains("fc"), "{stem}: layer name");
        }
    }
    let t = std::fs::read_to_string(d.join("track.csv")).unwrap();
    let steps: Vec<&str> = t
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(steps, ["1", "2", "10"]);
    assert!(t.lines().next().unwrap().contains("mp_softrank"));

    let out = run(bin()
        .arg("compare")
        .arg(d.join("epoch_1"))
        .arg(d.join("epoch_10"))
        .arg("-o")
        .arg(d.join("cmp.csv")));
    assert_eq!(out.status.code(), Some(0));
    let c = std::fs::read_to_string(d.join("cmp.csv")).unwrap();
    assert_eq!(c.lines().count(), 2, "{c}");
    // ΔW is exactly rank one: its spectrum has one non-zero eigenvalue, so stable rank 1.
    let row: Vec<&str> = c.lines().nth(1).unwrap().split(',').collect();
    let header: Vec<&str> = c.lines().next().unwrap().split(',').collect();
    let sr: f64 = row[header
        .iter()
        .position(|h| *h == "delta_stable_rank")
        .unwrap()]
    .parse()
    .unwrap();
    assert!((sr - 1.0).abs() < 1e-9, "{sr}");

    let acc = d.join("acc.csv");
    let names: Vec<String> = [1, 2, 10]
        .iter()
        .map(|s| d.join(format!("epoch_{s}")).display().to_string())
        .collect();
    std::fs::write(
        &acc,
        format!(
            "model,accuracy\n{},0.5\n{},0.6\n{},0.9\n",
            names[0], names[1], names[2]
        ),
    )
    .unwrap();
    let out = run(bin()
        .arg("rank")
        .args(&names)
        .arg("--accuracy")
        .arg(&acc)
        .arg("-o")
        .arg(d.join("rank.csv")));
    assert_eq!(out.status.code(), Some(0));
    let corr = std::fs::read_to_string(d.join("rank.csv.corr.csv")).unwrap();
    assert!(corr.starts_with("metric,models,pearson,spearman"));
    assert_eq!(corr.lines().count(), 8);
}

#[test]
fn track_ensemble_pools_runs_into_one_row_per_layer_with_plots() {
    let d = tmpdir("ensemble");
    let runs: Vec<PathBuf> = (0..3)
        .map(|k| {
            let dir = d.join(format!("run{k}"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join("fc.npy"),
                npy(&[80, 40], &pseudo_random(80 * 40, 20 + k)),
            )
            .unwrap();
            dir
        })
        .collect();
    let out = run(bin()
        .arg("track")
        .args(&runs)
        .arg("--ensemble")
        .arg("-o")
        .arg(d.join("ens.csv"))
        .arg("--plots")
        .arg(d.join("plots")));
    assert_eq!(out.status.code(), Some(0));
    let csv = std::fs::read_to_string(d.join("ens.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let row: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert_eq!(col("runs"), "3");
    assert_eq!(col("num_evals"), "120");
    assert_eq!(col("status"), "success");
    assert!(col("alpha_runs_std").parse::<f64>().unwrap() > 0.0);
    // The pooled ESD's plots, titled with the number of runs, and the model plots.
    let esd = std::fs::read_to_string(d.join("plots/layers/001-fc/esd.svg")).unwrap();
    assert!(esd.contains("pooled over 3 runs"));
    assert!(d.join("plots/layers/001-fc/esd_loglog.svg").exists());
    assert!(d.join("plots/model/depth_alpha.svg").exists());
    // The table on stdout has the pooled row.
    assert!(String::from_utf8_lossy(&out.stdout).contains("fc"));
}

/// Files under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn plot_writes_svg_and_png_of_every_layer_and_of_the_model() {
    let d = tmpdir("plot");
    let out = run(bin()
        .arg("plot")
        .arg(example())
        .args(["--randomize", "-o"])
        .arg(d.join("p")));
    assert_eq!(out.status.code(), Some(0));
    let files = tree(&d.join("p"));
    let model: Vec<_> = files.iter().filter(|f| f.starts_with("model")).collect();
    assert_eq!(model.len(), 12, "{model:?}"); // 6 plots × 2 formats
    for layer in ["001-conv_layers.0", "004-fc_layers.0", "005-fc_layers.2"] {
        let n = files
            .iter()
            .filter(|f| f.starts_with(Path::new("layers").join(layer)))
            .count();
        // 8 plots (9 with the zoomed ESD) × 2 formats.
        assert!(n == 16 || n == 18, "{layer}: {n}");
    }
    for f in &files {
        let bytes = std::fs::read(d.join("p").join(f)).unwrap();
        match f.extension().and_then(|e| e.to_str()) {
            Some("png") => assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", f.display()),
            Some("svg") => assert!(bytes.starts_with(b"<svg") && bytes.ends_with(b"</svg>\n")),
            _ => panic!("unexpected file {}", f.display()),
        }
    }
    let svg = std::fs::read_to_string(d.join("p/layers/004-fc_layers.0/esd_loglog.svg")).unwrap();
    assert!(
        svg.contains("fc_layers.0") && svg.contains("α = 1.956"),
        "{svg}"
    );
}

#[test]
fn analyze_plots_writes_only_the_formats_asked_for() {
    let d = tmpdir("aplots");
    let out = run(bin()
        .arg("analyze")
        .arg(example())
        .args(["-q", "--phase", "--plot-format", "svg", "--plots"])
        .arg(&d));
    assert_eq!(out.status.code(), Some(0));
    let files = tree(&d);
    // 6 model plots, 7 per layer (no --randomize), more with the zoomed ESD.
    assert!(files.len() >= 6 + 5 * 7, "{}", files.len());
    assert!(files.iter().all(|f| f.extension().unwrap() == "svg"));
}

#[test]
fn report_is_one_self_contained_html_file_the_same_for_any_thread_count() {
    let d = tmpdir("report");
    let mut pages = Vec::new();
    for t in ["1", "2"] {
        let p = d.join(format!("r{t}.html"));
        let out = run(bin()
            .arg("report")
            .arg(example())
            .args(["--threads", t, "-o"])
            .arg(&p));
        assert_eq!(out.status.code(), Some(0));
        assert!(String::from_utf8_lossy(&out.stdout).contains("mean α"));
        pages.push(std::fs::read_to_string(&p).unwrap());
    }
    assert_eq!(pages[0], pages[1]);
    let html = &pages[0];
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert_eq!(html.matches("<tr class=\"r\"").count(), 5);
    assert_eq!(html.matches("<template id=\"L").count(), 5);
    for name in [
        "conv_layers.0",
        "conv_layers.3",
        "conv_layers.6",
        "fc_layers.0",
        "fc_layers.2",
    ] {
        assert!(html.contains(&format!(">{name}</td>")), "{name}");
    }
    // α of fc_layers.0, as in the README's table.
    assert!(html.contains(">1.956</td>"));
    // Nothing fetched from elsewhere: the only URL is the SVG namespace.
    let urls = html.matches("http").count();
    assert_eq!(
        urls,
        html.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    assert!(!html.contains("<script src") && !html.contains("<link"));
}

/// The reader of stdout goes away before anything is written (`weightscope analyze m | head`
/// that quit at once): the program ends quietly with 0, and still writes its files.
#[test]
fn a_closed_stdout_ends_quietly_with_0() {
    use std::process::Stdio;
    let d = tmpdir("epipe");
    let csv = d.join("d.csv");
    for args in [
        vec!["analyze".into(), example(), "--csv".into(), csv.clone()],
        vec!["describe".into(), example()],
    ] {
        let mut child = bin()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("error"), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 6);
}

/// The reader takes the first line and goes (`| head -1`).
#[test]
fn a_reader_that_stops_after_one_line_ends_it_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = bin()
        .arg("analyze")
        .arg(example())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn xmax_with_fix_fingers_clip_xmax_is_a_usage_error() {
    for cmd in ["analyze", "plot", "report", "track", "rank"] {
        let mut c = bin();
        c.arg(cmd).arg(example());
        if cmd != "analyze" {
            c.args(["-o", "/no/such/dir/out"]);
        }
        let out = run(c.args(["--xmax", "2", "--fix-fingers", "clip-xmax"]));
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("cannot be used with"), "{cmd}: {stderr}");
        assert!(
            stderr.contains("--fix-fingers clip-xmax"),
            "{cmd}: {stderr}"
        );
        assert!(stderr.contains("Usage:"), "{cmd}: {stderr}");
        assert!(out.stdout.is_empty());
    }
    // Either alone, or with xmin-peak, is fine.
    let out = run(bin().arg("analyze").arg(example()).args([
        "-q",
        "--xmax",
        "2",
        "--fix-fingers",
        "xmin-peak",
    ]));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn resume_without_an_output_file_is_a_usage_error() {
    let out = run(bin().arg("analyze").arg(example()).arg("--resume"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--csv") && stderr.contains("--json"),
        "{stderr}"
    );
    assert!(stderr.contains("Usage:"), "{stderr}");
}

#[test]
fn track_compare_and_rank_take_the_analysis_options() {
    let d = tmpdir("shared");
    for (k, step) in [(0.0, 1), (4.0, 2)] {
        let dir = d.join(format!("epoch_{step}"));
        std::fs::create_dir_all(&dir).unwrap();
        let w: Vec<f64> = pseudo_random(80 * 40, 31)
            .iter()
            .enumerate()
            .map(|(i, x)| x + k * ((i / 40) as f64 / 80.0 - 0.5))
            .collect();
        std::fs::write(dir.join("fc.npy"), npy(&[80, 40], &w)).unwrap();
    }
    let (e1, e2) = (d.join("epoch_1"), d.join("epoch_2"));
    let csv_col = |path: &Path, name: &str| -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        let i = header.iter().position(|h| *h == name).unwrap();
        text.lines()
            .skip(1)
            .map(|l| l.split(',').nth(i).unwrap().to_string())
            .collect()
    };

    // track --mp-fit fills the MP soft rank (without --phase: no phase).
    for (flags, softrank) in [(vec![], false), (vec!["--mp-fit"], true)] {
        let out = run(bin()
            .arg("track")
            .args([&e1, &e2])
            .args(&flags)
            .arg("-o")
            .arg(d.join("t.csv")));
        assert_eq!(out.status.code(), Some(0), "{flags:?}");
        let sr = csv_col(&d.join("t.csv"), "mp_softrank");
        assert!(
            sr.iter().all(|s| s.is_empty() != softrank),
            "{flags:?}: {sr:?}"
        );
        assert!(csv_col(&d.join("t.csv"), "phase")
            .iter()
            .all(|s| s.is_empty()));
    }

    // compare --normalize: eigenvalues of WᵀW/N, so λmax divided by N = 80.
    let mut lmax = Vec::new();
    for flags in [vec![], vec!["--normalize", "--mp-fit", "--threads", "1"]] {
        let out = run(bin()
            .arg("compare")
            .args([&e1, &e2])
            .args(&flags)
            .arg("-o")
            .arg(d.join("c.csv")));
        assert_eq!(out.status.code(), Some(0), "{flags:?}");
        lmax.push(
            csv_col(&d.join("c.csv"), "lambda_max_base")[0]
                .parse::<f64>()
                .unwrap(),
        );
    }
    assert!((lmax[0] / lmax[1] - 80.0).abs() < 1e-9, "{lmax:?}");

    // rank takes them too (it took none before).
    let out = run(bin()
        .arg("rank")
        .args([&e1, &e2])
        .args(["--layers", "fc", "--normalize", "--mp-fit", "-o"])
        .arg(d.join("r.csv")));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(d.join("r.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
}

#[test]
fn unwritable_or_clashing_outputs_are_usage_errors_before_any_work() {
    let d = tmpdir("outputs");
    let folder = d.join("a_folder");
    std::fs::create_dir(&folder).unwrap();
    let x = d.join("x.out");
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (vec!["--csv".into(), folder.clone().into()], "is a folder"),
        (
            vec!["--json".into(), d.join("no/such/dir/r.json").into()],
            "does not exist",
        ),
        (
            vec![
                "--csv".into(),
                x.clone().into(),
                "--json".into(),
                x.clone().into(),
            ],
            "--csv and --json",
        ),
        // Spelled differently, still one file.
        (
            vec![
                "--csv".into(),
                x.clone().into(),
                "--json".into(),
                d.join("a_folder/../x.out").into(),
            ],
            "--csv and --json",
        ),
        // The CSV would be the journal of the JSON.
        (
            vec![
                "--json".into(),
                x.clone().into(),
                "--csv".into(),
                d.join("x.out.partial.jsonl").into(),
            ],
            "the journal",
        ),
        (
            vec!["--plots".into(), example().into()],
            "is a file, not a folder",
        ),
    ];
    for (args, want) in cases {
        let out = run(bin().arg("analyze").arg(example()).args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        // Nothing analysed, nothing written.
        assert!(out.stdout.is_empty(), "{args:?}");
        let left: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(left, vec![folder.clone()], "{args:?}");
    }
    // The other commands check theirs too.
    let out = run(bin().arg("report").arg(example()).arg("-o").arg(&folder));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a folder"));
    let out = run(bin()
        .arg("compare")
        .arg(example())
        .arg(example())
        .arg("-o")
        .arg(d.join("none/c.csv")));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn numeric_options_out_of_bounds_exit_2_with_a_message() {
    for (flag, value) in [
        ("--bootstrap", "18446744073709551615"),
        ("--bootstrap", "100000000000"),
        ("--threads", "10000"),
        ("--max-memory", "100k"),
    ] {
        let out = run(bin().arg("analyze").arg(example()).args([flag, value]));
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("out of range"), "{flag} {value}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn control_characters_in_names_are_escaped_in_the_table_and_kept_in_csv_and_json() {
    let d = tmpdir("names");
    let model = d.join("m");
    std::fs::create_dir(&model).unwrap();
    let name = "evil\n\u{1b}[2Jname";
    std::fs::write(
        model.join(format!("{name}.npy")),
        npy(&[40, 20], &pseudo_random(800, 3)),
    )
    .unwrap();
    let (csv, json) = (d.join("o.csv"), d.join("o.json"));
    let out = run(bin()
        .arg("analyze")
        .arg(&model)
        .arg("--csv")
        .arg(&csv)
        .arg("--json")
        .arg(&json));
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    assert!(stdout.contains("evil\\n\\u{1b}[2Jname"), "{stdout}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.contains(name), "{csv}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["layers"][0]["name"], name);
}

#[test]
fn exit_codes_follow_one_rule_in_every_command() {
    let d = tmpdir("exit_rule");
    // A readable model whose only layer is all zeros: an error row (exit 1), not "nothing
    // could be read" (2); the output is still written.
    let zeros = d.join("zeros");
    std::fs::create_dir(&zeros).unwrap();
    std::fs::write(zeros.join("w.npy"), npy(&[40, 20], &vec![0.0; 800])).unwrap();
    let good = d.join("good");
    std::fs::create_dir(&good).unwrap();
    std::fs::write(good.join("w.npy"), npy(&[40, 20], &pseudo_random(800, 5))).unwrap();
    let csv = d.join("z.csv");
    let out = run(bin().arg("analyze").arg(&zeros).arg("--csv").arg(&csv));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("all-zero"));
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 2);
    // track, compare and rank: error rows → 1 (the good model alone → 0).
    for (cmd, models, want) in [
        ("track", vec![&good, &zeros], 1),
        ("track", vec![&good], 0),
        ("compare", vec![&good, &zeros], 1),
        ("compare", vec![&good, &good], 0),
        ("rank", vec![&good, &zeros], 1),
        ("rank", vec![&good], 0),
        ("plot", vec![&zeros], 1),
    ] {
        let out = run(bin()
            .arg(cmd)
            .args(&models)
            .arg("-o")
            .arg(d.join(format!("{cmd}.out"))));
        assert_eq!(out.status.code(), Some(want), "{cmd} {models:?}");
    }
    // No weight matrix at all (a 1-D tensor only): say so, exit 2, in every command.
    let none = d.join("none");
    std::fs::create_dir(&none).unwrap();
    std::fs::write(none.join("bias.npy"), npy(&[40], &pseudo_random(40, 6))).unwrap();
    for cmd in ["analyze", "plot", "report", "track", "rank"] {
        let mut c = bin();
        c.arg(cmd).arg(&none);
        if cmd != "analyze" {
            c.arg("-o").arg(d.join(format!("none-{cmd}.out")));
        }
        let out = run(&mut c);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no weight matrices found"),
            "{cmd}: {stderr}"
        );
    }
}

#[test]
fn a_layer_over_the_memory_cap_is_an_error_row_and_the_others_are_analysed() {
    let d = tmpdir("max_memory");
    let model = d.join("m");
    std::fs::create_dir(&model).unwrap();
    // 400 × 200 needs a few MiB by any route; 40 × 20 a few dozen KiB.
    std::fs::write(
        model.join("big.npy"),
        npy(&[400, 200], &pseudo_random(80_000, 8)),
    )
    .unwrap();
    std::fs::write(
        model.join("small.npy"),
        npy(&[40, 20], &pseudo_random(800, 9)),
    )
    .unwrap();
    let out = run(bin()
        .arg("analyze")
        .arg(&model)
        .args(["--max-memory", "1M", "--json"])
        .arg(d.join("o.json")));
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("big") && stderr.contains("needs ≈") && stderr.contains("1 MiB"),
        "{stderr}"
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("o.json")).unwrap()).unwrap();
    let status: Vec<&str> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["error", "success"]);
    // With room for it, the same layer is analysed.
    let out = run(bin()
        .arg("analyze")
        .arg(&model)
        .args(["--max-memory", "64M"]));
    assert_eq!(out.status.code(), Some(0));
    // The default is stated in --help.
    let help = run(bin().args(["analyze", "--help"]));
    assert!(String::from_utf8_lossy(&help.stdout).contains("MemAvailable"));
}

/// `sparsity` on the reference TempBalance net (tests/fixtures/actions/): the α of each layer
/// is the reference's `alpha_mid`, and the ratios are AlphaPruning's map of them, worked out
/// here from the fixture's α and the layers' shapes.
#[test]
fn sparsity_ratios_from_the_reference_alpha() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/actions");
    let fx: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("tempbalance.json")).unwrap()).unwrap();
    let run_median = fx["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["pl_fitting"] == "median")
        .unwrap();
    let dir = tmpdir("sparsity");
    let json = dir.join("ratios.json");
    let out = run(bin()
        .arg("sparsity")
        .arg(fixtures.join("tempbalance_net.safetensors"))
        .args([
            "--target",
            "0.5",
            "--epsilon",
            "0.2",
            "--mapping",
            "layer-wise",
        ])
        .args(["--metric", "alpha-mid", "--min-evals", "0", "-o"])
        .arg(&json));
    assert!(out.status.success());
    let got: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let layers = got["layers"].as_array().unwrap();
    // conv: out·in·kh·kw parameters; linear: out·in.
    let params = |name: &str| -> f64 {
        match name {
            "conv1.weight" => 16.0 * 3.0 * 9.0,
            "conv2.weight" => 16.0 * 16.0 * 9.0,
            "conv3.weight" => 32.0 * 16.0 * 9.0,
            "fc1.weight" => 64.0 * 32.0,
            "fc2.weight" => 64.0 * 64.0,
            "fc3.weight" => 10.0 * 64.0,
            other => panic!("unexpected layer {other}"),
        }
    };
    let mut alphas = Vec::new();
    for l in layers {
        let name = l["name"].as_str().unwrap();
        let want = run_median["layers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| format!("{}.weight", r["longname"].as_str().unwrap()) == name)
            .unwrap()["alpha"]
            .as_f64()
            .unwrap();
        let a = l["alpha"].as_f64().unwrap();
        assert!(
            (a - want).abs() < 1e-9 * want,
            "{name}: α {a} vs reference {want}"
        );
        assert_eq!(l["params"].as_f64().unwrap(), params(name));
        alphas.push((name.to_string(), a));
    }
    assert_eq!(alphas.len(), 6);
    let lo = alphas.iter().map(|x| x.1).fold(f64::INFINITY, f64::min);
    let hi = alphas.iter().map(|x| x.1).fold(f64::NEG_INFINITY, f64::max);
    let factor = |a: f64| 0.8 + 0.4 * (a - lo) / (hi - lo);
    let total: f64 = alphas.iter().map(|(n, _)| params(n)).sum();
    let weighted: f64 = alphas.iter().map(|(n, a)| params(n) * factor(*a)).sum();
    for (l, (name, a)) in layers.iter().zip(&alphas) {
        let want = factor(*a) * 0.5 * total / weighted;
        let s = l["sparsity"].as_f64().unwrap();
        assert!((s - want).abs() < 1e-12, "{name}: {s} vs {want}");
    }

    // Block-wise on a net without numbered blocks: nothing to allocate, said plainly.
    let out = run(bin()
        .arg("sparsity")
        .arg(fixtures.join("tempbalance_net.safetensors"))
        .args(["--target", "0.5"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no layer to allocate"));
    let out = run(bin()
        .arg("sparsity")
        .arg(fixtures.join("tempbalance_net.safetensors"))
        .args(["--target", "1.5"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("target 1.5"));
}

#[test]
fn esd_farms_adds_its_columns_and_checks_its_options() {
    let d = tmpdir("farms");
    let csv = d.join("f.csv");
    let out = run(bin()
        .args(["analyze", "--quiet", "--esd", "farms", "--csv"])
        .arg(&csv)
        .arg(example()));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = std::fs::read_to_string(&csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == "farms_alpha").unwrap();
    let alpha = header.iter().position(|h| *h == "alpha").unwrap();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        // Beside, never instead of, the standard α.
        assert!(cells[alpha].parse::<f64>().is_ok(), "{line}");
        assert!(cells[i].parse::<f64>().unwrap() > 1.0, "{line}");
    }
    for f in [
        "farms_xmin",
        "farms_D",
        "farms_num_submatrices",
        "farms_rows",
        "farms_cols",
    ] {
        assert!(header.contains(&f), "{f} missing: {header:?}");
    }
    // A bad aspect ratio is refused before any layer is read.
    let out = run(bin()
        .args(["analyze", "--esd", "farms", "--farms-q", "0.5"])
        .arg(example()));
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("aspect ratio"));
}

/// `compare --distances`: weightwatcher's distances table, every method, equal to
/// weightwatcher 0.7.7 run on the same files (tests/fixtures/distances/, float64 runs).
#[test]
fn compare_distances_equal_weightwatcher() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/distances");
    let d = tmpdir("distances");
    let out = run(bin()
        .arg("compare")
        .arg(f.join("base.safetensors"))
        .arg(f.join("other.safetensors"))
        .arg("-o")
        .arg(d.join("cmp.csv"))
        .arg("--distances")
        .arg(d.join("dist.csv")));
    assert_eq!(out.status.code(), Some(0));
    let want: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.join("distances.json")).unwrap()).unwrap();
    let csv = std::fs::read_to_string(d.join("dist.csv")).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut checked = 0;
    for pair in want["pairs"].as_array().unwrap() {
        if pair["precision"] != "float64" || pair["model_2"] != "other" {
            continue;
        }
        let method = pair["method"].as_str().unwrap();
        for w in pair["rows"].as_array().unwrap() {
            let name = w["name"].as_str().unwrap();
            let row: Vec<&str> = csv
                .lines()
                .map(|l| l.split(',').collect::<Vec<_>>())
                .find(|r| r[0] == method && r[2] == name)
                .unwrap_or_else(|| panic!("{method} {name} missing:\n{csv}"))
                .clone();
            let close = |got: &str, key: &str| {
                let (g, w) = (got.parse::<f64>().unwrap(), w[key].as_f64().unwrap());
                assert!(
                    (g - w).abs() <= 1e-12 * w.max(1.0),
                    "{method} {name} {key}: {g} vs {w}"
                );
            };
            close(row[3], "delta_W");
            close(row[4], "delta_b");
            assert_eq!(row[5], w["M"].to_string());
            assert_eq!(row[6], w["N"].to_string());
            checked += 1;
        }
        let avg = format!("mean ΔW {:.6}", pair["avg_dW"].as_f64().unwrap());
        assert!(stdout.contains(&avg), "{avg} not in {stdout}");
    }
    assert_eq!(checked, 15);
    assert_eq!(csv.lines().count(), 16, "{csv}");
    let _ = std::fs::remove_dir_all(&d);
}
