//! A model on disk loaded as an encoder of images and/or texts into normalised
//! embeddings: a Hugging Face-layout folder (config.json, model.safetensors, tokenizer.json,
//! optional preprocessor_config.json) of CLIP or a BERT-family encoder, or an image
//! classifier checkpoint ([`crate::backbone`]: timm folder, torchvision or
//! torchxrayvision file) whose pooled features are the embedding.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use image::DynamicImage;
use serde::Serialize;
use serde_json::Value;

use crate::backbone::{self, Backbone, BackboneInfo};
use crate::error::{MlError, Result};
use crate::preprocess::ImageProcessor;
use crate::text::TextTokenizer;
use crate::{bert, clip};

mod clip_files;
use candle_transformers::models::siglip;
use clip_files::{check_clip_tokenizer, load_openai_clip, open_clip_weights};

/// The model families Pairlab runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Image and text towers in one embedding space.
    Clip,
    /// A text-only sentence encoder.
    Bert,
    /// SigLIP's image tower (its attention-pooled output).
    Siglip,
    /// An image classifier's backbone (pooled features).
    Resnet,
    Densenet,
    /// A Vision Transformer image classifier or fine-tuned tower (timm layout).
    Vit,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Clip => "clip",
            Family::Bert => "bert",
            Family::Siglip => "siglip",
            Family::Resnet => "resnet",
            Family::Densenet => "densenet",
            Family::Vit => "vit",
        }
    }
}

/// What a model folder holds, read without running it.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub family: Family,
    /// Length of its embeddings.
    pub dim: usize,
    pub images: bool,
    pub texts: bool,
    /// Square input size for images (0 for text-only models).
    pub image_size: usize,
    /// What the files are: `Hugging Face CLIP (safetensors)`, `timm (safetensors)`, …
    pub format: String,
    /// The network (`resnet50`, `densenet121`) of an image classifier; empty otherwise.
    pub arch: String,
    /// The classifier's output names where the checkpoint says (torchxrayvision).
    pub labels: Vec<String>,
}

fn read_json(dir: &Path, name: &str) -> Result<Option<Value>> {
    let path = dir.join(name);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| MlError::io(&path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| MlError::bad(dir, format!("{name} is not valid JSON: {e}")))
}

enum Parsed {
    Clip(clip::Config),
    Bert(bert::Config),
    Siglip(Box<siglip::Config>),
}

