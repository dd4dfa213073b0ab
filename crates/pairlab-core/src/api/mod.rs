//! The API every front end calls: one method per operation, each a thin composition of
//! the store and the engines. The CLI, the HTTP server and the Tauri commands delegate
//! here and add nothing but transport.

use std::path::Path;

use crate::browse::{self, BrowseFilter, BrowsePage, BrowseSort};
use crate::error::Result;
use crate::ingest::{self, IndexOptions, IndexSummary};
use crate::labels::{self, CurrentLabel, LabelEvent, Schema, SchemaDef};
use crate::library::Library;
use crate::prelabel::{self, PrelabelSummary};
use crate::progress::Progress;
use crate::report_labeler::{Evidence, Labeler};
use crate::store::read::{self, ErrorRow, PairDetail, PairRow, SearchHit, Stats};
use requests::{ReviewStatus, SetReviewArgs};

pub mod bindings;
pub mod endpoint;
pub mod endpoints;
mod interop;
pub mod library_args;
mod media;
mod models;
pub mod requests;
pub mod routes;
mod runs;
mod splits;
mod users;
pub use endpoint::{Call, Endpoint, Visit};
pub(crate) use media::render_png;
pub use media::{MediaFile, etag_matches, is_plain_relative};
pub use models::{EncodeInput, Encoding};

impl Library {
    /// Indexes (or re-indexes, incrementally) the corpus at `root`.
    pub fn index(
        &mut self,
        root: &Path,
        opts: &IndexOptions,
        progress: &dyn Progress,
    ) -> Result<IndexSummary> {
        ingest::index(self, root, opts, progress)
    }

    /// Counts for the whole library and per corpus.
    pub fn stats(&self) -> Result<Stats> {
        read::stats(self.conn())
    }

    /// Full-text search over report text.
    pub fn search(&self, text: &str, limit: u32) -> Result<Vec<SearchHit>> {
        crate::store::search::search(self.conn(), text, limit)
    }

    /// Ingest errors with id greater than `after`.
    pub fn errors(&self, after: i64, limit: u32) -> Result<Vec<ErrorRow>> {
        read::errors(self.conn(), after, limit)
    }

    /// Pairs with id greater than `after`.
    pub fn pairs(&self, after: i64, limit: u32) -> Result<Vec<PairRow>> {
        browse::pairs(self.conn(), after, limit)
    }

    /// One page of the browse grid: pairs passing `filter` in the order `sort` asks for,
    /// after the cursor `after` (the `next` of the page before).
    pub fn browse(
        &self,
        filter: &BrowseFilter,
        sort: &BrowseSort,
        after: Option<&str>,
        limit: u32,
    ) -> Result<BrowsePage> {
        browse::browse(self.conn(), filter, sort, after, limit)
    }

    /// How many pairs the browse grid pages through for `filter` and `sort`.
    pub fn browse_count(&self, filter: &BrowseFilter, sort: &BrowseSort) -> Result<u64> {
        browse::count(self.conn(), filter, sort)
    }

    /// Everything about one pair.
    pub fn pair(&self, id: i64) -> Result<PairDetail> {
        read::pair(self.conn(), id)
    }

    /// All label schemas.
    pub fn schemas(&self) -> Result<Vec<Schema>> {
        labels::schema::list(self.conn())
    }

    /// Adds (or extends) a schema from the text of a TOML file.
    pub fn add_schema(&self, toml: &str) -> Result<Schema> {
        labels::schema::upsert(self.conn(), &SchemaDef::from_toml(toml)?)
    }

    /// A person sets (value Some) or blanks (None) one class of a pair.
    pub fn set_label(
        &mut self,
        pair: i64,
        schema: &str,
        class: &str,
        value: Option<i8>,
        annotator: &str,
    ) -> Result<Option<LabelEvent>> {
        labels::set_human(self.conn_mut(), pair, schema, class, value, annotator)
    }

    /// Undoes the annotator's latest label change.
    pub fn undo(&mut self, annotator: &str) -> Result<Option<LabelEvent>> {
        labels::undo(self.conn_mut(), annotator)
    }

    /// Redoes the annotator's latest undo.
    pub fn redo(&mut self, annotator: &str) -> Result<Option<LabelEvent>> {
        labels::redo(self.conn_mut(), annotator)
    }

    /// A pair's label audit trail, oldest first.
    pub fn label_history(&self, pair: i64) -> Result<Vec<LabelEvent>> {
        labels::history(self.conn(), pair)
    }

    /// A pair's current labels under a schema.
    pub fn current_labels(&self, pair: i64, schema: &str) -> Result<Vec<CurrentLabel>> {
        labels::current(self.conn(), pair, schema)
    }

