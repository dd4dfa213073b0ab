//! Why a `text` or `fusion` run labelled a pair's class positive: the report tokens that
//! weighed most (gradient × input at the token embeddings), as evidence spans in the
//! report text like the rule labeler's.

use std::path::Path;

use pairlab_ml::train::text::{Reader, ReportText, Section};
use rusqlite::{Connection, OptionalExtension, params};

use super::Trainer;
use crate::error::{Error, Result};
use crate::report_labeler::{Evidence, Value};

/// Tokens shown per class.
const TOP: usize = 5;

/// A run's text reader: its section, and the folder with its tokenizer (a fusion run keeps
/// its text encoder in `text/`).
fn reader_of(dir: &Path, trainer: Trainer, config: &str) -> Result<Reader> {
    let section: Section = serde_json::from_str::<serde_json::Value>(config)
        .ok()
        .and_then(|v| {
            v.get("text_section")
                .and_then(|s| s.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "both".into())
        .parse()?;
    let dir = match trainer {
        Trainer::Fusion => dir.join("text"),
        _ => dir.to_path_buf(),
    };
    Ok(Reader::load(&dir, section)?)
}

/// For each class a `text` or `fusion` run labelled positive on `pair` (its pre-labels,
/// `model:run-<id>`), the report tokens that pushed that class up most, as byte spans of
/// the report text; empty without a report or such labels.
pub fn model_evidence(conn: &Connection, pair: i64, schema: &str) -> Result<Vec<Evidence>> {
    let s = crate::labels::schema::get(conn, schema)?;
    let report: Option<(String, Option<String>, Option<String>, i64)> = conn
        .query_row(
            "SELECT r.text, r.findings, r.impression, p.image_id FROM pairs p
             JOIN reports r ON r.id = p.report_id WHERE p.id = ?1",
            [pair],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((text, findings, impression, image)) = report else {
        return Ok(Vec::new());
    };
    let rows: Vec<(String, String)> = conn
        .prepare(
            "SELECT source, class FROM labels WHERE pair_id = ?1 AND schema_id = ?2
             AND source LIKE 'model:run-%' AND value = 1 ORDER BY source, class",
        )?
        .query_map(params![pair, s.id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let report = ReportText {
        text: &text,
        findings: findings.as_deref(),
        impression: impression.as_deref(),
    };
    let mut out = Vec::new();
    let mut runs: Vec<i64> = rows
        .iter()
        .filter_map(|(src, _)| src.strip_prefix("model:run-")?.parse().ok())
        .collect();
    runs.dedup();
    for run in runs {
        let (trainer, dir, config, model_id): (String, Option<String>, String, Option<i64>) = conn
            .query_row(
                "SELECT trainer, dir, config, model_id FROM runs WHERE id = ?1",
                [run],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?
            .ok_or_else(|| Error::NotFound(format!("run {run}")))?;
        let Ok(trainer) = trainer.parse::<Trainer>() else {
            continue;
        };
        let (Some(dir), Trainer::Text | Trainer::Fusion) = (dir, trainer) else {
            continue;
        };
        let reader = reader_of(Path::new(&dir), trainer, &config)?;
        let Some((ids, spans)) = reader.tokens_with_spans(report)? else {
            continue;
        };
        let mut tokens = vec![0f32; reader.dim()];
        tokens[0] = ids.len() as f32;
        for (slot, id) in tokens[1..].iter_mut().zip(&ids) {
            *slot = *id as f32;
        }
        let row = match trainer {
            Trainer::Fusion => {
                let rec = model_id
                    .map(|id| crate::models::get_by_id(conn, id))
                    .transpose()?
                    .ok_or_else(|| Error::Invalid(format!("run {run} has no image model")))?;
                let vectors = crate::embed::vectors(conn, &rec, "image")?;
                let img = vectors.row_of(image);
                let dim = vectors.dim;
                pairlab_ml::train::fusion::row(img, dim, Some(&tokens), reader.max_len())
            }
            _ => tokens,
        };
        let model = super::load_model(conn, run)?;
        let classes = super::get(conn, run)?.classes;
        let source = format!("model:run-{run}");
        for (_, class) in rows.iter().filter(|(src, _)| *src == source) {
            let Some(c) = classes.iter().position(|x| x == class) else {
                continue;
            };
            let Some(weights) = model.token_weights(&row, c)? else {
                continue;
            };
            let mut ranked: Vec<(f32, (usize, usize))> = words(&text, &weights, &spans)
                .into_iter()
                .filter(|(w, _)| *w > 0.0)
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (w, (start, end)) in ranked.into_iter().take(TOP) {
                out.push(Evidence {
                    class: class.clone(),
                    start,
                    end,
                    value: Value::Positive,
                    rule: format!("run {run} ({trainer}): weighed {w:.2} towards {class}"),
                });
            }
        }
    }
    Ok(out)
}

/// Word pieces joined into words: adjacent spans (one ending where the next starts) are
/// one word whose weight is the sum of its pieces'; punctuation is left out.
fn words(
    text: &str,
    weights: &[f32],
    spans: &[Option<(usize, usize)>],
) -> Vec<(f32, (usize, usize))> {
    let mut out: Vec<(f32, (usize, usize))> = Vec::new();
    for (&w, span) in weights.iter().zip(spans) {
        let Some((s, e)) = *span else {
            continue;
        };
        if !text
            .get(s..e)
            .is_some_and(|t| t.chars().any(char::is_alphanumeric))
        {
            continue;
        }
        match out.last_mut() {
            Some((total, (_, end))) if *end == s => {
                *total += w;
                *end = e;
            }
            _ => out.push((w, (s, e))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn word_pieces_join_into_words() {
        // "effusion pleural." read as e + ##ff + ##usion, pleural, "."
        let text = "effusion pleural.";
        let spans = [
            None,
            Some((0, 1)),
            Some((1, 3)),
            Some((3, 8)),
            Some((9, 16)),
            Some((16, 17)),
            None,
        ];
        let w = super::words(text, &[9.0, 0.5, 0.25, 0.25, -1.0, 5.0, 9.0], &spans);
        assert_eq!(
            w,
            [(1.0, (0, 8)), (-1.0, (9, 16))],
            "the full stop is not part of a word"
        );
    }
}
