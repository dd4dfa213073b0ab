//! The arguments of each API call as the front ends receive them (HTTP query or body, Tauri
//! `args`), with the defaults every front end shares. Path ids travel beside them (HTTP
//! path, or `id` inside a Tauri command's `args`; see [`WithId`]).

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::browse::{BrowseFilter, BrowseSort};
use crate::error::Result;
use crate::runs::{
    DeviceChoice, Fusion, LabelPolicy, Section, TextOptions, TrainOptions, Trainer, Tune, Unfreeze,
    parse_uncertain,
};

/// The most rows one page may ask for.
pub const MAX_LIMIT: u32 = 1000;
/// The schema a call means when it names none.
pub const DEFAULT_SCHEMA: &str = "chexpert";

fn default_schema() -> String {
    DEFAULT_SCHEMA.into()
}

fn default_part() -> String {
    "test".into()
}

/// A page size: `asked`, else `default`, at most [`MAX_LIMIT`].
fn limit(asked: Option<u32>, default: u32) -> u32 {
    asked.unwrap_or(default).min(MAX_LIMIT)
}

/// A path id and the call's other arguments (Tauri's `args` of a call on `/…/{id}`).
#[derive(Clone, Debug, Deserialize)]
pub struct WithId<T> {
    pub id: i64,
    #[serde(flatten)]
    pub rest: T,
}

/// No arguments (a call on `/…/{id}` that needs only the id).
#[derive(Clone, Debug, Default, Deserialize, Serialize, TS)]
pub struct NoArgs {}

#[derive(Clone, Debug, Deserialize, Serialize, TS)]
pub struct SearchArgs {
    pub q: String,
    #[ts(optional)]
    pub limit: Option<u32>,
}

impl SearchArgs {
    /// The hits asked for (20 by default).
    pub fn page(&self) -> u32 {
        limit(self.limit, 20)
    }
}

impl PageArgs {
    /// The rows asked for (100 by default).
    pub fn page(&self) -> u32 {
        limit(self.limit, 100)
    }
}

impl BrowseArgs {
    /// The rows asked for (100 by default).
    pub fn page(&self) -> u32 {
        limit(self.limit, 100)
    }
}

impl LeakageArgs {
    /// How near duplicates are found (distance 3 by default, at most 64; checked on the
    /// pixels unless `loose`).
    pub fn near(&self) -> crate::splits::NearOptions {
        crate::splits::NearOptions {
            distance: self.near.unwrap_or(crate::splits::NEAR_DISTANCE).min(64),
            loose: self.loose.unwrap_or(false),
        }
    }
}

/// Keyset pagination: rows with id greater than `after`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, TS)]
pub struct PageArgs {
    #[serde(default)]
    #[ts(optional, as = "Option<i64>")]
    pub after: i64,
    #[ts(optional)]
    pub limit: Option<u32>,
}

/// One page of the grid: `after` is the `next` cursor of the page before (opaque).
#[derive(Clone, Debug, Default, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct BrowseArgs {
    #[serde(default)]
    #[ts(optional, as = "Option<BrowseFilter>")]
    pub filter: BrowseFilter,
    #[serde(default)]
    #[ts(optional, as = "Option<BrowseSort>")]
    pub sort: BrowseSort,
    #[ts(optional)]
    pub after: Option<String>,
    #[ts(optional)]
    pub limit: Option<u32>,
}

#[derive(Clone, Debug, Deserialize, Serialize, TS)]
pub struct SchemaArgs {
    #[serde(default = "default_schema")]
    #[ts(optional, as = "Option<String>")]
    pub schema: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, TS)]
pub struct LeakageArgs {
    pub split: String,
    /// Largest dHash Hamming distance of a near-duplicate candidate (default 3).
    #[ts(optional)]
    pub near: Option<u32>,
    /// Count every candidate, without checking that the pixels show the same picture.
    #[ts(optional)]
    pub loose: Option<bool>,
}

/// What pre-labelling from a run wrote.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct RunPrelabel {
    pub run: i64,
    /// `model:run-<id>`.
    pub source: String,
    /// Pairs labelled.
    pub pairs: u64,
}

/// Registers a finished `finetune` run's network as an image model.
#[derive(Clone, Debug, Default, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct RunModelArgs {
    /// The model's name (default `run-<id>`).
    #[serde(default)]
    #[ts(optional)]
    pub name: Option<String>,
}

/// Names a run.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
pub struct RunArgs {
    pub run: i64,
}

#[derive(Clone, Debug, Deserialize, Serialize, TS)]
pub struct PartArgs {
    #[serde(default = "default_part")]
    #[ts(optional, as = "Option<String>")]
    pub part: String,
}

