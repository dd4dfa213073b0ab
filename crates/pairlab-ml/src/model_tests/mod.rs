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

/// A small random Hugging Face CLIP in `dir` whose vision tower has 4 heads of 16 (not the
/// 64-wide heads of published ViTs) at 32 px; returns its config.json.
pub fn tiny_vit_clip(dir: &Path, seed: u64) -> Value {
    let cfg = serde_json::json!({
        "model_type": "clip", "projection_dim": 24,
        "text_config": {"vocab_size": 100, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 16},
        "vision_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "image_size": 32, "patch_size": 8}
    });
    crate::random_weights::write_model(dir, &cfg, crate::random_weights::Init::Random { seed })
        .expect("tiny CLIP");
    cfg
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
