//! The phase classifier on the benchmark of tools/make_phase_benchmark.py (matrices with a
//! known phase, made by generators independent of the classifier): accuracy and confusion
//! matrices of the training and held-out splits.
//! `cargo run --release -p weightscope --example phase_benchmark [-- SPLIT...]`
//! (default: train heldout; `continuum` is the extra Rank-collapse split). `VERBOSE=1` lists
//! the misclassified matrices; `FEATURES=FILE` writes the evidence of every matrix as CSV.
//! Results are in docs/phases.md.

use std::io::Write;
use std::path::PathBuf;
use weightscope::diagnose::phase::{classify, evidence, Phase};
use weightscope::fit::marchenko_pastur::{fit_marchenko_pastur, MpMethod};

struct Case {
    truth: Phase,
    generator: String,
    n: usize,
    m: usize,
    evals: Vec<f64>,
}

fn load(split: &str) -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/phases");
    let csv = std::fs::read_to_string(dir.join(format!("{split}.csv"))).expect("benchmark csv");
    let raw = std::fs::read(dir.join(format!("{split}.f32"))).expect("benchmark eigenvalues");
    let all: Vec<f64> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64)
        .collect();
    let mut at = 0;
    let mut cases = Vec::new();
    for line in csv.lines().skip(1) {
        // index,phase,generator,n,m,scale — the generator may be quoted and hold commas.
        let (head, rest) = line.split_once(',').unwrap();
        let _ = head;
        let (phase, rest) = rest.split_once(',').unwrap();
        let fields: Vec<&str> = rest.rsplitn(4, ',').collect();
        let (m, n, generator) = (fields[1], fields[2], fields[3]);
        let (n, m): (usize, usize) = (n.parse().unwrap(), m.parse().unwrap());
        cases.push(Case {
            truth: Phase::parse(phase).unwrap(),
            generator: generator.trim_matches('"').to_string(),
            n,
            m,
            evals: all[at..at + m].to_vec(),
        });
        at += m;
    }
    assert_eq!(at, all.len(), "{split}: eigenvalue count");
    cases
}

/// BBP strengths of the eigenvalues beyond λ⁺ + 2ΔλM, ';'-separated (for `FEATURES`).
fn strengths(evals: &[f64], mp: &weightscope::fit::MpFit, q: f64) -> String {
    let edge = mp.bulk_max + 2.0 * mp.tw_margin;
    evals
        .iter()
        .filter(|&&l| l > edge)
        .map(|&l| {
            format!(
                "{:.3}",
                weightscope::diagnose::phase::bbp_strength(l / mp.bulk_max, q)
            )
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn main() {
    let mut splits: Vec<String> = std::env::args().skip(1).collect();
    if splits.is_empty() {
        splits = vec!["train".into(), "heldout".into()];
    }
    let mut features = std::env::var("FEATURES")
        .ok()
        .map(|p| std::fs::File::create(p).unwrap());
    if let Some(f) = features.as_mut() {
        writeln!(f, "split,truth,predicted,n,m,zero_mass,zero_gap,bulk_ks,softrank,outliers,bleeding,spikes,top_strength,near,confidence,strengths").unwrap();
    }
    for split in &splits {
        let cases = load(split);
        let mut conf = [[0usize; 6]; 6];
        let mut wrong = Vec::new();
        for c in &cases {
            let q = c.n as f64 / c.m as f64;
            let mp = fit_marchenko_pastur(&c.evals, q, c.m, MpMethod::BulkCdf).unwrap();
            let e = evidence(&c.evals, &mp);
            let call = classify(&e);
            let ti = Phase::ALL.iter().position(|&x| x == c.truth).unwrap();
            let pi = Phase::ALL.iter().position(|&x| x == call.phase).unwrap();
            conf[ti][pi] += 1;
            if let Some(f) = features.as_mut() {
                writeln!(
                    f,
                    "{split},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    c.truth,
                    call.phase,
                    c.n,
                    c.m,
                    e.zero_mass,
                    e.zero_gap_decades,
                    e.bulk_ks,
                    e.softrank,
                    e.num_outliers,
                    e.num_bleeding_out,
                    e.num_spikes,
                    e.top_strength,
                    e.num_near_edge,
                    call.confidence,
                    strengths(&c.evals, &mp, q)
                )
                .unwrap();
            }
            if call.phase != c.truth {
                wrong.push(format!(
                    "{} {}x{} [{}]: {} ({})",
                    c.truth, c.n, c.m, c.generator, call.phase, call.reason
                ));
            }
        }
        let total: usize = conf.iter().flatten().sum();
        let right: usize = (0..6).map(|i| conf[i][i]).sum();
        println!(
            "{split}: accuracy {right}/{total} = {:.1}%\n",
            100.0 * right as f64 / total as f64
        );
        print!("| true \\ predicted |");
        for p in Phase::ALL {
            print!(" {p} |");
        }
        println!("\n|---|---|---|---|---|---|---|");
        for (i, p) in Phase::ALL.into_iter().enumerate() {
            print!("| {p} |");
            for c in conf[i] {
                print!(" {c} |");
            }
            println!();
        }
        println!();
        if std::env::var("VERBOSE").is_ok() {
            for w in wrong {
                eprintln!("{w}");
            }
        }
    }
}
