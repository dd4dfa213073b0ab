//! The training part of the API.

use crate::error::Result;
use crate::library::Library;
use crate::progress::Progress;
use crate::runs::{self, RunSummary, TrainOptions};

impl Library {
    /// Trains a classifier on a split and stores the run (checkpoint under `runs/<id>/`).
    pub fn train(&mut self, opts: &TrainOptions, progress: &dyn Progress) -> Result<RunSummary> {
        let dir = self.root().join("runs");
        runs::train(self.conn_mut(), &dir, opts, progress)
    }

    /// All runs, oldest first.
    pub fn runs(&self) -> Result<Vec<RunSummary>> {
        runs::list(self.conn())
    }

    pub fn run(&self, id: i64) -> Result<RunSummary> {
        runs::get(self.conn(), id)
    }
}
