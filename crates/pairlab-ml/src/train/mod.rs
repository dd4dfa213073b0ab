//! Training: classifiers trained with candle-nn (AdamW, cosine learning-rate schedule,
//! early stopping on validation loss), seeded and reproducible, behind one interface
//! ([`Trainer`], [`Fit`]): `head` trains a linear or small MLP classifier on stored
//! embeddings, `cnn` a small convolutional network on the images, `finetune` a pretrained
//! image backbone, `text` a BERT-family encoder on the reports.

pub mod cnn;
mod cnn_step;
mod conv;
#[cfg(test)]
mod conv_graph;
pub mod finetune;
#[cfg(test)]
mod finetune_tests;
#[cfg(test)]
mod finetune_vit_tests;
mod fit;
pub mod fusion;
pub mod head;
pub mod loss;
pub mod text;
mod trainer;

pub use fit::Event;
pub use trainer::{Fit, Fitted, Input, Model, Part, Settings, Trainer, Views};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What to do with uncertain (−1) labels in a multi-label schema (CheXpert's policies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Uncertain {
    /// U-Ignore: no loss for them.
    Ignore,
    /// U-Zeros: counted as negative.
    Zeros,
    /// U-Ones: counted as positive.
    Ones,
}

/// Training targets.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// `values[i * classes + c]`: 1, 0, −1 (uncertain) or NaN (blank: no loss).
    MultiLabel { values: Vec<f32>, classes: usize },
    /// One class index per sample, or None (no loss).
    MultiClass {
        values: Vec<Option<usize>>,
        classes: usize,
    },
}

impl Targets {
    pub fn classes(&self) -> usize {
        match self {
            Targets::MultiLabel { classes, .. } | Targets::MultiClass { classes, .. } => *classes,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Targets::MultiLabel { values, classes } => values.len() / (*classes).max(1),
            Targets::MultiClass { values, .. } => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Validation accuracy (multi-label: of the labelled entries at 0.5); None without a
    /// validation part.
    pub val_accuracy: Option<f64>,
    /// Multi-label: the macro validation AUROC over the classes with both values among
    /// their labelled entries; None for multi-class or without a validation part.
    #[serde(default)]
    pub val_auroc: Option<f64>,
    pub lr: f64,
    pub seconds: f64,
}

/// The error of a poisoned weights lock (a thread panicked while holding a `VarMap`).
pub(crate) fn lock_err<T>(_: T) -> crate::MlError {
    crate::MlError::Unsupported("a weights lock was poisoned".into())
}

/// A copy of every variable of `maps` (the best epoch's weights, set back at the end).
pub(crate) fn snapshot(
    maps: &[&candle_nn::VarMap],
) -> crate::error::Result<Vec<(candle_core::Var, candle_core::Tensor)>> {
    let mut out = Vec::new();
    for vm in maps {
        let data = vm.data().lock().map_err(lock_err)?;
        for v in data.values() {
            out.push((v.clone(), v.as_tensor().copy()?));
        }
    }
    Ok(out)
}

/// Cosine decay from `lr` to `lr / 100` over `total` epochs.
pub fn cosine_lr(lr: f64, epoch: usize, total: usize) -> f64 {
    let t = epoch as f64 / total.max(1) as f64;
    let min = lr / 100.0;
    min + 0.5 * (lr - min) * (1.0 + (std::f64::consts::PI * t).cos())
}
