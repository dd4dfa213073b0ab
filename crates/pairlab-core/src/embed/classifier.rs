//! Pre-labels from a registered image classifier's own outputs (a torchxrayvision
//! DenseNet's 18 pathologies): each output mapped onto a schema class by a table
//! (assets/models/xrv_pathologies.toml, or the user's own), the class labelled 1 when its
//! probability reaches the table's threshold, else 0. Stored with source `model:<name>`,
//! the probability as confidence; human labels are never touched.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::zeroshot::source_of;
use crate::error::{Error, Result};
use crate::ingest::media::{Limits, decode_full};
use crate::labels::{self, SchemaKind, schema};
use crate::models;
use crate::progress::Progress;
use pairlab_ml::backbone::Backbone;

const XRV_TOML: &str = include_str!("../../../../assets/models/xrv_pathologies.toml");

/// Operating points published for one set of weights.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct OperatingPoints {
    pub name: String,
    /// The checkpoint's file name they belong to.
    pub file: String,
    pub values: Vec<f32>,
}

/// A classifier's outputs mapped onto a schema's classes.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputMap {
    /// Output name → schema class.
    pub map: HashMap<String, String>,
    #[serde(default = "half")]
    pub threshold: f32,
    #[serde(default)]
    pub operating_points: Vec<OperatingPoints>,
}

fn half() -> f32 {
    0.5
}

impl OutputMap {
    /// The built-in table for torchxrayvision's pathologies.
    pub fn xrv() -> Self {
        Self::parse(XRV_TOML).unwrap_or_else(|e| panic!("assets/models/xrv_pathologies.toml: {e}"))
    }

    pub fn parse(text: &str) -> Result<Self> {
        let m: OutputMap =
            toml::from_str(text).map_err(|e| Error::Invalid(format!("output map: {e}")))?;
        if !(0.0..=1.0).contains(&m.threshold) {
            return Err(Error::Invalid(format!(
                "output map: threshold {} is not a probability",
                m.threshold
            )));
        }
        Ok(m)
    }

    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassifierSummary {
    pub model: String,
    pub schema: String,
    pub source: String,
    /// Schema class ← the model's outputs that feed it.
    pub classes: Vec<(String, Vec<String>)>,
    pub operating_points: Option<String>,
    pub pairs: u64,
    pub positives: u64,
    pub labels: u64,
    /// Images that could not be decoded (left unlabelled).
    pub failed: u64,
    pub seconds: f64,
}

/// Schema class → indices of the outputs that map onto it (classes without any left out).
fn feeds(classes: &[String], outputs: &[String], table: &OutputMap) -> Vec<(String, Vec<usize>)> {
    classes
        .iter()
        .map(|class| {
            let idx: Vec<usize> = outputs
                .iter()
                .enumerate()
                .filter(|(_, o)| table.map.get(*o) == Some(class))
                .map(|(i, _)| i)
                .collect();
            (class.clone(), idx)
        })
        .filter(|(_, idx)| !idx.is_empty())
        .collect()
}

/// An output whose operating point is NaN was never trained on these weights: its
/// probability means nothing, so it feeds no class.
fn trained_only(
    feeds: Vec<(String, Vec<usize>)>,
    ops: Option<&[f32]>,
) -> Vec<(String, Vec<usize>)> {
    let Some(t) = ops else { return feeds };
    feeds
        .into_iter()
        .map(|(c, idx)| {
            let kept: Vec<usize> = idx.into_iter().filter(|&i| !t[i].is_nan()).collect();
            (c, kept)
        })
        .filter(|(_, idx)| !idx.is_empty())
        .collect()
}

/// The checkpoint's own operating points, else the ones published for its file name; and
/// where they come from.
fn operating_points(
    path: &str,
    backbone: &Backbone,
    table: &OutputMap,
) -> (Option<Vec<f32>>, Option<String>) {
    let file = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = backbone.info.labels.len();
    let published = table
        .operating_points
        .iter()
        .find(|o| o.file == file && o.values.len() == n);
    match (&backbone.op_threshs, published) {
        (Some(t), _) => (
            Some(t.clone()),
            Some("stored in the checkpoint".to_string()),
        ),
        (_, Some(o)) => (Some(o.values.clone()), Some(o.name.clone())),
        _ => (None, None),
    }
}

/// Probabilities of the classifier's outputs for preprocessed images (sigmoid, then the
/// operating points when there are any).
fn probabilities(
    backbone: &Backbone,
    pixels: Vec<f32>,
    n: usize,
    ops: Option<&[f32]>,
) -> Result<Vec<Vec<f32>>> {
    let logits = backbone
        .logits(pixels, n)?
        .ok_or_else(|| Error::Invalid("the classifier has no outputs".into()))?;
    Ok(logits
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, &z)| {
                    let p = 1.0 / (1.0 + (-z).exp());
                    match ops {
                        Some(t) => pairlab_ml::backbone::op_norm(p, t[i]),
                        None => p,
                    }
                })
                .collect()
        })
        .collect())
}

