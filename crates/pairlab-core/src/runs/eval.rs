//! Evaluating a run on one part of its split: accuracy, per-class precision / recall / F1
//! / support, macro and micro F1, AUROC and AUPRC with 95 % bootstrap intervals (1,000
//! seeded resamples), calibration (ECE), per-class thresholds chosen on the val part
//! (multi-label), the confusion matrix (multi-class) or a 2×2 per class (multi-label),
//! ROC and PR curves; and the samples behind a confusion-matrix cell.

use std::collections::HashMap;
use ts_rs::TS;

use pairlab_ml::curves::{pr_curve, roc_curve};
use pairlab_ml::metrics;
pub use pairlab_ml::metrics::{Ci, ConfusionMatrix};
use rusqlite::{Connection, params};
use serde::Serialize;

use super::get;
use super::thresholds::val_thresholds;
use crate::embed::from_blob;
use crate::error::{Error, Result};
use crate::labels::{LabelKey, Provenance, SchemaKind};

/// Label values by (pair, class).
pub(super) type Labels = HashMap<(i64, String), i8>;

/// The truth a run is scored against: each class's best label, leaving out the run's own
/// pre-labels (`pairlab prelabel model --run`).
pub(super) fn label_values(conn: &Connection, schema_id: i64, run: i64) -> Result<Labels> {
    let own = crate::labels::LabelSource::run(run);
    crate::labels::best_values_without(conn, schema_id, Some(own.as_str()))
}

