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
    pub(super) net: std::sync::Arc<BertNet>,
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
            net: std::sync::Arc::new(net),
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

/// Gradient × input at the token embeddings of one report (`ids`, `mask`: `[1, len]`)
/// for the scalar `score` of its encoded tokens (`[1, len, hidden]`, through the layers
/// with gradients), summed over the hidden units: one value per token.
pub(crate) fn gradient_times_input(
    net: &BertNet,
    ids: &Tensor,
    mask: &Tensor,
    score: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Vec<f32>> {
    gradient_times_input_states(net, ids, mask, |states| {
        score(&BertNet::mean_pool(states, mask)?)
    })
}

/// [`gradient_times_input`] with the score given the token states themselves.
pub(crate) fn gradient_times_input_states(
    net: &BertNet,
    ids: &Tensor,
    mask: &Tensor,
    score: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Vec<f32>> {
    let bias = BertNet::attention_bias(mask)?;
    let embedded = candle_core::Var::from_tensor(&net.stage(0, ids, &bias, false)?.detach())?;
    let mut h = embedded.as_tensor().clone();
    for k in 1..net.stages() {
        h = net.stage(k, &h, &bias, true)?;
    }
    let grads = score(&h)?.backward()?;
    let g = grads
        .get(embedded.as_tensor())
        .ok_or_else(|| MlError::Unsupported("no gradient reached the token embeddings".into()))?;
    Ok((g * embedded.as_tensor())?
        .sum(2)?
        .get(0)?
        .to_vec1::<f32>()?)
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

    fn token_weights(&self, row: &[f32], class: usize) -> Result<Option<Vec<f32>>> {
        if row.first().is_none_or(|&n| n < 1.0) || class >= self.classes {
            return Ok(None);
        }
        let (ids, mask) = batch_of(row, self.max_len + 1, &self.device)?;
        Ok(Some(gradient_times_input(
            &self.net,
            &ids,
            &mask,
            |pooled| Ok(self.head.forward(pooled)?.get(0)?.get(class)?),
        )?))
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
