//! A BERT encoder in Hugging Face's layout that can be fine-tuned: `embeddings.{word,
//! position, token_type}_embeddings`, `embeddings.LayerNorm`, then per layer
//! `encoder.layer.N.attention.self.{query, key, value}`, `attention.output.{dense,
//! LayerNorm}`, `intermediate.dense`, `output.{dense, LayerNorm}` (post-norm blocks, exact
//! GELU), with or without the `bert.` prefix. The same computation as candle-transformers'
//! `BertModel` (which the sentence encoder in [`crate::bert`] runs, and which has no
//! gradients through its fused layer norm and softmax); training runs those two through
//! [`crate::lastdim`], evaluation through candle's fused kernels.
//!
//! Stages, as fine-tuning unfreezes them from the top: stage 0 is the embedding, stage k
//! layer k − 1. Pooling is the mean over real tokens (sentence-transformers' recipe, which
//! MiniLM was trained with).

use candle_core::{DType, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder};

use crate::bert::Config;
use crate::lastdim::Norm;

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    inter: Linear,
    out: Linear,
    out_norm: Norm,
}

/// The encoder with its weights (inference tensors or training variables).
pub struct BertNet {
    cfg: Config,
    words: Embedding,
    positions: Embedding,
    types: Embedding,
    emb_norm: Norm,
    layers: Vec<Layer>,
}

/// The prefix under which a checkpoint keeps the encoder: `bert.` or nothing.
pub fn prefix_of(has: impl Fn(&str) -> bool) -> &'static str {
    if has("bert.embeddings.word_embeddings.weight") {
        "bert"
    } else {
        ""
    }
}

