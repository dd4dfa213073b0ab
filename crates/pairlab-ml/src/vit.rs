//! A Vision Transformer in timm's layout as a backbone to fine-tune and as an image
//! embedder: `patch_embed.proj`, `cls_token`, `pos_embed`, an optional `norm_pre`,
//! `blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}`, `norm` and an optional
//! classifier `head`. CLIP image towers (Hugging Face, OpenAI's format, open_clip's timm
//! trunk) are mapped onto this layout by [`crate::backbone`] so that one network fine-tunes
//! them all.
//!
//! The shape comes from the weights (heads as published ViTs of that width have them,
//! [`heads_for`], unless a config's `model_args.num_heads` says);
//! what weights cannot tell comes from the architecture name, as timm names them:
//! `_clip` models use layer-norm eps 1e-5 (otherwise 1e-6), `_quickgelu` ones CLIP's
//! quick-GELU (otherwise the exact GELU). The pooled features are the class token after the
//! final norm (timm's `global_pool="token"`).
//!
//! Training runs layer norm and softmax with their gradients (`lastdim`); evaluation runs
//! candle's fused ones, which have none (the pooled class token's final norm always runs
//! `lastdim`'s, so that a trained last block trains it).

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use crate::checkpoint::Weights;
use crate::lastdim::Norm;

/// The heads of a published ViT of this width: 64 wide, except the huge ones (ViT-H/14:
/// 1280 = 16 × 80; ViT-g/14: 1408 = 16 × 88; ViT-bigG/14: 1664 = 16 × 104); 0 when unknown
/// (a config must say).
pub fn heads_for(width: usize) -> usize {
    match width {
        1280 | 1408 | 1664 => 16,
        w if w > 0 && w.is_multiple_of(64) => w / 64,
        _ => 0,
    }
}

/// The network's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub hidden: usize,
    pub depth: usize,
    pub heads: usize,
    pub mlp: usize,
    pub patch: usize,
    /// Square input size (the position embeddings' grid × patch).
    pub image_size: usize,
    pub in_channels: usize,
    pub classes: Option<usize>,
    /// A layer norm before the blocks (CLIP's `ln_pre`).
    pub norm_pre: bool,
    pub patch_bias: bool,
    /// CLIP's layer norms (eps 1e-5 rather than timm's 1e-6).
    pub clip: bool,
    pub quick_gelu: bool,
}

impl Config {
    /// timm's `vit_base_patch16_224` (ViT-B/16; BiomedCLIP's image tower), without a head.
    pub fn vit_base_patch16_224() -> Self {
        Config {
            hidden: 768,
            depth: 12,
            heads: 12,
            mlp: 3072,
            patch: 16,
            image_size: 224,
            in_channels: 3,
            classes: None,
            norm_pre: false,
            patch_bias: true,
            clip: false,
            quick_gelu: false,
        }
    }

    /// timm's name for the network: `vit_base_patch16_224`, `vit_base_patch32_clip_quickgelu_224`.
    pub fn name(&self) -> String {
        let size = match self.hidden {
            192 => "tiny".to_string(),
            384 => "small".into(),
            768 => "base".into(),
            1024 => "large".into(),
            1280 => "huge".into(),
            w => format!("{w}w"),
        };
        format!(
            "vit_{size}_patch{}{}{}_{}",
            self.patch,
            if self.clip { "_clip" } else { "" },
            if self.quick_gelu { "_quickgelu" } else { "" },
            self.image_size
        )
    }

    pub fn features(&self) -> usize {
        self.hidden
    }

    pub fn eps(&self) -> f64 {
        if self.clip { 1e-5 } else { 1e-6 }
    }

    /// Norms and activation as an architecture name says (timm's conventions), heads as
    /// `model_args.num_heads` does when a config gives them.
    pub fn named(mut self, architecture: &str) -> Self {
        self.clip = architecture.contains("_clip");
        self.quick_gelu = architecture.contains("quickgelu");
        self
    }

