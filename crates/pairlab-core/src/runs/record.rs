//! A run's rows while it trains, whatever the trainer: the run row (written first, status
//! `running`, under the run's lock), its epochs as they end, and at the end its checkpoint,
//! the probabilities of every pair and its status.

use std::collections::HashMap;
use std::path::Path;

use pairlab_ml::train::{Event, Fitted};
use rusqlite::{Connection, params};

use super::inputs::Source;
use super::parts::Gathered;
use super::{RunStatus, TrainOptions, confidence, eval, liveness};
use crate::embed::to_blob;
use crate::error::{Error, Result};
use crate::labels::schema::Schema;
use crate::progress::Progress;

/// A run being trained; its lock is held while this lives.
pub(super) struct Started {
    pub id: i64,
    _alive: liveness::RunLock,
}

/// Writes the run row (status `running`). It becomes visible only once this process holds
/// the run's lock: another process opening the library meanwhile must not take it for an
/// interrupted run.
pub(super) fn start(
    conn: &mut Connection,
    library: &Path,
    opts: &TrainOptions,
    (schema, split_id): (&Schema, i64),
    model_id: Option<i64>,
    config: &str,
    fingerprint: &str,
) -> Result<Started> {
    let classes =
        serde_json::to_string(&schema.classes).map_err(|e| Error::Invalid(e.to_string()))?;
    let tx = conn.transaction()?;
    let id: i64 = tx.query_row(
        "INSERT INTO runs (schema_id, split_id, trainer, model_id, config, seed, fingerprint, classes, status)
         VALUES (?1, ?2, ?8, ?3, ?4, ?5, ?6, ?7, 'running') RETURNING id",
        params![schema.id, split_id, model_id, config, opts.seed as i64, fingerprint, classes, opts.trainer.name()],
        |r| r.get(0),
    )?;
    let lock = liveness::RunLock::take(library, id)?;
    tx.commit()?;
    Ok(Started { id, _alive: lock })
}

/// What a fit reports, turned into progress and `run_epochs` rows; false (cancel) once
/// `progress` is cancelled.
pub(super) fn observer<'a>(
    conn: &'a Connection,
    run_id: i64,
    epochs: usize,
    progress: &'a dyn Progress,
) -> impl FnMut(Event) -> bool + 'a {
    let epochs = epochs.max(1);
    let (mut staged, mut epoch, mut last) = (false, 1, String::new());
    move |event| {
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
                    "INSERT OR REPLACE INTO run_epochs (run_id, epoch, train_loss, val_loss, val_accuracy, lr, seconds, val_auroc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![run_id, m.epoch as i64, m.train_loss, m.val_loss, m.val_accuracy, m.lr, m.seconds, m.val_auroc],
                );
                epoch = m.epoch + 1;
                // Multi-label runs say their macro AUROC: accuracy over mostly negative
                // entries says little.
                last = match (m.val_auroc, m.val_accuracy) {
                    (Some(a), _) => format!(" · val loss {:.4} auroc {a:.3}", m.val_loss),
                    (None, Some(a)) => format!(" · val loss {:.4} acc {a:.3}", m.val_loss),
                    (None, None) => format!(" · val loss {:.4}", m.val_loss),
                };
                // Said at once, so the status and the curves agree as soon as an epoch ends.
                progress.message(&format!(
                    "epoch {}/{epochs} done · loss {:.4}{last}",
                    m.epoch, m.train_loss
                ));
            }
        }
        !progress.is_cancelled()
    }
}

/// Ends a run that did not finish: `cancelled` or `failed`, with why.
pub(super) fn end(conn: &Connection, run_id: i64, status: RunStatus, why: &str) -> Result<()> {
    conn.execute(
        "UPDATE runs SET status = ?2, message = ?3, finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE id = ?1 AND status = 'running'",
        params![run_id, status.as_str(), why],
    )?;
    Ok(())
}

/// Pairs predicted at a time when a run is stored.
const PREDICT_ROWS: usize = 256;

/// Stores the fitted model (checkpoint under `runs/<id>`), the probabilities of every pair
/// and the status `done`.
pub(super) fn store(
    conn: &mut Connection,
    library: &Path,
    run_id: i64,
    fitted: &Fitted,
    (data, source): (&Gathered, &Source),
    labels: &HashMap<(i64, String), i8>,
    classes: &[String],
) -> Result<()> {
    let dir = library.join("runs").join(run_id.to_string());
    fitted.model.save(&dir)?;
    let (rows, dim, c) = (&source.rows, source.rows.dim, classes.len());
    // In pieces, so that predicting never holds a second copy of every pair's inputs
    // (images at 224 px are 150 000 values each).
    let mut probs = Vec::with_capacity(data.all.len() * c);
    // A model of both modalities also predicts from each side alone (the ablation).
    let mut views: Option<(Vec<f32>, Vec<f32>)> = None;
    for piece in data.all.chunks(PREDICT_ROWS) {
        let mut feats = Vec::with_capacity(piece.len() * dim);
        for (_, _, r) in piece {
            feats.extend_from_slice(&rows.data[r * dim..(r + 1) * dim]);
        }
        probs.extend(fitted.model.predict(&feats)?);
        if let Some(v) = fitted.model.predict_views(&feats)? {
            let (image, report) = views.get_or_insert_with(Default::default);
            image.extend(v.image);
            report.extend(v.report);
        }
    }
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare(
            "INSERT INTO run_predictions (run_id, pair_id, part, probs, truth) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (k, (pair, part, _)) in data.all.iter().enumerate() {
            put.execute(params![
                run_id,
                pair,
                part,
                to_blob(&probs[k * c..(k + 1) * c]),
                eval::truth_json(labels, *pair, classes),
            ])?;
        }
    }
    if let Some((image, report)) = &views {
        let mut put = tx.prepare(
            "INSERT INTO run_view_predictions (run_id, view, pair_id, part, probs) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (view, p) in [("image", image), ("report", report)] {
            for (k, (pair, part, _)) in data.all.iter().enumerate() {
                put.execute(params![
                    run_id,
                    view,
                    pair,
                    part,
                    to_blob(&p[k * c..(k + 1) * c])
                ])?;
            }
        }
    }
    confidence::fill(&tx, run_id)?;
    tx.execute(
        "UPDATE runs SET status = 'done', best_epoch = ?2, dir = ?3, finished_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        params![run_id, fitted.best_epoch as i64, dir.to_string_lossy()],
    )?;
    tx.commit()?;
    Ok(())
}
