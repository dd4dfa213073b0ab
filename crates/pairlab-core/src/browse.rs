//! The browse grid's query: pairs filtered by split part, label value, label source, review
//! status, report tag and report text, in id order or by a score (mismatch, a run's
//! confidence), with keyset pagination (`after` the cursor of the last row seen): a page
//! is an index range from the cursor on, not an OFFSET, so it does not slow down as the
//! user scrolls deeper (measured for id order by `pairlab bench browse`).

use rusqlite::{Connection, OptionalExtension, ToSql, params_from_iter};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::labels;
use crate::store::read::{PairRow, RowLabel};
use crate::store::search::{fts_query, within_budget};

/// What the grid shows; every field narrows the set (all unset: every pair).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(optional_fields)]
pub struct BrowseFilter {
    /// Pairs in this split …
    pub split: Option<String>,
    /// … and in this part of it (`train`, `val`, `test`, …).
    pub part: Option<String>,
    /// The schema that `class`, `value`, `source` and `review` refer to (default chexpert).
    pub schema: Option<String>,
    pub class: Option<String>,
    /// `1`, `0`, `-1` or `blank` (no label from any source) for `class`.
    pub value: Option<String>,
    /// Label source: `human`, `machine` (anything but human) or an exact source such as
    /// `report-rules` or `model:run-3`.
    pub source: Option<String>,
    /// Review status: `unlabelled`, `pre-labelled` (machine labels only, not reviewed),
    /// `labelled` (labelled by hand, not accepted), `accepted`, `rejected` or `flagged`.
    pub review: Option<String>,
    /// A report tag (e.g. a MeSH term from IU X-ray).
    pub tag: Option<String>,
    /// Words that the report must contain (full-text search).
    pub text: Option<String>,
    /// Pairs of this corpus (its id).
    pub corpus: Option<i64>,
    /// Pairs where this run's prediction differs from the current label for some class
    /// (see `runs::disagreement`).
    pub disagrees: Option<i64>,
    /// Pairs flagged by this stored label-issue search (see `label_issues`).
    pub label_issues: Option<i64>,
    /// Pairs assigned to this annotator (`pairlab assign`).
    pub assigned: Option<String>,
}

/// One page of the grid.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct BrowsePage {
    pub rows: Vec<PairRow>,
    /// Pass as `after` for the next page (an opaque cursor); None on the last page.
    pub next: Option<String>,
}

fn lookup(conn: &Connection, sql: &str, key: &str, what: &str) -> Result<i64> {
    conn.query_row(sql, [key], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("{what} {key:?}")))
}

