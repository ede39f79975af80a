//! Speed of the per-layer eigenvalue kernel against the FLOP limit, measured side by side in
//! one run (timings drift with machine load, ratios much less). Not a test.
//!
//! ```text
//! cargo run --release -p weightscope --example kernel_speed -- [--quick] [--bands 32,48,64] [SIZES]
//! ```
//!
//! SIZES are `M` (square N = M) or `NxM`; default 1024 2048 4096 11008x4096 (`--quick`:
//! 512 1024 2048 4096x1024). For each, single-threaded like the library (`Par::Seq`):
//! * the machine's GEMM peak: faer `matmul` of two 1536² matrices (2·n³ flops), best of 3,
//!   measured again before each section (f32 or f64);
//! * the Gram product WᵀW (lower triangle, N·M² flops);
//! * the eigenvalues of the M² Gram matrix: faer's `self_adjoint_evd` (one-stage, values only)
//!   and the two-stage route of `spectrum::symmetric_eigen` (stage by stage), 4/3·M³ flops;
//! * each as seconds, GFLOP/s of the nominal flops and ratio to the FLOP limit
//!   (time / (flops / peak)), and the whole layer (Gram + eigenvalues) likewise.
//!
//! `--bands` sweeps the band half-width of stage 1 (default: the library's choice).

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::{Accum, Mat, Par};
use std::time::Instant;
use weightscope::spectrum::symmetric_eigen::{self as se, Float};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

fn time<R>(f: impl FnOnce() -> R) -> (R, f64) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed().as_secs_f64())
}

/// GEMM peak in GFLOP/s: best of 3 products of n × n matrices.
fn peak<T: Float>(n: usize) -> f64 {
    let mut rng = Rng(7);
    let a = Mat::<T>::from_fn(n, n, |_, _| T::of(rng.next()));
    let b = Mat::<T>::from_fn(n, n, |_, _| T::of(rng.next()));
    let mut c = Mat::<T>::zeros(n, n);
    let best = (0..3)
        .map(|_| {
            time(|| {
                faer::linalg::matmul::matmul(
                    c.as_mut(),
                    Accum::Replace,
                    a.as_ref(),
                    b.as_ref(),
                    T::ONE,
                    Par::Seq,
                )
            })
            .1
        })
        .fold(f64::INFINITY, f64::min);
    2.0 * (n as f64).powi(3) / best / 1e9
}

fn gram<T: Float>(w: &Mat<T>) -> Mat<T> {
    let m = w.ncols();
    let mut x = Mat::<T>::zeros(m, m);
    triangular::matmul(
        x.as_mut(),
        BlockStructure::TriangularLower,
        Accum::Replace,
        w.transpose(),
        BlockStructure::Rectangular,
        w.as_ref(),
        BlockStructure::Rectangular,
        T::ONE,
        Par::Seq,
    );
    x
}

/// faer's one-stage self-adjoint eigenvalues (what `spectrum` used before).
fn faer_eigenvalues<T: Float>(x: &Mat<T>) -> Vec<f64> {
    let m = x.nrows();
    let mut s = faer::diag::Diag::<T>::zeros(m);
    let scratch = faer::linalg::evd::self_adjoint_evd_scratch::<T>(
        m,
        faer::linalg::evd::ComputeEigenvectors::No,
        Par::Seq,
        Default::default(),
    );
    faer::linalg::evd::self_adjoint_evd(
        x.as_ref(),
        s.as_mut(),
        None,
        Par::Seq,
        MemStack::new(&mut MemBuffer::new(scratch)),
        Default::default(),
    )
    .unwrap();
    let mut v: Vec<f64> = s.column_vector().iter().map(|x| x.f64()).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Two-stage route, stage by stage: (eigenvalues, [band, tridiagonal, QR] seconds).
fn two_stage<T: Float>(x: &Mat<T>, b: usize) -> (Vec<f64>, [f64; 3]) {
    let mut a = x.clone();
    let b = b.min(a.nrows().saturating_sub(1)).max(1);
    let ((), t1) = time(|| se::reduce_to_band(a.as_mut(), b));
    let ((d, e), t2) = time(|| se::band_to_tridiagonal(a.as_ref(), b));
    let (v, t3) = time(|| se::tridiagonal_eigenvalues(&d, &e).unwrap());
    let mut v = v;
    v.sort_by(f64::total_cmp);
    (v, [t1, t2, t3])
}

struct Row<'a> {
    what: &'a str,
    secs: f64,
    flops: f64,
    peak: f64,
}

fn print(r: Row) {
    let limit = r.flops / (r.peak * 1e9);
    println!(
        "| {} | {:.3} | {:.1} | {:.2} |",
        r.what,
        r.secs,
        r.flops / r.secs / 1e9,
        r.secs / limit
    );
}

