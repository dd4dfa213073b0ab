//! Database writes of the ingest engine. Every function runs inside the caller's
//! transaction and uses cached prepared statements.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::IngestError;
use super::layout::{ImportedSchema, PlannedImage};
use super::media::ImageMeta;
use super::report::ParsedReport;
use super::scan::FileRef;
use crate::error::Result;
use crate::labels;
use crate::labels::schema::{self, Schema, SchemaDef};

/// An image or report row as it was before this run.
#[derive(Clone, Debug)]
pub struct Stored {
    pub id: i64,
    pub size: u64,
    pub mtime_ns: i64,
}

/// Which rows [`stored`] reads: images by path, reports by source.
#[derive(Clone, Copy)]
pub enum Rows {
    Images,
    Reports,
}

pub fn upsert_corpus(conn: &Connection, root: &str, name: &str, layout: &str) -> Result<i64> {
    Ok(conn.query_row(
        "INSERT INTO corpora (root, name, layout) VALUES (?1, ?2, ?3)
         ON CONFLICT (root) DO UPDATE SET layout = excluded.layout, counts = NULL
         RETURNING id",
        params![root, name, layout],
        |r| r.get(0),
    )?)
}

pub fn finish_corpus(conn: &Connection, corpus: i64) -> Result<()> {
    conn.execute(
        "UPDATE corpora SET indexed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
        [corpus],
    )?;
    Ok(())
}

/// The stored rows of `keys` (image paths or report sources; those that have a row). A
/// piece of a streamed plan reads only its own: the keys of each folder in it (they come
/// together) are read as one range of the index, from the smallest to the largest, and
/// what else lies in that range is passed over (at most a folder's sub-folders, read once
/// per folder above them), which is several times faster than one lookup per key.
pub fn stored<'a>(
    conn: &Connection,
    rows: Rows,
    corpus: i64,
    keys: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Stored>> {
    let mut stmt = conn.prepare_cached(match rows {
        Rows::Images => {
            "SELECT path, id, size, mtime_ns FROM images
             WHERE corpus_id = ?1 AND path >= ?2 AND path <= ?3"
        }
        Rows::Reports => {
            "SELECT source, id, size, mtime_ns FROM reports
             WHERE corpus_id = ?1 AND source >= ?2 AND source <= ?3"
        }
    })?;
    fn folder(k: &str) -> &str {
        k.rsplit_once('/').map_or("", |(d, _)| d)
    }
    let mut out = HashMap::new();
    let mut keys = keys.peekable();
    while let Some(first) = keys.next() {
        let dir = folder(first);
        let mut group: std::collections::HashSet<&str> = std::collections::HashSet::from([first]);
        while let Some(k) = keys.next_if(|k| folder(k) == dir) {
            group.insert(k);
        }
        let (lo, hi) = (
            group.iter().min().copied().unwrap_or_default(),
            group.iter().max().copied().unwrap_or_default(),
        );
        let mut found = stmt.query(params![corpus, lo, hi])?;
        while let Some(r) = found.next()? {
            let key: String = r.get(0)?;
            if group.contains(key.as_str()) {
                let row = Stored {
                    id: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    mtime_ns: r.get(3)?,
                };
                out.insert(key, row);
            }
        }
    }
    Ok(out)
}

/// The row ids a run found, one bit each (a million rows: 125 KB), so that what it did not
/// find can be marked missing at the end without holding its paths.
#[derive(Default)]
pub struct Found {
    bits: Vec<u64>,
    /// Ids too large for the bits (SQLite gives the next id, so in practice none).
    sparse: std::collections::BTreeSet<i64>,
}

impl Found {
    const DENSE: i64 = 1 << 32;

