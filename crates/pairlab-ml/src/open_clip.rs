//! open_clip models whose towers are not OpenAI's CLIP: a timm `VisionTransformer` image
//! tower and a Hugging Face BERT text tower, as BiomedCLIP
//! (`microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224`) is built and published:
//! `open_clip_config.json` + `open_clip_pytorch_model.bin` (or `open_clip_model.safetensors`)
//! + the BERT tokenizer's `tokenizer.json`.
//!
//! The shapes come from the weights (widths, depth, patch, image size, vocabulary,
//! positions); heads are width / 64, as in every published timm ViT and BERT-base, unless a
//! BERT `config.json` beside the weights says otherwise. `open_clip_config.json` gives what
//! the weights cannot: the pooling of each tower, the preprocessing's mean and std, and the
//! text context length. Anything else open_clip can build (a ConvNeXt trunk, a RoBERTa or
//! T5 text tower, attention pooling, LayerScale, register tokens) is refused by name.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde_json::Value;

use crate::backbone::Net;
use crate::bert::{self, SentenceEncoder};
use crate::checkpoint::Weights;
use crate::clip_vision::{Dense, Head};
use crate::error::{MlError, Result};
use crate::normalize_rows;
use crate::preprocess::ImageProcessor;
use crate::text::TextTokenizer;
use crate::vit::{self, Vit};

/// True when the weights are an open_clip model with a timm trunk.
pub fn looks_like(w: &Weights) -> bool {
    w.keys().any(|k| k.starts_with("visual.trunk."))
}

/// How the text tower pools its tokens (`text_cfg.hf_pooler_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pool {
    /// The first token's last hidden state (BiomedCLIP's `cls_last_hidden_state_pooler`).
    First,
    /// The mean over real tokens (`mean_pooler`).
    Mean,
}

struct TextTower {
    bert: SentenceEncoder,
    pool: Pool,
    proj: Head,
}

/// Both towers of a BiomedCLIP-style model, with its image preprocessing.
pub struct OpenClip {
    /// The timm trunk (pooled class token) and open_clip's projection after it.
    vision: Net,
    proj: Head,
    text: Option<TextTower>,
    pub processor: ImageProcessor,
    /// Length of the embeddings.
    pub dim: usize,
    /// Square input size.
    pub image_size: usize,
    /// `ViT-B/16 + BERT` and the like.
    pub arch: String,
}

fn missing(what: &str) -> MlError {
    MlError::Unsupported(format!("{what} is missing"))
}

fn shape(w: &Weights, name: &str, rank: usize) -> Result<Vec<usize>> {
    let d = w.get(name).ok_or_else(|| missing(name))?.dims().to_vec();
    if d.len() != rank {
        return Err(MlError::Unsupported(format!(
            "{name} is {d:?}, not of rank {rank}"
        )));
    }
    Ok(d)
}

fn count(w: &Weights, prefix: &str, suffix: &str) -> usize {
    let mut n = 0;
    while w.contains_key(&format!("{prefix}{n}{suffix}")) {
        n += 1;
    }
    n
}

fn heads_of(width: usize, what: &str) -> Result<usize> {
    match crate::vit::heads_for(width) {
        0 => Err(MlError::Unsupported(format!(
            "the {what} is {width} wide, not a published width, so its heads cannot be derived"
        ))),
        h => Ok(h),
    }
}

