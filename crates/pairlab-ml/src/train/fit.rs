//! The training loop of a [`Head`]: AdamW with a cosine schedule, early stopping on
//! validation loss (the best epoch's weights are kept), seeded end to end.
//!
//! Batches are put together (gathered and, for images, augmented) on a second thread while
//! the optimiser works on the previous one. (Running the two halves of a batch side by side
//! and combining their gradients was tried: on 2 cores it was 25 % slower than one batch
//! with candle's own parallel kernels.)

use std::sync::mpsc::sync_channel;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use super::cnn_step;
use super::head::{Head, HeadConfig, HeadShape, ImageInput};
use super::loss::{bce_targets, cross_entropy, cross_entropy_grad, masked_bce, masked_bce_grad};
use super::{EpochMetrics, Targets, Uncertain, cosine_lr};
use crate::error::{MlError, Result};
use crate::rng::SplitMix64;

/// Inputs and targets of one part (train or validation), borrowed from the caller.
pub(super) struct Data<'a> {
    pub x: &'a [f32],
    pub dim: usize,
    pub targets: &'a Targets,
    pub policy: Uncertain,
}

/// A random horizontal flip and a shift of up to 2 px (zero fill) of one image.
pub(super) fn augment(img: &[f32], input: ImageInput, rng: &mut SplitMix64) -> Vec<f32> {
    let flip = rng.below(2) == 1;
    let dx = rng.below(5) as isize - 2;
    let dy = rng.below(5) as isize - 2;
    shift_flip(img, input, flip, dx, dy)
}

/// The image flipped left–right (when `flip`), then moved by (dx, dy) pixels.
pub(super) fn shift_flip(
    img: &[f32],
    input: ImageInput,
    flip: bool,
    dx: isize,
    dy: isize,
) -> Vec<f32> {
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

impl Data<'_> {
    fn rows(&self) -> usize {
        self.targets.len()
    }

    /// The rows `idx`, augmented when `aug` is given.
    pub(super) fn gather(
        &self,
        idx: &[usize],
        aug: Option<(ImageInput, &mut SplitMix64)>,
    ) -> Vec<f32> {
        let mut xs = Vec::with_capacity(idx.len() * self.dim);
        let row = |i: usize| &self.x[i * self.dim..(i + 1) * self.dim];
        match aug {
            Some((input, rng)) => idx
                .iter()
                .for_each(|&i| xs.extend(augment(row(i), input, rng))),
            None => idx.iter().for_each(|&i| xs.extend_from_slice(row(i))),
        }
        xs
    }

    /// The targets of the rows `idx`.
    fn batch_targets(&self, idx: &[usize]) -> BatchTargets {
        match self.targets {
            Targets::MultiLabel { values, classes } => {
                let mut v = Vec::with_capacity(idx.len() * classes);
                for &i in idx {
                    v.extend_from_slice(&values[i * classes..(i + 1) * classes]);
                }
                let (t, m) = bce_targets(&v, self.policy);
                BatchTargets::Masked(t, m)
            }
            Targets::MultiClass { values, .. } => {
                BatchTargets::Classes(idx.iter().map(|&i| values[i].unwrap_or(0) as u32).collect())
            }
        }
    }

    /// The loss of logits `z` of the rows `idx`.
    pub(super) fn loss_of(&self, z: &Tensor, idx: &[usize]) -> Result<Tensor> {
        let d = z.device().clone();
        Ok(match self.batch_targets(idx) {
            BatchTargets::Masked(t, m) => {
                let shape = (idx.len(), self.targets.classes());
                masked_bce(
                    z,
                    &Tensor::from_vec(t, shape, &d)?,
                    &Tensor::from_vec(m, shape, &d)?,
                )?
            }
            BatchTargets::Classes(y) => cross_entropy(z, &Tensor::new(y, &d)?)?,
        })
    }

    /// The loss of logits `z` (row-major) of the rows `idx`, with its gradient.
    fn loss_grad(&self, z: &[f32], idx: &[usize]) -> (f64, Vec<f32>) {
        match self.batch_targets(idx) {
            BatchTargets::Masked(t, m) => masked_bce_grad(z, &t, &m),
            BatchTargets::Classes(y) => cross_entropy_grad(z, self.targets.classes(), &y),
        }
    }

    /// The validation figures of the rows `idx` (see [`ValScore`]), without gradients.
    fn evaluate(&self, head: &Head, idx: &[usize]) -> Result<ValScore> {
        let z = head.logits_no_grad(&self.gather(idx, None))?;
        self.score(&z, idx)
    }

    /// The validation figures of the logits `z` of the rows `idx` (see [`ValScore`]).
    pub(super) fn score(&self, z: &Tensor, idx: &[usize]) -> Result<ValScore> {
        let loss = f64::from(self.loss_of(z, idx)?.to_scalar::<f32>()?);
        let z = z.to_vec2::<f32>()?;
        let (mut right, mut total) = (0usize, 0usize);
        // Multi-label: each class's labelled entries, (logit, positive), for its AUROC.
        let mut per_class: Vec<(Vec<f32>, Vec<bool>)> =
            vec![Default::default(); self.targets.classes()];
        for (row, &i) in z.iter().zip(idx) {
            match self.targets {
                Targets::MultiClass { values, .. } => {
                    let best = (0..row.len()).fold(0, |b, k| if row[k] > row[b] { k } else { b });
                    right += usize::from(values[i] == Some(best));
                    total += 1;
                }
                Targets::MultiLabel { values, classes } => {
                    let (t, m) = bce_targets(&values[i * classes..(i + 1) * classes], self.policy);
                    for k in 0..*classes {
                        if m[k] > 0.0 {
                            right += usize::from((row[k] > 0.0) == (t[k] > 0.5));
                            total += 1;
                            per_class[k].0.push(row[k]);
                            per_class[k].1.push(t[k] > 0.5);
                        }
                    }
                }
            }
        }
        let aurocs: Vec<f64> = per_class
            .iter()
            .filter_map(|(s, l)| crate::metrics::roc_auc(s, l))
            .collect();
        let auroc = match self.targets {
            Targets::MultiLabel { .. } if !aurocs.is_empty() => {
                Some(aurocs.iter().sum::<f64>() / aurocs.len() as f64)
            }
            _ => None,
        };
        Ok(ValScore {
            loss,
            accuracy: right as f64 / total.max(1) as f64,
            auroc,
        })
    }

    /// How many terms the loss of the rows `idx` averages over: labelled entries (after the
    /// uncertain-label policy) for multi-label, rows for multi-class.
    pub(super) fn loss_terms(&self, idx: &[usize]) -> f64 {
        match self.batch_targets(idx) {
            BatchTargets::Masked(_, m) => m.iter().map(|v| f64::from(*v)).sum(),
            BatchTargets::Classes(y) => y.len() as f64,
        }
    }

    /// Rows that carry a loss (multi-class rows without a class carry none).
    pub(super) fn useful(&self) -> Vec<usize> {
        match self.targets {
            Targets::MultiClass { values, .. } => {
                (0..values.len()).filter(|&i| values[i].is_some()).collect()
            }
            Targets::MultiLabel { .. } => (0..self.rows()).collect(),
        }
    }
}

