//! LoRA adapters (PEFT): a low-rank update ΔW = B·A stored as two factors, `….lora_A.weight`
//! (r × in) and `….lora_B.weight` (out × r). The pair is analysed as one layer named
//! `….lora_BA`, as weightwatcher's `peft=True` does: the ESD is the r eigenvalues of
//! (BA)ᵀ(BA) that can be non-zero (the rest are exactly 0 by construction).
//!
//! The eigenvalues come from the factors, never from the out × in product: with B = Q_B·R_B
//! and Aᵀ = Q_A·R_A (thin QR), B·A = Q_B·(R_B·R_Aᵀ)·Q_Aᵀ, so the singular values of B·A are
//! those of the r × r matrix R_B·R_Aᵀ. Cost O((out + in)·r²) instead of O(out·in²), with the
//! relative accuracy of an SVD (weightwatcher calls ARPACK's `svds(k = r)` on the product).

use crate::layers::LayerPlan;
use crate::{Error, Result};
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use weightscope_formats::{TensorInfo, TensorSource};

/// The B factor paired with a LoRA A factor, and how the two are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoraPair {
    /// Index of the B tensor in the checkpoint's listing.
    pub b_id: usize,
    /// The adapter's rank r (the inner dimension of B·A).
    pub rank: usize,
    /// Rows (out) and columns (in) of B·A.
    pub out: usize,
    #[serde(rename = "in")]
    pub inp: usize,
    /// A is stored as in × r (not r × in).
    pub a_transposed: bool,
    /// B is stored as r × out (not out × r).
    pub b_transposed: bool,
}

/// The B factor's name for a LoRA A factor's name (`lora_A` → `lora_B`, PEFT's embedding
/// adapters `lora_embedding_A` → `lora_embedding_B`), or None if it is not an A factor.
pub fn b_name(a_name: &str) -> Option<String> {
    for (a, b) in [
        ("lora_embedding_A", "lora_embedding_B"),
        ("lora_A", "lora_B"),
    ] {
        if let Some(i) = a_name.rfind(a) {
            return Some(format!("{}{}{}", &a_name[..i], b, &a_name[i + a.len()..]));
        }
    }
    None
}

/// Whether a tensor name is a LoRA B factor.
pub fn is_b_name(name: &str) -> bool {
    name.contains("lora_B") || name.contains("lora_embedding_B")
}

/// The layer name of the product: `lora_A` → `lora_BA` (weightwatcher's naming).
fn product_name(a_name: &str) -> String {
    for (a, ba) in [
        ("lora_embedding_A", "lora_embedding_BA"),
        ("lora_A", "lora_BA"),
    ] {
        if let Some(i) = a_name.rfind(a) {
            return format!("{}{}{}", &a_name[..i], ba, &a_name[i + a.len()..]);
        }
    }
    a_name.to_string()
}

/// How A (shape `a`) and B (shape `b`) multiply: the rank is A's smaller dimension, and each
/// factor is transposed if needed so that B (out × r) · A (r × in) is defined.
fn align(a: &[usize], b: &[usize]) -> Option<(usize, usize, usize, bool, bool)> {
    let r = a[0].min(a[1]);
    let (a_t, inp) = if a[0] == r {
        (false, a[1])
    } else {
        (true, a[0])
    };
    let (b_t, out) = if b[1] == r {
        (false, b[0])
    } else if b[0] == r {
        (true, b[1])
    } else {
        return None;
    };
    Some((r, out, inp, a_t, b_t))
}