/// The encoder's image classifier, if it has named outputs.
fn named_classifier<'a>(enc: &'a pairlab_ml::Encoder, model_name: &str) -> Result<&'a Backbone> {
    let backbone = enc
        .backbone()
        .filter(|b| b.net.classifier().is_some())
        .ok_or_else(|| {
            Error::field(
                "model",
                format!("model {model_name} is not an image classifier with its own outputs"),
            )
        })?;
    if backbone.info.labels.is_empty() {
        return Err(Error::field(
            "model",
            format!(
                "model {model_name}'s outputs have no names (a torchxrayvision checkpoint has its 18 pathologies); use `prelabel model --run` for a fine-tuned run"
            ),
        ));
    }
    Ok(backbone)
}

/// Labels every present pair of a multi-label schema from the classifier `model_name`.
pub fn classifier_labels(
    conn: &mut Connection,
    model_name: &str,
    schema_name: &str,
    table: &OutputMap,
    progress: &dyn Progress,
) -> Result<ClassifierSummary> {
    let started = Instant::now();
    let (model, enc) = models::load(conn, model_name)?;
    let backbone = named_classifier(&enc, model_name)?;
    let outputs = backbone.info.labels.clone();
    let schema = schema::get(conn, schema_name)?;
    if schema.kind != SchemaKind::MultiLabel {
        return Err(Error::field(
            "schema",
            format!(
                "schema {schema_name} is multi-class; a classifier's pathologies label a multi-label schema"
            ),
        ));
    }
    let feeds = feeds(&schema.classes, &outputs, table);
    if feeds.is_empty() {
        return Err(Error::Invalid(format!(
            "none of model {model_name}'s outputs ({}) maps onto a class of schema {schema_name}",
            outputs.join(", ")
        )));
    }
    let (ops, ops_name) = operating_points(&model.path, backbone, table);
    let feeds = trained_only(feeds, ops.as_deref());
    let pairs: Vec<(i64, String)> = conn
        .prepare(
            "SELECT p.id, c.root || '/' || i.path FROM pairs p JOIN images i ON i.id = p.image_id
             JOIN corpora c ON c.id = i.corpus_id WHERE i.missing = 0 ORDER BY p.id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let source = source_of(&model.name);
    let mut s = ClassifierSummary {
        model: model.name.clone(),
        schema: schema.name.clone(),
        source: source.clone(),
        classes: feeds
            .iter()
            .map(|(c, idx)| (c.clone(), idx.iter().map(|&i| outputs[i].clone()).collect()))
            .collect(),
        operating_points: ops_name,
        pairs: 0,
        positives: 0,
        labels: 0,
        failed: 0,
        seconds: 0.0,
    };
    progress.stage("classifier labels", pairs.len() as u64);
    let limits = Limits::default();
    for batch in pairs.chunks(super::IMAGE_BATCH) {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let prepared: Vec<(i64, Option<Vec<f32>>)> = batch
            .par_iter()
            .map(|(pair, path)| {
                let px = decode_full(Path::new(path), &limits)
                    .ok()
                    .map(|img| backbone.info.preprocess.apply(&img));
                (*pair, px)
            })
            .collect();
        let ok: Vec<&(i64, Option<Vec<f32>>)> =
            prepared.iter().filter(|(_, p)| p.is_some()).collect();
        s.failed += (prepared.len() - ok.len()) as u64;
        if ok.is_empty() {
            progress.advance(batch.len() as u64);
            continue;
        }
        let pixels: Vec<f32> = ok
            .iter()
            .flat_map(|(_, p)| p.iter().flatten().copied())
            .collect();
        let probs = probabilities(backbone, pixels, ok.len(), ops.as_deref())?;
        let tx = conn.transaction()?;
        for ((pair, _), row) in ok.iter().zip(&probs) {
            for (class, idx) in &feeds {
                let p = idx.iter().map(|&i| row[i]).fold(0f32, f32::max);
                let value = i8::from(p >= table.threshold);
                let key = labels::LabelKey::new(*pair, &schema, class, &source);
                let with = labels::Provenance {
                    confidence: Some(f64::from(p)),
                    ..Default::default()
                };
                labels::set_machine(&tx, key, Some(value), with)?;
                s.labels += 1;
                s.positives += u64::from(value == 1);
            }
            s.pairs += 1;
        }
        tx.commit()?;
        progress.advance(batch.len() as u64);
    }
    s.seconds = started.elapsed().as_secs_f64();
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_maps_onto_chexpert_classes() {
        let t = OutputMap::xrv();
        assert_eq!(t.threshold, 0.5);
        assert_eq!(t.map["Effusion"], "Pleural Effusion");
        let chexpert = crate::labels::schema::SchemaDef::chexpert()
            .expect("chexpert")
            .classes;
        for class in t.map.values() {
            assert!(
                chexpert.iter().any(|c| c == class),
                "{class} is a CheXpert class"
            );
        }
        for o in t.map.keys() {
            assert!(
                pairlab_ml::backbone::XRV_PATHOLOGIES.contains(&o.as_str()),
                "{o} is an output"
            );
        }
        assert_eq!(t.operating_points[0].values.len(), 18);
        let e = OutputMap::parse("threshold = 2\n[map]\n").expect_err("bad");
        assert!(e.to_string().contains("not a probability"), "{e}");
    }
}