    /// Where the report labeler found each of its labels in the pair's report (byte
    /// offsets into the report text), for highlighting; empty without a report.
    pub fn evidence(&self, pair: i64, schema: &str) -> Result<Vec<Evidence>> {
        let labeler = self.labeler_for(schema)?;
        Ok(match read::pair(self.conn(), pair)?.report {
            Some(report) => labeler.label(&report.text).evidence,
            None => Vec::new(),
        })
    }

    /// Why `text` and `fusion` runs labelled a pair's classes positive: the report tokens
    /// that weighed most, as evidence spans (byte offsets into the report text).
    pub fn model_evidence(&self, pair: i64, schema: &str) -> Result<Vec<Evidence>> {
        crate::runs::model_evidence(self.conn(), pair, schema)
    }

    /// A pair's review status under a schema.
    pub fn review_status(&self, pair: i64, schema: &str) -> Result<String> {
        labels::review_status(self.conn(), pair, schema)
    }

    /// The report labeler for a schema: the rules stored with it, else the built-in
    /// CheXpert rules for the `chexpert` schema.
    pub fn labeler_for(&self, schema: &str) -> Result<Labeler> {
        Self::labeler_for_conn(self.conn(), schema)
    }

    /// [`Library::labeler_for`] on a connection.
    pub(crate) fn labeler_for_conn(conn: &rusqlite::Connection, schema: &str) -> Result<Labeler> {
        let invalid = |e: crate::report_labeler::LabelerError| crate::Error::Invalid(e.to_string());
        match labels::schema::labeler_rules(conn, schema)? {
            Some(rules) => Labeler::from_toml(&rules).map_err(invalid),
            None if schema == "chexpert" => Labeler::chexpert().map_err(invalid),
            None => {
                labels::schema::get(conn, schema)?;
                Err(crate::Error::Invalid(format!(
                    "schema {schema} has no report rules: add a [labeler] table to its TOML file or pass --rules FILE"
                )))
            }
        }
    }

    /// Labels every pair from its report with the rule-based labeler.
    pub fn prelabel_reports(
        &mut self,
        labeler: &Labeler,
        schema: &str,
        progress: &dyn Progress,
    ) -> Result<PrelabelSummary> {
        prelabel::reports(self.conn_mut(), labeler, schema, progress)
    }

    /// A pair's review status under a schema, as the front ends show it.
    pub fn review(&self, pair: i64, schema: &str) -> Result<ReviewStatus> {
        Ok(ReviewStatus {
            pair,
            schema: schema.to_owned(),
            status: self.review_status(pair, schema)?,
        })
    }

    /// Sets a pair's review status and answers it.
    pub fn set_review_status(&self, args: &SetReviewArgs) -> Result<ReviewStatus> {
        self.set_review(args.pair, &args.schema, &args.status, &args.annotator)?;
        self.review(args.pair, &args.schema)
    }

    /// Sets a pair's review status (accepted, rejected, flagged, ...).
    pub fn set_review(&self, pair: i64, schema: &str, status: &str, annotator: &str) -> Result<()> {
        labels::set_review(self.conn(), pair, schema, status, annotator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn pairs_and_errors_page_by_key() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| crate::Error::io("tempdir", e))?;
        let corpus = tmp.path().join("c");
        std::fs::create_dir_all(&corpus).map_err(|e| crate::Error::io(&corpus, e))?;
        for i in 0..7u8 {
            let img = image::GrayImage::from_fn(8, 8, |x, y| image::Luma([x as u8 * i + y as u8]));
            img.save(corpus.join(format!("{i}.png")))
                .map_err(|e| crate::Error::io("png", std::io::Error::other(e)))?;
            std::fs::write(corpus.join(format!("bad{i}.png")), b"x")
                .map_err(|e| crate::Error::io("bad", e))?;
        }
        let mut lib = Library::open(&tmp.path().join("lib"))?;
        let summary = lib.index(&corpus, &IndexOptions::default(), &Silent)?;
        assert_eq!((summary.images, summary.errors), (7, 7));
        let (mut after, mut seen) = (0, Vec::new());
        loop {
            let page = lib.pairs(after, 3)?;
            let Some(last) = page.last() else { break };
            assert!(page.len() <= 3);
            after = last.id;
            seen.extend(page.iter().map(|p| p.id));
        }
        assert_eq!(seen.len(), 7);
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        let first = lib.errors(0, 4)?;
        let rest = lib.errors(first.last().map(|e| e.id).unwrap_or(0), 100)?;
        assert_eq!((first.len(), rest.len()), (4, 3));
        Ok(())
    }
}
