//! A trained text model as a trainer's model: save, load, predict.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};

use super::Section;
use super::tuner::batch_of;
use crate::bert_net::{BertNet, prefix_of};
use crate::error::{MlError, Result};
use crate::train::trainer::Model;

/// An encoder with its classification head.
pub struct TextModel {
    /// The encoder's tensors by name (below any `bert.` prefix).
    pub(super) tensors: Vec<(String, Tensor)>,
    pub(super) net: BertNet,
    pub(super) head: Linear,
    /// The folder whose config and tokenizer the encoder came with.
    pub(super) source: PathBuf,
    pub(super) max_len: usize,
    pub(super) section: Section,
    pub(super) multi_label: bool,
    pub(super) classes: usize,
    pub(super) device: Device,
}

/// What `pairlab.json` beside a text checkpoint says.
#[derive(serde::Serialize, serde::Deserialize)]
struct Meta {
    trainer: String,
    multi_label: bool,
    classes: usize,
    max_len: usize,
    section: Section,
}

fn copy(from: &Path, to: &Path, name: &str, required: bool) -> Result<()> {
    let src = from.join(name);
    if !src.is_file() && !required {
        return Ok(());
    }
    let dst = to.join(name);
    if src == dst {
        return Ok(());
    }
    std::fs::copy(&src, &dst).map_err(|e| MlError::io(&src, e))?;
    Ok(())
}

impl TextModel {
    /// A checkpoint written by [`Model::save`].
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let meta: Meta = std::fs::read_to_string(dir.join("pairlab.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| MlError::bad(dir, "pairlab.json is missing or unreadable"))?;
        let bert = super::bert_config(dir)?;
        let weights = crate::encoder::load_weights(dir, device)?;
        let prefix = prefix_of(|k| weights.contains_key(k));
        let vb = VarBuilder::from_tensors(weights.clone(), DType::F32, device);
        let enc_vb = if prefix.is_empty() {
            vb.clone()
        } else {
            vb.pp(prefix)
        };
        let bad = |e: candle_core::Error| {
            MlError::bad(dir, format!("the weights do not fit config.json: {e}"))
        };
        let net = BertNet::load(enc_vb, &bert).map_err(bad)?;
        let head =
            candle_nn::linear(bert.hidden_size, meta.classes, vb.pp("classifier")).map_err(bad)?;
        let tensors = weights
            .into_iter()
            .filter(|(k, _)| !k.starts_with("classifier."))
            .map(|(k, t)| (k.strip_prefix("bert.").map_or(k.clone(), str::to_string), t))
            .collect();
        Ok(TextModel {
            tensors,
            net,
            head,
            source: dir.to_path_buf(),
            max_len: meta.max_len,
            section: meta.section,
            multi_label: meta.multi_label,
            classes: meta.classes,
            device: device.clone(),
        })
    }

    /// Logits of token rows (`1 + max_len` values each).
    pub fn logits(&self, rows: &[f32]) -> Result<Tensor> {
        let (ids, mask) = batch_of(rows, self.max_len + 1, &self.device)?;
        let h = self.net.forward(&ids, &mask)?;
        Ok(self.head.forward(&BertNet::mean_pool(&h, &mask)?)?)
    }

    pub fn classes(&self) -> usize {
        self.classes
    }
}

impl Model for TextModel {
    fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| MlError::io(dir, e))?;
        let mut out = std::collections::HashMap::new();
        for (name, t) in &self.tensors {
            out.insert(name.clone(), t.to_device(&Device::Cpu)?.contiguous()?);
        }
        out.insert(
            "classifier.weight".into(),
            self.head.weight().to_device(&Device::Cpu)?,
        );
        if let Some(b) = self.head.bias() {
            out.insert("classifier.bias".into(), b.to_device(&Device::Cpu)?);
        }
        candle_core::safetensors::save(&out, dir.join("model.safetensors"))?;
        copy(&self.source, dir, "config.json", true)?;
        copy(&self.source, dir, "tokenizer.json", true)?;
        copy(&self.source, dir, "sentence_bert_config.json", false)?;
        let meta = Meta {
            trainer: "text".into(),
            multi_label: self.multi_label,
            classes: self.classes,
            max_len: self.max_len,
            section: self.section,
        };
        let text =
            serde_json::to_string_pretty(&meta).map_err(|e| MlError::Unsupported(e.to_string()))?;
        let path = dir.join("pairlab.json");
        std::fs::write(&path, text).map_err(|e| MlError::io(path, e))
    }

    fn predict(&self, x: &[f32]) -> Result<Vec<f32>> {
        let dim = self.max_len + 1;
        let mut out = Vec::with_capacity(x.len() / dim * self.classes);
        for rows in x.chunks(32 * dim) {
            let z = self.logits(rows)?;
            let p = if self.multi_label {
                candle_nn::ops::sigmoid(&z)?
            } else {
                candle_nn::ops::softmax_last_dim(&z)?
            };
            out.extend(p.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}
