//! Export and label import.

use crate::error::Result;
use crate::labels;
use crate::library::Library;
use crate::progress::Progress;

impl Library {
    /// Exports the library's pairs (see `export::export`).
    pub fn export(
        &self,
        opts: &crate::export::ExportOptions,
        progress: &dyn Progress,
    ) -> Result<crate::export::ExportSummary> {
        crate::export::export(self.conn(), &self.thumbs_dir(), opts, progress)
    }
}

impl Library {
    /// Imports a label file (see `labels::import`).
    pub fn import_labels(
        &mut self,
        opts: &labels::import::ImportOptions,
        progress: &dyn Progress,
    ) -> Result<labels::import::ImportSummary> {
        labels::import::import_labels(self.conn_mut(), opts, progress)
    }

    /// Undoes a whole label import.
    pub fn undo_import(
        &mut self,
        id: i64,
        annotator: &str,
    ) -> Result<labels::import::ImportUndone> {
        labels::import::undo_import(self.conn_mut(), id, annotator)
    }

    /// Every label import, newest first.
    pub fn label_imports(&self) -> Result<Vec<labels::import::ImportRecord>> {
        labels::import::imports(self.conn())
    }

    /// Assigns pairs to annotators, a fraction to two (see `labels::agreement::assign`).
    pub fn assign(
        &mut self,
        opts: &labels::agreement::AssignOptions,
    ) -> Result<labels::agreement::AssignSummary> {
        labels::agreement::assign(self.conn_mut(), opts)
    }

    /// Inter-annotator agreement of a schema, with at most `limit` disagreements (only the
    /// open ones with `open_only`).
    pub fn agreement(
        &self,
        schema: &str,
        limit: usize,
        open_only: bool,
    ) -> Result<labels::agreement::AgreementReport> {
        labels::agreement::agreement(self.conn(), schema, limit, open_only)
    }

    /// A reviewer's decision on a disagreement (see `labels::adjudication::resolve`).
    pub fn resolve_disagreement(
        &mut self,
        decision: labels::adjudication::Decision,
    ) -> Result<labels::adjudication::Adjudicated> {
        labels::adjudication::resolve(self.conn_mut(), decision)
    }

    /// Serves the next pair to label (see `queue::next`); None when the queue is empty.
    pub fn next_pair(
        &mut self,
        args: &crate::queue::NextArgs,
    ) -> Result<Option<crate::queue::NextPair>> {
        crate::queue::next(self.conn_mut(), args)
    }

    /// Makes (or finds kept) a 2-D map of a model's embeddings (see `map::compute`).
    pub fn make_map(
        &mut self,
        opts: &crate::map::MapOptions,
        progress: &dyn Progress,
    ) -> Result<crate::map::MapSummary> {
        crate::map::compute(self.conn_mut(), opts, progress)
    }

    /// Every kept map, newest first.
    pub fn maps(&self) -> Result<Vec<crate::map::MapSummary>> {
        crate::map::list(self.conn())
    }

    /// A map's points.
    pub fn map_points(&self, id: i64) -> Result<crate::map::MapPoints> {
        crate::map::points(self.conn(), id)
    }

    /// The colours of a map's points.
    pub fn map_colours(
        &self,
        id: i64,
        args: &crate::map::ColourArgs,
    ) -> Result<crate::map::MapColours> {
        crate::map::colours(self.conn(), id, args)
    }

    /// Tags pairs by hand; how many got the tag.
    pub fn tag_pairs(&mut self, name: &str, pairs: &[i64]) -> Result<u64> {
        crate::map::tag_pairs(self.conn_mut(), name, pairs)
    }
}
