//! HTTP/JSON over pairlab-core's API, for `pairlab serve` and the browser UI.
//! Handlers only delegate to core; the router is built by [`router`] and can be tested
//! without a socket.
//!
//! - `routes`: the JSON routes, one generic handler per endpoint core declares;
//! - `files`: a pair's image and thumbnail (looked up by pair id, never by a client path)
//!   and the built UI's static files;
//! - `jobs`: a long job's progress as server-sent events;
//! - `auth`: the optional bearer token;
//! - `extract`: extractors whose rejections are JSON errors like every other error.

#![cfg_attr(
    test,
    allow(
        clippy::too_many_lines,
        reason = "a test reads as one scenario, top to bottom; the non-test build still checks every other function"
    )
)]

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
use axum::routing::{MethodRouter, get};
use axum::{Json, Router, middleware};
use pairlab_core::api::endpoints;
use pairlab_core::api::routes::{Kind, ROUTES, Route};
use pairlab_core::error::ErrorKind;
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
        kind: ErrorKind,
        message: String,
    },
}

impl ApiError {
    pub fn new(status: StatusCode, kind: ErrorKind, message: impl Into<String>) -> ApiError {
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
            ApiError::Core(e) => {
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
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
                serde_json::json!({ "kind": kind.name(), "message": message })
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
            ErrorKind::Internal,
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

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API route")
}

/// The handler of a route that is not JSON: a file or a stream.
fn special(route: &Route) -> MethodRouter<AppState> {
    match route.name {
        "image" => get(files::image),
        "thumb" => get(files::thumb),
        "job_events" => get(jobs::events),
        other => unreachable!("route {other} has no handler"),
    }
}

/// The whole app: `/api/...` routes (core's route table), images, jobs, and the UI's files.
pub fn router(state: AppState) -> Router {
    let mut json = routes::Routes::default();
    endpoints::visit(&mut json);
    let api = ROUTES
        .iter()
        .filter(|r| r.kind != Kind::Json)
        .fold(json.0, |api, r| api.route(r.path, special(r)))
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
