//! The modality ablation of a run that sees both a pair's image and its report: the run
//! scored with the image only (the report masked as in training), the report only and
//! both, from the per-view predictions stored with it (`run_view_predictions`).

use rusqlite::{Connection, params};
use serde::Serialize;
use ts_rs::TS;

use super::eval::{EvalReport, Labels, Pred, Scored};
use super::thresholds::thresholds_of;
use crate::embed::from_blob;
use crate::error::Result;
use crate::labels::SchemaKind;

/// One class's figures in one view.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ViewClass {
    pub class: String,
    pub f1: f64,
    /// None when the part has no positive or no negative of the class.
    pub auroc: Option<f64>,
    pub average_precision: Option<f64>,
}

/// A run's figures in one view.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ViewEval {
    pub macro_f1: f64,
    pub map: Option<f64>,
    pub samples: u64,
    pub per_class: Vec<ViewClass>,
}

impl ViewEval {
    fn of(r: &EvalReport) -> Self {
        ViewEval {
            macro_f1: r.macro_f1,
            map: r.map,
            samples: r.samples,
            per_class: r
                .per_class
                .iter()
                .map(|c| ViewClass {
                    class: c.class.clone(),
                    f1: c.f1,
                    auroc: c.auroc.map(|a| a.value),
                    average_precision: c.auprc.map(|a| a.value),
                })
                .collect(),
        }
    }
}

/// The three views of one part.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Ablation {
    /// The image alone (the report masked).
    pub image: ViewEval,
    /// The report alone (the image masked).
    pub report: ViewEval,
    /// Both, as the run predicts (what the rest of the report scores).
    pub both: ViewEval,
}

fn view_predictions(conn: &Connection, run: i64, part: &str, view: &str) -> Result<Vec<Pred>> {
    let rows = conn
        .prepare(
            "SELECT pair_id, probs FROM run_view_predictions
             WHERE run_id = ?1 AND part = ?2 AND view = ?3 ORDER BY pair_id",
        )?
        .query_map(params![run, part, view], |r| {
            let b: Vec<u8> = r.get(1)?;
            Ok(Pred {
                pair: r.get(0)?,
                probs: from_blob(&b),
                truth: None,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The ablation of run `run` on `part` (whose report with both sides is `both`), or None
/// for a run without per-view predictions. Each view is decided at thresholds of its own
/// val predictions, as the run's report is at those of its own.
pub(super) fn ablation(
    conn: &Connection,
    run: i64,
    part: &str,
    both: &EvalReport,
    (classes, labels): (&[String], &Labels),
) -> Result<Option<Ablation>> {
    let has: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM run_view_predictions WHERE run_id = ?1)",
        [run],
        |r| r.get(0),
    )?;
    if !has {
        return Ok(None);
    }
    let score = |view: &str| -> Result<ViewEval> {
        let preds = view_predictions(conn, run, part, view)?;
        let scored = Scored {
            run,
            part,
            classes,
            preds: &preds,
            labels,
        };
        let r = match both.kind {
            SchemaKind::MultiClass => scored.multi_class()?,
            SchemaKind::MultiLabel => {
                let val = view_predictions(conn, run, "val", view)?;
                scored.multi_label(&thresholds_of(classes, &val, labels))?
            }
        };
        Ok(ViewEval::of(&r))
    };
    Ok(Some(Ablation {
        image: score("image")?,
        report: score("report")?,
        both: ViewEval::of(both),
    }))
}
