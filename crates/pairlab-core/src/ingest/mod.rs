//! Corpus ingest: walk a folder in one of the supported layouts, read every image and
//! report (in parallel), and write the catalogue in batched transactions. Re-running is
//! incremental; bad files become rows in `ingest_errors` and never stop the run.

mod budget;
pub mod dicom;
pub mod layout;
pub mod media;
mod png_rows;
pub mod report;
pub mod scan;
mod thumbs;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use ts_rs::TS;

use rayon::prelude::*;
use rusqlite::Connection;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::library::Library;
use crate::progress::Progress;
use crate::runs::liveness::RunLock;
pub use layout::Layout;
pub use media::Limits;

/// What kind of problem an ingest error row records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    Empty,
    TooLarge,
    Corrupt,
    Mislabelled,
    Dicom,
    Unreadable,
    SymlinkLoop,
    NonUtf8,
    EmptyReport,
    Report,
    Layout,
    Manifest,
    MissingFile,
    Thumbnail,
    /// A path named by the corpus (a symbolic link, a manifest cell) that resolves
    /// outside the corpus root: never read.
    OutsideRoot,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Empty => "empty",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Mislabelled => "mislabelled",
            ErrorKind::Dicom => "dicom",
            ErrorKind::Unreadable => "unreadable",
            ErrorKind::SymlinkLoop => "symlink_loop",
            ErrorKind::NonUtf8 => "non_utf8",
            ErrorKind::EmptyReport => "empty_report",
            ErrorKind::Report => "report",
            ErrorKind::Layout => "layout",
            ErrorKind::Manifest => "manifest",
            ErrorKind::MissingFile => "missing_file",
            ErrorKind::Thumbnail => "thumbnail",
            ErrorKind::OutsideRoot => "outside_root",
        }
    }
}

/// One problem found while indexing: a file (or manifest row) and what was wrong.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IngestError {
    pub path: String,
    pub kind: ErrorKind,
    pub message: String,
}

impl IngestError {
    pub fn new(path: impl Into<String>, kind: ErrorKind, message: impl Into<String>) -> Self {
        IngestError {
            path: path.into(),
            kind,
            message: message.into(),
        }
    }
}

/// How to index a corpus.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    pub layout: Layout,
    pub manifest: Option<PathBuf>,
    pub limits: Limits,
    pub thumbnails: bool,
    /// A folder-local layout (stem, folders, mimic) is planned and indexed in pieces of
    /// about this many files (never parting files that pair), so memory stays flat in the
    /// corpus's size.
    pub segment_files: usize,
}

/// The default piece of a streamed plan: enough files for every reader to stay busy.
pub const SEGMENT_FILES: usize = 8192;

impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            layout: Layout::Auto,
            manifest: None,
            limits: Limits::default(),
            thumbnails: true,
            segment_files: SEGMENT_FILES,
        }
    }
}

/// The outcome of one `index` run.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct IndexSummary {
    /// Corpus id.
    pub corpus: i64,
    pub root: String,
    /// The layout used (the detected one for `auto`).
    pub layout: String,
    /// Images paired with a report.
    pub pairs: u64,
    /// Images present on disk.
    pub images: u64,
    /// Reports present on disk.
    pub reports: u64,
    /// Images without a report (still samples that can be labelled).
    pub unpaired_images: u64,
    /// Reports that no image pairs with.
    pub unpaired_reports: u64,
    /// Rows written to `ingest_errors` by this run.
    pub errors: u64,
    /// Images skipped because size and mtime were unchanged.
    pub unchanged: u64,
    /// Images of this corpus that are no longer on disk.
    pub missing: u64,
    /// Images read and written by this run (new or changed).
    pub added: u64,
    /// Images recognised by hash at a new path.
    pub moved: u64,
    pub seconds: f64,
}

/// Images are read in parallel and written in one transaction per batch of this size.
const BATCH: usize = 512;

/// Indexes (or re-indexes) the corpus at `root` into `lib`.
pub fn index(
    lib: &mut Library,
    root: &Path,
    opts: &IndexOptions,
    progress: &dyn Progress,
) -> Result<IndexSummary> {
    // What indexing writes can be derived again from the corpus (a re-index is
    // incremental), so its many batch commits skip the WAL sync that labels get; a power
    // cut can lose the last batches, never corrupt the file.
    lib.conn().pragma_update(None, "synchronous", "NORMAL")?;
    // The corpus being indexed and the lock that says a process works on it, from the
    // moment its state reads `running` until its final state is written.
    let mut running: Option<(i64, RunLock)> = None;
    let out = index_at_normal_sync(lib, root, opts, progress, &mut running);
    if let Some((corpus, _lock)) = running {
        let state = match &out {
            Ok(_) => "done",
            Err(Error::Cancelled) => "cancelled",
            Err(_) => "failed",
        };
        lib.conn().execute(
            "UPDATE corpora SET index_state = ?2,
               index_state_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
            rusqlite::params![corpus, state],
        )?;
    }
    lib.conn().pragma_update(None, "synchronous", "FULL")?;
    out
}