/// The SQL condition and its parameters for a filter.
///
/// Subqueries name the pair as `+p.id`: with `p.id > ?` (the page's cursor) beside
/// `m.pair_id = p.id`, SQLite 3.54 turns an `EXISTS` into a join and derives
/// `m.pair_id > ?` from the two, scanning every later row of the index for each candidate
/// pair (5 s a page at 100k pairs); the unary plus keeps the lookup an equality.
fn condition(conn: &Connection, f: &BrowseFilter) -> Result<(String, Vec<Box<dyn ToSql>>)> {
    let mut sql = String::new();
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    if let Some(split) = &f.split {
        let id = lookup(
            conn,
            "SELECT id FROM splits WHERE name = ?1",
            split,
            "split",
        )?;
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM split_members m WHERE m.split_id = ? AND m.pair_id = +p.id",
        );
        args.push(Box::new(id));
        if let Some(part) = &f.part {
            sql.push_str(" AND m.part = ?");
            args.push(Box::new(part.clone()));
        }
        sql.push(')');
    } else if f.part.is_some() {
        return Err(Error::Invalid("a part needs its split".into()));
    }
    let labelled =
        f.class.is_some() || f.value.is_some() || f.source.is_some() || f.review.is_some();
    if labelled {
        label_condition(conn, f, &mut sql, &mut args)?;
    }
    if let Some(corpus) = f.corpus {
        sql.push_str(" AND p.corpus_id = ?");
        args.push(Box::new(corpus));
    }
    if let Some(run) = f.disagrees {
        crate::runs::disagreement::fill(conn, run)?;
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM run_scores d WHERE d.run_id = ? AND d.kind = '{}' AND d.pair_id = +p.id AND d.flagged)",
            crate::runs::disagreement::KIND
        ));
        args.push(Box::new(run));
    }
    if let Some(set) = f.label_issues {
        issue_set(conn, set)?;
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM label_issue_pairs li WHERE li.set_id = ? AND li.pair_id = +p.id AND li.flagged)",
        );
        args.push(Box::new(set));
    }
    if let Some(who) = &f.assigned {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM assignments a WHERE a.annotator = ? AND a.pair_id = +p.id)",
        );
        args.push(Box::new(who.clone()));
    }
    if let Some(tag) = &f.tag {
        // A report's own tag, or one put on the pair by hand (a map's selection).
        sql.push_str(" AND (EXISTS (SELECT 1 FROM report_tags rt JOIN tags t ON t.id = rt.tag_id WHERE rt.report_id = p.report_id AND t.name = ?)
             OR EXISTS (SELECT 1 FROM pair_tags pg JOIN tags t ON t.id = pg.tag_id WHERE pg.pair_id = +p.id AND t.name = ?))");
        args.push(Box::new(tag.clone()));
        args.push(Box::new(tag.clone()));
    }
    if let Some(text) = &f.text {
        let q = fts_query(text)?;
        sql.push_str(" AND EXISTS (SELECT 1 FROM text_matches t WHERE t.query_id = ? AND t.report_id = p.report_id)");
        args.push(Box::new(text_matches(conn, &q)?));
    }
    Ok((sql, args))
}

/// Refuses a label-issue search that is not stored.
fn issue_set(conn: &Connection, id: i64) -> Result<()> {
    conn.query_row("SELECT id FROM label_issue_sets WHERE id = ?1", [id], |r| {
        r.get::<_, i64>(0)
    })
    .optional()?
    .map(|_| ())
    .ok_or_else(|| Error::NotFound(format!("label issues {id}")))
}

/// The label part of a filter's condition: class, value, source and review status under
/// its schema.
fn label_condition(
    conn: &Connection,
    f: &BrowseFilter,
    sql: &mut String,
    args: &mut Vec<Box<dyn ToSql>>,
) -> Result<()> {
    let name = f.schema.as_deref().unwrap_or("chexpert");
    let schema = lookup(
        conn,
        "SELECT id FROM schemas WHERE name = ?1",
        name,
        "schema",
    )?;
    // One label subquery: schema, then class, value and source as given; `blank`
    // asks for no such label.
    let value = match f.value.as_deref() {
        None | Some("blank") => None,
        Some("1" | "positive") => Some(1i64),
        Some("0" | "negative") => Some(0),
        Some("-1" | "uncertain") => Some(-1),
        Some(other) => {
            return Err(Error::Invalid(format!(
                "value {other:?}: use 1, 0, -1 or blank"
            )));
        }
    };
    if f.value.is_some() && f.class.is_none() {
        return Err(Error::Invalid("a label value needs its class".into()));
    }
    if f.class.is_some() || f.source.is_some() {
        let mut sub =
            String::from("SELECT 1 FROM labels l WHERE l.pair_id = +p.id AND l.schema_id = ?");
        args.push(Box::new(schema));
        if let Some(class) = &f.class {
            sub.push_str(" AND l.class = ?");
            args.push(Box::new(class.clone()));
        }
        if let Some(v) = value {
            sub.push_str(" AND l.value = ?");
            args.push(Box::new(v));
        }
        match f.source.as_deref() {
            None => {}
            Some("human") => sub.push_str(" AND l.source = 'human'"),
            Some("machine") => sub.push_str(" AND l.source <> 'human'"),
            Some(s) => {
                sub.push_str(" AND l.source = ?");
                args.push(Box::new(s.to_owned()));
            }
        }
        let not = if f.value.as_deref() == Some("blank") {
            "NOT "
        } else {
            ""
        };
        sql.push_str(&format!(" AND {not}EXISTS ({sub})"));
    }
    if let Some(status) = &f.review {
        labels::check_state(status)?;
        sql.push_str(&format!(" AND {} = ?", labels::state_sql("+p.id", schema)));
        args.push(Box::new(status.clone()));
    }
    Ok(())
}

