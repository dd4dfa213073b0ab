//! The one error type that crosses from core to every front end (CLI, server, Tauri).

use std::path::PathBuf;

use serde::ser::SerializeStruct;

/// Everything that can go wrong in a core operation.
///
/// It serialises as `{"kind": "...", "message": "..."}` so the UI can show the message and
/// branch on the kind.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The signed-in user's role does not allow the call.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error(
        "the library at {} was written by a newer Pairlab (schema version {found}; this build knows up to {known})",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// A model could not be loaded or run.
    #[error("model: {0}")]
    Model(String),
    #[error("cancelled")]
    Cancelled,
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A short machine-readable name for the error's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Db(_) => "db",
            Error::Io { .. } => "io",
            Error::NotFound(_) => "not_found",
            Error::Invalid(_) => "invalid",
            Error::Forbidden(_) => "forbidden",
            Error::SchemaTooNew { .. } => "schema_too_new",
            Error::Model(_) => "model",
            Error::Cancelled => "cancelled",
        }
    }
}

impl Error {
    /// The HTTP status an error answers with, for the server and the window's protocol
    /// alike.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::NotFound(_) => 404,
            Error::Invalid(_) => 400,
            Error::Forbidden(_) => 403,
            Error::Cancelled => 409,
            _ => 500,
        }
    }
}

impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Error", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