fn index_at_normal_sync(
    lib: &mut Library,
    root: &Path,
    opts: &IndexOptions,
    progress: &dyn Progress,
    running: &mut Option<(i64, RunLock)>,
) -> Result<IndexSummary> {
    let started = Instant::now();
    let root = root.canonicalize().map_err(|e| Error::io(root, e))?;
    if !root.is_dir() {
        return Err(Error::Invalid(format!(
            "{} is not a folder",
            root.display()
        )));
    }
    let lib_root = lib.root().canonicalize().ok();
    let skip = lib_root.as_deref().filter(|l| l.starts_with(&root));
    progress.stage("scanning", 0);
    let source = layout::open(&root, opts.layout, opts.manifest.as_deref(), skip)?;
    let (layout, schema, with_split, total) = match &source {
        layout::Source::Whole(plan) => (
            plan.layout,
            plan.schema.clone(),
            plan.images.iter().any(|p| p.split.is_some()),
            (plan.images.len() + plan.reports.len()) as u64,
        ),
        layout::Source::Streamed(s) => (s.layout, s.schema.clone(), s.with_splits, s.files),
    };
    let thumbs = opts.thumbnails.then(|| lib.thumbs_dir());
    let library_dir = lib.root().to_owned();
    // Held until indexing returns; cleans what a killed run left.
    let _thumbnail_run = thumbs.as_deref().map(thumbs::ThumbnailRun::start);
    let conn = lib.conn_mut();
    let root_str = root.to_string_lossy().into_owned();
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| root_str.clone());
    let corpus = {
        // A new corpus and its `running` state commit together (a kill in between would
        // leave a corpus with no state), and `running` becomes visible only with this
        // process's lock held.
        let tx = conn.transaction()?;
        let corpus = write::upsert_corpus(&tx, &root_str, &name, layout.name())?;
        tx.execute(
            "UPDATE corpora SET index_state = 'running',
               index_state_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = ?1",
            [corpus],
        )?;
        let lock = RunLock::take_index(&library_dir, corpus)?;
        tx.commit()?;
        *running = Some((corpus, lock));
        corpus
    };
    progress.subject("corpus", corpus);
    let stored_before: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM images WHERE corpus_id = ?1)
             OR EXISTS (SELECT 1 FROM reports WHERE corpus_id = ?1)",
        [corpus],
        |r| r.get(0),
    )?;
    let mut run = CorpusRun {
        corpus,
        stored_before,
        root: &root,
        opts,
        thumbs: thumbs.as_deref(),
        errors: Vec::new(),
        progress,
        counts: ImageCounts::default(),
        found_images: write::Found::default(),
        found_reports: write::Found::default(),
    };
    let mut linker = write::Linker::new(conn, corpus, schema.as_ref(), with_split)?;
    progress.stage("indexing", total);
    let pieces = match source {
        layout::Source::Whole(plan) => run.piece(conn, &mut linker, plan),
        layout::Source::Streamed(survey) => {
            let segment = opts.segment_files.max(1);
            layout::stream(&root, skip, &survey, segment, |plan| {
                run.piece(conn, &mut linker, plan)
            })
            .map(|errors| run.errors.extend(errors))
        }
    };
    pieces?;
    let tx = conn.transaction()?;
    write::mark_unfound_missing(&tx, corpus, &run.found_images, &run.found_reports)?;
    write::replace_errors(&tx, corpus, &run.errors)?;
    write::finish_corpus(&tx, corpus)?;
    tx.commit()?;

    let counts = crate::store::read::store_corpus_counts(conn, corpus)?;
    Ok(IndexSummary {
        corpus,
        root: root_str,
        layout: layout.name().to_owned(),
        pairs: counts.pairs,
        images: counts.images,
        reports: counts.reports,
        unpaired_images: counts.unpaired_images,
        unpaired_reports: counts.unpaired_reports,
        errors: run.errors.len() as u64,
        unchanged: run.counts.unchanged,
        missing: counts.missing,
        added: run.counts.added - run.counts.moved,
        moved: run.counts.moved,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One corpus being indexed: what every stage needs, and the errors it records.
struct CorpusRun<'a> {
    corpus: i64,
    /// The corpus had image or report rows before this run (else there is nothing to
    /// look up: a first index).
    stored_before: bool,
    /// The corpus root, canonical.
    root: &'a Path,
    opts: &'a IndexOptions,
    thumbs: Option<&'a Path>,
    errors: Vec<IngestError>,
    progress: &'a dyn Progress,
    counts: ImageCounts,
    /// The image and report rows this run found (the rest are missing at the end).
    found_images: write::Found,
    found_reports: write::Found,
}

/// How the images of a run went.
#[derive(Default)]
struct ImageCounts {
    unchanged: u64,
    /// Read and written (new, changed or moved).
    added: u64,
    /// Of `added`: found again by their hash under another path.
    moved: u64,
}

impl CorpusRun<'_> {
    /// Indexes one piece of the plan (the whole plan, or some folders of a streamed one):
    /// its reports first, since its images point at them.
    fn piece(
        &mut self,
        conn: &mut Connection,
        linker: &mut write::Linker,
        plan: layout::Plan,
    ) -> Result<()> {
        let layout::Plan {
            images,
            reports,
            errors,
            ..
        } = plan;
        self.errors.extend(errors);
        let report_ids = self.reports(conn, &reports)?;
        drop(reports);
        self.images(conn, linker, &images, &report_ids)
    }

    /// Reads new and changed reports and keeps unchanged ones; answers the report id of
    /// every planned source. (Those not found at all are marked missing at the end.)
    fn reports(
        &mut self,
        conn: &mut Connection,
        planned_reports: &[layout::PlannedReport],
    ) -> Result<HashMap<String, i64>> {
        let corpus = self.corpus;
        let old_reports = match self.stored_before {
            true => write::stored(
                conn,
                write::Rows::Reports,
                corpus,
                planned_reports.iter().map(|r| r.source.as_str()),
            )?,
            false => HashMap::new(),
        };
        let mut report_ids: HashMap<String, i64> = HashMap::new();
        let (errors, found) = (&mut self.errors, &mut self.found_reports);
        let limits = &self.opts.limits;
        pipelined(
            planned_reports,
            |r| read_planned_report(r, old_reports.get(&r.source), limits),
            |batch, results| {
                let tx = conn.transaction()?;
                for (planned, res) in batch.iter().zip(results) {
                    let id = match res {
                        Ok(ReadReport::Unchanged(id)) => {
                            write::mark_report_present(&tx, id)?;
                            id
                        }
                        Ok(ReadReport::New(parsed, file)) => {
                            if parsed.lossy {
                                errors.push(IngestError::new(
                                    planned.source.clone(),
                                    ErrorKind::NonUtf8,
                                    "report is not valid UTF-8; indexed with replacement characters",
                                ));
                            }
                            let id = write::upsert_report(
                                &tx,
                                corpus,
                                &planned.source,
                                file.as_ref(),
                                &parsed,
                            )?;
                            write::set_report_tags(&tx, id, &planned.tags)?;
                            id
                        }
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    };
                    found.insert(id);
                    report_ids.insert(planned.source.clone(), id);
                }
                Ok(tx.commit()?)
            },
            self.progress,
        )?;
        Ok(report_ids)
    }

    /// Images: unchanged ones are only re-linked; new and changed ones are read (a moved
    /// file keeps its image id, found by hash). (Those not found at all are marked
    /// missing at the end.)
    fn images(
        &mut self,
        conn: &mut Connection,
        linker: &mut write::Linker,
        images: &[layout::PlannedImage],
        report_ids: &HashMap<String, i64>,
    ) -> Result<()> {
        let (corpus, root, stored_before) = (self.corpus, self.root, self.stored_before);
        let planned: Vec<_> = images.iter().filter(|p| p.file.is_some()).collect();
        let old_images = match self.stored_before {
            true => write::stored(
                conn,
                write::Rows::Images,
                corpus,
                planned
                    .iter()
                    .filter_map(|p| p.file.as_ref().map(|f| f.rel.as_str())),
            )?,
            false => HashMap::new(),
        };
        let (unchanged, changed): (Vec<_>, Vec<_>) = planned.into_iter().partition(|p| {
            p.file.as_ref().is_some_and(|f| {
                old_images
                    .get(&f.rel)
                    .is_some_and(|o| o.size == f.size && o.mtime_ns == f.mtime_ns)
            })
        });
        // The report read in this piece, or in an earlier one of this run.
        let found_reports = &self.found_reports;
        let report_of = |tx: &Connection, p: &layout::PlannedImage| -> Result<Option<i64>> {
            match p.report.as_deref() {
                None => Ok(None),
                Some(r) => match report_ids.get(r) {
                    Some(id) => Ok(Some(*id)),
                    None => write::found_report(tx, corpus, r, found_reports),
                },
            }
        };
        let found = &mut self.found_images;
        {
            let tx = conn.transaction()?;
            for p in &unchanged {
                let Some(old) = p.file.as_ref().and_then(|f| old_images.get(&f.rel)) else {
                    continue;
                };
                write::set_image_missing(&tx, old.id, false)?;
                linker.link(&tx, old.id, p, report_of(&tx, p)?, None)?;
                found.insert(old.id);
            }
            tx.commit()?;
        }
        self.progress.advance(unchanged.len() as u64);
        self.counts.unchanged += unchanged.len() as u64;
        let (limits, thumbs, errors) = (&self.opts.limits, self.thumbs, &mut self.errors);
        let counts = &mut self.counts;
        pipelined(
            &changed,
            |p| match p.file.as_ref() {
                Some(file) => media::process(file, limits, thumbs),
                None => Err(IngestError::new(
                    "",
                    ErrorKind::Layout,
                    "planned image without a file",
                )),
            },
            |batch, results| {
                let tx = conn.transaction()?;
                for (p, res) in batch.iter().zip(results) {
                    let Some(file) = p.file.as_ref() else {
                        continue;
                    };
                    let mut meta = match res {
                        Ok(m) => m,
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    };
                    if let Some(w) = meta.warning.take() {
                        errors.push(w);
                    }
                    let reuse = match old_images.get(&file.rel) {
                        Some(old) => Some(old.id),
                        None if !stored_before => None,
                        None => {
                            let m =
                                write::vanished_with_hash(&tx, corpus, root, &meta.hash, found)?;
                            counts.moved += u64::from(m.is_some());
                            m
                        }
                    };
                    let id = write::write_image(&tx, corpus, file, &meta, reuse)?;
                    linker.link(&tx, id, p, report_of(&tx, p)?, Some(&meta))?;
                    found.insert(id);
                    counts.added += 1;
                }
                Ok(tx.commit()?)
            },
            self.progress,
        )
    }
}

