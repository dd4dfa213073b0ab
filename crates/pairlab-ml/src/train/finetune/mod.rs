//! `finetune`: a pretrained ResNet, DenseNet or ViT (a registered image classifier, or a
//! CLIP model's image tower) with a new classification head, trained on the images.
//!
//! - **ViTs** (timm's layout; CLIP towers mapped onto it by `vit_sources`): stage 0 is the
//!   patch and position embedding, each block a stage, the final norm trains with the last
//!   block; they train at their own input size only.
//! - **Unfreezing** from the head down: `head` trains the head alone on the frozen
//!   backbone, `N` also the backbone's last N stages, `all` everything. Frozen stages run
//!   in evaluation mode (batch norm on its stored statistics, which stay as they are) and
//!   no gradient flows into them; trained stages run batch norm on batch statistics and
//!   update its running ones, as PyTorch's `train()` does.
//! - **Learning rates**: the head at `lr`, the backbone at `lr × backbone_lr_factor`
//!   (0.1), both AdamW with a cosine schedule; early stopping on the validation loss keeps
//!   the best epoch's weights.
//! - **Augmentation** suited to chest X-rays: small rotation, scale and translation,
//!   brightness and contrast; horizontal flips only when asked (the heart is on the left).
//! - **Memory**: before the run starts its need is estimated (weights, gradients, AdamW's
//!   moments, a best-epoch copy and the activations of the trained stages per image); a
//!   batch that would not fit the budget is split into chunks whose gradients are summed
//!   (the same step as one batch, apart from batch-norm statistics per chunk); a run that
//!   does not fit even one image at a time is refused with what to lower.
//! - **Checkpoints** are written in timm's layout (config.json + model.safetensors), so a
//!   fine-tuned run registers as an image model (`model add --from-run`).
//!
//! The inputs are images as [`Preprocess::raw`] makes them (0–255, the backbone's geometry
//! at the run's size); they are augmented, then normalised for the backbone, per batch.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::fit::{Data, EarlyStop, Event};
use super::trainer::{Fit, Fitted, Input, Model, Part, Settings};
use super::{Targets, Uncertain, cosine_lr};
use crate::backbone::{self, Arch, Net, Preprocess};
use crate::error::{MlError, Result};
use crate::rng::SplitMix64;

mod augment;
mod bench;
mod memory;
mod model;
mod tuner;

pub use augment::Augment;
pub use bench::{Throughput, throughput};
#[cfg(test)]
pub(super) use memory::estimate_for_tests;
pub use memory::{MemoryEstimate, RunEstimate, estimate_run};
pub use model::Finetuned;
use tuner::Tuner;

use crate::train::lock_err;

/// How much of the backbone trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Unfreeze {
    /// The head alone.
    #[default]
    Head,
    /// The head and the backbone's last N stages.
    Last(usize),
    /// Everything.
    All,
}

impl Unfreeze {
    /// The first of a network's `stages` that trains (`stages`: none, the head only).
    pub fn cut(self, stages: usize) -> usize {
        match self {
            Unfreeze::Head => stages,
            Unfreeze::All => 0,
            Unfreeze::Last(n) => stages.saturating_sub(n),
        }
    }
}

impl fmt::Display for Unfreeze {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfreeze::Head => f.write_str("head"),
            Unfreeze::Last(n) => write!(f, "{n}"),
            Unfreeze::All => f.write_str("all"),
        }
    }
}

impl FromStr for Unfreeze {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "head" | "0" => Ok(Unfreeze::Head),
            "all" => Ok(Unfreeze::All),
            n => n.parse::<usize>().map(Unfreeze::Last).map_err(|_| {
                MlError::setting(
                    "unfreeze",
                    format!("unfreeze {s:?}: use head, a number of stages (1, 2, …) or all"),
                )
            }),
        }
    }
}

impl Serialize for Unfreeze {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Unfreeze {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a run computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    /// A GPU when this build has one, else the CPU.
    #[default]
    Auto,
}

impl FromStr for DeviceChoice {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda),
            "auto" => Ok(DeviceChoice::Auto),
            _ => Err(MlError::setting(
                "device",
                format!("device {s:?}: use cpu, cuda or auto"),
            )),
        }
    }
}

