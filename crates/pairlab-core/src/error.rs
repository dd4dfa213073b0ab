//! The one error type that crosses from core to every front end (CLI, server, Tauri), and
//! the kinds a front end can act on.

use std::path::PathBuf;

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// Everything that can go wrong in a core operation.
///
/// It serialises as `{"kind": "...", "message": "..."}` (plus `"field"` for an argument
/// that was refused) so the UI can show the message and branch on the kind.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed; kind `busy` when another writer held the library past the wait.
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
    /// One named argument was refused (`field` as the caller spells it).
    #[error("invalid {field}: {message}")]
    InvalidField { field: String, message: String },
    /// The call contradicts the library's state (a frozen split, a run another process
    /// is working on).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Pairlab does not support this (an image format it cannot show, ...).
    #[error("unsupported: {0}")]
    Unsupported(String),
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
    Model(pairlab_ml::MlError),
    /// A model-related failure outside the model layer (the Hugging Face hub, its cache).
    #[error("model: {0}")]
    ModelSetup(String),
    #[error("cancelled")]
    Cancelled,
}

/// What kind of error an answer carries: what a front end branches on. Core's errors
/// use the first kinds; `unauthorized` and `internal` come from a transport, and
/// `network` and `http` from the UI's own transport (no answer, or an HTTP error without
/// a JSON body, such as a proxy's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    NotFound,
    Invalid,
    Conflict,
    Cancelled,
    Busy,
    Unsupported,
    Forbidden,
    Io,
    Db,
    Model,
    SchemaTooNew,
    Unauthorized,
    Internal,
    Network,
    Http,
}

impl ErrorKind {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Busy => "busy",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::Io => "io",
            ErrorKind::Db => "db",
            ErrorKind::Model => "model",
            ErrorKind::SchemaTooNew => "schema_too_new",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Internal => "internal",
            ErrorKind::Network => "network",
            ErrorKind::Http => "http",
        }
    }

    /// The HTTP status an error of this kind answers with, for the server and the
    /// window's protocol alike.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Invalid => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict | ErrorKind::Cancelled => 409,
            ErrorKind::Unsupported => 422,
            ErrorKind::Busy => 503,
            ErrorKind::Network | ErrorKind::Http => 502,
            ErrorKind::Io
            | ErrorKind::Db
            | ErrorKind::Model
            | ErrorKind::SchemaTooNew
            | ErrorKind::Internal => 500,
        }
    }
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// One named argument was refused.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// What kind of error this is.
    pub fn error_kind(&self) -> ErrorKind {
        match self {
            Error::Db(e) => match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    ErrorKind::Busy
                }
                _ => ErrorKind::Db,
            },
            Error::Io { .. } => ErrorKind::Io,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Invalid(_) | Error::InvalidField { .. } => ErrorKind::Invalid,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::SchemaTooNew { .. } => ErrorKind::SchemaTooNew,
            Error::Model(pairlab_ml::MlError::Cancelled) | Error::Cancelled => ErrorKind::Cancelled,
            Error::Model(_) | Error::ModelSetup(_) => ErrorKind::Model,
        }
    }

    /// A short machine-readable name for the error's kind.
    pub fn kind(&self) -> &'static str {
        self.error_kind().name()
    }

    /// The HTTP status this error answers with (see [`ErrorKind::http_status`]).
    pub fn http_status(&self) -> u16 {
        self.error_kind().http_status()
    }
}

impl From<pairlab_ml::MlError> for Error {
    fn from(e: pairlab_ml::MlError) -> Self {
        match e {
            pairlab_ml::MlError::Cancelled => Error::Cancelled,
            pairlab_ml::MlError::Setting { field, message } => Error::field(field, message),
            e => Error::Model(e),
        }
    }
}

impl serde::Serialize for Error {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let field = match self {
            Error::InvalidField { field, .. } => Some(field),
            _ => None,
        };
        let mut s = serializer.serialize_struct("Error", 2 + usize::from(field.is_some()))?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        if let Some(field) = field {
            s.serialize_field("field", field)?;
        }
        s.end()
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_statuses_and_the_wire_shape() {
        let busy = Error::Db(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(5),
            Some("database is locked".into()),
        ));
        assert_eq!((busy.kind(), busy.http_status()), ("busy", 503));
        let other = Error::Db(rusqlite::Error::InvalidQuery);
        assert_eq!((other.kind(), other.http_status()), ("db", 500));
        let f = Error::field("epochs", "use 1 to 10000");
        let wire = serde_json::to_value(&f).expect("json");
        assert_eq!(wire["kind"], "invalid");
        assert_eq!(wire["field"], "epochs");
        assert_eq!(f.http_status(), 400);
        let plain = serde_json::to_value(Error::NotFound("x".into())).expect("json");
        assert!(plain.get("field").is_none());
        assert_eq!(Error::Conflict("frozen".into()).http_status(), 409);
        assert_eq!(Error::Unsupported("tga".into()).http_status(), 422);
        let cancelled: Error = pairlab_ml::MlError::Cancelled.into();
        assert_eq!(cancelled.kind(), "cancelled");
        let model: Error = pairlab_ml::MlError::Tokenizer("bad".into()).into();
        assert!(matches!(model, Error::Model(_)));
        assert_eq!(model.kind(), "model");
        let setting: Error = pairlab_ml::MlError::Setting {
            field: "size",
            message: "image size 4: use 8 to 512 px".into(),
        }
        .into();
        let wire = serde_json::to_value(&setting).expect("json");
        assert_eq!(
            (wire["kind"].as_str(), wire["field"].as_str()),
            (Some("invalid"), Some("size"))
        );
        // Every kind's wire name is its serde name.
        for k in [
            ErrorKind::NotFound,
            ErrorKind::SchemaTooNew,
            ErrorKind::Busy,
        ] {
            assert_eq!(serde_json::to_value(k).expect("json"), k.name());
        }
    }
}
