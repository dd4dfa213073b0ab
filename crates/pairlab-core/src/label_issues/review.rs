//! The review queue's acts on a flagged row: accept the suggestion (it becomes a person's
//! label), keep the given label (confirmed as a person's), or open it again (after an
//! undo). Each is recorded beside the row; the label changes go through the audit trail
//! like any other, so `undo` takes them back.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::LabelIssue;
use crate::error::{Error, Result};
use crate::labels::{self, SchemaKind};

/// What a reviewer makes of a flagged row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The suggestion becomes a human label.
    Accept,
    /// The given label stays, confirmed as a human label.
    Keep,
    /// Back in the queue (the UI's undo of an accept or a keep).
    Open,
}

/// A reviewer's act done: the row as it now stands, and how many label changes it wrote
/// (what an undo of it takes back).
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Resolved {
    pub issue: LabelIssue,
    pub label_events: u32,
}

/// Records a reviewer's act on one flagged row and makes its label change.
pub fn resolve(
    conn: &mut Connection,
    set: i64,
    pair: i64,
    class: &str,
    outcome: Outcome,
    annotator: &str,
) -> Result<Resolved> {
    let schema: String = conn
        .query_row(
            "SELECT sc.name FROM label_issue_sets s JOIN schemas sc ON sc.id = s.schema_id WHERE s.id = ?1",
            [set],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("label issues {set}")))?;
    let row = super::issue(conn, set, pair, class)?
        .ok_or_else(|| Error::NotFound(format!("label issue of pair {pair}, class {class:?}")))?;
    let kind = labels::schema::get(conn, &schema)?.kind;
    let mut written = 0u32;
    let mut count = |ev: Option<labels::LabelEvent>| written += u32::from(ev.is_some());
    match outcome {
        Outcome::Accept => match (&row.suggested_class, kind) {
            (Some(to), SchemaKind::MultiClass) => {
                written += labels::set_human_class(conn, pair, &schema, to, annotator, false)?;
            }
            _ => count(labels::set_human(
                conn,
                pair,
                &schema,
                class,
                Some(row.suggested),
                annotator,
            )?),
        },
        Outcome::Keep => count(labels::set_human(
            conn,
            pair,
            &schema,
            class,
            Some(row.given),
            annotator,
        )?),
        Outcome::Open => {}
    }
    match outcome {
        Outcome::Open => conn.execute(
            "DELETE FROM label_issue_outcomes WHERE set_id = ?1 AND pair_id = ?2 AND class = ?3",
            params![set, pair, class],
        )?,
        Outcome::Accept | Outcome::Keep => conn.execute(
            "INSERT OR REPLACE INTO label_issue_outcomes (set_id, pair_id, class, outcome, annotator)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                set,
                pair,
                class,
                if outcome == Outcome::Accept { "accepted" } else { "kept" },
                annotator
            ],
        )?,
    };
    let issue = super::issue(conn, set, pair, class)?
        .ok_or_else(|| Error::NotFound(format!("label issue of pair {pair}, class {class:?}")))?;
    Ok(Resolved {
        issue,
        label_events: written,
    })
}
