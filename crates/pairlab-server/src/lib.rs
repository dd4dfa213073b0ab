//! HTTP/JSON over pairlab-core's API, for `pairlab serve` and the browser UI.
//! Handlers only delegate to core; the router is built by [`router`] and can be tested
//! without a socket.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pairlab_core::{Error, Library};

/// Shared state: where the library lives. Each request opens its own connection.
#[derive(Clone)]
pub struct AppState {
    pub library: Arc<PathBuf>,
}

/// Core's error as an HTTP response with a JSON body `{"kind", "message"}`.
pub struct ApiError(Error);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.0 {
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Invalid(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (
            status,
            Json(serde_json::to_value(&self.0).unwrap_or_default()),
        )
            .into_response()
    }
}

async fn with_library<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Library) -> pairlab_core::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let dir = state.library.clone();
    tokio::task::spawn_blocking(move || Library::open(&dir).and_then(|lib| f(&lib)))
        .await
        .map_err(|e| ApiError(Error::Invalid(format!("worker failed: {e}"))))?
        .map_err(ApiError)
}

async fn health() -> &'static str {
    "ok"
}

async fn stats(
    State(state): State<AppState>,
) -> Result<Json<pairlab_core::store::read::Stats>, ApiError> {
    with_library(&state, |lib| lib.stats()).await.map(Json)
}

/// The API routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/stats", get(stats))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn stats_route_reads_the_library() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = router(AppState {
            library: Arc::new(dir.path().to_owned()),
        });
        let res = app
            .oneshot(
                Request::get("/api/stats")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        assert_eq!(res.status(), StatusCode::OK);
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["corpora"], 0);
        assert_eq!(v["pairs"], 0);
    }
}
