//! Model folders with made-up weights, in the Hugging Face key layout: for tests (tiny
//! models built at test time, never committed) and for speed benchmarks (full-size shapes
//! with random weights).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Init as VarInit, VarBuilder, VarMap};
use serde_json::Value;

use crate::error::{MlError, Result};
use crate::rng::SplitMix64;
use crate::{bert, clip};

/// How the weights are filled.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// `det_value`: the same numbers the NumPy reference in tests/reference computes.
    Deterministic,
    /// Normal(0, 0.02) from a seeded generator; layer-norm weights 1, biases 0.
    Random { seed: u64 },
}

fn is_norm_weight(name: &str) -> bool {
    name.to_lowercase().contains("norm") && name.ends_with(".weight")
}

/// Element `i` (row-major) of the deterministic tensor named `name`:
/// `0.05·sin(0.01·Σbytes(name) + 0.7·i)`, plus 1 for layer-norm weights.
pub fn det_value(name: &str, i: usize) -> f32 {
    let phase = 0.01 * name.bytes().map(f64::from).sum::<f64>();
    let mut v = 0.05 * (phase + 0.7 * i as f64).sin();
    if is_norm_weight(name) {
        v += 1.0;
    }
    v as f32
}

/// Writes `config.json` and `model.safetensors` for the model `config` describes
/// (model_type "clip" or "bert") into `dir`. Add a tokenizer.json to make it loadable.
pub fn write_model(dir: &Path, config: &Value, init: Init) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| MlError::io(dir, e))?;
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let bad = |e: crate::error::ConfigError| MlError::bad(dir, e.0);
    match config.get("model_type").and_then(Value::as_str) {
        Some("clip") => {
            let cfg = clip::Config::from_json(config).map_err(bad)?;
            // Created first so that candle reads them instead of drawing fresh values.
            vb.pp("vision_model.embeddings").get_with_hints(
                cfg.vision.hidden_size,
                "class_embedding",
                VarInit::Const(0.0),
            )?;
            vb.get_with_hints((), "logit_scale", VarInit::Const(0.0))?;
            clip::Clip::load(vb, &cfg)?;
        }
        Some("bert") => {
            let cfg = bert::config_from_json(config).map_err(bad)?;
            bert::SentenceEncoder::load(vb, &cfg)?;
        }
        other => {
            return Err(MlError::UnknownArchitecture {
                dir: dir.to_path_buf(),
                found: other.unwrap_or("").to_string(),
            });
        }
    }
    {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| MlError::Unsupported("weight map lock poisoned".into()))?;
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        let mut rng = match init {
            Init::Random { seed } => SplitMix64(seed),
            Init::Deterministic => SplitMix64(0),
        };
        for name in names {
            let var = &data[name];
            let n = var.elem_count();
            let values: Vec<f32> = match init {
                Init::Deterministic => (0..n).map(|i| det_value(name, i)).collect(),
                Init::Random { .. } if is_norm_weight(name) => vec![1.0; n],
                Init::Random { .. } if name.ends_with(".bias") => vec![0.0; n],
                Init::Random { .. } => (0..n).map(|_| (0.02 * rng.normal()) as f32).collect(),
            };
            var.set(&Tensor::from_vec(values, var.shape(), &device)?)?;
        }
    }
    varmap.save(dir.join("model.safetensors"))?;
    let text =
        serde_json::to_string_pretty(config).map_err(|e| MlError::Unsupported(e.to_string()))?;
    let path = dir.join("config.json");
    std::fs::write(&path, text).map_err(|e| MlError::io(path, e))
}

/// Where `scripts/fetch-fixtures.sh` puts the real model fixtures (all-MiniLM-L6-v2 in
/// `minilm/`, the CLIP tokenizer in `clip-tokenizer/`): `$PAIRLAB_FIXTURES`, else
/// `~/.cache/pairlab/fixtures`.
pub fn fixtures_root() -> std::path::PathBuf {
    match std::env::var_os("PAIRLAB_FIXTURES") {
        Some(p) => p.into(),
        None => std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/pairlab/fixtures"),
    }
}

/// Hugging Face's config.json for OpenAI's CLIP ViT-B/32 shape.
pub fn vit_b32_config() -> Value {
    serde_json::json!({
        "model_type": "clip", "architectures": ["CLIPModel"], "projection_dim": 512,
        "logit_scale_init_value": 2.6592,
        "text_config": {"vocab_size": 49408, "hidden_size": 512, "intermediate_size": 2048,
            "num_hidden_layers": 12, "num_attention_heads": 8, "max_position_embeddings": 77,
            "hidden_act": "quick_gelu"},
        "vision_config": {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
            "num_attention_heads": 12, "image_size": 224, "patch_size": 32,
            "hidden_act": "quick_gelu"}
    })
}

/// FNV-1a (64-bit) of a weight's name: the seed of its deterministic values.
fn fnv1a(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// The deterministic values of a backbone weight named `name` with `shape`, as
/// tests/reference/make_backbones.py computes them: u in [-1, 1) from splitmix64 seeded
/// with FNV-1a(name); a convolution is √(6/fan_in)·u, a linear layer u/√(fan_in), and 1-D
/// tensors are batch norm's (running_var 1 + 0.5u, running_mean 0.1u, weight 1 + 0.1u,
/// bias 0.1u).
pub fn backbone_values(name: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let mut rng = SplitMix64(fnv1a(name));
    let (scale, offset) = match shape {
        [_, i, kh, kw] => ((6.0 / (i * kh * kw) as f64).sqrt(), 0.0),
        [_, i] => (1.0 / (*i as f64).sqrt(), 0.0),
        _ if name.ends_with("running_var") => (0.5, 1.0),
        _ if name.ends_with("running_mean") => (0.1, 0.0),
        _ if name.ends_with(".weight") => (0.1, 1.0),
        _ => (0.1, 0.0),
    };
    (0..n)
        .map(|_| (offset + scale * f64::from(rng.unit())) as f32)
        .collect()
}

/// Writes the weights of a ResNet or DenseNet as `file` (safetensors), deterministic
/// ([`backbone_values`]) or random (`seed`).
pub fn write_backbone(file: &Path, arch: &crate::backbone::Arch, seed: Option<u64>) -> Result<()> {
    let device = Device::Cpu;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    crate::backbone::Net::load(vb, arch)?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| MlError::Unsupported("weights lock poisoned".into()))?;
    let mut tensors = std::collections::HashMap::new();
    for (name, var) in data.iter() {
        let shape = var.dims().to_vec();
        let values = match seed {
            None => backbone_values(name, &shape),
            Some(s) => backbone_values(&format!("{s}:{name}"), &shape),
        };
        tensors.insert(name.clone(), Tensor::from_vec(values, shape, &device)?);
    }
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| MlError::io(dir, e))?;
    }
    candle_core::safetensors::save(&tensors, file)?;
    Ok(())
}
