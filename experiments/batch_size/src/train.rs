//! The paper's MLP3 (784 → 512 → 512 → 10, ReLU, softmax cross-entropy) and plain SGD with
//! momentum, written out by hand so that every knob is visible: the batch size is the only
//! thing §7 changes, and the explicit L2 term (§6.4) is a separate, explicit flag.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var, D};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;

/// A fully connected ReLU network. Weights are `out × in` (PyTorch's layout, what
/// weightscope expects for `fcN.weight`).
pub struct Mlp {
    pub weights: Vec<Var>,
    pub biases: Vec<Var>,
}

/// Glorot-normal weights as in Keras 2 (the paper's setup, §6.1 and its footnote 32): a
/// normal of variance 2/(fan_in + fan_out), truncated at two standard deviations and
/// rescaled (÷ 0.8796) so that the truncated variance is still 2/(fan_in + fan_out).
/// Biases start at zero. Drawn from ChaCha8 with the given seed, so every batch size
/// starts from the same W₀.
fn glorot_truncated(out: usize, inp: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let std = (2.0 / (inp + out) as f64).sqrt() / 0.879_625_66;
    let normal = rand_distr::StandardNormal;
    let mut v = Vec::with_capacity(out * inp);
    while v.len() < out * inp {
        let z: f64 = rand_distr::Distribution::sample(&normal, rng);
        if z.abs() <= 2.0 {
            v.push((z * std) as f32);
        }
    }
    v
}

impl Mlp {
    /// `sizes` = [784, 512, 512, 10] for MLP3.
    pub fn new(sizes: &[usize], seed: u64, dev: &Device) -> Result<Self> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for w in sizes.windows(2) {
            let (inp, out) = (w[0], w[1]);
            let data = glorot_truncated(out, inp, &mut rng);
            weights.push(Var::from_vec(data, (out, inp), dev)?);
            biases.push(Var::zeros(out, DType::F32, dev)?);
        }
        Ok(Mlp { weights, biases })
    }

    /// Logits for a batch `x` of shape (B, 784).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        let last = self.weights.len() - 1;
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            h = h
                .matmul(&w.as_tensor().t()?)?
                .broadcast_add(b.as_tensor())?;
            if i < last {
                h = h.relu()?;
            }
        }
        Ok(h)
    }

    /// Tensors named `fc1.weight`, `fc1.bias`, … for safetensors.
    pub fn named_tensors(&self) -> HashMap<String, Tensor> {
        let mut m = HashMap::new();
        for (i, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            m.insert(format!("fc{}.weight", i + 1), w.as_tensor().clone());
            m.insert(format!("fc{}.bias", i + 1), b.as_tensor().clone());
        }
        m
    }

    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        candle_core::safetensors::save(&self.named_tensors(), path)?;
        Ok(())
    }
}

/// SGD with (heavy-ball) momentum in Keras 2's form, v ← μv − η(g + λW), W ← W + v; the L2
/// term λW (weight decay, §6.4) applies to the weights only, not the biases, as a Keras
/// `kernel_regularizer` would (Keras' `l2(c)` adds c‖W‖² to the loss: λ = 2c).
pub struct Sgd {
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    velocity: Vec<Tensor>,
}

impl Sgd {
    pub fn new(model: &Mlp, lr: f64, momentum: f64, weight_decay: f64) -> Result<Self> {
        let velocity = model
            .weights
            .iter()
            .chain(&model.biases)
            .map(|v| v.as_tensor().zeros_like())
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Sgd {
            lr,
            momentum,
            weight_decay,
            velocity,
        })
    }

    /// One step on the loss (backward included).
    pub fn step(&mut self, model: &Mlp, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        let nw = model.weights.len();
        for (k, var) in model.weights.iter().chain(&model.biases).enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let g = if k < nw && self.weight_decay > 0.0 {
                (g + var.as_tensor().affine(self.weight_decay, 0.0)?)?
            } else {
                g.clone()
            };
            // Detached: λW is computed from a Var, and a tracked result would chain every
            // step's graph into the velocity (memory grows with the number of steps).
            let v = ((&self.velocity[k] * self.momentum)? - (g * self.lr)?)?.detach();
            var.set(&(var.as_tensor() + &v)?)?;
            self.velocity[k] = v;
        }
        Ok(())
    }
}

/// A data set held as tensors: images (N, 784) f32 and labels (N) u32.
pub struct Data {
    pub x: Tensor,
    pub y: Tensor,
    pub n: usize,
}

impl Data {
    pub fn new(images: &[f32], labels: &[u8], dim: usize, dev: &Device) -> Result<Self> {
        let n = labels.len();
        let x = Tensor::from_slice(images, (n, dim), dev)?;
        let y = Tensor::from_vec(labels.iter().map(|&l| l as u32).collect(), n, dev)?;
        Ok(Data { x, y, n })
    }
}