impl DeviceChoice {
    /// The device, or why it cannot be had.
    pub fn device(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Auto => Ok(Device::cuda_if_available(0).unwrap_or(Device::Cpu)),
            DeviceChoice::Cuda if candle_core::utils::cuda_is_available() => {
                Ok(Device::new_cuda(0)?)
            }
            DeviceChoice::Cuda => Err(MlError::setting(
                "device",
                "this build of Pairlab has no CUDA support: build it with `--features cuda` \
                 (needs the CUDA toolkit), or use --device cpu"
                    .into(),
            )),
        }
    }

    /// `cpu` or `cuda`, as the device actually used.
    pub fn name_of(d: &Device) -> &'static str {
        if d.is_cuda() { "cuda" } else { "cpu" }
    }
}

/// The pretrained network a `finetune` run starts from; core resolves it from `--model`.
#[derive(Clone, Debug, PartialEq)]
pub struct BackboneSpec {
    /// Its checkpoint (file or timm folder).
    pub path: PathBuf,
    /// `resnet50`, `densenet121`, …
    pub arch: String,
    pub preprocess: Preprocess,
}

/// The fine-tuning settings beyond the common ones.
#[derive(Clone, Debug, PartialEq)]
pub struct Tune {
    pub unfreeze: Unfreeze,
    /// Images per optimiser step (0 = 16).
    pub batch: usize,
    pub device: DeviceChoice,
    /// Augmentation (rotation, scale, translation, brightness, contrast) while training.
    pub augment: bool,
    /// Random horizontal flips (off: chest X-rays are not symmetric).
    pub hflip: bool,
    /// Memory budget in MiB (0 = three quarters of the memory available at the start).
    pub memory_mb: usize,
    pub backbone: Option<BackboneSpec>,
}

impl Default for Tune {
    fn default() -> Self {
        Tune {
            unfreeze: Unfreeze::Head,
            batch: 0,
            device: DeviceChoice::Auto,
            augment: true,
            hflip: false,
            memory_mb: 0,
            backbone: None,
        }
    }
}

/// A `finetune` run's configuration, stored with the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetuneConfig {
    pub backbone: PathBuf,
    pub arch: String,
    pub unfreeze: Unfreeze,
    pub size: usize,
    pub batch: usize,
    pub epochs: usize,
    pub lr: f64,
    pub backbone_lr_factor: f64,
    pub weight_decay: f64,
    pub patience: usize,
    pub seed: u64,
    pub uncertain: Uncertain,
    /// None: no augmentation.
    pub augment: Option<Augment>,
    /// `cpu` or `cuda`: the device the run computes on.
    pub device: String,
    pub memory_mb: usize,
}

/// The `finetune` trainer.
pub struct FinetuneTrainer;

const DEFAULT_BATCH: usize = 16;

fn spec(settings: &Settings) -> Result<&BackboneSpec> {
    settings.tune.backbone.as_ref().ok_or_else(|| {
        MlError::setting(
            "model",
            "the finetune trainer needs --model: a registered ResNet, DenseNet, ViT or CLIP \
             image tower (pairlab model add PATH)"
                .into(),
        )
    })
}

/// The run's image size: the one asked for, else the backbone's.
fn size_of(settings: &Settings, spec: &BackboneSpec) -> usize {
    if settings.size == 0 {
        spec.preprocess.size as usize
    } else {
        settings.size
    }
}

fn config_of(settings: &Settings) -> Result<FinetuneConfig> {
    let spec = spec(settings)?;
    let native = spec.preprocess.size as usize;
    if spec.arch.starts_with("vit_") && settings.size != 0 && settings.size != native {
        return Err(MlError::setting(
            "size",
            format!(
                "a {} is fine-tuned at its own input size, {native} px (its position \
                 embeddings are for that grid); leave --size out",
                spec.arch
            ),
        ));
    }
    let batch = if settings.tune.batch == 0 {
        DEFAULT_BATCH
    } else {
        settings.tune.batch
    };
    Ok(FinetuneConfig {
        backbone: spec.path.clone(),
        arch: spec.arch.clone(),
        unfreeze: settings.tune.unfreeze,
        size: size_of(settings, spec),
        batch,
        epochs: settings.epochs,
        lr: settings.lr,
        backbone_lr_factor: 0.1,
        weight_decay: 1e-4,
        patience: 3,
        seed: settings.seed,
        uncertain: settings.uncertain,
        augment: settings
            .tune
            .augment
            .then(|| Augment::xray(settings.tune.hflip)),
        device: DeviceChoice::name_of(&settings.tune.device.device()?).into(),
        memory_mb: settings.tune.memory_mb,
    })
}

