//! The inputs a trainer learns from ([`Input`]), loaded from the library: a model's image
//! embeddings (computed first where missing) or the images' pixels (`pixels.rs`).

use std::path::Path;

use pairlab_ml::train::Input;
use rusqlite::Connection;

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
            let name = opts.model.as_deref().ok_or_else(|| {
                Error::Invalid(format!(
                    "the {} trainer needs --model (whose image embeddings it learns from)",
                    opts.trainer
                ))
            })?;
            let (model, enc) = models::load(conn, name)?;
            if !model.images {
                return Err(Error::Invalid(format!(
                    "model {} does not encode images",
                    model.name
                )));
            }
            embed_with(conn, &model, &enc, What::Images, progress)?;
            Ok(Source {
                rows: vectors(conn, &model, "image")?,
                model_id: Some(model.id),
                fingerprint: model.fingerprint.clone(),
            })
        }
        Input::Pixels(pre) => Ok(Source {
            fingerprint: format!("pixels-{}", pixels::geometry_key(&pre)),
            rows: pixels::raw_pixels(conn, library, images, &pre, progress)?,
            model_id: None,
        }),
        Input::Grey { size } => Ok(Source {
            rows: pixels::pixels(conn, library, images, size as u32, progress)?,
            model_id: None,
            // Named after the first trainer on grey pixels, so that fingerprints stay
            // comparable with the runs stored before trainers had a common interface.
            fingerprint: format!("cnn-{size}"),
        }),
    }
}
