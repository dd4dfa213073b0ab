//! Image–report consistency: for every pair, how its image's similarity to its own report
//! compares with its similarities to other reports, under a CLIP model. Stored per pair as
//! score kind `mismatch` (higher = more likely the wrong report), sortable.

use std::collections::HashMap;
use std::time::Instant;

use pairlab_ml::consistency::consistency;
use pairlab_ml::similarity::Matrix;
use rusqlite::{Connection, params};
use serde::Serialize;

use super::{What, embed_with, vectors};
use crate::error::{Error, Result};
use crate::models::{self, ModelRecord};
use crate::progress::Progress;

/// Other reports each pair is compared with (a fixed, seeded sample beyond this).
pub const MAX_REFERENCE: usize = 2000;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MismatchSummary {
    pub model: String,
    pub pairs: u64,
    /// Pairs whose own report is not the most similar of all compared.
    pub not_first: u64,
    pub seconds: f64,
}

/// One scored pair.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct MismatchRow {
    pub pair: i64,
    /// −z: how far below the typical similarity to other reports its own report is.
    pub score: f64,
    /// 1 = its own report is the most similar.
    pub rank: u32,
    pub own_similarity: f64,
    pub image: String,
    pub report: String,
}

/// Scores every pair that has both an image and a report (embedding missing ones first).
pub fn score(
    conn: &mut Connection,
    model_name: &str,
    progress: &dyn Progress,
) -> Result<MismatchSummary> {
    let started = Instant::now();
    let (model, enc) = models::load(conn, model_name)?;
    if !model.images {
        return Err(Error::Invalid(format!(
            "model {} encodes text only; image–report consistency needs a CLIP model",
            model.name
        )));
    }
    embed_with(conn, &model, &enc, What::Both, progress)?;
    score_stored(conn, &model, progress, started)
}

/// Scores from the embeddings already stored for `model`.
pub(crate) fn score_stored(
    conn: &mut Connection,
    model: &ModelRecord,
    progress: &dyn Progress,
    started: Instant,
) -> Result<MismatchSummary> {
    let images = vectors(conn, model, "image")?;
    let reports = vectors(conn, model, "report")?;
    let img_row: HashMap<i64, usize> = images
        .ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();
    let rep_row: HashMap<i64, usize> = reports
        .ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();
    let pairs: Vec<(i64, usize, usize)> = conn
        .prepare(
            "SELECT id, image_id, report_id FROM pairs WHERE report_id IS NOT NULL ORDER BY id",
        )?
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .filter_map(|r| match r {
            Ok((p, i, rep)) => Some(Ok((p, *img_row.get(&i)?, *rep_row.get(&rep)?))),
            Err(e) => Some(Err(e)),
        })
        .collect::<Result<_, _>>()?;
    progress.stage("scoring image–report consistency", pairs.len() as u64);
    let dim = model.dim;
    let mut img = Vec::with_capacity(pairs.len() * dim);
    let mut rep = Vec::with_capacity(pairs.len() * dim);
    for &(_, i, r) in &pairs {
        img.extend_from_slice(&images.data[i * dim..(i + 1) * dim]);
        rep.extend_from_slice(&reports.data[r * dim..(r + 1) * dim]);
    }
    let scores = consistency(
        Matrix::new(&img, dim),
        Matrix::new(&rep, dim),
        MAX_REFERENCE,
        0,
    );
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM pair_scores WHERE model_id = ?1 AND kind = 'mismatch'",
        [model.id],
    )?;
    let mut not_first = 0;
    {
        let mut put = tx.prepare(
            "INSERT INTO pair_scores (pair_id, model_id, kind, score, detail) VALUES (?1, ?2, 'mismatch', ?3, ?4)",
        )?;
        for ((pair, _, _), c) in pairs.iter().zip(&scores) {
            not_first += u64::from(c.rank > 1);
            let detail = serde_json::json!({"rank": c.rank, "rank_frac": c.rank_frac, "z": c.z, "own": c.own});
            put.execute(params![
                pair,
                model.id,
                f64::from(c.mismatch),
                detail.to_string()
            ])?;
        }
    }
    tx.commit()?;
    progress.advance(pairs.len() as u64);
    Ok(MismatchSummary {
        model: model.name.clone(),
        pairs: pairs.len() as u64,
        not_first,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The highest-scoring pairs (most likely mismatched first).
pub fn top(conn: &Connection, model_name: &str, limit: u32) -> Result<Vec<MismatchRow>> {
    let model = models::get(conn, model_name)?;
    let mut stmt = conn.prepare(
        "SELECT s.pair_id, s.score, s.detail, i.path, COALESCE(substr(r.text, 1, 160), '')
         FROM pair_scores s JOIN pairs p ON p.id = s.pair_id JOIN images i ON i.id = p.image_id
         LEFT JOIN reports r ON r.id = p.report_id
         WHERE s.model_id = ?1 AND s.kind = 'mismatch' ORDER BY s.score DESC, s.pair_id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![model.id, limit], |r| {
            let detail: Option<String> = r.get(2)?;
            let d: serde_json::Value = detail
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default();
            Ok(MismatchRow {
                pair: r.get(0)?,
                score: r.get(1)?,
                rank: d.get("rank").and_then(|v| v.as_u64()).unwrap_or(0) as u32,
                own_similarity: d.get("own").and_then(|v| v.as_f64()).unwrap_or(0.0),
                image: r.get(3)?,
                report: r.get(4)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}
