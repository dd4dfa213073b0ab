//! Embedding maps: a model's stored image or report embeddings of every pair projected to
//! 2-D, by PCA (seconds) or UMAP (a job: PCA to 50 dimensions, exact 15 nearest
//! neighbours there, UMAP's layout from the PCA start; pairlab-ml's `projection`). A map is
//! kept with a hash of its inputs — the vectors in pair order, the method and its settings —
//! and asking again for the same inputs answers the kept one. Points can be coloured by a
//! label, its source, a split's part, a mismatch score or a label-issue score; a selection
//! can be tagged (`pair_tags`, found by the Browse tag filter).

use std::collections::HashMap;
use std::time::Instant;

use pairlab_ml::projection;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::embed::from_blob;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// How to project.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    #[default]
    Umap,
    Pca,
}

/// What to map.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct MapOptions {
    /// A registered model whose embeddings are stored (`pairlab embed`).
    pub model: String,
    /// `image` (default) or `report`.
    #[serde(default = "image")]
    #[ts(optional, as = "Option<String>")]
    pub kind: String,
    #[serde(default)]
    #[ts(optional, as = "Option<Method>")]
    pub method: Method,
    /// UMAP: neighbours per point (15) and epochs (200).
    #[serde(default)]
    #[ts(optional)]
    pub neighbours: Option<usize>,
    #[serde(default)]
    #[ts(optional)]
    pub epochs: Option<usize>,
}

fn image() -> String {
    "image".into()
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct MapSummary {
    pub id: i64,
    pub model: String,
    pub kind: String,
    pub method: String,
    pub points: u64,
    /// How long computing it took.
    pub seconds: f64,
    pub created_at: String,
    /// Answered from the kept map of the same inputs.
    pub cached: bool,
}

/// A map's points, pair by pair.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct MapPoints {
    pub id: i64,
    pub pairs: Vec<i64>,
    pub x: Vec<f32>,
    pub y: Vec<f32>,
}

/// Every pair's vector of the model and kind, by pair id.
fn vectors(conn: &Connection, model: i64, kind: &str) -> Result<(Vec<i64>, Vec<f32>, usize)> {
    let join = if kind == "image" {
        "p.image_id"
    } else {
        "p.report_id"
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT p.id, e.vector FROM pairs p JOIN embeddings e
         ON e.model_id = ?1 AND e.kind = ?2 AND e.item_id = {join} ORDER BY p.id"
    ))?;
    let mut pairs = Vec::new();
    let mut data = Vec::new();
    let mut dim = 0;
    for row in stmt.query_map(params![model, kind], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
    })? {
        let (pair, blob) = row?;
        let v = from_blob(&blob);
        if dim == 0 {
            dim = v.len();
        }
        if v.len() == dim {
            pairs.push(pair);
            data.extend(v);
        }
    }
    Ok((pairs, data, dim))
}