    pub fn insert(&mut self, id: i64) {
        if !(0..Self::DENSE).contains(&id) {
            self.sparse.insert(id);
            return;
        }
        let (word, bit) = ((id / 64) as usize, id % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << bit;
    }

    pub fn contains(&self, id: i64) -> bool {
        if !(0..Self::DENSE).contains(&id) {
            return self.sparse.contains(&id);
        }
        self.bits
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }
}

/// The id of the report `source` when this run found it (in an earlier piece of the plan).
pub fn found_report(
    conn: &Connection,
    corpus: i64,
    source: &str,
    found: &Found,
) -> Result<Option<i64>> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM reports WHERE corpus_id = ?1 AND source = ?2")?
        .query_row(params![corpus, source], |r| r.get(0))
        .optional()?;
    Ok(id.filter(|id| found.contains(*id)))
}

/// A stored image with content `hash` that this run has not found and whose file is gone
/// from the corpus: the same image moved to the new path (its row and labels stay). Only
/// the first 32 rows with that hash are looked at, so a corpus of thousands of identical
/// files (blank frames) is not stat'ed over and over: past them a moved copy is indexed
/// as new and its old row marked missing.
pub fn vanished_with_hash(
    conn: &Connection,
    corpus: i64,
    root: &Path,
    hash: &str,
    found: &Found,
) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, path FROM images WHERE hash = ?2 AND corpus_id = ?1 ORDER BY id LIMIT 32",
    )?;
    let candidates: Vec<(i64, String)> = stmt
        .query_map(params![corpus, hash], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(candidates
        .into_iter()
        .find(|(id, path)| {
            !found.contains(*id) && std::fs::symlink_metadata(root.join(path)).is_err()
        })
        .map(|(id, _)| id))
}

/// Marks missing every image and report of the corpus this run did not find.
pub fn mark_unfound_missing(
    conn: &Connection,
    corpus: i64,
    images: &Found,
    reports: &Found,
) -> Result<()> {
    for (table, found) in [("images", images), ("reports", reports)] {
        let gone: Vec<i64> = conn
            .prepare(&format!(
                "SELECT id FROM {table} WHERE corpus_id = ?1 AND missing = 0"
            ))?
            .query_map([corpus], |r| r.get(0))?
            .filter(|id| id.as_ref().map_or(true, |id| !found.contains(*id)))
            .collect::<Result<_, _>>()?;
        let mut mark = conn.prepare(&format!("UPDATE {table} SET missing = 1 WHERE id = ?1"))?;
        for id in gone {
            mark.execute([id])?;
        }
    }
    Ok(())
}

/// Inserts or updates a report; the text (and so the FTS index) is only rewritten when it
/// changed. Returns the report id.
pub fn upsert_report(
    conn: &Connection,
    corpus: i64,
    source: &str,
    file: Option<&FileRef>,
    report: &ParsedReport,
) -> Result<i64> {
    let (size, mtime) = file.map(|f| (f.size as i64, f.mtime_ns)).unwrap_or((0, 0));
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM reports WHERE corpus_id = ?1 AND source = ?2")?
        .query_row(params![corpus, source], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => {
            conn.prepare_cached(
                "UPDATE reports SET text = ?2, findings = ?3, impression = ?4, lossy = ?5
                 WHERE id = ?1 AND text IS NOT ?2",
            )?
            .execute(params![
                id,
                report.text,
                report.findings,
                report.impression,
                report.lossy
            ])?;
            conn.prepare_cached(
                "UPDATE reports SET size = ?2, mtime_ns = ?3, missing = 0 WHERE id = ?1",
            )?
            .execute(params![id, size, mtime])?;
            Ok(id)
        }
        None => Ok(conn
            .prepare_cached(
                "INSERT INTO reports (corpus_id, source, size, mtime_ns, text, findings, impression, lossy)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
            )?
            .query_row(
                params![
                    corpus,
                    source,
                    size,
                    mtime,
                    report.text,
                    report.findings,
                    report.impression,
                    report.lossy
                ],
                |r| r.get(0),
            )?),
    }
}

