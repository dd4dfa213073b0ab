//! Undoing a label import as one step, and the list of imports.

use rusqlite::Connection;
use serde::Serialize;
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::labels::{LabelEvent, apply_reverse, check_annotator, event};

/// Undoes (or, with `kind` "redo", redoes) every change of the label import `batch` that
/// is not undone (redone) yet, newest first, in the caller's transaction. Refused when
/// someone changed one of its labels since. Answers the last event written.
pub(crate) fn reverse_batch(
    conn: &Connection,
    batch: i64,
    annotator: &str,
    kind: &str,
) -> Result<Option<LabelEvent>> {
    let find = if kind == "undo" {
        "SELECT e.id FROM label_events e WHERE e.import_id = ?1 AND e.kind IN ('set', 'redo')
           AND NOT EXISTS (SELECT 1 FROM label_events u WHERE u.kind = 'undo' AND u.ref_event = e.id)
         ORDER BY e.id DESC"
    } else {
        "SELECT u.id FROM label_events u WHERE u.import_id = ?1 AND u.kind = 'undo'
           AND NOT EXISTS (SELECT 1 FROM label_events r WHERE r.kind = 'redo' AND r.ref_event = u.id)
         ORDER BY u.id DESC"
    };
    let ids: Vec<i64> = conn
        .prepare(find)?
        .query_map([batch], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut last = None;
    for id in ids {
        let ev = event(conn, id)?;
        last = Some(apply_reverse(conn, &ev, annotator, kind, Some(batch))?);
    }
    last.map(|id| event(conn, id)).transpose()
}

/// A label import as listed.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ImportRecord {
    pub id: i64,
    pub file: String,
    pub format: String,
    pub schema: String,
    pub source: String,
    pub annotator: Option<String>,
    pub rows: u64,
    pub matched: u64,
    pub unmatched: u64,
    pub errors: u64,
    pub changes: u64,
    pub time: String,
    /// Every change of it is undone.
    pub undone: bool,
}

/// Every label import, newest first.
pub fn imports(conn: &Connection) -> Result<Vec<ImportRecord>> {
    Ok(conn
        .prepare(
            "SELECT i.id, i.file, i.format, s.name, i.source, i.annotator, i.rows, i.matched,
                    i.unmatched, i.errors, i.changes, i.created_at,
                    -- An import is undone and redone as a whole: its newest event says.
                    COALESCE((SELECT e.kind = 'undo' FROM label_events e WHERE e.import_id = i.id
                              ORDER BY e.id DESC LIMIT 1), 0)
             FROM label_imports i JOIN schemas s ON s.id = i.schema_id ORDER BY i.id DESC",
        )?
        .query_map([], |r| {
            Ok(ImportRecord {
                id: r.get(0)?,
                file: r.get(1)?,
                format: r.get(2)?,
                schema: r.get(3)?,
                source: r.get(4)?,
                annotator: r.get(5)?,
                rows: r.get::<_, i64>(6)? as u64,
                matched: r.get::<_, i64>(7)? as u64,
                unmatched: r.get::<_, i64>(8)? as u64,
                errors: r.get::<_, i64>(9)? as u64,
                changes: r.get::<_, i64>(10)? as u64,
                time: r.get(11)?,
                undone: r.get(12)?,
            })
        })?
        .collect::<Result<_, _>>()?)
}

/// What undoing an import did.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ImportUndone {
    pub import_id: i64,
    /// Label values put back.
    pub reverted: u64,
}

/// Undoes a whole label import in one transaction (refused, changing nothing, when someone
/// changed one of its labels since).
pub fn undo_import(conn: &mut Connection, id: i64, annotator: &str) -> Result<ImportUndone> {
    check_annotator(annotator)?;
    let tx = conn.transaction()?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM label_imports WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(Error::NotFound(format!("label import {id}")));
    }
    let before: i64 = tx.query_row(
        "SELECT COUNT(*) FROM label_events WHERE import_id = ?1 AND kind = 'undo'",
        [id],
        |r| r.get(0),
    )?;
    reverse_batch(&tx, id, annotator, "undo")?;
    let after: i64 = tx.query_row(
        "SELECT COUNT(*) FROM label_events WHERE import_id = ?1 AND kind = 'undo'",
        [id],
        |r| r.get(0),
    )?;
    tx.commit()?;
    Ok(ImportUndone {
        import_id: id,
        reverted: (after - before) as u64,
    })
}
