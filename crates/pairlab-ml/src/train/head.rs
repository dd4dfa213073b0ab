//! `head`: a linear or one-hidden-layer MLP classifier on embeddings, or (with `image`)
//! `cnn`: a small convolutional network on images trained from scratch — three 3×3
//! convolutions (max pooling after the first two, ReLU) and a linear classifier on the
//! flattened last feature map. The model, its initialisation, inference and checkpoints;
//! the training loop is in `fit.rs`, the `cnn` trainer in `cnn.rs`.

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::cnn_step;
pub use super::fit::{Event, Trained, train};
#[cfg(test)]
use super::fit::{augment, shift_flip};
use super::trainer::{Fit, Fitted, Input, Model, Part, Settings};
use super::{Uncertain, fit};
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
    /// The classifier sees the last feature map flattened (`(size/4)² × 4·width` values)
    /// rather than its global average (`4·width`); checkpoints from before this field
    /// averaged.
    #[serde(default)]
    pub flatten: bool,
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
    pub(super) varmap: VarMap,
    /// Weight (`[out, in, 3, 3]`) and bias of each convolution of a `cnn` (empty for an
    /// MLP head).
    convs: Vec<(Tensor, Tensor)>,
    l1: Linear,
    l2: Option<Linear>,
    pub shape: HeadShape,
}

