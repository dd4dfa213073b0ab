//! Labels: one row per (pair, schema, class, source) with CheXpert values 1 / 0 / -1 (a
//! blank is no row). Sources are `human` (with the annotator), `report-rules`,
//! `model:<name>` and `import`. A machine source never touches a human row; the current
//! value of a class is the human one if any, else the most confident machine one. Every
//! change is appended to `label_events`, which also drives per-annotator undo and redo.

pub mod import;
pub mod schema;
mod values;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Result};
mod source;
pub use schema::{Prompt, Schema, SchemaDef, SchemaKind};
pub use source::LabelSource;

/// The source name of labels set by a person.
pub const HUMAN: &str = "human";

pub use values::{MAX_ANNOTATOR, check_annotator, parse_value};

/// One entry of the audit trail.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct LabelEvent {
    pub id: i64,
    pub pair: i64,
    pub schema: String,
    pub class: String,
    #[ts(as = "String")]
    pub source: LabelSource,
    pub annotator: Option<String>,
    pub old_value: Option<i8>,
    pub new_value: Option<i8>,
    /// "set", "undo" or "redo".
    pub kind: String,
    /// The event an undo undoes, or the undo a redo redoes.
    pub ref_event: Option<i64>,
    pub time: String,
    /// The label import the change belongs to (undone and redone as one step).
    pub import_id: Option<i64>,
    /// A reviewer's decision on a disagreement between annotators (not their own rating;
    /// its undo and redo carry the mark).
    pub adjudication: bool,
}

/// The value a class has now, and where it comes from.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct CurrentLabel {
    pub class: String,
    pub value: i8,
    #[ts(as = "String")]
    pub source: LabelSource,
    pub annotator: Option<String>,
    pub confidence: Option<f64>,
}

/// Which label row: one class of one pair under one schema, from one source.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabelKey<'a> {
    pub pair: i64,
    /// The schema's id.
    pub schema: i64,
    pub class: &'a str,
    pub source: &'a str,
}

impl<'a> LabelKey<'a> {
    pub fn new(pair: i64, schema: &Schema, class: &'a str, source: &'a str) -> LabelKey<'a> {
        LabelKey {
            pair,
            schema: schema.id,
            class,
            source,
        }
    }
}

/// What a label row holds besides its value: who set it (people) or how sure the
/// machine was and why (machines).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Provenance<'a> {
    pub annotator: Option<&'a str>,
    pub confidence: Option<f64>,
    /// JSON: where a machine found the label (e.g. the report labeler's span).
    pub evidence: Option<&'a str>,
}

/// One change as the audit trail records it.
pub(crate) struct Change<'a> {
    pub(crate) annotator: Option<&'a str>,
    pub(crate) old: Option<i8>,
    pub(crate) new: Option<i8>,
    /// `set`, `undo` or `redo`.
    pub(crate) kind: &'a str,
    /// The event an undo or redo reverses.
    pub(crate) ref_event: Option<i64>,
    /// The label import it belongs to.
    pub(crate) batch: Option<i64>,
    /// A reviewer's decision between annotators: not the reviewer's own rating.
    pub(crate) adjudication: bool,
}

pub(crate) fn stored(conn: &Connection, key: LabelKey) -> Result<Option<i8>> {
    Ok(conn
        .prepare_cached(
            "SELECT value FROM labels WHERE pair_id = ?1 AND schema_id = ?2 AND class = ?3 AND source = ?4",
        )?
        .query_row(params![key.pair, key.schema, key.class, key.source], |r| r.get(0))
        .optional()?)
}

