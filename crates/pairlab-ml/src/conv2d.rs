//! 2-D convolution (no bias, no groups, square kernels) as im2col plus one matrix product,
//! with a gradient that is two matrix products and col2im: the backbones' convolution.
//!
//! Why not candle's `conv2d`: its forward pass is im2col and a GEMM too, but its backward
//! pass on the CPU runs `conv_transpose2d` and a second convolution as direct loops, which
//! made a ResNet-50 training step about five times its forward pass (PyTorch: about two
//! and a half). Here the GEMMs are candle's `matmul`, so autograd differentiates them; only
//! im2col and its adjoint col2im are written out. A 1×1 convolution with stride 1 needs no
//! im2col at all. Other devices than the CPU use candle's own `conv2d`.

use candle_core::{CpuStorage, CustomOp1, Layout, Module, Result, Shape, Tensor, bail};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::cpu_values::values;

/// The geometry of a convolution's input patches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Patches {
    k: usize,
    stride: usize,
    pad: usize,
}

impl Patches {
    fn out(&self, len: usize) -> usize {
        (len + 2 * self.pad - self.k) / self.stride + 1
    }
}

/// A convolution's weight `[out, in, k, k]` and geometry.
#[derive(Clone, Debug)]
pub struct Conv2d {
    weight: Tensor,
    stride: usize,
    pad: usize,
}

/// Loads `{name}.weight` of a `cin → cout`, `k × k` convolution.
pub fn conv2d(
    vb: &VarBuilder,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    name: &str,
) -> Result<Conv2d> {
    let weight = vb.pp(name).get((cout, cin, k, k), "weight")?;
    Ok(Conv2d {
        weight,
        stride,
        pad,
    })
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !x.device().is_cpu() {
            return x.conv2d(&self.weight, self.pad, self.stride, 1, 1);
        }
        let (n, c, h, w) = x.dims4()?;
        let (o, ci, k, _) = self.weight.dims4()?;
        if ci != c {
            bail!("a convolution of {ci} input channels got {c}");
        }
        let p = Patches {
            k,
            stride: self.stride,
            pad: self.pad,
        };
        let (ho, wo) = (p.out(h), p.out(w));
        let cols = if k == 1 && self.stride == 1 && self.pad == 0 {
            x.permute((0, 2, 3, 1))?.reshape((n * h * w, c))?
        } else {
            x.contiguous()?.apply_op1(Im2col(p))?
        };
        let wm = self.weight.reshape((o, c * k * k))?;
        cols.matmul(&wm.t()?)?
            .reshape((n, ho, wo, o))?
            .permute((0, 3, 1, 2))
    }
}

/// `[n, c, h, w]` → `[n·ho·wo, c·k·k]`: the input patch of each output position, columns
/// ordered (channel, row, column) as PyTorch's weights are; zero outside the image.
struct Im2col(Patches);

impl CustomOp1 for Im2col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let x = values(s, l)?;
        let Patches { k, stride, pad } = self.0;
        let (ho, wo) = (self.0.out(h), self.0.out(w));
        let cols = c * k * k;
        let mut out = vec![0f32; n * ho * wo * cols];
        out.par_chunks_mut(ho * wo * cols)
            .zip(x.par_chunks(c * h * w))
            .for_each(|(o, xi)| {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let row = &mut o[(oy * wo + ox) * cols..][..cols];
                        for ch in 0..c {
                            let plane = &xi[ch * h * w..][..h * w];
                            for ky in 0..k {
                                let iy = (oy * stride + ky) as isize - pad as isize;
                                if iy < 0 || iy >= h as isize {
                                    continue;
                                }
                                let src = &plane[iy as usize * w..][..w];
                                let dst = &mut row[(ch * k + ky) * k..][..k];
                                for (kx, d) in dst.iter_mut().enumerate() {
                                    let ix = (ox * stride + kx) as isize - pad as isize;
                                    if ix >= 0 && ix < w as isize {
                                        *d = src[ix as usize];
                                    }
                                }
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n * ho * wo, cols))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (n, c, h, w) = arg.dims4()?;
        let g = grad.contiguous()?.apply_op1_no_bwd(&Col2im {
            p: self.0,
            n,
            c,
            h,
            w,
        })?;
        Ok(Some(g))
    }
}

/// The adjoint of [`Im2col`]: patch gradients summed back onto the input's positions.
struct Col2im {
    p: Patches,
    n: usize,
    c: usize,
    h: usize,
    w: usize,
}

