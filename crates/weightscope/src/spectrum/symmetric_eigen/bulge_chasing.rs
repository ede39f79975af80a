//! Stage 2 of the two-stage reduction: band → tridiagonal by bulge chasing (see the parent
//! module's doc for its cost and precision).

use super::Float;

/// A Householder reflector H = I − τ·v·vᵀ (v₀ = 1) with H·x = β·e₀: overwrites x with v
/// (x₀ ← 1) and returns (τ, β). τ = 0 (H = I) when x₁.. = 0. LAPACK's `dlarfg`, with the
/// norm scaled by max|x| so that squares neither overflow nor underflow (f32 included).
#[inline(always)]
fn householder<T: Float>(x: &mut [T]) -> (T, T) {
    let alpha = x[0];
    let mut scale = T::ZERO;
    for &v in &x[1..] {
        let a = v.abs();
        if a > scale {
            scale = a;
        }
    }
    if scale == T::ZERO {
        x[0] = T::ONE;
        return (T::ZERO, alpha);
    }
    let s = if alpha.abs() > scale {
        alpha.abs()
    } else {
        scale
    };
    let inv = T::ONE / s;
    let mut ss = (alpha * inv) * (alpha * inv);
    for &v in &x[1..] {
        let y = v * inv;
        ss += y * y;
    }
    let norm = s * ss.sqrt();
    let beta = if alpha >= T::ZERO { -norm } else { norm };
    let tau = (beta - alpha) / beta;
    let f = T::ONE / (alpha - beta);
    for v in &mut x[1..] {
        *v *= f;
    }
    x[0] = T::ONE;
    (tau, beta)
}

#[inline(always)]
fn dot<T: Float>(a: &[T], b: &[T]) -> T {
    // Sixteen accumulators in a fixed order: the compiler vectorises them (2–4 registers,
    // enough to hide the add latency) without reassociating, so the result is deterministic.
    const L: usize = 16;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut s = [T::ZERO; L];
    let (ac, ar) = a.split_at(n / L * L);
    let (bc, br) = b.split_at(n / L * L);
    for (x, y) in ac.chunks_exact(L).zip(bc.chunks_exact(L)) {
        for l in 0..L {
            s[l] += x[l] * y[l];
        }
    }
    let mut w = L;
    while w > 1 {
        w /= 2;
        for l in 0..w {
            let r = s[l + w];
            s[l] += r;
        }
    }
    let mut t = s[0];
    for (x, y) in ar.iter().zip(br) {
        t += *x * *y;
    }
    t
}

#[inline(always)]
fn axpy<T: Float>(y: &mut [T], alpha: T, x: &[T]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += alpha * x;
    }
}

/// Lower band in "diagonal-shifted" column-major storage: entry (r, c), 0 ≤ r − c ≤ 2b, at
/// r + c·(ld − 1) with ld = 2b + 1, so every column of a block in the band is one contiguous
/// slice; the extra b diagonals hold the bulges.
struct Band<T> {
    data: Vec<T>,
    step: usize,
}

impl<T: Float> Band<T> {
    #[inline(always)]
    fn at(&self, r: usize, c: usize) -> usize {
        debug_assert!(r >= c && r - c <= self.step);
        r + c * self.step
    }
    /// Rows r0..r0+len of column c.
    #[inline(always)]
    fn col(&mut self, c: usize, r0: usize, len: usize) -> &mut [T] {
        let s = self.at(r0, c);
        &mut self.data[s..s + len]
    }
}

/// Stage 2: the tridiagonal (diagonal, subdiagonal) of the band matrix in the lower band of
/// half-width `b` of `a`, by bulge chasing (≈ 6·M²·b flops).
pub fn band_to_tridiagonal<T: Float>(a: faer::MatRef<'_, T>, b: usize) -> (Vec<T>, Vec<T>) {
    let n = a.nrows();
    let step = 2 * b;
    let mut band = Band {
        data: vec![T::ZERO; (n + 1) * (step + 1)],
        step,
    };
    for c in 0..n {
        for r in c..(c + b + 1).min(n) {
            let i = band.at(r, c);
            band.data[i] = a[(r, c)];
        }
    }
    chase(&mut band, n, b);
    let d = (0..n).map(|i| band.data[band.at(i, i)]).collect();
    let e = (0..n)
        .map(|i| {
            if i + 1 < n {
                band.data[band.at(i + 1, i)]
            } else {
                T::ZERO
            }
        })
        .collect();
    (d, e)
}

