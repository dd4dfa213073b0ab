//! Inter-annotator agreement: pairs assigned to annotators (a chosen fraction to two, for
//! double labelling), and each annotator's own labels (`annotator_labels`, kept on every
//! human change and on a value the shared label already had) compared: Cohen's kappa per
//! class for each two annotators, Fleiss' kappa per class over the items every annotator
//! labelled when there are more than two, and the disagreements.
//!
//! Multi-label schemas compare each class's 1 / 0 / −1; multi-class schemas compare the
//! class each annotator gave the pair (one row, `class` None). A label an annotator blanked
//! is not a rating.

use std::collections::BTreeMap;

use pairlab_ml::agreement::{cohen_kappa, fleiss_kappa};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::SchemaKind;
use crate::error::{Error, Result};

/// Assigns pairs to annotators.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct AssignOptions {
    pub annotators: Vec<String>,
    /// The fraction of the pairs that two annotators label (0 to 1).
    #[serde(default)]
    #[ts(optional, as = "Option<f64>")]
    pub fraction: f64,
    /// Only the pairs of this split (all pairs without one).
    #[serde(default)]
    #[ts(optional)]
    pub split: Option<String>,
    #[serde(default)]
    #[ts(optional, as = "Option<u64>")]
    pub seed: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct AnnotatorCount {
    pub annotator: String,
    pub pairs: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct AssignSummary {
    pub pairs: u64,
    /// Pairs given to two annotators.
    pub double: u64,
    pub per_annotator: Vec<AnnotatorCount>,
}

/// Assigns every pair (of the split) to one annotator in turn, and a seeded `fraction` of
/// them to two; the pairs' earlier assignments are replaced.
pub fn assign(conn: &mut Connection, opts: &AssignOptions) -> Result<AssignSummary> {
    let names: Vec<String> = opts
        .annotators
        .iter()
        .map(|a| a.trim().to_string())
        .collect();
    if names.is_empty() || names.iter().any(String::is_empty) {
        return Err(Error::field("annotators", "name one or more annotators"));
    }
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != names.len() {
        return Err(Error::field("annotators", "an annotator is named twice"));
    }
    if !(0.0..=1.0).contains(&opts.fraction) {
        return Err(Error::field(
            "fraction",
            format!("--fraction {}: use 0 to 1", opts.fraction),
        ));
    }
    if opts.fraction > 0.0 && names.len() < 2 {
        return Err(Error::field(
            "annotators",
            "double labelling needs two or more annotators",
        ));
    }
    let mut pairs: Vec<i64> = match &opts.split {
        Some(split) => {
            crate::splits::get(conn, split)?;
            conn.prepare(
                "SELECT m.pair_id FROM split_members m JOIN splits s ON s.id = m.split_id
                 WHERE s.name = ?1 ORDER BY m.pair_id",
            )?
            .query_map([split], |r| r.get(0))?
            .collect::<Result<_, _>>()?
        }
        None => conn
            .prepare("SELECT id FROM pairs ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
    };
    // A seeded shuffle (Fisher–Yates) picks the doubly labelled pairs.
    let mut rng = pairlab_ml::rng::SplitMix64(opts.seed ^ 0x5A5A_1234);
    for i in (1..pairs.len()).rev() {
        pairs.swap(i, rng.below(i + 1));
    }
    let double = (opts.fraction * pairs.len() as f64).round() as usize;
    let m = names.len();
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut counts = vec![0u64; m];
    {
        let mut clear = tx.prepare("DELETE FROM assignments WHERE pair_id = ?1")?;
        let mut put = tx.prepare("INSERT INTO assignments (pair_id, annotator) VALUES (?1, ?2)")?;
        for (i, pair) in pairs.iter().enumerate() {
            clear.execute([pair])?;
            let first = i % m;
            put.execute(params![pair, names[first]])?;
            counts[first] += 1;
            if i < double {
                let second = (i + 1) % m;
                put.execute(params![pair, names[second]])?;
                counts[second] += 1;
            }
        }
    }
    tx.commit()?;
    Ok(AssignSummary {
        pairs: pairs.len() as u64,
        double: double as u64,
        per_annotator: names
            .into_iter()
            .zip(counts)
            .map(|(annotator, pairs)| AnnotatorCount { annotator, pairs })
            .collect(),
    })
}

/// Cohen's kappa of two annotators on one class (multi-class: on the class given).
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct CohenRow {
    /// None for a multi-class schema (the class given is compared).
    pub class: Option<String>,
    pub a: String,
    pub b: String,
    /// Pairs both labelled.
    pub items: u64,
    /// Of those, the pairs they gave the same value.
    pub agreed: u64,
    /// None when undefined (no items, or one value given to everything by both).
    pub kappa: Option<f64>,
}

/// Fleiss' kappa of all annotators on one class, over the pairs every one of them labelled.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct FleissRow {
    pub class: Option<String>,
    pub items: u64,
    pub kappa: Option<f64>,
}

/// One annotator's value in a disagreement (multi-class: the class they gave).
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Rating {
    pub annotator: String,
    pub value: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Disagreement {
    pub pair_id: i64,
    pub class: Option<String>,
    pub ratings: Vec<Rating>,
    /// A reviewer's decision, when one was made after the last rating (see
    /// `adjudication::resolve`); None while the disagreement is open.
    pub resolution: Option<Resolution>,
}

/// What a reviewer decided on a disagreement: the value that became the shared label.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Resolution {
    /// "1", "0" or "-1"; for a multi-class schema the class decided.
    pub value: String,
    pub reviewer: String,
    pub decided_at: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct AgreementReport {
    pub schema: String,
    /// The annotators with labels of the schema.
    pub annotators: Vec<String>,
    pub cohen: Vec<CohenRow>,
    /// With three or more annotators.
    pub fleiss: Vec<FleissRow>,
    /// Pairs (and classes) that annotators labelled differently, by pair (at most `limit`;
    /// only the open ones when asked).
    pub disagreements: Vec<Disagreement>,
    pub total_disagreements: u64,
    /// Of those, the ones no reviewer has decided since their last rating.
    pub open_disagreements: u64,
}

/// Ratings per class (None: the multi-class label) per pair per annotator.
type Ratings = BTreeMap<Option<String>, BTreeMap<i64, BTreeMap<String, String>>>;

/// The condition on `pair_id` (bound as ?2) for all pairs or one, written so that the
/// one-pair query uses the (schema, pair) index.
fn one_pair(pair: Option<i64>) -> &'static str {
    if pair.is_some() {
        "pair_id = ?2"
    } else {
        "pair_id IS NOT ?2"
    }
}

/// Every rating of a schema, or of one pair's.
fn ratings(
    conn: &Connection,
    schema_id: i64,
    multi_class: bool,
    pair: Option<i64>,
) -> Result<Ratings> {
    let mut out: Ratings = BTreeMap::new();
    let mut stmt = conn.prepare(&format!(
        "SELECT pair_id, class, annotator, value FROM annotator_labels
         WHERE schema_id = ?1 AND value IS NOT NULL AND {}
         ORDER BY pair_id, class, annotator",
        one_pair(pair)
    ))?;
    let rows = stmt.query_map(params![schema_id, pair], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, i8>(3)?,
        ))
    })?;
    for row in rows {
        let (pair, class, who, value) = row?;
        if multi_class {
            if value == 1 {
                out.entry(None)
                    .or_default()
                    .entry(pair)
                    .or_default()
                    .insert(who, class);
            }
        } else {
            out.entry(Some(class))
                .or_default()
                .entry(pair)
                .or_default()
                .insert(who, value.to_string());
        }
    }
    Ok(out)
}