fn parse_config(dir: &Path) -> Result<Parsed> {
    if !dir.is_dir() {
        return Err(MlError::bad(dir, "no such folder"));
    }
    let json = read_json(dir, "config.json")?
        .ok_or_else(|| MlError::bad(dir, "config.json is missing"))?;
    let model_type = json
        .get("model_type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let bad = |e: crate::error::ConfigError| MlError::bad(dir, format!("config.json: {e}"));
    match model_type.as_str() {
        "clip" => Ok(Parsed::Clip(clip::Config::from_json(&json).map_err(bad)?)),
        "bert" => Ok(Parsed::Bert(bert::config_from_json(&json).map_err(bad)?)),
        "siglip" => serde_json::from_value::<siglip::Config>(json)
            .map(|c| Parsed::Siglip(Box::new(c)))
            .map_err(|e| MlError::bad(dir, format!("config.json: {e}"))),
        "" => Err(MlError::UnknownArchitecture {
            dir: dir.to_path_buf(),
            found: "(config.json has no model_type)".into(),
        }),
        other => Err(MlError::UnknownArchitecture {
            dir: dir.to_path_buf(),
            found: other.into(),
        }),
    }
}

fn backbone_info(b: &BackboneInfo) -> ModelInfo {
    ModelInfo {
        family: match b.family.as_str() {
            "resnet" => Family::Resnet,
            "vit" => Family::Vit,
            _ => Family::Densenet,
        },
        dim: b.features,
        images: true,
        texts: false,
        image_size: b.preprocess.size as usize,
        format: b.format.clone(),
        arch: b.arch.clone(),
        labels: b.labels.clone(),
    }
}

/// What a model is: family, embedding size, what it can encode. A folder is read from its
/// config only; an image classifier's checkpoint is read whole (its shape is in its weights).
pub fn inspect(dir: &Path) -> Result<ModelInfo> {
    if backbone::is_backbone(dir) || open_clip_weights(dir).is_some() {
        return Ok(Encoder::load(dir)?.info.clone());
    }
    Ok(match parse_config(dir)? {
        Parsed::Clip(c) => ModelInfo {
            family: Family::Clip,
            dim: c.projection_dim,
            images: true,
            texts: true,
            image_size: c.vision.image_size,
            format: "Hugging Face CLIP (safetensors)".into(),
            arch: String::new(),
            labels: Vec::new(),
        },
        Parsed::Bert(c) => ModelInfo {
            family: Family::Bert,
            dim: c.hidden_size,
            images: false,
            texts: true,
            image_size: 0,
            format: "Hugging Face BERT (safetensors)".into(),
            arch: String::new(),
            labels: Vec::new(),
        },
        Parsed::Siglip(c) => ModelInfo {
            family: Family::Siglip,
            dim: c.vision_config.hidden_size,
            images: true,
            texts: false,
            image_size: c.vision_config.image_size,
            format: "Hugging Face SigLIP (safetensors), image tower".into(),
            arch: format!("SigLIP/{}", c.vision_config.patch_size),
            labels: Vec::new(),
        },
    })
}

/// The weight files of a folder: one `model.safetensors`, or the shards its index names.
pub(crate) fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let single = dir.join("model.safetensors");
    if single.is_file() {
        return Ok(vec![single]);
    }
    if let Some(index) = read_json(dir, "model.safetensors.index.json")? {
        let mut files: Vec<PathBuf> = index
            .get("weight_map")
            .and_then(Value::as_object)
            .map(|m| {
                m.values()
                    .filter_map(Value::as_str)
                    .map(|f| dir.join(f))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.dedup();
        if files.is_empty() {
            return Err(MlError::bad(
                dir,
                "model.safetensors.index.json names no files",
            ));
        }
        return Ok(files);
    }
    let hint = if dir.join("pytorch_model.bin").is_file() {
        " (only pytorch_model.bin is there: save the weights as safetensors)"
    } else {
        ""
    };
    Err(MlError::bad(
        dir,
        format!("model.safetensors is missing{hint}"),
    ))
}

pub(crate) fn load_weights(dir: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let mut all = HashMap::new();
    for f in weight_files(dir)? {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let map = candle_core::safetensors::load(&f, device)
            .map_err(|e| MlError::bad(dir, format!("{name} cannot be read: {e}")))?;
        all.extend(map);
    }
    Ok(all)
}

enum Model {
    Clip {
        model: clip::Clip,
        processor: ImageProcessor,
    },
    /// BiomedCLIP-style open_clip: timm ViT + BERT.
    OpenClip(Box<crate::open_clip::OpenClip>),
    Bert(bert::SentenceEncoder),
    Backbone(Box<Backbone>),
    Siglip {
        vision: Box<siglip::VisionModel>,
        size: u32,
        mean: [f32; 3],
        std: [f32; 3],
    },
}

/// A loaded model with its tokenizer (and image preprocessing for image models).
pub struct Encoder {
    model: Model,
    /// None for image-only models.
    tokenizer: Option<TextTokenizer>,
    info: ModelInfo,
    device: Device,
}

impl Encoder {
    /// Loads a model on the CPU, checking that weights, config and tokenizer agree.
    pub fn load(dir: &Path) -> Result<Self> {
        let device = Device::Cpu;
        if let Some(enc) = load_openai_clip(dir, &device)? {
            return Ok(enc);
        }
        if backbone::is_backbone(dir) {
            let b = Backbone::load(dir, &device)?;
            return Ok(Encoder {
                info: backbone_info(&b.info),
                model: Model::Backbone(Box::new(b)),
                tokenizer: None,
                device,
            });
        }
        let info = inspect(dir)?;
        let parsed = parse_config(dir)?;
        let weights = load_weights(dir, &device)?;
        let shape_err = |e: candle_core::Error| {
            MlError::bad(dir, format!("the weights do not fit config.json: {e}"))
        };
        if let Parsed::Siglip(cfg) = &parsed {
            let vb = VarBuilder::from_tensors(weights, DType::F32, &device);
            let vision = siglip::VisionModel::new(&cfg.vision_config, true, vb.pp("vision_model"))
                .map_err(shape_err)?;
            // SigLIP's processor: the image squashed to the square input, mean and std 0.5.
            let pre = read_json(dir, "preprocessor_config.json")?;
            let triple = |k: &str| -> Option<[f32; 3]> {
                let a = pre.as_ref()?.get(k)?.as_array()?;
                Some([
                    a.first()?.as_f64()? as f32,
                    a.get(1)?.as_f64()? as f32,
                    a.get(2)?.as_f64()? as f32,
                ])
            };
            return Ok(Encoder {
                model: Model::Siglip {
                    vision: Box::new(vision),
                    size: cfg.vision_config.image_size as u32,
                    mean: triple("image_mean").unwrap_or([0.5; 3]),
                    std: triple("image_std").unwrap_or([0.5; 3]),
                },
                tokenizer: None,
                info,
                device,
            });
        }
        let (model, tokenizer) = match parsed {
            Parsed::Siglip(_) => unreachable!("handled above"),
            Parsed::Clip(cfg) => {
                if let Some(missing) = clip::REQUIRED_KEYS
                    .iter()
                    .find(|k| !weights.contains_key(**k))
                {
                    return Err(MlError::bad(dir, format!("weight {missing} is missing")));
                }
                let vb = VarBuilder::from_tensors(weights, DType::F32, &device);
                let model = clip::Clip::load(vb, &cfg).map_err(shape_err)?;
                let size = cfg.vision.image_size as u32;
                let processor = match read_json(dir, "preprocessor_config.json")? {
                    Some(j) => ImageProcessor::from_preprocessor_config(&j, size),
                    None => ImageProcessor::clip(size),
                };
                if processor.crop != size {
                    return Err(MlError::bad(
                        dir,
                        format!(
                            "preprocessor crop {} differs from image_size {size}",
                            processor.crop
                        ),
                    ));
                }
                let max = cfg.text.max_position_embeddings;
                let probe = TextTokenizer::load(dir, max, 0, None)?;
                let end = check_clip_tokenizer(&probe, cfg.text.vocab_size)?;
                let tokenizer = TextTokenizer::load(dir, max, 0, Some(end))?;
                (Model::Clip { model, processor }, tokenizer)
            }
            Parsed::Bert(cfg) => {
                let vb = VarBuilder::from_tensors(weights, DType::F32, &device);
                let model = bert::SentenceEncoder::load(vb, &cfg).map_err(shape_err)?;
                let max = read_json(dir, "sentence_bert_config.json")?
                    .and_then(|j| j.get("max_seq_length").and_then(Value::as_u64))
                    .map(|n| n as usize)
                    .unwrap_or(512)
                    .min(cfg.max_position_embeddings);
                let tokenizer = TextTokenizer::load(dir, max, cfg.pad_token_id as u32, None)?;
                check_bert_tokenizer(&tokenizer, cfg.vocab_size)?;
                (Model::Bert(model), tokenizer)
            }
        };
        Ok(Encoder {
            model,
            tokenizer: Some(tokenizer),
            info,
            device,
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Preprocesses one image for this model; safe to call from many threads.
    pub fn preprocess(&self, img: &DynamicImage) -> Result<Vec<f32>> {
        match &self.model {
            Model::Clip { processor, .. } => Ok(processor.apply(img)),
            Model::OpenClip(m) => Ok(m.processor.apply(img)),
            Model::Backbone(b) => Ok(b.info.preprocess.apply(img)),
            Model::Siglip {
                size, mean, std, ..
            } => Ok(crate::preprocess::squash(img, *size, *mean, *std)),
            Model::Bert(_) => Err(self.no_images()),
        }
    }

    fn no_images(&self) -> MlError {
        MlError::Unsupported(format!(
            "this {} model encodes text only; use a CLIP model or an image classifier for images",
            self.info.family.as_str()
        ))
    }

    fn no_texts(&self) -> MlError {
        if self.info.family == Family::Clip {
            return MlError::Unsupported(
                "this CLIP checkpoint has no tokenizer.json beside it, so it encodes images only; \
                 put CLIP's tokenizer.json next to it to encode texts"
                    .into(),
            );
        }
        MlError::Unsupported(format!(
            "this {} model encodes images only; use a CLIP or BERT-family model for reports",
            self.info.family.as_str()
        ))
    }

    /// The image classifier behind this encoder, if it is one.
    pub fn backbone(&self) -> Option<&Backbone> {
        match &self.model {
            Model::Backbone(b) => Some(b),
            _ => None,
        }
    }

    /// Embeddings of `n` images already preprocessed into one flat buffer.
    pub fn embed_pixels(&self, pixels: Vec<f32>, n: usize) -> Result<Vec<Vec<f32>>> {
        match &self.model {
            Model::Clip { model, .. } => {
                let t = model.pixels(pixels, n, &self.device)?;
                Ok(model.image_features(&t)?.to_vec2::<f32>()?)
            }
            Model::OpenClip(m) => {
                let s = m.image_size;
                let t = Tensor::from_vec(pixels, (n, 3, s, s), &self.device)?;
                Ok(m.image_features(&t)?.to_vec2::<f32>()?)
            }
            Model::Backbone(b) => b.embed(pixels, n),
            Model::Siglip { vision, size, .. } => {
                let s = *size as usize;
                let t = Tensor::from_vec(pixels, (n, 3, s, s), &self.device)?;
                let f = candle_core::Module::forward(vision.as_ref(), &t)?;
                Ok(crate::normalize_rows(&f)?.to_vec2::<f32>()?)
            }
            Model::Bert(_) => Err(self.no_images()),
        }
    }

    /// Embeddings of a batch of images (preprocessed in parallel).
    pub fn embed_images(&self, images: &[DynamicImage]) -> Result<Vec<Vec<f32>>> {
        match &self.model {
            Model::Clip { processor, .. } => {
                let px = processor.apply_batch(images);
                self.embed_pixels(px, images.len())
            }
            Model::OpenClip(m) => {
                let px = m.processor.apply_batch(images);
                self.embed_pixels(px, images.len())
            }
            Model::Siglip {
                size, mean, std, ..
            } => {
                use rayon::prelude::*;
                let per: Vec<Vec<f32>> = images
                    .par_iter()
                    .map(|i| crate::preprocess::squash(i, *size, *mean, *std))
                    .collect();
                self.embed_pixels(per.concat(), images.len())
            }
            Model::Backbone(b) => {
                use rayon::prelude::*;
                let per: Vec<Vec<f32>> = images
                    .par_iter()
                    .map(|i| b.info.preprocess.apply(i))
                    .collect();
                self.embed_pixels(per.concat(), images.len())
            }
            Model::Bert(_) => Err(self.no_images()),
        }
    }

    /// Embeddings of a batch of texts.
    pub fn embed_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let tokenizer = self.tokenizer.as_ref().ok_or_else(|| self.no_texts())?;
        let b = tokenizer.encode_batch(texts)?;
        let ids = Tensor::from_vec(b.ids, (b.rows, b.len), &self.device)?;
        let out = match &self.model {
            Model::Clip { model, .. } => model.text_features(&ids)?,
            Model::OpenClip(m) => {
                let mask = Tensor::from_vec(b.mask, (b.rows, b.len), &self.device)?;
                m.text_features(&ids, &mask)?
                    .ok_or_else(|| self.no_texts())?
            }
            Model::Bert(m) => {
                let mask = Tensor::from_vec(b.mask, (b.rows, b.len), &self.device)?;
                m.embed(&ids, &mask)?
            }
            Model::Backbone(_) | Model::Siglip { .. } => return Err(self.no_texts()),
        };
        Ok(out.to_vec2::<f32>()?)
    }

    /// Token ids of one text as this model sees them.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .as_ref()
            .ok_or_else(|| self.no_texts())?
            .encode(text)
    }
}

pub(crate) fn check_bert_tokenizer(tok: &TextTokenizer, model_vocab: usize) -> Result<()> {
    if tok.vocab_size() > model_vocab {
        return Err(MlError::TokenizerMismatch(format!(
            "it has {} tokens, the model's embedding table {model_vocab}",
            tok.vocab_size()
        )));
    }
    let ids = tok.encode("no pleural effusion")?;
    if ids.len() < 2 || tok.token_id("<|endoftext|>").is_some() {
        return Err(MlError::TokenizerMismatch(
            "this looks like a CLIP tokenizer, not a BERT word-piece one".into(),
        ));
    }
    Ok(())
}