/// The targets of one batch: class indices, or BCE targets with their mask.
enum BatchTargets {
    Classes(Vec<u32>),
    Masked(Vec<f32>, Vec<f32>),
}

/// Forward and backward pass of one batch (`xs` are its gathered rows `idx`): the loss
/// and its gradients, by hand for a `cnn` and through autograd for an MLP head.
fn step(head: &Head, data: &Data, xs: Vec<f32>, idx: &[usize]) -> Result<(f64, GradStore)> {
    if head.shape.image.is_some() {
        return cnn_step::step(head, xs, idx.len(), |z| data.loss_grad(z, idx));
    }
    autograd_step(head, data, xs, idx)
}

/// [`step`] through candle's autograd.
fn autograd_step(
    head: &Head,
    data: &Data,
    xs: Vec<f32>,
    idx: &[usize],
) -> Result<(f64, GradStore)> {
    let x = Tensor::from_vec(xs, (idx.len(), data.dim), &Device::Cpu)?;
    let loss = data.loss_of(&head.logits(&x)?, idx)?;
    let grads = loss.backward()?;
    Ok((f64::from(loss.to_scalar::<f32>()?), grads))
}

/// An epoch's validation figures: the loss, the accuracy (multi-class: of the rows; multi-
/// label: of the labelled entries at 0.5, which says little when most entries are
/// negative) and for multi-label the macro AUROC over the classes whose labelled entries
/// hold both values.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ValScore {
    pub loss: f64,
    pub accuracy: f64,
    pub auroc: Option<f64>,
}

/// Early stopping on the validation loss, shared by the trainers' loops: keeps the
/// history, says when an epoch is the best so far (its weights are to be kept) and when to
/// stop, and reports every epoch to `observe` (false cancels).
pub(super) struct EarlyStop {
    best: f64,
    pub best_epoch: usize,
    wait: usize,
    patience: usize,
    pub history: Vec<EpochMetrics>,
}

/// What an epoch's figures decide.
pub(super) struct Verdict {
    /// The best validation loss so far: keep these weights.
    pub improved: bool,
    /// No better epoch for `patience` epochs.
    pub stop: bool,
}

