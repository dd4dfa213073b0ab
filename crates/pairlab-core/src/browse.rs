//! The browse grid's query: pairs filtered by split part, label value, label source, review
//! status, report tag and report text, in id order with keyset pagination (`after` the last
//! id seen), so every page costs the same however deep the user scrolls.

use rusqlite::{Connection, OptionalExtension, ToSql, params_from_iter};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::read::{PairRow, fts_query};

/// What the grid shows; every field narrows the set (all unset: every pair).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    /// Review status: `unlabelled`, `pre-labelled`, `accepted`, `rejected` or `flagged`.
    pub review: Option<String>,
    /// A report tag (e.g. a MeSH term from IU X-ray).
    pub tag: Option<String>,
    /// Words that the report must contain (full-text search).
    pub text: Option<String>,
}

/// One page of the grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BrowsePage {
    pub rows: Vec<PairRow>,
    /// Pass as `after` for the next page; None on the last page.
    pub next: Option<i64>,
}

fn lookup(conn: &Connection, sql: &str, key: &str, what: &str) -> Result<i64> {
    conn.query_row(sql, [key], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("{what} {key:?}")))
}

/// The SQL condition and its parameters for a filter.
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
            " AND EXISTS (SELECT 1 FROM split_members m WHERE m.split_id = ? AND m.pair_id = p.id",
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
                String::from("SELECT 1 FROM labels l WHERE l.pair_id = p.id AND l.schema_id = ?");
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
            if status == "unlabelled" {
                sql.push_str(" AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.pair_id = p.id AND r.schema_id = ? AND r.status <> 'unlabelled')");
            } else {
                sql.push_str(" AND EXISTS (SELECT 1 FROM reviews r WHERE r.pair_id = p.id AND r.schema_id = ? AND r.status = ?)");
            }
            args.push(Box::new(schema));
            if status != "unlabelled" {
                args.push(Box::new(status.clone()));
            }
        }
    }
    if let Some(tag) = &f.tag {
        sql.push_str(" AND EXISTS (SELECT 1 FROM report_tags rt JOIN tags t ON t.id = rt.tag_id WHERE rt.report_id = p.report_id AND t.name = ?)");
        args.push(Box::new(tag.clone()));
    }
    if let Some(text) = &f.text {
        let q = fts_query(text);
        if q.is_empty() {
            return Err(Error::Invalid("search text has no words".into()));
        }
        sql.push_str(" AND EXISTS (SELECT 1 FROM text_matches t WHERE t.query_id = ? AND t.report_id = p.report_id)");
        args.push(Box::new(text_matches(conn, &q)?));
    }
    Ok((sql, args))
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
    tx.execute(
        "INSERT INTO text_matches (query_id, report_id)
         SELECT ?1, rowid FROM reports_fts WHERE reports_fts MATCH ?2",
        rusqlite::params![id, q],
    )?;
    tx.execute(
        "DELETE FROM text_queries WHERE id NOT IN (SELECT id FROM text_queries ORDER BY id DESC LIMIT ?1)",
        [KEPT_QUERIES],
    )?;
    tx.commit()?;
    Ok(id)
}