    /// Heads from a timm `config.json`'s `model_args`, when it has them.
    pub fn with_model_args(mut self, config: &serde_json::Value) -> Self {
        if let Some(h) = config
            .pointer("/model_args/num_heads")
            .and_then(serde_json::Value::as_u64)
        {
            self.heads = h as usize;
        }
        self
    }

    /// The shape of timm-layout weights, or None when they are not a plain ViT with a
    /// class token (LayerScale, register tokens, average pooling and attention pooling are
    /// other networks).
    pub fn from_weights(w: &Weights) -> Option<Config> {
        let dims = |k: &str| w.get(k).map(|t| t.dims().to_vec());
        let cls = dims("cls_token")?;
        let pos = dims("pos_embed")?;
        let conv = dims("patch_embed.proj.weight")?;
        if [
            "blocks.0.ls1.gamma",
            "reg_token",
            "fc_norm.weight",
            "attn_pool.latent",
            "blocks.0.attn.q_norm.weight",
        ]
        .iter()
        .any(|k| w.contains_key(*k))
        {
            return None;
        }
        let (&[1, 1, hidden], &[1, tokens, h2], &[h3, in_channels, patch, p2]) =
            (cls.as_slice(), pos.as_slice(), conv.as_slice())
        else {
            return None;
        };
        let grid = ((tokens.saturating_sub(1)) as f64).sqrt().round() as usize;
        if h2 != hidden || h3 != hidden || patch == 0 || patch != p2 || grid * grid + 1 != tokens {
            return None;
        }
        let mut depth = 0;
        while w.contains_key(&format!("blocks.{depth}.attn.qkv.weight")) {
            depth += 1;
        }
        let mlp = dims("blocks.0.mlp.fc1.weight").filter(|d| d.len() == 2 && d[1] == hidden)?;
        let classes = match dims("head.weight") {
            Some(d) if d.len() == 2 && d[1] == hidden => Some(d[0]),
            _ => None,
        };
        (depth > 0).then_some(Config {
            hidden,
            depth,
            heads: heads_for(hidden),
            mlp: mlp[0],
            patch,
            image_size: grid * patch,
            in_channels,
            classes,
            norm_pre: w.contains_key("norm_pre.weight"),
            patch_bias: w.contains_key("patch_embed.proj.bias"),
            clip: false,
            quick_gelu: false,
        })
    }
}

struct Block {
    norm1: Norm,
    qkv: Linear,
    proj: Linear,
    norm2: Norm,
    fc1: Linear,
    fc2: Linear,
}

/// The network with its weights (inference tensors or training variables).
pub struct Vit {
    cfg: Config,
    patch_w: Tensor,
    patch_b: Option<Tensor>,
    cls: Tensor,
    pos: Tensor,
    norm_pre: Option<Norm>,
    blocks: Vec<Block>,
    norm: Norm,
    head: Option<Linear>,
}

