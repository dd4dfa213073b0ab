//! Pretrained image classifiers as embedding models and as backbones to fine-tune:
//! ResNet and DenseNet checkpoints in the layouts people have, the format told from the
//! files themselves.
//!
//! - **timm / Hugging Face layout**: a folder with `config.json` (`architecture`,
//!   `pretrained_cfg` with `input_size`, `mean`, `std`, `crop_pct`, `interpolation`) and
//!   `model.safetensors` (or `pytorch_model.bin`). Pairlab writes fine-tuned models so too.
//! - **torchvision state dict**: one `.pth`/`.pt`/`.safetensors` file; ImageNet
//!   preprocessing (resize 256, centre crop 224, ImageNet mean and std).
//! - **torchxrayvision**: a saved `torchxrayvision.models.DenseNet` (or its state dict) with
//!   one grey input channel and 18 pathology outputs; its preprocessing (centre crop to a
//!   square, resize to 224, pixel values scaled to [-1024, 1024]).
//!
//! The embedding of an image is the pooled features before the classifier, L2-normalised.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Serialize;
use serde_json::Value;

use crate::checkpoint::{self, Weights};
use crate::densenet::{self, DenseNet};
use crate::error::{MlError, Result};
pub use crate::preprocess::{IMAGENET_MEAN, IMAGENET_STD, Preprocess};
use crate::resnet::{self, ResNet};
use crate::vit::{self, Vit};

/// torchxrayvision's 18 outputs, in order (`xrv.datasets.default_pathologies`).
pub const XRV_PATHOLOGIES: [&str; 18] = [
    "Atelectasis",
    "Consolidation",
    "Infiltration",
    "Pneumothorax",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Effusion",
    "Pneumonia",
    "Pleural_Thickening",
    "Cardiomegaly",
    "Nodule",
    "Mass",
    "Hernia",
    "Lung Lesion",
    "Fracture",
    "Lung Opacity",
    "Enlarged Cardiomediastinum",
];

/// The network of a backbone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arch {
    ResNet(resnet::Config),
    DenseNet(densenet::Config),
    Vit(vit::Config),
}

impl Arch {
    /// `resnet50`, `densenet121`, …
    pub fn name(&self) -> String {
        match self {
            Arch::ResNet(c) => c.name(),
            Arch::DenseNet(c) => c.name(),
            Arch::Vit(c) => c.name(),
        }
    }

    pub fn family(&self) -> &'static str {
        match self {
            Arch::ResNet(_) => "resnet",
            Arch::DenseNet(_) => "densenet",
            Arch::Vit(_) => "vit",
        }
    }

    /// Length of the pooled features.
    pub fn features(&self) -> usize {
        match self {
            Arch::ResNet(c) => c.features(),
            Arch::DenseNet(c) => c.features(),
            Arch::Vit(c) => c.features(),
        }
    }

    pub fn in_channels(&self) -> usize {
        match self {
            Arch::ResNet(c) => c.in_channels,
            Arch::DenseNet(c) => c.in_channels,
            Arch::Vit(c) => c.in_channels,
        }
    }

    pub fn classes(&self) -> Option<usize> {
        match self {
            Arch::ResNet(c) => c.classes,
            Arch::DenseNet(c) => c.classes,
            Arch::Vit(c) => c.classes,
        }
    }

    /// The same network with a classifier of `n` outputs (or none).
    pub fn with_classes(&self, n: Option<usize>) -> Arch {
        match self {
            Arch::ResNet(c) => Arch::ResNet(resnet::Config {
                classes: n,
                ..c.clone()
            }),
            Arch::DenseNet(c) => Arch::DenseNet(densenet::Config {
                classes: n,
                ..c.clone()
            }),
            Arch::Vit(c) => Arch::Vit(vit::Config {
                classes: n,
                ..c.clone()
            }),
        }
    }

    /// What the weights are the weights of, read from their names and shapes.
    pub fn from_weights(w: &Weights) -> Option<Arch> {
        resnet::Config::from_weights(w)
            .map(Arch::ResNet)
            .or_else(|| densenet::Config::from_weights(w).map(Arch::DenseNet))
            .or_else(|| vit::Config::from_weights(w).map(Arch::Vit))
    }

    /// The weight name prefix of the classifier.
    pub fn classifier_prefix(&self) -> &'static str {
        match self {
            Arch::ResNet(_) => "fc",
            Arch::DenseNet(_) => "classifier",
            Arch::Vit(_) => "head",
        }
    }
}

