//! HTTP/JSON over pairlab-core's API, for `pairlab serve` and the browser UI.
//! Handlers only delegate to core; the router is built by [`router`] and can be tested
//! without a socket.
//!
//! - `routes`: the JSON routes (one core call each);
//! - `files`: a pair's image and thumbnail (looked up by pair id, never by a client path)
//!   and the built UI's static files;
//! - `jobs`: long jobs (training, indexing) through core's `Jobs`, with SSE and cancelling;
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
mod tests_access;
#[cfg(test)]
mod tests_jobs;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Json, Router, middleware};
use pairlab_core::api::routes::{ROUTES, Route};
use pairlab_core::jobs::Jobs;
use pairlab_core::{Error, Library};

pub use auth::random_token;

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
    /// Whether the library has active user accounts, and when that was read: looked up
    /// again at most once a second, so that a server without accounts does not open the
    /// database for that on every request.
    pub(crate) accounts: Arc<std::sync::Mutex<Option<(std::time::Instant, bool)>>>,
}

impl AppState {
    /// State for the library in `dir`, without a token or UI.
    pub fn new(dir: impl Into<PathBuf>) -> AppState {
        let dir = dir.into();
        AppState {
            jobs: Jobs::new(&dir),
            library: Arc::new(dir),
            token: None,
            ui: None,
            accounts: Arc::default(),
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

/// The handler of one row of core's route table.
fn handler(route: &Route) -> MethodRouter<AppState> {
    let m = match route.method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        other => unreachable!("route {} has method {other}", route.name),
    };
    match route.name {
        "health" => on(m, routes::health),
        "stats" => on(m, routes::stats),
        "search" => on(m, routes::search),
        "errors" => on(m, routes::errors),
        "pairs" => on(m, routes::pairs),
        "browse" => on(m, routes::browse),
        "browse_count" => on(m, routes::browse_count),
        "pair" => on(m, routes::pair),
        "history" => on(m, routes::history),
        "labels" => on(m, routes::labels),
        "evidence" => on(m, routes::evidence),
        "review_status" => on(m, routes::review_status),
        "image" => on(m, files::image),
        "thumb" => on(m, files::thumb),
        "schemas" => on(m, routes::schemas),
        "splits" => on(m, routes::splits),
        "leakage" => on(m, routes::leakage),
        "runs" => on(m, routes::runs),
        "start_train" => on(m, jobs::start_train),
        "run" => on(m, routes::run),
        "run_epochs" => on(m, routes::run_epochs),
        "evaluate" => on(m, routes::evaluate),
        "misclassified" => on(m, routes::misclassified),
        "models" => on(m, routes::models),
        "set_label" => on(m, routes::set_label),
        "undo" => on(m, routes::undo),
        "redo" => on(m, routes::redo),
        "set_review" => on(m, routes::set_review),
        "start_index" => on(m, jobs::start_index),
        "jobs" => on(m, jobs::list),
        "job" => on(m, jobs::state),
        "job_events" => on(m, jobs::events),
        "cancel_job" => on(m, jobs::cancel),
        other => unreachable!("route {other} has no handler"),
    }
}

/// The whole app: `/api/...` routes (core's route table), images, jobs, and the UI's files.
pub fn router(state: AppState) -> Router {
    let api = ROUTES
        .iter()
        .fold(Router::new(), |api, r| api.route(r.path, handler(r)))
        .fallback(api_not_found);
    Router::new()
        .nest("/api", api)
        .fallback(files::ui)
        .layer(middleware::from_fn(auth::refuse_cross_site))
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
