//! A pair's review status under a schema: one definition that the Browse filter, the
//! Sample view's badge, the API and the CLI share.
//!
//! A decision (`accepted`, `rejected`, `flagged`) is stored in `reviews` and is only ever
//! made by an explicit act of a person; labelling a class is not one. Without a decision
//! the status follows from the pair's labels: `unlabelled` (none), `pre-labelled` (machine
//! labels only: the queue of suggestions nobody has looked at) or `labelled` (a person set
//! at least one class, nobody accepted the pair yet).

use rusqlite::{Connection, OptionalExtension, params};

use super::{check_annotator, check_target, schema};
use crate::error::{Error, Result};

/// Every review status, in the order a filter lists them.
pub const REVIEW_STATES: &[&str] = &[
    "unlabelled",
    "pre-labelled",
    "labelled",
    "accepted",
    "rejected",
    "flagged",
];

/// The decisions a person can make; `unreviewed` takes a decision back.
pub const DECISIONS: &[&str] = &["accepted", "rejected", "flagged", "unreviewed"];

/// The SQL expression of the review status of the pair whose id is the SQL expression
/// `pair`, under the schema with id `schema_id`.
pub(crate) fn state_sql(pair: &str, schema_id: i64) -> String {
    format!(
        "COALESCE(
           (SELECT r.status FROM reviews r WHERE r.pair_id = {pair} AND r.schema_id = {schema_id}
              AND r.status IN ('accepted', 'rejected', 'flagged')),
           (SELECT CASE WHEN MAX(l.source = 'human') THEN 'labelled' ELSE 'pre-labelled' END
              FROM labels l WHERE l.pair_id = {pair} AND l.schema_id = {schema_id}
              HAVING COUNT(*) > 0),
           'unlabelled')"
    )
}

/// Checks a review status named in a filter.
pub(crate) fn check_state(state: &str) -> Result<()> {
    if REVIEW_STATES.contains(&state) {
        Ok(())
    } else {
        Err(Error::field(
            "review",
            format!(
                "review status {state:?}: expected one of {}",
                REVIEW_STATES.join(", ")
            ),
        ))
    }
}

/// A pair's review status under a schema (see the module's documentation).
pub fn review_status(conn: &Connection, pair: i64, schema: &str) -> Result<String> {
    let schema = schema::get(conn, schema)?;
    conn.query_row(
        &format!(
            "SELECT {} FROM pairs WHERE id = ?1",
            state_sql("?1", schema.id)
        ),
        params![pair],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("pair {pair}")))
}

/// Records a person's decision on a pair (`accepted`, `rejected`, `flagged`), or takes it
/// back (`unreviewed`).
pub fn set_review(
    conn: &Connection,
    pair: i64,
    schema: &str,
    status: &str,
    annotator: &str,
) -> Result<()> {
    check_annotator(annotator)?;
    if !DECISIONS.contains(&status) {
        return Err(Error::field(
            "status",
            format!(
                "review decision {status:?}: expected one of {}",
                DECISIONS.join(", ")
            ),
        ));
    }
    let schema = schema::get(conn, schema)?;
    check_target(
        conn,
        pair,
        &schema,
        schema.classes.first().map(String::as_str).unwrap_or(""),
    )?;
    if status == "unreviewed" {
        conn.execute(
            "DELETE FROM reviews WHERE pair_id = ?1 AND schema_id = ?2",
            params![pair, schema.id],
        )?;
        return Ok(());
    }
    conn.execute(
        "INSERT INTO reviews (pair_id, schema_id, status, annotator) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (pair_id, schema_id) DO UPDATE SET status = excluded.status,
           annotator = excluded.annotator, updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        params![pair, schema.id, status, annotator],
    )?;
    Ok(())
}