/// A confusion-matrix cell: multi-class `true`/`pred` are class names; multi-label cells
/// name the `class` and give `true`/`pred` as `1` or `0`.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
pub struct CellArgs {
    #[serde(default = "default_part")]
    #[ts(optional, as = "Option<String>")]
    pub part: String,
    #[serde(rename = "true")]
    #[ts(optional)]
    pub truth: Option<String>,
    #[ts(optional)]
    pub pred: Option<String>,
    #[ts(optional)]
    pub class: Option<String>,
}

/// A person sets (`value` 1, 0 or -1) or blanks (`null`) a class.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SetLabelArgs {
    pub pair: i64,
    #[serde(default = "default_schema")]
    #[ts(optional, as = "Option<String>")]
    pub schema: String,
    pub class: String,
    /// Required: `null` blanks the label; a request without `value` is refused rather
    /// than read as a blank.
    #[serde(deserialize_with = "present_or_null")]
    pub value: Option<i8>,
    pub annotator: String,
}

/// An `Option` field that must be present in the JSON (`null` allowed): with
/// `deserialize_with`, serde refuses a missing field instead of defaulting it to `None`.
fn present_or_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i8>, D::Error> {
    Option::<i8>::deserialize(d)
}

#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AnnotatorArgs {
    pub annotator: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct SetReviewArgs {
    pub pair: i64,
    #[serde(default = "default_schema")]
    #[ts(optional, as = "Option<String>")]
    pub schema: String,
    /// `accepted`, `rejected`, `flagged`, or `unreviewed` to take the decision back.
    pub status: String,
    pub annotator: String,
}

/// A pair's review status under a schema.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, TS)]
pub struct ReviewStatus {
    pub pair: i64,
    pub schema: String,
    /// `unlabelled`, `pre-labelled` (machine labels only), `labelled` (by hand, not
    /// accepted), or a person's decision: `accepted`, `rejected`, `flagged`.
    pub status: String,
}

/// Who is signed in (`me`): the name labels are recorded under and the role, which says
/// what the user may do. `null` where the server has no user accounts (everything is
/// allowed then).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, TS)]
pub struct Me {
    pub name: String,
    pub role: crate::users::Role,
}

/// What `health` answers.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, TS)]
pub struct Health {
    pub status: String,
    pub version: String,
    /// The commit the binary was built from (`null` where it is not known).
    pub commit: Option<String>,
}

impl Health {
    pub fn now() -> Health {
        Health {
            status: "ok".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            commit: crate::build_commit().map(str::to_owned),
        }
    }
}

/// A long job was started; follow it with `job` / `job_events`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, TS)]
pub struct JobStarted {
    pub job: u64,
}

fn default_trainer() -> Trainer {
    Trainer::Head
}
fn default_epochs() -> usize {
    100
}
fn default_uncertain() -> String {
    "ignore".into()
}

/// Starts training: core's `TrainOptions` with the CLI's defaults.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct TrainArgs {
    #[serde(default = "default_schema")]
    #[ts(optional, as = "Option<String>")]
    pub schema: String,
    pub split: String,
    /// `head` (on a model's image embeddings) or `cnn` (on the images).
    #[serde(default = "default_trainer")]
    #[ts(optional, as = "Option<Trainer>")]
    pub trainer: Trainer,
    #[ts(optional)]
    pub model: Option<String>,
    #[serde(default = "default_epochs")]
    #[ts(optional, as = "Option<usize>")]
    pub epochs: usize,
    /// The learning rate; by default the trainer's own ([`Trainer::default_lr`]).
    #[serde(default)]
    #[ts(optional)]
    pub lr: Option<f64>,
    /// Hidden units of the head's MLP (0 = linear).
    #[serde(default)]
    #[ts(optional, as = "Option<usize>")]
    pub hidden: usize,
    /// `cnn` and `finetune`: images are resized to `size × size` pixels (by default for
    /// `cnn` 64, or the split's median image side when smaller; for `finetune` the
    /// backbone's input size).
    #[serde(default)]
    #[ts(optional, as = "Option<usize>")]
    pub size: usize,
    /// `ignore`, `zeros` or `ones`.
    #[serde(default = "default_uncertain")]
    #[ts(optional, as = "Option<String>")]
    pub uncertain: String,
    #[serde(default)]
    #[ts(optional, as = "Option<u64>")]
    pub seed: u64,
    /// `finetune`: `head` (the default), a number of the backbone's last stages, or `all`.
    #[serde(default)]
    #[ts(optional)]
    pub unfreeze: Option<String>,
    /// `finetune`: images per optimiser step (default 16).
    #[serde(default)]
    #[ts(optional)]
    pub batch: Option<usize>,
    /// `finetune`: `cpu`, `cuda` or `auto` (the default: a GPU when the build has one).
    #[serde(default)]
    #[ts(optional)]
    pub device: Option<DeviceChoice>,
    /// `finetune`: augmentation while training (on by default).
    #[serde(default)]
    #[ts(optional)]
    pub augment: Option<bool>,
    /// `finetune`: random horizontal flips (off by default: chest X-rays are not symmetric).
    #[serde(default)]
    #[ts(optional)]
    pub hflip: Option<bool>,
    /// `finetune`: memory budget in MiB (default: three quarters of what is available).
    #[serde(default)]
    #[ts(optional)]
    pub memory_mb: Option<usize>,
    /// `text`: the registered BERT-family text model that reads the reports.
    #[serde(default)]
    #[ts(optional)]
    pub text_model: Option<String>,
    /// `text`: the report section it reads (`both` unless told).
    #[serde(default)]
    #[ts(optional)]
    pub text_section: Option<Section>,
    /// `fusion`: the joint module (`concat` unless told).
    #[serde(default)]
    #[ts(optional)]
    pub fusion: Option<Fusion>,
}