/// Where a backbone's weights come from, and how to read them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Source {
    /// The weight file.
    pub weights: PathBuf,
    /// `timm safetensors`, `torchvision state dict (PyTorch zip checkpoint)`, …
    pub format: String,
}

/// What a backbone checkpoint is, read without building the network.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackboneInfo {
    /// `resnet50`, `densenet121`, …
    pub arch: String,
    /// `resnet`, `densenet` or `vit`.
    pub family: String,
    pub format: String,
    pub features: usize,
    /// Names of the classifier's outputs where known (torchxrayvision's pathologies).
    pub labels: Vec<String>,
    pub preprocess: Preprocess,
}

/// Finds the weight file of a timm-layout folder.
fn folder_weights(dir: &Path) -> Result<PathBuf> {
    for name in [
        "model.safetensors",
        "pytorch_model.bin",
        "model.pth",
        "model.pt",
    ] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(MlError::bad(
        dir,
        "config.json names a timm architecture but there is no model.safetensors or \
         pytorch_model.bin beside it",
    ))
}

/// True when a path is a backbone checkpoint rather than a CLIP/BERT folder: a weight file,
/// or a folder whose config.json has timm's `architecture`.
pub fn is_backbone(path: &Path) -> bool {
    if path.is_file() {
        return true;
    }
    std::fs::read_to_string(path.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .is_some_and(|j| j.get("architecture").is_some() && j.get("model_type").is_none())
}

fn timm_preprocess(cfg: &Value, channels: usize) -> Preprocess {
    let p = cfg.get("pretrained_cfg").unwrap_or(cfg);
    let mut pre = Preprocess::imagenet(224);
    if let Some(s) = p
        .get("input_size")
        .and_then(Value::as_array)
        .and_then(|a| a.last())
        .and_then(Value::as_u64)
    {
        pre.size = s as u32;
    }
    if let Some(c) = p.get("crop_pct").and_then(Value::as_f64) {
        pre.crop_pct = c as f32;
    }
    if let Some(i) = p.get("interpolation").and_then(Value::as_str) {
        pre.interpolation = i.to_string();
    }
    let list = |k: &str| -> Option<Vec<f32>> {
        p.get(k)?
            .as_array()?
            .iter()
            .map(|v| v.as_f64().map(|x| x as f32))
            .collect()
    };
    if let Some(m) = list("mean") {
        pre.mean = m;
    }
    if let Some(s) = list("std") {
        pre.std = s;
    }
    pre.channels = channels;
    pre.xrv = p
        .get("xrv_scaling")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if pre.mean.len() != channels {
        pre.mean = vec![pre.mean.iter().sum::<f32>() / pre.mean.len().max(1) as f32; channels];
    }
    if pre.std.len() != channels {
        pre.std = vec![pre.std.iter().sum::<f32>() / pre.std.len().max(1) as f32; channels];
    }
    pre
}

fn tower(t: crate::vit_sources::Tower) -> (Weights, BackboneInfo, Arch) {
    let arch = Arch::Vit(t.config);
    let info = BackboneInfo {
        arch: arch.name(),
        family: arch.family().into(),
        format: t.format,
        features: arch.features(),
        labels: Vec::new(),
        preprocess: t.preprocess,
    };
    (t.weights, info, arch)
}

/// The error for weights that are no network Pairlab knows, with their first names.
fn unknown(file: &Path, weights: &Weights) -> MlError {
    let mut names: Vec<&String> = weights.keys().collect();
    names.sort();
    let some: Vec<&str> = names.iter().take(4).map(|s| s.as_str()).collect();
    MlError::bad(
        file,
        format!(
            "its {} tensors are not a ResNet's (conv1, layer1.0.…), a DenseNet's \
             (features.conv0, features.denseblock1.…) or a timm ViT's (cls_token, \
             blocks.0.…); the first names are {}",
            weights.len(),
            some.join(", ")
        ),
    )
}

/// Reads a checkpoint (file or timm folder, or a CLIP model's image tower): its weights,
/// network and preprocessing.
pub fn read(path: &Path, device: &Device) -> Result<(Weights, BackboneInfo, Arch)> {
    if path.is_dir()
        && let Some(t) = crate::vit_sources::read_folder(path, device)?
    {
        return Ok(tower(t));
    }
    let (file, config) = if path.is_dir() {
        let text = std::fs::read_to_string(path.join("config.json"))
            .map_err(|e| MlError::io(path.join("config.json"), e))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| MlError::bad(path, format!("config.json is not valid JSON: {e}")))?;
        (folder_weights(path)?, Some(json))
    } else {
        (path.to_path_buf(), None)
    };
    let format = checkpoint::sniff(&file)?;
    let weights = checkpoint::load(&file, device)?;
    if config.is_none()
        && let Some(t) = crate::vit_sources::from_openai_file(&file, &weights)?
    {
        return Ok(tower(t));
    }
    let arch = Arch::from_weights(&weights).ok_or_else(|| unknown(&file, &weights))?;
    if let Some(cfg) = &config
        && let Some(named) = cfg.get("architecture").and_then(Value::as_str)
    {
        let found = arch.name();
        if !named.starts_with(arch.family()) {
            return Err(MlError::bad(
                path,
                format!("config.json says {named} but the weights are a {found}"),
            ));
        }
    }
    let arch = match (arch, &config) {
        (Arch::Vit(c), Some(cfg)) => {
            let named = cfg
                .get("architecture")
                .and_then(Value::as_str)
                .unwrap_or("");
            Arch::Vit(c.named(named).with_model_args(cfg))
        }
        (a, _) => a,
    };
    let xrv = config.is_none() && arch.in_channels() == 1 && arch.classes() == Some(18);
    let (preprocess, kind, labels) = match (&config, xrv) {
        (Some(cfg), _) => {
            let labels = cfg
                .get("label_names")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            (timm_preprocess(cfg, arch.in_channels()), "timm", labels)
        }
        (None, true) => (
            Preprocess::xrv(224),
            "torchxrayvision",
            XRV_PATHOLOGIES.iter().map(|s| s.to_string()).collect(),
        ),
        (None, false) => {
            let mut p = Preprocess::imagenet(224);
            if arch.in_channels() == 1 {
                p.channels = 1;
                p.mean = vec![0.449];
                p.std = vec![0.226];
            } else if arch.in_channels() != 3 {
                return Err(MlError::bad(
                    &file,
                    format!(
                        "a network with {} input channels: Pairlab feeds 1 (grey) or 3 (RGB)",
                        arch.in_channels()
                    ),
                ));
            }
            (p, "torchvision", Vec::new())
        }
    };
    // A ViT runs at the size of its position embeddings, whatever a config says.
    let mut preprocess = preprocess;
    if let Arch::Vit(c) = &arch {
        preprocess.size = c.image_size as u32;
    }
    let info = BackboneInfo {
        arch: arch.name(),
        family: arch.family().into(),
        format: format!("{kind} ({})", format.describe()),
        features: arch.features(),
        labels,
        preprocess,
    };
    Ok((weights, info, arch))
}