fn text_of<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The trunk's network (timm's layout under `visual.trunk.`), refusing by name the timm
/// ViT variants [`crate::vit`] does not compute; `name` is `timm_model_name`.
fn trunk_config(w: &Weights, name: &str) -> Result<vit::Config> {
    let p = "visual.trunk.";
    for (key, what) in [
        ("blocks.0.ls1.gamma", "LayerScale"),
        ("reg_token", "register tokens"),
        ("fc_norm.weight", "average pooling with fc_norm"),
        ("attn_pool.latent", "attention pooling"),
        ("blocks.0.attn.q_norm.weight", "query/key norms"),
    ] {
        if w.contains_key(&format!("{p}{key}")) {
            return Err(MlError::Unsupported(format!(
                "its timm ViT uses {what} ({p}{key}), which Pairlab does not run yet"
            )));
        }
    }
    if !w.contains_key(&format!("{p}cls_token")) {
        let first = w
            .keys()
            .filter(|k| k.starts_with(p))
            .min()
            .cloned()
            .unwrap_or_default();
        return Err(MlError::Unsupported(format!(
            "its image tower is not a timm ViT with a class token ({p}cls_token is missing; \
             the weights start with {first}); Pairlab loads ViT trunks only"
        )));
    }
    let trunk: Weights = w
        .iter()
        .filter_map(|(k, t)| k.strip_prefix(p).map(|s| (s.to_string(), t.clone())))
        .collect();
    let cfg = vit::Config::from_weights(&trunk).ok_or_else(|| {
        MlError::Unsupported(format!(
            "{p}cls_token, pos_embed, patch_embed.proj and blocks.N do not make a ViT (a \
             square grid of patches plus a class token)"
        ))
    })?;
    heads_of(cfg.hidden, "image tower")?;
    // The trunk's own classifier, if any, is the projection (`head` below).
    Ok(vit::Config {
        classes: None,
        ..cfg.named(name)
    })
}

/// A linear layer straight from the weights (`{name}.weight`, optional `{name}.bias`).
fn dense(w: &Weights, name: &str) -> Result<Dense> {
    let weight = w
        .get(&format!("{name}.weight"))
        .ok_or_else(|| missing(&format!("{name}.weight")))?;
    let bias = w.get(&format!("{name}.bias")).cloned();
    Ok(Dense::from_weight(weight.clone(), bias)?)
}

/// A projection head and its output width: `[a, b]` are the linear layers' names (one for
/// a linear projection, two for an MLP with GELU between); none present is the identity.
fn head(w: &Weights, linear: &[&str], mlp: [&str; 2], width: usize) -> Result<(Head, usize)> {
    let out = |name: &str| -> Result<usize> { Ok(shape(w, &format!("{name}.weight"), 2)?[0]) };
    if w.contains_key(&format!("{}.weight", mlp[0])) {
        return Ok((
            Head::Mlp(dense(w, mlp[0])?, dense(w, mlp[1])?),
            out(mlp[1])?,
        ));
    }
    for name in linear {
        if w.contains_key(&format!("{name}.weight")) {
            return Ok((Head::Linear(dense(w, name)?), out(name)?));
        }
    }
    Ok((Head::Identity, width))
}

