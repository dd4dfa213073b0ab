//! HTTP/JSON over pairlab-core's API, for `pairlab serve` and the browser UI.
//! Handlers only delegate to core; the router is built by [`router`] and can be tested
//! without a socket.
//!
//! - `routes`: the JSON routes (one core call each);
//! - `files`: a pair's image and thumbnail (looked up by pair id, never by a client path)
//!   and the built UI's static files;
//! - `jobs`: long jobs (training) on their own thread with progress, SSE and cancelling;
//! - `auth`: the optional bearer token;
//! - `extract`: extractors whose rejections are JSON errors like every other error.

mod auth;
mod extract;
mod files;
mod jobs;
mod routes;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_jobs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use pairlab_core::{Error, Library};

pub use auth::random_token;
pub use jobs::{Job, JobState, JobStatus, Jobs, TrainRequest};

/// Shared state: where the library lives, the optional access token, the built UI's
/// folder and the running jobs. Each request opens its own library connection.
#[derive(Clone)]
pub struct AppState {
    pub library: Arc<PathBuf>,
    /// When set, every request must carry it (bearer header, `?token=` or cookie).
    pub token: Option<Arc<str>>,
    /// The built web UI (`ui/dist`), served for every path outside `/api`.
    pub ui: Option<Arc<PathBuf>>,
    pub jobs: Jobs,
}

impl AppState {
    /// State for the library in `dir`, without a token or UI.
    pub fn new(dir: impl Into<PathBuf>) -> AppState {
        AppState {
            library: Arc::new(dir.into()),
            token: None,
            ui: None,
            jobs: Jobs::default(),
        }
    }

    pub fn with_token(mut self, token: Option<String>) -> AppState {
        self.token = token.map(Arc::from);
        self
    }

    pub fn with_ui(mut self, dir: Option<PathBuf>) -> AppState {
        self.ui = dir.map(Arc::new);
        self
    }
}

/// An error as an HTTP response with a JSON body `{"kind", "message"}`: core's error
/// (status from its kind) or one of the transport's own (401, 415, ...).
#[derive(Debug)]
pub enum ApiError {
    Core(Error),
    Http {
        status: StatusCode,
        kind: &'static str,
        message: String,
    },
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Http {
            status,
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::Core(Error::Invalid(message.into()))
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::Core(Error::NotFound(message.into()))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Core(Error::NotFound(_)) => StatusCode::NOT_FOUND,
            ApiError::Core(Error::Invalid(_)) => StatusCode::BAD_REQUEST,
            ApiError::Core(Error::Cancelled) => StatusCode::CONFLICT,
            ApiError::Core(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Http { status, .. } => *status,
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError::Core(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self {
            ApiError::Core(e) => serde_json::to_value(&e).unwrap_or_default(),
            ApiError::Http { kind, message, .. } => {
                serde_json::json!({ "kind": kind, "message": message })
            }
        };
        (status, Json(body)).into_response()
    }
}

/// Runs `f` on a blocking thread; a worker that died becomes a 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("worker failed: {e}"),
        )
    })?
}

/// Opens the library on a blocking thread and makes one call into it.
async fn with_library<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Library) -> pairlab_core::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let dir = state.library.clone();
    blocking(move || Ok(Library::open(&dir).and_then(|lib| f(&lib))?)).await
}

/// Like [`with_library`], for the calls that write.
async fn with_library_mut<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut Library) -> pairlab_core::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let dir = state.library.clone();
    blocking(move || Ok(Library::open(&dir).and_then(|mut lib| f(&mut lib))?)).await
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API route")
}

/// The whole app: `/api/...` JSON routes, images, jobs, and the UI's files.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/health", get(routes::health))
        .route("/stats", get(routes::stats))
        .route("/search", get(routes::search))
        .route("/errors", get(routes::errors))
        .route("/pairs", get(routes::pairs))
        .route("/browse", post(routes::browse))
        .route("/pairs/{id}", get(routes::pair))
        .route("/pairs/{id}/history", get(routes::history))
        .route("/pairs/{id}/labels", get(routes::labels))
        .route("/pairs/{id}/review", get(routes::review_status))
        .route("/pairs/{id}/image", get(files::image))
        .route("/pairs/{id}/thumb", get(files::thumb))
        .route("/schemas", get(routes::schemas))
        .route("/splits", get(routes::splits))
        .route("/leakage", get(routes::leakage))
        .route("/runs", get(routes::runs).post(jobs::start_train))
        .route("/runs/{id}", get(routes::run))
        .route("/runs/{id}/epochs", get(routes::run_epochs))
        .route("/runs/{id}/eval", get(routes::evaluate))
        .route("/runs/{id}/misclassified", get(routes::misclassified))
        .route("/models", get(routes::models))
        .route("/labels", post(routes::set_label))
        .route("/undo", post(routes::undo))
        .route("/redo", post(routes::redo))
        .route("/review", post(routes::set_review))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::state))
        .route("/jobs/{id}/events", get(jobs::events))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .fallback(api_not_found);
    Router::new()
        .nest("/api", api)
        .fallback(files::ui)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .with_state(state)
}

/// Serves the app on `addr` until Ctrl-C; `on_ready` gets the bound address.
pub fn serve(
    addr: SocketAddr,
    state: AppState,
    on_ready: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        on_ready(listener.local_addr()?);
        axum::serve(listener, router(state))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    })
}
