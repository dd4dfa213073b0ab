//! CPU building blocks of the `cnn` trainer on plain channels-last (NHWC) values: a 3×3
//! "same" convolution as im2col plus one matrix product (so forward and backward both run
//! in the fast GEMM), and 2×2 max pooling fused with ReLU whose gradient goes to the first
//! maximum of each window, as in PyTorch. `cnn_step.rs` puts them together.
//!
//! Why not candle's own ops: the backward pass of `conv2d` on the CPU runs a direct
//! `conv_transpose2d` loop, several times slower than a GEMM, and the backward pass of
//! `max_pool2d` multiplies each gradient by the share of maxima in its window (¼ for a
//! single maximum) instead of dividing by their count, which bends the gradient of every
//! layer below a pool.

use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// The source pixel of output `o` for kernel tap `k` (0..3) with padding 1, if inside.
fn tap(o: usize, k: usize, len: usize) -> Option<usize> {
    let s = o + k;
    (s >= 1 && s <= len).then(|| s - 1)
}

/// `[n, h, w, c]` → `[n·h·w, 9·c + 1]`, columns ordered (ky, kx, c) with zero outside the
/// image, and a last column of ones that carries the bias through the same product.
pub(super) fn im2col(x: &[f32], n: usize, h: usize, w: usize, c: usize) -> Vec<f32> {
    let k = 9 * c + 1;
    let mut out = vec![0f32; n * h * w * k];
    if c > 0 && h * w > 0 {
        out.par_chunks_mut(h * w * k)
            .zip(x.par_chunks(h * w * c))
            .for_each(|(o, xi)| {
                for y in 0..h {
                    for xx in 0..w {
                        let row = &mut o[(y * w + xx) * k..][..k];
                        row[9 * c] = 1.0;
                        for ky in 0..3 {
                            let Some(sy) = tap(y, ky, h) else { continue };
                            for kx in 0..3 {
                                let Some(sx) = tap(xx, kx, w) else { continue };
                                row[(ky * 3 + kx) * c..][..c]
                                    .copy_from_slice(&xi[(sy * w + sx) * c..][..c]);
                            }
                        }
                    }
                }
            });
    }
    out
}

/// The adjoint of [`im2col`]: `[n·h·w, 9·c + 1]` → `[n, h, w, c]`, overlapping taps
/// summed (the ones column has no input).
pub(super) fn col2im(g: &[f32], n: usize, h: usize, w: usize, c: usize) -> Vec<f32> {
    let k = 9 * c + 1;
    let mut out = vec![0f32; n * h * w * c];
    if c > 0 && h * w > 0 {
        out.par_chunks_mut(h * w * c)
            .zip(g.par_chunks(h * w * k))
            .for_each(|(o, gi)| {
                for y in 0..h {
                    for xx in 0..w {
                        let row = &gi[(y * w + xx) * k..][..k];
                        for ky in 0..3 {
                            let Some(sy) = tap(y, ky, h) else { continue };
                            for kx in 0..3 {
                                let Some(sx) = tap(xx, kx, w) else { continue };
                                let dst = &mut o[(sy * w + sx) * c..][..c];
                                for (d, v) in dst.iter_mut().zip(&row[(ky * 3 + kx) * c..][..c]) {
                                    *d += v;
                                }
                            }
                        }
                    }
                }
            });
    }
    out
}

/// A convolution's `weight` (`[out, c, 3, 3]`) and `bias` as the `[9·c + 1, out]` matrix
/// that multiplies [`im2col`]'s columns.
pub(super) fn weight_matrix(weight: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let (out, c, _, _) = weight.dims4()?;
    Tensor::cat(
        &[
            weight.permute((2, 3, 1, 0))?.reshape((9 * c, out))?,
            bias.reshape((1, out))?,
        ],
        0,
    )
}

/// The inverse of [`weight_matrix`] for a gradient: `[9·c + 1, out]` → the weight's
/// (`[out, c, 3, 3]`) and the bias's (`[out]`).
pub(super) fn weight_matrix_parts(m: &Tensor) -> Result<(Tensor, Tensor)> {
    let (rows, out) = m.dims2()?;
    let c = (rows - 1) / 9;
    let weight = m
        .narrow(0, 0, 9 * c)?
        .reshape((3, 3, c, out))?
        .permute((3, 2, 0, 1))?
        .contiguous()?;
    Ok((weight, m.narrow(0, 9 * c, 1)?.reshape(out)?))
}

/// The offset in a `[h, w, c]` image of the first maximum of each 2×2 window, in output
/// order (window row, window column, channel).
pub(super) fn argmax_windows(
    xi: &[f32],
    h: usize,
    w: usize,
    c: usize,
    mut each: impl FnMut(usize, usize),
) {
    let (oh, ow) = (h / 2, w / 2);
    for y in 0..oh {
        for x in 0..ow {
            for ch in 0..c {
                let at = |dy: usize, dx: usize| ((2 * y + dy) * w + 2 * x + dx) * c + ch;
                let mut best = at(0, 0);
                for (dy, dx) in [(0, 1), (1, 0), (1, 1)] {
                    let i = at(dy, dx);
                    if xi[i] > xi[best] {
                        best = i;
                    }
                }
                each((y * ow + x) * c + ch, best);
            }
        }
    }
}

/// 2×2 max pooling then ReLU of `z` (`[n, h, w, c]`, odd edges dropped) on plain values:
/// the result (`[n, h/2, w/2, c]`) and, per result value, the offset within its image of
/// the value its gradient goes to (`u32::MAX` where ReLU cut it).
pub(super) fn pool_relu(z: &[f32], n: usize, h: usize, w: usize, c: usize) -> (Vec<f32>, Vec<u32>) {
    let per = (h / 2) * (w / 2) * c;
    let mut out = vec![0f32; n * per];
    let mut arg = vec![u32::MAX; n * per];
    if per > 0 {
        out.par_chunks_mut(per)
            .zip(arg.par_chunks_mut(per))
            .zip(z.par_chunks(h * w * c))
            .for_each(|((o, a), zi)| {
                argmax_windows(zi, h, w, c, |k, i| {
                    if zi[i] > 0.0 {
                        o[k] = zi[i];
                        a[k] = i as u32;
                    }
                })
            });
    }
    (out, arg)
}

/// The gradient of [`pool_relu`]: `g` (`[n, h/2, w/2, c]`) sent back to the offsets in
/// `arg`, as `[n, h, w, c]`.
pub(super) fn unpool(g: &[f32], arg: &[u32], n: usize, h: usize, w: usize, c: usize) -> Vec<f32> {
    let per = (h / 2) * (w / 2) * c;
    let mut out = vec![0f32; n * h * w * c];
    if per > 0 {
        out.par_chunks_mut(h * w * c)
            .zip(g.par_chunks(per))
            .zip(arg.par_chunks(per))
            .for_each(|((o, gi), ai)| {
                for (v, &i) in gi.iter().zip(ai) {
                    if let Some(d) = o.get_mut(i as usize) {
                        *d = *v;
                    }
                }
            });
    }
    out
}
