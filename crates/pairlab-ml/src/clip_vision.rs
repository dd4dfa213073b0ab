//! CLIP's vision tower (Hugging Face `CLIPVisionModelWithProjection`, same weights and
//! numbers as candle-transformers' version) arranged for CPU speed: q/k/v fused into one
//! matrix product, weights stored pre-transposed, tokens of the whole batch multiplied as
//! one 2-D matrix, and quick-GELU done in one parallel pass. Its projection heads
//! ([`Head`]) also serve open_clip's towers (`open_clip`, whose timm trunk is `vit`).

use candle_core::{CpuStorage, CustomOp1, Layout, Module, Shape, Tensor, bail};
use candle_nn::{Conv2d, Conv2dConfig, LayerNorm, VarBuilder};
use rayon::prelude::*;

use crate::clip::Config;

/// `x · sigmoid(1.702 x)` in one pass over contiguous f32 data.
struct QuickGelu;

impl CustomOp1 for QuickGelu {
    fn name(&self) -> &'static str {
        "quick-gelu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(v) = s else {
            bail!("quick-gelu: f32 only")
        };
        let Some((a, b)) = l.contiguous_offsets() else {
            bail!("quick-gelu: contiguous input only")
        };
        let out: Vec<f32> = v[a..b]
            .par_iter()
            .with_min_len(4096)
            .map(|&x| x / (1.0 + (-1.702 * x).exp()))
            .collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// A linear layer with its weight stored as contiguous `[in, out]` (measured faster with
/// gemm than reading `[out, in]` transposed for most of these shapes).
pub(crate) struct Dense {
    w: Tensor,
    b: Option<Tensor>,
}

impl Dense {
    pub(crate) fn from_weight(w: Tensor, b: Option<Tensor>) -> candle_core::Result<Self> {
        Ok(Dense {
            w: w.t()?.contiguous()?,
            b,
        })
    }

    pub(crate) fn load(
        vb: &VarBuilder,
        inp: usize,
        out: usize,
        bias: bool,
    ) -> candle_core::Result<Self> {
        let b = if bias {
            Some(vb.get(out, "bias")?)
        } else {
            None
        };
        Self::from_weight(vb.get((out, inp), "weight")?, b)
    }

    /// `x` is `[rows, in]`.
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = x.matmul(&self.w)?;
        match &self.b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

struct Layer {
    ln1: LayerNorm,
    qkv: Dense,
    out: Dense,
    ln2: LayerNorm,
    fc1: Dense,
    fc2: Dense,
}

/// What maps the pooled class token to the embedding.
pub(crate) enum Head {
    /// One linear layer (CLIP's projection, open_clip's `head.proj`, a timm classifier).
    Linear(Dense),
    /// open_clip's `head.mlp`: linear, GELU, linear.
    Mlp(Dense, Dense),
    /// The pooled features themselves.
    Identity,
}

impl Head {
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Head::Linear(d) => d.forward(x),
            Head::Mlp(a, b) => b.forward(&a.forward(x)?.gelu_erf()?),
            Head::Identity => Ok(x.clone()),
        }
    }
}

/// The vision tower with its projection.
pub struct VisionTower {
    patch: Conv2d,
    class: Tensor,
    positions: Tensor,
    pre: LayerNorm,
    layers: Vec<Layer>,
    post: LayerNorm,
    proj: Head,
    heads: usize,
    hidden: usize,
}

