//! One pair's prediction by a run, as the Sample view shows it beside the labels.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use ts_rs::TS;

use super::disagreement::disagreement;
use super::eval::schema_of;
use super::get;
use super::thresholds::val_thresholds;
use crate::embed::from_blob;
use crate::error::{Error, Result};
use crate::labels::{LabelSource, SchemaKind, pair_values_without};

/// A run's prediction for one pair.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct PairPrediction {
    pub run: i64,
    pub pair: i64,
    /// The part of the run's split the pair is in (`train`, `val`, `test`, …).
    pub part: String,
    /// `multi-label` or `multi-class`.
    pub kind: String,
    /// Every class of the run, in the run's order.
    pub classes: Vec<ClassPrediction>,
}

/// One class of a [`PairPrediction`].
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ClassPrediction {
    pub class: String,
    pub probability: f32,
    /// Multi-label: the class's decision threshold (best F1 on the val part, 0.5 without
    /// labelled positives there), as Evaluate uses it.
    pub threshold: Option<f32>,
    /// Multi-label: the probability reaches the threshold; multi-class: the most probable
    /// class.
    pub predicted: bool,
    /// The class's current label (a person's, else the most confident machine one, never
    /// this run's own pre-label), None when blank.
    pub label: Option<i8>,
    /// The prediction differs from that label (as `runs::disagreement` flags a pair;
    /// uncertain and blank labels never differ).
    pub disagrees: bool,
}

/// What run `run` predicted for pair `pair`.
pub fn pair_prediction(conn: &Connection, run: i64, pair: i64) -> Result<PairPrediction> {
    let summary = get(conn, run)?;
    let (part, blob): (String, Vec<u8>) = conn
        .query_row(
            "SELECT part, probs FROM run_predictions WHERE run_id = ?1 AND pair_id = ?2",
            params![run, pair],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "a prediction of run {run} for pair {pair} (the run predicts the pairs of split {})",
                summary.split
            ))
        })?;
    let probs = from_blob(&blob);
    let (schema_id, kind) = schema_of(conn, run)?;
    let thresholds = match kind {
        SchemaKind::MultiLabel => Some(val_thresholds(conn, run)?),
        SchemaKind::MultiClass => None,
    };
    let top = (0..probs.len()).fold(0, |b, k| if probs[k] > probs[b] { k } else { b });
    let own = LabelSource::run(run);
    let current = pair_values_without(conn, schema_id, Some(own.as_str()), pair)?;
    let classes = summary
        .classes
        .iter()
        .zip(&probs)
        .enumerate()
        .map(|(k, (class, &probability))| {
            let threshold = thresholds.as_ref().map(|t| t[k]);
            let predicted = threshold.map_or(k == top, |t| probability >= t);
            let label = current.get(class).copied();
            // The grid's rule, on this class alone.
            let mut only = vec![None; probs.len()];
            only[k] = label;
            let disagrees = disagreement(&probs, &only, thresholds.as_deref())
                .is_some_and(|(_, differs)| differs);
            ClassPrediction {
                class: class.clone(),
                probability,
                threshold,
                predicted,
                label,
                disagrees,
            }
        })
        .collect();
    Ok(PairPrediction {
        run,
        pair,
        part,
        kind: kind.as_str().to_owned(),
        classes,
    })
}
