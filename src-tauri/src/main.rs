//! Pairlab's desktop shell (Tauri 2). Each command is one delegating call into
//! pairlab-core's API; the window's web UI lives in `ui/`.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::PathBuf;

use pairlab_core::store::read::Stats;
use pairlab_core::{Error, Library};

/// The library this window works on: `PAIRLAB_LIBRARY`, else the platform data folder.
fn library_dir() -> Result<PathBuf, Error> {
    match std::env::var_os("PAIRLAB_LIBRARY") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Library::default_dir(),
    }
}

#[tauri::command]
async fn stats() -> Result<Stats, Error> {
    Library::open(&library_dir()?)?.stats()
}

fn main() {
    let result = tauri::Builder::default()
        .invoke_handler(tauri::generate_handler![stats])
        .run(tauri::generate_context!());
    if let Err(e) = result {
        eprintln!("error: Pairlab could not start its window: {e}");
        std::process::exit(1);
    }
}