fn max_rel_diff(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
        / scale
}

fn run<T: Float>(name: &str, n: usize, m: usize, bands: &[usize], old: bool) {
    // Measured again for every section: the load of a shared machine drifts.
    let peak = peak::<T>(1536);
    let mut rng = Rng(n as u64 * 31 + m as u64);
    let w = Mat::<T>::from_fn(n, m, |_, _| T::of(rng.next()));
    let (x, tg) = time(|| gram(&w));
    drop(w);
    let (mf, nf) = (m as f64, n as f64);
    let gram_flops = nf * mf * mf;
    let eig_flops = 4.0 / 3.0 * mf.powi(3);
    println!("\n### {name}: W {n}×{m}, peak {peak:.1} GFLOP/s\n");
    println!("| step | s | GFLOP/s | × limit |");
    println!("|---|---|---|---|");
    let row = |what: &str, secs: f64, flops: f64| {
        print(Row {
            what,
            secs,
            flops,
            peak,
        })
    };
    row("Gram WᵀW (N·M²)", tg, gram_flops);
    // Reference eigenvalues: the f64 two-stage route on the same Gram matrix (checked against
    // faer's f64 evd by the unit tests, and here in the f64 rows).
    let single = core::mem::size_of::<T>() == 4;
    let exact = single.then(|| {
        let x64 = Mat::<f64>::from_fn(m, m, |i, j| x[(i, j)].f64());
        two_stage(&x64, se::default_band::<f64>(m)).0
    });
    let reference = if old {
        let (v, t) = time(|| faer_eigenvalues(&x));
        row("faer self_adjoint_evd (4/3·M³)", t, eig_flops);
        row("layer, faer (Gram + evd)", tg + t, gram_flops + eig_flops);
        if let Some(e) = &exact {
            println!(
                "| faer: max abs diff to f64 / λmax | {:.1e} | | |",
                max_rel_diff(&v, e)
            );
        }
        Some(v)
    } else {
        None
    };
    let reference = exact.or(reference);
    for &b in bands {
        let (v, [t1, t2, t3]) = two_stage(&x, b);
        let t = t1 + t2 + t3;
        row(&format!("b={b} stage 1 dense→band"), t1, eig_flops);
        println!(
            "| b={b} stage 2 band→tridiagonal | {t2:.3} | {:.1} (6·M²·b) | |",
            6.0 * mf * mf * b as f64 / t2 / 1e9
        );
        println!("| b={b} stage 3 tridiagonal QR | {t3:.3} | | |");
        row(&format!("**b={b} two-stage (4/3·M³)**"), t, eig_flops);
        row(
            &format!("**layer, two-stage b={b} (Gram + eig)**"),
            tg + t,
            gram_flops + eig_flops,
        );
        if let Some(r) = &reference {
            println!(
                "| b={b}: max abs diff to {} / λmax | {:.1e} | | |",
                if single { "f64" } else { "faer" },
                max_rel_diff(&v, r)
            );
        }
    }
}

fn main() {
    let mut quick = false;
    let mut bands: Option<Vec<usize>> = None;
    let mut sizes = Vec::new();
    let mut skip_old = false;
    let mut only: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--no-faer" => skip_old = true,
            "--bands" => {
                bands = Some(
                    args.next()
                        .expect("--bands 32,48")
                        .split(',')
                        .map(|s| s.parse().expect("band width"))
                        .collect(),
                )
            }
            "--only" => only = args.next(),
            s => {
                let (n, m) = match s.split_once('x') {
                    Some((n, m)) => (n.parse().unwrap(), m.parse().unwrap()),
                    None => (s.parse().unwrap(), s.parse().unwrap()),
                };
                sizes.push((n, m));
            }
        }
    }
    if sizes.is_empty() {
        sizes = if quick {
            vec![(512, 512), (1024, 1024), (2048, 2048), (4096, 1024)]
        } else {
            vec![(1024, 1024), (2048, 2048), (4096, 4096), (11008, 4096)]
        };
    }
    println!("peak: faer matmul 1536² (Par::Seq, best of 3), measured before each section.");
    println!("× limit = time / (nominal flops / peak): 1.00 is the FLOP limit.");
    for (i, &(n, m)) in sizes.iter().enumerate() {
        // The faer route depends only on M: time it once per M.
        let old = !skip_old && !sizes[..i].iter().any(|&(_, m2)| m2 == m);
        if only.as_deref() != Some("f32") {
            let b = bands
                .clone()
                .unwrap_or_else(|| vec![se::default_band::<f64>(m)]);
            run::<f64>("f64", n, m, &b, old);
        }
        if only.as_deref() != Some("f64") {
            let b = bands
                .clone()
                .unwrap_or_else(|| vec![se::default_band::<f32>(m)]);
            run::<f32>("f32", n, m, &b, old);
        }
    }
}