impl Fit for FinetuneTrainer {
    fn about(&self) -> &'static str {
        "a pretrained ResNet, DenseNet or ViT / CLIP image tower (--model) fine-tuned with a new head"
    }

    fn default_lr(&self) -> f64 {
        1e-3
    }

    fn check(&self, settings: &Settings) -> Result<()> {
        if settings.size != 0 && !(32..=1024).contains(&settings.size) {
            return Err(MlError::setting(
                "size",
                format!("image size {}: use 32 to 1024 pixels", settings.size),
            ));
        }
        if settings.tune.batch > 1024 {
            return Err(MlError::setting(
                "batch",
                format!("batch {}: use 1 to 1024 images", settings.tune.batch),
            ));
        }
        if let Unfreeze::Last(n) = settings.tune.unfreeze
            && n > 64
        {
            return Err(MlError::setting(
                "unfreeze",
                format!("unfreeze {n}: a backbone has at most a few stages; use all"),
            ));
        }
        settings.tune.device.device().map(|_| ())
    }

    fn input(&self, settings: &Settings) -> Input {
        match &settings.tune.backbone {
            Some(spec) => {
                let mut p = spec.preprocess.clone();
                p.size = size_of(settings, spec) as u32;
                Input::Pixels(p)
            }
            // fit() says what is missing.
            None => Input::Pixels(Preprocess::imagenet(settings.size.max(32) as u32)),
        }
    }

    fn config(&self, settings: &Settings) -> Result<String> {
        serde_json::to_string(&config_of(settings)?)
            .map_err(|e| MlError::Unsupported(e.to_string()))
    }

    fn fit(
        &self,
        train: Part,
        val: Part,
        dim: usize,
        settings: &Settings,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<Fitted> {
        let cfg = config_of(settings)?;
        let spec = spec(settings)?;
        let mut pre = spec.preprocess.clone();
        pre.size = cfg.size as u32;
        let device = settings.tune.device.device()?;
        let tuner = Tuner::build(&spec.path, &pre, train.targets, &cfg, &device)?;
        if pre.channels * cfg.size * cfg.size != dim {
            return Err(MlError::Unsupported(format!(
                "images of {}×{}×{} do not have {dim} values",
                pre.channels, cfg.size, cfg.size
            )));
        }
        tuner.fit(train, val, dim, &cfg, observe)
    }

    fn load(&self, dir: &Path) -> Result<Box<dyn Model>> {
        Ok(Box::new(Finetuned::load(dir, &Device::Cpu)?))
    }
}

/// The stage a backbone weight belongs to (0 = the stem).
fn stage_of(arch: &Arch, name: &str) -> usize {
    match arch {
        // The embedding is stage 0, block i stage i + 1, the final norm the last block's.
        Arch::Vit(c) => {
            if name.starts_with("norm.") {
                return c.depth;
            }
            name.strip_prefix("blocks.")
                .and_then(|r| r.split('.').next())
                .and_then(|k| k.parse::<usize>().ok())
                .map_or(0, |i| i + 1)
        }
        Arch::ResNet(_) => name
            .strip_prefix("layer")
            .and_then(|r| r.split('.').next())
            .and_then(|k| k.parse().ok())
            .unwrap_or(0),
        Arch::DenseNet(c) => {
            let part = name.strip_prefix("features.").unwrap_or(name);
            if part.starts_with("norm5") {
                return c.blocks.len();
            }
            for p in ["denseblock", "transition"] {
                if let Some(r) = part.strip_prefix(p) {
                    return r
                        .split('.')
                        .next()
                        .and_then(|k| k.parse().ok())
                        .unwrap_or(0);
                }
            }
            0
        }
    }
}
