//! Marchenko–Pastur (MP) fit of the bulk of an ESD (paper §3.1, Eqns. 8–9; §6.3).
//!
//! For an N × M random matrix with i.i.d. entries of variance σ² and X = WᵀW/N, the ESD tends
//! to the MP density (Eqn. 8)
//!   ρ(λ) = Q/(2πσ²) · √((λ⁺ − λ)(λ − λ⁻)) / λ  on  [λ⁻, λ⁺],  λ± = σ²(1 ± 1/√Q)²  (Eqn. 9),
//! with Q = N/M ≥ 1. Everything here works on eigenvalues rescaled to mean 1 (the mean of the
//! MP law is σ², so a random matrix gives σ ≈ 1 whatever the normalisation of X), as
//! weightwatcher does; edges are converted back to the caller's units.
//!
//! Two fitting methods:
//! * [`MpMethod::BulkCdf`] (default): choose σ² so that the MP CDF matches the empirical CDF
//!   of the eigenvalues at or below its own edge λ⁺ + ΔλM (those above are spikes), by
//!   minimising that Kolmogorov–Smirnov distance — "fit the bulk below a chosen edge, then
//!   σ²_bulk = λ⁺(1 + 1/√Q)⁻²" as §6.3 recommends, with the edge chosen by the data. At most
//!   half of the eigenvalues may be spikes. The KS distance of the bulk is reported as the
//!   fit's quality.
//! * [`MpMethod::Ww`]: weightwatcher's method — a 195-point grid over σ ∈ [0.05 s₀, 2 s₀)
//!   (s₀ puts λ⁺ at λmax) minimising the squared residuals between the MP density and a
//!   linear-kernel density estimate (bandwidth 0.1) of the rescaled ESD, then a local polish.
//!
//! The finite-size margin (§3.1) is ΔλM = Q^(−1/2) (λ⁺)^(2/3) M^(−2/3); the paper states it for
//! σ² ≈ 1, and we apply it in units of σ² so that it is scale-free.

use serde::{Deserialize, Serialize};

/// Which MP fitting method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum MpMethod {
    /// KS fit of the MP CDF to the bulk below its own edge (default).
    #[default]
    BulkCdf,
    /// weightwatcher 0.7.x: density residuals against a kernel density estimate.
    Ww,
}

/// Bulk edges λ⁻, λ⁺ for variance `sigma2` and aspect ratio `q` ≥ 1 (Eqn. 9).
pub fn mp_edges(sigma2: f64, q: f64) -> (f64, f64) {
    let r = 1.0 / q.sqrt();
    (sigma2 * (1.0 - r).powi(2), sigma2 * (1.0 + r).powi(2))
}

/// MP density at `x` (Eqn. 8); 0 outside the bulk.
pub fn mp_density(x: f64, sigma2: f64, q: f64) -> f64 {
    let (a, b) = mp_edges(sigma2, q);
    if x <= a || x >= b || x <= 0.0 {
        return 0.0;
    }
    q / (2.0 * std::f64::consts::PI * sigma2 * x) * ((b - x) * (x - a)).sqrt()
}

/// Finite-size (Tracy–Widom scale) margin above λ⁺ (§3.1), in units of σ² (see module docs).
pub fn tracy_widom_margin(sigma2: f64, q: f64, m: usize) -> f64 {
    let (_, b) = mp_edges(1.0, q);
    sigma2 * q.powf(-0.5) * b.powf(2.0 / 3.0) * (m as f64).powf(-2.0 / 3.0)
}

/// The MP CDF for σ² = 1 and a given Q, tabulated once. With λ = λ⁻ + (λ⁺ − λ⁻)(1 − cos θ)/2
/// the density becomes a smooth function of θ ∈ [0, π] (the square-root edges cancel), so a
/// trapezoid rule on a uniform θ grid is accurate to ~1e-7 with the table size used.
#[derive(Debug, Clone)]
pub struct MpCdf {
    q: f64,
    a: f64,
    b: f64,
    table: Vec<f64>,
}

const CDF_POINTS: usize = 4096;