/// The bulge chasing, compiled for AVX2 + FMA when the CPU has them (the rest of the crate is
/// built for baseline x86-64). Rust never contracts a·b + c into an FMA, and [`dot`] fixes
/// its order of summation, so both versions give the same bits.
fn chase<T: Float>(band: &mut Band<T>, n: usize, b: usize) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA, checked just above.
        unsafe { chase_avx2(band, n, b) };
        return;
    }
    chase_any(band, n, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chase_avx2<T: Float>(band: &mut Band<T>, n: usize, b: usize) {
    chase_any(band, n, b)
}

/// One sweep of the bulge chasing: it annihilates column `i` below the subdiagonal, then
/// chases the bulge down, one reflector of length ≤ b per step.
struct Sweep {
    /// Column the next reflector is taken from (rows r0..r0+len).
    c: usize,
    r0: usize,
    len: usize,
    /// Columns c+1..=c+extra, rows r0..r0+len: the rest of the previous bulge block, which
    /// the reflector must be applied to from the left.
    extra: usize,
}

#[inline(always)]
fn chase_any<T: Float>(band: &mut Band<T>, n: usize, b: usize) {
    let mut v = vec![T::ZERO; b];
    let mut y = vec![T::ZERO; b];
    let mut w = vec![T::ZERO; b];
    for i in 0..n.saturating_sub(2) {
        let mut s = Sweep {
            c: i,
            r0: i + 1,
            len: b.min(n - i - 1),
            extra: 0,
        };
        while s.len > 1 {
            step(band, &mut s, n, b, &mut v, &mut y, &mut w);
        }
    }
}

/// One step of a sweep: ≈ 12·b² flops.
#[inline(always)]
fn step<T: Float>(
    band: &mut Band<T>,
    s: &mut Sweep,
    n: usize,
    b: usize,
    v: &mut [T],
    y: &mut [T],
    w: &mut [T],
) {
    let Sweep { c, r0, len, extra } = *s;
    // Reflector from column c, rows r0..r0+len.
    let x = band.col(c, r0, len);
    v[..len].copy_from_slice(x);
    let (tau, beta) = householder(&mut v[..len]);
    let x = band.col(c, r0, len);
    x[0] = beta;
    for e in &mut x[1..] {
        *e = T::ZERO;
    }
    let rb = r0 + len;
    let len2 = b.min(n - rb);
    if tau != T::ZERO {
        let v = &v[..len];
        // Left application to the rest of the previous bulge block: 4·len·extra flops.
        for q in c + 1..c + 1 + extra {
            let col = band.col(q, r0, len);
            let s = tau * dot(col, v);
            axpy(col, -s, v);
        }
        // Two-sided application to the symmetric diagonal block D (lower triangle):
        // y = τ·D·v, y −= ½τ(yᵀv)·v, D −= v·yᵀ + y·vᵀ. 4·len² flops.
        let y = &mut y[..len];
        y.fill(T::ZERO);
        for q in 0..len {
            let col = band.col(r0 + q, r0 + q, len - q);
            let vq = v[q];
            y[q] += dot(col, &v[q..]);
            axpy(&mut y[q + 1..], vq, &col[1..]);
        }
        for e in y.iter_mut() {
            *e *= tau;
        }
        let h = T::of(-0.5) * tau * dot(y, v);
        axpy(y, h, v);
        for q in 0..len {
            let col = band.col(r0 + q, r0 + q, len - q);
            let (vq, yq) = (v[q], y[q]);
            axpy(col, -yq, &v[q..]);
            axpy(col, -vq, &y[q..]);
        }
        // Right application to the block below, B = A[r0+len.., r0..r0+len]: it fills B
        // (the bulge), whose first column the next step annihilates. 4·len·len2 flops.
        if len2 > 0 {
            let w = &mut w[..len2];
            w.fill(T::ZERO);
            for (q, &vq) in v.iter().enumerate() {
                axpy(w, vq, band.col(r0 + q, rb, len2));
            }
            for (q, &vq) in v.iter().enumerate() {
                axpy(band.col(r0 + q, rb, len2), -tau * vq, w);
            }
        }
    }
    *s = Sweep {
        c: r0,
        r0: rb,
        len: len2,
        extra: len - 1,
    };
}
