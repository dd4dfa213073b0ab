//! The joint module, the features it reads, and a trained fusion model (save, load,
//! predict, the ablation's views).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

use super::{Fusion, FusionConfig, row_layout};
use crate::bert_net::{BertNet, prefix_of};
use crate::error::{MlError, Result};
use crate::train::text::Section;
use crate::train::text::tuner_batch_of;
use crate::train::trainer::{Model, Views};

/// What `pairlab.json` beside a fusion checkpoint says.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Meta {
    pub trainer: String,
    pub fusion: Fusion,
    pub image_dim: usize,
    pub text_dim: usize,
    pub hidden: usize,
    pub attention_dim: usize,
    pub classes: usize,
    pub multi_label: bool,
    pub max_len: usize,
    pub section: Section,
}

/// The joint module's layers.
pub(super) struct Joint {
    pub fc1: Linear,
    pub fc2: Linear,
    /// `attention`: query (from the image), key and value (from the tokens).
    pub qkv: Option<[Linear; 3]>,
}

/// A batch's features: image vectors and their flags, the reports' pooled vectors and
/// their flags, and (attention) the token vectors with their mask.
pub(super) struct Feats {
    pub img: Tensor,
    pub pi: Tensor,
    pub txt: Tensor,
    pub pt: Tensor,
    pub tokens: Option<(Tensor, Tensor)>,
}

impl Joint {
    /// The layers under `vb` for image vectors of `image_dim` and report vectors of
    /// `text_dim`.
    pub fn load(vb: VarBuilder, m: &Meta) -> candle_core::Result<Self> {
        let a = m.attention_dim;
        let qkv = match m.fusion {
            Fusion::Concat => None,
            Fusion::Attention => Some([
                candle_nn::linear(m.image_dim, a, vb.pp("attn.q"))?,
                candle_nn::linear(m.text_dim, a, vb.pp("attn.k"))?,
                candle_nn::linear(m.text_dim, a, vb.pp("attn.v"))?,
            ]),
        };
        // The report's side is its pooled vector (concat) or the attended one (attention).
        let report = if qkv.is_some() { a } else { m.text_dim };
        Ok(Joint {
            fc1: candle_nn::linear(m.image_dim + report + 2, m.hidden, vb.pp("fc1"))?,
            fc2: candle_nn::linear(m.hidden, m.classes, vb.pp("fc2"))?,
            qkv,
        })
    }

    /// Logits of a batch; `pi`/`pt` (`[b, 1]`, 1 or 0) mask each side.
    pub fn forward(&self, f: &Feats) -> Result<Tensor> {
        let img = f.img.broadcast_mul(&f.pi)?;
        let report = if let (Some([q, k, v]), Some((tokens, mask))) = (&self.qkv, &f.tokens) {
            let (b, len, _) = tokens.dims3()?;
            let a = q.weight().dim(0)?;
            let query = q.forward(&img)?.reshape((b, 1, a))?;
            let keys = k.forward(tokens)?;
            let values = v.forward(tokens)?;
            let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, len))?;
            let scores = (query.matmul(&keys.t()?.contiguous()?)? * (a as f64).powf(-0.5))?
                .broadcast_add(&bias)?;
            let att = crate::lastdim::softmax(&scores.contiguous()?)?;
            att.matmul(&values)?.reshape((b, a))?.broadcast_mul(&f.pt)?
        } else {
            f.txt.broadcast_mul(&f.pt)?
        };
        let x = Tensor::cat(&[&img, &f.pi, &report, &f.pt], 1)?;
        Ok(self.fc2.forward(&self.fc1.forward(&x)?.relu()?)?)
    }

    /// `attention`: how much each token of the batch's reports weighs, `[b, len]`.
    pub fn attention(&self, f: &Feats) -> Result<Option<Tensor>> {
        let (Some([q, k, _]), Some((tokens, mask))) = (&self.qkv, &f.tokens) else {
            return Ok(None);
        };
        let (b, len, _) = tokens.dims3()?;
        let a = q.weight().dim(0)?;
        let query = q
            .forward(&f.img.broadcast_mul(&f.pi)?)?
            .reshape((b, 1, a))?;
        let bias = ((mask.to_dtype(DType::F32)? - 1.0)? * 1e9)?.reshape((b, 1, len))?;
        let scores = (query.matmul(&k.forward(tokens)?.t()?.contiguous()?)?
            * (a as f64).powf(-0.5))?
        .broadcast_add(&bias)?;
        Ok(Some(
            candle_nn::ops::softmax_last_dim(&scores.contiguous()?)?.reshape((b, len))?,
        ))
    }
}

