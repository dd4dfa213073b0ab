include!("../build-support/commit.rs");

fn main() {
    // The commit the app is built from (its About).
    emit_commit();
    // The window embeds the built web UI; say how to build it instead of failing inside
    // tauri's macro.
    println!("cargo:rerun-if-changed=../ui/dist");
    if !std::path::Path::new("../ui/dist/index.html").is_file() {
        panic!(
            "the web UI is not built (ui/dist/index.html is missing): run `npm --prefix ui ci && npm --prefix ui run build` (scripts/test.sh does this)"
        );
    }
    tauri_build::build()
}
