//! Pairlab's desktop shell (Tauri 2): the window's web UI (`ui/dist`) calls one command
//! per JSON endpoint that core declares (`pairlab_core::api::endpoints`), each a single
//! delegating call into core; images come through the `pairlab:` protocol and job
//! progress over a channel.
//!
//! - `commands`: the commands (generated from core's declarations) and their names;
//! - `protocol`: `pairlab://localhost/pairs/{id}/image|thumb`.

#![cfg_attr(
    test,
    allow(
        clippy::too_many_lines,
        reason = "a test reads as one scenario, top to bottom; the non-test build still checks every other function"
    )
)]

mod commands;
mod protocol;

use std::path::PathBuf;

use pairlab_core::jobs::Jobs;
use pairlab_core::{Error, Library};

pub use commands::{COMMANDS, handler};
pub use protocol::respond as protocol_response;

/// What every command works on: the library folder and its jobs.
pub struct Shell {
    pub library: PathBuf,
    pub jobs: Jobs,
}

impl Shell {
    pub fn new(library: PathBuf) -> Shell {
        Shell {
            jobs: Jobs::new(&library),
            library,
        }
    }
}

/// The library this window works on: `PAIRLAB_LIBRARY`, else the platform data folder.
pub fn library_dir() -> Result<PathBuf, Error> {
    match std::env::var_os("PAIRLAB_LIBRARY") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Library::default_dir(),
    }
}

/// The app on `builder`: `tauri::Builder::default()` for the window, tauri's
/// `mock_builder()` in tests.
pub fn setup<R: tauri::Runtime>(builder: tauri::Builder<R>, shell: Shell) -> tauri::Builder<R> {
    let library = shell.library.clone();
    builder
        .plugin(tauri_plugin_dialog::init())
        .manage(shell)
        .register_asynchronous_uri_scheme_protocol("pairlab", move |_ctx, request, responder| {
            let library = library.clone();
            let if_none_match = request
                .headers()
                .get(tauri::http::header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            std::thread::spawn(move || {
                let path = request.uri().path();
                responder.respond(protocol::respond(&library, path, if_none_match.as_deref()))
            });
        })
        .invoke_handler(handler())
}