/// The frozen text encoder a fusion model reads reports with.
pub(super) struct TextSide {
    pub net: BertNet,
    /// Its tensors as the checkpoint names them.
    pub tensors: HashMap<String, Tensor>,
    pub max_len: usize,
}

impl TextSide {
    pub fn load(dir: &Path, max_len: usize, device: &Device) -> Result<Self> {
        let bert = crate::train::text::bert_config(dir)?;
        let tensors = crate::encoder::load_weights(dir, device)?;
        let prefix = prefix_of(|k| tensors.contains_key(k));
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, device);
        let vb = if prefix.is_empty() { vb } else { vb.pp(prefix) };
        let net = BertNet::load(vb, &bert)
            .map_err(|e| MlError::bad(dir, format!("the weights do not fit config.json: {e}")))?;
        Ok(TextSide {
            net,
            tensors,
            max_len,
        })
    }

    pub fn dim(&self) -> usize {
        self.net.hidden()
    }

    /// Pooled (L2-normalised) vectors `[n, d]` and, when `tokens`, each report's token
    /// vectors (`[count, d]`, each L2-normalised), of token rows (`1 + max_len` values each; a count of 0 is
    /// no report: zeros and no tokens).
    pub fn encode(&self, rows: &[f32], tokens: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let dim = self.max_len + 1;
        let n = rows.len() / dim;
        let d = self.dim();
        let device = self.net_device();
        let present: Vec<usize> = (0..n).filter(|&i| rows[i * dim] >= 1.0).collect();
        let mut pooled = vec![0f32; n * d];
        let mut states: Vec<Tensor> = vec![Tensor::zeros((0, d), DType::F32, &device)?; n];
        for chunk in present.chunks(32) {
            let mut batch = Vec::with_capacity(chunk.len() * dim);
            for &i in chunk {
                batch.extend_from_slice(&rows[i * dim..(i + 1) * dim]);
            }
            let (ids, mask) = tuner_batch_of(&batch, dim, &device)?;
            let h = self.net.forward(&ids, &mask)?;
            let p = crate::normalize_rows(&BertNet::mean_pool(&h, &mask)?)?.to_vec2::<f32>()?;
            for (k, &i) in chunk.iter().enumerate() {
                pooled[i * d..(i + 1) * d].copy_from_slice(&p[k]);
                if tokens {
                    let count = (rows[i * dim] as usize).min(h.dim(1)?);
                    // Unit token vectors, on the scale of the pooled one.
                    states[i] =
                        crate::normalize_rows(&h.get(k)?.narrow(0, 0, count)?.contiguous()?)?;
                }
            }
        }
        Ok((Tensor::from_vec(pooled, (n, d), &device)?, states))
    }

    fn net_device(&self) -> Device {
        self.tensors
            .values()
            .next()
            .map_or(Device::Cpu, |t| t.device().clone())
    }
}

/// Token vectors of the rows `idx` padded into `[b, len, d]` with their mask.
pub(super) fn pad_tokens(
    states: &[Tensor],
    idx: &[usize],
    d: usize,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let len = idx
        .iter()
        .map(|&i| states[i].dim(0).unwrap_or(0))
        .max()
        .unwrap_or(0)
        .max(1);
    let mut rows = Vec::with_capacity(idx.len());
    let mut mask = vec![0u32; idx.len() * len];
    for (k, &i) in idx.iter().enumerate() {
        let s = &states[i];
        let count = s.dim(0)?;
        for t in 0..count {
            mask[k * len + t] = 1;
        }
        rows.push(if count == len {
            s.clone()
        } else {
            Tensor::cat(
                &[s, &Tensor::zeros((len - count, d), DType::F32, device)?],
                0,
            )?
        });
    }
    Ok((
        Tensor::stack(&rows, 0)?,
        Tensor::from_vec(mask, (idx.len(), len), device)?,
    ))
}

/// A trained fusion model.
pub struct FusionModel {
    pub(super) meta: Meta,
    pub(super) joint: Joint,
    /// The joint module's tensors by name.
    pub(super) joint_tensors: HashMap<String, Tensor>,
    pub(super) text: TextSide,
    /// Where the text encoder's config and tokenizer are.
    pub(super) text_dir: PathBuf,
    pub(super) device: Device,
}

