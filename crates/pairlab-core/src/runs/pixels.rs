//! Image inputs of the `cnn` trainer: every image decoded (DICOM included), converted to
//! grey, resized to `size × size` and normalised; decoded once and cached in the library
//! (`cache/pixels-<size>/<content hash>`), so later runs start at once. Decoding runs in
//! parallel.

use std::path::Path;

use rayon::prelude::*;
use rusqlite::Connection;

use crate::embed::Vectors;
use crate::error::Result;
use crate::ingest::media::{Limits, decode_full};
use crate::progress::Progress;

/// Grey levels are mapped to (v / 255 − 0.5) / 0.25.
fn normalise(v: u8) -> f32 {
    (f32::from(v) / 255.0 - 0.5) / 0.25
}

fn load_one(abs: &Path, cache: &Path, size: u32, limits: &Limits) -> Option<Vec<u8>> {
    if let Ok(bytes) = std::fs::read(cache)
        && bytes.len() == (size * size) as usize
    {
        return Some(bytes);
    }
    let img = decode_full(abs, limits).ok()?;
    let grey = img.to_luma8();
    let small = image::imageops::resize(&grey, size, size, image::imageops::FilterType::Triangle);
    let bytes = small.into_raw();
    if let Some(dir) = cache.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // A failed cache write only costs a decode next time.
    let _ = std::fs::write(cache, &bytes);
    Some(bytes)
}

/// Pixels of the given images (by id) as one matrix; images that cannot be decoded are
/// left out (they are already listed by ingest or by `pairlab embed`).
pub fn pixels(
    conn: &Connection,
    library: &Path,
    image_ids: &[i64],
    size: u32,
    progress: &dyn Progress,
) -> Result<Vectors> {
    let mut stmt = conn.prepare(
        "SELECT c.root || '/' || i.path, i.hash FROM images i JOIN corpora c ON c.id = i.corpus_id WHERE i.id = ?1",
    )?;
    let mut files = Vec::with_capacity(image_ids.len());
    for id in image_ids {
        let (path, hash): (String, String) =
            stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        files.push((*id, path, hash));
    }
    let dir = library.join("cache").join(format!("pixels-{size}"));
    let limits = Limits::default();
    progress.stage("loading images", files.len() as u64);
    let loaded: Vec<(i64, Option<Vec<u8>>)> = files
        .par_iter()
        .map(|(id, path, hash)| {
            let r = load_one(Path::new(path), &dir.join(hash), size, &limits);
            progress.advance(1);
            (*id, r)
        })
        .collect();
    let dim = (size * size) as usize;
    let mut out = Vectors {
        ids: Vec::new(),
        data: Vec::with_capacity(loaded.len() * dim),
        dim,
    };
    for (id, bytes) in loaded {
        if let Some(b) = bytes {
            out.ids.push(id);
            out.data.extend(b.into_iter().map(normalise));
        }
    }
    Ok(out)
}