/// Runs `compute` over `items` in parallel batches and hands each batch's results to
/// `write` (one transaction per batch) while the next batch is being computed, so the
/// single writer and the readers overlap. Checks for cancellation between batches.
fn pipelined<T: Sync, R: Send>(
    items: &[T],
    compute: impl Fn(&T) -> R + Sync,
    mut write: impl FnMut(&[T], Vec<R>) -> Result<()>,
    progress: &dyn Progress,
) -> Result<()> {
    let run = |batch: &[T]| -> Vec<R> {
        batch
            .par_iter()
            .map(|item| {
                let r = compute(item);
                progress.advance(1);
                r
            })
            .collect()
    };
    std::thread::scope(|scope| {
        let mut pending: Option<(&[T], Vec<R>)> = None;
        for batch in items.chunks(BATCH) {
            if progress.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let next = scope.spawn(|| run(batch));
            if let Some((done, results)) = pending.take() {
                write(done, results)?;
            }
            let results = next
                .join()
                .map_err(|_| Error::Invalid("an ingest worker panicked".into()))?;
            pending = Some((batch, results));
        }
        match pending {
            Some((done, results)) => write(done, results),
            None => Ok(()),
        }
    })
}

enum ReadReport {
    Unchanged(i64),
    New(report::ParsedReport, Option<scan::FileRef>),
}

fn read_planned_report(
    r: &layout::PlannedReport,
    old: Option<&write::Stored>,
    limits: &Limits,
) -> Result<ReadReport, IngestError> {
    let file = match &r.content {
        layout::ReportContent::File(f) => Some(f),
        layout::ReportContent::Text { from, .. } => from.as_ref(),
    };
    if let (Some(f), Some(old)) = (file, old)
        && old.size == f.size
        && old.mtime_ns == f.mtime_ns
    {
        return Ok(ReadReport::Unchanged(old.id));
    }
    let parsed = match &r.content {
        layout::ReportContent::File(f) => report::read_report(f, limits.max_report_bytes)?,
        layout::ReportContent::Text { text, .. } => {
            report::check_text(&r.source, text.clone(), false)?
        }
    };
    Ok(ReadReport::New(parsed, file.cloned()))
}
