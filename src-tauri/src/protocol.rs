//! The `pairlab:` protocol: a pair's image or thumbnail by pair id, as the server's
//! `/api/pairs/{id}/image|thumb` routes answer them (core's `Library::image_file` and
//! `thumb_file`); errors as the same JSON `{"kind","message"}` with a status.

use std::path::Path;

use pairlab_core::{Error, Library};
use tauri::http::{Response, StatusCode, header};

fn status(e: &Error) -> StatusCode {
    match e {
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::Invalid(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
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

/// The response for a request on `path`, from the library in `library`.
pub fn respond(library: &Path, path: &str) -> Response<Vec<u8>> {
    let file = parse(path).and_then(|(id, kind)| {
        let lib = Library::open(library)?;
        match kind {
            "image" => lib.image_file(id),
            _ => lib.thumb_file(id),
        }
    });
    let built = match file {
        Ok(f) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, f.content_type)
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .header(header::CACHE_CONTROL, "private, no-cache")
            .header(header::ETAG, f.etag.as_str())
            .body(f.bytes),
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
