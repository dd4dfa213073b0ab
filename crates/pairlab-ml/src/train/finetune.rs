//! `finetune`: a pretrained ResNet or DenseNet (a registered image model) with a new
//! classification head, trained on the images.
//!
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

use super::fit::{Data, Event};
use super::trainer::{Fit, Fitted, Input, Model, Part, Settings};
use super::{EpochMetrics, Targets, Uncertain, cosine_lr};
use crate::backbone::{self, Arch, Net, Preprocess};
use crate::error::{MlError, Result};
use crate::rng::SplitMix64;

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

/// Augmentation ranges (each drawn uniformly per image and epoch).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    pub rotate_deg: f32,
    pub scale: f32,
    pub translate: f32,
    pub brightness: f32,
    pub contrast: f32,
    pub hflip: bool,
}

impl Augment {
    pub fn xray(hflip: bool) -> Self {
        Augment {
            rotate_deg: 10.0,
            scale: 0.1,
            translate: 0.08,
            brightness: 0.1,
            contrast: 0.1,
            hflip,
        }
    }

    /// One image (`channels × s × s` raw values) transformed: an affine warp about the
    /// centre with bilinear sampling (outside: 0), then v ↦ (v − 127.5)·contrast + 127.5 +
    /// 255·brightness, clamped to 0–255.
    pub fn apply(&self, img: &[f32], channels: usize, s: usize, rng: &mut SplitMix64) -> Vec<f32> {
        let mut draw = |r: f32| r * rng.unit();
        let angle = draw(self.rotate_deg).to_radians();
        let scale = 1.0 + draw(self.scale);
        let (tx, ty) = (
            draw(self.translate) * s as f32,
            draw(self.translate) * s as f32,
        );
        let contrast = 1.0 + draw(self.contrast);
        let brightness = draw(self.brightness) * 255.0;
        let flip = self.hflip && rng.below(2) == 1;
        let (sin, cos) = angle.sin_cos();
        let c = (s as f32 - 1.0) / 2.0;
        let mut out = vec![0f32; img.len()];
        for y in 0..s {
            for x in 0..s {
                // The source of output (x, y): the inverse of scale·rotate, then translate.
                let (dx, dy) = (x as f32 - c - tx, y as f32 - c - ty);
                let mut sx = (cos * dx + sin * dy) / scale + c;
                let sy = (-sin * dx + cos * dy) / scale + c;
                if flip {
                    sx = s as f32 - 1.0 - sx;
                }
                if sx < 0.0 || sy < 0.0 || sx > s as f32 - 1.0 || sy > s as f32 - 1.0 {
                    continue;
                }
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(s - 1), (y0 + 1).min(s - 1));
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                for ch in 0..channels {
                    let p = |yy: usize, xx: usize| img[(ch * s + yy) * s + xx];
                    let v = p(y0, x0) * (1.0 - fx) * (1.0 - fy)
                        + p(y0, x1) * fx * (1.0 - fy)
                        + p(y1, x0) * (1.0 - fx) * fy
                        + p(y1, x1) * fx * fy;
                    out[(ch * s + y) * s + x] =
                        ((v - 127.5) * contrast + 127.5 + brightness).clamp(0.0, 255.0);
                }
            }
        }
        out
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
            "the finetune trainer needs --model: a registered ResNet or DenseNet (pairlab \
             model add PATH)"
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
        "a pretrained ResNet or DenseNet (--model) fine-tuned with a new head"
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

/// What an epoch runs over: the training rows in this epoch's order, the chunk size, the
/// run's configuration and the variables that train.
struct Pass<'a> {
    data: &'a Data<'a>,
    order: &'a [usize],
    chunk: usize,
    cfg: &'a FinetuneConfig,
    vars: &'a [Var],
}

/// A model being fine-tuned: the backbone's and the head's variables.
struct Tuner {
    net: Net,
    net_vars: VarMap,
    head: Linear,
    head_vars: VarMap,
    arch: Arch,
    pre: Preprocess,
    /// Stages below this one are frozen.
    cut: usize,
    multi_label: bool,
    classes: usize,
    device: Device,
}

