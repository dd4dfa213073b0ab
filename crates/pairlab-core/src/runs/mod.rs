//! Training runs: a trainer fitted on a split's train part (early stopping on its val
//! part), stored with its config, seed, data fingerprint, per-epoch figures, checkpoint
//! and the probabilities of every pair of the split.

mod confidence;
pub mod eval;
pub mod liveness;
mod pixels;

use std::collections::HashMap;
use std::time::Instant;
use ts_rs::TS;

/// One epoch's figures, as stored in `run_epochs`.
pub use confidence::fill_missing as fill_confidence;
pub use pairlab_ml::train::EpochMetrics;
use pairlab_ml::train::head::{self, Event, HeadConfig, ImageInput};
use pairlab_ml::train::{Targets, Uncertain};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::embed::{What, embed_with, to_blob, vectors};
use crate::error::{Error, Result};
use crate::labels::schema;
use crate::models;
use crate::progress::Progress;

/// The learning rate a trainer uses unless told otherwise: 0.001 for the `cnn` (AdamW's
/// usual rate for a network trained from scratch; on Fashion-MNIST 0.01 ends about three
/// points lower) and 0.01 for a `head` on embeddings.
pub fn default_lr(trainer: &str) -> f64 {
    if trainer == "cnn" { 1e-3 } else { 1e-2 }
}

/// What to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub schema: String,
    pub split: String,
    /// `head` (on a model's image embeddings).
    pub trainer: String,
    pub model: Option<String>,
    pub epochs: usize,
    pub lr: f64,
    /// Hidden units of the head's MLP (0 = linear).
    pub hidden: usize,
    /// `cnn`: images are resized to `size × size` grey pixels.
    pub size: usize,
    pub uncertain: Uncertain,
    pub seed: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct RunSummary {
    pub run_id: i64,
    pub schema: String,
    pub split: String,
    pub trainer: String,
    pub model: Option<String>,
    pub status: String,
    /// Why a run failed, was cancelled or was interrupted.
    pub message: Option<String>,
    pub classes: Vec<String>,
    pub epochs: usize,
    pub best_epoch: Option<usize>,
    pub final_val_loss: Option<f64>,
    pub fingerprint: String,
    pub created_at: String,
    pub seconds: f64,
}

pub fn parse_uncertain(s: &str) -> Result<Uncertain> {
    match s {
        "ignore" | "u-ignore" => Ok(Uncertain::Ignore),
        "zeros" | "u-zeros" => Ok(Uncertain::Zeros),
        "ones" | "u-ones" => Ok(Uncertain::Ones),
        _ => Err(Error::Invalid(format!(
            "--uncertain {s:?}: use ignore, zeros or ones"
        ))),
    }
}

/// A split member: (pair, part, image id).
type Member = (i64, String, i64);

/// Features and targets of one part.
#[derive(Default)]
struct PartData {
    x: Vec<f32>,
    /// Multi-label values (NaN = blank), `classes` per pair.
    values: Vec<f32>,
    /// Multi-class index per pair.
    class: Vec<Option<usize>>,
}

/// The split's pairs with their part and image id.
fn members(conn: &Connection, split: &str) -> Result<(i64, Vec<Member>)> {
    let id: i64 = conn
        .query_row("SELECT id FROM splits WHERE name = ?1", [split], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or_else(|| {
            Error::NotFound(format!("split {split:?} (make one with `pairlab split`)"))
        })?;
    let rows = conn
        .prepare(
            "SELECT m.pair_id, m.part, p.image_id FROM split_members m JOIN pairs p ON p.id = m.pair_id
             JOIN images i ON i.id = p.image_id WHERE m.split_id = ?1 AND i.missing = 0 ORDER BY m.pair_id",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok((id, rows))
}

fn is_val(part: &str) -> bool {
    matches!(part, "val" | "valid" | "validation")
}

/// Trains and stores a run. The run row is written first (status `running`) so that a
/// crash leaves a visible, failed trace rather than nothing.
impl TrainOptions {
    /// Refuses settings no run should start with (they would only burn the machine).
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Invalid(what));
        if !(1..=10_000).contains(&self.epochs) {
            return bad(format!("epochs {}: use 1 to 10000", self.epochs));
        }
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 10.0) {
            return bad(format!(
                "learning rate {}: use a number above 0, at most 10",
                self.lr
            ));
        }
        if self.trainer == "cnn" && !(8..=512).contains(&self.size) {
            return bad(format!("image size {}: use 8 to 512 px", self.size));
        }
        if self.hidden > 8192 {
            return bad(format!("hidden units {}: at most 8192", self.hidden));
        }
        Ok(())
    }
}

