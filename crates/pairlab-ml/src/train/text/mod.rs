//! `text`: a BERT-family report encoder (Hugging Face layout, e.g. MiniLM) with a
//! classification head, trained on each pair's report.
//!
//! - **What it reads** ([`Reader`]): FINDINGS, IMPRESSION or both (`Section`); a report
//!   without section headings is read whole whatever the choice, one that has headings but
//!   not the chosen section is skipped (core counts it). Tokens go up to the model's
//!   maximum (`sentence_bert_config.json`'s `max_seq_length`, else the position table);
//!   a long report is cut from the end of FINDINGS first, never IMPRESSION (unless the
//!   impression alone is longer than the maximum).
//! - **Rows** as core hands them over: the number of tokens, then the ids, padded with
//!   zeros to `1 + max_len` values.
//! - **Unfreezing** as `finetune` does it, from the top: `head` trains the head alone on
//!   pooled vectors computed once (seconds), `N` also the last N layers, `all` everything
//!   including the embeddings. The head trains at `lr`, the encoder at
//!   `lr × encoder_lr_factor` (0.03: 3e-5 at the default 1e-3, BERT's usual rate), AdamW
//!   with a cosine schedule, early stopping on the validation loss.
//! - **Pooling**: the mean over the report's tokens (sentence-transformers' recipe).
//! - **Checkpoints** are a Hugging Face BERT folder (`config.json`, `model.safetensors`
//!   with the head as `classifier.*`, `tokenizer.json`) plus `pairlab.json`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Uncertain;
use super::finetune::{DeviceChoice, Unfreeze};
use super::fit::Event;
use super::trainer::{Fit, Fitted, Input, Model, Part, Settings};
use crate::error::{MlError, Result};
use crate::text::{Span, TextTokenizer};

/// A report's ids with the spans of the tokens kept from each of its two parts.
type Composed = (Vec<u32>, (Vec<Span>, Vec<Span>));

/// A report's ids, and per id the token's span in the report text where it is found.
pub type TokenSpans = (Vec<u32>, Vec<Option<Span>>);

mod model;
mod tuner;

pub use model::TextModel;
pub(crate) use model::gradient_times_input_states;
pub(crate) use tuner::batch_of as tuner_batch_of;

/// Which part of a report a text model reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Impression,
    Findings,
    /// FINDINGS then IMPRESSION.
    #[default]
    Both,
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Section::Impression => "impression",
            Section::Findings => "findings",
            Section::Both => "both",
        })
    }
}

impl FromStr for Section {
    type Err = MlError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "impression" => Ok(Section::Impression),
            "findings" => Ok(Section::Findings),
            "both" => Ok(Section::Both),
            _ => Err(MlError::setting(
                "text_section",
                format!("text section {s:?}: use impression, findings or both"),
            )),
        }
    }
}

/// The text side of a run's settings: the text model (core resolves `--text-model` to
/// its folder) and the section it reads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextSettings {
    pub model: Option<PathBuf>,
    pub section: Section,
    /// `fusion`: the joint module.
    pub fusion: super::fusion::Fusion,
}

/// A report's texts as the library stores them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReportText<'a> {
    pub text: &'a str,
    pub findings: Option<&'a str>,
    pub impression: Option<&'a str>,
}

/// Turns reports into the token rows a text model trains on.
pub struct Reader {
    tok: TextTokenizer,
    cls: u32,
    sep: u32,
    max_len: usize,
    section: Section,
}

/// The longest input a BERT folder is used with: `sentence_bert_config.json`'s
/// `max_seq_length` when it has one, else its position table.
fn max_len_of(dir: &Path, cfg: &crate::bert::Config) -> usize {
    std::fs::read_to_string(dir.join("sentence_bert_config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|j| j.get("max_seq_length").and_then(serde_json::Value::as_u64))
        .map_or(cfg.max_position_embeddings, |n| n as usize)
        .min(cfg.max_position_embeddings)
}

/// A BERT folder's config (refusing anything else by name).
pub(crate) fn bert_config(dir: &Path) -> Result<crate::bert::Config> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|_| {
        MlError::bad(
            dir,
            "config.json is missing: a text model is a Hugging Face BERT folder",
        )
    })?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| MlError::bad(dir, format!("config.json is not valid JSON: {e}")))?;
    match json.get("model_type").and_then(serde_json::Value::as_str) {
        Some("bert") => crate::bert::config_from_json(&json)
            .map_err(|e| MlError::bad(dir, format!("config.json: {e}"))),
        other => Err(MlError::bad(
            dir,
            format!(
                "a text model must be a BERT-family encoder (model_type \"bert\"), not {}",
                other.map_or("a config without model_type".to_string(), |t| format!(
                    "{t:?}"
                ))
            ),
        )),
    }
}