/// How many recent text queries keep their matches.
const KEPT_QUERIES: i64 = 8;

/// The id under which the report ids matching `q` (an FTS5 query) are kept in
/// `text_matches`, collecting them on first use; the oldest queries beyond
/// [`KEPT_QUERIES`] are dropped.
fn text_matches(conn: &Connection, q: &str) -> Result<i64> {
    let find = |conn: &Connection| {
        conn.query_row("SELECT id FROM text_queries WHERE query = ?1", [q], |r| {
            r.get(0)
        })
        .optional()
    };
    if let Some(id) = find(conn)? {
        return Ok(id);
    }
    let tx = conn.unchecked_transaction()?;
    // Another request may have collected them meanwhile.
    if let Some(id) = find(&tx)? {
        return Ok(id);
    }
    tx.execute("INSERT INTO text_queries (query) VALUES (?1)", [q])?;
    let id = tx.last_insert_rowid();
    within_budget(&tx, || {
        tx.execute(
            "INSERT INTO text_matches (query_id, report_id)
             SELECT ?1, rowid FROM reports_fts WHERE reports_fts MATCH ?2",
            rusqlite::params![id, q],
        )
    })?;
    tx.execute(
        "DELETE FROM text_queries WHERE id NOT IN (SELECT id FROM text_queries ORDER BY id DESC LIMIT ?1)",
        [KEPT_QUERIES],
    )?;
    tx.commit()?;
    Ok(id)
}

/// The grid's order: by pair id (default ascending), or by a score, highest first unless
/// `desc` is false (`mismatch`: a model's image–report mismatch score; `confidence`: a
/// run's confidence in its prediction, `desc: false` for the least confident first;
/// `disagreement`: how far a run's prediction is from the current labels; `label-issues`: a
/// label-issue search's quality score, lowest, likeliest wrong, first unless `desc`). Ties
/// go by pair id in the same direction. A score order shows only the pairs that have it, and each
/// row carries its score.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
#[serde(default, deny_unknown_fields)]
#[ts(optional_fields)]
pub struct BrowseSort {
    /// `id`, `mismatch`, `confidence`, `disagreement` or `label-issues`.
    pub by: Option<String>,
    /// The model whose mismatch scores order the grid.
    pub model: Option<String>,
    /// The run whose confidences or disagreements order the grid.
    pub run: Option<i64>,
    /// The stored label-issue search whose scores order the grid.
    pub issues: Option<i64>,
    pub desc: Option<bool>,
}

/// Where the order's score comes from: a join, its key and the score column.
struct Score {
    join: &'static str,
    key: i64,
    col: &'static str,
    /// Lowest first unless told otherwise.
    low_first: bool,
}

