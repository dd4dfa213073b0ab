//! Splits: named assignments of pairs to parts (train / val / test …), made at random,
//! stratified by a label, or by patient (no patient in two parts); stored, listed, frozen;
//! and audited for leakage (patients, exact and near duplicates shared across parts).
//! Splits imported with a corpus (folders layout, manifest column) are splits too.

pub mod assign;
pub mod near;

use std::collections::HashMap;
use ts_rs::TS;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

pub use assign::Strategy;
use assign::{Item, SplitSpec};

use crate::error::{Error, Result};
use crate::labels::schema;

/// How to make a split.
#[derive(Clone, Debug)]
pub struct SplitOptions {
    pub name: String,
    pub strategy: Strategy,
    /// Part names with their ratios.
    pub parts: Vec<(String, f64)>,
    pub seed: u64,
    /// Stratify by this schema's class (multi-label: the class's current value;
    /// multi-class: the sample's class; `class` may then be omitted).
    pub stratify: Option<(String, Option<String>)>,
    pub freeze: bool,
}

/// Default part names for a number of ratios.
pub fn default_parts(n: usize) -> Vec<String> {
    match n {
        2 => vec!["train".into(), "test".into()],
        3 => vec!["train".into(), "val".into(), "test".into()],
        _ => (1..=n).map(|i| format!("part{i}")).collect(),
    }
}

/// Parses a strategy name.
pub fn parse_strategy(s: &str) -> Result<Strategy> {
    match s {
        "random" => Ok(Strategy::Random),
        "stratified" => Ok(Strategy::Stratified),
        "patient" => Ok(Strategy::Patient),
        _ => Err(Error::Invalid(format!(
            "--strategy {s:?}: use random, stratified or patient"
        ))),
    }
}

