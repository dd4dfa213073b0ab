//! CLIP models from files other than Hugging Face folders: OpenAI-format checkpoints
//! (OpenAI's `.pt`, CheXzero, open_clip folders of that architecture) and BiomedCLIP-style
//! open_clip folders (a timm ViT and a BERT).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use serde_json::Value;

use super::{Encoder, Family, Model, ModelInfo, read_json};
use crate::clip;
use crate::error::{MlError, Result};
use crate::preprocess::ImageProcessor;
use crate::text::TextTokenizer;

/// The weights of an open_clip folder (`open_clip_config.json` beside them).
pub(super) fn open_clip_weights(dir: &Path) -> Option<PathBuf> {
    if !dir.join("open_clip_config.json").is_file() {
        return None;
    }
    ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
}

/// An OpenAI-format CLIP (a `.pt` like OpenAI's or CheXzero's, or an open_clip folder with
/// OpenAI's architecture), or None when the file holds something else. A `tokenizer.json`
/// beside it gives the text tower; without one the model encodes images only.
pub(super) fn load_openai_clip(path: &Path, device: &Device) -> Result<Option<Encoder>> {
    let (file, folder) = match open_clip_weights(path) {
        Some(f) => (f, path.to_path_buf()),
        None if path.is_file() => (
            path.to_path_buf(),
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
        ),
        None => return Ok(None),
    };
    let weights = crate::checkpoint::load(&file, device)?;
    if !crate::openai_clip::looks_like(&weights) {
        if !path.is_dir() {
            return Ok(None);
        }
        if crate::open_clip::looks_like(&weights) {
            return load_open_clip(path, &file, &weights, device).map(Some);
        }
        return Err(MlError::bad(
            path,
            "an open_clip model whose towers are neither OpenAI's CLIP architecture nor a timm \
             ViT with a BERT (BiomedCLIP's), which Pairlab does not load",
        ));
    }
    // open_clip builds OpenAI's architecture with exact GELU unless its config says
    // quick_gelu (OpenAI's own weights); Pairlab's CLIP towers run quick-GELU only.
    if path.is_dir() {
        let cfg = read_json(path, "open_clip_config.json")?.unwrap_or(Value::Null);
        if let Some(m) = cfg.get("model_cfg")
            && m.get("quick_gelu").and_then(Value::as_bool) != Some(true)
        {
            return Err(MlError::bad(
                path,
                "an open_clip model of OpenAI's architecture with GELU (model_cfg.quick_gelu \
                 is not true, as in LAION's models); Pairlab's CLIP runs quick-GELU towers \
                 (OpenAI's weights, CheXzero) only",
            ));
        }
    }
    let (cfg, hf) = crate::openai_clip::to_hf(&weights)
        .map_err(|e| MlError::bad(&file, format!("not a complete OpenAI-format CLIP: {e}")))?;
    let vb = VarBuilder::from_tensors(hf, DType::F32, device);
    let model = clip::Clip::load(vb, &cfg)
        .map_err(|e| MlError::bad(&file, format!("the weights do not fit a CLIP: {e}")))?;
    let size = cfg.vision.image_size as u32;
    let tokenizer = if folder.join("tokenizer.json").is_file() {
        let max = cfg.text.max_position_embeddings;
        let probe = TextTokenizer::load(&folder, max, 0, None)?;
        let end = check_clip_tokenizer(&probe, cfg.text.vocab_size)?;
        Some(TextTokenizer::load(&folder, max, 0, Some(end))?)
    } else {
        None
    };
    let kind = crate::checkpoint::sniff(&file)?.describe();
    let info = ModelInfo {
        family: Family::Clip,
        dim: cfg.projection_dim,
        images: true,
        texts: tokenizer.is_some(),
        image_size: cfg.vision.image_size,
        format: if path.is_dir() {
            format!("open_clip, OpenAI architecture ({kind})")
        } else {
            format!("OpenAI CLIP ({kind})")
        },
        arch: format!(
            "ViT-{}/{}",
            match cfg.vision.hidden_size {
                768 => "B".to_string(),
                1024 => "L".to_string(),
                w => format!("{w}w"),
            },
            cfg.vision.patch_size
        ),
        labels: Vec::new(),
    };
    Ok(Some(Encoder {
        model: Model::Clip {
            model,
            processor: ImageProcessor::clip(size),
        },
        tokenizer,
        info,
        device: device.clone(),
    }))
}

/// An open_clip folder with a timm ViT image tower and a BERT text tower (BiomedCLIP).
fn load_open_clip(
    dir: &Path,
    file: &Path,
    weights: &crate::checkpoint::Weights,
    device: &Device,
) -> Result<Encoder> {
    let (model, tokenizer) = crate::open_clip::OpenClip::load(dir, weights, device)?;
    let kind = crate::checkpoint::sniff(file)?.describe();
    let info = ModelInfo {
        family: Family::Clip,
        dim: model.dim,
        images: true,
        texts: tokenizer.is_some(),
        image_size: model.image_size,
        format: format!("open_clip, timm ViT + Hugging Face BERT ({kind})"),
        arch: model.arch.clone(),
        labels: Vec::new(),
    };
    Ok(Encoder {
        model: Model::OpenClip(Box::new(model)),
        tokenizer,
        info,
        device: device.clone(),
    })
}

/// CLIP pools at the end-of-text token, which must be the row's largest id; returns its id.
pub(super) fn check_clip_tokenizer(tok: &TextTokenizer, model_vocab: usize) -> Result<u32> {
    if tok.vocab_size() > model_vocab {
        return Err(MlError::TokenizerMismatch(format!(
            "it has {} tokens, the model's text tower {model_vocab}",
            tok.vocab_size()
        )));
    }
    let ids = tok.encode("a photo of a chest x-ray")?;
    let end = ids.last().copied().unwrap_or(0);
    let max = ids.iter().copied().max().unwrap_or(0);
    if ids.len() < 2 || end != max || tok.token_id("<|endoftext|>") != Some(end) {
        return Err(MlError::TokenizerMismatch(
            "a CLIP tokenizer must end every text with <|endoftext|>, its highest id".into(),
        ));
    }
    Ok(end)
}