/// What a checkpoint is as a backbone to fine-tune (read on the CPU): an image classifier,
/// or a CLIP model's image tower.
pub fn info(path: &Path) -> Result<BackboneInfo> {
    Ok(read(path, &Device::Cpu)?.1)
}

/// A ResNet, DenseNet or ViT with its weights.
pub enum Net {
    ResNet(ResNet),
    DenseNet(DenseNet),
    Vit(Box<Vit>),
}

impl Net {
    /// Builds `arch` from a VarBuilder (weights for inference, a VarMap for training).
    pub fn load(vb: VarBuilder, arch: &Arch) -> candle_core::Result<Net> {
        Ok(match arch {
            Arch::ResNet(c) => Net::ResNet(ResNet::load(vb, c)?),
            Arch::DenseNet(c) => Net::DenseNet(DenseNet::load(vb, c)?),
            Arch::Vit(c) => Net::Vit(Box::new(Vit::load(vb, c)?)),
        })
    }

    /// The network's shape.
    pub fn arch(&self) -> Arch {
        match self {
            Net::ResNet(r) => Arch::ResNet(r.config().clone()),
            Net::DenseNet(d) => Arch::DenseNet(d.config().clone()),
            Net::Vit(v) => Arch::Vit(v.config().clone()),
        }
    }