fn score(conn: &Connection, sort: &BrowseSort) -> Result<Option<Score>> {
    match sort.by.as_deref() {
        None | Some("id") => Ok(None),
        Some("mismatch") => {
            let name = sort
                .model
                .as_deref()
                .ok_or_else(|| Error::Invalid("a mismatch order needs its model".into()))?;
            let model = lookup(conn, "SELECT id FROM models WHERE name = ?1", name, "model")?;
            Ok(Some(Score {
                join: "JOIN pair_scores sc ON sc.pair_id = p.id AND sc.model_id = ? AND sc.kind = 'mismatch'",
                key: model,
                col: "sc.score",
                low_first: false,
            }))
        }
        Some("confidence") => {
            let run = sort
                .run
                .ok_or_else(|| Error::Invalid("a confidence order needs its run".into()))?;
            crate::runs::get(conn, run)?;
            crate::runs::fill_confidence(conn, run)?;
            Ok(Some(Score {
                join: "JOIN run_predictions sc ON sc.pair_id = p.id AND sc.run_id = ?",
                key: run,
                col: "sc.confidence",
                low_first: false,
            }))
        }
        Some("disagreement") => {
            let run = sort
                .run
                .ok_or_else(|| Error::Invalid("a disagreement order needs its run".into()))?;
            crate::runs::disagreement::fill(conn, run)?;
            Ok(Some(Score {
                join: "JOIN run_scores sc ON sc.pair_id = p.id AND sc.run_id = ? AND sc.kind = 'disagreement'",
                key: run,
                col: "sc.score",
                low_first: false,
            }))
        }
        Some("label-issues") => {
            let set = sort.issues.ok_or_else(|| {
                Error::Invalid("a label-issues order needs its search (`issues`)".into())
            })?;
            issue_set(conn, set)?;
            Ok(Some(Score {
                join: "JOIN label_issue_pairs sc ON sc.pair_id = p.id AND sc.set_id = ?",
                key: set,
                col: "sc.score",
                low_first: true,
            }))
        }
        Some(other) => Err(Error::Invalid(format!(
            "order {other:?}: use id, mismatch, confidence, disagreement or label-issues"
        ))),
    }
}

/// A page's cursor: the last pair id, and its score under a score order.
fn parse_cursor(after: Option<&str>, scored: bool) -> Result<Option<(Option<f64>, i64)>> {
    let bad = || Error::Invalid(format!("not a cursor from this grid: {after:?}"));
    let Some(raw) = after.filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    if scored {
        let (score, id) = raw.split_once(':').ok_or_else(bad)?;
        Ok(Some((
            Some(score.parse().map_err(|_| bad())?),
            id.parse().map_err(|_| bad())?,
        )))
    } else {
        Ok(Some((None, raw.parse().map_err(|_| bad())?)))
    }
}