/// Turn each LoRA A factor's plan into the plan of B·A, and skip the B factors (they are read
/// with their A). Pairs are found by name in the whole listing; an A without its B, or a pair
/// whose shapes do not multiply, is skipped with the reason.
pub fn pair_factors(plans: &mut [LayerPlan], tensors: &[TensorInfo], min_evals: usize) {
    for p in plans.iter_mut() {
        let t = &tensors[p.layer_id];
        if t.shape.len() != 2 || p.slice_id.is_some() || !t.dtype.is_float() {
            continue;
        }
        if is_b_name(&t.name) && b_name(&t.name).is_none() {
            p.skip = Some("LoRA B factor: analysed with its A factor as lora_BA".into());
            continue;
        }
        let Some(bn) = b_name(&t.name) else { continue };
        if p.skip.as_deref().is_some_and(|s| !s.contains("min-evals")) {
            continue;
        }
        let Some((b_id, b)) = tensors.iter().enumerate().find(|(_, x)| x.name == bn) else {
            p.skip = Some(format!("LoRA A factor without its B factor '{bn}'"));
            continue;
        };
        let Some((rank, out, inp, a_transposed, b_transposed)) = (b.shape.len() == 2)
            .then(|| align(&t.shape, &b.shape))
            .flatten()
        else {
            p.skip = Some(format!(
                "LoRA factors do not multiply: A {:?}, B '{bn}' {:?}",
                t.shape, b.shape
            ));
            continue;
        };
        p.name = product_name(&p.name);
        p.longname = product_name(&p.longname);
        p.kind = Some(crate::layers::LayerKind::Dense);
        p.shape = vec![out, inp];
        p.n = out.max(inp);
        p.m = out.min(inp);
        p.rf = 1;
        p.num_evals = rank;
        p.note = Some(format!("LoRA B·A of rank {rank} ({out}×{inp})"));
        p.skip = (rank < min_evals)
            .then(|| format!("LoRA rank {rank} < --min-evals {min_evals} eigenvalues"));
        p.lora = Some(LoraPair {
            b_id,
            rank,
            out,
            inp,
            a_transposed,
            b_transposed,
        });
    }
}

/// Read both factors of a LoRA plan: A (r × in) then B (out × r), row-major, concatenated.
pub fn read_factors(src: &dyn TensorSource, plan: &LayerPlan, pair: &LoraPair) -> Result<Vec<f64>> {
    let a = src.read_f64(plan.layer_id)?;
    let b = src.read_f64(pair.b_id)?;
    let (r, out, inp) = (pair.rank, pair.out, pair.inp);
    if a.len() != r * inp || b.len() != out * r {
        return Err(Error::Usage(format!(
            "LoRA factors of {} changed size while reading",
            plan.longname
        )));
    }
    let mut data = Vec::with_capacity(a.len() + b.len());
    // A as r × in.
    if pair.a_transposed {
        data.extend(
            (0..r)
                .flat_map(|i| (0..inp).map(move |j| (i, j)))
                .map(|(i, j)| a[j * r + i]),
        );
    } else {
        data.extend_from_slice(&a);
    }
    // B as out × r.
    if pair.b_transposed {
        data.extend(
            (0..out)
                .flat_map(|i| (0..r).map(move |j| (i, j)))
                .map(|(i, j)| b[j * out + i]),
        );
    } else {
        data.extend_from_slice(&b);
    }
    Ok(data)
}

/// The factors A (r × in) and B (out × r) from the data of [`read_factors`].
pub fn factors(pair: &LoraPair, data: &[f64]) -> (Mat<f64>, Mat<f64>) {
    let (r, out, inp) = (pair.rank, pair.out, pair.inp);
    let a = Mat::from_fn(r, inp, |i, j| data[i * inp + j]);
    let b = Mat::from_fn(out, r, |i, j| data[r * inp + i * r + j]);
    (a, b)
}

/// B·A as an N × M matrix (N ≥ M; transposed when out < in), for the analyses that need the
/// matrix itself (randomization, eigenvectors, deltas). out·in·r flops.
pub fn product(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let ba = b * a;
    if ba.nrows() >= ba.ncols() {
        ba
    } else {
        ba.transpose().to_owned()
    }
}

/// B·A row-major (out × in), the layout of a plain weight of that shape.
pub fn product_row_major(pair: &LoraPair, data: &[f64]) -> Vec<f64> {
    let (a, b) = factors(pair, data);
    let ba = b * a;
    let mut v = Vec::with_capacity(pair.out * pair.inp);
    for i in 0..pair.out {
        v.extend((0..pair.inp).map(|j| ba[(i, j)]));
    }
    v
}