impl CustomOp1 for Col2im {
    fn name(&self) -> &'static str {
        "col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = values(s, l)?;
        let Col2im { p, n, c, h, w } = *self;
        let Patches { k, stride, pad } = p;
        let (ho, wo) = (p.out(h), p.out(w));
        let cols = c * k * k;
        let mut out = vec![0f32; n * c * h * w];
        out.par_chunks_mut(c * h * w)
            .zip(g.par_chunks(ho * wo * cols))
            .for_each(|(dx, gi)| {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let row = &gi[(oy * wo + ox) * cols..][..cols];
                        for ch in 0..c {
                            let plane = &mut dx[ch * h * w..][..h * w];
                            for ky in 0..k {
                                let iy = (oy * stride + ky) as isize - pad as isize;
                                if iy < 0 || iy >= h as isize {
                                    continue;
                                }
                                let dst = &mut plane[iy as usize * w..][..w];
                                let src = &row[(ch * k + ky) * k..][..k];
                                for (kx, v) in src.iter().enumerate() {
                                    let ix = (ox * stride + kx) as isize - pad as isize;
                                    if ix >= 0 && ix < w as isize {
                                        dst[ix as usize] += v;
                                    }
                                }
                            }
                        }
                    }
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, h, w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// Forward values and the gradients of input and weight equal candle's `conv2d`.
    #[test]
    fn matches_candles_convolution_and_its_gradients() -> Result<()> {
        let d = Device::Cpu;
        for (c, o, k, stride, pad, h, w) in [
            (3, 4, 7, 2, 3, 13, 11),
            (4, 5, 3, 1, 1, 9, 8),
            (4, 6, 3, 2, 1, 9, 9),
            (5, 3, 1, 1, 0, 6, 7),
            (5, 3, 1, 2, 0, 7, 7),
        ] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (2, c, h, w), &d)?)?;
            let wt = Var::from_tensor(&Tensor::randn(0f32, 0.5, (o, c, k, k), &d)?)?;
            let ours = Conv2d {
                weight: wt.as_tensor().clone(),
                stride,
                pad,
            }
            .forward(x.as_tensor())?;
            let theirs = x.as_tensor().conv2d(wt.as_tensor(), pad, stride, 1, 1)?;
            assert_eq!(ours.dims(), theirs.dims());
            let diff = (&ours - &theirs)?.abs()?.max_all()?.to_scalar::<f32>()?;
            assert!(diff < 1e-4, "forward {k}x{k}/{stride}: {diff}");
            // A loss that weighs every output differently.
            let probe = Tensor::randn(0f32, 1.0, ours.dims(), &d)?;
            let g1 = (ours * &probe)?.sum_all()?.backward()?;
            let g2 = (theirs * &probe)?.sum_all()?.backward()?;
            for (name, v) in [("input", &x), ("weight", &wt)] {
                let a = g1.get(v.as_tensor()).expect("ours");
                let b = g2.get(v.as_tensor()).expect("candle's");
                let diff = (a - b)?.abs()?.max_all()?.to_scalar::<f32>()?;
                assert!(diff < 1e-3, "{name} gradient {k}x{k}/{stride}: {diff}");
            }
        }
        Ok(())
    }

    /// Stride 2 on an even size (where candle's own gradient has no answer): the input
    /// gradient against finite differences of the loss.
    #[test]
    fn the_input_gradient_matches_finite_differences() -> Result<()> {
        let d = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (1, 2, 6, 6), &d)?)?;
        let conv = Conv2d {
            weight: Tensor::randn(0f32, 0.5, (3, 2, 3, 3), &d)?,
            stride: 2,
            pad: 1,
        };
        let probe = Tensor::randn(0f32, 1.0, (1, 3, 3, 3), &d)?;
        let loss =
            |x: &Tensor| -> Result<f32> { (conv.forward(x)? * &probe)?.sum_all()?.to_scalar() };
        let g = (conv.forward(x.as_tensor())? * &probe)?
            .sum_all()?
            .backward()?;
        let g = g
            .get(x.as_tensor())
            .expect("grad")
            .flatten_all()?
            .to_vec1::<f32>()?;
        let base = x.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        for i in [0, 7, 20, 35, 40, 71] {
            let mut up = base.clone();
            up[i] += 1e-2;
            let mut down = base.clone();
            down[i] -= 1e-2;
            let t = |v: Vec<f32>| Tensor::from_vec(v, (1, 2, 6, 6), &d);
            let fd = (loss(&t(up)?)? - loss(&t(down)?)?) / 2e-2;
            assert!((fd - g[i]).abs() < 1e-2, "input {i}: {fd} vs {}", g[i]);
        }
        Ok(())
    }
}
