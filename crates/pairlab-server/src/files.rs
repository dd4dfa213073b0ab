//! Files: a pair's image and thumbnail, found through the database by pair id (a client
//! never names a path), and the built UI's static files.

use std::io::Cursor;
use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use pairlab_core::ingest::media::{Limits, decode_full};
use pairlab_core::library::THUMBS_DIR;

use crate::extract::Id;
use crate::{ApiError, AppState, blocking, with_library};

/// The content type browsers show for an indexed image format, if they show it at all.
fn browser_type(format: &str) -> Option<&'static str> {
    Some(match format {
        "png" => "image/png",
        "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => return None,
    })
}

fn bytes_response(content_type: &'static str, bytes: Vec<u8>) -> Response {
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (CACHE_CONTROL, HeaderValue::from_static("private, no-cache")),
        ],
        Body::from(bytes),
    )
        .into_response()
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>, ApiError> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ApiError::not_found(format!("{what} file is missing")),
        _ => ApiError::Core(pairlab_core::Error::io(path, e)),
    })
}

/// True when `rel` is a plain relative path (no `..`, no root, no drive).
fn is_plain_relative(rel: &Path) -> bool {
    rel.components().all(|c| matches!(c, Component::Normal(_)))
}

/// `GET /api/pairs/{id}/image`: the indexed image's bytes for formats browsers show;
/// DICOM, TIFF and BMP rendered to PNG the way ingest displays them.
pub async fn image(State(state): State<AppState>, Id(id): Id) -> Result<Response, ApiError> {
    let img = with_library(&state, move |lib| lib.pair(id)).await?.image;
    if img.missing {
        return Err(ApiError::not_found(format!(
            "the image of pair {id} is missing from its corpus"
        )));
    }
    let abs = PathBuf::from(&img.abs_path);
    if let Some(ct) = browser_type(&img.format) {
        let bytes = blocking(move || read_file(&abs, "the image")).await?;
        return Ok(bytes_response(ct, bytes));
    }
    if !matches!(img.format.as_str(), "dicom" | "tiff" | "bmp") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media",
            format!("images in {} format cannot be shown", img.format),
        ));
    }
    let png = blocking(move || {
        if !abs.is_file() {
            return Err(ApiError::not_found("the image file is missing"));
        }
        let decoded = decode_full(&abs, &Limits::default()).map_err(|e| {
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media",
                format!("cannot render {}: {}", img.format, e.message),
            )
        })?;
        let mut out = Cursor::new(Vec::new());
        decoded
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("cannot encode PNG: {e}"),
                )
            })?;
        Ok(out.into_inner())
    })
    .await?;
    Ok(bytes_response("image/png", png))
}

/// `GET /api/pairs/{id}/thumb`: the stored thumbnail (JPEG, or the original's bytes when
/// it was already small).
pub async fn thumb(State(state): State<AppState>, Id(id): Id) -> Result<Response, ApiError> {
    let rel = with_library(&state, move |lib| lib.pair(id))
        .await?
        .image
        .thumb
        .ok_or_else(|| ApiError::not_found(format!("pair {id} has no thumbnail")))?;
    let rel = PathBuf::from(rel);
    if !is_plain_relative(&rel) {
        return Err(ApiError::not_found(format!("pair {id} has no thumbnail")));
    }
    let ct = match rel.extension().and_then(|e| e.to_str()) {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("webp") => "image/webp",
        _ => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media",
                "the thumbnail's format cannot be shown",
            ));
        }
    };
    let path = state.library.join(THUMBS_DIR).join(rel);
    let bytes = blocking(move || read_file(&path, "the thumbnail")).await?;
    Ok(bytes_response(ct, bytes))
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
            "invalid",
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
