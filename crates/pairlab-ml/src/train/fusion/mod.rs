//! `fusion`: a pair's image and its report together. Image features are a registered
//! image model's embeddings (core computes missing ones first, as for `head`); report
//! features come from a frozen BERT-family text encoder (the `text` trainer's reader and
//! network); a joint module turns both into the classes.
//!
//! - **Rows** as core hands them over: the image embedding (`image_dim` values), 1 or 0
//!   (has an image embedding), then the report's token row ([`super::text::Reader`]: the
//!   count, then the ids; a count of 0 when the pair has no report). [`row_layout`] says
//!   where each part is.
//! - **Joint modules** ([`Fusion`]): `concat` (late fusion: image vector, the report's
//!   mean-pooled vector L2-normalised, and a present flag for each, into a one-hidden-layer
//!   MLP), `attention` (the image vector queries the report's token vectors, each
//!   L2-normalised; the attended vector stands for the report in the concatenation —
//!   keeping the pooled vector beside it was tried and overfitted the report side on a
//!   small corpus, ignoring the image).
//! - **Modality dropout**: while training, a pair that has both sides loses its image with
//!   probability 0.2 and its report with probability 0.2 (never both), so that the model
//!   learns to predict from either side alone: a pair without a report, or whose report is
//!   not written yet, is predicted from its image.
//! - **Views** for the ablation ([`Model::predict_views`]): the same model with the report
//!   masked (image only) and with the image masked (report only).
//! - The encoders stay frozen (their features are computed once per run); fine-tuning
//!   either side inside a fusion run is not supported yet (`--unfreeze` other than `head`
//!   is refused).

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Uncertain;
use super::finetune::{DeviceChoice, Unfreeze};
use super::fit::Event;
use super::text::Section;
use super::trainer::{Fit, Fitted, Input, Model, Part, Settings};
use crate::error::{MlError, Result};

mod model;
mod tuner;

pub use model::FusionModel;

/// The joint module.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// Concatenation into an MLP (late fusion).
    #[default]
    Concat,
    /// The image vector attends over the report's token vectors.
    Attention,
}

impl fmt::Display for Fusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fusion::Concat => "concat",
            Fusion::Attention => "attention",
        })
    }
}

impl FromStr for Fusion {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "concat" => Ok(Fusion::Concat),
            "attention" => Ok(Fusion::Attention),
            _ => Err(MlError::setting(
                "fusion",
                format!("fusion {s:?}: use concat or attention"),
            )),
        }
    }
}

/// Where the parts of a fusion row are: `(image_dim, token_offset)`; the row holds
/// `image_dim` embedding values, the image flag, then `1 + max_len` token values.
pub fn row_layout(dim: usize, max_len: usize) -> Option<(usize, usize)> {
    let image_dim = dim.checked_sub(max_len + 2)?;
    (image_dim > 0).then_some((image_dim, image_dim + 1))
}

/// A fusion row of a pair: its image embedding (or None) and its report's token row (or
/// None), as [`row_layout`] lays them out.
pub fn row(
    image: Option<&[f32]>,
    image_dim: usize,
    tokens: Option<&[f32]>,
    max_len: usize,
) -> Vec<f32> {
    let mut r = vec![0f32; image_dim + 2 + max_len];
    if let Some(v) = image {
        r[..image_dim].copy_from_slice(&v[..image_dim]);
        r[image_dim] = 1.0;
    }
    if let Some(t) = tokens {
        let n = t.len().min(max_len + 1);
        r[image_dim + 1..image_dim + 1 + n].copy_from_slice(&t[..n]);
    }
    r
}

/// A `fusion` run's configuration, stored with the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FusionConfig {
    pub fusion: Fusion,
    pub text_model: std::path::PathBuf,
    pub text_section: Section,
    pub max_len: usize,
    /// Hidden units of the joint module's MLP.
    pub hidden: usize,
    /// Width of the attention's queries, keys and values (`attention`).
    pub attention_dim: usize,
    /// Probability that a pair with both sides loses one of them in a training batch.
    pub drop_image: f64,
    pub drop_report: f64,
    pub batch: usize,
    pub epochs: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub patience: usize,
    pub seed: u64,
    pub uncertain: Uncertain,
    pub device: String,
}

pub(crate) fn config_of(settings: &Settings) -> Result<FusionConfig> {
    let text = super::text::config_of(settings)?;
    if settings.tune.unfreeze != Unfreeze::Head {
        return Err(MlError::setting(
            "unfreeze",
            format!(
                "unfreeze {}: a fusion run trains its joint module on frozen image embeddings \
                 and a frozen text encoder; fine-tune a side first (the finetune or text \
                 trainer) and fuse its features",
                settings.tune.unfreeze
            ),
        ));
    }
    Ok(FusionConfig {
        fusion: settings.text.fusion,
        text_model: text.text_model,
        text_section: text.text_section,
        max_len: text.max_len,
        hidden: if settings.hidden == 0 {
            256
        } else {
            settings.hidden
        },
        attention_dim: 128,
        drop_image: 0.2,
        drop_report: 0.2,
        batch: match settings.tune.batch {
            0 => 32,
            b => b,
        },
        epochs: settings.epochs,
        lr: settings.lr,
        weight_decay: 1e-4,
        patience: 10,
        seed: settings.seed,
        uncertain: settings.uncertain,
        device: DeviceChoice::name_of(&settings.tune.device.device()?).into(),
    })
}

/// The `fusion` trainer.
pub struct FusionTrainer;

impl Fit for FusionTrainer {
    fn about(&self) -> &'static str {
        "image embeddings (--model) and reports (--text-model) through a joint module"
    }

    fn default_lr(&self) -> f64 {
        1e-3
    }

    fn check(&self, settings: &Settings) -> Result<()> {
        if settings.hidden > 16_384 {
            return Err(MlError::setting(
                "hidden",
                format!("hidden {}: use at most 16384 units", settings.hidden),
            ));
        }
        if settings.tune.batch > 4096 {
            return Err(MlError::setting(
                "batch",
                format!("batch {}: use 1 to 4096 pairs", settings.tune.batch),
            ));
        }
        settings.tune.device.device().map(|_| ())
    }

    fn input(&self, settings: &Settings) -> Input {
        Input::ImageAndReport {
            model: settings.text.model.clone().unwrap_or_default(),
            section: settings.text.section,
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
        let Some((image_dim, _)) = row_layout(dim, cfg.max_len) else {
            return Err(MlError::Unsupported(format!(
                "fusion rows of {dim} values leave no room for an image embedding"
            )));
        };
        let device = settings.tune.device.device()?;
        tuner::fit(train, val, image_dim, &cfg, &device, observe)
    }

    fn load(&self, dir: &Path) -> Result<Box<dyn Model>> {
        Ok(Box::new(FusionModel::load(dir, &Device::Cpu)?))
    }
}

#[cfg(test)]
mod tests;