impl MpCdf {
    pub fn new(q: f64) -> Self {
        let (a, b) = mp_edges(1.0, q);
        let h = (b - a) / 2.0;
        let n = CDF_POINTS;
        let dt = std::f64::consts::PI / (n - 1) as f64;
        // ρ(λ) dλ = Q/(2π) · h² sin²θ / λ(θ) dθ.
        let f = |t: f64| {
            let lam = a + h * (1.0 - t.cos());
            let s = t.sin();
            if lam <= 0.0 {
                // Q = 1 and θ → 0: sin²θ/λ → 1/h·(… ) limit 2/h·h = finite; use the limit.
                q / (2.0 * std::f64::consts::PI) * h * 2.0
            } else {
                q / (2.0 * std::f64::consts::PI) * h * h * s * s / lam
            }
        };
        let mut table = vec![0.0; n];
        let mut prev = f(0.0);
        for i in 1..n {
            let cur = f(i as f64 * dt);
            table[i] = table[i - 1] + 0.5 * (prev + cur) * dt;
            prev = cur;
        }
        // Normalise away the quadrature's tiny error so the CDF ends at exactly 1.
        let total = table[n - 1];
        table.iter_mut().for_each(|v| *v /= total);
        MpCdf { q, a, b, table }
    }

    pub fn q(&self) -> f64 {
        self.q
    }

    /// P(λ ≤ x) for the MP law with variance `sigma2`.
    pub fn cdf(&self, x: f64, sigma2: f64) -> f64 {
        let x = x / sigma2;
        if x <= self.a {
            return 0.0;
        }
        if x >= self.b {
            return 1.0;
        }
        let c = (1.0 - 2.0 * (x - self.a) / (self.b - self.a)).clamp(-1.0, 1.0);
        let t = c.acos() / std::f64::consts::PI * (CDF_POINTS - 1) as f64;
        let i = (t as usize).min(CDF_POINTS - 2);
        let w = t - i as f64;
        self.table[i] * (1.0 - w) + self.table[i + 1] * w
    }
}

/// Result of an MP fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MpFit {
    /// σ of the bulk in units where the ESD has mean 1 (≈ 1 for a random matrix).
    pub sigma_mp: f64,
    /// λ⁻ and λ⁺ of the fitted bulk, in the caller's units.
    pub bulk_min: f64,
    pub bulk_max: f64,
    /// Eigenvalues above λ⁺ + ΔλM.
    pub num_spikes: usize,
    /// Of those, the ones in the bleeding-out band just above λ⁺ (see [`bleeding_edge`]).
    pub num_bleeding_out: usize,
    /// MP soft rank λ⁺/λmax (Eqn. 11); 0 when no MP bulk fits (bulk KS above
    /// [`MP_FIT_MAX_KS`]), as §5 defines.
    pub mp_softrank: f64,
    /// KS distance between the bulk and the fitted MP law (the fit's quality).
    pub bulk_ks: f64,
    /// The finite-size margin ΔλM, in the caller's units.
    pub tw_margin: f64,
    /// Rescaling used: eigenvalues were divided by this (their mean).
    pub scale: f64,
}

/// Upper end of the bleeding-out band above λ⁺: a few ΔλM (the paper's λ⁺ + O(M^(−2/3))),
/// or 25% above λ⁺ where that is wider — at finite size spikes just past the BBP threshold
/// fluctuate by O(N^(−1/2)) ≫ ΔλM, while well-separated spikes lie at ≳ 2λ⁺.
pub fn bleeding_edge(lambda_plus: f64, margin: f64) -> f64 {
    (lambda_plus + BLEEDING_MARGINS * margin).max(lambda_plus * (1.0 + BLEEDING_FRACTION))
}
/// See [`bleeding_edge`].
pub const BLEEDING_MARGINS: f64 = 4.0;
/// See [`bleeding_edge`].
pub const BLEEDING_FRACTION: f64 = 0.25;
/// Largest bulk KS distance for which an MP bulk is said to fit. Chosen on generated
/// matrices (see `bench/` and the phase benchmark).
pub const MP_FIT_MAX_KS: f64 = 0.1;