pub fn set_report_tags(conn: &Connection, report: i64, tags: &[String]) -> Result<()> {
    conn.prepare_cached("DELETE FROM report_tags WHERE report_id = ?1")?
        .execute([report])?;
    for tag in tags {
        let tag_id: i64 = conn
            .prepare_cached(
                "INSERT INTO tags (name) VALUES (?1)
                 ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
            )?
            .query_row([tag], |r| r.get(0))?;
        conn.prepare_cached(
            "INSERT OR IGNORE INTO report_tags (report_id, tag_id) VALUES (?1, ?2)",
        )?
        .execute([report, tag_id])?;
    }
    Ok(())
}

pub fn mark_report_present(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("UPDATE reports SET missing = 0 WHERE id = ?1 AND missing != 0")?
        .execute([id])?;
    Ok(())
}

/// Writes a new or changed image. `reuse` is the id of the row to update (same path
/// changed, or a moved file recognised by its hash); otherwise a row is inserted.
pub fn write_image(
    conn: &Connection,
    corpus: i64,
    file: &FileRef,
    meta: &ImageMeta,
    reuse: Option<i64>,
) -> Result<i64> {
    let thumb = meta.thumb.as_deref();
    let dhash = meta.dhash as i64;
    let (size, mtime) = (file.size as i64, file.mtime_ns);
    match reuse {
        Some(id) => {
            conn.prepare_cached(
                "UPDATE images SET path = ?2, size = ?3, mtime_ns = ?4, hash = ?5,
                   width = ?6, height = ?7, format = ?8, bits = ?9, photometric = ?10, view = ?11,
                   dhash = ?12, thumb = ?13, missing = 0 WHERE id = ?1",
            )?
            .execute(params![
                id,
                file.rel,
                size,
                mtime,
                meta.hash,
                meta.width,
                meta.height,
                meta.format,
                meta.bits,
                meta.photometric,
                meta.view,
                dhash,
                thumb
            ])?;
            Ok(id)
        }
        None => Ok(conn
            .prepare_cached(
                "INSERT INTO images (corpus_id, path, size, mtime_ns, hash, width, height, format,
                   bits, photometric, view, dhash, thumb)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) RETURNING id",
            )?
            .query_row(
                params![
                    corpus,
                    file.rel,
                    size,
                    mtime,
                    meta.hash,
                    meta.width,
                    meta.height,
                    meta.format,
                    meta.bits,
                    meta.photometric,
                    meta.view,
                    dhash,
                    thumb
                ],
                |r| r.get(0),
            )?),
    }
}

pub fn set_image_missing(conn: &Connection, id: i64, missing: bool) -> Result<()> {
    conn.prepare_cached("UPDATE images SET missing = ?2 WHERE id = ?1 AND missing != ?2")?
        .execute(params![id, missing])?;
    Ok(())
}

/// How many patient and study ids the linker keeps at most (then it starts again), so its
/// memory stays flat on a corpus of millions.
const CACHED: usize = 50_000;

/// Ids of patients, studies, the imported schema and split, cached for one run.
pub struct Linker {
    corpus: i64,
    patients: HashMap<String, i64>,
    studies: HashMap<String, i64>,
    schema: Option<Schema>,
    split: Option<i64>,
}

impl Linker {
    pub fn new(
        conn: &Connection,
        corpus: i64,
        schema: Option<&ImportedSchema>,
        with_split: bool,
    ) -> Result<Linker> {
        let schema = schema.map(|s| ensure_schema(conn, s)).transpose()?;
        let split = if with_split {
            Some(conn.query_row(
                "INSERT INTO splits (name, strategy) VALUES ('imported', 'imported')
                 ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING id",
                [],
                |r| r.get(0),
            )?)
        } else {
            None
        };
        Ok(Linker {
            corpus,
            patients: HashMap::new(),
            studies: HashMap::new(),
            schema,
            split,
        })
    }

