//! Zero-shot pre-labels from a CLIP model: per class a positive and a negative prompt; a
//! pair's probability for the class is the softmax over its image's similarities to the two
//! (as CheXzero does). Stored as labels with source `model:<name>`, the probability as
//! confidence; human labels are never touched.

use std::time::Instant;

use rusqlite::Connection;
use serde::Serialize;

use super::{What, embed_with, vectors};
use crate::error::{Error, Result};
use crate::labels::{self, Prompt, Schema, SchemaKind, schema};
use crate::models::{self, ModelRecord};
use crate::progress::Progress;

/// The source name of a model's labels.
pub fn source_of(model: &str) -> String {
    crate::labels::LabelSource::model(model).as_str().to_owned()
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ZeroShotSummary {
    pub model: String,
    pub schema: String,
    pub source: String,
    pub pairs: u64,
    /// Positive labels written (1), over all classes.
    pub positives: u64,
    pub labels: u64,
    pub seconds: f64,
}

/// Two-way softmax of similarities: the probability of the positive prompt.
pub fn two_way(pos: f32, neg: f32) -> f32 {
    let m = pos.max(neg);
    let (a, b) = ((pos - m).exp(), (neg - m).exp());
    a / (a + b)
}

/// Softmax over any number of similarities.
pub fn softmax(sims: &[f32]) -> Vec<f32> {
    let m = sims.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = sims.iter().map(|s| (s - m).exp()).collect();
    let z: f32 = e.iter().sum();
    e.into_iter().map(|x| x / z).collect()
}

/// Per pair and class: (value, probability). Multi-label: 1 when the positive prompt wins
/// (p ≥ 0.5), else 0. Multi-class: the class whose positive prompt wins the softmax over
/// all classes gets 1, with its probability.
pub fn decide(
    kind: SchemaKind,
    image: &[f32],
    positives: &[Vec<f32>],
    negatives: &[Vec<f32>],
) -> Vec<(i8, f32)> {
    let dot = |a: &[f32], b: &[f32]| pairlab_ml::similarity::dot(a, b);
    match kind {
        SchemaKind::MultiLabel => positives
            .iter()
            .zip(negatives)
            .map(|(p, n)| {
                let prob = two_way(dot(image, p), dot(image, n));
                (i8::from(prob >= 0.5), prob)
            })
            .collect(),
        SchemaKind::MultiClass => {
            let sims: Vec<f32> = positives.iter().map(|p| dot(image, p)).collect();
            let probs = softmax(&sims);
            let best = probs
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map(|(i, _)| i)
                .unwrap_or(0);
            probs
                .iter()
                .enumerate()
                .map(|(i, &p)| (i8::from(i == best), p))
                .collect()
        }
    }
}

/// Runs zero-shot labelling of every embedded image (embedding missing ones first).
pub fn zero_shot(
    conn: &mut Connection,
    model_name: &str,
    schema_name: &str,
    progress: &dyn Progress,
) -> Result<ZeroShotSummary> {
    let started = Instant::now();
    let (model, enc) = models::load(conn, model_name)?;
    if !model.images {
        return Err(Error::Invalid(format!(
            "model {} encodes text only; zero-shot image labels need a CLIP model",
            model.name
        )));
    }
    let schema = schema::get(conn, schema_name)?;
    let prompts = schema::prompts(conn, schema_name)?;
    let pos: Vec<&str> = prompts.iter().map(|(_, p)| p.positive.as_str()).collect();
    let neg: Vec<&str> = prompts.iter().map(|(_, p)| p.negative.as_str()).collect();
    let positives = enc.embed_texts(&pos)?;
    let negatives = enc.embed_texts(&neg)?;
    embed_with(conn, &model, &enc, What::Images, progress)?;
    let mut s = apply(
        conn, &model, &schema, &prompts, &positives, &negatives, progress,
    )?;
    s.seconds = started.elapsed().as_secs_f64();
    Ok(s)
}

/// Labels every pair from its stored image embedding and the prompts' embeddings.
pub(crate) fn apply(
    conn: &mut Connection,
    model: &ModelRecord,
    schema: &Schema,
    prompts: &[(String, Prompt)],
    positives: &[Vec<f32>],
    negatives: &[Vec<f32>],
    progress: &dyn Progress,
) -> Result<ZeroShotSummary> {
    let kind = schema.kind;
    let images = vectors(conn, model, "image")?;
    let pairs: Vec<(i64, i64)> = conn
        .prepare(
            "SELECT p.id, p.image_id FROM pairs p JOIN images i ON i.id = p.image_id
             WHERE i.missing = 0 ORDER BY p.id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let source = source_of(&model.name);
    progress.stage("zero-shot labels", pairs.len() as u64);
    let mut s = ZeroShotSummary {
        model: model.name.clone(),
        schema: schema.name.clone(),
        source: source.clone(),
        pairs: 0,
        positives: 0,
        labels: 0,
        seconds: 0.0,
    };
    let index: std::collections::HashMap<i64, usize> = images
        .ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();
    for chunk in pairs.chunks(512) {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let tx = conn.transaction()?;
        for (pair, image) in chunk {
            let Some(&row) = index.get(image) else {
                continue;
            };
            let v = &images.data[row * images.dim..(row + 1) * images.dim];
            let decided = decide(kind, v, positives, negatives);
            for ((class, _), (value, prob)) in prompts.iter().zip(decided) {
                let value = match kind {
                    // Multi-class: only the chosen class carries a label.
                    SchemaKind::MultiClass if value == 0 => None,
                    _ => Some(value),
                };
                let confidence = value.map(|_| f64::from(prob));
                let key = labels::LabelKey::new(*pair, schema, class, &source);
                let with = labels::Provenance {
                    confidence,
                    ..Default::default()
                };
                labels::set_machine(&tx, key, value, with)?;
                s.labels += u64::from(value.is_some());
                s.positives += u64::from(value == Some(1));
            }
            s.pairs += 1;
        }
        tx.commit()?;
        progress.advance(chunk.len() as u64);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_of_two_similarities() {
        assert!((two_way(0.3, 0.3) - 0.5).abs() < 1e-6);
        // exp(0.2) / (exp(0.2) + exp(0)) = 0.549834
        assert!((two_way(0.25, 0.05) - 0.549_834).abs() < 1e-5);
        assert!(two_way(-0.1, 0.4) < 0.5);
        let p = softmax(&[1.0, 0.0, -1.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((p[0] - 0.665_241).abs() < 1e-5);
    }

    #[test]
    fn decisions_follow_the_closer_prompt() {
        // Image aligned with class 0's positive prompt and class 1's negative prompt.
        let image = vec![1.0, 0.0, 0.0];
        let pos = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]];
        let neg = vec![vec![0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0]];
        let d = decide(SchemaKind::MultiLabel, &image, &pos, &neg);
        assert_eq!(d[0].0, 1);
        assert!((d[0].1 - two_way(1.0, 0.0)).abs() < 1e-6);
        assert_eq!(d[1].0, 0);
        assert!(d[1].1 < 0.5);
        let d = decide(SchemaKind::MultiClass, &image, &pos, &neg);
        assert_eq!(d.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 0]);
        assert!(d[0].1 > d[1].1);
    }
}