/// Up to `limit` pairs with id greater than `after` that pass `filter`, in id order.
pub fn browse(
    conn: &Connection,
    filter: &BrowseFilter,
    after: i64,
    limit: u32,
) -> Result<BrowsePage> {
    let (cond, mut args) = condition(conn, filter)?;
    let sql = format!(
        "SELECT p.id, p.corpus_id, i.path, i.thumb, p.report_id, pt.key, s.key, i.missing
         FROM pairs p JOIN images i ON i.id = p.image_id
         LEFT JOIN patients pt ON pt.id = p.patient_id
         LEFT JOIN studies s ON s.id = p.study_id
         WHERE p.id > ?{cond} ORDER BY p.id LIMIT ?"
    );
    args.insert(0, Box::new(after));
    args.push(Box::new(i64::from(limit)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows: Vec<PairRow> = stmt
        .query_map(params_from_iter(args.iter()), |r| {
            Ok(PairRow {
                id: r.get(0)?,
                corpus: r.get(1)?,
                image: r.get(2)?,
                thumb: r.get(3)?,
                report_id: r.get(4)?,
                patient: r.get(5)?,
                study: r.get(6)?,
                missing: r.get(7)?,
            })
        })?
        .collect::<std::result::Result<_, _>>()?;
    let next = (rows.len() == limit as usize && limit > 0)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(BrowsePage { rows, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::tests::{library, pairs};
    use crate::splits::{SplitOptions, Strategy};

    fn ids(lib: &crate::Library, f: &BrowseFilter) -> Vec<i64> {
        let page = lib.browse(f, 0, 1000).expect("browse");
        page.rows.iter().map(|r| r.id).collect()
    }

    fn filter(class: Option<&str>, value: Option<&str>, source: Option<&str>) -> BrowseFilter {
        BrowseFilter {
            class: class.map(str::to_owned),
            value: value.map(str::to_owned),
            source: source.map(str::to_owned),
            ..Default::default()
        }
    }

    #[test]
    fn filters_select_exactly_the_matching_pairs() {
        let (_tmp, mut lib) = library(12).expect("library");
        let all: Vec<i64> = pairs(&lib).expect("pairs").iter().map(|p| p.0).collect();
        let p = |k: usize| all[k];
        for (k, v) in [(2, 1), (5, 1), (9, 1), (3, 0)] {
            lib.set_label(p(k), "chexpert", "Cardiomegaly", Some(v), "ann")
                .expect("label");
        }
        let schema: i64 = lib
            .conn()
            .query_row("SELECT id FROM schemas WHERE name = 'chexpert'", [], |r| {
                r.get(0)
            })
            .expect("schema");
        lib.conn()
            .execute(
                "INSERT INTO labels (pair_id, schema_id, class, source, value, confidence)
                 VALUES (?1, ?2, 'Cardiomegaly', 'report-rules', 1, 0.9)",
                rusqlite::params![p(7), schema],
            )
            .expect("machine label");
        let c = Some("Cardiomegaly");
        assert_eq!(
            ids(&lib, &filter(c, Some("1"), None)),
            vec![p(2), p(5), p(7), p(9)]
        );
        assert_eq!(
            ids(&lib, &filter(c, Some("1"), Some("human"))),
            vec![p(2), p(5), p(9)]
        );
        assert_eq!(
            ids(&lib, &filter(c, Some("1"), Some("machine"))),
            vec![p(7)]
        );
        assert_eq!(
            ids(&lib, &filter(c, Some("1"), Some("report-rules"))),
            vec![p(7)]
        );
        assert_eq!(ids(&lib, &filter(c, Some("0"), None)), vec![p(3)]);
        assert_eq!(ids(&lib, &filter(None, None, Some("machine"))), vec![p(7)]);
        let blank: Vec<i64> = all
            .iter()
            .copied()
            .filter(|id| ![p(2), p(3), p(5), p(7), p(9)].contains(id))
            .collect();
        assert_eq!(ids(&lib, &filter(c, Some("blank"), None)), blank);

        // A split part, alone and with a label filter.
        lib.make_split(&SplitOptions {
            name: "s".into(),
            strategy: Strategy::Random,
            parts: vec![("train".into(), 0.5), ("test".into(), 0.5)],
            seed: 3,
            stratify: None,
            freeze: false,
        })
        .expect("split");
        let train: Vec<i64> = lib
            .conn()
            .prepare("SELECT m.pair_id FROM split_members m JOIN splits s ON s.id = m.split_id WHERE s.name = 's' AND m.part = 'train' ORDER BY m.pair_id")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>())
            .expect("train");
        assert!(!train.is_empty() && train.len() < all.len());
        let mut f = BrowseFilter {
            split: Some("s".into()),
            part: Some("train".into()),
            ..Default::default()
        };
        assert_eq!(ids(&lib, &f), train);
        f.class = c.map(str::to_owned);
        f.value = Some("1".into());
        let both: Vec<i64> = train
            .iter()
            .copied()
            .filter(|id| [p(2), p(5), p(7), p(9)].contains(id))
            .collect();
        assert_eq!(ids(&lib, &f), both);

        // Review status, tag and report text.
        lib.set_review(p(5), "chexpert", "accepted", "ann")
            .expect("review");
        let review = |s: &str| BrowseFilter {
            review: Some(s.into()),
            ..Default::default()
        };
        assert_eq!(ids(&lib, &review("accepted")), vec![p(5)]);
        assert_eq!(ids(&lib, &review("unlabelled")).len(), all.len() - 1);
        lib.conn()
            .execute_batch(&format!(
                "INSERT INTO tags (name) VALUES ('cardiomegaly');
                 INSERT INTO report_tags (report_id, tag_id)
                 SELECT report_id, (SELECT id FROM tags WHERE name = 'cardiomegaly') FROM pairs WHERE id = {}",
                p(9)
            ))
            .expect("tag");
        let tag = BrowseFilter {
            tag: Some("cardiomegaly".into()),
            ..Default::default()
        };
        assert_eq!(ids(&lib, &tag), vec![p(9)]);
        let text = BrowseFilter {
            text: Some("number 7".into()),
            ..Default::default()
        };
        let want: i64 = lib
            .conn()
            .query_row(
                "SELECT p.id FROM pairs p JOIN reports r ON r.id = p.report_id WHERE r.text LIKE 'Report number 7.%'",
                [],
                |r| r.get(0),
            )
            .expect("report 7");
        assert_eq!(ids(&lib, &text), vec![want]);
    }

    #[test]
    fn text_matches_are_kept_per_query_and_dropped_when_reports_change() {
        let (_tmp, lib) = library(6).expect("library");
        let text = |t: &str| BrowseFilter {
            text: Some(t.into()),
            ..Default::default()
        };
        let pair_of = |n: u32| -> i64 {
            lib.conn()
                .query_row(
                    "SELECT p.id FROM pairs p JOIN reports r ON r.id = p.report_id WHERE r.text LIKE ?1",
                    [format!("Report number {n}.%")],
                    |r| r.get(0),
                )
                .expect("pair")
        };
        assert_eq!(ids(&lib, &text("number 2")), vec![pair_of(2)]);
        assert!(ids(&lib, &text("pneumothorax")).is_empty());
        // A report that changes is seen by the next page, not hidden by kept matches.
        lib.conn()
            .execute(
                "UPDATE reports SET text = 'Report number 4. Small pneumothorax.' WHERE text LIKE 'Report number 4.%'",
                [],
            )
            .expect("update");
        assert_eq!(ids(&lib, &text("pneumothorax")), vec![pair_of(4)]);
        // Only the most recent queries keep their matches.
        for k in 0..12 {
            ids(&lib, &text(&format!("number {k}")));
        }
        let kept: i64 = lib
            .conn()
            .query_row("SELECT COUNT(*) FROM text_queries", [], |r| r.get(0))
            .expect("count");
        assert_eq!(kept, KEPT_QUERIES);
        let orphans: i64 = lib
            .conn()
            .query_row(
                "SELECT COUNT(*) FROM text_matches WHERE query_id NOT IN (SELECT id FROM text_queries)",
                [],
                |r| r.get(0),
            )
            .expect("orphans");
        assert_eq!(orphans, 0);
    }

    #[test]
    fn pages_follow_each_other_without_gaps_or_repeats() {
        let (_tmp, lib) = library(7).expect("library");
        let all: Vec<i64> = pairs(&lib).expect("pairs").iter().map(|p| p.0).collect();
        let (mut seen, mut after) = (Vec::new(), 0);
        loop {
            let page = lib
                .browse(&BrowseFilter::default(), after, 3)
                .expect("page");
            assert!(page.rows.len() <= 3);
            seen.extend(page.rows.iter().map(|r| r.id));
            match page.next {
                Some(n) => after = n,
                None => break,
            }
        }
        assert_eq!(seen, all);
    }

    #[test]
    fn bad_filters_are_refused_with_a_reason() {
        let (_tmp, lib) = library(2).expect("library");
        let part_only = BrowseFilter {
            part: Some("train".into()),
            ..Default::default()
        };
        assert!(matches!(
            lib.browse(&part_only, 0, 10),
            Err(Error::Invalid(_))
        ));
        let no_split = BrowseFilter {
            split: Some("nope".into()),
            ..Default::default()
        };
        assert!(matches!(
            lib.browse(&no_split, 0, 10),
            Err(Error::NotFound(_))
        ));
        let no_class = filter(None, Some("1"), None);
        assert!(matches!(
            lib.browse(&no_class, 0, 10),
            Err(Error::Invalid(_))
        ));
        let bad_value = filter(Some("Cardiomegaly"), Some("2"), None);
        assert!(matches!(
            lib.browse(&bad_value, 0, 10),
            Err(Error::Invalid(_))
        ));
        let empty_text = BrowseFilter {
            text: Some("  ".into()),
            ..Default::default()
        };
        assert!(matches!(
            lib.browse(&empty_text, 0, 10),
            Err(Error::Invalid(_))
        ));
    }
}
