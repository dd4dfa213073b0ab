//! Training a joint module: the features of every pair computed once (the encoders are
//! frozen), then AdamW with a cosine schedule, modality dropout and early stopping.

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use super::model::{Feats, FusionModel, Joint, TextSide, pad_tokens};
use super::{Fusion, FusionConfig};
use crate::error::{MlError, Result};
use crate::rng::SplitMix64;
use crate::train::fit::{Data, EarlyStop, Event};
use crate::train::trainer::{Fitted, Part};
use crate::train::{Targets, cosine_lr};

/// Every row's features, computed once.
struct Cached {
    img: Tensor,
    pi: Vec<f32>,
    txt: Tensor,
    pt: Vec<f32>,
    states: Vec<Tensor>,
}

impl Cached {
    /// The features of the rows `idx`; `drop` (per row: 0 keep, 1 drop the image, 2 drop
    /// the report) applies modality dropout.
    fn batch(
        &self,
        idx: &[usize],
        drop: Option<&[u8]>,
        attention: bool,
        device: &Device,
    ) -> Result<Feats> {
        let i: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
        let sel = Tensor::new(i, device)?;
        let (mut pi, mut pt): (Vec<f32>, Vec<f32>) =
            idx.iter().map(|&i| (self.pi[i], self.pt[i])).unzip();
        if let Some(d) = drop {
            for (k, what) in d.iter().enumerate() {
                match what {
                    1 => pi[k] = 0.0,
                    2 => pt[k] = 0.0,
                    _ => {}
                }
            }
        }
        let b = idx.len();
        Ok(Feats {
            img: self.img.index_select(&sel, 0)?,
            pi: Tensor::from_vec(pi, (b, 1), device)?,
            txt: self.txt.index_select(&sel, 0)?,
            pt: Tensor::from_vec(pt, (b, 1), device)?,
            tokens: if attention {
                Some(pad_tokens(&self.states, idx, self.txt.dim(1)?, device)?)
            } else {
                None
            },
        })
    }
}

fn cache(
    data: &Data,
    image_dim: usize,
    text: &TextSide,
    attention: bool,
    device: &Device,
) -> Result<Cached> {
    let n = data.targets.len();
    let tok = image_dim + 1;
    let (mut img, mut pi, mut tokens) = (
        Vec::with_capacity(n * image_dim),
        Vec::with_capacity(n),
        Vec::new(),
    );
    for r in data.x.chunks(data.dim).take(n) {
        img.extend_from_slice(&r[..image_dim]);
        pi.push(r[image_dim]);
        tokens.extend_from_slice(&r[tok..]);
    }
    let pt: Vec<f32> = tokens
        .chunks(text.max_len + 1)
        .map(|t| f32::from(t[0] >= 1.0))
        .collect();
    let (txt, states) = text.encode(&tokens, attention)?;
    Ok(Cached {
        img: Tensor::from_vec(img, (n, image_dim), device)?,
        pi,
        txt,
        pt,
        states,
    })
}

/// Seeded starting weights for every variable (candle's initialisation is unseeded):
/// uniform in ±1/√fan-in, biases zero.
fn seed_vars(vars: &VarMap, seed: u64) -> Result<()> {
    let mut rng = SplitMix64(seed ^ 0xF0_5E);
    let data = vars.data().lock().map_err(crate::train::lock_err)?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        if name.ends_with("weight") {
            let (out, inp) = var.dims2()?;
            let bound = 1.0 / (inp as f64).sqrt();
            let w: Vec<f32> = (0..out * inp)
                .map(|_| (bound * f64::from(rng.unit())) as f32)
                .collect();
            var.set(&Tensor::from_vec(w, (out, inp), var.device())?)?;
        } else {
            var.set(&var.zeros_like()?)?;
        }
    }
    Ok(())
}

/// What a training epoch runs over.
struct Pass<'a> {
    joint: &'a Joint,
    data: &'a Data<'a>,
    feats: &'a Cached,
    cfg: &'a FusionConfig,
    device: &'a Device,
}

