//! A text model being trained: the encoder's and the head's variables, the pooled vectors
//! of a frozen encoder computed once, the steps and epochs.

use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};

use super::TextConfig;
use super::model::TextModel;
use crate::bert_net::{BertNet, prefix_of};
use crate::error::{MlError, Result};
use crate::recompute::{self, WeightGrads};
use crate::rng::SplitMix64;
use crate::train::fit::{Data, EarlyStop, Event};
use crate::train::trainer::{Fitted, Part};
use crate::train::{Targets, cosine_lr};

use crate::train::lock_err;

/// Token rows (`[count, ids…]`) into an id tensor and its mask, padded to the longest.
pub(crate) fn batch_of(rows: &[f32], dim: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let n = rows.len() / dim.max(1);
    let len = rows
        .chunks(dim)
        .map(|r| (r[0] as usize).clamp(1, dim - 1))
        .max()
        .unwrap_or(1);
    let (mut ids, mut mask) = (vec![0u32; n * len], vec![0u32; n * len]);
    for (k, r) in rows.chunks(dim).enumerate() {
        let count = (r[0] as usize).min(len);
        for t in 0..count {
            ids[k * len + t] = r[1 + t] as u32;
            mask[k * len + t] = 1;
        }
    }
    Ok((
        Tensor::from_vec(ids, (n, len), device)?,
        Tensor::from_vec(mask, (n, len), device)?,
    ))
}