/// Writes (or, for a blank, removes) one label row without recording an event.
pub(crate) fn write_row(
    conn: &Connection,
    key: LabelKey,
    value: Option<i8>,
    with: Provenance,
) -> Result<()> {
    let Provenance {
        annotator,
        confidence,
        evidence,
    } = with;
    match value {
        Some(v) => conn
            .prepare_cached(
                "INSERT INTO labels (pair_id, schema_id, class, source, value, annotator, confidence, evidence)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (pair_id, schema_id, class, source) DO UPDATE SET
                   value = excluded.value, annotator = excluded.annotator,
                   confidence = excluded.confidence, evidence = excluded.evidence,
                   updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            )?
            .execute(params![key.pair, key.schema, key.class, key.source, v, annotator, confidence, evidence])?,
        None => conn
            .prepare_cached(
                "DELETE FROM labels WHERE pair_id = ?1 AND schema_id = ?2 AND class = ?3 AND source = ?4",
            )?
            .execute(params![key.pair, key.schema, key.class, key.source])?,
    };
    Ok(())
}

/// Records one change in the audit trail; answers the event's id.
pub(crate) fn record(conn: &Connection, key: LabelKey, change: Change) -> Result<i64> {
    let Change {
        annotator,
        old,
        new,
        kind,
        ref_event,
        batch,
        adjudication,
    } = change;
    let id = conn
        .prepare_cached(
            "INSERT INTO label_events (pair_id, schema_id, class, source, annotator, old_value, new_value, kind, ref_event, import_id, adjudication)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id",
        )?
        .query_row(
            params![key.pair, key.schema, key.class, key.source, annotator, old, new, kind, ref_event, batch, adjudication],
            |r| r.get(0),
        )?;
    if key.source == HUMAN
        && !adjudication
        && let Some(who) = annotator
    {
        own_label(conn, key, who, new)?;
    }
    Ok(id)
}

/// Keeps an annotator's own value of one human label (for agreement): every human change
/// the annotator makes, and a value they give that the shared label already had.
fn own_label(conn: &Connection, key: LabelKey, annotator: &str, value: Option<i8>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO annotator_labels (pair_id, schema_id, class, annotator, value) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (schema_id, pair_id, class, annotator) DO UPDATE SET
           value = excluded.value, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
    )?
    .execute(params![key.pair, key.schema, key.class, annotator, value])?;
    Ok(())
}

/// The error for a name that is not a class of `schema`, given as `field`.
pub(crate) fn unknown_class(schema: &Schema, field: &str, class: &str) -> Error {
    Error::field(
        field,
        format!(
            "{class:?} is not a class of schema {} (classes: {})",
            schema.name,
            schema.classes.join(", ")
        ),
    )
}

fn check_target(conn: &Connection, pair: i64, schema: &Schema, class: &str) -> Result<()> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM pairs WHERE id = ?1)",
        [pair],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(Error::NotFound(format!("pair {pair}")));
    }
    if !schema.classes.iter().any(|c| c == class) {
        return Err(unknown_class(schema, "class", class));
    }
    Ok(())
}

/// A person sets (or blanks) a class of a pair. Returns the recorded event, or None when
/// the value was already that.
pub fn set_human(
    conn: &mut Connection,
    pair: i64,
    schema: &str,
    class: &str,
    value: Option<i8>,
    annotator: &str,
) -> Result<Option<LabelEvent>> {
    set_person(conn, pair, schema, class, value, annotator, false)
}

/// A reviewer's decision between annotators written as the shared human label: recorded
/// like `set_human`, but marked as an adjudication and not kept as the reviewer's own
/// rating (see `adjudication::resolve`).
pub(crate) fn adjudicate(
    conn: &mut Connection,
    pair: i64,
    schema: &str,
    class: &str,
    value: Option<i8>,
    reviewer: &str,
) -> Result<Option<LabelEvent>> {
    set_person(conn, pair, schema, class, value, reviewer, true)
}

