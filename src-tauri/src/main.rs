//! The Pairlab window: `pairlab-app` (the library is `PAIRLAB_LIBRARY` or the platform
//! data folder).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use pairlab_app::{Shell, library_dir, setup};
use pairlab_core::Library;

fn main() {
    pairlab_core::set_build_commit(env!("PAIRLAB_COMMIT"));
    let result = library_dir().map_err(|e| e.to_string()).and_then(|dir| {
        // Open once first: creates or migrates the library. When it cannot, the window opens
        // all the same and says why (each call answers the error): an app started from a
        // desktop menu has no terminal to print to.
        if let Err(e) = Library::open(&dir) {
            eprintln!("error: cannot open the library at {}: {e}", dir.display());
        }
        setup(tauri::Builder::default(), Shell::new(dir))
            .run(tauri::generate_context!())
            .map_err(|e| e.to_string())
    });
    if let Err(e) = result {
        eprintln!("error: Pairlab could not start its window: {e}");
        std::process::exit(1);
    }
}
