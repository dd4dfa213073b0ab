//! The trainers behind one interface. [`Trainer`] names them (as typed on the command line,
//! sent by the UI and stored in a run's row); [`Fit`] is what each one does, in a module of
//! its own: say which inputs it learns from, check and record its settings, fit a
//! [`Model`] on prepared rows, load a saved one. Core prepares the inputs (it holds the
//! library), runs the loop through [`Fit::fit`] and stores what comes back.
//!
//! Adding a trainer: a module with a unit struct implementing [`Fit`], a variant here (with
//! its name in [`Trainer::name`] and its struct in [`Trainer::fitter`]) and, when it needs
//! inputs no trainer had before, an [`Input`] variant that core learns to load.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::finetune::{FinetuneTrainer, Tune};
use super::fit::Event;
use super::fusion::FusionTrainer;
use super::text::{Section, TextSettings, TextTrainer};
use super::{EpochMetrics, Targets, Uncertain, cnn, head};
use crate::backbone::Preprocess;
use crate::error::Result;

/// A trainer, by name: `head`, `cnn`, `finetune`, `text` or `fusion`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Trainer {
    /// A linear or small MLP classifier on a model's image embeddings.
    Head,
    /// A small convolutional network trained from scratch on grey images.
    Cnn,
    /// A pretrained ResNet, DenseNet or ViT / CLIP image tower fine-tuned with a new head.
    Finetune,
    /// A BERT-family encoder with a classification head on the reports.
    Text,
    /// Image embeddings and reports through a joint module.
    Fusion,
}

impl Trainer {
    /// Every trainer, in the order they are offered.
    pub const ALL: [Trainer; 5] = [
        Trainer::Head,
        Trainer::Cnn,
        Trainer::Finetune,
        Trainer::Text,
        Trainer::Fusion,
    ];

    /// The name as typed, sent and stored (`runs.trainer`).
    pub fn name(self) -> &'static str {
        match self {
            Trainer::Head => "head",
            Trainer::Cnn => "cnn",
            Trainer::Finetune => "finetune",
            Trainer::Text => "text",
            Trainer::Fusion => "fusion",
        }
    }

    /// What the trainer does.
    pub fn fitter(self) -> &'static dyn Fit {
        match self {
            Trainer::Head => &head::HeadTrainer,
            Trainer::Cnn => &cnn::CnnTrainer,
            Trainer::Finetune => &FinetuneTrainer,
            Trainer::Text => &TextTrainer,
            Trainer::Fusion => &FusionTrainer,
        }
    }

    /// The learning rate it uses unless told otherwise.
    pub fn default_lr(self) -> f64 {
        self.fitter().default_lr()
    }
}

impl fmt::Display for Trainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Trainer {
    /// What to type instead.
    type Err = crate::MlError;

    fn from_str(s: &str) -> Result<Self> {
        if let Some(t) = Trainer::ALL.into_iter().find(|t| t.name() == s) {
            return Ok(t);
        }
        let known: Vec<String> = Trainer::ALL
            .iter()
            .map(|t| format!("{t} ({})", t.fitter().about()))
            .collect();
        Err(crate::MlError::setting(
            "trainer",
            format!("trainer {s:?}: use {}", known.join(" or ")),
        ))
    }
}

/// What a trainer is asked for: the command line's and the API's settings, less what core
/// resolves itself (schema, split, the model whose embeddings are used). A trainer reads
/// the ones it knows and ignores the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub epochs: usize,
    pub lr: f64,
    /// Hidden units of an MLP classifier (0 = linear).
    pub hidden: usize,
    /// Images are resized to `size × size` pixels (0: the trainer's default).
    pub size: usize,
    pub uncertain: Uncertain,
    pub seed: u64,
    /// `finetune` and `text`: unfreezing, batch, device, flips, memory budget and the
    /// backbone.
    pub tune: Tune,
    /// `text`: the text model and the report section it reads.
    pub text: TextSettings,
}

/// The rows a trainer learns from, one per sample, each `dim` values; core loads them.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A model's image embeddings (the model is the run's `--model`).
    ImageEmbeddings,
    /// Grey images resized to `size × size`, each value (v / 255 − 0.5) / 0.25.
    Grey { size: usize },
    /// Images as [`Preprocess::raw`] gives them: values 0–255, not normalised.
    Pixels(Preprocess),
    /// Each pair's report as token rows of the text model in `model` (a folder), made by
    /// [`super::text::Reader`]; pairs without the section have no row.
    ReportTokens {
        model: std::path::PathBuf,
        section: Section,
    },
    /// A model's image embeddings (the run's `--model`) and the report's token rows of the
    /// text model in `model`, side by side as [`super::fusion::row`] lays them out; a pair
    /// with either side has a row.
    ImageAndReport {
        model: std::path::PathBuf,
        section: Section,
    },
}

/// One part (train or validation) of the prepared data: `targets.len()` rows of `dim`
/// values each.
#[derive(Clone, Copy, Debug)]
pub struct Part<'a> {
    pub x: &'a [f32],
    pub targets: &'a Targets,
}

/// What fitting produced.
pub struct Fitted {
    pub model: Box<dyn Model>,
    pub history: Vec<EpochMetrics>,
    /// 1-based epoch whose weights were kept.
    pub best_epoch: usize,
}

/// A trained (or loaded) model.
pub trait Model {
    /// Writes the checkpoint into `dir` (created if need be).
    fn save(&self, dir: &Path) -> Result<()>;

    /// Probabilities of the rows `x`, `n × classes` row-major.
    fn predict(&self, x: &[f32]) -> Result<Vec<f32>>;

