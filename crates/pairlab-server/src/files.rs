//! Files: a pair's image and thumbnail, found through the database by pair id (a client
//! never names a path), and the built UI's static files.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pairlab_core::api::{etag_matches, is_plain_relative};
use pairlab_core::error::ErrorKind;

use crate::extract::Id;
use crate::{ApiError, AppState, blocking, with_library};

/// Headers every image answer carries. Browsers revalidate every time (`no-cache`), so a
/// re-indexed image is never stale.
fn media_headers(res: &mut Response, etag: &str) {
    let h = res.headers_mut();
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    if let Ok(tag) = HeaderValue::from_str(etag) {
        h.insert(ETAG, tag);
    }
}

/// A pair's image (or thumbnail): `304 Not Modified` when the client's copy
/// (`If-None-Match`) is current, decided from the database before the file is read or
/// rendered; else the file.
async fn media(
    state: &AppState,
    id: i64,
    thumb: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let if_none_match: Vec<String> = headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    if !if_none_match.is_empty() {
        let etag = with_library(state, move |lib| lib.media_tag(id, thumb)).await?;
        if if_none_match.iter().any(|v| etag_matches(v, &etag)) {
            let mut res = StatusCode::NOT_MODIFIED.into_response();
            media_headers(&mut res, &etag);
            return Ok(res);
        }
    }
    let file = with_library(state, move |lib| {
        if thumb {
            lib.thumb_file(id)
        } else {
            lib.image_file(id)
        }
    })
    .await?;
    let mut res = (
        [(CONTENT_TYPE, HeaderValue::from_static(file.content_type))],
        Body::from(file.bytes),
    )
        .into_response();
    media_headers(&mut res, &file.etag);
    Ok(res)
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, ApiError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ApiError::not_found(format!("{what} file is missing")),
        _ => ApiError::Core(pairlab_core::Error::io(path, e)),
    })
}

/// `GET /api/pairs/{id}/image`: the indexed image (DICOM, TIFF and BMP as PNG).
pub async fn image(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    media(&state, id, false, &headers).await
}

/// `GET /api/pairs/{id}/thumb`: the stored thumbnail.
pub async fn thumb(
    State(state): State<AppState>,
    Id(id): Id,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    media(&state, id, true, &headers).await
}

fn static_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The file under `root` that a URL path names, if it is one (never outside `root`,
/// links included).
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = Path::new(url_path.trim_start_matches('/'));
    if !is_plain_relative(rel) {
        return None;
    }
    let root = root.canonicalize().ok()?;
    let mut file = root.join(rel);
    if file.is_dir() {
        file = file.join("index.html");
    }
    let file = file.canonicalize().ok()?;
    (file.starts_with(&root) && file.is_file()).then_some(file)
}

/// The fallback for every path outside `/api`: the UI's file, or its `index.html` for
/// paths without an extension (client-side routes).
pub async fn ui(State(state): State<AppState>, method: Method, uri: Uri) -> Response {
    let Some(root) = state.ui.clone() else {
        return ApiError::not_found("no such route (this server has no UI folder)").into_response();
    };
    if method != Method::GET && method != Method::HEAD {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::Invalid,
            "method not allowed",
        )
        .into_response();
    }
    let path = uri.path().to_owned();
    let found = blocking(move || {
        let client_route = !path.rsplit('/').next().unwrap_or("").contains('.');
        let file = match resolve(&root, &path) {
            Some(file) => file,
            None if client_route => resolve(&root, "index.html")
                .ok_or_else(|| ApiError::not_found("the UI folder has no index.html"))?,
            None => return Err(ApiError::not_found("no such file")),
        };
        Ok((static_type(&file), read_file(&file, "the UI")?))
    })
    .await;
    match found {
        Ok((ct, bytes)) => ([(CONTENT_TYPE, ct)], bytes).into_response(),
        Err(e) => e.into_response(),
    }
}