impl Head {
    pub(super) fn build(shape: HeadShape) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let mut convs = Vec::new();
        let mut features = shape.dim;
        if let Some(img) = shape.image {
            let w = img.width.max(1);
            let chans = [img.channels, w, 2 * w, 4 * w];
            for k in 0..3 {
                let vb = vb.pp(format!("conv{k}"));
                convs.push((
                    vb.get((chans[k + 1], chans[k], 3, 3), "weight")?,
                    vb.get(chans[k + 1], "bias")?,
                ));
            }
            let side = img.size / 4;
            features = if img.flatten {
                side * side * 4 * w
            } else {
                4 * w
            };
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
    pub(super) fn init(&self, seed: u64) -> Result<()> {
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

    /// Weight and bias of each convolution (empty for an MLP head).
    pub(super) fn conv_weights(&self) -> &[(Tensor, Tensor)] {
        &self.convs
    }

    /// Every weight: each convolution's weight and bias, then each linear layer's.
    pub(super) fn parameters(&self) -> Vec<&Tensor> {
        let mut out: Vec<&Tensor> = self.convs.iter().flat_map(|(w, b)| [w, b]).collect();
        for layer in std::iter::once(&self.l1).chain(&self.l2) {
            out.push(layer.weight());
            out.extend(layer.bias());
        }
        out
    }

    /// The classifier: one linear layer, or two with a ReLU between.
    pub(super) fn linears(&self) -> (&Linear, Option<&Linear>) {
        (&self.l1, self.l2.as_ref())
    }

    /// The classifier's logits as a candle graph (for autograd): of embeddings for an MLP
    /// head, of the flattened (or averaged) last feature map for a `cnn`, whose whole
    /// training step and inference are written out by hand in `cnn_step.rs`.
    pub(super) fn logits(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let h = self.l1.forward(x)?;
        match &self.l2 {
            Some(l2) => l2.forward(&h.relu()?),
            None => Ok(h),
        }
    }

    /// Logits for inference (no gradient) of the rows `x`, a chunk at a time: a
    /// convolutional net's activations for a whole data set at once would take gigabytes.
    /// A `cnn` runs the hand-written forward pass of its training step, one chunk per
    /// core, each chunk 256 images at 28 px and fewer for larger images (so that its
    /// activations stay about the same size whatever the image size); an MLP head runs
    /// candle's layers, each chunk detached.
    pub(super) fn logits_no_grad(&self, x: &[f32]) -> Result<Tensor> {
        const CHUNK: usize = 256;
        let dim = self.shape.dim.max(1);
        let parts = if let Some(img) = self.shape.image {
            let rows = (CHUNK * 28 * 28 / (img.size * img.size).max(1)).clamp(1, CHUNK);
            let matrices = cnn_step::conv_matrices(self)?;
            x.par_chunks(rows * dim)
                .map(|xs| Ok(cnn_step::forward(self, &matrices, xs, xs.len() / dim)?.logits))
                .collect::<Result<Vec<_>>>()?
        } else {
            x.chunks(CHUNK * dim)
                .map(|xs| {
                    let t = Tensor::from_slice(xs, (xs.len() / dim, dim), &Device::Cpu)?;
                    Ok(self.logits(&t)?.detach())
                })
                .collect::<Result<Vec<_>>>()?
        };
        if parts.is_empty() {
            return Ok(Tensor::zeros(
                (0, self.shape.classes),
                DType::F32,
                &Device::Cpu,
            )?);
        }
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// Probabilities, `n × classes` row-major: sigmoid per class (multi-label) or softmax.
    pub fn predict(&self, x: &[f32]) -> Result<Vec<f32>> {
        let n = x.len() / self.shape.dim.max(1);
        if n == 0 {
            return Ok(Vec::new());
        }
        let z = self.logits_no_grad(&x[..n * self.shape.dim])?;
        let p = if self.shape.multi_label {
            candle_nn::ops::sigmoid(&z)?
        } else {
            candle_nn::ops::softmax_last_dim(&z)?
        };
        Ok(p.flatten_all()?.to_vec1::<f32>()?)
    }

    pub(super) fn snapshot(&self) -> Result<Vec<(String, Tensor)>> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| MlError::Unsupported("lock".into()))?;
        data.iter()
            .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
            .collect()
    }

    pub(super) fn restore(&self, snap: &[(String, Tensor)]) -> Result<()> {
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

impl Model for Head {
    fn save(&self, dir: &Path) -> Result<()> {
        Head::save(self, dir)
    }

    fn predict(&self, x: &[f32]) -> Result<Vec<f32>> {
        Head::predict(self, x)
    }
}

/// The most hidden units an MLP classifier may ask for.
const MAX_HIDDEN: usize = 8192;

/// The `head` and `cnn` trainers' check of the classifier's hidden units.
pub(super) fn check_hidden(settings: &Settings) -> Result<()> {
    if settings.hidden > MAX_HIDDEN {
        let why = format!("hidden units {}: at most {MAX_HIDDEN}", settings.hidden);
        return Err(MlError::setting("hidden", why));
    }
    Ok(())
}

/// The configuration of a head (`image`: of a `cnn`) for these settings.
pub(super) fn config(settings: &Settings, image: Option<ImageInput>) -> HeadConfig {
    HeadConfig {
        hidden: settings.hidden,
        epochs: settings.epochs,
        lr: settings.lr,
        seed: settings.seed,
        uncertain: settings.uncertain,
        image,
        ..HeadConfig::default()
    }
}

/// `config` as stored with a run.
pub(super) fn config_json(cfg: &HeadConfig) -> Result<String> {
    serde_json::to_string(cfg).map_err(|e| MlError::Unsupported(e.to_string()))
}

/// Fits a head with `cfg` through the training loop.
pub(super) fn fit_with(
    train: Part,
    val: Part,
    dim: usize,
    cfg: &HeadConfig,
    observe: &mut dyn FnMut(fit::Event) -> bool,
) -> Result<Fitted> {
    let t = fit::train(
        train.x,
        train.targets,
        val.x,
        val.targets,
        dim,
        cfg,
        observe,
    )?;
    Ok(Fitted {
        model: Box::new(t.head),
        history: t.history,
        best_epoch: t.best_epoch,
    })
}

/// The `head` trainer: a linear or MLP classifier on a model's image embeddings.
pub struct HeadTrainer;

impl Fit for HeadTrainer {
    fn about(&self) -> &'static str {
        "a classifier on a model's image embeddings"
    }

    /// 0.01: the head is small and its inputs are normalised embeddings.
    fn default_lr(&self) -> f64 {
        1e-2
    }

    fn check(&self, settings: &Settings) -> Result<()> {
        check_hidden(settings)
    }

    fn input(&self, _: &Settings) -> Input {
        Input::ImageEmbeddings
    }

    fn config(&self, settings: &Settings) -> Result<String> {
        config_json(&config(settings, None))
    }

    fn fit(
        &self,
        train: Part,
        val: Part,
        dim: usize,
        settings: &Settings,
        observe: &mut dyn FnMut(fit::Event) -> bool,
    ) -> Result<Fitted> {
        fit_with(train, val, dim, &config(settings, None), observe)
    }

    fn load(&self, dir: &Path) -> Result<Box<dyn Model>> {
        Ok(Box::new(Head::load(dir)?))
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
