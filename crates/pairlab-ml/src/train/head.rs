//! `head`: a linear or one-hidden-layer MLP classifier on embeddings, or (with
//! `image`) `cnn`: a small convolutional network on images trained from scratch with light
//! augmentation (random horizontal flip, shifts of up to 2 px) (multi-label with
//! masked BCE, multi-class with cross-entropy), AdamW with a cosine schedule, early
//! stopping on validation loss (the best epoch's weights are kept), seeded end to end.

use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{AdamW, Conv2d, Conv2dConfig, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::loss::{bce_targets, cross_entropy, masked_bce};
use super::{EpochMetrics, Targets, Uncertain, cosine_lr};
use crate::error::{MlError, Result};
use crate::rng::SplitMix64;

/// Hyper-parameters of a head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadConfig {
    /// Hidden units of the MLP; 0 = a linear classifier.
    pub hidden: usize,
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub batch: usize,
    /// Epochs without a better validation loss before stopping.
    pub patience: usize,
    pub seed: u64,
    pub uncertain: Uncertain,
    /// Inputs are images (the `cnn` trainer) rather than embedding vectors.
    pub image: Option<ImageInput>,
}

/// Image inputs of the `cnn` trainer: `channels × size × size` values per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInput {
    pub channels: usize,
    pub size: usize,
    /// Filters of the first convolution (then 2× and 4×).
    pub width: usize,
}

impl Default for HeadConfig {
    fn default() -> Self {
        HeadConfig {
            hidden: 0,
            epochs: 100,
            lr: 1e-2,
            weight_decay: 1e-4,
            batch: 64,
            patience: 8,
            seed: 0,
            uncertain: Uncertain::Ignore,
            image: None,
        }
    }
}

/// The shape of a trained head, saved next to its weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadShape {
    pub dim: usize,
    pub classes: usize,
    pub hidden: usize,
    pub multi_label: bool,
    #[serde(default)]
    pub image: Option<ImageInput>,
}

/// A trained (or loaded) head.
pub struct Head {
    varmap: VarMap,
    /// The convolutions of a `cnn` (empty for an MLP head).
    convs: Vec<Conv2d>,
    l1: Linear,
    l2: Option<Linear>,
    pub shape: HeadShape,
}

impl Head {
    fn build(shape: HeadShape) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let mut convs = Vec::new();
        let mut features = shape.dim;
        if let Some(img) = shape.image {
            let pad = Conv2dConfig {
                padding: 1,
                ..Default::default()
            };
            let w = img.width.max(1);
            let chans = [img.channels, w, 2 * w, 4 * w];
            for k in 0..3 {
                convs.push(candle_nn::conv2d(
                    chans[k],
                    chans[k + 1],
                    3,
                    pad,
                    vb.pp(format!("conv{k}")),
                )?);
            }
            features = 4 * w;
        }
        let (l1, l2) = if shape.hidden == 0 {
            (
                candle_nn::linear(features, shape.classes, vb.pp("l1"))?,
                None,
            )
        } else {
            (
                candle_nn::linear(features, shape.hidden, vb.pp("l1"))?,
                Some(candle_nn::linear(shape.hidden, shape.classes, vb.pp("l2"))?),
            )
        };
        Ok(Head {
            varmap,
            convs,
            l1,
            l2,
            shape,
        })
    }

    /// PyTorch's default init, U(−1/√fan_in, 1/√fan_in), from a seeded generator.
    fn init(&self, seed: u64) -> Result<()> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| MlError::Unsupported("lock".into()))?;
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        // fan_in of each layer, from its weight: [out, in] or [out, in, k, k].
        let fan: std::collections::HashMap<String, usize> = data
            .iter()
            .filter_map(|(k, v)| {
                let prefix = k.strip_suffix(".weight")?;
                Some((
                    prefix.to_string(),
                    v.dims().iter().skip(1).product::<usize>(),
                ))
            })
            .collect();
        let mut rng = SplitMix64(seed);
        for name in names {
            let var = &data[name];
            let prefix = name.rsplit_once('.').map_or(name.as_str(), |(p, _)| p);
            let fan_in = fan.get(prefix).copied().unwrap_or(1);
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            let v: Vec<f32> = (0..var.elem_count()).map(|_| rng.unit() * bound).collect();
            var.set(&Tensor::from_vec(v, var.shape(), &Device::Cpu)?)?;
        }
        Ok(())
    }

    fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.clone();
        if let Some(img) = self.shape.image {
            let n = x.dim(0)?;
            x = x.reshape((n, img.channels, img.size, img.size))?;
            for (k, conv) in self.convs.iter().enumerate() {
                x = conv.forward(&x)?.relu()?;
                if k < 2 {
                    x = x.max_pool2d(2)?;
                }
            }
            x = x.mean((2, 3))?; // global average pool → [n, 4w]
        }
        let h = self.l1.forward(&x)?;
        match &self.l2 {
            Some(l2) => l2.forward(&h.relu()?),
            None => Ok(h),
        }
    }

    /// Probabilities, `n × classes` row-major: sigmoid per class (multi-label) or softmax.
    pub fn predict(&self, x: &[f32]) -> Result<Vec<f32>> {
        let n = x.len() / self.shape.dim.max(1);
        if n == 0 {
            return Ok(Vec::new());
        }
        let t = Tensor::from_slice(x, (n, self.shape.dim), &Device::Cpu)?;
        let z = self.logits(&t)?;
        let p = if self.shape.multi_label {
            candle_nn::ops::sigmoid(&z)?
        } else {
            candle_nn::ops::softmax_last_dim(&z)?
        };
        Ok(p.flatten_all()?.to_vec1::<f32>()?)
    }

    fn snapshot(&self) -> Result<Vec<(String, Tensor)>> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| MlError::Unsupported("lock".into()))?;
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
            .collect()
    }

    fn restore(&self, snap: &[(String, Tensor)]) -> Result<()> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| MlError::Unsupported("lock".into()))?;
        for (k, t) in snap {
            if let Some(v) = data.get(k) {
                v.set(t)?;
            }
        }
        Ok(())
    }

    /// Writes `head.safetensors` and `head.json` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| MlError::io(dir, e))?;
        self.varmap.save(dir.join("head.safetensors"))?;
        let json = serde_json::to_string_pretty(&self.shape)
            .map_err(|e| MlError::Unsupported(e.to_string()))?;
        let p = dir.join("head.json");
        std::fs::write(&p, json).map_err(|e| MlError::io(p, e))
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let p = dir.join("head.json");
        let text = std::fs::read_to_string(&p).map_err(|e| MlError::io(&p, e))?;
        let shape: HeadShape = serde_json::from_str(&text)
            .map_err(|e| MlError::bad(dir, format!("head.json: {e}")))?;
        let mut head = Head::build(shape)?;
        // Loading sets the Vars in place, which the layers share.
        head.varmap.load(dir.join("head.safetensors"))?;
        Ok(head)
    }
}

