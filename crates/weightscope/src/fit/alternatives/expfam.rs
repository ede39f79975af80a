//! Maximum likelihood in the two-parameter exponential families in u = ln(x/xmin) ≥ 0 that
//! TPL and LOG_N are (see the parent module's doc): normaliser and moments by quadrature, and
//! the nested one-dimensional root finding of the profile likelihood.

use crate::fit::special::integrate;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Family {
    /// T = (u, eᵘ); η = (1 − α, −λ·xmin); constraint η₂ ≤ 0.
    Tpl,
    /// T = (u², u); η = (−1/(2σ²), (μ − ln xmin)/σ²); constraint η₁ ≤ 0.
    LogN,
}

impl Family {
    fn t(self, u: f64) -> [f64; 2] {
        match self {
            Family::Tpl => [u, u.exp()],
            Family::LogN => [u * u, u],
        }
    }

    /// Index of the coordinate that must be < 0 (its 0 is the power-law boundary).
    fn constrained(self) -> usize {
        match self {
            Family::Tpl => 1,
            Family::LogN => 0,
        }
    }

    /// The maximiser of η·T(u) on u ≥ 0.
    fn mode(self, eta: [f64; 2]) -> f64 {
        match self {
            Family::Tpl if eta[0] > 0.0 && eta[1] < 0.0 => (-eta[0] / eta[1]).ln().max(0.0),
            Family::LogN if eta[0] < 0.0 => (-eta[1] / (2.0 * eta[0])).max(0.0),
            _ => 0.0,
        }
    }
}

/// ln Z(η) and E[T] under the density ∝ exp(η·T(u)) on u ≥ 0.
#[derive(Debug, Clone, Copy)]
pub(super) struct Moments {
    pub(super) ln_z: f64,
    mean: [f64; 2],
}

pub(super) fn moments(fam: Family, eta: [f64; 2]) -> Option<Moments> {
    if !(eta[0].is_finite() && eta[1].is_finite()) || eta[fam.constrained()] >= 0.0 {
        return None;
    }
    let phi = |u: f64| {
        let t = fam.t(u);
        eta[0] * t[0] + eta[1] * t[1]
    };
    let u0 = fam.mode(eta);
    let phi0 = phi(u0);
    if !phi0.is_finite() {
        return None;
    }
    // Upper limit: far enough that the integrand of the largest moment, e^φ·T, is below
    // e^−60 of its maximum (φ is concave and dominates the growth of T).
    let envelope = |u: f64| {
        let t = fam.t(u);
        let v = phi(u) + (1.0 + t[0].abs() + t[1].abs()).ln();
        if v.is_nan() {
            f64::NEG_INFINITY
        } else {
            v
        }
    };
    // Width of the peak at the mode, from the curvature of φ there (and from its slope when
    // the mode is the end u = 0): the search for the upper limit and the first panels start
    // at this scale, so a narrow peak cannot fall between the quadrature nodes.
    let (slope, curvature) = match fam {
        Family::Tpl => (eta[0] + eta[1] * u0.exp(), -eta[1] * u0.exp()),
        Family::LogN => (2.0 * eta[0] * u0 + eta[1], -2.0 * eta[0]),
    };
    let mut width = 1.0f64;
    if curvature > 1.0 {
        width = width.min(1.0 / curvature.sqrt());
    }
    if slope < -1.0 {
        width = width.min(-1.0 / slope);
    }
    let mut best = envelope(u0);
    let mut prev = best;
    let mut step = width;
    let upper;
    loop {
        let u = u0 + step;
        let v = envelope(u);
        if v > best {
            best = v;
        }
        if v < best - 60.0 && v < prev {
            upper = u;
            break;
        }
        prev = v;
        step *= 2.0;
        if step > 1e7 {
            return None;
        }
    }
    let integrand = |u: f64| {
        let t = fam.t(u);
        let w = (phi(u) - phi0).exp();
        [w, w * t[0], w * t[1]]
    };
    // Breaks at the mode, a few peak widths either side, and fractions of the range.
    let breaks = [
        u0 - 4.0 * width,
        u0 - width,
        u0,
        u0 + width,
        u0 + 4.0 * width,
        u0 + (upper - u0) / 16.0,
        u0 + (upper - u0) / 4.0,
    ];
    let r = integrate(integrand, 0.0, upper, &breaks, 1e-13, 0.0);
    if !(r[0] > 0.0 && r.iter().all(|v| v.is_finite())) {
        return None;
    }
    Some(Moments {
        ln_z: phi0 + r[0].ln(),
        mean: [r[1] / r[0], r[2] / r[0]],
    })
}

