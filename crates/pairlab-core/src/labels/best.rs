//! The label value that counts per (pair, class): what training, splitting and evaluation
//! read.

use rusqlite::Connection;

use super::SchemaKind;
use crate::error::Result;

/// The value that counts for training, splitting and evaluation, per (pair, class) of a
/// schema: the human label first, then the most confident machine label. In a multi-class
/// schema a pair has one class, so its values come from one source: the human's when there
/// are any, else the most confident source's (another run's pre-label of a different class
/// never joins an imported or human label).
pub fn best_values(
    conn: &Connection,
    schema_id: i64,
) -> Result<std::collections::HashMap<(i64, String), i8>> {
    best_values_without(conn, schema_id, None)
}

/// [`best_values`] leaving out the labels of one source (a run's own pre-labels, which
/// must never be the truth it is scored against).
pub fn best_values_without(
    conn: &Connection,
    schema_id: i64,
    source: Option<&str>,
) -> Result<std::collections::HashMap<(i64, String), i8>> {
    values_where(conn, schema_id, source, None)
}

/// [`best_values_without`] of one pair.
pub(crate) fn pair_values_without(
    conn: &Connection,
    schema_id: i64,
    source: Option<&str>,
    pair: i64,
) -> Result<std::collections::HashMap<String, i8>> {
    Ok(values_where(conn, schema_id, source, Some(pair))?
        .into_iter()
        .map(|((_, class), v)| (class, v))
        .collect())
}

fn values_where(
    conn: &Connection,
    schema_id: i64,
    source: Option<&str>,
    pair: Option<i64>,
) -> Result<std::collections::HashMap<(i64, String), i8>> {
    let kind: String =
        conn.query_row("SELECT kind FROM schemas WHERE id = ?1", [schema_id], |r| {
            r.get(0)
        })?;
    let mut one_source = OneSource::new(SchemaKind::parse(&kind)?);
    let one_pair = if pair.is_some() {
        "AND pair_id = ?3"
    } else {
        "AND ?3 IS NULL"
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT pair_id, class, value, source FROM labels WHERE schema_id = ?1 AND source IS NOT ?2
         {one_pair} ORDER BY pair_id, {BEST_FIRST}"
    ))?;
    let mut out = std::collections::HashMap::new();
    let rows = stmt.query_map(rusqlite::params![schema_id, source, pair], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i8>(2)?,
            r.get::<_, String>(3)?,
        ))
    })?;
    for row in rows {
        let (pair, class, value, src) = row?;
        if one_source.admits(pair, &src) {
            out.entry((pair, class)).or_insert(value);
        }
    }
    Ok(out)
}

/// The order in which a pair's label rows compete for a class: the human label first, then
/// the most confident machine label (ties by source name).
pub(crate) const BEST_FIRST: &str =
    "(source = 'human') DESC, COALESCE(confidence, 1.0) DESC, source, class";

/// Over a pair's rows in [`BEST_FIRST`] order: which may give a value. In a multi-class
/// schema a pair has one class, so only the rows of its first (best) row's source do.
pub(crate) struct OneSource {
    multi_class: bool,
    chosen: Option<(i64, String)>,
}

impl OneSource {
    pub(crate) fn new(kind: SchemaKind) -> OneSource {
        OneSource {
            multi_class: kind == SchemaKind::MultiClass,
            chosen: None,
        }
    }

    pub(crate) fn admits(&mut self, pair: i64, source: &str) -> bool {
        if !self.multi_class {
            return true;
        }
        match &self.chosen {
            Some((p, s)) if *p == pair => s == source,
            _ => {
                self.chosen = Some((pair, source.to_owned()));
                true
            }
        }
    }
}
