//! Batch normalisation for the backbones, with PyTorch's weight names (`weight`, `bias`,
//! `running_mean`, `running_var`) and semantics: in training, batch statistics (biased
//! variance) normalise and the running ones move by `momentum` (unbiased variance); in
//! evaluation the running statistics normalise.
//!
//! Why not candle-nn's: its training pass is a chain of a dozen tensor ops (a transposed
//! copy, mean, subtraction, square, mean, sqrt, division, scale, shift), each keeping its
//! result for the backward pass, which made batch norm a large share of a fine-tuning
//! step's time and memory. Here training is one op on the CPU with the textbook gradient
//! (dx = γ·istd/N·(N·dy − Σdy − x̂·Σ(dy·x̂))), keeping only its input. Other devices use the
//! same formulas as tensor ops.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor, Var, bail};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::cpu_values::{read, values};

/// A batch norm layer over the channels (dim 1) of `[n, c, h, w]` values.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Var,
    running_var: Var,
    eps: f64,
    momentum: f64,
}

/// Loads `{name}.{weight,bias,running_mean,running_var}` of a layer over `c` channels.
pub fn batch_norm(vb: &VarBuilder, c: usize, name: &str) -> Result<BatchNorm> {
    let vb = vb.pp(name);
    let weight = vb.get_with_hints(c, "weight", candle_nn::Init::Const(1.0))?;
    let bias = vb.get_with_hints(c, "bias", candle_nn::Init::Const(0.0))?;
    let running_mean = vb.get_with_hints(c, "running_mean", candle_nn::Init::Const(0.0))?;
    let running_var = vb.get_with_hints(c, "running_var", candle_nn::Init::Const(1.0))?;
    Ok(BatchNorm {
        weight,
        bias,
        // Shares the storage when the VarBuilder holds variables (training), so updates of
        // the running statistics are the model's.
        running_mean: Var::from_tensor(&running_mean)?,
        running_var: Var::from_tensor(&running_var)?,
        eps: 1e-5,
        momentum: 0.1,
    })
}

fn shaped(t: &Tensor) -> Result<Tensor> {
    t.reshape((1, (), 1, 1))
}

impl BatchNorm {
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if !train {
            let scale = (&self.weight / (self.running_var.as_tensor() + self.eps)?.sqrt()?)?;
            let shift = (&self.bias - (self.running_mean.as_tensor() * &scale)?)?;
            return x
                .broadcast_mul(&shaped(&scale)?)?
                .broadcast_add(&shaped(&shift)?);
        }
        let x = x.contiguous()?;
        let (n, _, h, w) = x.dims4()?;
        let count = n * h * w;
        if count < 2 {
            bail!("batch norm in training needs more than one value per channel");
        }
        let (mean, var) = if x.device().is_cpu() {
            let (m, v) = stats(&x)?;
            (Tensor::new(m, x.device())?, Tensor::new(v, x.device())?)
        } else {
            let mean = x.mean_keepdim((0, 2, 3))?;
            let var = x.broadcast_sub(&mean)?.sqr()?.mean((0, 2, 3))?;
            (mean.flatten_all()?, var)
        };
        let m = self.momentum;
        let unbiased = (&var * (count as f64 / (count - 1) as f64))?;
        self.running_mean
            .set(&((self.running_mean.as_tensor() * (1.0 - m))? + (&mean * m)?)?)?;
        self.running_var
            .set(&((self.running_var.as_tensor() * (1.0 - m))? + (unbiased * m)?)?)?;
        if x.device().is_cpu() {
            let mean = mean.to_vec1::<f32>()?;
            let istd = var
                .to_vec1::<f32>()?
                .into_iter()
                .map(|v| 1.0 / (v + self.eps as f32).sqrt())
                .collect();
            return x.apply_op3(&self.weight, &self.bias, Normalise { mean, istd });
        }
        let istd = (var + self.eps)?.sqrt()?.recip()?;
        let xhat = x
            .broadcast_sub(&shaped(&mean)?)?
            .broadcast_mul(&shaped(&istd)?)?;
        xhat.broadcast_mul(&shaped(&self.weight)?)?
            .broadcast_add(&shaped(&self.bias)?)
    }
}

/// Per channel mean and (biased) variance of `[n, c, h, w]`, in f64 then f32.
fn stats(x: &Tensor) -> Result<(Vec<f32>, Vec<f32>)> {
    let (n, c, h, w) = x.dims4()?;
    let plane = h * w;
    read(x, |v| {
        (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mut s, mut s2) = (0f64, 0f64);
                for i in 0..n {
                    for &a in &v[(i * c + ch) * plane..][..plane] {
                        let a = f64::from(a);
                        s += a;
                        s2 += a * a;
                    }
                }
                let k = (n * plane) as f64;
                let mean = s / k;
                ((mean) as f32, (s2 / k - mean * mean).max(0.0) as f32)
            })
            .unzip()
    })
}

/// y = γ·(x − μ)·istd + β per channel, with batch statistics μ and istd fixed for the
/// gradient's formula (which accounts for their dependence on x).
struct Normalise {
    mean: Vec<f32>,
    istd: Vec<f32>,
}