/// Brent's root finder (van Wijngaarden–Dekker–Brent) on [a, b] with f(a), f(b) of opposite
/// signs: inverse quadratic interpolation safeguarded by bisection.
fn brent_root(
    mut f: impl FnMut(f64) -> Option<f64>,
    mut a: f64,
    mut b: f64,
    mut fa: f64,
    mut fb: f64,
    tol: f64,
) -> Option<f64> {
    let (mut c, mut fc) = (b, fb);
    let mut d = b - a;
    let mut e = d;
    for _ in 0..300 {
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            c = a;
            fc = fa;
            d = b - a;
            e = d;
        }
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol1 = 2.0 * f64::EPSILON * b.abs() + 0.5 * tol;
        let xm = 0.5 * (c - b);
        if xm.abs() <= tol1 || fb == 0.0 {
            return Some(b);
        }
        if e.abs() >= tol1 && fa.abs() > fb.abs() {
            let s = fb / fa;
            let (mut p, mut q);
            if a == c {
                p = 2.0 * xm * s;
                q = 1.0 - s;
            } else {
                let q0 = fa / fc;
                let r = fb / fc;
                p = s * (2.0 * xm * q0 * (q0 - r) - (b - a) * (r - 1.0));
                q = (q0 - 1.0) * (r - 1.0) * (s - 1.0);
            }
            if p > 0.0 {
                q = -q;
            }
            p = p.abs();
            let min1 = 3.0 * xm * q - (tol1 * q).abs();
            let min2 = (e * q).abs();
            if 2.0 * p < min1.min(min2) {
                e = d;
                d = p / q;
            } else {
                d = xm;
                e = d;
            }
        } else {
            d = xm;
            e = d;
        }
        a = b;
        fa = fb;
        b += if d.abs() > tol1 { d } else { tol1.copysign(xm) };
        fb = f(b)?;
    }
    Some(b)
}

/// Find a bracket [lo, hi] of the root of an increasing function g, starting from x0 and
/// stepping outwards by doubling steps; a step to where g cannot be evaluated (numerically
/// extreme parameters) is retried shorter. `None` if no bracket is found within `limit`.
fn bracket_increasing(
    g: &mut impl FnMut(f64) -> Option<f64>,
    x0: f64,
    step0: f64,
    limit: f64,
) -> Option<(f64, f64, f64, f64)> {
    let g0 = g(x0)?;
    if g0 == 0.0 {
        return Some((x0, x0, g0, g0));
    }
    let dir = if g0 < 0.0 { 1.0 } else { -1.0 };
    let (mut x, mut gx) = (x0, g0);
    let mut step = step0;
    let mut failures = 0;
    loop {
        let xn = x + dir * step;
        if (xn - x0).abs() > limit {
            return None;
        }
        let Some(gn) = g(xn) else {
            failures += 1;
            if failures > 60 {
                return None;
            }
            step /= 4.0;
            continue;
        };
        if (gn > 0.0) != (gx > 0.0) || gn == 0.0 {
            return Some(if dir > 0.0 {
                (x, xn, gx, gn)
            } else {
                (xn, x, gn, gx)
            });
        }
        x = xn;
        gx = gn;
        step *= 2.0;
    }
}

/// For a fixed value `eta_c` of the constrained coordinate, maximise over the free one: its
/// score T̄_f − E[T_f] is decreasing (the log-likelihood is concave), so its root is bracketed
/// and found by Brent's method. Returns the free coordinate and the moments there.
fn inner_max(fam: Family, tbar: [f64; 2], eta_c: f64, guess: f64) -> Option<(f64, Moments)> {
    let c = fam.constrained();
    let fi = 1 - c;
    let eta = |x: f64| {
        let mut e = [0.0; 2];
        e[c] = eta_c;
        e[fi] = x;
        e
    };
    // g = −score is increasing in the free coordinate.
    let mut g = |x: f64| moments(fam, eta(x)).map(|m| m.mean[fi] - tbar[fi]);
    let step = 0.1 * (1.0 + guess.abs());
    let (lo, hi, glo, ghi) = bracket_increasing(&mut g, guess, step, 1e12)?;
    let x = if lo == hi {
        lo
    } else {
        brent_root(
            &mut g,
            lo,
            hi,
            glo,
            ghi,
            1e-14 * (1.0 + lo.abs().max(hi.abs())),
        )?
    };
    Some((x, moments(fam, eta(x))?))
}

