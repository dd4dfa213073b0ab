//! The audit trail read back: a pair's history, one event, and per-annotator undo and
//! redo, which put an event's old value back and record that as a new event.

use rusqlite::{Connection, OptionalExtension};

use super::{Change, LabelEvent, LabelKey, Provenance, check_annotator, import, record, schema};
use super::{stored, write_row};
use crate::error::{Error, Result};

/// Undoes the annotator's latest change that is not undone yet.
pub fn undo(conn: &mut Connection, annotator: &str) -> Result<Option<LabelEvent>> {
    reverse_latest(
        conn,
        annotator,
        "undo",
        "SELECT e.id FROM label_events e
         WHERE e.annotator = ?1 AND e.source = 'human' AND e.kind IN ('set', 'redo')
           AND NOT EXISTS (SELECT 1 FROM label_events u WHERE u.kind = 'undo' AND u.ref_event = e.id)
         ORDER BY e.id DESC LIMIT 1",
    )
}

/// Redoes the annotator's latest undo, unless they have set a label since.
pub fn redo(conn: &mut Connection, annotator: &str) -> Result<Option<LabelEvent>> {
    reverse_latest(
        conn,
        annotator,
        "redo",
        "SELECT u.id FROM label_events u
         WHERE u.annotator = ?1 AND u.source = 'human' AND u.kind = 'undo'
           AND NOT EXISTS (SELECT 1 FROM label_events r WHERE r.kind = 'redo' AND r.ref_event = u.id)
           AND NOT EXISTS (SELECT 1 FROM label_events s WHERE s.annotator = ?1
                           AND s.source = 'human' AND s.kind = 'set' AND s.id > u.id)
         ORDER BY u.id DESC LIMIT 1",
    )
}

/// Finds the event `find` selects for `annotator` and reverses it as `kind`, in one
/// transaction.
fn reverse_latest(
    conn: &mut Connection,
    annotator: &str,
    kind: &str,
    find: &str,
) -> Result<Option<LabelEvent>> {
    check_annotator(annotator)?;
    let tx = conn.transaction()?;
    let target: Option<i64> = tx.query_row(find, [annotator], |r| r.get(0)).optional()?;
    let Some(target) = target else {
        return Ok(None);
    };
    let ev = event(&tx, target)?;
    if let Some(batch) = ev.import_id {
        // A change of a label import: the whole import is undone (or redone) at once.
        let out = import::reverse_batch(&tx, batch, annotator, kind)?;
        tx.commit()?;
        return Ok(out);
    }
    let id = apply_reverse(&tx, &ev, annotator, kind, None)?;
    let out = event(&tx, id)?;
    tx.commit()?;
    Ok(Some(out))
}

/// Puts back `ev.old_value` and records it as `kind` referring to `ev` (and to the label
/// import `batch`).
pub(crate) fn apply_reverse(
    conn: &Connection,
    ev: &LabelEvent,
    annotator: &str,
    kind: &str,
    batch: Option<i64>,
) -> Result<i64> {
    let schema = schema::get(conn, &ev.schema)?;
    let source = ev.source.as_str().to_owned();
    let key = LabelKey::new(ev.pair, &schema, &ev.class, &source);
    let now = stored(conn, key)?;
    if now != ev.new_value {
        // Someone else changed this label since: putting the old value back would
        // silently overwrite their work.
        return Err(Error::Conflict(format!(
            "cannot {kind}: {}/{} of pair {} was changed by another annotator since (event #{})",
            ev.schema, ev.class, ev.pair, ev.id
        )));
    }
    let with = Provenance {
        annotator: ev.source.is_human().then_some(annotator),
        ..Provenance::default()
    };
    write_row(conn, key, ev.old_value, with)?;
    let change = Change {
        annotator: Some(annotator),
        old: now,
        new: ev.old_value,
        kind,
        ref_event: Some(ev.id),
        batch,
        adjudication: ev.adjudication,
    };
    record(conn, key, change)
}

const EVENT_SQL: &str =
    "SELECT e.id, e.pair_id, s.name, e.class, e.source, e.annotator, e.old_value,
        e.new_value, e.kind, e.ref_event, e.created_at, e.import_id, e.adjudication
     FROM label_events e JOIN schemas s ON s.id = e.schema_id";

fn row_event(r: &rusqlite::Row) -> rusqlite::Result<LabelEvent> {
    Ok(LabelEvent {
        id: r.get(0)?,
        pair: r.get(1)?,
        schema: r.get(2)?,
        class: r.get(3)?,
        source: r.get(4)?,
        annotator: r.get(5)?,
        old_value: r.get(6)?,
        new_value: r.get(7)?,
        kind: r.get(8)?,
        ref_event: r.get(9)?,
        time: r.get(10)?,
        import_id: r.get(11)?,
        adjudication: r.get(12)?,
    })
}

pub(crate) fn event(conn: &Connection, id: i64) -> Result<LabelEvent> {
    Ok(conn.query_row(&format!("{EVENT_SQL} WHERE e.id = ?1"), [id], row_event)?)
}

/// The whole audit trail of a pair, oldest first.
pub fn history(conn: &Connection, pair: i64) -> Result<Vec<LabelEvent>> {
    Ok(conn
        .prepare(&format!("{EVENT_SQL} WHERE e.pair_id = ?1 ORDER BY e.id"))?
        .query_map([pair], row_event)?
        .collect::<Result<_, _>>()?)
}