impl Vit {
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let d = cfg.hidden;
        if cfg.heads == 0 || !d.is_multiple_of(cfg.heads) {
            candle_core::bail!(
                "a ViT {d} wide with {} heads: the number of heads is not known (timm's \
                 config.json can give it as model_args.num_heads)",
                cfg.heads
            );
        }
        let eps = cfg.eps();
        let tokens = (cfg.image_size / cfg.patch).pow(2) + 1;
        let pe = vb.pp("patch_embed.proj");
        let mut blocks = Vec::with_capacity(cfg.depth);
        for i in 0..cfg.depth {
            let b = vb.pp(format!("blocks.{i}"));
            blocks.push(Block {
                norm1: Norm::load(b.pp("norm1"), d, eps)?,
                qkv: candle_nn::linear(d, 3 * d, b.pp("attn.qkv"))?,
                proj: candle_nn::linear(d, d, b.pp("attn.proj"))?,
                norm2: Norm::load(b.pp("norm2"), d, eps)?,
                fc1: candle_nn::linear(d, cfg.mlp, b.pp("mlp.fc1"))?,
                fc2: candle_nn::linear(cfg.mlp, d, b.pp("mlp.fc2"))?,
            });
        }
        Ok(Vit {
            patch_w: pe.get((d, cfg.in_channels, cfg.patch, cfg.patch), "weight")?,
            patch_b: if cfg.patch_bias {
                Some(pe.get(d, "bias")?)
            } else {
                None
            },
            cls: vb.get((1, 1, d), "cls_token")?,
            pos: vb.get((1, tokens, d), "pos_embed")?,
            norm_pre: if cfg.norm_pre {
                Some(Norm::load(vb.pp("norm_pre"), d, eps)?)
            } else {
                None
            },
            blocks,
            norm: Norm::load(vb.pp("norm"), d, eps)?,
            head: match cfg.classes {
                Some(k) => Some(candle_nn::linear(d, k, vb.pp("head"))?),
                None => None,
            },
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The embedding, then one stage per block.
    pub fn stages(&self) -> usize {
        self.cfg.depth + 1
    }

    /// Stage 0 turns `[n, c, s, s]` pixels into `[n, tokens, hidden]`; stage k runs block k − 1.
    pub fn stage(&self, k: usize, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        if k == 0 {
            return self.embed(x, train);
        }
        let b = &self.blocks[k - 1];
        let x = (x + self.attention(b, &b.norm1.forward(x, train)?, train)?)?;
        let h = b.fc1.forward(&b.norm2.forward(&x, train)?)?;
        let h = if self.cfg.quick_gelu {
            (&h * candle_nn::ops::sigmoid(&(&h * 1.702)?)?)?
        } else {
            h.gelu_erf()?
        };
        x + b.fc2.forward(&h)?
    }

    fn embed(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let (n, c, h, w) = x.dims4()?;
        let (p, d) = (self.cfg.patch, self.cfg.hidden);
        if h != self.cfg.image_size || w != self.cfg.image_size {
            candle_core::bail!(
                "a {} takes {}×{} px images, not {h}×{w}",
                self.cfg.name(),
                self.cfg.image_size,
                self.cfg.image_size
            );
        }
        let g = h / p;
        // The patch convolution (stride = kernel) as one product over flattened patches.
        let patches = x
            .reshape((n, c, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((n * g * g, c * p * p))?;
        let mut e = patches.matmul(&self.patch_w.reshape((d, c * p * p))?.t()?)?;
        if let Some(b) = &self.patch_b {
            e = e.broadcast_add(b)?;
        }
        let e = e.reshape((n, g * g, d))?;
        let cls = self.cls.broadcast_as((n, 1, d))?;
        let mut x = Tensor::cat(&[&cls, &e], 1)?.broadcast_add(&self.pos)?;
        if let Some(pre) = &self.norm_pre {
            x = pre.forward(&x, train)?;
        }
        Ok(x)
    }

    fn attention(&self, b: &Block, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let (n, t, d) = x.dims3()?;
        let h = self.cfg.heads;
        let hd = d / h;
        let qkv = b
            .qkv
            .forward(x)?
            .reshape((n, t, 3, h, hd))?
            .permute((2, 0, 3, 1, 4))?;
        let q = (qkv.get(0)?.contiguous()? * (hd as f64).powf(-0.5))?;
        let k = qkv.get(1)?.contiguous()?;
        let v = qkv.get(2)?.contiguous()?;
        let att = q.matmul(&k.t()?.contiguous()?)?;
        let att = if train {
            crate::lastdim::softmax(&att)?
        } else {
            candle_nn::ops::softmax_last_dim(&att)?
        };
        let o = att
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((n, t, d))?;
        b.proj.forward(&o)
    }

    /// The class token after the final norm: `[n, hidden]` (differentiable, so that a
    /// trained last block trains the norm too).
    pub fn pool(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.norm.forward(&x.narrow(1, 0, 1)?.squeeze(1)?, true)
    }

    pub fn classifier(&self) -> Option<&Linear> {
        self.head.as_ref()
    }
}