/// Which side to mask when predicting.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mask {
    None,
    Image,
    Report,
}

impl FusionModel {
    pub(super) fn meta_of(
        cfg: &FusionConfig,
        image_dim: usize,
        text_dim: usize,
        classes: usize,
        multi_label: bool,
    ) -> Meta {
        Meta {
            trainer: "fusion".into(),
            fusion: cfg.fusion,
            image_dim,
            text_dim,
            hidden: cfg.hidden,
            attention_dim: cfg.attention_dim,
            classes,
            multi_label,
            max_len: cfg.max_len,
            section: cfg.text_section,
        }
    }

    /// A checkpoint written by [`Model::save`].
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let meta: Meta = std::fs::read_to_string(dir.join("pairlab.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| MlError::bad(dir, "pairlab.json is missing or unreadable"))?;
        let joint_tensors =
            candle_core::safetensors::load(dir.join("joint.safetensors"), device)
                .map_err(|e| MlError::bad(dir, format!("joint.safetensors cannot be read: {e}")))?;
        let joint = Joint::load(
            VarBuilder::from_tensors(joint_tensors.clone(), DType::F32, device),
            &meta,
        )
        .map_err(|e| {
            MlError::bad(
                dir,
                format!("joint.safetensors does not fit pairlab.json: {e}"),
            )
        })?;
        let text_dir = dir.join("text");
        let text = TextSide::load(&text_dir, meta.max_len, device)?;
        Ok(FusionModel {
            meta,
            joint,
            joint_tensors,
            text,
            text_dir,
            device: device.clone(),
        })
    }

    /// The features of fusion rows (the reports through the frozen encoder).
    pub(super) fn feats(&self, rows: &[f32]) -> Result<Feats> {
        let m = &self.meta;
        let dim = m.image_dim + 2 + m.max_len;
        let n = rows.len() / dim;
        let (image_dim, tok) = row_layout(dim, m.max_len)
            .ok_or_else(|| MlError::Unsupported("fusion rows without an image part".into()))?;
        let (mut img, mut pi, mut pt) = (
            Vec::with_capacity(n * image_dim),
            vec![0f32; n],
            vec![0f32; n],
        );
        let mut tokens = Vec::with_capacity(n * (m.max_len + 1));
        for (i, r) in rows.chunks(dim).enumerate() {
            img.extend_from_slice(&r[..image_dim]);
            pi[i] = r[image_dim];
            let t = &r[tok..];
            pt[i] = f32::from(t[0] >= 1.0);
            tokens.extend_from_slice(t);
        }
        let attention = m.fusion == Fusion::Attention;
        let (txt, states) = self.text.encode(&tokens, attention)?;
        let idx: Vec<usize> = (0..n).collect();
        Ok(Feats {
            img: Tensor::from_vec(img, (n, image_dim), &self.device)?,
            pi: Tensor::from_vec(pi, (n, 1), &self.device)?,
            txt,
            pt: Tensor::from_vec(pt, (n, 1), &self.device)?,
            tokens: if attention {
                Some(pad_tokens(&states, &idx, self.text.dim(), &self.device)?)
            } else {
                None
            },
        })
    }

    /// Probabilities of the rows `x` for each of `masks` (the reports encoded once).
    fn probs(&self, x: &[f32], masks: &[Mask]) -> Result<Vec<Vec<f32>>> {
        let dim = self.meta.image_dim + 2 + self.meta.max_len;
        let mut out = vec![Vec::with_capacity(x.len() / dim * self.meta.classes); masks.len()];
        for rows in x.chunks(64 * dim) {
            let f = self.feats(rows)?;
            for (mask, out) in masks.iter().zip(&mut out) {
                let zero = |t: &Tensor| t.zeros_like();
                let masked = Feats {
                    img: f.img.clone(),
                    pi: if *mask == Mask::Image {
                        zero(&f.pi)?
                    } else {
                        f.pi.clone()
                    },
                    txt: f.txt.clone(),
                    pt: if *mask == Mask::Report {
                        zero(&f.pt)?
                    } else {
                        f.pt.clone()
                    },
                    tokens: f.tokens.clone(),
                };
                let z = self.joint.forward(&masked)?;
                let p = if self.meta.multi_label {
                    candle_nn::ops::sigmoid(&z)?
                } else {
                    candle_nn::ops::softmax_last_dim(&z)?
                };
                out.extend(p.flatten_all()?.to_vec1::<f32>()?);
            }
        }
        Ok(out)
    }

    /// `attention`: each row's weights over its report's tokens (the count of the row's
    /// tokens each); None for `concat`.
    pub fn token_weights(&self, row: &[f32]) -> Result<Option<Vec<f32>>> {
        let f = self.feats(row)?;
        let Some(w) = self.joint.attention(&f)? else {
            return Ok(None);
        };
        let v = w.flatten_all()?.to_vec1::<f32>()?;
        let count = row[self.meta.image_dim + 1].max(0.0) as usize;
        Ok(Some(v.into_iter().take(count).collect()))
    }
}

fn copy_if(from: &Path, to: &Path, name: &str) -> Result<()> {
    let src = from.join(name);
    if src.is_file() && src != to.join(name) {
        std::fs::copy(&src, to.join(name)).map_err(|e| MlError::io(&src, e))?;
    }
    Ok(())
}

impl Model for FusionModel {
    fn save(&self, dir: &Path) -> Result<()> {
        let text_dir = dir.join("text");
        std::fs::create_dir_all(&text_dir).map_err(|e| MlError::io(&text_dir, e))?;
        let cpu = |m: &HashMap<String, Tensor>| -> Result<HashMap<String, Tensor>> {
            m.iter()
                .map(|(k, t)| Ok((k.clone(), t.to_device(&Device::Cpu)?.contiguous()?)))
                .collect()
        };
        candle_core::safetensors::save(&cpu(&self.joint_tensors)?, dir.join("joint.safetensors"))?;
        let encoder: HashMap<String, Tensor> = cpu(&self.text.tensors)?
            .into_iter()
            .filter(|(_, t)| t.dtype() == DType::F32)
            .collect();
        candle_core::safetensors::save(&encoder, text_dir.join("model.safetensors"))?;
        for f in ["config.json", "tokenizer.json", "sentence_bert_config.json"] {
            copy_if(&self.text_dir, &text_dir, f)?;
        }
        let text = serde_json::to_string_pretty(&self.meta)
            .map_err(|e| MlError::Unsupported(e.to_string()))?;
        let path = dir.join("pairlab.json");
        std::fs::write(&path, text).map_err(|e| MlError::io(path, e))
    }