/// Bootstrap resamples for every interval.
pub const RESAMPLES: usize = 1000;

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ClassEval {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
    pub auroc: Option<Ci>,
    pub auprc: Option<Ci>,
    pub ece: f64,
    /// Multi-label: the decision threshold (best F1 on the val part; 0.5 without one).
    pub threshold: Option<f32>,
    /// Multi-label: `[[tn, fp], [fn, tp]]`.
    pub confusion: Option<[[u64; 2]; 2]>,
    /// (false-positive rate, true-positive rate, threshold); an infinite threshold (the
    /// curve's first point) is `null` in JSON.
    #[ts(type = "Array<[number, number, number | null]>")]
    pub roc: Vec<(f64, f64, f32)>,
    /// (recall, precision, threshold)
    #[ts(type = "Array<[number, number, number | null]>")]
    pub pr: Vec<(f64, f64, f32)>,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct EvalReport {
    pub run_id: i64,
    pub part: String,
    pub kind: SchemaKind,
    /// Samples evaluated (multi-label: pairs with at least one labelled class).
    pub samples: u64,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub micro_f1: f64,
    pub ece: f64,
    /// Mean average precision: the mean over classes of each class's average precision
    /// (scikit-learn's `average_precision_score`), classes without a positive in this part
    /// left out; None when no class has one.
    pub map: Option<f64>,
    pub per_class: Vec<ClassEval>,
    /// Multi-class only.
    pub confusion_matrix: Option<ConfusionMatrix>,
    /// Pairs of this part whose labels differ from those they had when the run was
    /// trained (the metrics use the current ones). None for runs stored before Pairlab
    /// kept the labels a run was trained with.
    pub relabelled_since_training: Option<u64>,
    /// A fusion run: the same run scored with the image only, the report only and both.
    pub ablation: Option<super::ablation::Ablation>,
}

pub(super) struct Pred {
    pub pair: i64,
    pub probs: Vec<f32>,
    /// The pair's labels when the run was trained ([`truth_json`]).
    pub truth: Option<String>,
}

pub(super) fn predictions(conn: &Connection, run: i64, part: &str) -> Result<Vec<Pred>> {
    let rows: Vec<Pred> = conn
        .prepare("SELECT pair_id, probs, truth FROM run_predictions WHERE run_id = ?1 AND part = ?2 ORDER BY pair_id")?
        .query_map(params![run, part], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok(Pred { pair: r.get(0)?, probs: from_blob(&b), truth: r.get(2)? })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A pair's label values over `classes` as stored with a run: a JSON array of 1, 0, -1 or
/// null.
pub(super) fn truth_json(labels: &Labels, pair: i64, classes: &[String]) -> String {
    let values: Vec<Option<i8>> = classes
        .iter()
        .map(|c| labels.get(&(pair, c.clone())).copied())
        .collect();
    serde_json::to_string(&values).unwrap_or_default()
}

/// How many of `preds` have labels now that differ from those the run was trained with;
/// None when the run did not keep them.
fn relabelled(preds: &[Pred], labels: &Labels, classes: &[String]) -> Option<u64> {
    preds.iter().try_fold(0u64, |n, p| {
        let then = p.truth.as_deref()?;
        Some(n + u64::from(then != truth_json(labels, p.pair, classes)))
    })
}

/// The id and kind of a run's schema.
pub(super) fn schema_of(conn: &Connection, run: i64) -> Result<(i64, SchemaKind)> {
    let (id, kind): (i64, String) = conn.query_row(
        "SELECT s.id, s.kind FROM runs r JOIN schemas s ON s.id = r.schema_id WHERE r.id = ?1",
        [run],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((id, SchemaKind::parse(&kind)?))
}

/// The mean of the classes' average precisions that are defined (a class needs a positive).
pub(crate) fn mean_ap(aps: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    let defined: Vec<f64> = aps.into_iter().flatten().collect();
    (!defined.is_empty()).then(|| defined.iter().sum::<f64>() / defined.len() as f64)
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len())
        .max_by(|&a, &b| v[a].total_cmp(&v[b]))
        .unwrap_or(0)
}

fn intervals(scores: &[f32], truth: &[bool], seed: u64) -> (Option<Ci>, Option<Ci>) {
    let pick = |idx: &[usize]| -> (Vec<f32>, Vec<bool>) {
        idx.iter().map(|&i| (scores[i], truth[i])).unzip()
    };
    let auroc = Ci::bootstrap(scores.len(), RESAMPLES, seed, |idx| {
        let (s, t) = pick(idx);
        metrics::roc_auc(&s, &t)
    });
    let auprc = Ci::bootstrap(scores.len(), RESAMPLES, seed + 1, |idx| {
        let (s, t) = pick(idx);
        metrics::average_precision(&s, &t)
    });
    (auroc, auprc)
}

/// Writes a run's predictions for every pair of its split as labels with source
/// `model:run-<id>` and the probability as confidence (multi-label: 1 at or above the class's
/// val threshold, else 0; multi-class: the most probable class). Human labels stay.
pub fn prelabel(conn: &mut Connection, run: i64) -> Result<(String, u64)> {
    let summary = get(conn, run)?;
    if summary.status != super::RunStatus::Done {
        return Err(Error::Invalid(format!(
            "run {run} is {}, not done",
            summary.status
        )));
    }
    let multi_class = schema_of(conn, run)?.1 == SchemaKind::MultiClass;
    let schema = crate::labels::schema::get(conn, &summary.schema)?;
    let thresholds = val_thresholds(conn, run)?;
    let source = crate::labels::LabelSource::run(run).as_str().to_owned();
    let preds: Vec<Pred> = conn
        .prepare("SELECT pair_id, probs FROM run_predictions WHERE run_id = ?1 ORDER BY pair_id")?
        .query_map([run], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok(Pred {
                pair: r.get(0)?,
                probs: from_blob(&b),
                truth: None,
            })
        })?
        .collect::<Result<_, _>>()?;
    let tx = conn.transaction()?;
    for p in &preds {
        if multi_class {
            let k = argmax(&p.probs);
            for (c, class) in summary.classes.iter().enumerate() {
                let (v, conf) = if c == k {
                    (Some(1), Some(f64::from(p.probs[c])))
                } else {
                    (None, None)
                };
                let key = LabelKey::new(p.pair, &schema, class, &source);
                let with = Provenance {
                    confidence: conf,
                    ..Default::default()
                };
                crate::labels::set_machine(&tx, key, v, with)?;
            }
        } else {
            for (c, class) in summary.classes.iter().enumerate() {
                let v = i8::from(p.probs[c] >= thresholds[c]);
                let key = LabelKey::new(p.pair, &schema, class, &source);
                let with = Provenance {
                    confidence: Some(f64::from(p.probs[c])),
                    ..Default::default()
                };
                crate::labels::set_machine(&tx, key, Some(v), with)?;
            }
        }
    }
    tx.commit()?;
    Ok((source, preds.len() as u64))
}

/// Evaluates run `run` on the pairs of its split's `part`.
pub fn evaluate(conn: &Connection, run: i64, part: &str) -> Result<EvalReport> {
    let summary = get(conn, run)?;
    if summary.status != super::RunStatus::Done {
        return Err(Error::Invalid(format!(
            "run {run} is {}, not done",
            summary.status
        )));
    }
    let classes = summary.classes.clone();
    let (schema_id, kind) = schema_of(conn, run)?;
    let labels = label_values(conn, schema_id, run)?;
    let preds = predictions(conn, run, part)?;
    if preds.is_empty() {
        return Err(Error::NotFound(format!(
            "run {run} has no predictions for part {part:?} of split {}",
            summary.split
        )));
    }
    let scored = Scored {
        run,
        part,
        classes: &classes,
        preds: &preds,
        labels: &labels,
    };
    let mut report = match kind {
        SchemaKind::MultiClass => scored.multi_class(),
        SchemaKind::MultiLabel => scored.multi_label(&val_thresholds(conn, run)?),
    }?;
    report.ablation = super::ablation::ablation(conn, run, part, &report, (&classes, &labels))?;
    Ok(report)
}

/// A run's predictions on one part with the labels they are scored against.
pub(super) struct Scored<'a> {
    pub run: i64,
    pub part: &'a str,
    pub classes: &'a [String],
    pub preds: &'a [Pred],
    pub labels: &'a Labels,
}

impl Scored<'_> {
    /// A pair's label of a class.
    fn truth_of(&self, pair: i64, class: &str) -> Option<i8> {
        self.labels.get(&(pair, class.to_string())).copied()
    }

    /// Multi-class: each pair's labelled class against its most probable one.
    pub(super) fn multi_class(&self) -> Result<EvalReport> {
        let (run, part, classes, preds, labels) =
            (self.run, self.part, self.classes, self.preds, self.labels);
        let (mut truth, mut pred, mut conf, mut correct) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut rows = Vec::new();
        for p in preds {
            let Some(t) = classes
                .iter()
                .position(|c| self.truth_of(p.pair, c) == Some(1))
            else {
                continue;
            };
            let k = argmax(&p.probs);
            truth.push(t);
            pred.push(k);
            conf.push(p.probs[k]);
            correct.push(t == k);
            rows.push(p);
        }
        if truth.is_empty() {
            return Err(Error::Invalid(format!(
                "no labelled pairs in part {part:?}"
            )));
        }
        let cm = ConfusionMatrix::new(classes.to_vec(), &truth, &pred);
        let reports = metrics::per_class(&cm);
        let per_class = reports
            .iter()
            .enumerate()
            .map(|(c, r)| {
                let scores: Vec<f32> = rows.iter().map(|p| p.probs[c]).collect();
                let is: Vec<bool> = truth.iter().map(|&t| t == c).collect();
                let (auroc, auprc) = intervals(&scores, &is, 2 * c as u64);
                ClassEval {
                    class: r.class.clone(),
                    precision: r.precision,
                    recall: r.recall,
                    f1: r.f1,
                    support: r.support,
                    auroc,
                    auprc,
                    ece: metrics::expected_calibration_error(&scores, &is, 10),
                    threshold: None,
                    confusion: None,
                    roc: roc_curve(&scores, &is),
                    pr: pr_curve(&scores, &is),
                }
            })
            .collect();
        let present: Vec<_> = reports.iter().filter(|r| r.support > 0).cloned().collect();
        let map = mean_ap((0..classes.len()).map(|c| {
            let scores: Vec<f32> = rows.iter().map(|p| p.probs[c]).collect();
            let is: Vec<bool> = truth.iter().map(|&t| t == c).collect();
            metrics::average_precision(&scores, &is)
        }));
        Ok(EvalReport {
            run_id: run,
            part: part.into(),
            kind: SchemaKind::MultiClass,
            samples: truth.len() as u64,
            accuracy: metrics::accuracy(&cm),
            macro_f1: metrics::macro_f1(&present),
            micro_f1: metrics::micro_f1(&cm),
            ece: metrics::expected_calibration_error(&conf, &correct, 10),
            map,
            per_class,
            confusion_matrix: Some(cm),
            relabelled_since_training: relabelled(preds, labels, classes),
            ablation: None,
        })
    }

    /// Multi-label: per class, the pairs with a 1 or 0 label (uncertain and blank left
    /// out), decided at the class's val threshold.
    pub(super) fn multi_label(&self, thresholds: &[f32]) -> Result<EvalReport> {
        let (run, part, classes, preds, labels) =
            (self.run, self.part, self.classes, self.preds, self.labels);
        // Multi-label: per class, the pairs with a 1 or 0 label (uncertain and blank left out).
        let mut per_class = Vec::new();
        let (mut total, mut right) = ([[0u64; 2]; 2], 0u64);
        let mut evaluated = std::collections::HashSet::new();
        let mut all_probs = Vec::new();
        let mut all_truth = Vec::new();
        let mut aps = Vec::new();
        for (c, class) in classes.iter().enumerate() {
            let labelled = |ps: &[Pred]| -> (Vec<f32>, Vec<bool>, Vec<i64>) {
                let mut out = (Vec::new(), Vec::new(), Vec::new());
                for p in ps {
                    if let Some(v @ (0 | 1)) = self.truth_of(p.pair, class) {
                        out.0.push(p.probs[c]);
                        out.1.push(v == 1);
                        out.2.push(p.pair);
                    }
                }
                out
            };
            let (scores, truth, pairs) = labelled(preds);
            if scores.is_empty() {
                continue;
            }
            let threshold = thresholds[c];
            let decided: Vec<bool> = scores.iter().map(|&s| s >= threshold).collect();
            let counts = metrics::binary_counts(&decided, &truth);
            for a in 0..2 {
                for b in 0..2 {
                    total[a][b] += counts[a][b];
                }
            }
            right += counts[0][0] + counts[1][1];
            evaluated.extend(pairs);
            all_probs.extend_from_slice(&scores);
            all_truth.extend_from_slice(&truth);
            aps.push(metrics::average_precision(&scores, &truth));
            let (auroc, auprc) = intervals(&scores, &truth, 2 * c as u64);
            per_class.push(ClassEval {
                class: class.clone(),
                precision: metrics::binary_precision(&counts),
                recall: metrics::binary_recall(&counts),
                f1: metrics::binary_f1(&counts),
                support: counts[1][0] + counts[1][1],
                auroc,
                auprc,
                ece: metrics::expected_calibration_error(&scores, &truth, 10),
                threshold: Some(threshold),
                confusion: Some(counts),
                roc: roc_curve(&scores, &truth),
                pr: pr_curve(&scores, &truth),
            });
        }
        if per_class.is_empty() {
            return Err(Error::Invalid(format!(
                "no labelled pairs in part {part:?}"
            )));
        }
        let entries: u64 = total.iter().flatten().sum();
        Ok(EvalReport {
            run_id: run,
            part: part.into(),
            kind: SchemaKind::MultiLabel,
            samples: evaluated.len() as u64,
            accuracy: right as f64 / entries.max(1) as f64,
            // Classes without a positive in this part have no defined F1; they are left out.
            macro_f1: {
                let present: Vec<f64> = per_class
                    .iter()
                    .filter(|c| c.support > 0)
                    .map(|c| c.f1)
                    .collect();
                present.iter().sum::<f64>() / present.len().max(1) as f64
            },
            micro_f1: metrics::binary_f1(&total),
            ece: metrics::expected_calibration_error(&all_probs, &all_truth, 10),
            map: mean_ap(aps),
            per_class,
            confusion_matrix: None,
            relabelled_since_training: relabelled(preds, labels, classes),
            ablation: None,
        })
    }
}

