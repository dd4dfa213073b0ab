//! Likely label errors (`pairlab label-issues`): out-of-fold probabilities from K runs on
//! patient-grouped folds of a split, then confident learning as Cleanlab 2.9 does it
//! (`pairlab_ml::label_issues`, parity-tested against Cleanlab).
//!
//! Fold `f` of K is a split `<split>-fold<f>of<K>` (its `test` part the fold, its `train`
//! part the others; a seeded tenth of train stops early) and a run like any other, trained
//! with the options `train` takes. Only the split's pairs with a counted label take part.
//! The given labels are the ones every run learns from (a person's, else the most confident
//! machine label; uncertain ones by the run's policy). The result is stored (the last one
//! per schema and split): a score per examined pair that the Browse grid sorts by (lowest
//! first: likeliest wrong) and the flagged (pair, class) rows it filters by.

pub mod folds;
pub mod review;
pub mod score;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::time::Instant;

use pairlab_ml::label_issues::Filter;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use ts_rs::TS;

pub use review::{Outcome, Resolved, resolve};
pub use score::{RankBy, filter_name, parse_filter};

use crate::error::{Error, Result};
use crate::labels::SchemaKind;
use crate::progress::Progress;
use crate::runs::{TrainOptions, Uncertain};

/// What `label-issues` does.
#[derive(Clone, Debug)]
pub struct IssueOptions {
    /// How each fold's run trains; its `split` is the split searched.
    pub train: TrainOptions,
    pub folds: usize,
    pub filter: Filter,
    pub rank_by: RankBy,
}

/// The default number of folds.
pub const DEFAULT_FOLDS: usize = 5;

/// A (pair, class) whose label looks wrong.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct LabelIssue {
    pub pair_id: i64,
    /// The class whose label looks wrong (multi-class: the given class).
    pub class: String,
    /// The given value (multi-class: 1, the pair is given `class`).
    pub given: i8,
    /// The value the model suggests instead.
    pub suggested: i8,
    /// Multi-class: the class the model prefers.
    pub suggested_class: Option<String>,
    /// The given label's self-confidence (or normalized margin): lower is likelier wrong.
    pub score: f64,
    /// 1 for the likeliest error.
    pub rank: u64,
    /// The fold run that predicted the pair (it never trained on the pair's patient).
    pub run_id: Option<i64>,
    /// `accepted` (the suggestion became a person's label), `kept` (the given label was
    /// confirmed), or None while it waits in the review queue.
    pub outcome: Option<String>,
}

/// One search's result.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct LabelIssueReport {
    /// The stored result's id (the Browse grid's `issues`).
    pub id: i64,
    pub schema: String,
    pub split: String,
    /// Cleanlab's name of the filter.
    pub filter: String,
    /// `self_confidence` or `normalized_margin`.
    pub rank_by: String,
    /// The fold runs, fold 1 first.
    pub folds: Vec<i64>,
    /// Pairs with a counted label and an out-of-fold prediction.
    pub examined: u64,
    /// Pairs with at least one flagged class.
    pub flagged_pairs: u64,
    /// Flagged (pair, class) rows in all (`issues` may hold fewer).
    pub total_issues: u64,
    /// Of those, the ones reviewed (accepted or kept).
    pub resolved: u64,
    /// The flagged rows, likeliest error first.
    pub issues: Vec<LabelIssue>,
    pub created_at: String,
    /// A label changed since the search: the flags are of the labels as they were.
    pub stale: bool,
    /// Seconds the search took (0 when read back).
    pub seconds: f64,
}

/// Forwards a fold run's progress, naming the fold.
struct FoldProgress<'a> {
    inner: &'a dyn Progress,
    fold: usize,
    of: usize,
}

impl Progress for FoldProgress<'_> {
    fn stage(&self, name: &str, total: u64) {
        self.inner
            .stage(&format!("fold {}/{}: {name}", self.fold, self.of), total);
    }
    fn advance(&self, n: u64) {
        self.inner.advance(n);
    }
    fn message(&self, text: &str) {
        self.inner
            .message(&format!("fold {}/{}: {text}", self.fold, self.of));
    }
    fn subject(&self, kind: &str, id: i64) {
        self.inner.subject(kind, id);
    }
    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

