//! CLIP image towers as timm-layout ViT weights, so that [`crate::vit`] fine-tunes them:
//! a Hugging Face CLIP folder (`vision_model.*`), an OpenAI-format `.pt` (OpenAI's,
//! CheXzero's) or open_clip folder of that architecture, and a BiomedCLIP-style open_clip
//! folder (`visual.trunk.*`, already timm's layout). Only the image tower is kept, without
//! its projection: a fine-tuning run puts its own head on the pooled class token.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde_json::Value;

use crate::checkpoint::{self, Weights};
use crate::error::{MlError, Result};
use crate::preprocess::{CLIP_MEAN, CLIP_STD, Preprocess};
use crate::vit;

/// A CLIP image tower in timm's layout.
pub struct Tower {
    pub weights: Weights,
    pub config: vit::Config,
    pub preprocess: Preprocess,
    /// `Hugging Face CLIP (safetensors), image tower` and the like.
    pub format: String,
}

fn json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn open_clip_file(dir: &Path) -> Option<PathBuf> {
    if !dir.join("open_clip_config.json").is_file() {
        return None;
    }
    ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

fn clip_preprocess(size: usize, mean: Option<[f32; 3]>, std: Option<[f32; 3]>) -> Preprocess {
    Preprocess {
        size: size as u32,
        crop_pct: 1.0,
        channels: 3,
        mean: mean.unwrap_or(CLIP_MEAN).to_vec(),
        std: std.unwrap_or(CLIP_STD).to_vec(),
        interpolation: "bicubic".into(),
        xrv: false,
    }
}

fn triple(v: Option<&Value>) -> Option<[f32; 3]> {
    let a = v?.as_array()?;
    match a.iter().filter_map(Value::as_f64).collect::<Vec<_>>()[..] {
        [x, y, z] => Some([x as f32, y as f32, z as f32]),
        _ => None,
    }
}

/// The tower when `path` is a CLIP model folder (None for anything else).
pub fn read_folder(path: &Path, device: &Device) -> Result<Option<Tower>> {
    if let Some(file) = open_clip_file(path) {
        let cfg = json(&path.join("open_clip_config.json")).unwrap_or(Value::Null);
        let w = checkpoint::load(&file, device)?;
        let kind = checkpoint::sniff(&file)?.describe();
        let mean = triple(cfg.pointer("/preprocess_cfg/mean"));
        let std = triple(cfg.pointer("/preprocess_cfg/std"));
        if crate::openai_clip::looks_like(&w) {
            let (c, hf) =
                crate::openai_clip::to_hf(&w).map_err(|e| MlError::bad(path, e.to_string()))?;
            // open_clip's default is the exact GELU; OpenAI's weights say quick_gelu.
            let quick = match cfg.get("model_cfg") {
                Some(m) => m.get("quick_gelu").and_then(Value::as_bool) == Some(true),
                None => true,
            };
            let t = from_hf(path, &hf, c.vision.num_attention_heads, quick)?;
            return Ok(Some(Tower {
                preprocess: clip_preprocess(c.vision.image_size, mean, std),
                format: format!("open_clip, OpenAI architecture ({kind}), image tower"),
                ..t
            }));
        }
        if crate::open_clip::looks_like(&w) {
            match cfg
                .pointer("/model_cfg/vision_cfg/timm_pool")
                .and_then(Value::as_str)
            {
                Some("" | "token") => {}
                other => {
                    return Err(MlError::bad(
                        path,
                        format!(
                            "vision_cfg.timm_pool is {}; Pairlab pools a timm ViT at its class \
                             token (timm_pool \"\" or \"token\")",
                            other.unwrap_or("not set (open_clip's default, avg)")
                        ),
                    ));
                }
            }
            let weights: Weights = w
                .into_iter()
                .filter_map(|(k, t)| k.strip_prefix("visual.trunk.").map(|s| (s.to_string(), t)))
                .collect();
            let name = cfg
                .pointer("/model_cfg/vision_cfg/timm_model_name")
                .and_then(Value::as_str)
                .unwrap_or("vit");
            let config = vit::Config::from_weights(&weights)
                .ok_or_else(|| {
                    MlError::bad(path, "its timm trunk is not a plain ViT with a class token")
                })?
                .named(name);
            return Ok(Some(Tower {
                preprocess: clip_preprocess(config.image_size, mean, std),
                config,
                weights,
                format: format!("open_clip, timm ViT ({kind}), image tower"),
            }));
        }
        return Ok(None);
    }
    {
        let Some(cfg) = json(&path.join("config.json")) else {
            return Ok(None);
        };
        if cfg.get("model_type").and_then(Value::as_str) != Some("clip") {
            return Ok(None);
        }
        let mut hf = HashMap::new();
        for file in crate::encoder::weight_files(path)? {
            let name = file.file_name().map(|n| n.to_string_lossy().into_owned());
            hf.extend(candle_core::safetensors::load(&file, device).map_err(|e| {
                MlError::bad(
                    path,
                    format!("{} cannot be read: {e}", name.unwrap_or_default()),
                )
            })?);
        }
        let heads = crate::clip::Config::from_json(&cfg)
            .map_err(|e| MlError::bad(path, format!("config.json: {e}")))?
            .vision
            .num_attention_heads;
        let quick = cfg
            .pointer("/vision_config/hidden_act")
            .and_then(Value::as_str)
            .is_none_or(|a| a == "quick_gelu");
        let mut t = from_hf(path, &hf, heads, quick)?;
        let pre = json(&path.join("preprocessor_config.json"));
        t.preprocess = clip_preprocess(
            t.config.image_size,
            triple(pre.as_ref().and_then(|p| p.get("image_mean"))),
            triple(pre.as_ref().and_then(|p| p.get("image_std"))),
        );
        Ok(Some(t))
    }
}

/// The tower of an OpenAI-format checkpoint file already read (None for anything else).
pub fn from_openai_file(path: &Path, w: &Weights) -> Result<Option<Tower>> {
    if !crate::openai_clip::looks_like(w) {
        return Ok(None);
    }
    let kind = checkpoint::sniff(path)?.describe();
    let (c, hf) = crate::openai_clip::to_hf(w).map_err(|e| MlError::bad(path, e.to_string()))?;
    let t = from_hf(path, &hf, c.vision.num_attention_heads, true)?;
    Ok(Some(Tower {
        preprocess: clip_preprocess(c.vision.image_size, None, None),
        format: format!("OpenAI CLIP ({kind}), image tower"),
        ..t
    }))
}

/// Hugging Face CLIP vision weights (`vision_model.*`) in timm's layout.
fn from_hf(path: &Path, hf: &HashMap<String, Tensor>, heads: usize, quick: bool) -> Result<Tower> {
    let v = "vision_model.";
    let get = |k: &str| -> Result<Tensor> {
        hf.get(&format!("{v}{k}"))
            .cloned()
            .ok_or_else(|| MlError::bad(path, format!("{v}{k} is missing")))
    };
    let mut w: Weights = HashMap::new();
    let class = get("embeddings.class_embedding")?;
    let d = class.dims1()?;
    w.insert("cls_token".into(), class.reshape((1, 1, d))?);
    let pos = get("embeddings.position_embedding.weight")?;
    let n = pos.dim(0)?;
    w.insert("pos_embed".into(), pos.reshape((1, n, d))?);
    w.insert(
        "patch_embed.proj.weight".into(),
        get("embeddings.patch_embedding.weight")?,
    );
    for (a, b) in [("pre_layrnorm", "norm_pre"), ("post_layernorm", "norm")] {
        for p in ["weight", "bias"] {
            w.insert(format!("{b}.{p}"), get(&format!("{a}.{p}"))?);
        }
    }
    let mut i = 0;
    while hf.contains_key(&format!("{v}encoder.layers.{i}.layer_norm1.weight")) {
        let l = format!("encoder.layers.{i}.");
        let b = format!("blocks.{i}.");
        for p in ["weight", "bias"] {
            let qkv = ["q_proj", "k_proj", "v_proj"]
                .iter()
                .map(|q| get(&format!("{l}self_attn.{q}.{p}")))
                .collect::<Result<Vec<_>>>()?;
            w.insert(format!("{b}attn.qkv.{p}"), Tensor::cat(&qkv, 0)?);
            for (from, to) in [
                ("layer_norm1", "norm1"),
                ("self_attn.out_proj", "attn.proj"),
                ("layer_norm2", "norm2"),
                ("mlp.fc1", "mlp.fc1"),
                ("mlp.fc2", "mlp.fc2"),
            ] {
                w.insert(format!("{b}{to}.{p}"), get(&format!("{l}{from}.{p}"))?);
            }
        }
        i += 1;
    }
    let mut config = vit::Config::from_weights(&w)
        .ok_or_else(|| MlError::bad(path, "its vision tower is not a ViT Pairlab can fine-tune"))?;
    config.quick_gelu = quick;
    config.clip = true;
    config.heads = heads;
    Ok(Tower {
        preprocess: clip_preprocess(config.image_size, None, None),
        config,
        weights: w,
        format: "Hugging Face CLIP (safetensors), image tower".into(),
    })
}