/// KS distance between the eigenvalues at or below the edge of MP(σ²) (plus ΔλM) and MP(σ²);
/// returns (distance, number of spikes). `x` sorted ascending, mean 1.
fn bulk_ks(x: &[f64], cdf: &MpCdf, sigma2: f64, margin: f64) -> (f64, usize) {
    let (_, b) = mp_edges(sigma2, cdf.q);
    let edge = b + margin;
    let m_b = x.partition_point(|&v| v <= edge);
    if m_b == 0 {
        return (1.0, x.len());
    }
    let n = m_b as f64;
    let mut d = 0.0f64;
    for (r, &v) in x[..m_b].iter().enumerate() {
        let f = cdf.cdf(v, sigma2);
        d = d
            .max((f - r as f64 / n).abs())
            .max((f - (r + 1) as f64 / n).abs());
    }
    (d, x.len() - m_b)
}

fn golden_min(lo: f64, hi: f64, iters: usize, f: impl Fn(f64) -> f64) -> (f64, f64) {
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut a, mut b) = (lo, hi);
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..iters {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    if fc <= fd {
        (c, fc)
    } else {
        (d, fd)
    }
}

fn fit_bulk_cdf(x: &[f64], q: f64, m_cols: usize) -> (f64, f64) {
    let m = x.len();
    let cdf = MpCdf::new(q);
    let lmax = x[m - 1];
    let (_, b1) = mp_edges(1.0, q);
    // σ² putting λ⁺ at λmax: the largest bulk that makes sense.
    let s_max = lmax / b1 * 1.05;
    let objective = |ln_s: f64| {
        let s = ln_s.exp();
        let margin = tracy_widom_margin(s, q, m_cols);
        let (d, spikes) = bulk_ks(x, &cdf, s, margin);
        if spikes * 2 > m {
            // More than half the eigenvalues outside the bulk: not a bulk.
            1.0 + spikes as f64 / m as f64
        } else {
            d
        }
    };
    // A log grid over four decades below s_max, then a golden-section polish around the best.
    let (lo, hi) = ((s_max * 1e-4).ln(), s_max.ln());
    let steps = 240;
    let mut best = (hi, f64::INFINITY);
    for i in 0..=steps {
        let ls = lo + (hi - lo) * i as f64 / steps as f64;
        let v = objective(ls);
        if v < best.1 {
            best = (ls, v);
        }
    }
    let h = (hi - lo) / steps as f64;
    let (ls, v) = golden_min(best.0 - h, (best.0 + h).min(hi), 40, objective);
    if v <= best.1 {
        (ls.exp(), v)
    } else {
        (best.0.exp(), best.1)
    }
}

/// Linear-kernel (triangular) density estimate at `grid`, bandwidth `h` (scikit-learn's
/// `KernelDensity(kernel='linear')`: K(u) ∝ 1 − |u|/h on |u| < h, normalised).
fn linear_kde(x: &[f64], grid: &[f64], h: f64) -> Vec<f64> {
    let norm = 1.0 / (x.len() as f64 * h);
    grid.iter()
        .map(|&g| {
            let lo = x.partition_point(|&v| v <= g - h);
            let hi = x.partition_point(|&v| v < g + h);
            x[lo..hi]
                .iter()
                .map(|&v| (1.0 - (v - g).abs() / h).max(0.0))
                .sum::<f64>()
                * norm
        })
        .collect()
}

