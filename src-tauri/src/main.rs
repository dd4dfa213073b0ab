//! The Pairlab window: `pairlab-app` (the library is `PAIRLAB_LIBRARY` or the platform
//! data folder).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use pairlab_app::{Shell, library_dir, setup};

fn main() {
    let result = library_dir().map_err(|e| e.to_string()).and_then(|dir| {
        setup(tauri::Builder::default(), Shell::new(dir))
            .run(tauri::generate_context!())
            .map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        eprintln!("error: Pairlab could not start its window: {e}");
        std::process::exit(1);
    }
}
