//! The `cnn`'s layers as candle graph ops with their own backward passes (test only): the
//! autograd reference that the hand-written step (`cnn_step.rs`) is checked against, and
//! that is itself checked against candle's `conv2d` and finite differences.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use super::conv::{argmax_windows, col2im, im2col, weight_matrix};
use super::head::Head;
use crate::cpu_values::values;

/// The logits of an image head as a candle graph: convolutions, pooling, ReLU, then the
/// classifier ([`Head::logits`]).
pub(super) fn logits(head: &Head, x: &Tensor) -> Result<Tensor> {
    let Some(img) = head.shape.image else {
        return head.logits(x);
    };
    let n = x.dim(0)?;
    // Pixels arrive channel-first; the convolutions run channels-last.
    let mut x = x
        .reshape((n, img.channels, img.size, img.size))?
        .permute((0, 2, 3, 1))?;
    for (k, (w, b)) in head.conv_weights().iter().enumerate() {
        x = conv3x3(&x, w, b)?;
        if k < 2 {
            // Pooling commutes with ReLU, which then runs on a quarter of the values.
            x = max_pool2(&x)?;
        }
        x = relu(&x)?;
    }
    let features = if img.flatten {
        x.flatten_from(1)? // [n, (size/4)² · 4w]
    } else {
        x.mean((1, 2))? // global average pool → [n, 4w]
    };
    head.logits(&features)
}

/// [`im2col`] as a tensor op whose gradient is [`col2im`].
struct Im2col;

impl CustomOp1 for Im2col {
    fn name(&self) -> &'static str {
        "im2col3x3"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, h, w, c) = l.shape().dims4()?;
        let out = im2col(values(s, l)?, n, h, w, c);
        Ok((CpuStorage::F32(out), Shape::from((n * h * w, 9 * c + 1))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let (n, h, w, c) = arg.dims4()?;
        let g = grad
            .contiguous()?
            .apply_op1_no_bwd(&Col2im { n, h, w, c })?;
        Ok(Some(g))
    }
}

/// [`col2im`] as a tensor op.
struct Col2im {
    n: usize,
    h: usize,
    w: usize,
    c: usize,
}

impl CustomOp1 for Col2im {
    fn name(&self) -> &'static str {
        "col2im3x3"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let Col2im { n, h, w, c } = *self;
        let g = values(s, l)?;
        if g.len() != n * h * w * (9 * c + 1) {
            bail!("col2im: {} values for {n}×{h}×{w}×{c}", g.len());
        }
        let out = col2im(g, n, h, w, c);
        Ok((CpuStorage::F32(out), Shape::from((n, h, w, c))))
    }
}

/// A 3×3 convolution with padding 1 and stride 1 of `x` (`[n, h, w, c]`) with a PyTorch-
/// layout `weight` (`[out, c, 3, 3]`) and `bias` (`[out]`): `[n, h, w, out]`.
pub fn conv3x3(x: &Tensor, weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let (n, h, w, _) = x.dims4()?;
    let out = weight.dim(0)?;
    let cols = x.contiguous()?.apply_op1(Im2col)?;
    cols.matmul(&weight_matrix(weight, bias)?)?
        .reshape((n, h, w, out))
}

/// `max(x, 0)`, whose gradient is read from the result in one pass.
struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = values(s, l)?;
        let out = x
            .par_iter()
            .with_min_len(4096)
            .map(|v| v.max(0.0))
            .collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(res.apply_op2_no_bwd(&grad.contiguous()?, &ReluGrad)?))
    }
}

/// The gradient of [`Relu`] from its result: the upstream gradient where the result is > 0.
struct ReluGrad;

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, g) = (values(s1, l1)?, values(s2, l2)?);
        let out = y
            .par_iter()
            .with_min_len(4096)
            .zip(g)
            .map(|(y, g)| if *y > 0.0 { *g } else { 0.0 })
            .collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `max(x, 0)` of a tensor.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Relu)
}