/// The split's pairs (images on disk) with their patient keys.
fn members(conn: &Connection, split: &str) -> Result<Vec<(i64, Option<String>)>> {
    let id = crate::splits::id(conn, split)?;
    Ok(conn
        .prepare(
            "SELECT m.pair_id, pt.key FROM split_members m JOIN pairs p ON p.id = m.pair_id
             JOIN images i ON i.id = p.image_id LEFT JOIN patients pt ON pt.id = p.patient_id
             WHERE m.split_id = ?1 AND i.missing = 0 ORDER BY m.pair_id",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?)
}

/// The counted labels of each pair over `classes` (uncertain ones by `policy`).
fn given_labels(
    conn: &Connection,
    schema_id: i64,
    classes: &[String],
    pairs: &[(i64, Option<String>)],
    policy: Uncertain,
) -> Result<Vec<Vec<Option<i8>>>> {
    let best = crate::labels::best_values(conn, schema_id)?;
    Ok(pairs
        .iter()
        .map(|(pair, _)| {
            classes
                .iter()
                .map(|c| match best.get(&(*pair, c.clone())).copied() {
                    Some(-1) => match policy {
                        Uncertain::Ignore => None,
                        Uncertain::Zeros => Some(0),
                        Uncertain::Ones => Some(1),
                    },
                    v => v,
                })
                .collect()
        })
        .collect())
}

/// Searches a split for likely label errors (see the module's documentation).
pub fn find(
    conn: &mut Connection,
    library: &Path,
    opts: &IssueOptions,
    progress: &dyn Progress,
) -> Result<LabelIssueReport> {
    let started = Instant::now();
    let k = opts.folds;
    if k < 2 {
        return Err(Error::field("folds", format!("--folds {k}: use 2 or more")));
    }
    opts.train.check()?;
    let schema = crate::labels::schema::get(conn, &opts.train.schema)?;
    let multi_class = schema.kind == SchemaKind::MultiClass;
    let split = opts.train.split.clone();
    let all = members(conn, &split)?;
    let given = given_labels(conn, schema.id, &schema.classes, &all, opts.train.uncertain)?;
    let (items, given): (Vec<_>, Vec<_>) = all
        .into_iter()
        .zip(given)
        .filter(|(_, g)| {
            if multi_class {
                g.contains(&Some(1))
            } else {
                g.iter().any(Option::is_some)
            }
        })
        .unzip();
    let groups = folds::groups(&items);
    if groups < k {
        return Err(Error::field(
            "folds",
            format!(
                "split {split} has {} labelled pairs of schema {} from {groups} patients: \
                 {k} folds need at least {k} patients",
                items.len(),
                schema.name
            ),
        ));
    }
    let fold_of = folds::assign(&items, k, opts.train.seed);
    let labelled = Labelled {
        items,
        given,
        fold_of,
        classes: schema.classes.len(),
    };
    let (runs, examined) = fold_runs(conn, library, opts, &labelled, progress)?;
    progress.stage("confident learning", 0);
    let found = score::find(
        &examined,
        schema.classes.len(),
        multi_class,
        opts.filter,
        opts.rank_by,
    );
    let id = store(
        conn,
        (schema.id, &schema.classes),
        &split,
        opts,
        &runs,
        &found,
    )?;
    progress.subject("label-issues", id);
    let mut report = get(conn, id, Reading::default())?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The pairs that take part: their patient keys, counted labels and folds.
struct Labelled {
    items: Vec<(i64, Option<String>)>,
    given: Vec<Vec<Option<i8>>>,
    fold_of: Vec<usize>,
    classes: usize,
}

/// Trains one run per fold (its split made first) and reads each pair's probabilities from
/// the run whose test part was its fold: the fold runs and the examined pairs.
fn fold_runs(
    conn: &mut Connection,
    library: &Path,
    opts: &IssueOptions,
    labelled: &Labelled,
    progress: &dyn Progress,
) -> Result<(Vec<i64>, Vec<score::Examined>)> {
    let (k, split) = (opts.folds, &opts.train.split);
    let row_of: std::collections::HashMap<i64, usize> = labelled
        .items
        .iter()
        .enumerate()
        .map(|(i, (p, _))| (*p, i))
        .collect();
    let mut runs = Vec::with_capacity(k);
    let mut examined = Vec::with_capacity(labelled.items.len());
    for f in 0..k {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let name = format!("{split}-fold{}of{k}", f + 1);
        let assigned: Vec<(i64, String)> = labelled
            .items
            .iter()
            .zip(&labelled.fold_of)
            .map(|((pair, _), &g)| (*pair, if g == f { "test" } else { "train" }.to_string()))
            .collect();
        crate::splits::create_assigned(conn, &name, "patient-folds", &assigned)?;
        let fold_opts = TrainOptions {
            split: name,
            ..opts.train.clone()
        };
        let fp = FoldProgress {
            inner: progress,
            fold: f + 1,
            of: k,
        };
        let run = crate::runs::train(conn, library, &fold_opts, &fp)?;
        runs.push(run.run_id);
        let mut stmt = conn.prepare(
            "SELECT pair_id, probs FROM run_predictions WHERE run_id = ?1 AND part = 'test' ORDER BY pair_id",
        )?;
        let rows = stmt.query_map([run.run_id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (pair, blob) = row?;
            let probs = crate::embed::from_blob(&blob);
            let Some(&i) = row_of.get(&pair) else {
                continue;
            };
            if probs.len() != labelled.classes {
                return Err(Error::Invalid(format!(
                    "run {} predicted {} classes; schema {} has {}",
                    run.run_id,
                    probs.len(),
                    opts.train.schema,
                    labelled.classes
                )));
            }
            examined.push(score::Examined {
                pair,
                run: run.run_id,
                given: labelled.given[i].clone(),
                probs,
            });
        }
    }
    Ok((runs, examined))
}

/// Keeps a search's result, replacing the previous one of the schema and split.
fn store(
    conn: &mut Connection,
    (schema_id, classes): (i64, &[String]),
    split: &str,
    opts: &IssueOptions,
    runs: &[i64],
    found: &score::Found,
) -> Result<i64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "DELETE FROM label_issue_sets WHERE schema_id = ?1 AND split = ?2",
        params![schema_id, split],
    )?;
    let newest = crate::labels::newest_event(&tx)?;
    let folds = serde_json::to_string(runs).map_err(|e| Error::Invalid(e.to_string()))?;
    let id: i64 = tx.query_row(
        "INSERT INTO label_issue_sets (schema_id, split, filter, rank_by, folds, label_event)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![
            schema_id,
            split,
            filter_name(opts.filter),
            opts.rank_by.name(),
            folds,
            newest
        ],
        |r| r.get(0),
    )?;
    {
        let mut put = tx.prepare(
            "INSERT INTO label_issue_pairs (set_id, pair_id, score, flagged) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (pair, s, flagged) in &found.pairs {
            put.execute(params![id, pair, s, flagged])?;
        }
        let mut put = tx.prepare(
            "INSERT INTO label_issues (set_id, pair_id, class, given, suggested, suggested_class, score, rank, run_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for (r, f) in found.flags.iter().enumerate() {
            put.execute(params![
                id,
                f.pair,
                classes[f.class],
                f.given,
                f.suggested,
                f.suggested_class.map(|c| classes[c].clone()),
                f.score,
                r as i64 + 1,
                f.run
            ])?;
        }
    }
    tx.commit()?;
    Ok(id)
}

const ISSUE_COLUMNS: &str = "i.pair_id, i.class, i.given, i.suggested, i.suggested_class, i.score, i.rank, i.run_id, o.outcome
     FROM label_issues i LEFT JOIN label_issue_outcomes o
     ON o.set_id = i.set_id AND o.pair_id = i.pair_id AND o.class = i.class";

fn issue_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LabelIssue> {
    Ok(LabelIssue {
        pair_id: r.get(0)?,
        class: r.get(1)?,
        given: r.get(2)?,
        suggested: r.get(3)?,
        suggested_class: r.get(4)?,
        score: r.get(5)?,
        rank: r.get::<_, i64>(6)? as u64,
        run_id: r.get(7)?,
        outcome: r.get(8)?,
    })
}

/// One flagged row of a stored result.
pub fn issue(conn: &Connection, set: i64, pair: i64, class: &str) -> Result<Option<LabelIssue>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {ISSUE_COLUMNS} WHERE i.set_id = ?1 AND i.pair_id = ?2 AND i.class = ?3"
            ),
            params![set, pair, class],
            issue_row,
        )
        .optional()?)
}

