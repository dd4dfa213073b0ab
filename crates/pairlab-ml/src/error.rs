//! The error type of the model layer. Core wraps it into its own serialisable error.

use std::path::PathBuf;

/// What can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum MlError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The folder is not a usable model folder (missing or malformed files).
    #[error("model {}: {message}", dir.display())]
    BadModel { dir: PathBuf, message: String },
    /// config.json describes an architecture Pairlab cannot run.
    #[error("unknown model architecture {found:?} in {}; Pairlab runs CLIP (model_type \"clip\"), BERT-family sentence encoders (\"bert\"), SigLIP image towers (\"siglip\") and ResNet/DenseNet classifiers (a timm config.json with \"architecture\", or a checkpoint file)", dir.display())]
    UnknownArchitecture { dir: PathBuf, found: String },
    /// tokenizer.json does not belong to the model's weights.
    #[error("tokenizer does not match the model: {0}")]
    TokenizerMismatch(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The model cannot do what was asked (e.g. encode an image with a text-only model).
    #[error("{0}")]
    Unsupported(String),
    /// A training setting no run should start with (`field` as the API spells it).
    #[error("{message}")]
    Setting {
        field: &'static str,
        message: String,
    },
    #[error("cancelled")]
    Cancelled,
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

impl MlError {
    /// A training setting was refused.
    pub(crate) fn setting(field: &'static str, message: String) -> Self {
        MlError::Setting { field, message }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MlError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn bad(dir: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        MlError::BadModel {
            dir: dir.into(),
            message: message.into(),
        }
    }
}

/// A config.json field that cannot describe a model (which one, and why).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub type Result<T, E = MlError> = std::result::Result<T, E>;