fn lock_err<T>(_: T) -> MlError {
    MlError::Unsupported("a weights lock was poisoned".into())
}

impl Tuner {
    fn build(
        path: &Path,
        pre: &Preprocess,
        targets: &Targets,
        cfg: &FinetuneConfig,
        device: &Device,
    ) -> Result<Self> {
        let (weights, _, arch) = backbone::read(path, device)?;
        let arch = arch.with_classes(None);
        let net_vars = VarMap::new();
        let net = Net::load(
            VarBuilder::from_varmap(&net_vars, DType::F32, device),
            &arch,
        )?;
        {
            let data = net_vars.data().lock().map_err(lock_err)?;
            let mut missing = Vec::new();
            for (name, var) in data.iter() {
                match weights.get(name) {
                    Some(t) if t.dims() == var.dims() => var.set(t)?,
                    _ => missing.push(name.clone()),
                }
            }
            if !missing.is_empty() {
                missing.sort();
                return Err(MlError::bad(
                    path,
                    format!(
                        "weights missing or of the wrong shape: {}",
                        missing.join(", ")
                    ),
                ));
            }
        }
        let classes = targets.classes();
        let head_vars = VarMap::new();
        let hb = VarBuilder::from_varmap(&head_vars, DType::F32, device);
        let prefix = arch.classifier_prefix();
        let head = candle_nn::linear(arch.features(), classes, hb.pp(prefix))?;
        // A seeded start (candle's own initialisation draws from an unseeded generator).
        let bound = 1.0 / (arch.features() as f64).sqrt();
        let mut rng = SplitMix64(cfg.seed ^ 0xF1_7E_7E);
        let w: Vec<f32> = (0..classes * arch.features())
            .map(|_| (bound * f64::from(rng.unit())) as f32)
            .collect();
        {
            let data = head_vars.data().lock().map_err(lock_err)?;
            for (name, var) in data.iter() {
                if name.ends_with("weight") {
                    var.set(&Tensor::from_vec(
                        w.clone(),
                        (classes, arch.features()),
                        device,
                    )?)?;
                } else {
                    var.set(&var.zeros_like()?)?;
                }
            }
        }
        let stages = net.stages();
        let cut = match cfg.unfreeze {
            Unfreeze::Head => stages,
            Unfreeze::All => 0,
            Unfreeze::Last(n) => stages.saturating_sub(n),
        };
        Ok(Tuner {
            net,
            net_vars,
            head,
            head_vars,
            arch,
            pre: pre.clone(),
            cut,
            multi_label: matches!(targets, Targets::MultiLabel { .. }),
            classes,
            device: device.clone(),
        })
    }

    /// The backbone variables that train (not batch norm's running statistics).
    fn trained_vars(&self) -> Result<Vec<Var>> {
        let data = self.net_vars.data().lock().map_err(lock_err)?;
        let mut named: Vec<(&String, &Var)> = data
            .iter()
            .filter(|(n, _)| !n.contains("running_"))
            .filter(|(n, _)| stage_of(&self.arch, n) >= self.cut)
            .collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        Ok(named.into_iter().map(|(_, v)| v.clone()).collect())
    }

    /// Raw rows into the network's input tensor.
    fn input(&self, raw: &[f32], n: usize) -> Result<Tensor> {
        let s = self.pre.size as usize;
        let mut x = vec![0f32; raw.len()];
        self.pre.normalise(raw, &mut x);
        Ok(Tensor::from_vec(
            x,
            (n, self.pre.channels, s, s),
            &self.device,
        )?)
    }

    /// Logits; the frozen stages run without gradients, the others in training mode when
    /// `train`.
    fn logits(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for k in 0..self.net.stages() {
            let trains = train && k >= self.cut;
            h = self.net.stage(k, &h, trains)?;
            // A stage that is not trained keeps no graph beyond itself.
            if !trains {
                h = h.detach();
            }
        }
        let mut f = self.net.pool(&h)?;
        if self.cut >= self.net.stages() {
            f = f.detach();
        }
        Ok(self.head.forward(&f)?)
    }