/// Up to `limit` pairs after the cursor `after` (a page's `next`) that pass `filter`, in
/// the order `sort` asks for. Keys and order run in one direction, so each page is one
/// index range from the cursor on.
pub fn browse(
    conn: &Connection,
    filter: &BrowseFilter,
    sort: &BrowseSort,
    after: Option<&str>,
    limit: u32,
) -> Result<BrowsePage> {
    let (cond, cond_args) = condition(conn, filter)?;
    let score = score(conn, sort)?;
    let cursor = parse_cursor(after, score.is_some())?;
    let desc = sort
        .desc
        .unwrap_or(score.as_ref().is_some_and(|s| !s.low_first));
    let (cmp, dir) = if desc { ("<", "DESC") } else { (">", "ASC") };
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let (join, key, order_by, score_col) = match score {
        None => {
            let key = match cursor {
                Some((_, id)) => {
                    args.push(Box::new(id));
                    format!("p.id {cmp} ?")
                }
                None => "1".to_owned(),
            };
            (String::new(), key, format!("p.id {dir}"), "NULL")
        }
        Some(sc) => {
            args.push(Box::new(sc.key));
            let key = match cursor {
                Some((Some(s), id)) => {
                    args.push(Box::new(s));
                    args.push(Box::new(id));
                    format!("({}, p.id) {cmp} (?, ?)", sc.col)
                }
                _ => "1".to_owned(),
            };
            let order = format!("{} {dir}, p.id {dir}", sc.col);
            (sc.join.to_owned(), key, order, sc.col)
        }
    };
    args.extend(cond_args);
    args.push(Box::new(i64::from(limit)));
    let sql = format!(
        "SELECT p.id, p.corpus_id, i.path, i.thumb, p.report_id, pt.key, s.key, i.missing, {score_col}
         FROM pairs p JOIN images i ON i.id = p.image_id {join}
         LEFT JOIN patients pt ON pt.id = p.patient_id
         LEFT JOIN studies s ON s.id = p.study_id
         WHERE {key}{cond} ORDER BY {order_by} LIMIT ?"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut last_score = None;
    let rows: Vec<PairRow> = stmt
        .query_map(params_from_iter(args.iter()), |r| {
            Ok((
                PairRow {
                    id: r.get(0)?,
                    corpus: r.get(1)?,
                    image: r.get(2)?,
                    thumb: r.get(3)?,
                    report_id: r.get(4)?,
                    patient: r.get(5)?,
                    study: r.get(6)?,
                    missing: r.get(7)?,
                    score: r.get(8)?,
                    labels: Vec::new(),
                    review: None,
                },
                r.get::<_, Option<f64>>(8)?,
            ))
        })?
        .map(|row| {
            row.map(|(p, s)| {
                last_score = s;
                p
            })
        })
        .collect::<std::result::Result<_, _>>()?;
    let next = match rows.last() {
        Some(last) if rows.len() == limit as usize => Some(match last_score {
            Some(s) => format!("{s:?}:{}", last.id),
            None => last.id.to_string(),
        }),
        _ => None,
    };
    let mut rows = rows;
    badges(
        conn,
        filter.schema.as_deref().unwrap_or("chexpert"),
        &mut rows,
    )?;
    Ok(BrowsePage { rows, next })
}

/// Fills in each row's review status and its positive and uncertain labels (the cell's
/// badges) under `schema`; a library without that schema shows none.
fn badges(conn: &Connection, schema: &str, rows: &mut [PairRow]) -> Result<()> {
    let Some((schema_id, kind)) = conn
        .query_row(
            "SELECT id, kind FROM schemas WHERE name = ?1",
            [schema],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?
    else {
        return Ok(());
    };
    // Multi-class: the one best label of the pair; multi-label: the best per class.
    let (order, one) = if kind == "multi-class" {
        (labels::BEST_FIRST.to_owned(), true)
    } else {
        (format!("class, {}", labels::BEST_FIRST), false)
    };
    let mut review =
        conn.prepare_cached(&format!("SELECT {}", labels::state_sql("?1", schema_id)))?;
    let mut current = conn.prepare_cached(&format!(
        "SELECT class, value, source = 'human' FROM labels WHERE pair_id = ?1 AND schema_id = ?2
         ORDER BY {order}"
    ))?;
    for row in rows {
        row.review = Some(review.query_row([row.id], |r| r.get(0))?);
        let mut seen = std::collections::HashSet::new();
        let all = current.query_map(rusqlite::params![row.id, schema_id], |r| {
            Ok(RowLabel {
                class: r.get(0)?,
                value: r.get(1)?,
                human: r.get(2)?,
            })
        })?;
        for l in all {
            let l = l?;
            if one && !seen.is_empty() {
                break;
            }
            if seen.insert(l.class.clone()) && l.value != 0 {
                row.labels.push(l);
            }
        }
    }
    Ok(())
}

/// How many pairs pass `filter` (under a score order, how many of them have the score):
/// the total the grid pages through.
pub fn count(conn: &Connection, filter: &BrowseFilter, sort: &BrowseSort) -> Result<u64> {
    let (cond, cond_args) = condition(conn, filter)?;
    let mut args: Vec<Box<dyn ToSql>> = Vec::new();
    let join = match score(conn, sort)? {
        Some(sc) => {
            args.push(Box::new(sc.key));
            sc.join
        }
        None => "",
    };
    args.extend(cond_args);
    let sql = format!(
        "SELECT COUNT(*) FROM pairs p JOIN images i ON i.id = p.image_id {join} WHERE 1{cond}"
    );
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
    Ok(n as u64)
}

/// Pairs after id `after`, at most `limit`: the grid unfiltered, in id order.
pub fn pairs(conn: &Connection, after: i64, limit: u32) -> Result<Vec<PairRow>> {
    let after = after.to_string();
    let page = browse(
        conn,
        &BrowseFilter::default(),
        &BrowseSort::default(),
        Some(&after),
        limit,
    )?;
    Ok(page.rows)
}

#[cfg(test)]
#[path = "browse_tests.rs"]
mod tests;