impl Reader {
    /// The tokenizer of a BERT folder, checked against the model's vocabulary.
    pub fn load(dir: &Path, section: Section) -> Result<Self> {
        let cfg = bert_config(dir)?;
        let max_len = max_len_of(dir, &cfg);
        let tok = TextTokenizer::load(dir, max_len, cfg.pad_token_id as u32, None)?;
        crate::encoder::check_bert_tokenizer(&tok, cfg.vocab_size)?;
        let special = |t: &str| {
            tok.token_id(t).ok_or_else(|| {
                MlError::TokenizerMismatch(format!(
                    "tokenizer.json has no {t} token: not a BERT word-piece tokenizer"
                ))
            })
        };
        Ok(Reader {
            cls: special("[CLS]")?,
            sep: special("[SEP]")?,
            tok,
            max_len,
            section,
        })
    }

    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Values per row: the token count, then `max_len` ids.
    pub fn dim(&self) -> usize {
        self.max_len + 1
    }

    /// The row of one report, or None when it has nothing in the chosen section.
    pub fn row(&self, r: ReportText) -> Result<Option<Vec<f32>>> {
        let Some(ids) = self.ids(r)? else {
            return Ok(None);
        };
        let mut row = vec![0f32; self.dim()];
        row[0] = ids.len() as f32;
        for (slot, id) in row[1..].iter_mut().zip(&ids) {
            *slot = *id as f32;
        }
        Ok(Some(row))
    }

    /// `[CLS] findings impression [SEP]`, cut from the end of the findings first.
    pub fn ids(&self, r: ReportText) -> Result<Option<Vec<u32>>> {
        Ok(self.compose_spans(r)?.map(|(ids, _)| ids))
    }

    /// The two texts a report is read as (the part cut first, the part kept), or None.
    fn parts<'a>(&self, r: ReportText<'a>) -> Option<(&'a str, &'a str)> {
        fn some(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        let (f, i) = (some(r.findings), some(r.impression));
        match (f, i, self.section) {
            // No headings: the whole report, whatever the section asked for.
            (None, None, _) => some(Some(r.text)).map(|t| (t, "")),
            (_, Some(i), Section::Impression) => Some(("", i)),
            (Some(f), _, Section::Findings) => Some((f, "")),
            (f, i, Section::Both) => Some((f.unwrap_or(""), i.unwrap_or(""))),
            _ => None,
        }
    }

    /// The ids of [`Reader::ids`] with, per id, the token's byte span in the report's
    /// `text` where it can be found there (special tokens have none). Sections are found
    /// by indexing with their whitespace normalised, so a token is looked up in the text
    /// in order, from its section's heading on.
    pub fn tokens_with_spans(&self, r: ReportText) -> Result<Option<TokenSpans>> {
        let Some((ids, (first_spans, kept_spans))) = self.compose_spans(r)? else {
            return Ok(None);
        };
        let Some((first, keep)) = self.parts(r) else {
            return Ok(None);
        };
        let lower = r.text.to_lowercase();
        let headed = r.findings.is_some() || r.impression.is_some();
        // Where a section's words start in the text: after its heading when there is one.
        let anchor = |section: &str, heading: &[&str]| -> usize {
            if !headed || section.is_empty() {
                return 0;
            }
            heading
                .iter()
                .filter_map(|h| lower.find(h).map(|k| k + h.len()))
                .min()
                .unwrap_or(0)
        };
        let locate =
            |section: &str, spans: &[(usize, usize)], from: usize| -> Vec<Option<(usize, usize)>> {
                let mut cursor = from;
                spans
                    .iter()
                    .map(|&(s, e)| {
                        let word = section.get(s..e)?.to_lowercase();
                        if word.is_empty() || lower.len() != r.text.len() {
                            return None;
                        }
                        let k = lower.get(cursor..)?.find(&word)? + cursor;
                        cursor = k + word.len();
                        Some((k, k + word.len()))
                    })
                    .collect()
            };
        let mut spans = vec![None];
        spans.extend(locate(first, &first_spans, anchor(first, &["findings"])));
        spans.extend(locate(
            keep,
            &kept_spans,
            anchor(keep, &["impression", "conclusion"]),
        ));
        spans.push(None);
        debug_assert_eq!(spans.len(), ids.len());
        Ok(Some((ids, spans)))
    }

    /// The ids, and the byte spans (in each part) of the part tokens kept.
    fn compose_spans(&self, r: ReportText) -> Result<Option<Composed>> {
        let Some((first, keep)) = self.parts(r) else {
            return Ok(None);
        };
        let budget = self.max_len.saturating_sub(2);
        let (mut kept, mut kept_spans) = self.tok.encode_plain_with_offsets(keep)?;
        kept.truncate(budget);
        kept_spans.truncate(budget);
        let (mut front, mut front_spans) = self.tok.encode_plain_with_offsets(first)?;
        front.truncate(budget - kept.len());
        front_spans.truncate(budget - kept.len());
        let mut ids = Vec::with_capacity(front.len() + kept.len() + 2);
        ids.push(self.cls);
        ids.extend(front);
        ids.extend(kept);
        ids.push(self.sep);
        Ok(Some((ids, (front_spans, kept_spans))))
    }
}