/// Tensors of one batch: inputs and (targets, mask) or class indices.
struct Data {
    x: Vec<f32>,
    dim: usize,
    targets: Targets,
    policy: Uncertain,
    /// Set for image inputs in training: flips and shifts are drawn from it.
    augment: Option<ImageInput>,
}

/// A random horizontal flip and a shift of up to 2 px (zero fill) of one image.
fn augment(img: &[f32], input: ImageInput, rng: &mut SplitMix64) -> Vec<f32> {
    let flip = rng.below(2) == 1;
    let dx = rng.below(5) as isize - 2;
    let dy = rng.below(5) as isize - 2;
    shift_flip(img, input, flip, dx, dy)
}

/// The image flipped left–right (when `flip`), then moved by (dx, dy) pixels.
fn shift_flip(img: &[f32], input: ImageInput, flip: bool, dx: isize, dy: isize) -> Vec<f32> {
    let s = input.size;
    let mut out = vec![0f32; img.len()];
    for c in 0..input.channels {
        for y in 0..s {
            let sy = y as isize - dy;
            if sy < 0 || sy >= s as isize {
                continue;
            }
            for x in 0..s {
                let mut sx = x as isize - dx;
                if flip {
                    sx = s as isize - 1 - sx;
                }
                if sx >= 0 && sx < s as isize {
                    out[(c * s + y) * s + x] = img[(c * s + sy as usize) * s + sx as usize];
                }
            }
        }
    }
    out
}

impl Data {
    fn rows(&self) -> usize {
        self.targets.len()
    }

    fn loss(&self, head: &Head, idx: &[usize], rng: &mut SplitMix64) -> Result<Tensor> {
        let d = Device::Cpu;
        let mut xs = Vec::with_capacity(idx.len() * self.dim);
        for &i in idx {
            let row = &self.x[i * self.dim..(i + 1) * self.dim];
            match self.augment {
                Some(input) => xs.extend(augment(row, input, rng)),
                None => xs.extend_from_slice(row),
            }
        }
        let x = Tensor::from_vec(xs, (idx.len(), self.dim), &d)?;
        let z = head.logits(&x)?;
        Ok(match &self.targets {
            Targets::MultiLabel { values, classes } => {
                let mut v = Vec::with_capacity(idx.len() * classes);
                for &i in idx {
                    v.extend_from_slice(&values[i * classes..(i + 1) * classes]);
                }
                let (t, m) = bce_targets(&v, self.policy);
                let shape = (idx.len(), *classes);
                masked_bce(
                    &z,
                    &Tensor::from_vec(t, shape, &d)?,
                    &Tensor::from_vec(m, shape, &d)?,
                )?
            }
            Targets::MultiClass { values, .. } => {
                let y: Vec<u32> = idx.iter().map(|&i| values[i].unwrap_or(0) as u32).collect();
                cross_entropy(&z, &Tensor::new(y, &d)?)?
            }
        })
    }

