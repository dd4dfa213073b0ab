//! The `pairlab:` protocol: a pair's image or thumbnail by pair id, as the server's
//! `/api/pairs/{id}/image|thumb` routes answer them (core's `Library::image_file` and
//! `thumb_file`); errors as the same JSON `{"kind","message"}` with a status.

use std::path::Path;

use pairlab_core::api::{MediaFile, etag_matches};
use pairlab_core::{Error, Library};
use tauri::http::{Response, StatusCode, header};

/// The same status the server answers for `e`.
fn status(e: &Error) -> StatusCode {
    StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The pair id and file kind that a protocol path (`/pairs/{id}/image` or `/thumb`) names.
fn parse(path: &str) -> Result<(i64, &str), Error> {
    let bad = || Error::NotFound(format!("no such file: {path}"));
    let mut parts = path.trim_start_matches('/').split('/');
    let (Some("pairs"), Some(id), Some(kind @ ("image" | "thumb")), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    // Decimal digits only (no sign, no leading zeros), greater than zero.
    let id = id
        .parse::<i64>()
        .ok()
        .filter(|&n| n > 0 && n.to_string() == id)
        .ok_or_else(bad)?;
    Ok((id, kind))
}

/// What a protocol request gets: the file, or only its tag when the web view's copy is
/// current.
enum Answer {
    File(MediaFile),
    Unchanged(String),
}

/// The response for a request on `path` (with the web view's `If-None-Match`, if any),
/// from the library in `library`: like the server's image routes, `304` is decided from
/// the database before the file is read or rendered.
pub fn respond(library: &Path, path: &str, if_none_match: Option<&str>) -> Response<Vec<u8>> {
    let answer = parse(path).and_then(|(id, kind)| {
        let lib = Library::open(library)?;
        let thumb = kind == "thumb";
        if let Some(inm) = if_none_match {
            let etag = lib.media_tag(id, thumb)?;
            if etag_matches(inm, &etag) {
                return Ok(Answer::Unchanged(etag));
            }
        }
        Ok(Answer::File(if thumb {
            lib.thumb_file(id)?
        } else {
            lib.image_file(id)?
        }))
    });
    let media = |status: StatusCode, etag: &str| {
        Response::builder()
            .status(status)
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::CACHE_CONTROL, "private, no-cache")
            .header(header::ETAG, etag)
    };
    let built = match answer {
        Ok(Answer::File(f)) => media(StatusCode::OK, &f.etag)
            .header(header::CONTENT_TYPE, f.content_type)
            .body(f.bytes),
        Ok(Answer::Unchanged(etag)) => media(StatusCode::NOT_MODIFIED, &etag).body(Vec::new()),
        Err(e) => Response::builder()
            .status(status(&e))
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&e).unwrap_or_default()),
    };
    built.unwrap_or_else(|_| {
        let mut r = Response::new(Vec::new());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}