impl Pass<'_> {
    /// One pass over the shuffled rows `order` in batches, with modality dropout for the
    /// pairs that have both sides; answers the mean batch loss.
    fn epoch(
        &self,
        order: &[usize],
        opt: &mut AdamW,
        rng: &mut SplitMix64,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<f64> {
        let cfg = self.cfg;
        let batch = cfg.batch.max(1);
        let (p_img, p_rep) = (
            (cfg.drop_image * 1000.0) as usize,
            (cfg.drop_report * 1000.0) as usize,
        );
        let attention = cfg.fusion == Fusion::Attention;
        let total = order.len().div_ceil(batch);
        let (mut sum, mut done) = (0.0, 0usize);
        for idx in order.chunks(batch) {
            let drop: Vec<u8> = idx
                .iter()
                .map(|&i| {
                    let r = rng.below(1000);
                    let both = self.feats.pi[i] > 0.0 && self.feats.pt[i] > 0.0;
                    match r {
                        _ if !both => 0,
                        r if r < p_img => 1,
                        r if r < p_img + p_rep => 2,
                        _ => 0,
                    }
                })
                .collect();
            let f = self.feats.batch(idx, Some(&drop), attention, self.device)?;
            let loss = self.data.loss_of(&self.joint.forward(&f)?, idx)?;
            opt.step(&loss.backward()?)?;
            sum += f64::from(loss.to_scalar::<f32>()?);
            done += 1;
            if !observe(Event::Batch {
                done,
                total,
                loss: sum / done as f64,
            }) {
                return Err(MlError::Cancelled);
            }
        }
        Ok(sum / done.max(1) as f64)
    }
}

fn data_of<'a>(p: Part<'a>, image_dim: usize, cfg: &FusionConfig) -> Data<'a> {
    Data {
        x: p.x,
        dim: image_dim + 2 + cfg.max_len,
        targets: p.targets,
        policy: cfg.uncertain,
    }
}

pub(super) fn fit(
    train: Part,
    val: Part,
    image_dim: usize,
    cfg: &FusionConfig,
    device: &Device,
    observe: &mut dyn FnMut(Event) -> bool,
) -> Result<Fitted> {
    let (tr, va) = (data_of(train, image_dim, cfg), data_of(val, image_dim, cfg));
    let mut order = tr.useful();
    if order.is_empty() {
        return Err(MlError::Unsupported("no labelled training pairs".into()));
    }
    let text = TextSide::load(&cfg.text_model, cfg.max_len, device)?;
    let attention = cfg.fusion == Fusion::Attention;
    let tr_feats = cache(&tr, image_dim, &text, attention, device)?;
    let va_feats = cache(&va, image_dim, &text, attention, device)?;
    let classes = train.targets.classes();
    let multi_label = matches!(train.targets, Targets::MultiLabel { .. });
    let meta = FusionModel::meta_of(cfg, image_dim, text.dim(), classes, multi_label);
    let vars = VarMap::new();
    let joint = Joint::load(VarBuilder::from_varmap(&vars, DType::F32, device), &meta)?;
    seed_vars(&vars, cfg.seed)?;
    let mut opt = AdamW::new(
        vars.all_vars(),
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let mut best = crate::train::snapshot(&[&vars])?;
    let mut rng = SplitMix64(cfg.seed ^ 0x5EED);
    let mut stop = EarlyStop::new(cfg.patience);
    let val_rows = va.useful();
    let pass = Pass {
        joint: &joint,
        data: &tr,
        feats: &tr_feats,
        cfg,
        device,
    };
    for epoch in 1..=cfg.epochs.max(1) {
        let started = Instant::now();
        let lr = cosine_lr(cfg.lr, epoch - 1, cfg.epochs);
        opt.set_learning_rate(lr);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        let train_loss = pass.epoch(&order, &mut opt, &mut rng, observe)?;
        let v = if val_rows.is_empty() {
            None
        } else {
            let mut zs = Vec::new();
            for part in val_rows.chunks(256) {
                zs.push(
                    joint
                        .forward(&va_feats.batch(part, None, attention, device)?)?
                        .detach(),
                );
            }
            Some(va.score(&Tensor::cat(&zs, 0)?, &val_rows)?)
        };
        let verdict = stop.record((epoch, lr, started), train_loss, v, observe)?;
        if verdict.improved {
            best = crate::train::snapshot(&[&vars])?;
        }
        if verdict.stop {
            break;
        }
    }
    // The best epoch's weights back in the variables the joint module reads.
    for (v, t) in &best {
        v.set(t)?;
    }
    let joint_tensors = vars
        .data()
        .lock()
        .map_err(crate::train::lock_err)?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let model = FusionModel {
        meta,
        joint,
        joint_tensors,
        text,
        text_dir: cfg.text_model.clone(),
        device: device.clone(),
    };
    Ok(Fitted {
        model: Box::new(model),
        history: stop.history,
        best_epoch: stop.best_epoch,
    })
}