/// The BERT text tower, or None when the weights have none.
fn text_tower(
    w: &Weights,
    cfg: &Value,
    dir: &Path,
    device: &Device,
) -> Result<Option<(TextTower, bert::Config, usize)>> {
    let p = "text.transformer.";
    let Some(words) = w.get(&format!("{p}embeddings.word_embeddings.weight")) else {
        return Ok(None);
    };
    let name = text_of(cfg, &["model_cfg", "text_cfg", "hf_model_name"]).unwrap_or("");
    let lower = name.to_ascii_lowercase();
    if ["roberta", "xlm", "t5", "mt5", "bart"]
        .iter()
        .any(|n| lower.contains(n))
    {
        return Err(MlError::Unsupported(format!(
            "its text tower is {name}, not a BERT; Pairlab loads BERT-family text towers"
        )));
    }
    let (vocab, hidden) = words.dims2()?;
    let layers = count(
        w,
        &format!("{p}encoder.layer."),
        ".attention.self.query.weight",
    );
    let beside = match std::fs::read_to_string(dir.join("config.json")) {
        Ok(text) => serde_json::from_str::<Value>(&text)
            .ok()
            .filter(|j| j.get("model_type").and_then(Value::as_str) == Some("bert")),
        Err(_) => None,
    };
    let heads = match beside
        .as_ref()
        .and_then(|j| j.get("num_attention_heads"))
        .and_then(Value::as_u64)
    {
        Some(h) => h as usize,
        None => heads_of(hidden, "text tower")?,
    };
    let mut json = serde_json::json!({
        "vocab_size": vocab,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size":
            shape(w, &format!("{p}encoder.layer.0.intermediate.dense.weight"), 2)?[0],
        "max_position_embeddings":
            shape(w, &format!("{p}embeddings.position_embeddings.weight"), 2)?[0],
        "type_vocab_size": shape(w, &format!("{p}embeddings.token_type_embeddings.weight"), 2)?[0],
    });
    if let (Some(j), Some(b)) = (json.as_object_mut(), beside.as_ref()) {
        for k in ["layer_norm_eps", "pad_token_id", "hidden_act"] {
            if let Some(v) = b.get(k) {
                j.insert(k.into(), v.clone());
            }
        }
    }
    let bcfg = bert::config_from_json(&json)
        .map_err(|e| MlError::Unsupported(format!("its text tower: {e}")))?;
    let pool = match text_of(cfg, &["model_cfg", "text_cfg", "hf_pooler_type"]) {
        Some("cls_last_hidden_state_pooler") => Pool::First,
        Some("mean_pooler") => Pool::Mean,
        other => {
            return Err(MlError::Unsupported(format!(
                "text_cfg.hf_pooler_type is {}; Pairlab runs cls_last_hidden_state_pooler \
                 (BiomedCLIP's) and mean_pooler",
                other.unwrap_or("not set (open_clip's default for BERT, cls_pooler)")
            )));
        }
    };
    let vb = VarBuilder::from_tensors(w.clone(), DType::F32, device);
    let model = SentenceEncoder::load(vb.pp("text.transformer"), &bcfg)
        .map_err(|e| MlError::Unsupported(format!("the text tower does not fit a BERT: {e}")))?;
    let (proj, dim) = head(w, &["text.proj"], ["text.proj.0", "text.proj.2"], hidden)?;
    Ok(Some((
        TextTower {
            bert: model,
            pool,
            proj,
        },
        bcfg,
        dim,
    )))
}

fn triple(v: &Value, key: &str) -> Result<Option<[f32; 3]>> {
    let Some(a) = v.get("preprocess_cfg").and_then(|p| p.get(key)) else {
        return Ok(None);
    };
    let vals: Vec<f32> = a
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_f64)
                .map(|x| x as f32)
                .collect()
        })
        .unwrap_or_default();
    match vals[..] {
        [a, b, c] => Ok(Some([a, b, c])),
        _ => Err(MlError::Unsupported(format!(
            "preprocess_cfg.{key} must be three numbers, found {a}"
        ))),
    }
}

/// The image preprocessing open_clip builds from `preprocess_cfg`: the short side resized
/// (bicubic) to the input size, the centre square, then mean and std.
fn processor(cfg: &Value, size: usize) -> Result<ImageProcessor> {
    let pre = cfg.get("preprocess_cfg").cloned().unwrap_or(Value::Null);
    for (key, ok) in [("resize_mode", "shortest"), ("interpolation", "bicubic")] {
        if let Some(v) = pre.get(key).and_then(Value::as_str)
            && v != ok
        {
            return Err(MlError::Unsupported(format!(
                "preprocess_cfg.{key} is {v}; Pairlab preprocesses as open_clip's default \
                 ({key} {ok})"
            )));
        }
    }
    let mut p = ImageProcessor::clip(size as u32);
    if let Some(m) = triple(cfg, "mean")? {
        p.mean = m;
    }
    if let Some(s) = triple(cfg, "std")? {
        p.std = s;
    }
    Ok(p)
}

fn size_name(width: usize) -> String {
    match width {
        192 => "Ti".into(),
        384 => "S".into(),
        768 => "B".into(),
        1024 => "L".into(),
        1280 => "H".into(),
        w => format!("{w}w"),
    }
}

