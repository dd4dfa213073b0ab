//! One training step of the `cnn` (forward pass, loss, backward pass) written out by hand
//! on plain buffers, instead of candle's autograd over the same layers.
//!
//! Why: the network is fixed and small, so every autograd node costs more in bookkeeping
//! (a zeroed gradient buffer per node plus an add, a copy for each permute, the input
//! image's own gradient, separate passes for pooling and ReLU) than in arithmetic. Here the
//! three matrix products per convolution still run in candle's GEMM, and everything else
//! is one pass: im2col, pooling fused with ReLU (which remembers where each gradient
//! goes), the loss with its gradient, col2im. The first convolution's input gradient is
//! not computed at all. The result is a [`GradStore`] for candle-nn's optimiser, checked
//! against autograd in the tests.

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};
use candle_nn::Linear;

use super::conv::{col2im, im2col, pool_relu, unpool, weight_matrix, weight_matrix_parts};
use super::head::Head;
use crate::cpu_values::read;
use crate::error::{MlError, Result};

fn tensor(v: Vec<f32>, shape: (usize, usize)) -> Result<Tensor> {
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// `x · Wᵀ + b` of a linear layer, without recording an autograd graph.
fn linear_forward(layer: &Linear, x: &Tensor) -> Result<Tensor> {
    let y = x.matmul(&layer.weight().detach().t()?)?;
    Ok(match layer.bias() {
        Some(b) => y.broadcast_add(&b.detach())?,
        None => y,
    })
}

/// The backward pass of a linear layer with input `x` for the upstream gradient `dy`: its
/// weight's and then its bias's gradient are pushed to `grads`; returns d loss / d x.
fn linear_backward(
    layer: &Linear,
    x: &Tensor,
    dy: &Tensor,
    grads: &mut Vec<Tensor>,
) -> Result<Tensor> {
    grads.push(dy.t()?.matmul(x)?);
    if layer.bias().is_some() {
        grads.push(dy.sum(0)?);
    }
    Ok(dy.matmul(&layer.weight().detach())?)
}

/// What the backward pass needs of one convolution.
struct Stage {
    /// im2col of its input, `[n·h·w, 9·c + 1]`, and its weight matrix `[9·c + 1, out]`.
    cols: Tensor,
    weights: Tensor,
    /// Its input's height, width and channels.
    h: usize,
    w: usize,
    c: usize,
    /// Where each pooled value's gradient goes (pooled stages), see [`pool_relu`].
    arg: Option<Vec<u32>>,
}

/// `[n, c, s, s]` channel-first pixels → `[n, s, s, c]`.
fn channels_last(x: &[f32], n: usize, c: usize, s: usize) -> Vec<f32> {
    if c == 1 {
        return x.to_vec();
    }
    let mut out = vec![0f32; x.len()];
    for i in 0..n {
        for ch in 0..c {
            for p in 0..s * s {
                out[(i * s * s + p) * c + ch] = x[(i * c + ch) * s * s + p];
            }
        }
    }
    out
}

/// The forward pass of some images, with what its backward pass needs.
pub(super) struct Pass {
    n: usize,
    stages: Vec<Stage>,
    /// The last feature map after ReLU, `[n, h, w, c]`, and its size.
    last: Vec<f32>,
    last_dims: (usize, usize, usize),
    /// The classifier's input, its first layer's output, and the logits `[n, classes]`.
    features: Tensor,
    h1: Tensor,
    pub(super) logits: Tensor,
}

/// The weight matrices of a head's convolutions, once per step (see [`weight_matrix`]).
pub(super) fn conv_matrices(head: &Head) -> Result<Vec<Tensor>> {
    head.conv_weights()
        .iter()
        .map(|(w, b)| Ok(weight_matrix(&w.detach(), &b.detach())?))
        .collect()
}

/// The forward pass of the `n` images `xs` (channel-first) through `head`, whose
/// convolutions' weight matrices are `matrices`.
pub(super) fn forward(head: &Head, matrices: &[Tensor], xs: &[f32], n: usize) -> Result<Pass> {
    let img = head
        .shape
        .image
        .ok_or_else(|| MlError::Unsupported("the cnn step needs an image head".into()))?;
    let mut x = channels_last(xs, n, img.channels, img.size);
    let (mut h, mut w, mut c) = (img.size, img.size, img.channels);
    let mut stages = Vec::with_capacity(matrices.len());
    for (k, weights) in matrices.iter().enumerate() {
        let out = weights.dim(1)?;
        let cols = tensor(im2col(&x, n, h, w, c), (n * h * w, 9 * c + 1))?;
        let z = cols.matmul(weights)?;
        let pooled = k + 1 < matrices.len();
        let (y, arg) = if pooled {
            let (y, arg) = read(&z, |z| pool_relu(z, n, h, w, out))?;
            (y, Some(arg))
        } else {
            (read(&z, |z| z.iter().map(|v| v.max(0.0)).collect())?, None)
        };
        stages.push(Stage {
            cols,
            weights: weights.clone(),
            h,
            w,
            c,
            arg,
        });
        if pooled {
            (h, w) = (h / 2, w / 2);
        }
        (c, x) = (out, y);
    }
    let positions = h * w;
    let features = if img.flatten {
        tensor(x.clone(), (n, positions * c))?
    } else {
        let mut mean = vec![0f32; n * c];
        for (m, xi) in mean.chunks_mut(c).zip(x.chunks(positions * c)) {
            for px in xi.chunks(c) {
                m.iter_mut().zip(px).for_each(|(m, v)| *m += v);
            }
            m.iter_mut().for_each(|m| *m /= positions.max(1) as f32);
        }
        tensor(mean, (n, c))?
    };
    let (l1, l2) = head.linears();
    let h1 = linear_forward(l1, &features)?;
    let logits = match l2 {
        None => h1.clone(),
        Some(l2) => linear_forward(l2, &h1.relu()?)?,
    };
    Ok(Pass {
        n,
        stages,
        last: x,
        last_dims: (h, w, c),
        features,
        h1,
        logits,
    })
}

impl Pass {
    /// The backward pass for `dz`, d loss / d logits: the gradients of the head's
    /// weights in [`Head::parameters`] order.
    fn backward(&self, head: &Head, dz: &Tensor) -> Result<Vec<Tensor>> {
        let n = self.n;
        let mut grads = Vec::new();
        let (l1, l2) = head.linears();
        let d_features = match l2 {
            None => linear_backward(l1, &self.features, dz, &mut grads)?,
            Some(l2) => {
                let a1 = self.h1.relu()?;
                let mut g2 = Vec::new();
                let da1 = linear_backward(l2, &a1, dz, &mut g2)?;
                let dh1 = (da1 * self.h1.gt(0f32)?.to_dtype(DType::F32)?)?;
                let d = linear_backward(l1, &self.features, &dh1, &mut grads)?;
                grads.extend(g2);
                d
            }
        };
        let (h, w, c) = self.last_dims;
        let positions = h * w;
        // d loss / d (last feature map after ReLU), [n, h, w, c].
        let mut g = if head.shape.image.is_some_and(|i| i.flatten) {
            read(&d_features, <[f32]>::to_vec)?
        } else {
            read(&d_features, |d| {
                let scale = 1.0 / positions.max(1) as f32;
                d.chunks(c)
                    .flat_map(|di| std::iter::repeat_n(di, positions).flatten())
                    .map(|v| v * scale)
                    .collect()
            })?
        };
        let mut conv_grads = Vec::with_capacity(2 * self.stages.len());
        for (k, stage) in self.stages.iter().enumerate().rev() {
            let out = stage.weights.dim(1)?;
            let Stage { h, w, c, .. } = *stage;
            let dz = match &stage.arg {
                Some(arg) => unpool(&g, arg, n, h, w, out),
                // The last stage's output is `last` itself: ReLU passes where it is positive.
                None => g
                    .iter()
                    .zip(&self.last)
                    .map(|(g, y)| if *y > 0.0 { *g } else { 0.0 })
                    .collect(),
            };
            let dz = tensor(dz, (n * h * w, out))?;
            let (dw, db) = weight_matrix_parts(&stage.cols.t()?.matmul(&dz)?)?;
            conv_grads.push(db);
            conv_grads.push(dw);
            if k > 0 {
                let dcols = dz.matmul(&stage.weights.t()?)?;
                g = read(&dcols, |d| col2im(d, n, h, w, c))?;
            }
        }
        conv_grads.reverse();
        conv_grads.extend(grads);
        Ok(conv_grads)
    }
}

/// Below this many images a batch is not split in two.
const SPLIT_AT: usize = 16;

/// One step on the `n` images `xs` (channel-first, as gathered): the loss that `loss`
/// computes from the logits (`[n, classes]`, row-major, with its gradient) and the
/// gradients of every weight of `head`, keyed by its variables.
///
/// The two halves of a batch go through the network side by side (on 2 cores that keeps
/// both busy with no hand-over inside each layer); the loss is computed on the whole
/// batch, and the halves' gradients are summed.
pub(super) fn step(
    head: &Head,
    xs: Vec<f32>,
    n: usize,
    loss: impl FnOnce(&[f32]) -> (f64, Vec<f32>),
) -> Result<(f64, GradStore)> {
    let matrices = conv_matrices(head)?;
    let first = if n >= SPLIT_AT { n / 2 } else { n };
    let dim = xs.len() / n.max(1);
    let (xa, xb) = xs.split_at(first * dim);
    let (pa, pb) = rayon::join(
        || forward(head, &matrices, xa, first),
        || {
            (n > first)
                .then(|| forward(head, &matrices, xb, n - first))
                .transpose()
        },
    );
    let (pa, pb) = (pa?, pb?);
    let mut logits = read(&pa.logits, <[f32]>::to_vec)?;
    if let Some(pb) = &pb {
        logits.extend(read(&pb.logits, <[f32]>::to_vec)?);
    }
    let classes = pa.logits.dim(1)?;
    let (value, dz) = loss(&logits);
    let dz = tensor(dz, (n, classes))?;
    let (ga, gb) = rayon::join(
        || pa.backward(head, &dz.narrow(0, 0, first)?),
        || {
            pb.as_ref()
                .map(|pb| pb.backward(head, &dz.narrow(0, first, n - first)?))
                .transpose()
        },
    );
    let mut grads = ga?;
    if let Some(gb) = gb? {
        for (a, b) in grads.iter_mut().zip(gb) {
            *a = (&*a + b)?;
        }
    }
    let mut store = GradStore::default();
    for (param, grad) in head.parameters().into_iter().zip(grads) {
        store.insert(param, grad);
    }
    Ok((value, store))
}

#[cfg(test)]
#[path = "cnn_step_tests.rs"]
mod tests;