/// One epoch: a fresh permutation (from `rng`), mini-batches of `batch` (the last, smaller one
/// kept), one SGD step each. Returns the mean training loss over the epoch, or `None` if the
/// loss stopped being finite (divergence).
pub fn train_epoch(
    model: &Mlp,
    opt: &mut Sgd,
    data: &Data,
    batch: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Option<f64>> {
    let mut perm: Vec<u32> = (0..data.n as u32).collect();
    perm.shuffle(rng);
    let dev = data.x.device();
    let mut total = 0.0;
    for chunk in perm.chunks(batch) {
        let idx = Tensor::from_slice(chunk, chunk.len(), dev)?;
        let xb = data.x.index_select(&idx, 0)?;
        let yb = data.y.index_select(&idx, 0)?;
        let loss = candle_nn::loss::cross_entropy(&model.forward(&xb)?, &yb)?;
        let l = loss.to_scalar::<f32>()? as f64;
        if !l.is_finite() {
            return Ok(None);
        }
        total += l * chunk.len() as f64;
        opt.step(model, &loss)?;
    }
    Ok(Some(total / data.n as f64))
}

/// Accuracy and mean cross-entropy on a data set, evaluated in chunks.
pub fn evaluate(model: &Mlp, data: &Data) -> Result<(f64, f64)> {
    let mut correct = 0u64;
    let mut loss = 0.0;
    let chunk = 2000;
    let mut start = 0;
    while start < data.n {
        let len = chunk.min(data.n - start);
        let xb = data.x.narrow(0, start, len)?;
        let yb = data.y.narrow(0, start, len)?;
        let logits = model.forward(&xb)?;
        loss +=
            candle_nn::loss::cross_entropy(&logits, &yb)?.to_scalar::<f32>()? as f64 * len as f64;
        let pred = logits.argmax(D::Minus1)?;
        correct += pred
            .eq(&yb)?
            .to_dtype(DType::U32)?
            .sum_all()?
            .to_scalar::<u32>()? as u64;
        start += len;
    }
    Ok((correct as f64 / data.n as f64, loss / data.n as f64))
}

/// A seeded RNG for the shuffles of a run (the init uses `seed` itself).
pub fn shuffle_rng(seed: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    // Decorrelate from the init stream without a second seed parameter.
    let _: u64 = r.random();
    r.set_stream(1);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated Gaussian blobs in 8 dimensions.
    fn blobs(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = (i % 2) as u8;
            for d in 0..8 {
                let z: f64 =
                    rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut rng);
                let centre = if (d == 0) == (c == 0) { 2.0 } else { -2.0 };
                x.push((centre + 0.3 * z) as f32);
            }
            y.push(c);
        }
        (x, y)
    }

    #[test]
    fn sgd_learns_separable_blobs() {
        let dev = Device::Cpu;
        let (x, y) = blobs(64, 1);
        let data = Data::new(&x, &y, 8, &dev).unwrap();
        let model = Mlp::new(&[8, 16, 16, 2], 0, &dev).unwrap();
        let (acc0, loss0) = evaluate(&model, &data).unwrap();
        let mut opt = Sgd::new(&model, 0.05, 0.9, 0.0).unwrap();
        let mut rng = shuffle_rng(0);
        for _ in 0..5 {
            assert!(train_epoch(&model, &mut opt, &data, 8, &mut rng)
                .unwrap()
                .is_some());
        }
        let (acc, loss) = evaluate(&model, &data).unwrap();
        assert!(loss < loss0 * 0.5, "loss {loss0} -> {loss}");
        assert!(acc == 1.0, "accuracy {acc0} -> {acc}");
    }

    #[test]
    fn weight_decay_shrinks_weights_without_signal() {
        // With the data term gone (all-zero inputs, so W₁ gets no gradient), L2 alone shrinks
        // the first layer's weights geometrically: the mechanism of Rank-collapse.
        let dev = Device::Cpu;
        let data = Data::new(&[0.0; 32], &[0, 1, 0, 1], 8, &dev).unwrap();
        let model = Mlp::new(&[8, 4, 2], 3, &dev).unwrap();
        let norm = |m: &Mlp| {
            m.weights[0]
                .as_tensor()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let before = norm(&model);
        let mut opt = Sgd::new(&model, 0.1, 0.0, 1.0).unwrap();
        let mut rng = shuffle_rng(0);
        for _ in 0..10 {
            train_epoch(&model, &mut opt, &data, 4, &mut rng).unwrap();
        }
        let after = norm(&model);
        // (1 − ηλ)^(2·10) = 0.9^20 ≈ 0.12
        assert!(
            (after / before - 0.9f32.powi(20)).abs() < 1e-3,
            "{before} -> {after}"
        );
    }

    #[test]
    fn same_seed_same_weights_and_layout() {
        let dev = Device::Cpu;
        let a = Mlp::new(&[784, 512, 512, 10], 7, &dev).unwrap();
        let b = Mlp::new(&[784, 512, 512, 10], 7, &dev).unwrap();
        let t = a.named_tensors();
        assert_eq!(t["fc1.weight"].dims(), &[512, 784]);
        assert_eq!(t["fc3.weight"].dims(), &[10, 512]);
        let d = (a.weights[1].as_tensor() - b.weights[1].as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
        // Glorot variance 2/(784+512).
        let w = t["fc1.weight"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let var = w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        assert!((var / (2.0 / 1296.0) - 1.0).abs() < 0.05, "variance {var}");
    }

    #[test]
    fn checkpoint_roundtrip() {
        let dev = Device::Cpu;
        let m = Mlp::new(&[6, 5, 3], 1, &dev).unwrap();
        let dir = std::env::temp_dir().join(format!("bse-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.safetensors");
        m.save(&p).unwrap();
        let back = candle_core::safetensors::load(&p, &dev).unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back["fc1.weight"].dims(), &[5, 6]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
