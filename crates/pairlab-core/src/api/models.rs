//! The model part of the API: registering models, encoding, embedding, zero-shot labels,
//! similarity search, image–report consistency and duplicates.

use std::path::{Path, PathBuf};

use pairlab_ml::{Encoder, ModelInfo};
use serde::Serialize;

use crate::embed::duplicates::{self, DuplicateOptions, DuplicateReport};
use crate::embed::mismatch::{self, MismatchRow, MismatchSummary};
use crate::embed::similar::{self, Query, SimilarHit, Target};
use crate::embed::zeroshot::{self, ZeroShotSummary};
use crate::embed::{self, EmbedSummary, What};
use crate::error::{Error, Result};
use crate::ingest::media::{Limits, decode_full};
use crate::library::Library;
use crate::models::{self, ModelRecord};
use crate::progress::Progress;

/// What to encode with `Library::encode`.
#[derive(Clone, Debug, PartialEq)]
pub enum EncodeInput {
    Image(PathBuf),
    Text(String),
}

/// One normalised embedding, as `pairlab encode --json` prints it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Encoding {
    pub model: String,
    /// `image` or `text`.
    pub kind: String,
    pub dim: usize,
    pub embedding: Vec<f32>,
    /// An image classifier's raw outputs (logits), by name where the checkpoint names them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<Output>>,
}

/// One classifier output.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Output {
    pub name: String,
    pub logit: f32,
}

impl Library {
    /// Registers a model folder or Hugging Face hub id.
    pub fn add_model(&self, spec: &str, name: Option<&str>) -> Result<(ModelRecord, ModelInfo)> {
        models::add(self.conn(), spec, name)
    }

    /// Pre-labels every pair of a multi-label schema from an image classifier's own outputs
    /// (a torchxrayvision DenseNet), mapped onto the schema's classes by `table`.
    pub fn prelabel_classifier(
        &mut self,
        model: &str,
        schema: &str,
        table: &crate::embed::classifier::OutputMap,
        progress: &dyn Progress,
    ) -> Result<crate::embed::classifier::ClassifierSummary> {
        crate::embed::classifier::classifier_labels(self.conn_mut(), model, schema, table, progress)
    }

    /// Registers a finished `finetune` run's network as an image model.
    pub fn add_model_from_run(&self, run_id: i64, name: Option<&str>) -> Result<ModelRecord> {
        Ok(models::add_from_run(self.conn(), run_id, name)?.0)
    }

    /// The registered models.
    pub fn models(&self) -> Result<Vec<ModelRecord>> {
        models::list(self.conn())
    }

    /// Encodes one image or text with a registered model (or a model's path).
    pub fn encode(&self, model: &str, input: &EncodeInput) -> Result<Encoding> {
        let (name, enc) = match models::load(self.conn(), model) {
            Ok((rec, enc)) => (rec.name, enc),
            Err(Error::NotFound(_)) if Path::new(model).exists() => {
                (model.to_string(), Encoder::load(Path::new(model))?)
            }
            Err(e) => return Err(e),
        };
        let mut outputs = None;
        let (kind, v) = match input {
            EncodeInput::Image(path) => {
                let img = decode_full(path, &Limits::default())
                    .map_err(|e| Error::Invalid(format!("{}: {}", path.display(), e.message)))?;
                if let Some(b) = enc.backbone() {
                    let px = b.info.preprocess.apply(&img);
                    outputs = b
                        .logits(px, 1)?
                        .and_then(|l| l.into_iter().next())
                        .map(|row| {
                            row.into_iter()
                                .enumerate()
                                .map(|(i, logit)| Output {
                                    name: b
                                        .info
                                        .labels
                                        .get(i)
                                        .cloned()
                                        .unwrap_or_else(|| i.to_string()),
                                    logit,
                                })
                                .collect()
                        });
                }
                ("image", enc.embed_images(&[img])?)
            }
            EncodeInput::Text(t) => ("text", enc.embed_texts(&[t.as_str()])?),
        };
        let embedding = v.into_iter().next().unwrap_or_default();
        Ok(Encoding {
            model: name,
            kind: kind.into(),
            dim: embedding.len(),
            embedding,
            outputs,
        })
    }

    /// Embeds the library's images and/or reports that have no embedding yet.
    pub fn embed(
        &mut self,
        model: &str,
        what: What,
        progress: &dyn Progress,
    ) -> Result<EmbedSummary> {
        embed::embed(self.conn_mut(), model, what, progress)
    }

    /// Zero-shot labels for `schema` from a CLIP model (source `model:<name>`).
    pub fn prelabel_zero_shot(
        &mut self,
        model: &str,
        schema: &str,
        progress: &dyn Progress,
    ) -> Result<ZeroShotSummary> {
        zeroshot::zero_shot(self.conn_mut(), model, schema, progress)
    }

    /// The `k` items most similar to a text or to a pair's image or report.
    pub fn similar(
        &self,
        model: &str,
        query: &Query,
        target: Option<Target>,
        k: usize,
    ) -> Result<Vec<SimilarHit>> {
        similar::similar(self.conn(), model, query, target, k)
    }

    /// Scores every pair's image–report consistency under a CLIP model.
    pub fn score_mismatch(
        &mut self,
        model: &str,
        progress: &dyn Progress,
    ) -> Result<MismatchSummary> {
        mismatch::score(self.conn_mut(), model, progress)
    }

    /// Pairs most likely to carry the wrong report, highest score first.
    pub fn mismatches(&self, model: &str, limit: u32) -> Result<Vec<MismatchRow>> {
        mismatch::top(self.conn(), model, limit)
    }

    /// Exact, near and (with a model) semantic duplicate clusters.
    pub fn duplicates(&self, opts: &DuplicateOptions) -> Result<DuplicateReport> {
        duplicates::find(self.conn(), opts)
    }
}