impl EarlyStop {
    pub fn new(patience: usize) -> Self {
        EarlyStop {
            best: f64::INFINITY,
            best_epoch: 0,
            wait: 0,
            patience: patience.max(1),
            history: Vec::new(),
        }
    }

    /// Records an epoch: its validation figures are `val`, or the training loss when there
    /// is no validation part.
    pub fn record(
        &mut self,
        (epoch, lr, started): (usize, f64, Instant),
        train_loss: f64,
        val: Option<ValScore>,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<Verdict> {
        let (val_loss, val_accuracy, val_auroc) = match val {
            Some(v) => (v.loss, Some(v.accuracy), v.auroc),
            None => (train_loss, None, None),
        };
        let m = EpochMetrics {
            epoch,
            train_loss,
            val_loss,
            val_accuracy,
            val_auroc,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        let improved = val_loss < self.best - 1e-6;
        if improved {
            self.best = val_loss;
            self.best_epoch = epoch;
            self.wait = 0;
        } else {
            self.wait += 1;
        }
        let go_on = observe(Event::Epoch(&m));
        self.history.push(m);
        if !go_on {
            return Err(MlError::Cancelled);
        }
        Ok(Verdict {
            improved,
            stop: self.wait >= self.patience,
        })
    }
}

/// What training produced.
pub struct Trained {
    pub head: Head,
    pub history: Vec<EpochMetrics>,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
}

/// What a training run reports while it runs.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// `done` of the epoch's `total` batches are through; `loss` is their mean so far.
    Batch {
        done: usize,
        total: usize,
        loss: f64,
    },
    /// An epoch ended with these figures.
    Epoch(&'a EpochMetrics),
}

/// Trains a head. `observe` sees every batch and epoch and returns false to cancel (the
/// run then ends with [`MlError::Cancelled`] after the current batch).
pub fn train(
    x: &[f32],
    targets: &Targets,
    x_val: &[f32],
    val_targets: &Targets,
    dim: usize,
    cfg: &HeadConfig,
    observe: &mut dyn FnMut(Event) -> bool,
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
    let part = |x, targets| Data {
        x,
        dim,
        targets,
        policy: cfg.uncertain,
    };
    let (train, val) = (part(x, targets), part(x_val, val_targets));
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
    let mut stop = EarlyStop::new(cfg.patience);
    let mut snap = head.snapshot()?;
    for epoch in 1..=cfg.epochs.max(1) {
        let started = Instant::now();
        let lr = cosine_lr(cfg.lr, epoch - 1, cfg.epochs);
        opt.set_learning_rate(lr);
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        // Flips and shifts of this epoch come from a generator of its own, so the batches
        // are the same whichever thread puts them together.
        let aug_rng = SplitMix64(rng.next_u64());
        let (sum, batches) = train_epoch(&head, &mut opt, &train, &order, cfg, aug_rng, observe)?;
        let train_loss = sum / batches.max(1) as f64;
        let v = if val_rows.is_empty() {
            None
        } else {
            Some(val.evaluate(&head, &val_rows)?)
        };
        let verdict = stop.record((epoch, lr, started), train_loss, v, observe)?;
        if verdict.improved {
            snap = head.snapshot()?;
        }
        if verdict.stop {
            break;
        }
    }
    head.restore(&snap)?;
    Ok(Trained {
        head,
        history: stop.history,
        best_epoch: stop.best_epoch,
    })
}

/// One epoch's pass over the shuffled training rows: one thread gathers (and augments) the
/// batches while this one steps the optimiser; answers the summed loss and the batches.
fn train_epoch(
    head: &Head,
    opt: &mut AdamW,
    train: &Data,
    order: &[usize],
    cfg: &HeadConfig,
    mut aug_rng: SplitMix64,
    observe: &mut dyn FnMut(Event) -> bool,
) -> Result<(f64, usize)> {
    let batch = cfg.batch.max(1);
    std::thread::scope(|s| -> Result<(f64, usize)> {
        let (tx, rx) = sync_channel::<Vec<f32>>(4);
        s.spawn(move || {
            for idx in order.chunks(batch) {
                let aug = cfg.image.map(|input| (input, &mut aug_rng));
                if tx.send(train.gather(idx, aug)).is_err() {
                    return; // the optimiser stopped
                }
            }
        });
        let (mut sum, mut batches) = (0.0, 0);
        let total = order.len().div_ceil(batch);
        for (idx, xs) in order.chunks(batch).zip(rx.iter()) {
            let (loss, grads) = step(head, train, xs, idx)?;
            opt.step(&grads)?;
            sum += loss;
            batches += 1;
            let loss = sum / batches as f64;
            if !observe(Event::Batch {
                done: batches,
                total,
                loss,
            }) {
                return Err(MlError::Cancelled);
            }
        }
        Ok((sum, batches))
    })
}
