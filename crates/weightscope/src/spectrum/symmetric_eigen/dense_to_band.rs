//! Stage 1 of the two-stage reduction: dense → band by blocked Householder panels (see the
//! parent module's doc for its cost and precision).

use super::Float;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::matmul::matmul;
use faer::linalg::matmul::triangular::{self, BlockStructure};
use faer::linalg::triangular_solve::solve_lower_triangular_in_place;
use faer::reborrow::{IntoConst, Reborrow, ReborrowMut};
use faer::{Accum, Mat, MatMut, Par};

/// Stage 1: reduce the symmetric matrix in the lower triangle of `a` to a lower band of
/// half-width `b` in place (entries below the band are left as garbage, not zeroed).
pub fn reduce_to_band<T: Float>(a: MatMut<'_, T>, b: usize) {
    let n = a.nrows();
    let mut a = a;
    let mut j = 0;
    while j + b + 1 < n {
        // Rows below the band in the panel's columns: m2 ≥ 2 ⇒ something to annihilate.
        let m2 = n - j - b;
        let k = m2.min(b);
        let (panel, trailing) = {
            let (_, right) = a.rb_mut().split_at_col_mut(j);
            let (left, trailing) = right.split_at_col_mut(b);
            let panel = left.subrows_mut(j + b, m2);
            let trailing = trailing.submatrix_mut(j + b, 0, m2, m2);
            (panel, trailing)
        };
        let mut panel = panel;
        let mut trailing = trailing;

        // Panel = Q·R with Q = I − V·T⁻¹·Vᵀ (faer's convention, T upper triangular k×k).
        let mut t = Mat::<T>::zeros(k, k);
        let scratch = faer::linalg::qr::no_pivoting::factor::qr_in_place_scratch::<T>(
            m2,
            b,
            k,
            Par::Seq,
            Default::default(),
        );
        faer::linalg::qr::no_pivoting::factor::qr_in_place(
            panel.rb_mut(),
            t.as_mut(),
            Par::Seq,
            MemStack::new(&mut MemBuffer::new(scratch)),
            Default::default(),
        );
        // W = [V | Z] with V explicit (unit lower trapezoidal); Z filled below.
        let mut w = Mat::<T>::zeros(m2, 2 * k);
        for c in 0..k {
            w[(c, c)] = T::ONE;
            for r in c + 1..m2 {
                w[(r, c)] = panel[(r, c)];
            }
        }
        let (v, mut z) = w.as_mut().split_at_col_mut(k);
        let v = v.into_const();
        // Z = A₂₂·V (A₂₂ symmetric, lower triangle stored): 2·m2²·k flops.
        triangular::matmul(
            z.rb_mut(),
            BlockStructure::Rectangular,
            Accum::Replace,
            trailing.rb(),
            BlockStructure::TriangularLower,
            v,
            BlockStructure::Rectangular,
            T::ONE,
            Par::Seq,
        );
        triangular::matmul(
            z.rb_mut(),
            BlockStructure::Rectangular,
            Accum::Add,
            trailing.rb().transpose(),
            BlockStructure::StrictTriangularUpper,
            v,
            BlockStructure::Rectangular,
            T::ONE,
            Par::Seq,
        );
        // X = A₂₂·V·T⁻¹, solved as T⁻ᵀ·Xᵀ.
        solve_lower_triangular_in_place(
            t.as_ref().transpose(),
            z.rb_mut().transpose_mut(),
            Par::Seq,
        );
        // Z = X − ½·V·(T⁻ᵀ·Vᵀ·X): then Qᵀ·A₂₂·Q = A₂₂ − V·Zᵀ − Z·Vᵀ.
        let mut p = Mat::<T>::zeros(k, k);
        matmul(
            p.as_mut(),
            Accum::Replace,
            v.transpose(),
            z.rb(),
            T::ONE,
            Par::Seq,
        );
        solve_lower_triangular_in_place(t.as_ref().transpose(), p.as_mut(), Par::Seq);
        matmul(z.rb_mut(), Accum::Add, v, p.as_ref(), T::of(-0.5), Par::Seq);
        // Lower triangle of A₂₂ −= [V Z]·[Z V]ᵀ: one rank-2k product, 2·m2²·k flops.
        let mut zv = Mat::<T>::zeros(m2, 2 * k);
        zv.as_mut().subcols_mut(0, k).copy_from(z.rb());
        zv.as_mut().subcols_mut(k, k).copy_from(v);
        triangular::matmul(
            trailing.rb_mut(),
            BlockStructure::TriangularLower,
            Accum::Add,
            w.as_ref(),
            BlockStructure::Rectangular,
            zv.as_ref().transpose(),
            BlockStructure::Rectangular,
            T::of(-1.0),
            Par::Seq,
        );
        j += b;
    }
}
