//! Workspace integration tests: the real `pairlab` binary against real corpora in
//! temporary folders and a real SQLite library. One test binary, many modules.

#![allow(
    clippy::too_many_lines,
    reason = "a test reads as one scenario, top to bottom"
)]

mod bad_input;
mod cli;
mod crash;
mod dicom;
mod finetune;
mod formats;
mod joint;
mod labels;
mod layouts;
mod models;
mod reindex;
mod report_labeler;
mod runs;
mod splits;
mod util;
