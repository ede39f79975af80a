//! Little-endian element decoding to f64, shared by the readers.

use super::DType;

/// Decode `bytes` of `dtype` (little-endian) to f64. `bytes.len()` must be a multiple of the
/// element size (checked by the callers against the tensor's shape).
pub(crate) fn decode_le(bytes: &[u8], dtype: &DType) -> Option<Vec<f64>> {
    Some(match dtype {
        DType::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
            .collect(),
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
            .collect(),
        DType::Quantized(_) | DType::Other(_) => return None,
    })
}

/// Whether multiplying the dims in any order stays within usize: the product of the
/// non-zero dims must fit (a zero dim does not make `[2^40, 2^40, 0]` safe for a consumer
/// that multiplies left to right). Readers list shapes that fail this without dims.
pub(crate) fn shape_fits<T: Copy + TryInto<usize>>(dims: &[T]) -> bool {
    dims.iter()
        .try_fold(1usize, |a, &d| {
            let d: usize = d.try_into().ok()?;
            if d == 0 {
                Some(a)
            } else {
                a.checked_mul(d)
            }
        })
        .is_some()
}

/// Size in bytes of one element.
pub(crate) fn elem_size(dtype: &DType) -> Option<usize> {
    match dtype {
        DType::F64 => Some(8),
        DType::F32 => Some(4),
        DType::F16 | DType::BF16 => Some(2),
        DType::Quantized(_) | DType::Other(_) => None,
    }
}

/// Reverse the axes of a row-major tensor (turns Fortran order into C order of the same
/// logical array): element at index (i₀,…,i_{d−1}) of the output is at (i_{d−1},…,i₀) of
/// the input laid out with the reversed shape.
pub(crate) fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let d = shape.len();
    if d < 2 {
        return data.to_vec();
    }
    // Strides of the Fortran layout for the logical shape.
    let mut fstride = vec![1usize; d];
    for k in 1..d {
        fstride[k] = fstride[k - 1] * shape[k - 1];
    }
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut idx = vec![0usize; d];
    for _ in 0..n {
        let off: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out.push(data[off]);
        for k in (0..d).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fortran_order_2x3() {
        // Logical [[1,2,3],[4,5,6]] stored column-major: 1,4,2,5,3,6.
        let f = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
        assert_eq!(
            fortran_to_c(&f, &[2, 3]),
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
    }

    #[test]
    fn shapes_fit_whatever_the_order() {
        assert!(shape_fits(&[0usize, 1 << 40, 1 << 40]) == shape_fits(&[1usize << 40, 1 << 40, 0]));
        assert!(!shape_fits(&[1u64 << 40, 1 << 40, 0]));
        assert!(shape_fits(&[4096u64, 4096, 0]));
        assert!(!shape_fits(&[-1i64]));
    }

    #[test]
    fn half_precision_decodes() {
        let b = half::bf16::from_f32(1.5).to_le_bytes();
        assert_eq!(decode_le(&b, &DType::BF16).unwrap(), vec![1.5]);
        let h = half::f16::from_f32(-0.25).to_le_bytes();
        assert_eq!(decode_le(&h, &DType::F16).unwrap(), vec![-0.25]);
    }
}