    fn predict(&self, x: &[f32]) -> Result<Vec<f32>> {
        Ok(self.probs(x, &[Mask::None])?.remove(0))
    }

    fn token_weights(&self, row: &[f32], class: usize) -> Result<Option<Vec<f32>>> {
        let m = &self.meta;
        let tok = m.image_dim + 1;
        if row.len() != tok + 1 + m.max_len || row[tok] < 1.0 || class >= m.classes {
            return Ok(None);
        }
        let (ids, mask) =
            crate::train::text::tuner_batch_of(&row[tok..], m.max_len + 1, &self.device)?;
        let img = Tensor::from_vec(row[..m.image_dim].to_vec(), (1, m.image_dim), &self.device)?;
        let pi = Tensor::new(&[[row[m.image_dim]]], &self.device)?;
        let pt = Tensor::new(&[[1f32]], &self.device)?;
        let attention = m.fusion == Fusion::Attention;
        let w = crate::train::text::gradient_times_input_states(
            &self.text.net,
            &ids,
            &mask,
            |states| {
                let txt = crate::normalize_rows(&BertNet::mean_pool(states, &mask)?)?;
                let tokens = if attention {
                    Some((crate::normalize_rows(states)?, mask.clone()))
                } else {
                    None
                };
                let f = Feats {
                    img: img.clone(),
                    pi: pi.clone(),
                    txt,
                    pt: pt.clone(),
                    tokens,
                };
                Ok(self.joint.forward(&f)?.get(0)?.get(class)?)
            },
        )?;
        Ok(Some(w))
    }

    fn predict_views(&self, x: &[f32]) -> Result<Option<Views>> {
        let mut p = self.probs(x, &[Mask::Report, Mask::Image])?;
        let report = p.remove(1);
        Ok(Some(Views {
            image: p.remove(0),
            report,
        }))
    }
}
