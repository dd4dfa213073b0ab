//! Image inputs of the `cnn` and `finetune` trainers: every image decoded (DICOM
//! included), converted to grey (or RGB for a backbone that takes it) and resized; decoded
//! once and cached in the library (`cache/pixels-<size>/<content hash>`, or
//! `cache/pixels-<geometry>/…`), so later runs start at once. Decoding runs in parallel.

use std::path::Path;

use rayon::prelude::*;
use rusqlite::Connection;

use pairlab_ml::backbone::Preprocess;

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

/// What identifies a backbone preprocessing's geometry (size, channels, crop, filter):
/// the cache folder and the runs' data fingerprint.
pub fn geometry_key(pre: &Preprocess) -> String {
    let key = format!(
        "{}x{}-{}-{}",
        pre.channels, pre.size, pre.crop_pct, pre.interpolation
    );
    blake3::hash(key.as_bytes()).to_hex()[..12].to_string()
}

/// The (id, absolute path, content hash) of each image.
fn files(conn: &Connection, image_ids: &[i64]) -> Result<Vec<(i64, String, String)>> {
    let mut stmt = conn.prepare(
        "SELECT c.root || '/' || i.path, i.hash FROM images i JOIN corpora c ON c.id = i.corpus_id WHERE i.id = ?1",
    )?;
    let mut files = Vec::with_capacity(image_ids.len());
    for id in image_ids {
        let (path, hash): (String, String) =
            stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        files.push((*id, path, hash));
    }
    Ok(files)
}

/// Images as a backbone's preprocessing lays them out (values 0–255, not normalised:
/// the trainer augments and normalises per batch), cached by content hash.
pub fn raw_pixels(
    conn: &Connection,
    library: &Path,
    image_ids: &[i64],
    pre: &Preprocess,
    progress: &dyn Progress,
) -> Result<Vectors> {
    let files = files(conn, image_ids)?;
    let dir = library
        .join("cache")
        .join(format!("pixels-{}", geometry_key(pre)));
    let limits = Limits::default();
    let dim = pre.channels * (pre.size * pre.size) as usize;
    progress.stage("loading images", files.len() as u64);
    let loaded: Vec<(i64, Option<Vec<u8>>)> = files
        .par_iter()
        .map(|(id, path, hash)| {
            let cache = dir.join(hash);
            let bytes = match std::fs::read(&cache) {
                Ok(b) if b.len() == dim => Some(b),
                _ => decode_full(Path::new(path), &limits).ok().map(|img| {
                    let raw = pre.raw(&img);
                    let _ = std::fs::create_dir_all(&dir);
                    // A failed cache write only costs a decode next time.
                    let _ = std::fs::write(&cache, &raw);
                    raw
                }),
            };
            progress.advance(1);
            (*id, bytes)
        })
        .collect();
    let mut out = Vectors {
        ids: Vec::new(),
        data: Vec::with_capacity(loaded.len() * dim),
        dim,
    };
    for (id, bytes) in loaded {
        if let Some(b) = bytes {
            out.ids.push(id);
            out.data.extend(b.into_iter().map(f32::from));
        }
    }
    Ok(out)
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
    let files = files(conn, image_ids)?;
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
