//! BERT-family sentence encoders (e.g. all-MiniLM-L6-v2): the transformer from
//! candle-transformers, mean pooling over real tokens, L2 normalisation — the
//! sentence-transformers recipe.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::BertModel;
use serde_json::Value;

use crate::error::ConfigError;
use crate::normalize_rows;

/// The Hugging Face `BertConfig`, as candle-transformers reads it.
pub type Config = candle_transformers::models::bert::Config;

/// Reads a `config.json`; fields that only matter for training take BERT's defaults.
pub fn config_from_json(json: &Value) -> Result<Config, ConfigError> {
    let mut merged = serde_json::json!({
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "type_vocab_size": 2,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "classifier_dropout": null, "model_type": "bert"
    });
    if let (Some(m), Some(j)) = (merged.as_object_mut(), json.as_object()) {
        for (k, v) in j {
            m.insert(k.clone(), v.clone());
        }
    }
    let cfg: Config = serde_json::from_value(merged).map_err(|e| ConfigError(e.to_string()))?;
    if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
        return Err(ConfigError(
            "hidden_size is not a multiple of num_attention_heads".into(),
        ));
    }
    Ok(cfg)
}

/// A sentence encoder: token embeddings mean-pooled over the attention mask.
pub struct SentenceEncoder {
    model: BertModel,
    cfg: Config,
}

impl SentenceEncoder {
    /// Builds the encoder from weights in the Hugging Face key layout (with or without the
    /// `bert.` prefix).
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        Ok(SentenceEncoder {
            model: BertModel::load(vb, cfg)?,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Last hidden states `[n, len, hidden]` of `[n, len]` ids with their 0/1 mask.
    pub fn hidden_states(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let types = ids.zeros_like()?;
        self.model.forward(ids, &types, Some(mask))
    }

    /// L2-normalised sentence embeddings `[n, hidden]`.
    pub fn embed(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let hidden = self.hidden_states(ids, mask)?;
        let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&m)?.sum(1)?;
        let counts = m.sum(1)?.clamp(1e-9, f64::INFINITY)?;
        normalize_rows(&summed.broadcast_div(&counts)?)
    }
}