    fn snapshot(&self) -> Result<Vec<(Var, Tensor)>> {
        let mut out = Vec::new();
        for vm in [&self.net_vars, &self.head_vars] {
            let data = vm.data().lock().map_err(lock_err)?;
            for v in data.values() {
                out.push((v.clone(), v.as_tensor().copy()?));
            }
        }
        Ok(out)
    }

    fn fit(
        self,
        train: Part,
        val: Part,
        dim: usize,
        cfg: &FinetuneConfig,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<Fitted> {
        let tr = Data {
            x: train.x,
            dim,
            targets: train.targets,
            policy: cfg.uncertain,
        };
        let va = Data {
            x: val.x,
            dim,
            targets: val.targets,
            policy: cfg.uncertain,
        };
        let mut order = tr.useful();
        if order.is_empty() {
            return Err(MlError::Unsupported("no labelled training samples".into()));
        }
        let chunk = self.plan(cfg)?;
        let val_rows = va.useful();
        let params = |lr| ParamsAdamW {
            lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        };
        let head_vars = self.head_vars.all_vars();
        let net_vars = self.trained_vars()?;
        let mut opt_head = AdamW::new(head_vars.clone(), params(cfg.lr))?;
        let mut opt_net = AdamW::new(net_vars.clone(), params(cfg.lr * cfg.backbone_lr_factor))?;
        let all: Vec<Var> = head_vars.into_iter().chain(net_vars).collect();
        let mut rng = SplitMix64(cfg.seed ^ 0x5EED);
        let (mut best, mut best_epoch, mut wait) = (f64::INFINITY, 0, 0);
        let mut snap = self.snapshot()?;
        let mut history = Vec::new();
        for epoch in 1..=cfg.epochs.max(1) {
            let started = Instant::now();
            let lr = cosine_lr(cfg.lr, epoch - 1, cfg.epochs);
            opt_head.set_learning_rate(lr);
            opt_net.set_learning_rate(lr * cfg.backbone_lr_factor);
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            let aug = SplitMix64(rng.next_u64());
            let pass = Pass {
                data: &tr,
                order: &order,
                chunk,
                cfg,
                vars: &all,
            };
            let train_loss = self.epoch(&pass, [&mut opt_head, &mut opt_net], aug, observe)?;
            let (val_loss, val_accuracy) = if val_rows.is_empty() {
                (train_loss, None)
            } else {
                let (l, a) = self.evaluate(&va, &val_rows, chunk.max(8))?;
                (l, Some(a))
            };
            let m = EpochMetrics {
                epoch,
                train_loss,
                val_loss,
                val_accuracy,
                lr,
                seconds: started.elapsed().as_secs_f64(),
            };
            history.push(m.clone());
            if val_loss < best - 1e-6 {
                best = val_loss;
                best_epoch = epoch;
                wait = 0;
                snap = self.snapshot()?;
            } else {
                wait += 1;
            }
            if !observe(Event::Epoch(&m)) {
                return Err(MlError::Cancelled);
            }
            if wait >= cfg.patience.max(1) {
                break;
            }
        }
        for (v, t) in &snap {
            v.set(t)?;
        }
        Ok(Fitted {
            model: Box::new(self.into_model()?),
            history,
            best_epoch,
        })
    }

    /// The fine-tuned network as a model (its variables as they are now).
    fn into_model(self) -> Result<Finetuned> {
        let tensors = {
            let data = self.net_vars.data().lock().map_err(lock_err)?;
            data.iter()
                .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                .collect()
        };
        Ok(Finetuned {
            tensors,
            net: self.net,
            head: self.head,
            arch: self.arch,
            pre: self.pre,
            multi_label: self.multi_label,
            classes: self.classes,
            device: self.device,
        })
    }

    /// One pass over the shuffled training rows; answers the mean batch loss.
    fn epoch(
        &self,
        pass: &Pass,
        opts: [&mut AdamW; 2],
        mut aug: SplitMix64,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<f64> {
        let batch = pass.cfg.batch.max(1);
        let skipped = usize::from(batch > 1 && pass.order.len() % batch == 1);
        let total = pass.order.len().div_ceil(batch) - skipped;
        let (mut sum, mut batches) = (0.0, 0usize);
        let [opt_head, opt_net] = opts;
        for idx in pass.order.chunks(batch) {
            // A trailing batch of one image (batch norm cannot train on it) waits for the
            // next epoch's shuffle.
            if idx.len() == 1 && batch > 1 {
                continue;
            }
            let (loss, grads) =
                self.step(pass.data, idx, pass.chunk, pass.cfg, pass.vars, &mut aug)?;
            opt_head.step(&grads)?;
            opt_net.step(&grads)?;
            sum += loss;
            batches += 1;
            if !observe(Event::Batch {
                done: batches,
                total,
                loss: sum / batches as f64,
            }) {
                return Err(MlError::Cancelled);
            }
        }
        Ok(sum / batches.max(1) as f64)
    }

    /// One optimiser step's gradients over the batch `idx`, in chunks of `chunk` images
    /// whose losses are weighted by their share of the batch, so the sum is the batch's.
    fn step(
        &self,
        data: &Data,
        idx: &[usize],
        chunk: usize,
        cfg: &FinetuneConfig,
        vars: &[Var],
        rng: &mut SplitMix64,
    ) -> Result<(f64, GradStore)> {
        let s = cfg.size;
        let mut total: Option<GradStore> = None;
        let mut loss_sum = 0.0;
        // Each chunk's mean loss weighs by its share of the batch's loss terms, so that the
        // summed gradient is the batch's (masked BCE averages over labelled entries).
        let terms = data.loss_terms(idx);
        for part in even_chunks(idx, chunk) {
            let share = data.loss_terms(part) / terms.max(1.0);
            if share == 0.0 {
                continue;
            }
            let mut raw = data.gather(part, None);
            if let Some(a) = &cfg.augment {
                let mut aug = Vec::with_capacity(raw.len());
                for row in raw.chunks(data.dim) {
                    aug.extend(a.apply(row, self.pre.channels, s, rng));
                }
                raw = aug;
            }
            let x = self.input(&raw, part.len())?;
            let z = self.logits(&x, true)?;
            let loss = (data.loss_of(&z, part)? * share)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?);
            let grads = loss.backward()?;
            total = Some(match total {
                None => grads,
                Some(mut acc) => {
                    for v in vars {
                        if let Some(g) = grads.get(v.as_tensor()) {
                            let sum = match acc.get(v.as_tensor()) {
                                Some(a) => (a + g)?,
                                None => g.clone(),
                            };
                            acc.insert(v.as_tensor(), sum);
                        }
                    }
                    acc
                }
            });
        }
        let grads = total.ok_or_else(|| MlError::Unsupported("an empty batch".into()))?;
        Ok((loss_sum, grads))
    }

    fn evaluate(&self, data: &Data, rows: &[usize], chunk: usize) -> Result<(f64, f64)> {
        let mut zs = Vec::with_capacity(rows.len());
        for part in rows.chunks(chunk) {
            let x = self.input(&data.gather(part, None), part.len())?;
            zs.push(self.logits(&x, false)?.detach());
        }
        let z = Tensor::cat(&zs, 0)?;
        data.score(&z, rows)
    }

    /// The chunk size (images per forward/backward pass) that fits the memory budget, or
    /// why nothing does.
    fn plan(&self, cfg: &FinetuneConfig) -> Result<usize> {
        let est = estimate(
            &self.net,
            &self.net_vars,
            self.pre.channels,
            cfg.size,
            self.cut,
        )?;
        let budget = if cfg.memory_mb > 0 {
            cfg.memory_mb as u64 * (1 << 20)
        } else {
            available_memory() / 4 * 3
        };
        let fixed = est.fixed_bytes;
        let per = est.per_image_bytes.max(1);
        let fits = budget.saturating_sub(fixed) / per;
        if fits == 0 {
            return Err(MlError::setting(
                "size",
                format!(
                    "this run needs about {:.1} GiB even one image at a time ({:.1} GiB of \
                     weights and optimiser state, {:.2} GiB per image) but {:.1} GiB are \
                     available: lower --size, or unfreeze fewer stages (--unfreeze)",
                    gib(fixed + per),
                    gib(fixed),
                    gib(per),
                    gib(budget)
                ),
            ));
        }
        Ok((fits as usize).min(cfg.batch.max(1)))
    }
}

/// `idx` in pieces of at most `chunk`, as even as possible (no piece of one image unless
/// `chunk` is 1: batch norm in training needs two values per channel).
fn even_chunks(idx: &[usize], chunk: usize) -> impl Iterator<Item = &[usize]> {
    let pieces = idx.len().div_ceil(chunk.max(1)).max(1);
    let (base, extra) = (idx.len() / pieces, idx.len() % pieces);
    let mut at = 0;
    (0..pieces).map(move |i| {
        let len = base + usize::from(i < extra);
        let piece = &idx[at..at + len];
        at += len;
        piece
    })
}

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

/// What a run needs: fixed (weights, gradients, AdamW's two moments, a best-epoch copy)
/// and per image in a forward/backward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MemoryEstimate {
    pub fixed_bytes: u64,
    pub per_image_bytes: u64,
}