/// Which of a result's issues to read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reading {
    /// At most this many (all without one).
    pub limit: Option<u64>,
    /// Only those not yet reviewed (the review queue).
    pub open_only: bool,
}

/// A stored result with the issues `reading` asks for, likeliest error first.
pub fn get(conn: &Connection, id: i64, reading: Reading) -> Result<LabelIssueReport> {
    type Head = (String, String, String, String, String, i64, String);
    let head: Head = conn
        .query_row(
            "SELECT sc.name, s.split, s.filter, s.rank_by, s.folds, s.label_event, s.created_at
             FROM label_issue_sets s JOIN schemas sc ON sc.id = s.schema_id WHERE s.id = ?1",
            [id],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "label issues {id} (find some with `pairlab label-issues`)"
            ))
        })?;
    let (schema, split, filter, rank_by, folds, event, created_at) = head;
    let (examined, flagged_pairs): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(flagged), 0) FROM label_issue_pairs WHERE set_id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (total, resolved): (i64, i64) = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM label_issues WHERE set_id = ?1),
                (SELECT COUNT(*) FROM label_issue_outcomes WHERE set_id = ?1)",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let limit = reading
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let open = if reading.open_only {
        "AND o.outcome IS NULL"
    } else {
        ""
    };
    let issues = conn
        .prepare(&format!(
            "SELECT {ISSUE_COLUMNS} WHERE i.set_id = ?1 {open} ORDER BY i.rank LIMIT ?2"
        ))?
        .query_map(params![id, limit], issue_row)?
        .collect::<Result<_, _>>()?;
    Ok(LabelIssueReport {
        id,
        schema,
        split,
        filter,
        rank_by,
        folds: serde_json::from_str(&folds).unwrap_or_default(),
        examined: examined as u64,
        flagged_pairs: flagged_pairs as u64,
        total_issues: total as u64,
        resolved: resolved as u64,
        issues,
        created_at,
        stale: crate::labels::newest_event(conn)? > event,
        seconds: 0.0,
    })
}

/// Every stored result, newest first, without its issues.
pub fn list(conn: &Connection) -> Result<Vec<LabelIssueReport>> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM label_issue_sets ORDER BY id DESC")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter()
        .map(|id| {
            get(
                conn,
                id,
                Reading {
                    limit: Some(0),
                    open_only: false,
                },
            )
        })
        .collect()
}
