//! Embeddings: computing them for a library's images and reports with a registered model
//! (batched, resumable, cancellable), storing them per (item, model), and reading them
//! back as one matrix for search and analysis.

pub mod classifier;
pub mod duplicates;
pub mod mismatch;
pub mod similar;
pub mod zeroshot;

#[cfg(test)]
pub(crate) mod tests;

use std::path::Path;
use std::time::Instant;

use pairlab_ml::Encoder;
use rayon::prelude::*;
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::media::{Limits, decode_full};
use crate::models::{self, ModelRecord};
use crate::progress::Progress;

/// What to embed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum What {
    Images,
    Reports,
    Both,
}

impl What {
    pub fn parse(s: &str) -> Result<What> {
        match s {
            "images" => Ok(What::Images),
            "reports" => Ok(What::Reports),
            "both" => Ok(What::Both),
            _ => Err(Error::Invalid(format!(
                "--what {s:?}: use images, reports or both"
            ))),
        }
    }
}

/// The outcome of an embedding run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EmbedSummary {
    pub model: String,
    /// Newly embedded in this run.
    pub images: u64,
    pub reports: u64,
    /// Already stored before this run (resumed work).
    pub images_existing: u64,
    pub reports_existing: u64,
    /// Items that could not be embedded (recorded, skipped next time).
    pub failed: u64,
    pub image_seconds: f64,
    pub report_seconds: f64,
    pub images_per_s: f64,
    pub reports_per_s: f64,
}

pub(crate) fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// All stored vectors of one kind for a model: item ids and one row-major matrix.
pub struct Vectors {
    pub ids: Vec<i64>,
    pub data: Vec<f32>,
    pub dim: usize,
}

impl Vectors {
    pub fn matrix(&self) -> pairlab_ml::similarity::Matrix<'_> {
        pairlab_ml::similarity::Matrix::new(&self.data, self.dim)
    }
    pub fn row_of(&self, id: i64) -> Option<&[f32]> {
        let i = self.ids.iter().position(|&x| x == id)?;
        Some(&self.data[i * self.dim..(i + 1) * self.dim])
    }
}

/// Loads every stored `kind` ("image" or "report") vector of a model, ordered by item id.
pub fn vectors(conn: &Connection, model: &ModelRecord, kind: &str) -> Result<Vectors> {
    let mut stmt = conn.prepare_cached(
        "SELECT item_id, vector FROM embeddings WHERE model_id = ?1 AND kind = ?2 ORDER BY item_id",
    )?;
    let mut rows = stmt.query(params![model.id, kind])?;
    let mut out = Vectors {
        ids: Vec::new(),
        data: Vec::new(),
        dim: model.dim,
    };
    while let Some(r) = rows.next()? {
        let blob: Vec<u8> = r.get(1)?;
        if blob.len() != model.dim * 4 {
            return Err(Error::Invalid(format!(
                "stored {kind} embedding has {} values, model {} has {}",
                blob.len() / 4,
                model.name,
                model.dim
            )));
        }
        out.ids.push(r.get(0)?);
        out.data.extend(from_blob(&blob));
    }
    Ok(out)
}

/// The report text a model sees: CLIP's 77-token window gets the impression (else the
/// findings, else the whole report); sentence encoders get the whole report.
pub(crate) fn report_text_sql(model: &ModelRecord) -> &'static str {
    if model.family == "clip" {
        "COALESCE(NULLIF(TRIM(r.impression), ''), NULLIF(TRIM(r.findings), ''), r.text)"
    } else {
        "r.text"
    }
}

fn pending(
    conn: &Connection,
    model: &ModelRecord,
    kind: &str,
) -> Result<(Vec<(i64, String)>, u64)> {
    let (select, from) = match kind {
        "image" => (
            "i.id, c.root || '/' || i.path".to_string(),
            "images i JOIN corpora c ON c.id = i.corpus_id WHERE i.missing = 0",
        ),
        _ => (
            format!("r.id, {}", report_text_sql(model)),
            "reports r WHERE r.missing = 0 AND EXISTS (SELECT 1 FROM pairs p WHERE p.report_id = r.id)",
        ),
    };
    let alias = if kind == "image" { "i" } else { "r" };
    let sql = format!(
        "SELECT {select} FROM {from}
         AND NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.model_id = ?1 AND e.kind = ?2 AND e.item_id = {alias}.id)
         AND NOT EXISTS (SELECT 1 FROM embedding_errors x WHERE x.model_id = ?1 AND x.kind = ?2 AND x.item_id = {alias}.id)
         ORDER BY {alias}.id"
    );
    let items: Vec<(i64, String)> = conn
        .prepare(&sql)?
        .query_map(params![model.id, kind], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let existing: i64 = conn.query_row(
        "SELECT COUNT(*) FROM embeddings WHERE model_id = ?1 AND kind = ?2",
        params![model.id, kind],
        |r| r.get(0),
    )?;
    Ok((items, existing as u64))
}