/// Values kept for the backward pass per value a trained layer computes (its input, batch
/// norm's intermediates, ReLU, concatenations), as measured with `pairlab bench finetune`
/// at 224 px, batch 16 (docs/PERFORMANCE.md): ResNet-50 and DenseNet-121.
fn kept_per_value(net: &Net) -> u64 {
    match net {
        Net::ResNet(_) => 5,
        Net::DenseNet(_) => 5,
    }
}

fn estimate(
    net: &Net,
    vars: &VarMap,
    channels: usize,
    size: usize,
    cut: usize,
) -> Result<MemoryEstimate> {
    let (mut all, mut trained) = (0u64, 0u64);
    {
        let data = vars.data().lock().map_err(lock_err)?;
        for (n, v) in data.iter() {
            let e = v.elem_count() as u64;
            all += e;
            if !n.contains("running_") && stage_of(&net.arch(), n) >= cut {
                trained += e;
            }
        }
    }
    let values = computed_values(net, size);
    let kept: u64 = values.iter().skip(cut).sum::<u64>() * kept_per_value(net);
    // A frozen stage keeps nothing, but its largest stage is alive while it runs.
    let peak = values.iter().copied().max().unwrap_or(0) * 2 + (channels * size * size) as u64;
    Ok(MemoryEstimate {
        fixed_bytes: 4 * (2 * all + 3 * trained),
        per_image_bytes: 4 * (kept + peak),
    })
}