impl VisionTower {
    /// `vb` is the model's root (keys `vision_model.*` and `visual_projection.weight`).
    pub fn load(vb: &VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let c = &cfg.vision;
        let d = c.hidden_size;
        let v = vb.pp("vision_model");
        let e = v.pp("embeddings");
        let conv = Conv2dConfig {
            stride: c.patch_size,
            ..Default::default()
        };
        let patch = candle_nn::conv2d_no_bias(
            c.num_channels,
            d,
            c.patch_size,
            conv,
            e.pp("patch_embedding"),
        )?;
        let tokens = (c.image_size / c.patch_size).pow(2) + 1;
        let class = e.get(d, "class_embedding")?;
        let positions = e.pp("position_embedding").get((tokens, d), "weight")?;
        let ln = |p: VarBuilder| candle_nn::layer_norm(d, 1e-5, p);
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = v.pp(format!("encoder.layers.{i}"));
            let a = l.pp("self_attn");
            let (q, k, vv) = (a.pp("q_proj"), a.pp("k_proj"), a.pp("v_proj"));
            let w = Tensor::cat(
                &[
                    q.get((d, d), "weight")?,
                    k.get((d, d), "weight")?,
                    vv.get((d, d), "weight")?,
                ],
                0,
            )?;
            let b = Tensor::cat(
                &[q.get(d, "bias")?, k.get(d, "bias")?, vv.get(d, "bias")?],
                0,
            )?;
            layers.push(Layer {
                ln1: ln(l.pp("layer_norm1"))?,
                qkv: Dense::from_weight(w, Some(b))?,
                out: Dense::load(&a.pp("out_proj"), d, d, true)?,
                ln2: ln(l.pp("layer_norm2"))?,
                fc1: Dense::load(&l.pp("mlp.fc1"), d, c.intermediate_size, true)?,
                fc2: Dense::load(&l.pp("mlp.fc2"), c.intermediate_size, d, true)?,
            });
        }
        Ok(VisionTower {
            patch,
            class,
            positions,
            pre: ln(v.pp("pre_layrnorm"))?,
            layers,
            post: ln(v.pp("post_layernorm"))?,
            proj: Head::Linear(Dense::load(
                &vb.pp("visual_projection"),
                d,
                cfg.projection_dim,
                false,
            )?),
            heads: c.num_attention_heads,
            hidden: d,
        })
    }

    /// Encoder output `[n, tokens, hidden]` (before the final layer norm).
    pub fn encode(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let n = pixels.dim(0)?;
        let d = self.hidden;
        let patches = self
            .patch
            .forward(pixels)?
            .flatten_from(2)?
            .transpose(1, 2)?;
        let class = self.class.reshape((1, 1, d))?.broadcast_as((n, 1, d))?;
        let mut x = Tensor::cat(&[&class, &patches], 1)?.broadcast_add(&self.positions)?;
        x = self.pre.forward(&x)?;
        let t = x.dim(1)?;
        let (h, hd) = (self.heads, d / self.heads);
        let scale = (hd as f64).powf(-0.5);
        let mut x = x.reshape((n * t, d))?;
        for l in &self.layers {
            let qkv = l.qkv.forward(&l.ln1.forward(&x)?)?;
            // [n, t, 3, h, hd] → three [n·h, t, hd]
            let qkv = qkv.reshape((n, t, 3, h, hd))?.permute((2, 0, 3, 1, 4))?;
            let q = (qkv.get(0)?.reshape((n * h, t, hd))? * scale)?;
            let k = qkv.get(1)?.reshape((n * h, t, hd))?;
            let v = qkv.get(2)?.contiguous()?.reshape((n * h, t, hd))?;
            let att = q.contiguous()?.matmul(&k.t()?.contiguous()?)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?.matmul(&v)?;
            let att = att
                .reshape((n, h, t, hd))?
                .transpose(1, 2)?
                .reshape((n * t, d))?;
            x = (x + l.out.forward(&att)?)?;
            let m = l
                .fc1
                .forward(&l.ln2.forward(&x)?)?
                .apply_op1_no_bwd(&QuickGelu)?;
            x = (x + l.fc2.forward(&m)?)?;
        }
        x.reshape((n, t, d))
    }

    /// Projected image embeddings `[n, projection_dim]`, not normalised.
    pub fn forward(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.encode(pixels)?;
        let pooled = self.post.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)?;
        self.proj.forward(&pooled.contiguous()?)
    }
}