    /// A model of both modalities: the probabilities of the rows `x` with the report
    /// masked and with the image masked (for the ablation); None for others.
    fn predict_views(&self, _x: &[f32]) -> Result<Option<Views>> {
        Ok(None)
    }

    /// A model that reads reports: for one row, how much each of its report's tokens moved
    /// class `class`'s logit (gradient × input at the token embeddings, summed over the
    /// hidden units; one value per token of the row, special tokens included); None for a
    /// model without a report side, or a row without a report.
    fn token_weights(&self, _row: &[f32], _class: usize) -> Result<Option<Vec<f32>>> {
        Ok(None)
    }
}

/// Probabilities of one side alone (see [`Model::predict_views`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Views {
    /// The image alone (the report masked).
    pub image: Vec<f32>,
    /// The report alone (the image masked).
    pub report: Vec<f32>,
}

/// What a trainer does; one implementation per module.
pub trait Fit: Sync {
    /// One line on what it trains, for help and error messages.
    fn about(&self) -> &'static str;

    /// The learning rate it uses unless told otherwise.
    fn default_lr(&self) -> f64;

    /// What is wrong with settings it cannot start with (they would only burn the machine).
    fn check(&self, settings: &Settings) -> Result<()>;

    /// The inputs it learns from.
    fn input(&self, settings: &Settings) -> Input;

    /// Its full configuration as JSON, stored with the run.
    fn config(&self, settings: &Settings) -> Result<String>;

    /// Fits a model on `train` (rows of `dim` values), stopping early on `val`. `observe`
    /// sees every batch and epoch and returns false to cancel (the fit then ends with
    /// [`crate::MlError::Cancelled`]).
    fn fit(
        &self,
        train: Part,
        val: Part,
        dim: usize,
        settings: &Settings,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<Fitted>;

    /// A model saved by [`Model::save`].
    fn load(&self, dir: &Path) -> Result<Box<dyn Model>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::head::{self, HeadConfig, ImageInput};

    #[test]
    fn names_round_trip_and_an_unknown_one_says_what_to_use() {
        for t in Trainer::ALL {
            assert_eq!(t.name().parse::<Trainer>().ok(), Some(t));
            let json = serde_json::to_string(&t).expect("json");
            assert_eq!(json, format!("\"{t}\""));
            assert_eq!(serde_json::from_str::<Trainer>(&json).expect("back"), t);
        }
        let e = "resnet"
            .parse::<Trainer>()
            .expect_err("unknown")
            .to_string();
        assert!(
            e.contains("\"resnet\"") && e.contains("head (") && e.contains("cnn ("),
            "{e}"
        );
        assert_eq!(
            (Trainer::Head.default_lr(), Trainer::Cnn.default_lr()),
            (1e-2, 1e-3)
        );
    }

    fn settings(size: usize, hidden: usize) -> Settings {
        Settings {
            epochs: 3,
            lr: 1e-2,
            hidden,
            size,
            uncertain: Uncertain::Ignore,
            seed: 4,
            tune: Tune::default(),
            text: TextSettings::default(),
        }
    }

    #[test]
    fn each_trainer_checks_its_own_settings_and_names_its_input() {
        let (head, cnn) = (Trainer::Head.fitter(), Trainer::Cnn.fitter());
        // A head has no image size to check.
        assert!(head.check(&settings(100_000, 0)).is_ok());
        assert!(head.check(&settings(64, 100_000)).is_err());
        assert!(cnn.check(&settings(100_000, 0)).is_err());
        assert!(cnn.check(&settings(4, 0)).is_err());
        assert!(cnn.check(&settings(28, 0)).is_ok());
        assert_eq!(head.input(&settings(28, 0)), Input::ImageEmbeddings);
        assert_eq!(cnn.input(&settings(28, 0)), Input::Grey { size: 28 });
    }

    /// The trait adds nothing to the training loop: the same config, the same weights.
    #[test]
    fn fitting_through_the_trait_is_the_loop_with_the_stored_config() {
        let size = 8;
        let n = 24;
        let mut rng = crate::rng::SplitMix64(9);
        let x: Vec<f32> = (0..n * size * size).map(|_| rng.unit()).collect();
        let targets = Targets::MultiClass {
            values: (0..n).map(|i| Some(i % 2)).collect(),
            classes: 2,
        };
        let part = Part {
            x: &x,
            targets: &targets,
        };
        let s = settings(size, 0);
        let cnn = Trainer::Cnn.fitter();
        let fitted = cnn
            .fit(part, part, size * size, &s, &mut |_| true)
            .expect("fit");
        let cfg = HeadConfig {
            epochs: 3,
            lr: 1e-2,
            seed: 4,
            image: Some(ImageInput {
                channels: 1,
                size,
                width: 16,
                flatten: true,
            }),
            ..HeadConfig::default()
        };
        let stored: HeadConfig =
            serde_json::from_str(&cnn.config(&s).expect("config")).expect("parse");
        assert_eq!(stored, cfg);
        let direct = head::train(&x, &targets, &x, &targets, size * size, &cfg, &mut |_| true)
            .expect("train");
        assert_eq!(fitted.best_epoch, direct.best_epoch);
        assert_eq!(fitted.history.len(), direct.history.len());
        let p = fitted.model.predict(&x).expect("predict");
        assert_eq!(p, direct.head.predict(&x).expect("direct"));
        // And a saved model loads back through the trainer.
        let dir = tempfile::tempdir().expect("tmp");
        fitted.model.save(dir.path()).expect("save");
        let loaded = cnn.load(dir.path()).expect("load");
        assert_eq!(loaded.predict(&x).expect("loaded"), p);
    }
}