    /// Rows that carry a loss (multi-class rows without a class carry none).
    fn useful(&self) -> Vec<usize> {
        match &self.targets {
            Targets::MultiClass { values, .. } => {
                (0..values.len()).filter(|&i| values[i].is_some()).collect()
            }
            Targets::MultiLabel { .. } => (0..self.rows()).collect(),
        }
    }
}

/// What training produced.
pub struct Trained {
    pub head: Head,
    pub history: Vec<EpochMetrics>,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
}

/// Trains a head. `on_epoch` sees each epoch's figures and returns false to cancel.
#[allow(clippy::too_many_arguments)]
pub fn train(
    x: &[f32],
    targets: &Targets,
    x_val: &[f32],
    val_targets: &Targets,
    dim: usize,
    cfg: &HeadConfig,
    on_epoch: &mut dyn FnMut(&EpochMetrics) -> bool,
) -> Result<Trained> {
    let shape = HeadShape {
        dim,
        classes: targets.classes(),
        hidden: cfg.hidden,
        multi_label: matches!(targets, Targets::MultiLabel { .. }),
        image: cfg.image,
    };
    if let Some(img) = cfg.image
        && img.channels * img.size * img.size != dim
    {
        return Err(MlError::Unsupported(format!(
            "images of {}×{}×{} do not have {dim} values",
            img.channels, img.size, img.size
        )));
    }
    if dim == 0
        || shape.classes == 0
        || x.len() != targets.len() * dim
        || x_val.len() != val_targets.len() * dim
    {
        return Err(MlError::Unsupported(
            "training data and targets do not match in size".into(),
        ));
    }
    let head = Head::build(shape)?;
    head.init(cfg.seed)?;
    let train = Data {
        x: x.to_vec(),
        dim,
        targets: targets.clone(),
        policy: cfg.uncertain,
        augment: cfg.image,
    };
    let val = Data {
        x: x_val.to_vec(),
        dim,
        targets: val_targets.clone(),
        policy: cfg.uncertain,
        augment: None,
    };
    let mut order = train.useful();
    if order.is_empty() {
        return Err(MlError::Unsupported("no labelled training samples".into()));
    }
    let val_rows = val.useful();
    let params = ParamsAdamW {
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        ..Default::default()
    };
    let mut opt = AdamW::new(head.varmap.all_vars(), params)?;
    let mut rng = SplitMix64(cfg.seed ^ 0x5EED);
    let (mut best, mut best_epoch, mut wait) = (f64::INFINITY, 0, 0);
    let mut snap = head.snapshot()?;
    let mut history = Vec::new();
    for epoch in 1..=cfg.epochs.max(1) {
        let started = Instant::now();
        let lr = cosine_lr(cfg.lr, epoch - 1, cfg.epochs);
        opt.set_learning_rate(lr);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let (mut sum, mut batches) = (0.0, 0);
        for batch in order.chunks(cfg.batch.max(1)) {
            let loss = train.loss(&head, batch, &mut rng)?;
            opt.backward_step(&loss)?;
            sum += f64::from(loss.to_scalar::<f32>()?);
            batches += 1;
        }
        let train_loss = sum / f64::from(batches.max(1));
        let val_loss = if val_rows.is_empty() {
            train_loss
        } else {
            f64::from(
                val.loss(&head, &val_rows, &mut SplitMix64(0))?
                    .to_scalar::<f32>()?,
            )
        };
        let m = EpochMetrics {
            epoch,
            train_loss,
            val_loss,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        history.push(m.clone());
        if val_loss < best - 1e-6 {
            best = val_loss;
            best_epoch = epoch;
            wait = 0;
            snap = head.snapshot()?;
        } else {
            wait += 1;
        }
        if !on_epoch(&m) {
            return Err(MlError::Cancelled);
        }
        if wait >= cfg.patience.max(1) {
            break;
        }
    }
    head.restore(&snap)?;
    Ok(Trained {
        head,
        history,
        best_epoch,
    })
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
