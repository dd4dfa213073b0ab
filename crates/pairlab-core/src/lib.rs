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

/// The commit the running binary was built from: its `main` says it once at start
/// ([`set_build_commit`]), because only the binaries' build scripts ask git (core itself
/// does not, so that a commit does not rebuild everything downstream of it).
static BUILD_COMMIT: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Records the commit this binary was built from (a binary's `main`, once).
pub fn set_build_commit(commit: &'static str) {
    let _ = BUILD_COMMIT.set(commit);
}

/// The commit this binary was built from, when its `main` said so.
pub fn build_commit() -> Option<&'static str> {
    BUILD_COMMIT.get().copied()
}
