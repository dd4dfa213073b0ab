//! Pairlab's core: the domain, the SQLite library, corpus ingest and the API that every
//! front end (CLI, HTTP server, Tauri shell) calls. It knows nothing of those front ends.

#![cfg_attr(
    test,
    allow(
        clippy::too_many_lines,
        reason = "a test reads as one scenario, top to bottom; the non-test build still checks every other function"
    )
)]

pub mod api;
pub mod browse;
pub mod demo;
pub mod embed;
pub mod error;
pub mod export;
pub mod ingest;
pub mod jobs;
pub mod label_issues;
pub mod labels;
pub mod library;
pub mod map;
pub mod models;
pub mod prelabel;
pub mod progress;
pub mod queue;
pub mod report_labeler;
pub mod runs;
pub mod splits;
pub mod store;
pub mod users;

pub use error::{Error, ErrorKind, Result};
pub use library::Library;