    pub fn stages(&self) -> usize {
        match self {
            Net::ResNet(_) => ResNet::STAGES,
            Net::DenseNet(d) => d.stages(),
            Net::Vit(v) => v.stages(),
        }
    }

    pub fn stage(&self, k: usize, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        match self {
            Net::ResNet(r) => r.stage(k, x, train),
            Net::DenseNet(d) => d.stage(k, x, train),
            Net::Vit(v) => v.stage(k, x, train),
        }
    }

    pub fn pool(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Net::ResNet(r) => r.pool(x),
            Net::DenseNet(d) => d.pool(x),
            Net::Vit(v) => v.pool(x),
        }
    }

    /// Pooled features in evaluation mode: `[n, features]`. Each stage's output is
    /// detached, so that no autograd graph outlives its stage (weights that are training
    /// variables would otherwise keep every intermediate alive).
    pub fn features(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = x.detach();
        for k in 0..self.stages() {
            x = self.stage(k, &x, false)?.detach();
        }
        Ok(self.pool(&x)?.detach())
    }

    pub fn classifier(&self) -> Option<&candle_nn::Linear> {
        match self {
            Net::ResNet(r) => r.classifier(),
            Net::DenseNet(d) => d.classifier(),
            Net::Vit(v) => v.classifier(),
        }
    }
}

/// A loaded backbone with its preprocessing.
pub struct Backbone {
    pub net: Net,
    pub info: BackboneInfo,
    pub arch: Arch,
    /// torchxrayvision's per-output operating points, when the checkpoint stores them (or
    /// they are set from a table): probabilities are rescaled so that each becomes 0.5.
    pub op_threshs: Option<Vec<f32>>,
    device: Device,
}

/// torchxrayvision's `op_norm`: a probability p below its operating point t becomes
/// p / (2t), one above 1 − (1 − p) / (2(1 − t)); a NaN point leaves 0.5.
pub fn op_norm(p: f32, t: f32) -> f32 {
    if t.is_nan() {
        0.5
    } else if p < t {
        p / (t * 2.0)
    } else {
        1.0 - (1.0 - p) / ((1.0 - t) * 2.0)
    }
}

