//! Layer norm and softmax over the last dimension as single ops with their gradients, for
//! training on the CPU. candle's fused versions have no backward pass, and the versions
//! composed of elementary ops keep every intermediate for autograd (a ViT block's two layer
//! norms and its attention softmax kept about a dozen full-size tensors); these keep only
//! their input (layer norm) or output (softmax) and compute the textbook gradients:
//!
//! - layer norm, x̂ = (x − μ)·istd, y = γ·x̂ + β: dx = istd/D · (D·g − Σg − x̂·Σ(g·x̂)) with
//!   g = dy·γ per row; dγ = Σ_rows dy·x̂, dβ = Σ_rows dy;
//! - softmax y: dx = y·(dy − Σ(dy·y)) per row.
//!
//! Other devices (CUDA) use the composed ops.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, D, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::cpu_values::{read, values};

/// Mean and 1/std of one row (in f64 for the sums).
fn row_stats(x: &[f32], eps: f64) -> (f32, f32) {
    let d = x.len() as f64;
    let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / d;
    let var = x
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / d;
    (mean as f32, (1.0 / (var + eps).sqrt()) as f32)
}

struct LayerNorm {
    eps: f64,
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "layer-norm-train"
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
        let d = g.len();
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(d)
            .zip(x.par_chunks(d))
            .with_min_len(16)
            .for_each(|(o, xr)| {
                let (mean, istd) = row_stats(xr, self.eps);
                for ((o, v), (g, b)) in o.iter_mut().zip(xr).zip(g.iter().zip(b)) {
                    *o = (v - mean) * istd * g + b;
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
        let grad = grad.contiguous()?;
        let g = gamma.to_dtype(DType::F32)?.to_vec1::<f32>()?;
        let d = g.len();
        let eps = self.eps;
        // Per row: dx, and the row's dy·x̂ and dy for dγ and dβ (summed in blocks of rows).
        let (dx, dgamma, dbeta) = read(x, |xv| {
            read(&grad, |dv| {
                let mut dx = vec![0f32; xv.len()];
                let parts: Vec<(Vec<f64>, Vec<f64>)> = dx
                    .par_chunks_mut(d * 64)
                    .zip(xv.par_chunks(d * 64).zip(dv.par_chunks(d * 64)))
                    .map(|(o, (xb, db))| {
                        let (mut dg, mut dbeta) = (vec![0f64; d], vec![0f64; d]);
                        let mut xhat = vec![0f32; d];
                        for ((o, xr), dr) in o.chunks_mut(d).zip(xb.chunks(d)).zip(db.chunks(d)) {
                            let (mean, istd) = row_stats(xr, eps);
                            let (mut sg, mut sgx) = (0f32, 0f32);
                            for j in 0..d {
                                xhat[j] = (xr[j] - mean) * istd;
                                let gj = dr[j] * g[j];
                                sg += gj;
                                sgx += gj * xhat[j];
                                dg[j] += f64::from(dr[j] * xhat[j]);
                                dbeta[j] += f64::from(dr[j]);
                            }
                            let k = istd / d as f32;
                            for j in 0..d {
                                o[j] = k * (d as f32 * dr[j] * g[j] - sg - xhat[j] * sgx);
                            }
                        }
                        (dg, dbeta)
                    })
                    .collect();
                let (mut dg, mut db) = (vec![0f64; d], vec![0f64; d]);
                for (a, b) in parts {
                    for j in 0..d {
                        dg[j] += a[j];
                        db[j] += b[j];
                    }
                }
                (dx, dg, db)
            })
        })??;
        let dev = x.device();
        let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect::<Vec<f32>>();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(f32s(dgamma), d, dev)?),
            Some(Tensor::from_vec(f32s(dbeta), d, dev)?),
        ))
    }
}

/// Layer norm over the last dimension with a gradient (CPU f32; composed ops elsewhere).
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    if !x.device().is_cpu() || x.dtype() != DType::F32 {
        return candle_nn::ops::layer_norm_slow(x, gamma, beta, eps as f32);
    }
    x.contiguous()?
        .apply_op3(&gamma.contiguous()?, &beta.contiguous()?, LayerNorm { eps })
}

struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "softmax-train"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(s, l)?;
        let d = l.shape().dims().last().copied().unwrap_or(1).max(1);
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(d)
            .zip(x.par_chunks(d))
            .with_min_len(64)
            .for_each(|(o, xr)| {
                let max = xr.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0f32;
                for (o, v) in o.iter_mut().zip(xr) {
                    *o = (v - max).exp();
                    sum += *o;
                }
                for o in o.iter_mut() {
                    *o /= sum;
                }
            });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        let d = res.dim(D::Minus1)?.max(1);
        let dx = read(res, |y| {
            read(&grad, |dv| {
                let mut dx = vec![0f32; y.len()];
                dx.par_chunks_mut(d)
                    .zip(y.par_chunks(d).zip(dv.par_chunks(d)))
                    .with_min_len(64)
                    .for_each(|(o, (yr, dr))| {
                        let s: f32 = yr.iter().zip(dr).map(|(y, g)| y * g).sum();
                        for ((o, y), g) in o.iter_mut().zip(yr).zip(dr) {
                            *o = y * (g - s);
                        }
                    });
                dx
            })
        })??;
        Ok(Some(Tensor::from_vec(dx, res.shape(), res.device())?))
    }
}

/// Softmax over the last dimension with a gradient (CPU f32; composed ops elsewhere).
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    if !x.device().is_cpu() || x.dtype() != DType::F32 {
        return candle_nn::ops::softmax(x, D::Minus1);
    }
    x.contiguous()?.apply_op1(Softmax)
}

/// A layer norm's weights that runs through [`layer_norm`] (with gradients) when training
/// and candle's fused kernel (without) otherwise; the ViT and BERT networks share it.
pub struct Norm {
    w: Tensor,
    b: Tensor,
    eps: f64,
}

impl Norm {
    /// `weight` and `bias` of width `d` under `vb`.
    pub fn load(vb: candle_nn::VarBuilder, d: usize, eps: f64) -> Result<Self> {
        Ok(Norm {
            w: vb.get(d, "weight")?,
            b: vb.get(d, "bias")?,
            eps,
        })
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        if train {
            layer_norm(x, &self.w, &self.b, self.eps)
        } else {
            candle_nn::ops::layer_norm(&x.contiguous()?, &self.w, &self.b, self.eps as f32)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
        let diff = (a - b)
            .and_then(|t| t.abs())
            .and_then(|t| t.max_all())
            .and_then(|t| t.to_scalar::<f32>())
            .expect("diff");
        assert!(diff < tol, "{what}: {diff}");
    }

    /// Outputs and every gradient equal the composed ops' (which autograd differentiates).
    #[test]
    fn match_the_composed_ops_and_their_gradients() -> Result<()> {
        let dev = Device::Cpu;
        let x = Var::from_tensor(&((Tensor::randn(0f32, 1.0, (3, 5, 24), &dev)? * 3.0)? + 0.7)?)?;
        let gamma = Var::from_tensor(&(Tensor::randn(0f32, 0.2, 24, &dev)? + 1.0)?)?;
        let beta = Var::from_tensor(&Tensor::randn(0f32, 0.2, 24, &dev)?)?;
        let probe = Tensor::randn(0f32, 1.0, (3, 5, 24), &dev)?;
        let ours = layer_norm(x.as_tensor(), gamma.as_tensor(), beta.as_tensor(), 1e-6)?;
        let theirs = candle_nn::ops::layer_norm_slow(
            x.as_tensor(),
            gamma.as_tensor(),
            beta.as_tensor(),
            1e-6,
        )?;
        close(&ours, &theirs, 1e-5, "layer norm");
        let g1 = (&ours * &probe)?.sum_all()?.backward()?;
        let g2 = (&theirs * &probe)?.sum_all()?.backward()?;
        for (name, v) in [("x", &x), ("gamma", &gamma), ("beta", &beta)] {
            close(
                g1.get(v.as_tensor()).expect("ours"),
                g2.get(v.as_tensor()).expect("theirs"),
                1e-4,
                name,
            );
        }
        let ours = softmax(x.as_tensor())?;
        let theirs = candle_nn::ops::softmax(x.as_tensor(), D::Minus1)?;
        close(&ours, &theirs, 1e-6, "softmax");
        let g1 = (&ours * &probe)?.sum_all()?.backward()?;
        let g2 = (&theirs * &probe)?.sum_all()?.backward()?;
        close(
            g1.get(x.as_tensor()).expect("ours"),
            g2.get(x.as_tensor()).expect("theirs"),
            1e-5,
            "softmax gradient",
        );
        Ok(())
    }
}