/// Makes (or finds kept) a map.
pub fn compute(
    conn: &mut Connection,
    opts: &MapOptions,
    progress: &dyn Progress,
) -> Result<MapSummary> {
    let started = Instant::now();
    if !["image", "report"].contains(&opts.kind.as_str()) {
        return Err(Error::field(
            "kind",
            format!("kind {:?}: use image or report", opts.kind),
        ));
    }
    let model = crate::models::get(conn, &opts.model)?;
    let (k, epochs) = (opts.neighbours.unwrap_or(15), opts.epochs.unwrap_or(200));
    if !(2..=100).contains(&k) || !(1..=2000).contains(&epochs) {
        return Err(Error::field(
            "neighbours",
            "neighbours 2 to 100, epochs 1 to 2000",
        ));
    }
    progress.stage("reading embeddings", 0);
    let (pairs, data, dim) = vectors(conn, model.id, &opts.kind)?;
    let n = pairs.len();
    if n < 3 {
        return Err(Error::Invalid(format!(
            "model {} has {} {} embeddings: embed first (`pairlab embed --model {} --what {}s`)",
            model.name, n, opts.kind, model.name, opts.kind
        )));
    }
    let method = match opts.method {
        Method::Pca => "pca",
        Method::Umap => "umap",
    };
    let params_json = serde_json::json!({"neighbours": k, "epochs": epochs}).to_string();
    let mut hash = blake3::Hasher::new();
    hash.update(method.as_bytes());
    hash.update(params_json.as_bytes());
    for p in &pairs {
        hash.update(&p.to_le_bytes());
    }
    for v in &data {
        hash.update(&v.to_le_bytes());
    }
    let input_hash = hash.finalize().to_hex().to_string();
    let kept: Option<i64> = conn
        .query_row(
            "SELECT id FROM maps WHERE input_hash = ?1 AND model_id = ?2 AND kind = ?3 ORDER BY id DESC LIMIT 1",
            params![input_hash, model.id, opts.kind],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = kept {
        let mut s = summary(conn, id)?;
        s.cached = true;
        return Ok(s);
    }
    let xy = project(&data, (n, dim), opts.method, (k, epochs), progress)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let id: i64 = tx.query_row(
        "INSERT INTO maps (model_id, kind, method, params, input_hash, seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
        params![model.id, opts.kind, method, params_json, input_hash, started.elapsed().as_secs_f64()],
        |r| r.get(0),
    )?;
    {
        let mut put =
            tx.prepare("INSERT INTO map_points (map_id, pair_id, x, y) VALUES (?1, ?2, ?3, ?4)")?;
        for (i, pair) in pairs.iter().enumerate() {
            put.execute(params![id, pair, xy[i * 2], xy[i * 2 + 1]])?;
        }
    }
    tx.commit()?;
    progress.subject("map", id);
    summary(conn, id)
}

/// The 2-D points of `n × dim` rows by `method` (UMAP: `k` neighbours, `epochs`).
fn project(
    data: &[f32],
    (n, dim): (usize, usize),
    method: Method,
    (k, epochs): (usize, usize),
    progress: &dyn Progress,
) -> Result<Vec<f32>> {
    progress.stage("pca", 0);
    let cancelled = || progress.is_cancelled();
    Ok(match method {
        Method::Pca => {
            let p = projection::pca(data, n, dim, 2, 0)?;
            p.project(data, n)?
        }
        Method::Umap => {
            let low = dim.min(50);
            let p = projection::pca(data, n, dim, low, 0)?;
            let y = p.project(data, n)?;
            let low = p.variance.len();
            progress.stage("neighbours", n as u64);
            let mut done = 0;
            let (idx, dist) = projection::knn(&y, n, low, k.min(n), &mut |rows| {
                progress.advance((rows - done) as u64);
                done = rows;
                !cancelled()
            })?;
            let start: Vec<f32> = y
                .chunks_exact(low)
                .flat_map(|r| [r[0], r.get(1).copied().unwrap_or(0.0)])
                .collect();
            progress.stage("layout", epochs as u64);
            let mut at = 0;
            projection::umap(
                &y,
                n,
                low,
                (&idx, &dist, k.min(n)),
                &start,
                epochs,
                &mut |e, _| {
                    progress.advance((e - at) as u64);
                    at = e;
                    !cancelled()
                },
            )?
        }
    })
}

fn summary(conn: &Connection, id: i64) -> Result<MapSummary> {
    conn.query_row(
        "SELECT m.id, md.name, m.kind, m.method, (SELECT COUNT(*) FROM map_points WHERE map_id = m.id), m.seconds, m.created_at
         FROM maps m JOIN models md ON md.id = m.model_id WHERE m.id = ?1",
        [id],
        |r| {
            Ok(MapSummary {
                id: r.get(0)?,
                model: r.get(1)?,
                kind: r.get(2)?,
                method: r.get(3)?,
                points: r.get::<_, i64>(4)? as u64,
                seconds: r.get(5)?,
                created_at: r.get(6)?,
                cached: false,
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("map {id}")))
}

/// Every kept map, newest first.
pub fn list(conn: &Connection) -> Result<Vec<MapSummary>> {
    let ids: Vec<i64> = conn
        .prepare("SELECT id FROM maps ORDER BY id DESC")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    ids.into_iter().map(|id| summary(conn, id)).collect()
}

/// A map's points.
pub fn points(conn: &Connection, id: i64) -> Result<MapPoints> {
    summary(conn, id)?;
    let mut out = MapPoints {
        id,
        pairs: Vec::new(),
        x: Vec::new(),
        y: Vec::new(),
    };
    let mut stmt =
        conn.prepare("SELECT pair_id, x, y FROM map_points WHERE map_id = ?1 ORDER BY pair_id")?;
    for row in stmt.query_map([id], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, f64>(1)?,
            r.get::<_, f64>(2)?,
        ))
    })? {
        let (p, x, y) = row?;
        out.pairs.push(p);
        out.x.push(x as f32);
        out.y.push(y as f32);
    }
    Ok(out)
}

/// What colours a map's points.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct ColourArgs {
    /// `label` (a class's value), `source` (human or machine label of the class), `split`
    /// (the part), `mismatch` (a model's score) or `label-issues` (a search's score).
    pub by: String,
    #[serde(default)]
    #[ts(optional)]
    pub schema: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub class: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub split: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub model: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub issues: Option<i64>,
}

/// Per point (in the map's pair order), a category or a score; None where it has none.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct MapColours {
    pub categories: Vec<Option<String>>,
    pub scores: Vec<Option<f64>>,
}

fn lookup<T: rusqlite::types::FromSql>(
    conn: &Connection,
    sql: &str,
    key: &dyn rusqlite::ToSql,
) -> Result<HashMap<i64, T>> {
    let mut out = HashMap::new();
    let mut stmt = conn.prepare(sql)?;
    for row in stmt.query_map([key], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, T>(1)?)))? {
        let (k, v) = row?;
        out.insert(k, v);
    }
    Ok(out)
}