impl OpenClip {
    /// Builds the model from an open_clip folder's weights and `open_clip_config.json`; with
    /// a `tokenizer.json` beside them the text tower is used too.
    pub fn load(
        dir: &Path,
        w: &Weights,
        device: &Device,
    ) -> Result<(OpenClip, Option<TextTokenizer>)> {
        let cfg_path = dir.join("open_clip_config.json");
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| MlError::io(&cfg_path, e))?;
        let cfg: Value = serde_json::from_str(&text).map_err(|e| {
            MlError::bad(dir, format!("open_clip_config.json is not valid JSON: {e}"))
        })?;
        if let Some(trunk) = text_of(&cfg, &["model_cfg", "vision_cfg", "timm_model_name"])
            && !trunk.starts_with("vit_")
        {
            return Err(MlError::bad(
                dir,
                format!("its image tower is timm's {trunk}; Pairlab loads timm ViT trunks (vit_*)"),
            ));
        }
        match text_of(&cfg, &["model_cfg", "vision_cfg", "timm_pool"]) {
            Some("") | Some("token") => {}
            other => {
                return Err(MlError::bad(
                    dir,
                    format!(
                        "vision_cfg.timm_pool is {}; Pairlab pools a timm ViT at its class \
                         token (timm_pool \"\" or \"token\", as BiomedCLIP does)",
                        other.unwrap_or("not set (open_clip's default, avg)")
                    ),
                ));
            }
        }
        let bad = |e: MlError| MlError::bad(dir, format!("not a loadable open_clip model: {e}"));
        let trunk = text_of(&cfg, &["model_cfg", "vision_cfg", "timm_model_name"]).unwrap_or("");
        let shape = trunk_config(w, trunk).map_err(bad)?;
        let (proj, dim) = head(
            w,
            &["visual.head.proj", "visual.trunk.head"],
            ["visual.head.mlp.fc1", "visual.head.mlp.fc2"],
            shape.hidden,
        )
        .map_err(bad)?;
        let vb = VarBuilder::from_tensors(w.clone(), DType::F32, device);
        let vision = Net::Vit(Box::new(
            Vit::load(vb.pp("visual.trunk"), &shape).map_err(|e| bad(e.into()))?,
        ));
        let image_size = shape.image_size;
        let processor = processor(&cfg, image_size).map_err(bad)?;
        let tower = text_tower(w, &cfg, dir, device).map_err(bad)?;
        let mut arch = format!("ViT-{}/{}", size_name(shape.hidden), shape.patch);
        let mut tokenizer = None;
        let text = match tower {
            Some((t, bcfg, tdim)) => {
                if tdim != dim {
                    return Err(bad(MlError::Unsupported(format!(
                        "its image embeddings are {dim} long and its text embeddings {tdim}"
                    ))));
                }
                arch.push_str(" + BERT");
                if dir.join("tokenizer.json").is_file() {
                    let context = cfg
                        .pointer("/model_cfg/text_cfg/context_length")
                        .and_then(Value::as_u64)
                        .unwrap_or(77) as usize;
                    let max = context.min(bcfg.max_position_embeddings);
                    let tok = TextTokenizer::load(dir, max, bcfg.pad_token_id as u32, None)?;
                    crate::encoder::check_bert_tokenizer(&tok, bcfg.vocab_size)?;
                    tokenizer = Some(tok);
                }
                Some(t)
            }
            None => None,
        };
        Ok((
            OpenClip {
                vision,
                proj,
                text,
                processor,
                dim,
                image_size,
                arch,
            },
            tokenizer,
        ))
    }

    /// L2-normalised image embeddings of `[n, 3, size, size]` preprocessed pixels.
    pub fn image_features(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        normalize_rows(&self.proj.forward(&self.vision.features(pixels)?)?)
    }

    /// L2-normalised text embeddings of `[n, len]` ids with their 0/1 mask, or None when
    /// the model has no text tower.
    pub fn text_features(&self, ids: &Tensor, mask: &Tensor) -> Result<Option<Tensor>> {
        let Some(t) = &self.text else {
            return Ok(None);
        };
        let hidden = t.bert.hidden_states(ids, mask)?;
        let pooled = match t.pool {
            Pool::First => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pool::Mean => {
                let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let summed = hidden.broadcast_mul(&m)?.sum(1)?;
                summed.broadcast_div(&m.sum(1)?.clamp(1e-9, f64::INFINITY)?)?
            }
        };
        Ok(Some(normalize_rows(
            &t.proj.forward(&pooled.contiguous()?)?,
        )?))
    }
}
