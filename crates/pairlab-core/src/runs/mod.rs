//! Training runs: a trainer fitted on a split's train part (early stopping on its val
//! part), stored with its config, seed, data fingerprint, per-epoch figures, checkpoint
//! and the probabilities of every pair of the split.

pub mod ablation;
mod confidence;
pub mod disagreement;
pub mod eval;
mod evidence;
mod inputs;
mod learn;
#[cfg(test)]
mod learn_tests;
pub mod liveness;
mod parts;
mod pixels;
mod prediction;
mod record;
pub mod thresholds;

use std::path::Path;
use std::time::Instant;
use ts_rs::TS;

/// One epoch's figures, as stored in `run_epochs`.
pub use confidence::fill_missing as fill_confidence;
pub use evidence::model_evidence;
pub use learn::{
    LabelerStatus, LearnOptions, label_texts, labeler_status, learn_labeler,
    split_name as labeler_split,
};
pub use pairlab_ml::train::EpochMetrics;
use pairlab_ml::train::finetune::BackboneSpec;
pub use pairlab_ml::train::finetune::{DeviceChoice, RunEstimate, Tune, Unfreeze};
pub use pairlab_ml::train::fusion::Fusion;
pub use pairlab_ml::train::text::Section;
use pairlab_ml::train::text::TextSettings;
use pairlab_ml::train::{Model, Settings};
pub use pairlab_ml::train::{Trainer, Uncertain};
pub use prediction::{ClassPrediction, PairPrediction, pair_prediction};
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::labels::schema;
use crate::progress::Progress;

/// What to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub schema: String,
    pub split: String,
    pub trainer: Trainer,
    /// `head`: the model whose image embeddings it learns from.
    pub model: Option<String>,
    pub epochs: usize,
    /// The learning rate; [`Trainer::default_lr`] unless told otherwise.
    pub lr: f64,
    /// Hidden units of the classifier's MLP (0 = linear).
    pub hidden: usize,
    /// `cnn` and `finetune`: images are resized to `size × size` pixels (0: the trainer's
    /// default, 64 for `cnn`, the backbone's input size for `finetune`).
    pub size: usize,
    pub uncertain: Uncertain,
    pub seed: u64,
    /// `finetune`: unfreezing, batch, device, flips and memory budget (the backbone is
    /// `model`, resolved when the run starts); `text` reads its unfreezing, batch and
    /// device from here too.
    pub tune: Tune,
    /// `text`: the text model and the report section it reads.
    pub text: TextOptions,
    /// Which labels are the targets.
    pub labels: LabelPolicy,
}

/// Which labels a run learns from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LabelPolicy {
    /// The human label, else the most confident machine label (what counts everywhere).
    #[default]
    Best,
    /// The learned report labeler's: human labels where they exist, the report rules'
    /// elsewhere (no other model's); pairs with a human label count `human_weight` times
    /// (their rows repeat in the training part).
    HumanThenRules { human_weight: usize },
}

/// The text side of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextOptions {
    /// A registered BERT-family text model, by name.
    pub model: Option<String>,
    pub section: Section,
    /// `fusion`: the joint module.
    pub fusion: Fusion,
}

/// Where a run stands: `running` while it trains, then `done`, `failed`, `cancelled`, or
/// `interrupted` (found running when its process had died).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Done,
    Failed,
    Cancelled,
    Interrupted,
}

impl RunStatus {
    /// The name as stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<RunStatus> {
        [
            RunStatus::Running,
            RunStatus::Done,
            RunStatus::Failed,
            RunStatus::Cancelled,
            RunStatus::Interrupted,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl rusqlite::types::FromSql for RunStatus {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        RunStatus::parse(s).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown run status {s:?}").into())
        })
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct RunSummary {
    pub run_id: i64,
    pub schema: String,
    pub split: String,
    /// The trainer's name as stored (see [`Trainer`]); a name this version does not know
    /// (a run of a newer Pairlab) is listed as it is.
    pub trainer: String,
    pub model: Option<String>,
    pub status: RunStatus,
    /// Why a run failed, was cancelled or was interrupted.
    pub message: Option<String>,
    pub classes: Vec<String>,
    pub epochs: usize,
    pub best_epoch: Option<usize>,
    pub final_val_loss: Option<f64>,
    pub fingerprint: String,
    pub created_at: String,
    pub seconds: f64,
    /// `finetune`: how much of the backbone trained (`head`, `N` stages, `all`).
    pub unfreeze: Option<String>,
    /// `finetune`: `cpu` or `cuda`.
    pub device: Option<String>,
    /// `cnn` and `finetune`: the image size in pixels.
    pub size: Option<usize>,
    /// A finished run: the split's pairs it had no inputs for (an image that cannot be
    /// decoded; for `text`, a pair without a report or without the section it reads), so
    /// neither trained on nor predicted.
    pub pairs_without_inputs: Option<u64>,
    /// `text` and `fusion`: the text model that read the reports (`text`: also `model`).
    pub text_model: Option<String>,
}

pub fn parse_uncertain(s: &str) -> Result<Uncertain> {
    match s {
        "ignore" | "u-ignore" => Ok(Uncertain::Ignore),
        "zeros" | "u-zeros" => Ok(Uncertain::Zeros),
        "ones" | "u-ones" => Ok(Uncertain::Ones),
        _ => Err(Error::field(
            "uncertain",
            format!("--uncertain {s:?}: use ignore, zeros or ones"),
        )),
    }
}

impl TrainOptions {
    /// What the trainer is asked for.
    pub fn settings(&self) -> Settings {
        Settings {
            epochs: self.epochs,
            lr: self.lr,
            hidden: self.hidden,
            size: match (self.size, self.trainer) {
                (0, Trainer::Cnn) => 64,
                (s, _) => s,
            },
            uncertain: self.uncertain,
            seed: self.seed,
            tune: self.tune.clone(),
            text: TextSettings {
                model: None,
                section: self.text.section,
                fusion: self.text.fusion,
            },
        }
    }