/// Values the layers of each stage compute for one image at `size` px (the output of every
/// convolution, and for DenseNet each layer's concatenated input).
fn computed_values(net: &Net, size: usize) -> Vec<u64> {
    let conv = |s: usize, k: usize, stride: usize| (s + 2 * (k / 2) - k) / stride + 1;
    let s1 = conv(size, 7, 2); // the stem's convolution
    let s2 = (s1 - 1) / 2 + 1; // its max pool
    let stem = match net {
        Net::ResNet(_) => 64,
        Net::DenseNet(d) => d.config().init_features,
    };
    let mut out = vec![(stem * s1 * s1 + stem * s2 * s2) as u64];
    match net {
        Net::ResNet(r) => {
            let c = r.config();
            let mut s = s2;
            for (k, &blocks) in c.blocks.iter().enumerate() {
                let w = 64usize << k;
                let first = s;
                if k > 0 {
                    s = (s - 1) / 2 + 1;
                }
                // A bottleneck computes w (at the input size), w, 4w and the sum; a basic
                // block w, w and the sum; the first block also its shortcut.
                let per = if c.bottleneck {
                    w * first * first + w * s * s + 4 * w * s * s * 2
                } else {
                    w * s * s * 3
                };
                let wide = if c.bottleneck { 4 * w } else { w };
                out.push((blocks * per + wide * s * s) as u64);
            }
        }
        Net::DenseNet(d) => {
            let c = d.config();
            let (mut ch, mut s) = (c.init_features, s2);
            for (i, &layers) in c.blocks.iter().enumerate() {
                let mut v = 0;
                for l in 0..layers {
                    let input = ch + l * c.growth;
                    v += (input + c.bn_size * c.growth + c.growth + input) * s * s;
                }
                ch += layers * c.growth;
                if i + 1 < c.blocks.len() {
                    v += ch * s * s + ch / 2 * s * s;
                    ch /= 2;
                    s /= 2;
                }
                out.push(v as u64);
            }
        }
    }
    out
}

