//! A pair's image and thumbnail as bytes a browser or web view shows, found through the
//! database by pair id (a client never names a path). DICOM, TIFF and BMP are rendered to
//! PNG the way ingest displays them.

use std::io::Cursor;
use std::path::{Component, Path};

use crate::error::{Error, Result};
use crate::ingest::media::{Limits, decode_full};
use crate::library::{Library, THUMBS_DIR};
use crate::store::read::image_ref;

/// A file's bytes, their content type and an entity tag that changes with the content
/// (from the image's blake3 hash), for caching.
pub struct MediaFile {
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// The content type web views show for an indexed image format, if they show it at all.
fn shown_type(format: &str) -> Option<&'static str> {
    Some(match format {
        "png" => "image/png",
        "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        _ => return None,
    })
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(format!("{what} file is missing")),
        _ => Error::io(path, e),
    })
}

/// True when `rel` is a plain relative path (no `..`, no root, no drive).
pub fn is_plain_relative(rel: &Path) -> bool {
    rel.components().all(|c| matches!(c, Component::Normal(_)))
}

/// The entity tag of a pair's image or thumbnail: it changes when the image's content does.
fn tag(hash: &str, thumb: bool) -> String {
    let kind = if thumb { "thumb" } else { "image" };
    format!("\"{kind}-{hash}\"")
}

/// True when an `If-None-Match` header value names `etag` (or is `*`).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == etag || t == "*")
}

impl Library {
    /// The entity tag [`Library::image_file`] (or, with `thumb`, [`Library::thumb_file`])
    /// would send, from the database alone: a client's cached copy can be confirmed
    /// without reading or rendering the file.
    pub fn media_tag(&self, pair: i64, thumb: bool) -> Result<String> {
        Ok(tag(&image_ref(self.conn(), pair)?.hash, thumb))
    }

    /// A pair's full image: its own bytes for formats web views show, else a PNG.
    pub fn image_file(&self, pair: i64) -> Result<MediaFile> {
        let img = image_ref(self.conn(), pair)?;
        if img.missing {
            return Err(Error::NotFound(format!(
                "the image of pair {pair} is missing from its corpus"
            )));
        }
        let abs = img.abs_path.as_path();
        let etag = tag(&img.hash, false);
        if let Some(content_type) = shown_type(&img.format) {
            let bytes = read(abs, "the image")?;
            return Ok(MediaFile {
                content_type,
                bytes,
                etag,
            });
        }
        if !matches!(img.format.as_str(), "dicom" | "tiff" | "bmp") {
            return Err(Error::Unsupported(format!(
                "images in {} format cannot be shown",
                img.format
            )));
        }
        Ok(MediaFile {
            content_type: "image/png",
            bytes: render_png(abs, &img.format)?,
            etag,
        })
    }

    /// A pair's stored thumbnail (JPEG, or the original's bytes when it was small).
    pub fn thumb_file(&self, pair: i64) -> Result<MediaFile> {
        let none = || Error::NotFound(format!("pair {pair} has no thumbnail"));
        let img = image_ref(self.conn(), pair)?;
        let etag = tag(&img.hash, true);
        let rel = img.thumb.ok_or_else(none)?;
        let rel = Path::new(&rel);
        if !is_plain_relative(rel) {
            return Err(none());
        }
        let content_type = match rel.extension().and_then(|e| e.to_str()) {
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("png") => "image/png",
            Some("webp") => "image/webp",
            _ => {
                return Err(Error::Invalid(
                    "the thumbnail's format cannot be shown".into(),
                ));
            }
        };
        let bytes = read(&self.root().join(THUMBS_DIR).join(rel), "the thumbnail")?;
        Ok(MediaFile {
            content_type,
            bytes,
            etag,
        })
    }
}

/// An image file (DICOM, TIFF, …) decoded and written as a PNG: what web views and
/// exports show of formats they cannot read.
pub(crate) fn render_png(abs: &Path, format: &str) -> Result<Vec<u8>> {
    if !abs.is_file() {
        return Err(Error::NotFound("the image file is missing".into()));
    }
    let decoded = decode_full(abs, &Limits::default())
        .map_err(|e| Error::Invalid(format!("cannot render {format}: {}", e.message)))?;
    let mut out = Cursor::new(Vec::new());
    decoded
        .write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::io(abs, std::io::Error::other(e)))?;
    Ok(out.into_inner())
}