impl Backbone {
    /// Loads a checkpoint, naming any weight that is missing or has the wrong shape.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let (weights, info, arch) = read(path, device)?;
        let op_threshs = match weights.get("op_threshs") {
            Some(t) => Some(t.flatten_all()?.to_vec1::<f32>()?),
            None => None,
        };
        check_complete(path, &weights, &arch, device)?;
        let vb = VarBuilder::from_tensors(weights, DType::F32, device);
        let net = Net::load(vb, &arch).map_err(|e| {
            MlError::bad(
                path,
                format!("the weights do not fit a {}: {e}", arch.name()),
            )
        })?;
        Ok(Backbone {
            net,
            info,
            arch,
            op_threshs,
            device: device.clone(),
        })
    }

    /// `n` preprocessed square images (`channels × s × s` values each) as the network's
    /// input tensor.
    pub fn pixels(&self, pixels: Vec<f32>, n: usize) -> Result<Tensor> {
        let c = self.arch.in_channels();
        let per = pixels.len() / (n * c).max(1);
        let s = (per as f64).sqrt().round() as usize;
        if n == 0 || s * s * c * n != pixels.len() {
            return Err(MlError::Unsupported(format!(
                "{} values are not {n} square images of {c} channel(s)",
                pixels.len()
            )));
        }
        Ok(Tensor::from_vec(pixels, (n, c, s, s), &self.device)?)
    }

    /// L2-normalised pooled features of preprocessed images.
    pub fn embed(&self, pixels: Vec<f32>, n: usize) -> Result<Vec<Vec<f32>>> {
        let x = self.pixels(pixels, n)?;
        let f = self.net.features(&x)?;
        Ok(crate::normalize_rows(&f)?.to_vec2::<f32>()?)
    }

    /// The classifier's probabilities (sigmoid of each output, rescaled by the operating
    /// points when there are any), when the checkpoint has a classifier.
    pub fn probabilities(&self, pixels: Vec<f32>, n: usize) -> Result<Option<Vec<Vec<f32>>>> {
        let Some(logits) = self.logits(pixels, n)? else {
            return Ok(None);
        };
        let sig = |z: f32| 1.0 / (1.0 + (-z).exp());
        Ok(Some(
            logits
                .into_iter()
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .map(|(i, &z)| match &self.op_threshs {
                            Some(t) if t.len() == row.len() => op_norm(sig(z), t[i]),
                            _ => sig(z),
                        })
                        .collect()
                })
                .collect(),
        ))
    }

    /// The classifier's raw outputs, when the checkpoint has a classifier.
    pub fn logits(&self, pixels: Vec<f32>, n: usize) -> Result<Option<Vec<Vec<f32>>>> {
        let Some(fc) = self.net.classifier() else {
            return Ok(None);
        };
        let x = self.pixels(pixels, n)?;
        let f = self.net.features(&x)?;
        Ok(Some(
            candle_core::Module::forward(fc, &f)?.to_vec2::<f32>()?,
        ))
    }
}

/// Every tensor the network needs is there with the right shape (all missing ones named).
fn check_complete(path: &Path, weights: &Weights, arch: &Arch, device: &Device) -> Result<()> {
    let map = candle_nn::VarMap::new();
    let vb = VarBuilder::from_varmap(&map, DType::F32, device);
    Net::load(vb, arch)?;
    let want = map.data().lock().map(|d| {
        d.iter()
            .map(|(k, v)| (k.clone(), v.dims().to_vec()))
            .collect::<Vec<_>>()
    });
    let Ok(mut want) = want else {
        return Ok(());
    };
    want.sort();
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    for (name, shape) in want {
        match weights.get(&name) {
            None => missing.push(name),
            Some(t) if t.dims() != shape.as_slice() => {
                wrong.push(format!(
                    "{name} is {:?}, a {} needs {shape:?}",
                    t.dims(),
                    arch.name()
                ));
            }
            Some(_) => {}
        }
    }
    if missing.is_empty() && wrong.is_empty() {
        return Ok(());
    }
    let mut parts = Vec::new();
    if !missing.is_empty() {
        let n = missing.len();
        let shown: Vec<String> = missing.into_iter().take(8).collect();
        parts.push(format!(
            "{n} weights missing ({}{})",
            shown.join(", "),
            if n > 8 { ", …" } else { "" }
        ));
    }
    if !wrong.is_empty() {
        let n = wrong.len();
        let shown: Vec<String> = wrong.into_iter().take(4).collect();
        parts.push(format!("{n} with the wrong shape ({})", shown.join("; ")));
    }
    Err(MlError::bad(path, parts.join("; ")))
}
