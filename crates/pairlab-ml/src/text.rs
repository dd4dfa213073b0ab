//! Tokenisation through the model's own `tokenizer.json` (Hugging Face tokenizers).

use std::path::Path;

use crate::error::{MlError, Result};

/// A byte range `(start, end)` of a text.
pub type Span = (usize, usize);

/// Token ids of a batch, padded to the longest row.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub ids: Vec<u32>,
    pub mask: Vec<u32>,
    pub rows: usize,
    pub len: usize,
}

/// A tokenizer with the length limit and padding its model needs.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    max_len: usize,
    pad_id: u32,
    /// When set, a truncated row still ends with this id (CLIP pools at its end token).
    keep_last: Option<u32>,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` from `dir`.
    pub fn load(dir: &Path, max_len: usize, pad_id: u32, keep_last: Option<u32>) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            return Err(MlError::bad(
                dir,
                "tokenizer.json is missing (save the model's fast tokenizer next to its weights)",
            ));
        }
        let mut inner = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| MlError::bad(dir, format!("tokenizer.json cannot be read: {e}")))?;
        // Padding and truncation are ours; a tokenizer.json may carry its own.
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| MlError::Tokenizer(e.to_string()))?;
        Ok(TextTokenizer {
            inner,
            max_len: max_len.max(2),
            pad_id,
            keep_last,
        })
    }

    /// Number of tokens the tokenizer can emit (added tokens included).
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of a token, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Token ids of one text, with the model's special tokens, truncated to the limit.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| MlError::Tokenizer(e.to_string()))?;
        let mut ids = enc.get_ids().to_vec();
        if ids.len() > self.max_len {
            let last = ids[ids.len() - 1];
            ids.truncate(self.max_len);
            match self.keep_last {
                Some(end) if last == end => ids[self.max_len - 1] = end,
                _ => {}
            }
        }
        Ok(ids)
    }

    /// Token ids of one text without special tokens and without the length limit.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| MlError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }

    /// [`TextTokenizer::encode_plain`] with each token's byte span in `text`.
    pub fn encode_plain_with_offsets(&self, text: &str) -> Result<(Vec<u32>, Vec<Span>)> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| MlError::Tokenizer(e.to_string()))?;
        Ok((enc.get_ids().to_vec(), enc.get_offsets().to_vec()))
    }

    /// The longest row [`TextTokenizer::encode`] gives.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// A padded batch of texts.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Batch> {
        let rows: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| self.encode(t.as_ref()))
            .collect::<Result<_>>()?;
        let len = rows.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = Vec::with_capacity(rows.len() * len);
        let mut mask = Vec::with_capacity(rows.len() * len);
        for r in &rows {
            ids.extend_from_slice(r);
            mask.extend(std::iter::repeat_n(1, r.len()));
            ids.extend(std::iter::repeat_n(self.pad_id, len - r.len()));
            mask.extend(std::iter::repeat_n(0, len - r.len()));
        }
        Ok(Batch {
            ids,
            mask,
            rows: rows.len(),
            len,
        })
    }
}
