//! The phase classifier on generated matrices with a known phase: accuracy and confusion
//! matrix. `cargo run --release -p weightscope --example phase_benchmark [-- COUNT]`
//! (default 600 matrices: 100 per phase, shapes varied). Results are in docs/phases.md.

use weightscope::diagnose::phase::Phase;
use weightscope::diagnose::phase::{classify, evidence};
use weightscope::fit::marchenko_pastur::{fit_marchenko_pastur, MpMethod};
use weightscope::spectrum::{gram_eigenvalues, Precision, Solver};
use weightscope::synth::synth_matrix;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let per = count.div_ceil(6);
    let shapes = [
        (300usize, 100usize),
        (400, 200),
        (500, 250),
        (600, 300),
        (512, 512),
        (1000, 250),
        (800, 400),
        (256, 128),
    ];
    let mut conf = [[0usize; 6]; 6];
    let mut wrong = Vec::new();
    for (ti, truth) in Phase::ALL.into_iter().enumerate() {
        for i in 0..per {
            let (n, m) = shapes[i % shapes.len()];
            let seed = 1_000_003 * ti as u64 + i as u64;
            let w = synth_matrix(truth, n, m, seed);
            let ev = gram_eigenvalues(w.as_ref(), Solver::Auto, Precision::F64).unwrap();
            let mp = fit_marchenko_pastur(&ev, n as f64 / m as f64, m, MpMethod::BulkCdf).unwrap();
            let e = evidence(&ev, &mp);
            let (p, why) = classify(&e);
            let pi = Phase::ALL.iter().position(|&x| x == p).unwrap();
            conf[ti][pi] += 1;
            if p != truth && wrong.len() < 40 {
                wrong.push(format!("{truth} {n}x{m} seed {seed}: {p} ({why}) {e:?}"));
            }
        }
    }
    let total: usize = conf.iter().flatten().sum();
    let right: usize = (0..6).map(|i| conf[i][i]).sum();
    println!(
        "accuracy: {right}/{total} = {:.1}%\n",
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
    if std::env::var("VERBOSE").is_ok() {
        for w in wrong {
            eprintln!("{w}");
        }
    }
}
