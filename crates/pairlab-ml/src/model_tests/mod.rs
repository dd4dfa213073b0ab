//! Model tests: numerical parity with the NumPy reference (tests/reference), real
//! all-MiniLM-L6-v2 weights, tiny random CLIP loaded through the public loader, and the
//! errors a broken model folder must give.

mod backbones;
mod loading;
mod open_clip;
mod parity;

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The workspace root (fixtures under tests/data live there).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A committed reference fixture from tests/data/reference.
pub fn reference(name: &str) -> Value {
    let path = workspace().join("tests/data/reference").join(name);
    let text = std::fs::read_to_string(&path).expect("reference fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// A fetched model fixture (scripts/fetch-fixtures.sh puts them in the cache).
pub fn fixture(name: &str) -> PathBuf {
    let dir = crate::random_weights::fixtures_root().join(name);
    assert!(
        dir.is_dir(),
        "model fixture {} is missing: run scripts/fetch-fixtures.sh first",
        dir.display()
    );
    dir
}

pub fn matrix(v: &Value) -> Vec<Vec<f32>> {
    v.as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_f64().expect("number") as f32)
                .collect()
        })
        .collect()
}

pub fn assert_close(got: &[Vec<f32>], want: &[Vec<f32>], tol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (r, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: row {r} length");
        for (c, (a, b)) in g.iter().zip(w).enumerate() {
            assert!(
                (a - b).abs() <= tol,
                "{what}[{r}][{c}]: got {a}, reference {b} (tolerance {tol})"
            );
        }
    }
}