fn store_batch(
    conn: &mut Connection,
    model: &ModelRecord,
    kind: &str,
    done: &[(i64, Vec<f32>)],
    failed: &[(i64, String)],
) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO embeddings (model_id, kind, item_id, vector) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (id, v) in done {
            put.execute(params![model.id, kind, id, to_blob(v)])?;
        }
        let mut err = tx.prepare_cached(
            "INSERT OR REPLACE INTO embedding_errors (model_id, kind, item_id, message) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (id, m) in failed {
            err.execute(params![model.id, kind, id, m])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Images per model call; texts per call.
pub const IMAGE_BATCH: usize = 32;
pub const TEXT_BATCH: usize = 64;

/// Embeds what is missing for `model_name` (resumable: stored items are skipped). Each
/// batch is committed as it finishes, so a cancel or a crash loses at most one batch.
pub fn embed(
    conn: &mut Connection,
    model_name: &str,
    what: What,
    progress: &dyn Progress,
) -> Result<EmbedSummary> {
    let (model, enc) = models::load(conn, model_name)?;
    embed_with(conn, &model, &enc, what, progress)
}

/// As `embed`, with a model already loaded.
pub fn embed_with(
    conn: &mut Connection,
    model: &ModelRecord,
    enc: &Encoder,
    what: What,
    progress: &dyn Progress,
) -> Result<EmbedSummary> {
    let mut s = EmbedSummary {
        model: model.name.clone(),
        images: 0,
        reports: 0,
        images_existing: 0,
        reports_existing: 0,
        failed: 0,
        image_seconds: 0.0,
        report_seconds: 0.0,
        images_per_s: 0.0,
        reports_per_s: 0.0,
    };
    let images = matches!(what, What::Images | What::Both);
    let reports = matches!(what, What::Reports | What::Both);
    if images && !model.images {
        if what == What::Images {
            return Err(Error::Invalid(format!(
                "model {} encodes text only; use a CLIP model or an image classifier for images",
                model.name
            )));
        }
    } else if images {
        let (items, existing) = pending(conn, model, "image")?;
        s.images_existing = existing;
        progress.stage("embedding images", items.len() as u64);
        let started = Instant::now();
        let limits = Limits::default();
        for batch in items.chunks(IMAGE_BATCH) {
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let prepared: Vec<(i64, std::result::Result<Vec<f32>, String>)> = batch
                .par_iter()
                .map(|(id, path)| {
                    let px = decode_full(Path::new(path), &limits)
                        .map_err(|e| e.message)
                        .and_then(|img| enc.preprocess(&img).map_err(|e| e.to_string()));
                    (*id, px)
                })
                .collect();
            let mut ok_ids = Vec::new();
            let mut pixels = Vec::new();
            let mut failed = Vec::new();
            for (id, r) in prepared {
                match r {
                    Ok(px) => {
                        ok_ids.push(id);
                        pixels.extend(px);
                    }
                    Err(m) => failed.push((id, m)),
                }
            }
            let vecs = if ok_ids.is_empty() {
                Vec::new()
            } else {
                enc.embed_pixels(pixels, ok_ids.len())?
            };
            let done: Vec<(i64, Vec<f32>)> = ok_ids.into_iter().zip(vecs).collect();
            store_batch(conn, model, "image", &done, &failed)?;
            s.images += done.len() as u64;
            s.failed += failed.len() as u64;
            progress.advance(batch.len() as u64);
        }
        s.image_seconds = started.elapsed().as_secs_f64();
        if s.images > 0 {
            s.images_per_s = s.images as f64 / s.image_seconds.max(1e-9);
        }
    }
    if reports && !model.texts {
        if what == What::Reports {
            return Err(Error::Invalid(format!(
                "model {} encodes images only; use a CLIP or BERT-family model for reports",
                model.name
            )));
        }
    } else if reports {
        let (items, existing) = pending(conn, model, "report")?;
        s.reports_existing = existing;
        progress.stage("embedding reports", items.len() as u64);
        let started = Instant::now();
        for batch in items.chunks(TEXT_BATCH) {
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let texts: Vec<&str> = batch.iter().map(|(_, t)| t.as_str()).collect();
            let vecs = enc.embed_texts(&texts)?;
            let done: Vec<(i64, Vec<f32>)> = batch.iter().map(|(id, _)| *id).zip(vecs).collect();
            store_batch(conn, model, "report", &done, &[])?;
            s.reports += done.len() as u64;
            progress.advance(batch.len() as u64);
        }
        s.report_seconds = started.elapsed().as_secs_f64();
        if s.reports > 0 {
            s.reports_per_s = s.reports as f64 / s.report_seconds.max(1e-9);
        }
    }
    Ok(s)
}
