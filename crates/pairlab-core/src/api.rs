//! The API every front end calls: one method per operation, each a thin composition of
//! the store and the engines. The CLI, the HTTP server and the Tauri commands delegate
//! here and add nothing but transport.

use std::path::Path;

use crate::error::Result;
use crate::ingest::{self, IndexOptions, IndexSummary};
use crate::library::Library;
use crate::progress::Progress;
use crate::store::read::{self, ErrorRow, PairDetail, PairRow, SearchHit, Stats};

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
        read::search(self.conn(), text, limit)
    }

    /// Ingest errors with id greater than `after`.
    pub fn errors(&self, after: i64, limit: u32) -> Result<Vec<ErrorRow>> {
        read::errors(self.conn(), after, limit)
    }

    /// Pairs with id greater than `after`.
    pub fn pairs(&self, after: i64, limit: u32) -> Result<Vec<PairRow>> {
        read::pairs(self.conn(), after, limit)
    }

    /// Everything about one pair.
    pub fn pair(&self, id: i64) -> Result<PairDetail> {
        read::pair(self.conn(), id)
    }
}