/// 2×2 max pooling with stride 2 (odd edges dropped): `[n, h, w, c]` → `[n, h/2, w/2, c]`.
struct MaxPool2;

impl CustomOp1 for MaxPool2 {
    fn name(&self) -> &'static str {
        "maxpool2x2"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (n, h, w, c) = l.shape().dims4()?;
        let x = values(s, l)?;
        let (oh, ow) = (h / 2, w / 2);
        let mut out = vec![0f32; n * oh * ow * c];
        if oh * ow * c > 0 {
            out.par_chunks_mut(oh * ow * c)
                .zip(x.par_chunks(h * w * c))
                .for_each(|(o, xi)| argmax_windows(xi, h, w, c, |k, i| o[k] = xi[i]));
        }
        Ok((CpuStorage::F32(out), Shape::from((n, oh, ow, c))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = arg.apply_op2_no_bwd(&grad.contiguous()?, &MaxPool2Grad)?;
        Ok(Some(g))
    }
}

/// The gradient of [`MaxPool2`]: each window's gradient goes to its first maximum.
struct MaxPool2Grad;

impl CustomOp2 for MaxPool2Grad {
    fn name(&self) -> &'static str {
        "maxpool2x2-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, h, w, c) = l1.shape().dims4()?;
        let (x, g) = (values(s1, l1)?, values(s2, l2)?);
        let (oh, ow) = (h / 2, w / 2);
        if g.len() != n * oh * ow * c {
            bail!("maxpool gradient: {} values for {n}×{oh}×{ow}×{c}", g.len());
        }
        let mut out = vec![0f32; x.len()];
        if oh * ow * c > 0 {
            out.par_chunks_mut(h * w * c)
                .zip(x.par_chunks(h * w * c))
                .zip(g.par_chunks(oh * ow * c))
                .for_each(|((o, xi), gi)| argmax_windows(xi, h, w, c, |k, i| o[i] += gi[k]));
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// 2×2 max pooling of an NHWC tensor; the gradient goes to each window's first maximum.
pub fn max_pool2(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(MaxPool2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;
    use candle_core::{Device, Var};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = SplitMix64(seed);
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).expect("tensor op")
    }

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .expect("tensor values")
    }

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let a = flat(a);
        let b = flat(b);
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{i}: {x} vs {y}");
        }
    }

    #[test]
    fn conv_matches_candle_conv2d_forward_and_backward() {
        // NCHW reference through candle's conv2d; ours runs NHWC on the same numbers.
        let x = Var::from_tensor(&random(&[2, 3, 5, 7], 1)).expect("tensor op");
        let wt = Var::from_tensor(&random(&[4, 3, 3, 3], 2)).expect("tensor op");
        let b = Var::from_tensor(&random(&[4], 3)).expect("tensor op");
        let upstream = random(&[2, 4, 5, 7], 4);
        let reference = x
            .conv2d(&wt, 1, 1, 1, 1)
            .expect("tensor op")
            .broadcast_add(&b.reshape((1, 4, 1, 1)).expect("tensor op"))
            .expect("tensor op");
        let ref_grads = (&reference * &upstream)
            .expect("tensor op")
            .sum_all()
            .expect("tensor op")
            .backward()
            .expect("tensor op");

        let nhwc = x.permute((0, 2, 3, 1)).expect("tensor op");
        let ours = conv3x3(&nhwc, &wt, &b)
            .expect("tensor op")
            .permute((0, 3, 1, 2))
            .expect("tensor op");
        close(&ours, &reference, 1e-5);
        let grads = (&ours * &upstream)
            .expect("tensor op")
            .sum_all()
            .expect("tensor op")
            .backward()
            .expect("tensor op");
        for v in [&x, &wt, &b] {
            close(
                grads.get(v).expect("tensor op"),
                ref_grads.get(v).expect("tensor op"),
                1e-4,
            );
        }
    }

    #[test]
    fn relu_passes_gradient_only_where_the_result_is_positive() {
        let x = Var::from_tensor(
            &Tensor::new(&[-2.0f32, 0.0, 0.5, 3.0], &Device::Cpu).expect("tensor op"),
        )
        .expect("tensor op");
        let y = relu(&x).expect("tensor op");
        assert_eq!(
            y.to_vec1::<f32>().expect("tensor op"),
            vec![0.0, 0.0, 0.5, 3.0]
        );
        let up = Tensor::new(&[1.0f32, 2.0, 3.0, 4.0], &Device::Cpu).expect("tensor op");
        let g = (&y * &up)
            .expect("tensor op")
            .sum_all()
            .expect("tensor op")
            .backward()
            .expect("tensor op");
        assert_eq!(
            g.get(&x)
                .expect("tensor op")
                .to_vec1::<f32>()
                .expect("tensor op"),
            vec![0.0, 0.0, 3.0, 4.0]
        );
    }

    #[test]
    fn max_pool_sends_each_gradient_to_the_first_maximum() {
        // One 4×4 single-channel image: windows with a single max, a tie, and all equal.
        #[rustfmt::skip]
        let img = [
            1.0, 5.0,   2.0, 2.0,
            3.0, 4.0,   0.0, 1.0,
            //
            0.0, 0.0,   9.0, 8.0,
            0.0, 0.0,   7.0, 9.0f32,
        ];
        let x = Var::from_tensor(
            &Tensor::from_vec(img.to_vec(), (1, 4, 4, 1), &Device::Cpu).expect("tensor op"),
        )
        .expect("tensor op");
        let y = max_pool2(&x).expect("tensor op");
        assert_eq!(flat(&y), vec![5.0, 2.0, 0.0, 9.0]);
        let up = Tensor::new(&[10.0f32, 20.0, 30.0, 40.0], &Device::Cpu)
            .expect("tensor op")
            .reshape((1, 2, 2, 1))
            .expect("tensor op");
        let g = (&y * &up)
            .expect("tensor op")
            .sum_all()
            .expect("tensor op")
            .backward()
            .expect("tensor op");
        #[rustfmt::skip]
        let want = vec![
            0.0, 10.0,   20.0, 0.0,
            0.0, 0.0,    0.0, 0.0,
            30.0, 0.0,   40.0, 0.0,
            0.0, 0.0,    0.0, 0.0f32,
        ];
        assert_eq!(flat(g.get(&x).expect("grad")), want);
    }

    #[test]
    fn max_pool_matches_finite_differences_and_drops_odd_edges() {
        let x = Var::from_tensor(&random(&[2, 5, 4, 3], 7)).expect("tensor op");
        let y = max_pool2(&x).expect("tensor op");
        assert_eq!(y.dims(), &[2, 2, 2, 3]);
        let up = random(&[2, 2, 2, 3], 8);
        let loss = |t: &Tensor| -> f32 {
            (max_pool2(t).expect("tensor op") * &up)
                .expect("tensor op")
                .sum_all()
                .expect("tensor op")
                .to_scalar::<f32>()
                .expect("tensor op")
        };
        let g = (&y * &up)
            .expect("tensor op")
            .sum_all()
            .expect("tensor op")
            .backward()
            .expect("tensor op");
        let g = flat(g.get(&x).expect("grad"));
        let base = flat(&x);
        for i in (0..base.len()).step_by(5) {
            let mut p = base.clone();
            p[i] += 1e-3;
            let t = Tensor::from_vec(p, (2, 5, 4, 3), &Device::Cpu).expect("tensor op");
            let fd = (loss(&t) - loss(x.as_tensor())) / 1e-3;
            assert!((fd - g[i]).abs() < 1e-2, "{i}: {fd} vs {}", g[i]);
        }
    }
}
