//! Records the commit the `pairlab` binary is built from (`pairlab --version`).

include!("build-support/commit.rs");

fn main() {
    emit_commit();
}