/// Maximise the concave mean log-likelihood f(η) = η·T̄ − ln Z(η) over η_c < 0 (the caller has
/// checked by KKT that the maximum is not on the boundary η_c = 0). Profile likelihood: the
/// inner maximisation over the free coordinate is [`inner_max`]; the profile is concave in η_c
/// with derivative T̄_c − E[T_c] (envelope theorem), decreasing in η_c, so its root is
/// bracketed in s = ln(−η_c) and found by Brent's method. (A joint Newton iteration stalls
/// against the boundary when it starts on the wrong side of the ridge; the nested 1-D
/// problems cannot.)
pub(super) fn profile_expfam(
    fam: Family,
    tbar: [f64; 2],
    eta0: [f64; 2],
) -> Option<([f64; 2], Moments)> {
    let c = fam.constrained();
    let fi = 1 - c;
    let mut last_free = eta0[fi];
    let mut g = |s: f64| -> Option<f64> {
        let eta_c = -s.exp();
        let (x, m) = inner_max(fam, tbar, eta_c, last_free)?;
        last_free = x;
        // Increasing in s: p'(η_c) = T̄_c − E[T_c] is decreasing in η_c = −eˢ.
        Some(tbar[c] - m.mean[c])
    };
    let s0 = (-eta0[c]).ln();
    let (lo, hi, glo, ghi) = bracket_increasing(&mut g, s0, 1.0, 1400.0)?;
    let s = if lo == hi {
        lo
    } else {
        brent_root(&mut g, lo, hi, glo, ghi, 1e-13)?
    };
    let eta_c = -s.exp();
    let (x, m) = inner_max(fam, tbar, eta_c, last_free)?;
    let mut eta = [0.0; 2];
    eta[c] = eta_c;
    eta[fi] = x;
    Some((eta, m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fit::special::erfc;

    #[test]
    fn tpl_normaliser_matches_closed_forms() {
        // ∫₀^∞ e^{(1−α)u − z eᵘ} du = E_α(z) (generalised exponential integral).
        // α = 0: E₀(z) = e^−z/z. α = ½: √(π/z)·erfc(√z). α = 2: e^−z − z·E₁(z).
        for z in [1e-6, 0.03, 0.7, 4.0, 30.0] {
            let m = moments(Family::Tpl, [1.0, -z]).unwrap();
            let want = (-z).exp() / z;
            assert!((m.ln_z - want.ln()).abs() < 1e-13, "α=0 z={z}");
            let m = moments(Family::Tpl, [0.5, -z]).unwrap();
            let want = (std::f64::consts::PI / z).sqrt() * erfc(z.sqrt());
            assert!((m.ln_z - want.ln()).abs() < 1e-12, "α=½ z={z}");
            // E[eᵘ] under α = 0 is ∫₁^∞ t e^−zt dt / E₀ = (1+z)/z.
            let m = moments(Family::Tpl, [1.0, -z]).unwrap();
            assert!(((m.mean[1] - (1.0 + z) / z) / ((1.0 + z) / z)).abs() < 1e-12);
        }
        // α = 2 at z = 1: e^−1 − E₁(1), E₁(1) = 0.21938393439552026.
        let m = moments(Family::Tpl, [-1.0, -1.0]).unwrap();
        let want = (-1.0f64).exp() - 0.219_383_934_395_520_26;
        assert!((m.ln_z - want.ln()).abs() < 1e-13);
        // z → 0 with α > 1: 1/(α − 1).
        let m = moments(Family::Tpl, [-1.5, -1e-14]).unwrap();
        assert!((m.ln_z - (1.0f64 / 1.5).ln()).abs() < 1e-9);
    }

    #[test]
    fn lognormal_normaliser_matches_erfc() {
        // ∫₀^∞ e^{η₁u²+η₂u} du = √(π/(−4η₁)) e^{−η₂²/(4η₁)} erfc(η₂/(2√(−η₁)))... with m, s:
        for (m, s) in [(0.5, 1.0), (-3.0, 2.0), (4.0, 0.3), (-0.2, 0.05)] {
            let eta = [-0.5 / (s * s), m / (s * s)];
            let got = moments(Family::LogN, eta).unwrap();
            let want = m * m / (2.0 * s * s)
                + (s * (std::f64::consts::PI / 2.0).sqrt()).ln()
                + erfc(-m / (s * std::f64::consts::SQRT_2)).ln();
            assert!((got.ln_z - want).abs() < 1e-12, "m={m} s={s}");
        }
    }
}