/// Makes `to` the one class a person gave the pair under a multi-class schema: the class
/// a person gave before is blanked first (a second positive class is refused otherwise).
/// Returns how many label changes were written.
pub(crate) fn set_human_class(
    conn: &mut Connection,
    pair: i64,
    schema: &str,
    to: &str,
    who: &str,
    adjudication: bool,
) -> Result<u32> {
    let given: Option<String> = conn
        .query_row(
            "SELECT l.class FROM labels l JOIN schemas s ON s.id = l.schema_id
             WHERE s.name = ?1 AND l.pair_id = ?2 AND l.source = ?3 AND l.value = 1",
            params![schema, pair, HUMAN],
            |r| r.get(0),
        )
        .optional()?;
    let mut written = 0;
    if let Some(other) = given.filter(|g| g != to) {
        let blanked = set_person(conn, pair, schema, &other, None, who, adjudication)?;
        written += u32::from(blanked.is_some());
    }
    let set = set_person(conn, pair, schema, to, Some(1), who, adjudication)?;
    Ok(written + u32::from(set.is_some()))
}

fn set_person(
    conn: &mut Connection,
    pair: i64,
    schema: &str,
    class: &str,
    value: Option<i8>,
    annotator: &str,
    adjudication: bool,
) -> Result<Option<LabelEvent>> {
    check_annotator(annotator)?;
    if let Some(v) = value.filter(|v| !(-1..=1).contains(v)) {
        return Err(Error::field(
            "value",
            format!("label value {v}: use 1, 0, -1 or blank"),
        ));
    }
    let tx = conn.transaction()?;
    let schema = schema::get(&tx, schema)?;
    check_target(&tx, pair, &schema, class)?;
    let key = LabelKey::new(pair, &schema, class, HUMAN);
    let old = stored(&tx, key)?;
    if old == value {
        // Nothing changes, but this annotator gave the value too.
        if !adjudication {
            own_label(&tx, key, annotator, value)?;
        }
        tx.commit()?;
        return Ok(None);
    }
    if schema.kind == SchemaKind::MultiClass {
        check_one_class(&tx, pair, &schema, class, value)?;
    }
    let by = Some(annotator);
    let with = Provenance {
        annotator: by,
        ..Provenance::default()
    };
    write_row(&tx, key, value, with)?;
    let change = Change {
        annotator: by,
        old,
        new: value,
        kind: "set",
        ref_event: None,
        batch: None,
        adjudication,
    };
    let id = record(&tx, key, change)?;
    let ev = event(&tx, id)?;
    tx.commit()?;
    Ok(Some(ev))
}