impl BertNet {
    /// Builds the encoder from `vb`, already at the encoder's prefix.
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let d = cfg.hidden_size;
        let eps = cfg.layer_norm_eps;
        let e = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            layers.push(Layer {
                query: candle_nn::linear(d, d, l.pp("attention.self.query"))?,
                key: candle_nn::linear(d, d, l.pp("attention.self.key"))?,
                value: candle_nn::linear(d, d, l.pp("attention.self.value"))?,
                attn_out: candle_nn::linear(d, d, l.pp("attention.output.dense"))?,
                attn_norm: Norm::load(l.pp("attention.output.LayerNorm"), d, eps)?,
                inter: candle_nn::linear(d, cfg.intermediate_size, l.pp("intermediate.dense"))?,
                out: candle_nn::linear(cfg.intermediate_size, d, l.pp("output.dense"))?,
                out_norm: Norm::load(l.pp("output.LayerNorm"), d, eps)?,
            });
        }
        Ok(BertNet {
            words: candle_nn::embedding(cfg.vocab_size, d, e.pp("word_embeddings"))?,
            positions: candle_nn::embedding(
                cfg.max_position_embeddings,
                d,
                e.pp("position_embeddings"),
            )?,
            types: candle_nn::embedding(cfg.type_vocab_size, d, e.pp("token_type_embeddings"))?,
            emb_norm: Norm::load(e.pp("LayerNorm"), d, eps)?,
            layers,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn hidden(&self) -> usize {
        self.cfg.hidden_size
    }

    /// The embedding, then one stage per layer.
    pub fn stages(&self) -> usize {
        self.layers.len() + 1
    }

    /// The stage a weight (by its name below the encoder's prefix) belongs to.
    pub fn stage_of(name: &str) -> usize {
        name.strip_prefix("encoder.layer.")
            .and_then(|r| r.split('.').next())
            .and_then(|k| k.parse::<usize>().ok())
            .map_or(0, |i| i + 1)
    }

    /// The additive attention bias of a `[n, len]` 0/1 mask: 0 for real tokens, a large
    /// negative number for padding, shaped `[n, 1, 1, len]`.
    pub fn attention_bias(mask: &Tensor) -> candle_core::Result<Tensor> {
        let (n, len) = mask.dims2()?;
        ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((n, 1, 1, len))
    }

    /// Stage 0 turns `[n, len]` ids into `[n, len, hidden]`; stage k runs layer k − 1 with
    /// the attention bias of [`BertNet::attention_bias`].
    pub fn stage(
        &self,
        k: usize,
        x: &Tensor,
        bias: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        if k == 0 {
            let (_, len) = x.dims2()?;
            let pos = Tensor::arange(0u32, len as u32, x.device())?;
            let e = self
                .words
                .forward(x)?
                .broadcast_add(&self.positions.forward(&pos)?)?
                .broadcast_add(&self.types.forward(&Tensor::zeros(
                    1,
                    DType::U32,
                    x.device(),
                )?)?)?;
            return self.emb_norm.forward(&e, train);
        }
        let l = &self.layers[k - 1];
        let a = self.attention(l, x, bias, train)?;
        let h = l
            .attn_norm
            .forward(&(l.attn_out.forward(&a)? + x)?, train)?;
        let i = l.inter.forward(&h)?.gelu_erf()?;
        l.out_norm.forward(&(l.out.forward(&i)? + &h)?, train)
    }

    fn attention(
        &self,
        l: &Layer,
        x: &Tensor,
        bias: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (n, t, d) = x.dims3()?;
        let h = self.cfg.num_attention_heads;
        let hd = d / h;
        let heads = |y: Tensor| -> candle_core::Result<Tensor> {
            y.reshape((n, t, h, hd))?.transpose(1, 2)?.contiguous()
        };
        let q = (heads(l.query.forward(x)?)? * (hd as f64).powf(-0.5))?;
        let k = heads(l.key.forward(x)?)?;
        let v = heads(l.value.forward(x)?)?;
        let att = q.matmul(&k.t()?.contiguous()?)?.broadcast_add(bias)?;
        let att = if train {
            crate::lastdim::softmax(&att)?
        } else {
            candle_nn::ops::softmax_last_dim(&att)?
        };
        att.matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((n, t, d))
    }

    /// Every stage in evaluation mode: `[n, len, hidden]`.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let bias = Self::attention_bias(mask)?;
        let mut h = ids.clone();
        for k in 0..self.stages() {
            h = self.stage(k, &h, &bias, false)?;
        }
        Ok(h)
    }

    /// The mean of `hidden` over the real tokens of `mask`: `[n, hidden]`.
    pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&m)?.sum(1)?;
        let counts = m.sum(1)?.clamp(1e-9, f64::INFINITY)?;
        summed.broadcast_div(&counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    fn tiny() -> Config {
        crate::bert::config_from_json(&serde_json::json!({
            "vocab_size": 50, "hidden_size": 16, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 24,
            "max_position_embeddings": 12, "hidden_act": "gelu"
        }))
        .expect("config")
    }

    /// Random weights in a VarMap, filled with a seeded spread (candle's own initialisation
    /// leaves layer norms at 1 and 0, which hides a swapped weight and bias).
    fn weights(cfg: &Config) -> VarMap {
        let vm = VarMap::new();
        BertNet::load(VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu), cfg).expect("net");
        let mut rng = crate::rng::SplitMix64(3);
        for var in vm.all_vars() {
            let n = var.elem_count();
            let v: Vec<f32> = (0..n).map(|_| 0.4 * rng.unit()).collect();
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu).expect("t"))
                .expect("set");
        }
        vm
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .and_then(|d| d.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>())
            .expect("difference")
    }

    /// The same numbers as candle-transformers' BERT (the sentence encoder's network) on
    /// the same weights, padding included; and the training path gives the evaluation
    /// path's numbers.
    #[test]
    fn matches_candle_transformers_bert_and_trains_through_lastdim() {
        let cfg = tiny();
        let vm = weights(&cfg);
        let net = BertNet::load(VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu), &cfg)
            .expect("net");
        let tensors: std::collections::HashMap<String, Tensor> = vm
            .data()
            .lock()
            .expect("lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let reference = crate::bert::SentenceEncoder::load(
            VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
            &cfg,
        )
        .expect("reference");
        let ids =
            Tensor::new(&[[1u32, 7, 9, 3, 2, 0], [1, 4, 2, 0, 0, 0]], &Device::Cpu).expect("ids");
        let mask =
            Tensor::new(&[[1u32, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0]], &Device::Cpu).expect("m");
        let ours = net.forward(&ids, &mask).expect("ours");
        let theirs = reference.hidden_states(&ids, &mask).expect("theirs");
        let diff = max_diff(&ours, &theirs);
        assert!(diff < 1e-4, "{diff}");
        let bias = BertNet::attention_bias(&mask).expect("bias");
        let mut h = ids.clone();
        for k in 0..net.stages() {
            h = net.stage(k, &h, &bias, true).expect("stage");
        }
        let diff = max_diff(&h, &ours);
        assert!(diff < 1e-4, "{diff}");
        // Gradients reach the embeddings through every layer.
        let loss = BertNet::mean_pool(&h, &mask)
            .expect("pool")
            .sqr()
            .expect("sq")
            .sum_all()
            .expect("sum");
        let grads = loss.backward().expect("backward");
        let data = vm.data().lock().expect("lock");
        for name in [
            "embeddings.word_embeddings.weight",
            "encoder.layer.0.attention.self.query.weight",
            "encoder.layer.1.output.LayerNorm.weight",
        ] {
            assert!(grads.get(data[name].as_tensor()).is_some(), "{name}");
        }
        assert_eq!(BertNet::stage_of("encoder.layer.1.output.dense.weight"), 2);
        assert_eq!(BertNet::stage_of("embeddings.LayerNorm.bias"), 0);
    }
}
