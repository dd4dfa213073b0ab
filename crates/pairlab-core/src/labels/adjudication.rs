//! A reviewer settles a disagreement between annotators: the value they decide becomes the
//! shared human label (through the audit trail, so `undo` takes it back, but marked as an
//! adjudication: it is not the reviewer's own rating and leaves every kappa as it was),
//! and the decision is kept beside the ratings until one of them changes. Opening it again
//! (the review queue's undo) removes the decision.

use rusqlite::{Connection, params};
use serde::Serialize;
use ts_rs::TS;

use super::agreement::{self, Disagreement, Resolution};
use super::{
    Schema, SchemaKind, adjudicate, check_annotator, parse_value, schema, set_human_class,
    unknown_class,
};
use crate::error::{Error, Result};

/// A decision made (or taken back): the disagreement as it now stands, and how many label
/// changes it wrote (what an undo of it takes back).
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Adjudicated {
    pub disagreement: Disagreement,
    pub label_events: u32,
}

/// What to decide on one disagreement.
#[derive(Clone, Copy, Debug)]
pub struct Decision<'a> {
    pub schema: &'a str,
    pub pair: i64,
    /// The class; None for a multi-class schema (the class given is decided).
    pub class: Option<&'a str>,
    /// "1", "0" or "-1" (multi-class: a class of the schema); None opens it again.
    pub value: Option<&'a str>,
    pub reviewer: &'a str,
}

/// Records a reviewer's decision on one disagreement and makes its label change.
pub fn resolve(conn: &mut Connection, d: Decision) -> Result<Adjudicated> {
    check_annotator(d.reviewer)?;
    let s = schema::get(conn, d.schema)?;
    let key = class_key(&s, d.class)?;
    let Some(value) = d.value else {
        conn.execute(
            "DELETE FROM disagreement_resolutions WHERE schema_id = ?1 AND pair_id = ?2 AND class = ?3",
            params![s.id, d.pair, key],
        )?;
        let disagreement = agreement::disagreement(conn, &s, d.pair, d.class)?
            .ok_or_else(|| none(&s, d.pair, d.class))?;
        return Ok(Adjudicated {
            disagreement,
            label_events: 0,
        });
    };
    let Some(mut disagreement) = agreement::disagreement(conn, &s, d.pair, d.class)? else {
        return Err(none(&s, d.pair, d.class));
    };
    let mut written = 0u32;
    let decided = match d.class {
        Some(class) => {
            let v = parse_value(value)?.ok_or_else(|| {
                Error::field("value", "decide 1, 0 or -1: a blank is no decision")
            })?;
            written += u32::from(
                adjudicate(conn, d.pair, d.schema, class, Some(v), d.reviewer)?.is_some(),
            );
            v.to_string()
        }
        None => {
            if !s.classes.iter().any(|c| c == value) {
                return Err(unknown_class(&s, "value", value));
            }
            written += set_human_class(conn, d.pair, d.schema, value, d.reviewer, true)?;
            value.to_string()
        }
    };
    let decided_at: String = conn.query_row(
        "INSERT OR REPLACE INTO disagreement_resolutions (schema_id, pair_id, class, value, reviewer)
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING decided_at",
        params![s.id, d.pair, key, decided, d.reviewer],
        |r| r.get(0),
    )?;
    disagreement.resolution = Some(Resolution {
        value: decided,
        reviewer: d.reviewer.to_string(),
        decided_at,
    });
    Ok(Adjudicated {
        disagreement,
        label_events: written,
    })
}

/// The resolutions table's class: the class of a multi-label schema, '' for multi-class.
fn class_key<'a>(s: &Schema, class: Option<&'a str>) -> Result<&'a str> {
    match (s.kind, class) {
        (SchemaKind::MultiClass, None) => Ok(""),
        (SchemaKind::MultiClass, Some(_)) => Err(Error::field(
            "class",
            format!(
                "schema {} is multi-class: its annotators disagree on the class given; leave the class out",
                s.name
            ),
        )),
        (SchemaKind::MultiLabel, None) => Err(Error::field(
            "class",
            format!("name the class of schema {} to decide", s.name),
        )),
        (SchemaKind::MultiLabel, Some(c)) if s.classes.iter().any(|x| x == c) => Ok(c),
        (SchemaKind::MultiLabel, Some(c)) => Err(unknown_class(s, "class", c)),
    }
}

fn none(s: &Schema, pair: i64, class: Option<&str>) -> Error {
    Error::NotFound(format!(
        "a disagreement on pair {pair}{} under schema {}: its annotators agree, or fewer than two labelled it",
        class.map(|c| format!(", class {c}")).unwrap_or_default(),
        s.name
    ))
}

#[cfg(test)]
#[path = "adjudication_tests.rs"]
mod tests;