/// Reviewers' decisions still standing (none of their ratings changed or given again
/// since) of a schema, or of one pair, by (class, pair); the class None for multi-class.
type Resolutions = BTreeMap<(Option<String>, i64), Resolution>;

fn resolutions(conn: &Connection, schema_id: i64, pair: Option<i64>) -> Result<Resolutions> {
    let mut stmt = conn.prepare(&format!(
        "SELECT r.pair_id, r.class, r.value, r.reviewer, r.decided_at FROM disagreement_resolutions r
         WHERE r.schema_id = ?1 AND r.{}
           AND NOT EXISTS (SELECT 1 FROM annotator_labels a
                           WHERE a.schema_id = r.schema_id AND a.pair_id = r.pair_id
                             AND (r.class = '' OR a.class = r.class) AND a.updated_at > r.decided_at)",
        one_pair(pair)
    ))?;
    let rows = stmt.query_map(params![schema_id, pair], |r| {
        let class: String = r.get(1)?;
        Ok((
            (Some(class).filter(|c| !c.is_empty()), r.get::<_, i64>(0)?),
            Resolution {
                value: r.get(2)?,
                reviewer: r.get(3)?,
                decided_at: r.get(4)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The pairs (and classes) whose annotators gave different values, by pair then class,
/// with the decision standing on each.
fn disagreements(all: &Ratings, decided: &Resolutions) -> Vec<Disagreement> {
    let mut out: Vec<Disagreement> = all
        .iter()
        .flat_map(|(class, pairs)| {
            pairs
                .iter()
                .filter(|(_, r)| {
                    let mut v = r.values();
                    let first = v.next();
                    r.len() > 1 && v.any(|x| Some(x) != first)
                })
                .map(move |(pair, r)| Disagreement {
                    pair_id: *pair,
                    class: class.clone(),
                    ratings: r
                        .iter()
                        .map(|(annotator, value)| Rating {
                            annotator: annotator.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    resolution: decided.get(&(class.clone(), *pair)).cloned(),
                })
        })
        .collect();
    out.sort_by(|a, b| a.pair_id.cmp(&b.pair_id).then(a.class.cmp(&b.class)));
    out
}

/// The disagreement on one pair's class (multi-class: `class` None), if its annotators
/// disagree.
pub(crate) fn disagreement(
    conn: &Connection,
    schema: &super::Schema,
    pair: i64,
    class: Option<&str>,
) -> Result<Option<Disagreement>> {
    let all = ratings(
        conn,
        schema.id,
        schema.kind == SchemaKind::MultiClass,
        Some(pair),
    )?;
    let decided = resolutions(conn, schema.id, Some(pair))?;
    Ok(disagreements(&all, &decided)
        .into_iter()
        .find(|d| d.class.as_deref() == class))
}

/// Agreement of the annotators of a schema; at most `limit` disagreements listed, only
/// the open ones with `open_only`.
pub fn agreement(
    conn: &Connection,
    schema: &str,
    limit: usize,
    open_only: bool,
) -> Result<AgreementReport> {
    let s = super::schema::get(conn, schema)?;
    let all = ratings(conn, s.id, s.kind == SchemaKind::MultiClass, None)?;
    let mut annotators: Vec<String> = all
        .values()
        .flat_map(|pairs| pairs.values().flat_map(|r| r.keys().cloned()))
        .collect();
    annotators.sort();
    annotators.dedup();
    let mut report = AgreementReport {
        schema: s.name.clone(),
        annotators: annotators.clone(),
        cohen: Vec::new(),
        fleiss: Vec::new(),
        disagreements: Vec::new(),
        total_disagreements: 0,
        open_disagreements: 0,
    };
    for (class, pairs) in &all {
        for (i, a) in annotators.iter().enumerate() {
            for b in &annotators[i + 1..] {
                let both: Vec<(&String, &String)> = pairs
                    .values()
                    .filter_map(|r| Some((r.get(a)?, r.get(b)?)))
                    .collect();
                if both.is_empty() {
                    continue;
                }
                let (x, y): (Vec<&String>, Vec<&String>) = both.iter().copied().unzip();
                report.cohen.push(CohenRow {
                    class: class.clone(),
                    a: a.clone(),
                    b: b.clone(),
                    items: both.len() as u64,
                    agreed: both.iter().filter(|(p, q)| p == q).count() as u64,
                    kappa: cohen_kappa(&x, &y),
                });
            }
        }
        if annotators.len() > 2 {
            let everyone: Vec<&BTreeMap<String, String>> = pairs
                .values()
                .filter(|r| r.len() == annotators.len())
                .collect();
            let mut cats: Vec<&String> = everyone.iter().flat_map(|r| r.values()).collect();
            cats.sort();
            cats.dedup();
            let table: Vec<Vec<usize>> = everyone
                .iter()
                .map(|r| {
                    cats.iter()
                        .map(|c| r.values().filter(|v| v == c).count())
                        .collect()
                })
                .collect();
            report.fleiss.push(FleissRow {
                class: class.clone(),
                items: table.len() as u64,
                kappa: fleiss_kappa(&table),
            });
        }
    }
    let differ = disagreements(&all, &resolutions(conn, s.id, None)?);
    report.total_disagreements = differ.len() as u64;
    report.open_disagreements = differ.iter().filter(|d| d.resolution.is_none()).count() as u64;
    report.disagreements = differ
        .into_iter()
        .filter(|d| !open_only || d.resolution.is_none())
        .take(limit)
        .collect();
    Ok(report)
}

#[cfg(test)]
#[path = "agreement_tests.rs"]
mod tests;
