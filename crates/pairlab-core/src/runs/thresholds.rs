//! A run's per-class decision thresholds (multi-label): the best-F1 threshold of each class
//! on the run's val part, kept in `run_thresholds` until a label changes.

use rusqlite::{Connection, OptionalExtension, params};

use super::eval::{Labels, Pred, label_values, predictions, schema_of};
use super::get;
use crate::embed::from_blob;
use crate::error::Result;
use pairlab_ml::metrics;

/// Per class, the best-F1 threshold on the run's val part (0.5 without labelled
/// positives there) — how multi-label probabilities become labels.
///
/// They read every label of the schema, so they are kept in `run_thresholds` with the
/// newest label event they were worked out from, and worked out again only after a label
/// changed (the Sample view asks for them at every step).
pub fn val_thresholds(conn: &Connection, run: i64) -> Result<Vec<f32>> {
    let newest = crate::labels::newest_event(conn)?;
    let kept: Option<Vec<u8>> = conn
        .query_row(
            "SELECT thresholds FROM run_thresholds WHERE run_id = ?1 AND label_event = ?2",
            params![run, newest],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(blob) = kept {
        return Ok(from_blob(&blob));
    }
    let summary = get(conn, run)?;
    let (schema_id, _) = schema_of(conn, run)?;
    let labels = label_values(conn, schema_id, run)?;
    let val = predictions(conn, run, "val").unwrap_or_default();
    let thresholds = thresholds_of(&summary.classes, &val, &labels);
    // A cache: when another writer holds the lock, the answer is still right.
    let _ = conn.execute(
        "INSERT INTO run_thresholds (run_id, label_event, thresholds) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id) DO UPDATE SET label_event = excluded.label_event,
           thresholds = excluded.thresholds",
        params![run, newest, crate::embed::to_blob(&thresholds)],
    );
    Ok(thresholds)
}

/// Per class, the best-F1 threshold of the val predictions `val` (0.5 without labelled
/// positives).
pub(super) fn thresholds_of(classes: &[String], val: &[Pred], labels: &Labels) -> Vec<f32> {
    classes
        .iter()
        .enumerate()
        .map(|(c, class)| {
            let (mut s, mut t) = (Vec::new(), Vec::new());
            for p in val {
                if let Some(v @ (0 | 1)) = labels.get(&(p.pair, class.clone())).copied() {
                    s.push(p.probs[c]);
                    t.push(v == 1);
                }
            }
            let th = if t.iter().any(|&x| x) {
                metrics::best_threshold_f1(&s, &t)
            } else {
                0.5
            };
            if th.is_finite() { th } else { 0.5 }
        })
        .collect()
}
