//! CLIP (image and text towers) in the Hugging Face layout, run by candle-transformers.
//!
//! `Config` is read from the model's `config.json` (any ViT shape it describes: B/32, B/16,
//! L/14, …); `Clip::load(vb, &cfg)` builds both towers with their projections.

use candle_core::Module;
use candle_core::{DType, Device, Tensor};
use candle_nn::Linear;
use candle_nn::VarBuilder;
use candle_transformers::models::clip::{
    ClipConfig, text_model::Activation, text_model::ClipTextConfig,
    text_model::ClipTextTransformer, vision_model::ClipVisionConfig,
};

use crate::clip_vision::VisionTower;
use serde_json::Value;

use crate::error::ConfigError;
use crate::normalize_rows;

/// The text tower's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
}

/// The vision tower's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
}

/// A CLIP model's configuration as Hugging Face's `CLIPConfig` writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub text: TextConfig,
    pub vision: VisionConfig,
    pub projection_dim: usize,
    pub logit_scale_init_value: f32,
}

fn field(v: &Value, key: &str, default: usize) -> Result<usize, ConfigError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(x) => x
            .as_u64()
            .map(|n| n as usize)
            .filter(|&n| n > 0)
            .ok_or_else(|| ConfigError(format!("{key} must be a positive integer, found {x}"))),
    }
}

fn activation(v: &Value, tower: &str) -> Result<(), ConfigError> {
    match v.get("hidden_act").and_then(Value::as_str) {
        None | Some("quick_gelu") => Ok(()),
        Some(other) => Err(ConfigError(format!(
            "{tower} hidden_act {other:?} is not supported (CLIP here runs quick_gelu models)"
        ))),
    }
}

impl Config {
    /// Maps a `config.json` (already parsed) to the model's shapes; missing fields take
    /// Hugging Face's `CLIPConfig` defaults, as transformers does.
    pub fn from_json(json: &Value) -> Result<Self, ConfigError> {
        let empty = Value::Object(Default::default());
        // Old exports keep the full tower configs in *_config_dict.
        let t = json
            .get("text_config")
            .filter(|v| v.is_object())
            .or_else(|| json.get("text_config_dict"))
            .unwrap_or(&empty);
        let v = json
            .get("vision_config")
            .filter(|v| v.is_object())
            .or_else(|| json.get("vision_config_dict"))
            .unwrap_or(&empty);
        activation(t, "text_config")?;
        activation(v, "vision_config")?;
        let text = TextConfig {
            vocab_size: field(t, "vocab_size", 49408)?,
            hidden_size: field(t, "hidden_size", 512)?,
            intermediate_size: field(t, "intermediate_size", 2048)?,
            num_hidden_layers: field(t, "num_hidden_layers", 12)?,
            num_attention_heads: field(t, "num_attention_heads", 8)?,
            max_position_embeddings: field(t, "max_position_embeddings", 77)?,
        };
        let vision = VisionConfig {
            hidden_size: field(v, "hidden_size", 768)?,
            intermediate_size: field(v, "intermediate_size", 3072)?,
            num_hidden_layers: field(v, "num_hidden_layers", 12)?,
            num_attention_heads: field(v, "num_attention_heads", 12)?,
            image_size: field(v, "image_size", 224)?,
            patch_size: field(v, "patch_size", 32)?,
            num_channels: field(v, "num_channels", 3)?,
        };
        if !text.hidden_size.is_multiple_of(text.num_attention_heads) {
            return Err(ConfigError(
                "text hidden_size is not a multiple of num_attention_heads".into(),
            ));
        }
        if !vision
            .hidden_size
            .is_multiple_of(vision.num_attention_heads)
        {
            return Err(ConfigError(
                "vision hidden_size is not a multiple of num_attention_heads".into(),
            ));
        }
        if !vision.image_size.is_multiple_of(vision.patch_size) {
            return Err(ConfigError(
                "vision image_size is not a multiple of patch_size".into(),
            ));
        }
        if vision.num_channels != 3 {
            return Err(ConfigError("vision num_channels must be 3".into()));
        }
        Ok(Config {
            text,
            vision,
            projection_dim: field(json, "projection_dim", 512)?,
            logit_scale_init_value: json
                .get("logit_scale_init_value")
                .and_then(Value::as_f64)
                .unwrap_or(2.6592) as f32,
        })
    }