/// The encoder of `cfg.text_model` as training variables (every weight it needs checked).
pub(crate) fn encoder_vars(
    dir: &std::path::Path,
    bert: &crate::bert::Config,
    device: &Device,
) -> Result<(BertNet, VarMap)> {
    let weights = crate::encoder::load_weights(dir, device)?;
    let prefix = prefix_of(|k| weights.contains_key(k));
    let vars = VarMap::new();
    let net = BertNet::load(VarBuilder::from_varmap(&vars, DType::F32, device), bert)?;
    let data = vars.data().lock().map_err(lock_err)?;
    let mut missing = Vec::new();
    for (name, var) in data.iter() {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match weights.get(&key) {
            Some(t) if t.dims() == var.dims() => var.set(&t.to_dtype(DType::F32)?)?,
            _ => missing.push(key),
        }
    }
    drop(data);
    if !missing.is_empty() {
        missing.sort();
        return Err(MlError::bad(
            dir,
            format!(
                "weights missing or of the wrong shape: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok((net, vars))
}

/// A seeded linear head (candle's own initialisation is unseeded).
pub(crate) fn seeded_head(
    inputs: usize,
    classes: usize,
    seed: u64,
    device: &Device,
) -> Result<(Linear, VarMap)> {
    let vars = VarMap::new();
    let head = candle_nn::linear(
        inputs,
        classes,
        VarBuilder::from_varmap(&vars, DType::F32, device).pp("classifier"),
    )?;
    let bound = 1.0 / (inputs as f64).sqrt();
    let mut rng = SplitMix64(seed ^ 0x7E_47);
    let data = vars.data().lock().map_err(lock_err)?;
    for (name, var) in data.iter() {
        if name.ends_with("weight") {
            let w: Vec<f32> = (0..classes * inputs)
                .map(|_| (bound * f64::from(rng.unit())) as f32)
                .collect();
            var.set(&Tensor::from_vec(w, (classes, inputs), device)?)?;
        } else {
            var.set(&var.zeros_like()?)?;
        }
    }
    drop(data);
    Ok((head, vars))
}

pub(super) struct TextTuner {
    net: Arc<BertNet>,
    net_vars: VarMap,
    /// Each stage's variables, by stage.
    stage_vars: Vec<Vec<Var>>,
    /// Gradients of the layers recomputed in the backward pass (see `recomputes`).
    found: WeightGrads,
    /// The activations a training batch may keep, in bytes.
    budget: usize,
    head: Linear,
    head_vars: VarMap,
    /// Stages below this one are frozen (all of them: the head trains alone).
    cut: usize,
    multi_label: bool,
    classes: usize,
    device: Device,
}

impl TextTuner {
    pub(super) fn build(cfg: &TextConfig, targets: &Targets, device: &Device) -> Result<Self> {
        let bert = super::bert_config(&cfg.text_model)?;
        let (net, net_vars) = encoder_vars(&cfg.text_model, &bert, device)?;
        let classes = targets.classes();
        let (head, head_vars) = seeded_head(net.hidden(), classes, cfg.seed, device)?;
        let cut = cfg.unfreeze.cut(net.stages());
        let mut stage_vars = vec![Vec::new(); net.stages()];
        {
            let data = net_vars.data().lock().map_err(lock_err)?;
            let mut named: Vec<(&String, &Var)> = data.iter().collect();
            named.sort_by(|a, b| a.0.cmp(b.0));
            for (name, var) in named {
                if let Some(vars) = stage_vars.get_mut(BertNet::stage_of(name)) {
                    vars.push(var.clone());
                }
            }
        }
        let budget = activation_budget(cfg.memory_mb, &stage_vars, cut);
        Ok(TextTuner {
            net: Arc::new(net),
            net_vars,
            stage_vars,
            found: WeightGrads::default(),
            budget,
            head,
            head_vars,
            cut,
            multi_label: matches!(targets, Targets::MultiLabel { .. }),
            classes,
            device: device.clone(),
        })
    }

    fn frozen(&self) -> bool {
        self.cut >= self.net.stages()
    }

    /// Pooled vectors of the rows; frozen stages keep no graph, and trained layers above
    /// the first recompute their activations in the backward pass when the batch's would
    /// not fit the budget (`recomputes`).
    fn pooled(&self, rows: &[f32], dim: usize, train: bool) -> Result<Tensor> {
        let (ids, mask) = batch_of(rows, dim, &self.device)?;
        let bias = BertNet::attention_bias(&mask)?;
        let (n, len) = ids.dims2()?;
        let recomputing = train && self.recomputes(n, len);
        let mut h = ids;
        for k in 0..self.net.stages() {
            let trains = train && k >= self.cut;
            h = if recomputing && trains && k > self.cut {
                let (net, bias) = (self.net.clone(), bias.clone());
                let stage: recompute::Stage = Arc::new(move |x| net.stage(k, x, &bias, true));
                recompute::run(&h, stage, self.stage_vars[k].clone(), &self.found)?
            } else {
                self.net.stage(k, &h, &bias, trains)?
            };
            if !trains {
                h = h.detach();
            }
        }
        Ok(BertNet::mean_pool(&h, &mask)?)
    }

    /// Whether a training batch of `n` reports × `len` tokens would keep more activations
    /// for the backward pass than the budget (see `activation_budget`): about 4 bytes × n
    /// × len × (3 × heads × len + 12 × hidden + 2 × intermediate) per trained layer (three
    /// attention matrices per head, a dozen hidden-wide and two feed-forward-wide tensors
    /// per token).
    fn recomputes(&self, n: usize, len: usize) -> bool {
        let c = self.net.config();
        let layers = self.net.stages().saturating_sub(self.cut.max(1));
        let per_token =
            3 * c.num_attention_heads * len + 12 * c.hidden_size + 2 * c.intermediate_size;
        let need = 4 * n * len * per_token * layers;
        need > self.budget
    }

    /// The same tuner with another activation budget, in bytes.
    #[cfg(test)]
    pub(super) fn with_budget(self, budget: usize) -> Self {
        TextTuner { budget, ..self }
    }

    #[cfg(test)]
    pub(super) fn budget(&self) -> usize {
        self.budget
    }

    /// What the recomputed layers have delivered (shared: it counts on during `fit`).
    #[cfg(test)]
    pub(super) fn recomputed(&self) -> WeightGrads {
        self.found.clone()
    }

    /// Every row's pooled vector with the encoder frozen, in pieces.
    fn pool_all(&self, data: &Data) -> Result<Tensor> {
        let n = data.targets.len();
        let mut parts = Vec::new();
        for start in (0..n).step_by(32) {
            let idx: Vec<usize> = (start..(start + 32).min(n)).collect();
            parts.push(self.pooled(&data.gather(&idx, None), data.dim, false)?);
        }
        if parts.is_empty() {
            return Ok(Tensor::zeros(
                (0, self.net.hidden()),
                DType::F32,
                &self.device,
            )?);
        }
        Ok(Tensor::cat(&parts, 0)?)
    }

    /// Logits of the rows `idx`: from the cached pooled vectors when the encoder is frozen.
    fn logits(
        &self,
        data: &Data,
        cache: Option<&Tensor>,
        idx: &[usize],
        train: bool,
    ) -> Result<Tensor> {
        let f = match cache {
            Some(c) => {
                let i: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
                c.index_select(&Tensor::new(i, &self.device)?, 0)?
            }
            None => self.pooled(&data.gather(idx, None), data.dim, train)?,
        };
        Ok(self.head.forward(&f)?)
    }

    fn trained_vars(&self) -> Vec<Var> {
        self.stage_vars[self.cut.min(self.stage_vars.len())..].concat()
    }

    fn snapshot(&self) -> Result<Vec<(Var, Tensor)>> {
        crate::train::snapshot(&[&self.net_vars, &self.head_vars])
    }

    /// One pass over the shuffled training rows in batches; answers the mean batch loss.
    fn epoch(
        &self,
        tr: &Data,
        cache: Option<&Tensor>,
        (order, batch): (&[usize], usize),
        [opt_head, opt_net]: [&mut AdamW; 2],
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<f64> {
        let total = order.len().div_ceil(batch);
        let (mut sum, mut done) = (0.0, 0usize);
        for idx in order.chunks(batch) {
            let z = self.logits(tr, cache, idx, true)?;
            let loss = tr.loss_of(&z, idx)?;
            let mut grads = loss.backward()?;
            self.found.add_into(&mut grads)?;
            opt_head.step(&grads)?;
            if self.cut < self.net.stages() {
                opt_net.step(&grads)?;
            }
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

    pub(super) fn fit(
        self,
        train: Part,
        val: Part,
        dim: usize,
        cfg: &TextConfig,
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
            return Err(MlError::Unsupported("no labelled training reports".into()));
        }
        let val_rows = va.useful();
        // A frozen encoder runs once over every report.
        let (tr_cache, va_cache) = if self.frozen() {
            (Some(self.pool_all(&tr)?), Some(self.pool_all(&va)?))
        } else {
            (None, None)
        };
        let params = |lr| ParamsAdamW {
            lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        };
        let head_vars = self.head_vars.all_vars();
        let net_vars = self.trained_vars();
        let mut opt_head = AdamW::new(head_vars.clone(), params(cfg.lr))?;
        let mut opt_net = AdamW::new(net_vars.clone(), params(cfg.lr * cfg.encoder_lr_factor))?;
        let mut rng = SplitMix64(cfg.seed ^ 0x5EED);
        let mut stop = EarlyStop::new(cfg.patience);
        let mut snap = self.snapshot()?;
        let batch = cfg.batch.max(1);
        for epoch in 1..=cfg.epochs.max(1) {
            let started = Instant::now();
            let lr = cosine_lr(cfg.lr, epoch - 1, cfg.epochs);
            opt_head.set_learning_rate(lr);
            opt_net.set_learning_rate(lr * cfg.encoder_lr_factor);
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            let opts = [&mut opt_head, &mut opt_net];
            let train_loss = self.epoch(&tr, tr_cache.as_ref(), (&order, batch), opts, observe)?;
            let v = if val_rows.is_empty() {
                None
            } else {
                let mut zs = Vec::new();
                for part in val_rows.chunks(32) {
                    zs.push(self.logits(&va, va_cache.as_ref(), part, false)?.detach());
                }
                Some(va.score(&Tensor::cat(&zs, 0)?, &val_rows)?)
            };
            let verdict = stop.record((epoch, lr, started), train_loss, v, observe)?;
            if verdict.improved {
                snap = self.snapshot()?;
            }
            if verdict.stop {
                break;
            }
        }
        for (v, t) in &snap {
            v.set(t)?;
        }
        let tensors = {
            let data = self.net_vars.data().lock().map_err(lock_err)?;
            data.iter()
                .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                .collect()
        };
        Ok(Fitted {
            model: Box::new(TextModel {
                tensors,
                net: self.net,
                head: self.head,
                source: cfg.text_model.clone(),
                max_len: cfg.max_len,
                section: cfg.text_section,
                multi_label: self.multi_label,
                classes: self.classes,
                device: self.device,
            }),
            history: stop.history,
            best_epoch: stop.best_epoch,
        })
    }
}

/// The activations a training batch may keep, in bytes: 1 GiB by default; with a memory
/// budget (`--memory-mb`), what it leaves beside the weights (4 bytes each) and, for the
/// trained ones, their gradient and AdamW's two moments.
fn activation_budget(memory_mb: usize, stage_vars: &[Vec<Var>], cut: usize) -> usize {
    if memory_mb == 0 {
        return 1 << 30;
    }
    let held: usize = stage_vars
        .iter()
        .enumerate()
        .flat_map(|(k, vars)| {
            let copies = if k >= cut { 4 } else { 1 };
            vars.iter().map(move |v| 4 * copies * v.elem_count())
        })
        .sum();
    (memory_mb << 20).saturating_sub(held)
}
