//! The inputs a trainer learns from ([`Input`]), loaded from the library: a model's image
//! embeddings (computed first where missing) or the images' pixels (`pixels.rs`).

use std::path::Path;

use pairlab_ml::train::Input;
use pairlab_ml::train::text::{Reader, ReportText};
use rusqlite::{Connection, OptionalExtension};

use super::TrainOptions;
use crate::embed::{Vectors, What, embed_with, vectors};
use crate::error::{Error, Result};
use crate::models;
use crate::progress::Progress;

use super::pixels;

/// A trainer's inputs: one row per image (by id).
pub(super) struct Source {
    pub rows: Vectors,
    /// The model whose embeddings these are.
    pub model_id: Option<i64>,
    /// What identifies the inputs in the run's data fingerprint.
    pub fingerprint: String,
}

/// The inputs `input` of the split's images `images` (ids); images without them (not
/// decodable) are missing from the rows.
pub(super) fn load(
    conn: &mut Connection,
    library: &Path,
    opts: &TrainOptions,
    input: Input,
    images: &[i64],
    progress: &dyn Progress,
) -> Result<Source> {
    match input {
        Input::ImageEmbeddings => {
            let (model, rows) = image_embeddings(conn, opts, progress)?;
            Ok(Source {
                rows,
                model_id: Some(model.id),
                fingerprint: model.fingerprint.clone(),
            })
        }
        Input::ImageAndReport { model, section } => {
            let (image_model, vectors) = image_embeddings(conn, opts, progress)?;
            let reader = pairlab_ml::train::text::Reader::load(&model, section)?;
            let text = models::checked(conn, opts.text.model.as_deref().unwrap_or_default())?;
            let reports = report_rows(conn, images, &reader, progress)?;
            Ok(Source {
                rows: fused(images, &vectors, &reports, reader.max_len()),
                model_id: Some(image_model.id),
                fingerprint: format!(
                    "fusion-{}-{}-{section}-{}",
                    image_model.fingerprint,
                    text.fingerprint,
                    reader.max_len()
                ),
            })
        }
        Input::Pixels(pre) => Ok(Source {
            fingerprint: format!("pixels-{}", pixels::geometry_key(&pre)),
            rows: pixels::raw_pixels(conn, library, images, &pre, progress)?,
            model_id: None,
        }),
        Input::ReportTokens { model, section } => {
            let reader = pairlab_ml::train::text::Reader::load(&model, section)?;
            let name = opts.text.model.as_deref().unwrap_or_default();
            let rec = models::checked(conn, name)?;
            Ok(Source {
                rows: report_rows(conn, images, &reader, progress)?,
                model_id: Some(rec.id),
                fingerprint: format!("text-{}-{section}-{}", rec.fingerprint, reader.max_len()),
            })
        }
        Input::Grey { size } => Ok(Source {
            rows: pixels::pixels(conn, library, images, size as u32, progress)?,
            model_id: None,
            // Named after the first trainer on grey pixels, so that fingerprints stay
            // comparable with the runs stored before trainers had a common interface.
            fingerprint: format!("cnn-{size}"),
        }),
    }
}

/// The registered image model of `--model` and its image embeddings (computed first
/// where missing).
fn image_embeddings(
    conn: &mut Connection,
    opts: &TrainOptions,
    progress: &dyn Progress,
) -> Result<(models::ModelRecord, Vectors)> {
    let name = opts.model.as_deref().ok_or_else(|| {
        Error::field(
            "model",
            format!(
                "the {} trainer needs --model (whose image embeddings it learns from)",
                opts.trainer
            ),
        )
    })?;
    let (model, enc) = models::load(conn, name)?;
    if !model.images {
        return Err(Error::Invalid(format!(
            "model {} does not encode images",
            model.name
        )));
    }
    embed_with(conn, &model, &enc, What::Images, progress)?;
    let rows = vectors(conn, &model, "image")?;
    Ok((model, rows))
}

/// Image embeddings and report token rows side by side (by image id): a pair with either
/// has a row, the missing side flagged as missing.
fn fused(images: &[i64], vectors: &Vectors, reports: &Vectors, max_len: usize) -> Vectors {
    let index = |v: &Vectors| -> std::collections::HashMap<i64, usize> {
        v.ids.iter().enumerate().map(|(i, &id)| (id, i)).collect()
    };
    let (iv, ir) = (index(vectors), index(reports));
    let image_dim = vectors.dim;
    let dim = image_dim + 2 + max_len;
    let (mut ids, mut data) = (Vec::new(), Vec::new());
    for &image in images {
        let img = iv
            .get(&image)
            .map(|&r| &vectors.data[r * image_dim..(r + 1) * image_dim]);
        let tokens = ir
            .get(&image)
            .map(|&r| &reports.data[r * reports.dim..(r + 1) * reports.dim]);
        if img.is_none() && tokens.is_none() {
            continue;
        }
        ids.push(image);
        data.extend(pairlab_ml::train::fusion::row(
            img, image_dim, tokens, max_len,
        ));
    }
    Vectors { ids, data, dim }
}

/// The token rows of the reports paired with `images` (by image id); pairs without a
/// report, or without the section asked for, have no row.
pub(super) fn report_rows(
    conn: &Connection,
    images: &[i64],
    reader: &Reader,
    progress: &dyn Progress,
) -> Result<Vectors> {
    progress.stage("reading reports", images.len() as u64);
    let mut stmt = conn.prepare(
        "SELECT r.text, r.findings, r.impression FROM pairs p JOIN reports r ON r.id = p.report_id
         WHERE p.image_id = ?1 AND r.missing = 0",
    )?;
    let dim = reader.dim();
    let (mut ids, mut data) = (Vec::new(), Vec::new());
    for &image in images {
        progress.advance(1);
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let found: Option<(String, Option<String>, Option<String>)> = stmt
            .query_row([image], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let Some((text, findings, impression)) = found else {
            continue;
        };
        let report = ReportText {
            text: &text,
            findings: findings.as_deref(),
            impression: impression.as_deref(),
        };
        if let Some(row) = reader.row(report)? {
            ids.push(image);
            data.extend(row);
        }
    }
    Ok(Vectors { ids, data, dim })
}