/// MemAvailable from /proc/meminfo (8 GiB where it cannot be read).
fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(8 << 30)
}

/// A fine-tuned network: backbone, head and preprocessing.
pub struct Finetuned {
    /// The backbone's tensors by checkpoint name (running statistics included).
    tensors: Vec<(String, Tensor)>,
    net: Net,
    head: Linear,
    arch: Arch,
    pre: Preprocess,
    multi_label: bool,
    classes: usize,
    device: Device,
}

impl Finetuned {
    /// A checkpoint written by [`Model::save`] (a timm-layout folder).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let (weights, info, arch) = backbone::read(dir, device)?;
        let prefix = format!("{}.", arch.classifier_prefix());
        let tensors = weights
            .iter()
            .filter(|(k, _)| !k.starts_with(&prefix))
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        let net = Net::load(VarBuilder::from_tensors(weights, DType::F32, device), &arch).map_err(
            |e| {
                MlError::bad(
                    dir,
                    format!("the weights do not fit a {}: {e}", arch.name()),
                )
            },
        )?;
        let cfg: serde_json::Value = std::fs::read_to_string(dir.join("config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let multi_label = cfg["pairlab"]["multi_label"].as_bool().unwrap_or(false);
        let head = net
            .classifier()
            .cloned()
            .ok_or_else(|| MlError::bad(dir, "the checkpoint has no classifier"))?;
        let classes = arch.classes().unwrap_or(0);
        Ok(Finetuned {
            tensors,
            net,
            head,
            arch,
            pre: info.preprocess,
            multi_label,
            classes,
            device: device.clone(),
        })
    }
}

impl Model for Finetuned {
    fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| MlError::io(dir, e))?;
        let mut tensors = std::collections::HashMap::new();
        let mut put = |name: String, t: &Tensor| -> Result<()> {
            tensors.insert(name, t.to_device(&Device::Cpu)?.contiguous()?);
            Ok(())
        };
        for (name, t) in &self.tensors {
            put(name.clone(), t)?;
        }
        let prefix = self.arch.classifier_prefix();
        put(format!("{prefix}.weight"), self.head.weight())?;
        if let Some(b) = self.head.bias() {
            put(format!("{prefix}.bias"), b)?;
        }
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
        let p = &self.pre;
        let config = serde_json::json!({
            "architecture": self.arch.name(),
            "num_classes": self.classes,
            "num_features": self.arch.features(),
            "pretrained_cfg": {
                "input_size": [p.channels, p.size, p.size],
                "interpolation": p.interpolation,
                "crop_pct": p.crop_pct,
                "mean": p.mean,
                "std": p.std,
                "xrv_scaling": p.xrv,
            },
            "pairlab": { "trainer": "finetune", "multi_label": self.multi_label },
        });
        let text = serde_json::to_string_pretty(&config)
            .map_err(|e| MlError::Unsupported(e.to_string()))?;
        let path = dir.join("config.json");
        std::fs::write(&path, text).map_err(|e| MlError::io(path, e))
    }

    fn predict(&self, x: &[f32]) -> Result<Vec<f32>> {
        let s = self.pre.size as usize;
        let dim = self.pre.channels * s * s;
        let n = x.len() / dim.max(1);
        let mut out = Vec::with_capacity(n * self.classes);
        for rows in x.chunks(16 * dim) {
            let k = rows.len() / dim;
            let mut v = vec![0f32; rows.len()];
            self.pre.normalise(rows, &mut v);
            let t = Tensor::from_vec(v, (k, self.pre.channels, s, s), &self.device)?;
            let z = self.head.forward(&self.net.features(&t)?)?;
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

/// Figures of [`throughput`].
#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    pub arch: String,
    pub size: usize,
    pub batch: usize,
    pub steps: usize,
    pub images_per_s: f64,
    pub seconds_per_step: f64,
    /// The process's peak resident memory (VmHWM) after the steps.
    pub peak_rss_mb: f64,
    /// What the run planner estimated for one step of this batch.
    pub estimated_mb: f64,
}

/// Fine-tuning throughput: forward, backward and AdamW steps of `batch` random images on
/// random weights of `arch` at `size` px (one warm-up step first), everything trained
/// unless `unfreeze` says otherwise. For `pairlab bench finetune`.
pub fn throughput(
    arch: &Arch,
    size: usize,
    batch: usize,
    steps: usize,
    unfreeze: Unfreeze,
) -> Result<Throughput> {
    let dir = std::env::temp_dir().join(format!("pairlab-bench-{}", std::process::id()));
    let file = dir.join(format!("{}.safetensors", arch.name()));
    crate::random_weights::write_backbone(&file, arch, Some(7))?;
    let mut pre = Preprocess::imagenet(size as u32);
    pre.channels = arch.in_channels();
    let classes = 2;
    let n = batch * (steps + 1);
    let targets = Targets::MultiClass {
        values: (0..n).map(|i| Some(i % classes)).collect(),
        classes,
    };
    let cfg = FinetuneConfig {
        backbone: file.clone(),
        arch: arch.name(),
        unfreeze,
        size,
        batch,
        epochs: 1,
        lr: 1e-3,
        backbone_lr_factor: 0.1,
        weight_decay: 1e-4,
        patience: 1,
        seed: 1,
        uncertain: Uncertain::Ignore,
        augment: None,
        device: "cpu".into(),
        memory_mb: 0,
    };
    let tuner = Tuner::build(&file, &pre, &targets, &cfg, &Device::Cpu)?;
    let _ = std::fs::remove_dir_all(&dir);
    let dim = pre.channels * size * size;
    let mut rng = SplitMix64(3);
    let x: Vec<f32> = (0..n * dim).map(|_| 127.5 + 127.5 * rng.unit()).collect();
    let data = Data {
        x: &x,
        dim,
        targets: &targets,
        policy: Uncertain::Ignore,
    };
    let head_vars = tuner.head_vars.all_vars();
    let net_vars = tuner.trained_vars()?;
    let params = |lr| ParamsAdamW {
        lr,
        weight_decay: 1e-4,
        ..Default::default()
    };
    let mut opt_head = AdamW::new(head_vars.clone(), params(1e-3))?;
    let mut opt_net = AdamW::new(net_vars.clone(), params(1e-4))?;
    let all: Vec<Var> = head_vars.into_iter().chain(net_vars).collect();
    let est = estimate(&tuner.net, &tuner.net_vars, pre.channels, size, tuner.cut)?;
    let mut aug = SplitMix64(5);
    let idx: Vec<usize> = (0..n).collect();
    let mut started = Instant::now();
    for (k, b) in idx.chunks(batch).enumerate() {
        if k == 1 {
            started = Instant::now();
        }
        let (_, grads) = tuner.step(&data, b, batch, &cfg, &all, &mut aug)?;
        opt_head.step(&grads)?;
        opt_net.step(&grads)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0;
    Ok(Throughput {
        arch: arch.name(),
        size,
        batch,
        steps,
        images_per_s: (steps * batch) as f64 / secs,
        seconds_per_step: secs / steps.max(1) as f64,
        peak_rss_mb: peak,
        estimated_mb: (est.fixed_bytes + est.per_image_bytes * batch as u64) as f64
            / (1u64 << 20) as f64,
    })
}

/// What a `finetune` run will need, told before it starts (the Train view shows it).
#[derive(Clone, Debug, Serialize, TS)]
pub struct RunEstimate {
    pub arch: String,
    pub size: usize,
    pub unfreeze: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Memory the run needs at the chunk it will use (weights, optimiser state, activations).
    pub memory_mb: f64,
    /// Activations per image in a training pass.
    pub per_image_mb: f64,
    pub budget_mb: f64,
    /// Images per forward/backward pass (the batch, or less when it is accumulated); 0 when
    /// not even one image fits.
    pub chunk: usize,
    /// Seconds per epoch over `images` training images, from one timed forward pass scaled
    /// to the run's size and a training step's cost (a rough figure: ±50 %).
    pub seconds_per_epoch: f64,
    pub images: usize,
    /// Why the run cannot start, when it cannot.
    pub refused: Option<String>,
}

/// Estimates a `finetune` run on `images` training images: memory from the network's
/// shapes, time from one timed forward pass (random weights of the same shapes).
pub fn estimate_run(settings: &Settings, images: usize) -> Result<RunEstimate> {
    let cfg = config_of(settings)?;
    let spec = spec(settings)?;
    let device = settings.tune.device.device()?;
    let (_, _, arch) = backbone::read(&spec.path, &Device::Cpu)?;
    let arch = arch.with_classes(None);
    let vars = VarMap::new();
    let net = Net::load(
        VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu),
        &arch,
    )?;
    let stages = net.stages();
    let cut = match cfg.unfreeze {
        Unfreeze::Head => stages,
        Unfreeze::All => 0,
        Unfreeze::Last(n) => stages.saturating_sub(n),
    };
    let channels = spec.preprocess.channels;
    let est = estimate(&net, &vars, channels, cfg.size, cut)?;
    let budget = if cfg.memory_mb > 0 {
        cfg.memory_mb as u64 * (1 << 20)
    } else {
        available_memory() / 4 * 3
    };
    let fits = (budget.saturating_sub(est.fixed_bytes) / est.per_image_bytes.max(1)) as usize;
    let chunk = fits.min(cfg.batch);
    // One forward pass of two images at up to 64 px, scaled by area; a trained stage costs
    // about three forward passes (forward, and backward for inputs and weights).
    let probe = 64.min(cfg.size);
    let x = Tensor::zeros((2, channels, probe, probe), DType::F32, &Device::Cpu)?;
    net.features(&x)?;
    let t = Instant::now();
    net.features(&x)?;
    let fwd =
        t.elapsed().as_secs_f64() / 2.0 * (cfg.size * cfg.size) as f64 / (probe * probe) as f64;
    let trained = (stages - cut.min(stages)) as f64 / stages as f64;
    let per_image = fwd * (1.0 + 2.0 * trained);
    let mb = |b: u64| b as f64 / (1u64 << 20) as f64;
    let refused = (chunk == 0).then(|| {
        format!(
            "needs about {:.0} MiB even one image at a time, {:.0} MiB available: lower the image size or unfreeze fewer stages",
            mb(est.fixed_bytes + est.per_image_bytes),
            mb(budget)
        )
    });
    Ok(RunEstimate {
        arch: arch.name(),
        size: cfg.size,
        unfreeze: cfg.unfreeze.to_string(),
        device: DeviceChoice::name_of(&device).into(),
        memory_mb: mb(est.fixed_bytes + est.per_image_bytes * chunk.max(1) as u64),
        per_image_mb: mb(est.per_image_bytes),
        budget_mb: mb(budget),
        chunk,
        seconds_per_epoch: per_image * images as f64,
        images,
        refused,
    })
}

#[cfg(test)]
pub(super) fn estimate_for_tests(
    net: &Net,
    vars: &VarMap,
    channels: usize,
    size: usize,
    cut: usize,
) -> Result<MemoryEstimate> {
    estimate(net, vars, channels, size, cut)
}