/// A multi-class schema takes one class per sample: only 1 or blank, and a second
/// positive class is refused (blank the first one: nothing is replaced silently).
fn check_one_class(
    conn: &Connection,
    pair: i64,
    schema: &Schema,
    class: &str,
    value: Option<i8>,
) -> Result<()> {
    if let Some(v) = value.filter(|v| *v != 1) {
        return Err(Error::field(
            "value",
            format!(
                "schema {} is multi-class: a class is 1 or blank, not {v}",
                schema.name
            ),
        ));
    }
    if value == Some(1) {
        let other: Option<String> = conn
            .query_row(
                "SELECT class FROM labels WHERE pair_id = ?1 AND schema_id = ?2
                 AND source = 'human' AND value = 1 AND class != ?3",
                params![pair, schema.id, class],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(other) = other {
            return Err(Error::Conflict(format!(
                "pair {pair} is already {other:?} in multi-class schema {}; blank it first",
                schema.name
            )));
        }
    }
    Ok(())
}

/// The source name of labels that came with the corpus (folder classes, manifest columns).
pub const IMPORT: &str = "import";

/// Makes a pair's `source` labels under `schema` exactly `wanted` (class → value): changed
/// classes are written, classes no longer wanted are blanked, each change recorded in the
/// audit trail like any other.
pub fn replace_machine(
    conn: &Connection,
    pair: i64,
    schema: &Schema,
    source: &str,
    wanted: &[(String, i8)],
) -> Result<()> {
    let have: Vec<String> = conn
        .prepare_cached(
            "SELECT class FROM labels WHERE pair_id = ?1 AND schema_id = ?2 AND source = ?3",
        )?
        .query_map(params![pair, schema.id, source], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for class in have.iter().filter(|c| !wanted.iter().any(|(w, _)| w == *c)) {
        let key = LabelKey::new(pair, schema, class, source);
        set_machine(conn, key, None, Provenance::default())?;
    }
    for (class, value) in wanted {
        let key = LabelKey::new(pair, schema, class, source);
        set_machine(conn, key, Some(*value), Provenance::default())?;
    }
    Ok(())
}

/// A machine source (never `human`) writes a label, with its confidence and evidence
/// (JSON) in `with` (its annotator is ignored). Human rows are untouched: the current
/// value stays the human one.
pub fn set_machine(
    conn: &Connection,
    key: LabelKey,
    value: Option<i8>,
    with: Provenance,
) -> Result<()> {
    if key.source == HUMAN {
        return Err(Error::field(
            "source",
            "a machine source cannot be named `human`",
        ));
    }
    let with = Provenance {
        annotator: None,
        ..with
    };
    let old = stored(conn, key)?;
    if old == value && with.confidence.is_none() && with.evidence.is_none() {
        // Nothing to change (a re-import of the same value): no write, no event.
        return Ok(());
    }
    write_row(conn, key, value, with)?;
    if old != value {
        let change = Change {
            annotator: None,
            old,
            new: value,
            kind: "set",
            ref_event: None,
            batch: None,
            adjudication: false,
        };
        record(conn, key, change)?;
    }
    Ok(())
}

/// The current value of every labelled class of a pair under a schema: the human label
/// if any, else the most confident machine label (ties: import, report-rules, models).
pub fn current(conn: &Connection, pair: i64, schema: &str) -> Result<Vec<CurrentLabel>> {
    let schema = schema::get(conn, schema)?;
    let mut stmt = conn.prepare(
        "SELECT class, value, source, annotator, confidence FROM labels
         WHERE pair_id = ?1 AND schema_id = ?2
         ORDER BY class,
                  CASE WHEN source = 'human' THEN 0 ELSE 1 END,
                  COALESCE(confidence, 1.0) DESC,
                  CASE WHEN source = 'import' THEN 0 WHEN source = 'report-rules' THEN 1 ELSE 2 END,
                  source",
    )?;
    let rows = stmt.query_map(params![pair, schema.id], |r| {
        Ok(CurrentLabel {
            class: r.get(0)?,
            value: r.get(1)?,
            source: r.get(2)?,
            annotator: r.get(3)?,
            confidence: r.get(4)?,
        })
    })?;
    let mut out: Vec<CurrentLabel> = Vec::new();
    for row in rows {
        let row = row?;
        if out.last().is_none_or(|l| l.class != row.class) {
            out.push(row);
        }
    }
    let order = |c: &str| {
        schema
            .classes
            .iter()
            .position(|x| x == c)
            .unwrap_or(usize::MAX)
    };
    out.sort_by_key(|l| order(&l.class));
    Ok(out)
}

mod best;

/// The id of the newest label event (0 before any): what caches of label-derived values
/// (a run's thresholds and disagreement scores) are kept against.
pub fn newest_event(conn: &Connection) -> Result<i64> {
    Ok(
        conn.query_row("SELECT COALESCE(MAX(id), 0) FROM label_events", [], |r| {
            r.get(0)
        })?,
    )
}

pub mod adjudication;
pub mod agreement;
mod review;
mod trail;
pub(crate) use best::{BEST_FIRST, OneSource, pair_values_without};
pub use best::{best_values, best_values_without};
pub use review::{DECISIONS, REVIEW_STATES, review_status, set_review};
pub(crate) use review::{check_state, state_sql};
pub(crate) use trail::{apply_reverse, event};
pub use trail::{history, redo, undo};

#[cfg(test)]
mod tests;
