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

    /// Inter-annotator agreement of a schema, with at most `limit` disagreements.
    pub fn agreement(
        &self,
        schema: &str,
        limit: usize,
    ) -> Result<labels::agreement::AgreementReport> {
        labels::agreement::agreement(self.conn(), schema, limit)
    }

    /// Serves the next pair to label (see `queue::next`); None when the queue is empty.
    pub fn next_pair(
        &mut self,
        args: &crate::queue::NextArgs,
    ) -> Result<Option<crate::queue::NextPair>> {
        crate::queue::next(self.conn_mut(), args)
    }
}