/// The r eigenvalues of (BA)ᵀ(BA) that can be non-zero, ascending and ≥ 0: the squared
/// singular values of R_B·R_Aᵀ (module docs). None if the SVD fails (NaN input).
pub fn eigenvalues(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Option<Vec<f64>> {
    let r = a.nrows();
    // Thin R factors; a factor with fewer rows than r (r > out or in) is padded by zeros,
    // which leaves the singular values of the product unchanged.
    let thin_r = |m: MatRef<'_, f64>| -> Mat<f64> {
        let mut padded = Mat::<f64>::zeros(m.nrows().max(r), r);
        padded
            .as_mut()
            .submatrix_mut(0, 0, m.nrows(), r)
            .copy_from(m);
        padded.qr().thin_R().to_owned()
    };
    let rb = thin_r(b);
    let ra = thin_r(a.transpose());
    let core = &rb * ra.transpose();
    let mut ev: Vec<f64> = core
        .singular_values()
        .ok()?
        .into_iter()
        .map(|s| s * s)
        .collect();
    ev.sort_by(f64::total_cmp);
    Some(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_pair_up() {
        assert_eq!(
            b_name("base_model.model.layers.0.q_proj.lora_A.weight").as_deref(),
            Some("base_model.model.layers.0.q_proj.lora_B.weight")
        );
        assert_eq!(
            b_name("m.embed_tokens.lora_embedding_A").as_deref(),
            Some("m.embed_tokens.lora_embedding_B")
        );
        assert_eq!(
            product_name("x.q_proj.lora_A.default.weight"),
            "x.q_proj.lora_BA.default.weight"
        );
        assert!(b_name("x.q_proj.weight").is_none());
        assert!(is_b_name("x.lora_B.weight"));
    }

    #[test]
    fn alignment_of_stored_layouts() {
        // PEFT: A (r, in), B (out, r).
        assert_eq!(align(&[4, 30], &[20, 4]), Some((4, 20, 30, false, false)));
        // Transposed storage of either factor.
        assert_eq!(align(&[30, 4], &[4, 20]), Some((4, 20, 30, true, true)));
        assert_eq!(align(&[4, 30], &[20, 5]), None);
    }

    /// A deterministic pseudo-random matrix (no RNG dependency in a unit test).
    fn mat(rows: usize, cols: usize, seed: u64) -> Mat<f64> {
        Mat::from_fn(rows, cols, |i, j| {
            let x = ((i * 131 + j * 71) as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        })
    }

    #[test]
    fn eigenvalues_equal_those_of_the_product() {
        for (out, inp, r) in [(40, 30, 4), (25, 60, 8), (6, 50, 8), (9, 9, 9)] {
            let (a, b) = (mat(r, inp, 1), mat(out, r, 2));
            let ours = eigenvalues(a.as_ref(), b.as_ref()).unwrap();
            let ba = product(a.as_ref(), b.as_ref());
            let mut all = ba.singular_values().unwrap();
            all.iter_mut().for_each(|s| *s *= *s);
            all.sort_by(f64::total_cmp);
            let top = &all[all.len() - r.min(all.len())..];
            let scale = top.last().unwrap();
            // r > out: the padded factor gives extra exact zeros.
            let ours_top = &ours[ours.len() - top.len()..];
            for (x, y) in ours_top.iter().zip(top) {
                assert!(
                    (x - y).abs() <= 1e-12 * scale,
                    "{out}×{inp} r={r}: {x} vs {y}"
                );
            }
            for z in &ours[..ours.len() - top.len()] {
                assert!(*z <= 1e-24 * scale);
            }
        }
    }

    #[test]
    fn hand_computed_rank_one() {
        // B = [1, 2]ᵀ, A = [3, 0, 4]: BA has the one singular value |B|·|A| = √5·5.
        let a = Mat::from_fn(1, 3, |_, j| [3.0, 0.0, 4.0][j]);
        let b = Mat::from_fn(2, 1, |i, _| [1.0, 2.0][i]);
        let ev = eigenvalues(a.as_ref(), b.as_ref()).unwrap();
        assert_eq!(ev.len(), 1);
        assert!((ev[0] - 125.0).abs() < 1e-12);
    }
}
