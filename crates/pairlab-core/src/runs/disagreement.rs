//! How far a run's predictions are from the pairs' current labels: a score per pair that
//! the Browse grid sorts by ("where does the model disagree with the labels most?") and a
//! flag it filters by (the prediction and the label differ for some class).
//!
//! The labels are the current ones (a person's, else the most confident machine source),
//! never the run's own pre-labels. Multi-label: over the classes labelled 0 or 1, the
//! largest `|label − probability|`; the flag says the prediction at the class's threshold
//! differs from the label for some class. Multi-class: `1 − p` of the labelled class; the
//! flag says the most probable class is another one. Uncertain and blank labels do not
//! count; a pair without a counted label gets no score.
//!
//! Scores are kept in `run_scores` and worked out again only when a label changed since
//! (the newest `label_events` id is kept beside them).

use rusqlite::{Connection, OptionalExtension, params};

use super::eval::{label_values, schema_of};
use super::get;
use super::thresholds::val_thresholds;
use crate::embed::from_blob;
use crate::error::Result;
use crate::labels::SchemaKind;

/// The `run_scores` kind of this score.
pub const KIND: &str = "disagreement";

/// A pair's score and flag from its probabilities and its labels over `classes`
/// (`thresholds` for multi-label); None without a counted label.
pub fn disagreement(
    probs: &[f32],
    labels: &[Option<i8>],
    thresholds: Option<&[f32]>,
) -> Option<(f64, bool)> {
    match thresholds {
        Some(th) => {
            let mut out: Option<(f64, bool)> = None;
            for (k, v) in labels.iter().enumerate() {
                let Some(v @ (0 | 1)) = *v else { continue };
                let p = f64::from(probs[k]);
                let d = (f64::from(v) - p).abs();
                let differs = (probs[k] >= th[k]) != (v == 1);
                let (score, flag) = out.unwrap_or((0.0, false));
                out = Some((score.max(d), flag || differs));
            }
            out
        }
        None => {
            let k = labels.iter().position(|v| *v == Some(1))?;
            let top = (0..probs.len()).fold(0, |b, j| if probs[j] > probs[b] { j } else { b });
            Some((1.0 - f64::from(probs[k]), top != k))
        }
    }
}

/// Works out the run's scores again when a label changed since they were kept.
pub fn fill(conn: &Connection, run: i64) -> Result<()> {
    let summary = get(conn, run)?;
    let newest = crate::labels::newest_event(conn)?;
    let kept: Option<i64> = conn
        .query_row(
            "SELECT label_event FROM run_score_fills WHERE run_id = ?1 AND kind = ?2",
            params![run, KIND],
            |r| r.get(0),
        )
        .optional()?;
    if kept == Some(newest) {
        return Ok(());
    }
    let (schema_id, kind) = schema_of(conn, run)?;
    let labels = label_values(conn, schema_id, run)?;
    let thresholds = match kind {
        SchemaKind::MultiLabel => Some(val_thresholds(conn, run)?),
        SchemaKind::MultiClass => None,
    };
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "DELETE FROM run_scores WHERE run_id = ?1 AND kind = ?2",
        params![run, KIND],
    )?;
    {
        let mut rows =
            tx.prepare("SELECT pair_id, probs FROM run_predictions WHERE run_id = ?1")?;
        let mut put = tx.prepare(
            "INSERT INTO run_scores (run_id, kind, pair_id, score, flagged) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        let mut it = rows.query([run])?;
        while let Some(r) = it.next()? {
            let pair: i64 = r.get(0)?;
            let probs = from_blob(&r.get::<_, Vec<u8>>(1)?);
            let values: Vec<Option<i8>> = summary
                .classes
                .iter()
                .map(|c| labels.get(&(pair, c.clone())).copied())
                .collect();
            if let Some((score, flag)) = disagreement(&probs, &values, thresholds.as_deref()) {
                put.execute(params![run, KIND, pair, score, flag])?;
            }
        }
    }
    tx.execute(
        "INSERT INTO run_score_fills (run_id, kind, label_event) VALUES (?1, ?2, ?3)
         ON CONFLICT (run_id, kind) DO UPDATE SET label_event = excluded.label_event",
        params![run, KIND, newest],
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::disagreement;

    #[test]
    fn the_worst_labelled_class_scores_and_a_different_decision_flags() {
        let th = [0.5, 0.3, 0.5];
        // Labelled 1, 0, blank: |1 − 0.9| = 0.1, |0 − 0.4| = 0.4 and 0.4 ≥ 0.3 flags.
        assert_eq!(
            disagreement(&[0.9, 0.4, 0.99], &[Some(1), Some(0), None], Some(&th)),
            Some((0.4000000059604645, true))
        );
        // Agreeing everywhere: scored, not flagged; uncertain labels do not count.
        let (s, flag) =
            disagreement(&[0.9, 0.1, 0.2], &[Some(1), Some(0), Some(-1)], Some(&th)).expect("s");
        assert!(!flag && (s - 0.1).abs() < 1e-6, "{s}");
        assert_eq!(disagreement(&[0.9], &[Some(-1)], Some(&[0.5])), None);
        // Multi-class: 1 − p of the labelled class; flagged when another class is on top.
        let (s, flag) = disagreement(&[0.7, 0.2, 0.1], &[None, Some(1), None], None).expect("mc");
        assert!(flag && (s - 0.8).abs() < 1e-6, "{s}");
        assert_eq!(disagreement(&[0.7, 0.3], &[None, None], None), None);
    }
}