/// A `text` run's configuration, stored with the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    pub text_model: PathBuf,
    pub text_section: Section,
    pub max_len: usize,
    pub unfreeze: Unfreeze,
    pub batch: usize,
    pub epochs: usize,
    pub lr: f64,
    pub encoder_lr_factor: f64,
    pub weight_decay: f64,
    pub patience: usize,
    pub seed: u64,
    pub uncertain: Uncertain,
    pub device: String,
    /// Memory budget in MiB (0: the weights, their optimiser state and 1 GiB of
    /// activations); a batch whose activations would not fit recomputes them.
    #[serde(default)]
    pub memory_mb: usize,
}

const DEFAULT_BATCH: usize = 16;

fn model_dir(settings: &Settings) -> Result<&Path> {
    settings.text.model.as_deref().ok_or_else(|| {
        MlError::setting(
            "text_model",
            "this trainer needs --text-model: a registered BERT-family text model \
             (pairlab model add PATH)"
                .into(),
        )
    })
}

pub(crate) fn config_of(settings: &Settings) -> Result<TextConfig> {
    let dir = model_dir(settings)?;
    let cfg = bert_config(dir)?;
    Ok(TextConfig {
        text_model: dir.to_path_buf(),
        text_section: settings.text.section,
        max_len: max_len_of(dir, &cfg),
        unfreeze: settings.tune.unfreeze,
        batch: match settings.tune.batch {
            0 => DEFAULT_BATCH,
            b => b,
        },
        epochs: settings.epochs,
        lr: settings.lr,
        encoder_lr_factor: 0.03,
        weight_decay: 0.01,
        patience: 3,
        seed: settings.seed,
        uncertain: settings.uncertain,
        device: DeviceChoice::name_of(&settings.tune.device.device()?).into(),
        memory_mb: settings.tune.memory_mb,
    })
}

/// The `text` trainer.
pub struct TextTrainer;

impl Fit for TextTrainer {
    fn about(&self) -> &'static str {
        "a BERT-family report encoder (--text-model) with a classification head, on the reports"
    }

    fn default_lr(&self) -> f64 {
        1e-3
    }

    fn check(&self, settings: &Settings) -> Result<()> {
        if settings.tune.batch > 1024 {
            return Err(MlError::setting(
                "batch",
                format!("batch {}: use 1 to 1024 reports", settings.tune.batch),
            ));
        }
        if let Unfreeze::Last(n) = settings.tune.unfreeze
            && n > 64
        {
            return Err(MlError::setting(
                "unfreeze",
                format!("unfreeze {n}: an encoder has at most a few dozen layers; use all"),
            ));
        }
        settings.tune.device.device().map(|_| ())
    }

    fn input(&self, settings: &Settings) -> Input {
        Input::ReportTokens {
            model: settings.text.model.clone().unwrap_or_default(),
            section: settings.text.section,
        }
    }

    fn config(&self, settings: &Settings) -> Result<String> {
        serde_json::to_string(&config_of(settings)?)
            .map_err(|e| MlError::Unsupported(e.to_string()))
    }

    fn fit(
        &self,
        train: Part,
        val: Part,
        dim: usize,
        settings: &Settings,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<Fitted> {
        let cfg = config_of(settings)?;
        if dim != cfg.max_len + 1 {
            return Err(MlError::Unsupported(format!(
                "report rows of {dim} values for a model that reads {} tokens",
                cfg.max_len
            )));
        }
        let device = settings.tune.device.device()?;
        let tuner = tuner::TextTuner::build(&cfg, train.targets, &device)?;
        tuner.fit(train, val, dim, &cfg, observe)
    }

    fn load(&self, dir: &Path) -> Result<Box<dyn Model>> {
        Ok(Box::new(TextModel::load(dir, &Device::Cpu)?))
    }
}

#[cfg(test)]
pub(crate) mod tests;