    /// Refuses settings no run should start with (they would only burn the machine): the
    /// epochs and learning rate here, the rest by the trainer.
    pub fn check(&self) -> Result<()> {
        if !(1..=10_000).contains(&self.epochs) {
            return Err(Error::field(
                "epochs",
                format!("epochs {}: use 1 to 10000", self.epochs),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 10.0) {
            return Err(Error::field(
                "lr",
                format!(
                    "learning rate {}: use a number above 0, at most 10",
                    self.lr
                ),
            ));
        }
        Ok(self.trainer.fitter().check(&self.settings())?)
    }
}

/// Trains and stores a run: the split's pairs with the inputs the trainer asks for, fitted
/// through the trainer, recorded as it goes. The run row is written first (status
/// `running`) so that a crash leaves a visible, failed trace rather than nothing.
pub fn train(
    conn: &mut Connection,
    library: &Path,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<RunSummary> {
    opts.check()?;
    let started = Instant::now();
    let (fitter, mut settings) = (opts.trainer.fitter(), opts.settings());
    let (split_id, members) = parts::members(conn, &opts.split)?;
    let images: Vec<i64> = members.iter().map(|m| m.2).collect();
    if opts.trainer == Trainer::Cnn && opts.size == 0 {
        settings.size = default_cnn_size(conn, &images)?;
    }
    let backbone = match opts.trainer {
        Trainer::Finetune => Some(backbone(conn, opts)?),
        _ => None,
    };
    if let Some((_, spec)) = &backbone {
        settings.tune.backbone = Some(spec.clone());
        // Settings that need the backbone (a ViT's fixed size) are refused before decoding.
        fitter.config(&settings)?;
    }
    let text_model = match opts.trainer {
        Trainer::Text | Trainer::Fusion => Some(text_model(conn, opts)?),
        _ => None,
    };
    if let Some(rec) = &text_model {
        settings.text.model = Some(std::path::PathBuf::from(&rec.path));
        // A folder that is not a BERT, or whose tokenizer does not fit, is refused here.
        fitter.config(&settings)?;
    }
    let schema = schema::get(conn, &opts.schema)?;
    let input = fitter.input(&settings);
    let mut source = inputs::load(conn, library, opts, input, &images, progress)?;
    if let Some((id, _)) = &backbone {
        source.model_id = Some(*id);
    }
    if let (Some(rec), Trainer::Text) = (&text_model, opts.trainer) {
        source.model_id = Some(rec.id);
    }
    let (labels, humans) = match opts.labels {
        LabelPolicy::Best => (crate::labels::best_values(conn, schema.id)?, None),
        LabelPolicy::HumanThenRules { human_weight } => {
            let (labels, humans) = learn::human_then_rules(conn, schema.id)?;
            (labels, Some((humans, human_weight)))
        }
    };
    let mut data = parts::gather(&members, &source, &schema, &labels, &opts.split, opts.seed)?;
    let mut config = fitter.config(&settings)?;
    if let Some((humans, weight)) = &humans {
        learn::weigh(&mut data, humans, *weight, source.rows.dim);
        config = learn::with_policy(&config, *weight)?;
    }
    let run = record::start(
        conn,
        library,
        opts,
        (&schema, split_id),
        source.model_id,
        &config,
        &data.fingerprint,
    )?;
    progress.subject("run", run.id);
    let fitted = fitter.fit(
        data.train.part(),
        data.val.part(),
        source.rows.dim,
        &settings,
        &mut record::observer(conn, run.id, opts.epochs, progress),
    );
    let fitted = match fitted {
        Ok(f) => f,
        Err(e) => {
            let status = match e {
                pairlab_ml::MlError::Cancelled => RunStatus::Cancelled,
                _ => RunStatus::Failed,
            };
            record::end(conn, run.id, status, &e.to_string())?;
            return Err(e.into());
        }
    };
    // The parts' copies of the inputs are done with; storing reads the source rows.
    data.train.x = Vec::new();
    data.val.x = Vec::new();
    // Storing: a failure here fails the run rather than leaving it `running`.
    let (sources, classes) = ((&data, &source), &schema.classes);
    let stored = record::store(conn, library, run.id, &fitted, sources, &labels, classes);
    if let Err(e) = &stored {
        record::end(conn, run.id, RunStatus::Failed, &e.to_string())?;
    }
    stored?;
    let mut s = get(conn, run.id)?;
    s.seconds = started.elapsed().as_secs_f64();
    Ok(s)
}

/// The `cnn`'s image size when none is asked for: 64 px, but never more than the median
/// short side of the split's images (28-px Fashion-MNIST upsampled to 64 only costs time).
fn default_cnn_size(conn: &Connection, images: &[i64]) -> Result<usize> {
    let mut sides = Vec::with_capacity(images.len());
    let mut stmt = conn.prepare("SELECT MIN(width, height) FROM images WHERE id = ?1")?;
    for id in images {
        if let Some(s) = stmt.query_row([id], |r| r.get::<_, i64>(0)).optional()? {
            sides.push(s);
        }
    }
    sides.sort_unstable();
    let median = sides.get(sides.len() / 2).copied().unwrap_or(64);
    Ok(median.clamp(8, 64) as usize)
}

/// What a `finetune` run will need (memory, chunking, time per epoch) before it starts.
pub fn estimate(conn: &Connection, opts: &TrainOptions) -> Result<RunEstimate> {
    if opts.trainer != Trainer::Finetune {
        return Err(Error::field(
            "trainer",
            format!(
                "estimates are for finetune runs; {} runs start at once",
                opts.trainer
            ),
        ));
    }
    opts.check()?;
    let (_, spec) = backbone(conn, opts)?;
    let (_, members) = parts::members(conn, &opts.split)?;
    let train = members.iter().filter(|m| m.1 == "train").count();
    let mut settings = opts.settings();
    settings.tune.backbone = Some(spec);
    // The parts copy the training rows and the validation ones (a val part, or the tenth
    // of train held out when there is none).
    let val = members.iter().filter(|m| parts::is_val(&m.1)).count();
    Ok(pairlab_ml::train::finetune::estimate_run(
        &settings,
        train,
        members.len(),
        train + val,
    )?)
}

/// The registered image classifier a `finetune` run starts from (its id and checkpoint).
fn backbone(conn: &Connection, opts: &TrainOptions) -> Result<(i64, BackboneSpec)> {
    let name = opts.model.as_deref().ok_or_else(|| {
        Error::field(
            "model",
            "the finetune trainer needs --model: a registered ResNet, DenseNet, ViT or CLIP model (pairlab model add PATH)",
        )
    })?;
    let rec = crate::models::checked(conn, name)?;
    // Image classifiers, and CLIP models through their image tower, read as backbones
    // (their weights only; no encoder is built).
    if !["resnet", "densenet", "vit", "clip"].contains(&rec.family.as_str()) {
        return Err(Error::field(
            "model",
            format!(
                "model {name} is a {} model; finetune needs an image classifier (ResNet, \
                 DenseNet, ViT) or a CLIP model's image tower",
                rec.family
            ),
        ));
    }
    let info = pairlab_ml::backbone::info(Path::new(&rec.path))?;
    Ok((
        rec.id,
        BackboneSpec {
            path: std::path::PathBuf::from(&rec.path),
            arch: info.arch,
            preprocess: info.preprocess,
        },
    ))
}

/// The registered BERT-family text model a `text` run reads the reports with.
fn text_model(conn: &Connection, opts: &TrainOptions) -> Result<crate::models::ModelRecord> {
    let name = opts.text.model.as_deref().ok_or_else(|| {
        Error::field(
            "text_model",
            format!(
                "the {} trainer needs --text-model: a registered BERT-family text model \
                 (pairlab model add PATH)",
                opts.trainer
            ),
        )
    })?;
    let rec = crate::models::checked(conn, name)?;
    if rec.family != "bert" {
        return Err(Error::field(
            "text_model",
            format!(
                "model {name} is a {} model; --text-model needs a BERT-family text encoder \
                 (Hugging Face layout, e.g. all-MiniLM-L6-v2)",
                rec.family
            ),
        ));
    }
    Ok(rec)
}

/// The model a finished run saved, through its trainer; refused for a run whose trainer
/// this version does not know, or without a checkpoint (not done).
pub fn load_model(conn: &Connection, run_id: i64) -> Result<Box<dyn Model>> {
    let (name, dir): (String, Option<String>) = conn
        .query_row(
            "SELECT trainer, dir FROM runs WHERE id = ?1",
            [run_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("run {run_id}")))?;
    let trainer: Trainer = name
        .parse()
        .map_err(|e| Error::Invalid(format!("run {run_id} cannot be loaded: {e}")))?;
    let dir = dir.ok_or_else(|| Error::Invalid(format!("run {run_id} has no checkpoint")))?;
    Ok(trainer.fitter().load(Path::new(&dir))?)
}

pub fn get(conn: &Connection, run_id: i64) -> Result<RunSummary> {
    conn.query_row(
        "SELECT r.id, s.name, sp.name, r.trainer, m.name, r.status, r.classes, r.best_epoch, r.fingerprint, r.created_at,
                (SELECT COUNT(*) FROM run_epochs e WHERE e.run_id = r.id),
                COALESCE((SELECT val_loss FROM run_epochs e WHERE e.run_id = r.id AND e.epoch = r.best_epoch),
                         (SELECT MIN(val_loss) FROM run_epochs e WHERE e.run_id = r.id)),
                COALESCE((julianday(r.finished_at) - julianday(r.created_at)) * 86400.0,
                         (SELECT SUM(seconds) FROM run_epochs e WHERE e.run_id = r.id), 0.0),
                r.message, r.config,
                CASE WHEN r.status = 'done' THEN
                  (SELECT COUNT(*) FROM split_members m JOIN pairs p ON p.id = m.pair_id
                     JOIN images i ON i.id = p.image_id WHERE m.split_id = r.split_id AND i.missing = 0)
                  - (SELECT COUNT(*) FROM run_predictions q WHERE q.run_id = r.id) END,
                (SELECT name FROM models t WHERE t.path = json_extract(r.config, '$.text_model'))
         FROM runs r JOIN schemas s ON s.id = r.schema_id JOIN splits sp ON sp.id = r.split_id
         LEFT JOIN models m ON m.id = r.model_id WHERE r.id = ?1",
        [run_id],
        |r| {
            let classes: String = r.get(6)?;
            let config: serde_json::Value =
                serde_json::from_str(&r.get::<_, String>(14)?).unwrap_or_default();
            let text = |k: &str| config.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let size = config
                .get("size")
                .or_else(|| config.get("image").and_then(|i| i.get("size")))
                .and_then(serde_json::Value::as_u64)
                .map(|s| s as usize);
            Ok(RunSummary {
                run_id: r.get(0)?,
                schema: r.get(1)?,
                split: r.get(2)?,
                trainer: r.get(3)?,
                model: r.get(4)?,
                status: r.get(5)?,
                classes: serde_json::from_str(&classes).unwrap_or_default(),
                best_epoch: r.get::<_, Option<i64>>(7)?.map(|e| e as usize),
                fingerprint: r.get(8)?,
                created_at: r.get(9)?,
                epochs: r.get::<_, i64>(10)? as usize,
                final_val_loss: r.get(11)?,
                seconds: r.get(12)?,
                message: r.get(13)?,
                unfreeze: text("unfreeze"),
                device: text("device"),
                size,
                pairs_without_inputs: r.get::<_, Option<i64>>(15)?.map(|n| n.max(0) as u64),
                text_model: r.get(16)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("run {run_id}")))
}

/// A run's per-epoch figures so far (while it trains, too), in epoch order.
pub fn epochs(conn: &Connection, run_id: i64) -> Result<Vec<EpochMetrics>> {
    get(conn, run_id)?;
    let rows = conn
        .prepare(
            "SELECT epoch, train_loss, val_loss, val_accuracy, lr, seconds, val_auroc FROM run_epochs
             WHERE run_id = ?1 ORDER BY epoch",
        )?
        .query_map([run_id], |r| {
            Ok(EpochMetrics {
                epoch: r.get::<_, i64>(0)? as usize,
                train_loss: r.get(1)?,
                val_loss: r.get(2)?,
                val_accuracy: r.get(3)?,
                val_auroc: r.get(6)?,
                lr: r.get(4)?,
                seconds: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn list(conn: &Connection) -> Result<Vec<RunSummary>> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM runs ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter().map(|id| get(conn, id)).collect()
}

#[cfg(test)]
mod tests;