pub fn parse_ratios(s: &str) -> Result<Vec<f64>> {
    assign::parse_ratios(s).map_err(|e| Error::Invalid(format!("--ratios: {e}")))
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct PartCount {
    pub part: String,
    pub pairs: u64,
    pub patients: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct SplitSummary {
    pub name: String,
    pub strategy: String,
    pub frozen: bool,
    pub created_at: String,
    pub parts: Vec<PartCount>,
}

/// Stratum name per pair id.
type Strata = HashMap<i64, String>;

/// The stratum of every pair: the class's current value (multi-label) or the positive
/// class (multi-class); human labels win over machine ones, then the most confident.
fn strata(conn: &Connection, schema_name: &str, class: Option<&str>) -> Result<Strata> {
    let s = schema::get(conn, schema_name)?;
    let multi_class = s.kind == crate::labels::SchemaKind::MultiClass;
    if !multi_class && class.is_none() {
        return Err(Error::Invalid(format!(
            "schema {schema_name} is multi-label: name the --class to stratify by"
        )));
    }
    if let Some(c) = class
        && !s.classes.iter().any(|x| x == c)
    {
        return Err(Error::Invalid(format!(
            "schema {schema_name} has no class {c:?}"
        )));
    }
    let mut out: HashMap<i64, String> = HashMap::new();
    for ((pair, c), value) in crate::labels::best_values(conn, s.id)? {
        if multi_class {
            if value == 1 {
                out.insert(pair, c);
            }
        } else if Some(c.as_str()) == class {
            out.insert(pair, value.to_string());
        }
    }
    Ok(out)
}

/// Makes (or remakes, unless frozen) the split `opts.name`.
pub fn create(conn: &mut Connection, opts: &SplitOptions) -> Result<SplitSummary> {
    if opts.name.trim().is_empty() {
        return Err(Error::Invalid("a split needs a --name".into()));
    }
    let existing: Option<(i64, bool)> = conn
        .query_row(
            "SELECT id, frozen FROM splits WHERE name = ?1",
            [&opts.name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((_, true)) = existing {
        return Err(Error::Conflict(format!(
            "split {} is frozen; choose another --name",
            opts.name
        )));
    }
    if opts.strategy == Strategy::Stratified && opts.stratify.is_none() {
        return Err(Error::Invalid(
            "a stratified split needs --schema (and --class for a multi-label schema)".into(),
        ));
    }
    let strata = match &opts.stratify {
        Some((schema_name, class)) => strata(conn, schema_name, class.as_deref())?,
        None => HashMap::new(),
    };
    let items: Vec<Item> = conn
        .prepare(
            "SELECT p.id, pt.key FROM pairs p JOIN images i ON i.id = p.image_id
             LEFT JOIN patients pt ON pt.id = p.patient_id WHERE i.missing = 0 ORDER BY p.id",
        )?
        .query_map([], |r| {
            let id: i64 = r.get(0)?;
            Ok(Item {
                id,
                patient: r.get(1)?,
                stratum: None,
            })
        })?
        .map(|r| {
            r.map(|mut it| {
                it.stratum = strata.get(&it.id).cloned();
                it
            })
        })
        .collect::<Result<_, _>>()?;
    let spec = SplitSpec {
        parts: opts.parts.clone(),
        seed: opts.seed,
        strategy: opts.strategy,
    };
    let assigned = assign::assign(&items, &spec).map_err(|e| Error::Invalid(e.to_string()))?;
    let strategy = match opts.strategy {
        Strategy::Random => "random",
        Strategy::Stratified => "stratified",
        Strategy::Patient => "patient",
    };
    store(conn, &opts.name, strategy, &assigned, opts.freeze)
}

/// Makes (or remakes, unless frozen) the split `name` from a given assignment of pairs to
/// parts (e.g. the patient-grouped folds of `label-issues`).
pub fn create_assigned(
    conn: &mut Connection,
    name: &str,
    strategy: &str,
    assigned: &[(i64, String)],
) -> Result<SplitSummary> {
    store(conn, name, strategy, assigned, false)
}

fn store(
    conn: &mut Connection,
    name: &str,
    strategy: &str,
    assigned: &[(i64, String)],
    freeze: bool,
) -> Result<SplitSummary> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let existing: Option<(i64, bool)> = tx
        .query_row(
            "SELECT id, frozen FROM splits WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let id = match existing {
        Some((_, true)) => {
            return Err(Error::Conflict(format!(
                "split {name} is frozen; choose another --name"
            )));
        }
        Some((id, false)) => {
            tx.execute("DELETE FROM split_members WHERE split_id = ?1", [id])?;
            tx.execute(
                "UPDATE splits SET strategy = ?2 WHERE id = ?1",
                params![id, strategy],
            )?;
            id
        }
        None => tx.query_row(
            "INSERT INTO splits (name, strategy) VALUES (?1, ?2) RETURNING id",
            params![name, strategy],
            |r| r.get(0),
        )?,
    };
    {
        let mut put =
            tx.prepare("INSERT INTO split_members (split_id, pair_id, part) VALUES (?1, ?2, ?3)")?;
        for (pair, part) in assigned {
            put.execute(params![id, pair, part])?;
        }
    }
    if freeze {
        tx.execute("UPDATE splits SET frozen = 1 WHERE id = ?1", [id])?;
    }
    tx.commit()?;
    get(conn, name)
}

/// A split's id by name (NotFound, with how to make one, otherwise).
pub fn id(conn: &Connection, name: &str) -> Result<i64> {
    conn.query_row("SELECT id FROM splits WHERE name = ?1", [name], |r| {
        r.get(0)
    })
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("split {name:?} (make one with `pairlab split`)")))
}

/// Freezes a split: it can no longer be remade.
pub fn freeze(conn: &Connection, name: &str) -> Result<SplitSummary> {
    let n = conn.execute("UPDATE splits SET frozen = 1 WHERE name = ?1", [name])?;
    if n == 0 {
        return Err(Error::NotFound(format!("split {name:?}")));
    }
    get(conn, name)
}

pub fn get(conn: &Connection, name: &str) -> Result<SplitSummary> {
    let (id, strategy, frozen, created_at): (i64, String, bool, String) = conn
        .query_row(
            "SELECT id, strategy, frozen, created_at FROM splits WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?
        .ok_or_else(|| {
            Error::NotFound(format!("split {name:?} (make one with `pairlab split`)"))
        })?;
    let parts = conn
        .prepare(
            "SELECT m.part, COUNT(*), COUNT(DISTINCT p.patient_id) FROM split_members m
             JOIN pairs p ON p.id = m.pair_id WHERE m.split_id = ?1 GROUP BY m.part
             ORDER BY CASE m.part WHEN 'train' THEN 0 WHEN 'val' THEN 1 WHEN 'test' THEN 2 ELSE 3 END, m.part",
        )?
        .query_map([id], |r| {
            Ok(PartCount {
                part: r.get(0)?,
                pairs: r.get::<_, i64>(1)? as u64,
                patients: r.get::<_, i64>(2)? as u64,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(SplitSummary {
        name: name.to_string(),
        strategy,
        frozen,
        created_at,
        parts,
    })
}

pub fn list(conn: &Connection) -> Result<Vec<SplitSummary>> {
    let names: Vec<String> = conn
        .prepare("SELECT name FROM splits ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    names.iter().map(|n| get(conn, n)).collect()
}

/// A patient or image shared by two or more parts of a split.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Shared {
    /// The patient id, the content hash, or the two pairs' ids for near duplicates.
    pub key: String,
    pub parts: Vec<String>,
    pub pairs: Vec<i64>,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct LeakageReport {
    pub split: String,
    pub patients: Vec<Shared>,
    pub exact_duplicates: Vec<Shared>,
    /// The closest near-duplicate pairs across parts, at most [`NEAR_LISTED`], closest
    /// first: images within the dHash distance whose thumbnails show the same picture
    /// (every pair within the distance with `loose`).
    pub near_duplicates: Vec<Shared>,
    /// How many near-duplicate pairs across parts there are in all.
    pub near_total: u64,
    /// The near duplicates grouped: images joined by near-duplicate pairs, each group with
    /// its parts (key: how many images).
    pub near_clusters: Vec<Shared>,
    /// Pairs across parts within the dHash distance whose pixels differ: look-alikes, not
    /// copies (not counted as leakage).
    pub look_alikes: u64,
    /// Pairs within the distance that could not be checked (no readable thumbnail); not
    /// counted as leakage.
    pub unchecked: u64,
    /// Every pair within the distance counted, without the pixel check.
    pub loose: bool,
}

/// How near duplicates are found: candidates within a dHash distance, then (unless
/// `loose`) the pixel check of [`near`].
#[derive(Clone, Copy, Debug)]
pub struct NearOptions {
    pub distance: u32,
    pub loose: bool,
}

/// The default dHash distance of a near-duplicate candidate.
pub const NEAR_DISTANCE: u32 = 3;

/// The most near-duplicate pairs a leakage report lists.
pub const NEAR_LISTED: usize = 1000;

impl LeakageReport {
    pub fn is_clean(&self) -> bool {
        self.patients.is_empty() && self.exact_duplicates.is_empty() && self.near_total == 0
    }
}

/// A member of a split with what leakage is checked on.
struct Row {
    pair: i64,
    part: String,
    patient: Option<String>,
    hash: String,
    dhash: u64,
    thumb: Option<String>,
}

/// The members of split `split`, in pair order.
fn members(conn: &Connection, split: &str) -> Result<Vec<Row>> {
    let rows = conn
        .prepare(
            "SELECT m.pair_id, m.part, pt.key, i.hash, i.dhash, i.thumb FROM split_members m
             JOIN splits s ON s.id = m.split_id JOIN pairs p ON p.id = m.pair_id
             JOIN images i ON i.id = p.image_id LEFT JOIN patients pt ON pt.id = p.patient_id
             WHERE s.name = ?1 ORDER BY m.pair_id",
        )?
        .query_map([split], |r| {
            Ok(Row {
                pair: r.get(0)?,
                part: r.get(1)?,
                patient: r.get(2)?,
                hash: r.get(3)?,
                dhash: r.get::<_, i64>(4)? as u64,
                thumb: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Patients, exact duplicates (same content hash) and near duplicates (the same picture
/// within a dHash distance, see [`near`]) found in more than one part of `split`; the
/// closest [`NEAR_LISTED`] near-duplicate pairs are listed. `thumbs` is the library's
/// thumbnail folder.
pub fn leakage(
    conn: &Connection,
    thumbs: &std::path::Path,
    split: &str,
    near: NearOptions,
) -> Result<LeakageReport> {
    leakage_listing(conn, thumbs, split, near, NEAR_LISTED)
}

fn leakage_listing(
    conn: &Connection,
    thumbs: &std::path::Path,
    split: &str,
    near_opts: NearOptions,
    near_listed: usize,
) -> Result<LeakageReport> {
    get(conn, split)?;
    let rows = members(conn, split)?;
    let shared_by = |key_of: &dyn Fn(&Row) -> Option<String>| -> Vec<Shared> {
        let mut groups: std::collections::BTreeMap<String, Vec<&Row>> = Default::default();
        for r in &rows {
            if let Some(k) = key_of(r) {
                groups.entry(k).or_default().push(r);
            }
        }
        groups
            .into_iter()
            .filter_map(|(key, members)| {
                let mut parts: Vec<String> = members.iter().map(|m| m.part.clone()).collect();
                parts.sort();
                parts.dedup();
                (parts.len() > 1).then(|| Shared {
                    key,
                    parts,
                    pairs: members.iter().map(|m| m.pair).collect(),
                })
            })
            .collect()
    };
    let patients = shared_by(&|r| {
        r.patient
            .as_ref()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
    });
    let exact_duplicates = shared_by(&|r| Some(r.hash.clone()));
    let hashes: Vec<u64> = rows.iter().map(|r| r.dhash).collect();
    let candidates: Vec<(u32, usize, usize)> =
        pairlab_ml::dedup::near_hash_pairs(&hashes, near_opts.distance)
            .into_iter()
            .filter(|&(a, b, _)| rows[a].part != rows[b].part && rows[a].hash != rows[b].hash)
            .map(|(a, b, d)| (d, a, b))
            .collect();
    let (mut near, look_alikes, unchecked) = if near_opts.loose {
        (candidates, 0, 0)
    } else {
        self::near::confirm(candidates, |i| {
            rows[i]
                .thumb
                .as_deref()
                .and_then(|t| self::near::signature(thumbs, t))
        })
    };
    let near_total = near.len() as u64;
    let links: Vec<(usize, usize)> = near.iter().map(|&(_, a, b)| (a, b)).collect();
    let near_clusters = self::near::clusters(rows.len(), &links)
        .into_iter()
        .map(|members| {
            let mut parts: Vec<String> = members.iter().map(|&i| rows[i].part.clone()).collect();
            parts.sort();
            parts.dedup();
            Shared {
                key: format!("{} images", members.len()),
                parts,
                pairs: members.iter().map(|&i| rows[i].pair).collect(),
            }
        })
        .collect();
    near.sort_unstable();
    let near_duplicates = near
        .into_iter()
        .take(near_listed)
        .map(|(d, a, b)| {
            let mut parts = vec![rows[a].part.clone(), rows[b].part.clone()];
            parts.sort();
            Shared {
                key: format!("dHash distance {d}"),
                parts,
                pairs: vec![rows[a].pair, rows[b].pair],
            }
        })
        .collect();
    Ok(LeakageReport {
        split: split.to_string(),
        patients,
        exact_duplicates,
        near_duplicates,
        near_total,
        near_clusters,
        look_alikes,
        unchecked,
        loose: near_opts.loose,
    })
}

#[cfg(test)]
#[path = "leakage_tests.rs"]
mod leakage_tests;