pub fn train(
    conn: &mut Connection,
    library: &std::path::Path,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<RunSummary> {
    opts.check()?;
    let started = Instant::now();
    let schema = schema::get(conn, &opts.schema)?;
    let multi_class = schema.kind == crate::labels::SchemaKind::MultiClass;
    let (split_id, rows) = members(conn, &opts.split)?;
    let (store, model_id, source_fp, image) = match opts.trainer.as_str() {
        "head" => {
            let model_name = opts.model.clone().ok_or_else(|| {
                Error::Invalid(
                    "the head trainer needs --model (whose image embeddings it learns from)".into(),
                )
            })?;
            let (model, enc) = models::load(conn, &model_name)?;
            if !model.images {
                return Err(Error::Invalid(format!(
                    "model {} does not encode images",
                    model.name
                )));
            }
            embed_with(conn, &model, &enc, What::Images, progress)?;
            (
                vectors(conn, &model, "image")?,
                Some(model.id),
                model.fingerprint.clone(),
                None,
            )
        }
        "cnn" => {
            if !(8..=512).contains(&opts.size) {
                return Err(Error::Invalid(format!(
                    "--size {}: use 8 to 512 pixels",
                    opts.size
                )));
            }
            let ids: Vec<i64> = rows.iter().map(|r| r.2).collect();
            let store = pixels::pixels(conn, library, &ids, opts.size as u32, progress)?;
            let input = ImageInput {
                channels: 1,
                size: opts.size,
                width: 16,
                flatten: true,
            };
            (store, None, format!("cnn-{}", opts.size), Some(input))
        }
        other => {
            return Err(Error::Invalid(format!(
                "--trainer {other:?}: use head (a classifier on a model's image embeddings) or cnn (a small convolutional network on the images)"
            )));
        }
    };
    let row_of: HashMap<i64, usize> = store
        .ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();
    let labels = crate::labels::best_values(conn, schema.id)?;
    let c = schema.classes.len();
    let dim = store.dim;

    // Gather features and targets per part; pairs without an embedding are left out.
    let mut fp = blake3::Hasher::new();
    fp.update(source_fp.as_bytes());
    let mut parts: HashMap<&str, PartData> = HashMap::new();
    let mut all: Vec<(i64, String, usize)> = Vec::new();
    // Without a val part, a seeded tenth of train is held out for early stopping.
    let carve = !rows.iter().any(|(_, part, _)| is_val(part));
    for (pair, part, image) in &rows {
        let Some(&r) = row_of.get(image) else {
            continue;
        };
        let held_out = carve
            && part == "train"
            && pairlab_ml::rng::SplitMix64(opts.seed ^ (*pair as u64)).below(10) == 0;
        let key = if held_out || is_val(part) {
            "val"
        } else if part == "train" {
            "train"
        } else {
            all.push((*pair, part.clone(), r));
            continue;
        };
        all.push((*pair, if held_out { "val".into() } else { part.clone() }, r));
        let e = parts.entry(key).or_default();
        e.x.extend_from_slice(&store.data[r * dim..(r + 1) * dim]);
        let vals: Vec<Option<i8>> = schema
            .classes
            .iter()
            .map(|cl| labels.get(&(*pair, cl.clone())).copied())
            .collect();
        e.values
            .extend(vals.iter().map(|v| v.map_or(f32::NAN, f32::from)));
        e.class.push(vals.iter().position(|v| *v == Some(1)));
        fp.update(&pair.to_le_bytes());
        fp.update(key.as_bytes());
        for v in &vals {
            fp.update(&[v.map_or(9u8, |x| (x + 1) as u8)]);
        }
    }
    let train_part = parts.remove("train").ok_or_else(|| {
        Error::Invalid(format!(
            "split {} has no embedded pairs in a part named train",
            opts.split
        ))
    })?;
    let val_part = parts.remove("val").unwrap_or_default();
    let targets = |p: &PartData| {
        if multi_class {
            Targets::MultiClass {
                values: p.class.clone(),
                classes: c,
            }
        } else {
            Targets::MultiLabel {
                values: p.values.clone(),
                classes: c,
            }
        }
    };
    let cfg = HeadConfig {
        hidden: opts.hidden,
        epochs: opts.epochs,
        lr: opts.lr,
        seed: opts.seed,
        uncertain: opts.uncertain,
        image,
        ..HeadConfig::default()
    };
    let config = serde_json::to_string(&cfg).map_err(|e| Error::Invalid(e.to_string()))?;
    let fingerprint = fp.finalize().to_hex()[..16].to_string();
    let classes_json =
        serde_json::to_string(&schema.classes).map_err(|e| Error::Invalid(e.to_string()))?;
    // The row becomes visible only once this process holds the run's lock: another
    // process opening the library meanwhile must not take it for an interrupted run.
    let (run_id, _alive) = {
        let tx = conn.transaction()?;
        let run_id: i64 = tx.query_row(
            "INSERT INTO runs (schema_id, split_id, trainer, model_id, config, seed, fingerprint, classes, status)
             VALUES (?1, ?2, ?8, ?3, ?4, ?5, ?6, ?7, 'running') RETURNING id",
            params![schema.id, split_id, model_id, config, opts.seed as i64, fingerprint, classes_json, opts.trainer],
            |r| r.get(0),
        )?;
        let lock = liveness::RunLock::take(library, run_id)?;
        tx.commit()?;
        (run_id, lock)
    };
    progress.subject("run", run_id);
    let epochs = opts.epochs.max(1);
    let (mut staged, mut epoch, mut last) = (false, 1, String::new());
    let result = head::train(
        &train_part.x,
        &targets(&train_part),
        &val_part.x,
        &targets(&val_part),
        dim,
        &cfg,
        &mut |event| {
            match event {
                Event::Batch { done, total, loss } => {
                    if !staged {
                        progress.stage("training", (epochs * total) as u64);
                        staged = true;
                    }
                    progress.advance(1);
                    if done % 16 == 0 || done == total {
                        progress.message(&format!("epoch {epoch}/{epochs} loss {loss:.4}{last}"));
                    }
                }
                Event::Epoch(m) => {
                    let _ = conn.execute(
                        "INSERT OR REPLACE INTO run_epochs (run_id, epoch, train_loss, val_loss, val_accuracy, lr, seconds)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![run_id, m.epoch as i64, m.train_loss, m.val_loss, m.val_accuracy, m.lr, m.seconds],
                    );
                    epoch = m.epoch + 1;
                    last = match m.val_accuracy {
                        Some(a) => format!(" · val loss {:.4} acc {a:.3}", m.val_loss),
                        None => format!(" · val loss {:.4}", m.val_loss),
                    };
                }
            }
            !progress.is_cancelled()
        },
    );
    let trained = match result {
        Ok(t) => t,
        Err(e) => {
            let status = if matches!(e, pairlab_ml::MlError::Cancelled) {
                "cancelled"
            } else {
                "failed"
            };
            conn.execute(
                "UPDATE runs SET status = ?2, message = ?3, finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
                params![run_id, status, e.to_string()],
            )?;
            return Err(e.into());
        }
    };
    // Storing the run: a failure here fails the run rather than leaving it `running`.
    let stored = (|| -> Result<()> {
        let dir = library.join("runs").join(run_id.to_string());
        trained.head.save(&dir)?;
        // Probabilities for every embedded pair of the split.
        let mut feats = Vec::with_capacity(all.len() * dim);
        for (_, _, r) in &all {
            feats.extend_from_slice(&store.data[r * dim..(r + 1) * dim]);
        }
        let probs = trained.head.predict(&feats)?;
        let tx = conn.transaction()?;
        {
            let mut put = tx.prepare(
                "INSERT INTO run_predictions (run_id, pair_id, part, probs, truth) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (k, (pair, part, _)) in all.iter().enumerate() {
                put.execute(params![
                    run_id,
                    pair,
                    part,
                    to_blob(&probs[k * c..(k + 1) * c]),
                    eval::truth_json(&labels, *pair, &schema.classes),
                ])?;
            }
        }
        confidence::fill(&tx, run_id)?;
        tx.execute(
            "UPDATE runs SET status = 'done', best_epoch = ?2, dir = ?3, finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
            params![run_id, trained.best_epoch as i64, dir.to_string_lossy()],
        )?;
        tx.commit()?;
        Ok(())
    })();
    if let Err(e) = &stored {
        conn.execute(
            "UPDATE runs SET status = 'failed', message = ?2, finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
             WHERE id = ?1 AND status = 'running'",
            params![run_id, e.to_string()],
        )?;
    }
    stored?;
    let mut s = get(conn, run_id)?;
    s.seconds = started.elapsed().as_secs_f64();
    Ok(s)
}

pub fn get(conn: &Connection, run_id: i64) -> Result<RunSummary> {
    conn.query_row(
        "SELECT r.id, s.name, sp.name, r.trainer, m.name, r.status, r.classes, r.best_epoch, r.fingerprint, r.created_at,
                (SELECT COUNT(*) FROM run_epochs e WHERE e.run_id = r.id),
                (SELECT val_loss FROM run_epochs e WHERE e.run_id = r.id AND e.epoch = r.best_epoch),
                COALESCE((julianday(r.finished_at) - julianday(r.created_at)) * 86400.0,
                         (SELECT SUM(seconds) FROM run_epochs e WHERE e.run_id = r.id), 0.0),
                r.message
         FROM runs r JOIN schemas s ON s.id = r.schema_id JOIN splits sp ON sp.id = r.split_id
         LEFT JOIN models m ON m.id = r.model_id WHERE r.id = ?1",
        [run_id],
        |r| {
            let classes: String = r.get(6)?;
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
            "SELECT epoch, train_loss, val_loss, val_accuracy, lr, seconds FROM run_epochs
             WHERE run_id = ?1 ORDER BY epoch",
        )?
        .query_map([run_id], |r| {
            Ok(EpochMetrics {
                epoch: r.get::<_, i64>(0)? as usize,
                train_loss: r.get(1)?,
                val_loss: r.get(2)?,
                val_accuracy: r.get(3)?,
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
