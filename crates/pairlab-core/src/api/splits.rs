//! The split part of the API.

use crate::error::Result;
use crate::library::Library;
use crate::splits::{self, LeakageReport, SplitOptions, SplitSummary};

impl Library {
    /// Makes (or remakes, unless frozen) a split of every present pair.
    pub fn make_split(&mut self, opts: &SplitOptions) -> Result<SplitSummary> {
        splits::create(self.conn_mut(), opts)
    }

    /// All splits with their part sizes.
    pub fn splits(&self) -> Result<Vec<SplitSummary>> {
        splits::list(self.conn())
    }

    /// Freezes a split so that it can no longer be remade.
    pub fn freeze_split(&self, name: &str) -> Result<SplitSummary> {
        splits::freeze(self.conn(), name)
    }

    /// Patients and (near-)duplicate images shared across a split's parts.
    pub fn leakage(&self, split: &str, near: splits::NearOptions) -> Result<LeakageReport> {
        splits::leakage(self.conn(), &self.thumbs_dir(), split, near)
    }
}