    /// The same shapes as candle-transformers' config.
    pub fn to_candle(&self) -> ClipConfig {
        ClipConfig {
            text_config: ClipTextConfig {
                vocab_size: self.text.vocab_size,
                embed_dim: self.text.hidden_size,
                activation: Activation::QuickGelu,
                intermediate_size: self.text.intermediate_size,
                max_position_embeddings: self.text.max_position_embeddings,
                pad_with: None,
                num_hidden_layers: self.text.num_hidden_layers,
                num_attention_heads: self.text.num_attention_heads,
                projection_dim: self.projection_dim,
            },
            vision_config: ClipVisionConfig {
                embed_dim: self.vision.hidden_size,
                activation: Activation::QuickGelu,
                intermediate_size: self.vision.intermediate_size,
                num_hidden_layers: self.vision.num_hidden_layers,
                num_attention_heads: self.vision.num_attention_heads,
                projection_dim: self.projection_dim,
                num_channels: self.vision.num_channels,
                image_size: self.vision.image_size,
                patch_size: self.vision.patch_size,
            },
            logit_scale_init_value: self.logit_scale_init_value,
            image_size: self.vision.image_size,
        }
    }
}

/// Weights that candle would silently replace with random values when absent; a folder
/// without them is refused instead.
pub const REQUIRED_KEYS: [&str; 3] = [
    "vision_model.embeddings.class_embedding",
    "text_projection.weight",
    "visual_projection.weight",
];

/// Both CLIP towers with their projections: the text tower from candle-transformers, the
/// vision tower our CPU-tuned arrangement of the same computation (`clip_vision`).
pub struct Clip {
    text: ClipTextTransformer,
    text_projection: Linear,
    vision: VisionTower,
    cfg: Config,
}

impl Clip {
    /// Builds the model from weights in the Hugging Face key layout.
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let c = cfg.to_candle();
        let text = ClipTextTransformer::new(vb.pp("text_model"), &c.text_config)?;
        let text_projection = candle_nn::linear_no_bias(
            cfg.text.hidden_size,
            cfg.projection_dim,
            vb.pp("text_projection"),
        )?;
        let vision = VisionTower::load(&vb, cfg)?;
        Ok(Clip {
            text,
            text_projection,
            vision,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// L2-normalised image embeddings of `[n, 3, size, size]` preprocessed pixels.
    pub fn image_features(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        normalize_rows(&self.vision.forward(pixels)?)
    }

    /// Projected image embeddings before normalisation (for checks against other
    /// implementations).
    pub fn image_embeds(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        self.vision.forward(pixels)
    }

    /// The vision encoder's output `[n, tokens, hidden]` (before its final layer norm).
    pub fn vision_hidden_state(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        self.vision.encode(pixels)
    }

    /// L2-normalised text embeddings of `[n, len]` token ids (u32), each row ending in the
    /// end-of-text token and padded with a lower id after it.
    pub fn text_features(&self, ids: &Tensor) -> candle_core::Result<Tensor> {
        let pooled = self.text.forward(ids)?;
        normalize_rows(&self.text_projection.forward(&pooled)?)
    }

    /// Pixels from a flat `n × 3 × s × s` buffer.
    pub fn pixels(&self, data: Vec<f32>, n: usize, device: &Device) -> candle_core::Result<Tensor> {
        let s = self.cfg.vision.image_size;
        Tensor::from_vec(data, (n, 3, s, s), device)?.to_dtype(DType::F32)
    }
}
