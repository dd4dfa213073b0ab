//! Similarity search over stored embeddings: text → images, text → reports,
//! image → images, report → reports. Exact cosine top-k, brute force.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::{Vectors, vectors};
use crate::error::{Error, Result};
use crate::models::{self, ModelRecord};

/// What to search with.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    Text(String),
    /// A pair: its image (for image → images) or its report (for report → reports).
    Pair(i64),
}

/// What to search in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Images,
    Reports,
}

/// One hit: the pair it belongs to, the score and enough to show it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SimilarHit {
    pub pair: i64,
    pub score: f32,
    pub image: String,
    /// The start of the pair's report (empty when it has none).
    pub report: String,
}

/// The default target: images for CLIP models, reports for text-only ones.
pub fn default_target(model: &ModelRecord) -> Target {
    if model.images {
        Target::Images
    } else {
        Target::Reports
    }
}

fn not_embedded(model: &ModelRecord, what: &str) -> Error {
    Error::Invalid(format!(
        "no {what} embeddings for model {} yet: run `pairlab embed --model {} --what {what}s`",
        model.name, model.name
    ))
}

/// The `k` most similar items to `query` under `model_name`.
pub fn similar(
    conn: &Connection,
    model_name: &str,
    query: &Query,
    target: Option<Target>,
    k: usize,
) -> Result<Vec<SimilarHit>> {
    let model = models::get(conn, model_name)?;
    let target = target.unwrap_or_else(|| default_target(&model));
    if target == Target::Images && !model.images {
        return Err(Error::Invalid(format!(
            "model {} encodes text only, so it cannot search images; use a CLIP model",
            model.name
        )));
    }
    let kind = match target {
        Target::Images => "image",
        Target::Reports => "report",
    };
    let store = vectors(conn, &model, kind)?;
    if store.ids.is_empty() {
        return Err(not_embedded(&model, kind));
    }
    let (q, exclude) = query_vector(conn, &model, query, target, &store)?;
    let exclude_row = exclude.and_then(|id| store.ids.iter().position(|&x| x == id));
    let hits = pairlab_ml::similarity::top_k(&q, store.matrix(), k, exclude_row);
    hits.into_iter()
        .map(|(row, score)| hit(conn, kind, store.ids[row], score))
        .collect()
}

fn query_vector(
    conn: &Connection,
    model: &ModelRecord,
    query: &Query,
    target: Target,
    store: &Vectors,
) -> Result<(Vec<f32>, Option<i64>)> {
    match query {
        Query::Text(t) => {
            if t.trim().is_empty() {
                return Err(Error::Invalid("the query text is empty".into()));
            }
            let (_, enc) = models::load(conn, &model.name)?;
            let v = enc.embed_texts(&[t.as_str()])?;
            Ok((v.into_iter().next().unwrap_or_default(), None))
        }
        Query::Pair(pair) => {
            let (image, report): (i64, Option<i64>) = conn
                .query_row(
                    "SELECT image_id, report_id FROM pairs WHERE id = ?1",
                    [pair],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .ok_or_else(|| Error::NotFound(format!("pair {pair}")))?;
            let item = match target {
                Target::Images => image,
                Target::Reports => {
                    report.ok_or_else(|| Error::Invalid(format!("pair {pair} has no report")))?
                }
            };
            let kind = if target == Target::Images {
                "image"
            } else {
                "report"
            };
            let v = store
                .row_of(item)
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "pair {pair}'s {kind} has no embedding for model {} (run `pairlab embed`)",
                        model.name
                    ))
                })?
                .to_vec();
            Ok((v, Some(item)))
        }
    }
}

fn hit(conn: &Connection, kind: &str, item: i64, score: f32) -> Result<SimilarHit> {
    let sql = if kind == "image" {
        "SELECT p.id, i.path, COALESCE(substr(r.text, 1, 160), '') FROM pairs p
         JOIN images i ON i.id = p.image_id LEFT JOIN reports r ON r.id = p.report_id
         WHERE p.image_id = ?1"
    } else {
        "SELECT p.id, i.path, COALESCE(substr(r.text, 1, 160), '') FROM pairs p
         JOIN images i ON i.id = p.image_id JOIN reports r ON r.id = p.report_id
         WHERE p.report_id = ?1 ORDER BY p.id LIMIT 1"
    };
    let (pair, image, report) = conn
        .query_row(sql, params![item], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("{kind} {item} belongs to no pair")))?;
    Ok(SimilarHit {
        pair,
        score,
        image,
        report,
    })
}