/// One-dimensional Nelder–Mead exactly as SciPy's `fmin` runs it (initial simplex x₀ and
/// 1.05·x₀, reflection 1, expansion 2, contraction ½, shrink ½, stop when both the simplex
/// and its values agree to 1e-4, at most 200 evaluations), so the polish lands where
/// weightwatcher's does. Written out because no crate reproduces SciPy's iteration.
fn scipy_fmin_1d(x0: f64, f: impl Fn(f64) -> f64) -> f64 {
    let mut sim = [x0, if x0 != 0.0 { 1.05 * x0 } else { 0.00025 }];
    let mut fs = [f(sim[0]), f(sim[1])];
    let mut calls = 2;
    let sort = |sim: &mut [f64; 2], fs: &mut [f64; 2]| {
        if fs[1] < fs[0] {
            sim.swap(0, 1);
            fs.swap(0, 1);
        }
    };
    sort(&mut sim, &mut fs);
    let mut iters = 0;
    while calls < 200 && iters < 200 {
        if (sim[1] - sim[0]).abs() <= 1e-4 && (fs[0] - fs[1]).abs() <= 1e-4 {
            break;
        }
        let xbar = sim[0];
        let xr = 2.0 * xbar - sim[1];
        let fxr = f(xr);
        calls += 1;
        let mut shrink = false;
        if fxr < fs[0] {
            let xe = 3.0 * xbar - 2.0 * sim[1];
            let fxe = f(xe);
            calls += 1;
            if fxe < fxr {
                (sim[1], fs[1]) = (xe, fxe);
            } else {
                (sim[1], fs[1]) = (xr, fxr);
            }
        } else if fxr < fs[1] {
            // With one dimension the second-worst point is the best one; SciPy's test
            // `fxr < fsim[-2]` is false here, so it goes on to contract outside.
            let xc = 1.5 * xbar - 0.5 * sim[1];
            let fxc = f(xc);
            calls += 1;
            if fxc <= fxr {
                (sim[1], fs[1]) = (xc, fxc);
            } else {
                shrink = true;
            }
        } else {
            let xcc = 0.5 * xbar + 0.5 * sim[1];
            let fxcc = f(xcc);
            calls += 1;
            if fxcc < fs[1] {
                (sim[1], fs[1]) = (xcc, fxcc);
            } else {
                shrink = true;
            }
        }
        if shrink {
            sim[1] = sim[0] + 0.5 * (sim[1] - sim[0]);
            fs[1] = f(sim[1]);
            calls += 1;
        }
        iters += 1;
        sort(&mut sim, &mut fs);
    }
    sim[0]
}

fn fit_ww(x: &[f64], q: f64) -> (f64, f64) {
    let lmax = x[x.len() - 1];
    let (_, b1) = mp_edges(1.0, q);
    let s0 = (lmax / b1).sqrt();
    // weightwatcher fits singular values with the quarter-circle law when Q = 1.
    let quarter = q == 1.0;
    let data: Vec<f64> = if quarter {
        x.iter().map(|v| v.sqrt()).collect()
    } else {
        x.to_vec()
    };
    // numpy.linspace(0, max + 0.5, 1000).
    let top = data[data.len() - 1] + 0.5;
    let step = top / 999.0;
    let grid: Vec<f64> = (0..1000)
        .map(|i| if i == 999 { top } else { i as f64 * step })
        .collect();
    let kde = linear_kde(&data, &grid, 0.1);
    let keep: Vec<usize> = (0..grid.len()).filter(|&i| kde[i] > 0.01).collect();
    let top_kept = keep.last().map_or(top, |&i| grid[i]);
    let peak = grid[(0..grid.len()).fold(0, |b, i| if kde[i] > kde[b] { i } else { b })];
    let objective = |sigma: f64| -> f64 {
        let s2 = sigma * sigma;
        if quarter {
            keep.iter()
                .map(|&i| {
                    let g = grid[i];
                    // weightwatcher's quarter circle is √(4 − x²)/(πσ²): its support does
                    // not scale with σ (the true law is √(4σ² − x²)/(πσ²)); kept as is.
                    let qc = if g < 2.0 {
                        (4.0 - g * g).sqrt() / (std::f64::consts::PI * s2)
                    } else {
                        0.0
                    };
                    (qc - kde[i]).powi(2)
                })
                .sum()
        } else {
            let (a, b) = mp_edges(s2, q);
            if b < peak || b > top_kept || a > peak {
                return keep.len() as f64 * 1e6;
            }
            keep.iter()
                .map(|&i| (mp_density(grid[i], s2, q) - kde[i]).powi(2))
                .sum()
        }
    };
    // scipy.optimize.brute over numpy.arange(0.05 s₀, 2 s₀, 0.01 s₀), then fmin.
    let (start, stop, st) = (0.05 * s0, 2.0 * s0, 0.01 * s0);
    let count = ((stop - start) / st).ceil() as usize;
    let mut best = (start, f64::INFINITY);
    for k in 0..count {
        let s = start + k as f64 * st;
        let v = objective(s);
        if v < best.1 {
            best = (s, v);
        }
    }
    let sigma = scipy_fmin_1d(best.0, objective);
    (sigma * sigma, 0.0)
}