/// One misclassified sample.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Misclassified {
    pub pair: i64,
    pub truth: String,
    pub predicted: String,
    /// The probability of the predicted class.
    pub confidence: f32,
    pub image: String,
}

/// The samples behind a confusion-matrix cell, most confident mistakes first. Multi-class:
/// `truth` and `pred` are class names (all off-diagonal cells when both are None).
/// Multi-label: the cell of `class`'s 2×2 table, `truth` and `pred` `1` or `0` at the
/// class's val threshold (both None: its false positives and false negatives).
pub fn misclassified(
    conn: &Connection,
    run: i64,
    part: &str,
    class: Option<&str>,
    truth: Option<&str>,
    pred: Option<&str>,
) -> Result<Vec<Misclassified>> {
    let summary = get(conn, run)?;
    let (schema_id, kind) = schema_of(conn, run)?;
    let multi_class = kind == SchemaKind::MultiClass;
    let labels = label_values(conn, schema_id, run)?;
    let images: HashMap<i64, String> = conn
        .prepare(
            "SELECT p.id, i.path FROM run_predictions r JOIN pairs p ON p.id = r.pair_id
             JOIN images i ON i.id = p.image_id WHERE r.run_id = ?1",
        )?
        .query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let in_cell = |t: &str, p: &str| match (truth, pred) {
        (None, None) => t != p,
        (a, b) => a.is_none_or(|a| a == t) && b.is_none_or(|b| b == p),
    };
    let mut out = Vec::new();
    let mut push = |pair: i64, t: &str, p: &str, confidence: f32| {
        out.push(Misclassified {
            pair,
            truth: t.to_owned(),
            predicted: p.to_owned(),
            confidence,
            image: images.get(&pair).cloned().unwrap_or_default(),
        })
    };
    if multi_class {
        if let Some(c) = class {
            return Err(Error::Invalid(format!(
                "run {run} is multi-class: give the cell as true and pred classes, not class {c:?}"
            )));
        }
        for c in truth.iter().chain(pred.iter()) {
            if !summary.classes.iter().any(|x| x == c) {
                return Err(Error::Invalid(format!("run {run} has no class {c:?}")));
            }
        }
        for p in predictions(conn, run, part)? {
            let t = summary
                .classes
                .iter()
                .find(|c| labels.get(&(p.pair, (*c).clone())) == Some(&1));
            let Some(t) = t else { continue };
            let k = argmax(&p.probs);
            if in_cell(t, &summary.classes[k]) {
                push(p.pair, t, &summary.classes[k], p.probs[k]);
            }
        }
    } else {
        let class = class.ok_or_else(|| {
            Error::Invalid(format!(
                "run {run} is multi-label: name the class whose 2×2 cell you want"
            ))
        })?;
        let c = summary
            .classes
            .iter()
            .position(|x| x == class)
            .ok_or_else(|| Error::Invalid(format!("run {run} has no class {class:?}")))?;
        for v in truth.iter().chain(pred.iter()) {
            if !matches!(*v, "1" | "0") {
                return Err(Error::Invalid(format!(
                    "a multi-label cell is 1 or 0, not {v:?}"
                )));
            }
        }
        let threshold = val_thresholds(conn, run)?[c];
        for p in predictions(conn, run, part)? {
            let Some(v @ (0 | 1)) = labels.get(&(p.pair, class.to_owned())).copied() else {
                continue;
            };
            let positive = p.probs[c] >= threshold;
            let (t, pr) = (
                if v == 1 { "1" } else { "0" },
                if positive { "1" } else { "0" },
            );
            if in_cell(t, pr) {
                let conf = if positive {
                    p.probs[c]
                } else {
                    1.0 - p.probs[c]
                };
                push(p.pair, t, pr, conf);
            }
        }
    }
    out.sort_by(|a, b| {
        b.confidence
            .total_cmp(&a.confidence)
            .then(a.pair.cmp(&b.pair))
    });
    Ok(out)
}

#[cfg(test)]
#[path = "eval_tests.rs"]
mod tests;