impl CustomOp3 for Normalise {
    fn name(&self) -> &'static str {
        "batch-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g, b) = (values(s1, l1)?, values(s2, l2)?, values(s3, l3)?);
        let (_, c, h, w) = l1.shape().dims4()?;
        let plane = h * w;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(plane)
            .zip(x.par_chunks(plane))
            .enumerate()
            .for_each(|(i, (o, xi))| {
                let ch = i % c;
                let scale = g[ch] * self.istd[ch];
                let shift = b[ch] - self.mean[ch] * scale;
                for (a, v) in o.iter_mut().zip(xi) {
                    *a = v * scale + shift;
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (n, c, h, w) = x.dims4()?;
        let plane = h * w;
        let count = (n * plane) as f64;
        let grad = grad.contiguous()?;
        let g = gamma.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        // Per channel: Σdy and Σdy·x̂.
        let (sum_dy, sum_dy_xhat): (Vec<f64>, Vec<f64>) = read(x, |xv| {
            read(&grad, |dv| {
                (0..c)
                    .into_par_iter()
                    .map(|ch| {
                        let (mut a, mut b) = (0f64, 0f64);
                        for i in 0..n {
                            let at = (i * c + ch) * plane;
                            for (xv, dy) in xv[at..at + plane].iter().zip(&dv[at..at + plane]) {
                                let xhat = (xv - self.mean[ch]) * self.istd[ch];
                                a += f64::from(*dy);
                                b += f64::from(dy * xhat);
                            }
                        }
                        (a, b)
                    })
                    .unzip()
            })
        })??;
        let dx: Vec<f32> = read(x, |xv| {
            read(&grad, |dv| {
                let mut out = vec![0f32; xv.len()];
                out.par_chunks_mut(plane).enumerate().for_each(|(i, o)| {
                    let ch = i % c;
                    let at = i * plane;
                    let k = g[ch] * self.istd[ch] / count as f32;
                    let (sd, sdx) = (sum_dy[ch] as f32, sum_dy_xhat[ch] as f32);
                    for (j, v) in o.iter_mut().enumerate() {
                        let xhat = (xv[at + j] - self.mean[ch]) * self.istd[ch];
                        *v = k * (count as f32 * dv[at + j] - sd - xhat * sdx);
                    }
                });
                out
            })
        })??;
        let dev = x.device();
        let dx = Tensor::from_vec(dx, (n, c, h, w), dev)?;
        let dgamma = Tensor::from_vec(
            sum_dy_xhat.iter().map(|v| *v as f32).collect::<Vec<_>>(),
            c,
            dev,
        )?;
        let dbeta = Tensor::from_vec(sum_dy.iter().map(|v| *v as f32).collect::<Vec<_>>(), c, dev)?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, ModuleT};
    use candle_nn::VarMap;

    /// Training and evaluation outputs, running statistics and every gradient equal
    /// candle-nn's batch norm (which follows PyTorch's).
    #[test]
    fn matches_candle_nns_batch_norm_and_its_gradients() -> Result<()> {
        let d = Device::Cpu;
        let (n, c, h, w) = (3, 4, 5, 6);
        let (m1, m2) = (VarMap::new(), VarMap::new());
        let vb1 = VarBuilder::from_varmap(&m1, DType::F32, &d);
        let vb2 = VarBuilder::from_varmap(&m2, DType::F32, &d);
        let ours = batch_norm(&vb1, c, "bn")?;
        let theirs = candle_nn::batch_norm(c, 1e-5, vb2.pp("bn"))?;
        // The same non-trivial parameters and running statistics in both.
        let gamma = Tensor::new(&[1.2f32, 0.7, 1.0, 0.9], &d)?;
        let beta = Tensor::new(&[0.1f32, -0.2, 0.0, 0.3], &d)?;
        for map in [&m1, &m2] {
            let data = map.data().lock().expect("lock");
            data["bn.weight"].set(&gamma)?;
            data["bn.bias"].set(&beta)?;
            data["bn.running_mean"].set(&Tensor::new(&[0.5f32, -0.5, 0.1, 0.0], &d)?)?;
            data["bn.running_var"].set(&Tensor::new(&[2.0f32, 0.5, 1.0, 1.5], &d)?)?;
        }
        let x = Var::from_tensor(&((Tensor::randn(0f32, 1.0, (n, c, h, w), &d)? * 2.0)? + 0.5)?)?;
        let probe = Tensor::randn(0f32, 1.0, (n, c, h, w), &d)?;
        let close = |a: &Tensor, b: &Tensor, tol: f32, what: &str| -> Result<()> {
            let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < tol, "{what}: {diff}");
            Ok(())
        };
        let y1 = ours.forward_t(x.as_tensor(), true)?;
        let y2 = theirs.forward_t(x.as_tensor(), true)?;
        close(&y1, &y2, 1e-4, "training output")?;
        let g1 = (y1 * &probe)?.sum_all()?.backward()?;
        let g2 = (y2 * &probe)?.sum_all()?.backward()?;
        let (d1, d2) = (
            m1.data().lock().expect("lock"),
            m2.data().lock().expect("lock"),
        );
        for (name, a, b) in [
            ("input", x.as_tensor(), x.as_tensor()),
            (
                "weight",
                d1["bn.weight"].as_tensor(),
                d2["bn.weight"].as_tensor(),
            ),
            ("bias", d1["bn.bias"].as_tensor(), d2["bn.bias"].as_tensor()),
        ] {
            close(
                g1.get(a).expect("ours"),
                g2.get(b).expect("candle's"),
                1e-3,
                name,
            )?;
        }
        for k in ["bn.running_mean", "bn.running_var"] {
            close(d1[k].as_tensor(), d2[k].as_tensor(), 1e-5, k)?;
        }
        drop((d1, d2));
        close(
            &ours.forward_t(x.as_tensor(), false)?,
            &theirs.forward_t(x.as_tensor(), false)?,
            1e-4,
            "evaluation output",
        )?;
        Ok(())
    }
}