/// Fit an MP bulk to eigenvalues `evals` (ascending, any units) of an N × M layer with
/// aspect ratio `q` = N/M; `m_cols` is M, which sets the finite-size margin (for a pooled
/// convolution ESD, `evals` holds rf·M values). `None` when there are fewer than 2 values or
/// no positive mass.
pub fn fit_marchenko_pastur(
    evals: &[f64],
    q: f64,
    m_cols: usize,
    method: MpMethod,
) -> Option<MpFit> {
    let m = evals.len();
    let mean = evals.iter().sum::<f64>() / m as f64;
    if m < 2 || mean.is_nan() || mean <= 0.0 || !mean.is_finite() {
        return None;
    }
    let x: Vec<f64> = evals.iter().map(|v| v / mean).collect();
    let (sigma2, _) = match method {
        MpMethod::BulkCdf => fit_bulk_cdf(&x, q, m_cols.max(1)),
        MpMethod::Ww => fit_ww(&x, q),
    };
    let cdf = MpCdf::new(q);
    let margin = tracy_widom_margin(sigma2, q, m_cols.max(1));
    let (ks, _) = bulk_ks(&x, &cdf, sigma2, margin);
    let (a, b) = mp_edges(sigma2, q);
    let lmax = x[m - 1];
    let above = |t: f64| m - x.partition_point(|&v| v <= t);
    let (num_spikes, mp_softrank) = match method {
        MpMethod::BulkCdf => (
            above(b + margin),
            if ks <= MP_FIT_MAX_KS {
                (b / lmax).min(1.0)
            } else {
                0.0
            },
        ),
        // weightwatcher counts spikes beyond λ⁺ + √(Q^(−1/2)(λ⁺)^(2/3)M^(−2/3)) — the square
        // root of the paper's margin, a much wider one — and never zeroes the soft rank.
        MpMethod::Ww => {
            let tw = q.powf(-0.5) * b.powf(2.0 / 3.0) * (m_cols.max(1) as f64).powf(-2.0 / 3.0);
            (above(b + tw.sqrt()), b / lmax)
        }
    };
    let num_bleeding_out = num_spikes.saturating_sub(above(bleeding_edge(b, margin)));
    Some(MpFit {
        sigma_mp: sigma2.sqrt(),
        bulk_min: a * mean,
        bulk_max: b * mean,
        num_spikes,
        num_bleeding_out,
        mp_softrank,
        bulk_ks: ks,
        tw_margin: margin * mean,
        scale: mean,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn density_integrates_to_one_and_has_mean_sigma2() {
        for q in [1.0, 1.5, 4.0, 10.0] {
            let s2 = 2.0;
            let (a, b) = mp_edges(s2, q);
            let n = 200_000;
            let (mut mass, mut mean) = (0.0, 0.0);
            // Midpoint rule on the θ substitution (smooth integrand).
            for i in 0..n {
                let t = (i as f64 + 0.5) / n as f64 * std::f64::consts::PI;
                let lam = a + (b - a) / 2.0 * (1.0 - t.cos());
                let w = (b - a) / 2.0 * t.sin() * std::f64::consts::PI / n as f64;
                mass += mp_density(lam, s2, q) * w;
                mean += lam * mp_density(lam, s2, q) * w;
            }
            assert!((mass - 1.0).abs() < 1e-6, "q={q} mass {mass}");
            assert!((mean - s2).abs() < 1e-5, "q={q} mean {mean}");
        }
    }

    #[test]
    fn edges_are_eqn_9() {
        let (a, b) = mp_edges(1.0, 4.0);
        assert!((a - 0.25).abs() < 1e-15 && (b - 2.25).abs() < 1e-15);
    }

    #[test]
    fn tabulated_cdf_matches_direct_integration() {
        let q = 2.0;
        let c = MpCdf::new(q);
        let (a, b) = mp_edges(1.0, q);
        let x = a + 0.3 * (b - a);
        let n = 400_000;
        let mut f = 0.0;
        for i in 0..n {
            let lam = a + (x - a) * (i as f64 + 0.5) / n as f64;
            f += mp_density(lam, 1.0, q) * (x - a) / n as f64;
        }
        assert!((c.cdf(x, 1.0) - f).abs() < 1e-5, "{} vs {f}", c.cdf(x, 1.0));
        assert_eq!(c.cdf(a * 0.5, 1.0), 0.0);
        assert_eq!(c.cdf(b * 2.0, 1.0), 1.0);
    }
}