impl TrainArgs {
    pub fn options(self) -> Result<TrainOptions> {
        let lr = self.lr.unwrap_or_else(|| self.trainer.default_lr());
        let opts = TrainOptions {
            uncertain: parse_uncertain(&self.uncertain)?,
            schema: self.schema,
            split: self.split,
            trainer: self.trainer,
            model: self.model,
            epochs: self.epochs,
            lr,
            hidden: self.hidden,
            size: self.size,
            seed: self.seed,
            tune: Tune {
                unfreeze: match &self.unfreeze {
                    Some(u) => u.parse::<Unfreeze>()?,
                    None => Unfreeze::Head,
                },
                batch: self.batch.unwrap_or(0),
                device: self.device.unwrap_or_default(),
                augment: self.augment.unwrap_or(true),
                hflip: self.hflip.unwrap_or(false),
                memory_mb: self.memory_mb.unwrap_or(0),
                backbone: None,
            },
            text: TextOptions {
                model: self.text_model,
                section: self.text_section.unwrap_or_default(),
                fusion: self.fusion.unwrap_or_default(),
            },
            labels: LabelPolicy::Best,
        };
        opts.check()?;
        Ok(opts)
    }
}

/// Writes the built-in demo corpus into the library's `demo-corpus` folder and runs the
/// demo on it, as `pairlab demo` does: index, pre-label the reports, split by patient,
/// train a small CNN, evaluate.
#[derive(Clone, Debug, Default, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct DemoArgs {
    /// Patients (1 to 2000; default 120, as `pairlab demo`).
    #[ts(optional)]
    pub patients: Option<u32>,
}

impl DemoArgs {
    /// The number of patients asked for, checked.
    pub fn patients(&self) -> Result<u32> {
        match self.patients.unwrap_or(120) {
            n @ 1..=2000 => Ok(n),
            n => Err(crate::Error::field(
                "patients",
                format!("{n} patients: choose 1 to 2000"),
            )),
        }
    }
}

/// Adds (or re-indexes) a corpus folder.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct IndexArgs {
    /// The corpus folder, as an absolute path on the machine that runs Pairlab.
    pub root: String,
    /// `auto` (default), `stem`, `folders`, `mimic`, `iu-xml` or `manifest`.
    #[ts(optional)]
    pub layout: Option<String>,
    /// The manifest file (CSV or JSONL) for the `manifest` layout.
    #[ts(optional)]
    pub manifest: Option<String>,
}

impl IndexArgs {
    /// The corpus root and the index options these arguments ask for.
    pub fn options(&self) -> Result<(std::path::PathBuf, crate::ingest::IndexOptions)> {
        let layout = match &self.layout {
            Some(l) => crate::ingest::Layout::parse(l)?,
            None => crate::ingest::Layout::Auto,
        };
        let opts = crate::ingest::IndexOptions {
            layout,
            manifest: self.manifest.as_ref().map(std::path::PathBuf::from),
            ..Default::default()
        };
        Ok((std::path::PathBuf::from(&self.root), opts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_learning_rate_defaults_per_trainer_and_a_given_one_wins() -> Result<()> {
        let args =
            |v: serde_json::Value| serde_json::from_value::<TrainArgs>(v).expect("train args");
        assert_eq!(
            args(json!({"split": "s", "trainer": "cnn"})).options()?.lr,
            1e-3
        );
        assert_eq!(args(json!({"split": "s"})).options()?.lr, 1e-2);
        let given = json!({"split": "s", "trainer": "cnn", "lr": 0.05});
        assert_eq!(args(given).options()?.lr, 0.05);
        Ok(())
    }
}