/// Per pair, a class's best value (multi-class: the class given), or its label's source.
fn label_colours(
    conn: &Connection,
    args: &ColourArgs,
    pairs: &[i64],
) -> Result<Vec<Option<String>>> {
    let s = crate::labels::schema::get(conn, args.schema.as_deref().unwrap_or("chexpert"))?;
    let class = match &args.class {
        Some(c) => c.clone(),
        None if s.kind == crate::labels::SchemaKind::MultiClass => String::new(),
        None => {
            return Err(Error::field(
                "class",
                "colouring by a label needs its class",
            ));
        }
    };
    let values: HashMap<i64, String> = if args.by == "label" {
        let best = crate::labels::best_values(conn, s.id)?;
        best.into_iter()
            .filter(|((_, c), v)| {
                if class.is_empty() {
                    *v == 1
                } else {
                    *c == class
                }
            })
            .map(|((p, c), v)| (p, if class.is_empty() { c } else { v.to_string() }))
            .collect()
    } else {
        let mut m: HashMap<i64, String> = HashMap::new();
        let mut stmt = conn.prepare(
            "SELECT pair_id, source FROM labels WHERE schema_id = ?1 AND (?2 = '' OR class = ?2)",
        )?;
        for row in stmt.query_map(params![s.id, class], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })? {
            let (p, src) = row?;
            let kind = if src == crate::labels::HUMAN {
                "human"
            } else {
                "machine"
            };
            let e = m.entry(p).or_insert_with(|| kind.to_string());
            if kind == "human" {
                *e = "human".into();
            }
        }
        m
    };
    Ok(pairs.iter().map(|p| values.get(p).cloned()).collect())
}

/// The colours of a map's points.
pub fn colours(conn: &Connection, id: i64, args: &ColourArgs) -> Result<MapColours> {
    summary(conn, id)?;
    let pairs: Vec<i64> = conn
        .prepare("SELECT pair_id FROM map_points WHERE map_id = ?1 ORDER BY pair_id")?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let need = |v: &Option<String>, what: &str| {
        v.clone()
            .ok_or_else(|| Error::field(what, format!("colouring by {} needs its {what}", args.by)))
    };
    let mut out = MapColours {
        categories: Vec::new(),
        scores: Vec::new(),
    };
    match args.by.as_str() {
        "label" | "source" => out.categories = label_colours(conn, args, &pairs)?,
        "split" => {
            let split = need(&args.split, "split")?;
            crate::splits::get(conn, &split)?;
            let parts: HashMap<i64, String> = lookup(
                conn,
                "SELECT m.pair_id, m.part FROM split_members m JOIN splits s ON s.id = m.split_id WHERE s.name = ?1",
                &split,
            )?;
            out.categories = pairs.iter().map(|p| parts.get(p).cloned()).collect();
        }
        "mismatch" => {
            let model = crate::models::get(conn, &need(&args.model, "model")?)?;
            let scores: HashMap<i64, f64> = lookup(
                conn,
                "SELECT pair_id, score FROM pair_scores WHERE model_id = ?1 AND kind = 'mismatch'",
                &model.id,
            )?;
            out.scores = pairs.iter().map(|p| scores.get(p).copied()).collect();
        }
        "label-issues" => {
            let set = args.issues.ok_or_else(|| {
                Error::field(
                    "issues",
                    "colouring by label issues needs the search (`issues`)",
                )
            })?;
            crate::label_issues::get(
                conn,
                set,
                crate::label_issues::Reading {
                    limit: Some(0),
                    open_only: false,
                },
            )?;
            let scores: HashMap<i64, f64> = lookup(
                conn,
                "SELECT pair_id, score FROM label_issue_pairs WHERE set_id = ?1",
                &set,
            )?;
            out.scores = pairs.iter().map(|p| scores.get(p).copied()).collect();
        }
        other => {
            return Err(Error::field(
                "by",
                format!("colour by {other:?}: use label, source, split, mismatch or label-issues"),
            ));
        }
    }
    Ok(out)
}

/// Tags pairs by hand (a map's selection); answers how many pairs got the tag.
pub fn tag_pairs(conn: &mut Connection, name: &str, pairs: &[i64]) -> Result<u64> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.contains('\0') {
        return Err(Error::field(
            "name",
            "a tag needs a name (up to 200 characters)",
        ));
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute("INSERT OR IGNORE INTO tags (name) VALUES (?1)", [name])?;
    let tag: i64 = tx.query_row("SELECT id FROM tags WHERE name = ?1", [name], |r| r.get(0))?;
    let mut n = 0;
    {
        let mut put = tx.prepare(
            "INSERT OR IGNORE INTO pair_tags (pair_id, tag_id) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM pairs WHERE id = ?1)",
        )?;
        for p in pairs {
            n += put.execute(params![p, tag])? as u64;
        }
    }
    tx.commit()?;
    Ok(n)
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