    fn patient(&mut self, conn: &Connection, key: &str) -> Result<i64> {
        if let Some(id) = self.patients.get(key) {
            return Ok(*id);
        }
        let id: i64 = conn
            .prepare_cached(
                "INSERT INTO patients (corpus_id, key) VALUES (?1, ?2)
                 ON CONFLICT (corpus_id, key) DO UPDATE SET key = excluded.key RETURNING id",
            )?
            .query_row(params![self.corpus, key], |r| r.get(0))?;
        if self.patients.len() >= CACHED {
            self.patients.clear();
        }
        self.patients.insert(key.to_owned(), id);
        Ok(id)
    }

    fn study(&mut self, conn: &Connection, key: &str, patient: Option<i64>) -> Result<i64> {
        if let Some(id) = self.studies.get(key) {
            return Ok(*id);
        }
        let id: i64 = conn
            .prepare_cached(
                "INSERT INTO studies (corpus_id, key, patient_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (corpus_id, key)
                 DO UPDATE SET patient_id = COALESCE(excluded.patient_id, studies.patient_id)
                 RETURNING id",
            )?
            .query_row(params![self.corpus, key, patient], |r| r.get(0))?;
        if self.studies.len() >= CACHED {
            self.studies.clear();
        }
        self.studies.insert(key.to_owned(), id);
        Ok(id)
    }

    /// Creates or updates the pair of `image` and attaches imported labels and split.
    pub fn link(
        &mut self,
        conn: &Connection,
        image: i64,
        planned: &PlannedImage,
        report: Option<i64>,
        meta: Option<&ImageMeta>,
    ) -> Result<i64> {
        let patient_key = planned
            .patient
            .as_deref()
            .or(meta.and_then(|m| m.patient.as_deref()));
        let study_key = planned
            .study
            .as_deref()
            .or(meta.and_then(|m| m.study.as_deref()));
        let patient = patient_key.map(|k| self.patient(conn, k)).transpose()?;
        let study = study_key
            .map(|k| self.study(conn, k, patient))
            .transpose()?;
        let pair: i64 = conn
            .prepare_cached(
                "INSERT INTO pairs (corpus_id, image_id, report_id, study_id, patient_id)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (image_id) DO UPDATE SET
                   report_id = excluded.report_id,
                   study_id = COALESCE(excluded.study_id, pairs.study_id),
                   patient_id = COALESCE(excluded.patient_id, pairs.patient_id)
                 RETURNING id",
            )?
            .query_row(params![self.corpus, image, report, study, patient], |r| {
                r.get(0)
            })?;
        if let Some(schema) = &self.schema {
            labels::replace_machine(conn, pair, schema, labels::IMPORT, &planned.labels)?;
        }
        if let (Some(split), Some(part)) = (self.split, planned.split.as_deref()) {
            conn.prepare_cached(
                "INSERT INTO split_members (split_id, pair_id, part) VALUES (?1, ?2, ?3)
                 ON CONFLICT (split_id, pair_id) DO UPDATE SET part = excluded.part",
            )?
            .execute(params![split, pair, part])?;
        }
        Ok(pair)
    }
}

fn ensure_schema(conn: &Connection, s: &ImportedSchema) -> Result<Schema> {
    let kind = s.kind;
    let def = SchemaDef {
        name: s.name.clone(),
        kind,
        classes: s.classes.clone(),
        labeler: None,
        prompts: None,
    };
    schema::upsert(conn, &def)
}

/// Replaces the corpus's recorded ingest errors with this run's.
pub fn replace_errors(conn: &Connection, corpus: i64, errors: &[IngestError]) -> Result<()> {
    conn.execute("DELETE FROM ingest_errors WHERE corpus_id = ?1", [corpus])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO ingest_errors (corpus_id, path, kind, message) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for e in errors {
        stmt.execute(params![corpus, e.path, e.kind.name(), e.message])?;
    }
    Ok(())
}
