//! Local models through the CLI: a tiny random CLIP (HF layout, real CLIP tokenizer) and
//! the real all-MiniLM-L6-v2 text encoder, on small corpora; and the errors of bad models.

use std::path::{Path, PathBuf};

use pairlab_ml::random_weights::{Init, write_model};
use serde_json::{Value, json};

use crate::util::Env;

pub fn fixture(name: &str) -> PathBuf {
    let dir = pairlab_ml::random_weights::fixtures_root().join(name);
    assert!(
        dir.is_dir(),
        "{} is missing: run scripts/fetch-fixtures.sh",
        dir.display()
    );
    dir
}

pub fn tiny_clip(dir: &Path) {
    let cfg = json!({
        "model_type": "clip", "projection_dim": 24,
        "text_config": {"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 77},
        "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "image_size": 32, "patch_size": 8}
    });
    write_model(dir, &cfg, Init::Random { seed: 11 }).expect("tiny CLIP");
    std::fs::copy(
        fixture("clip-tokenizer").join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .expect("tokenizer");
}

const REPORTS: [&str; 6] = [
    "FINDINGS: Large right pleural effusion.\nIMPRESSION: Right pleural effusion.",
    "FINDINGS: Small left pleural effusion with atelectasis.\nIMPRESSION: Left effusion.",
    "FINDINGS: Lungs are clear.\nIMPRESSION: No acute cardiopulmonary process.",
    "FINDINGS: Clear lungs, normal heart size.\nIMPRESSION: Normal chest.",
    "FINDINGS: Right upper lobe pneumothorax.\nIMPRESSION: Pneumothorax.",
    "The patient was seen in clinic for knee pain after a fall.",
];

fn corpus(env: &Env) {
    for (i, r) in REPORTS.iter().enumerate() {
        env.png(&format!("p{i}.png"), i as u8 * 40 + 1);
        env.write(&format!("p{i}.txt"), r);
    }
    env.index(&[]);
}

fn norm(v: &Value) -> f64 {
    v.as_array()
        .expect("vector")
        .iter()
        .map(|x| x.as_f64().expect("number").powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn clip_model_end_to_end() {
    let env = Env::new();
    corpus(&env);
    // An extra exact copy for the duplicate finder.
    std::fs::copy(env.corpus.join("p0.png"), env.corpus.join("copy0.png")).expect("copy");
    env.index(&[]);
    let model_dir = env.library.parent().expect("tmp").join("tiny-clip");
    tiny_clip(&model_dir);
    let m = model_dir.to_string_lossy().into_owned();

    let added = env.json(&["model", "add", &m, "--name", "tiny", "--json"]);
    assert_eq!(
        (added["family"].as_str(), added["dim"].as_u64()),
        (Some("clip"), Some(24))
    );
    let list = env.json(&["model", "list", "--json"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1));

    let e = env.json(&[
        "encode",
        "--model",
        "tiny",
        "--text",
        "pleural effusion",
        "--json",
    ]);
    assert_eq!(
        (e["model"].as_str(), e["kind"].as_str(), e["dim"].as_u64()),
        (Some("tiny"), Some("text"), Some(24))
    );
    assert!((norm(&e["embedding"]) - 1.0).abs() < 1e-4);
    // The same numbers as the library's encoder.
    let direct = pairlab_ml::Encoder::load(&model_dir)
        .expect("load")
        .embed_texts(&["pleural effusion"])
        .expect("embed");
    for (a, b) in e["embedding"].as_array().expect("v").iter().zip(&direct[0]) {
        assert!((a.as_f64().expect("f") - f64::from(*b)).abs() < 1e-6);
    }
    let img = env.corpus.join("p1.png").to_string_lossy().into_owned();
    let e = env.json(&["encode", "--model", "tiny", "--image", &img, "--json"]);
    assert_eq!(
        (e["kind"].as_str(), e["dim"].as_u64()),
        (Some("image"), Some(24))
    );

    // An indexed image that breaks afterwards is recorded and skipped, the rest go on.
    std::fs::write(env.corpus.join("p5.png"), b"\x89PNG\r\n\x1a\ntruncated").expect("break");
    let s = env.json(&["embed", "--model", "tiny", "--json"]);
    assert_eq!(
        (
            s["images"].as_u64(),
            s["failed"].as_u64(),
            s["reports"].as_u64()
        ),
        (Some(6), Some(1), Some(6))
    );
    // Resumable: a second run computes nothing new and does not retry the failure.
    let s = env.json(&["embed", "--model", "tiny", "--json"]);
    assert_eq!(
        (
            s["images"].as_u64(),
            s["images_existing"].as_u64(),
            s["failed"].as_u64()
        ),
        (Some(0), Some(6), Some(0))
    );

    // Adding the same, unchanged folder again keeps its vectors.
    env.json(&["model", "add", &m, "--name", "tiny", "--json"]);
    let kept = env.query("SELECT COUNT(*) FROM embeddings WHERE kind = 'image'");
    assert_eq!(kept[0][0], "6");

    let hits = env.json(&[
        "similar", "--model", "tiny", "--text", "effusion", "--k", "3", "--json",
    ]);
    let hits = hits.as_array().expect("hits");
    assert_eq!(hits.len(), 3);
    assert!(
        hits.windows(2)
            .all(|w| w[0]["score"].as_f64() >= w[1]["score"].as_f64())
    );
    let hits = env.json(&[
        "similar", "--model", "tiny", "--pair", "1", "--k", "10", "--json",
    ]);
    let hits = hits.as_array().expect("hits");
    assert_eq!(
        hits.len(),
        5,
        "every other embedded image, never the query itself"
    );
    assert!(hits.iter().all(|h| h["pair"] != 1));

    // Six embedded images: p0–p4 and copy0 (p5 failed).
    let z = env.json(&["prelabel", "zero-shot", "--model", "tiny", "--json"]);
    assert_eq!(
        (z["pairs"].as_u64(), z["labels"].as_u64()),
        (Some(6), Some(6 * 14))
    );
    let rows = env.query("SELECT COUNT(*), MIN(confidence) >= 0, MAX(confidence) <= 1 FROM labels WHERE source = 'model:tiny'");
    assert_eq!(rows[0], vec!["84", "1", "1"]);

    let mm = env.json(&["mismatch", "--model", "tiny", "--limit", "3", "--json"]);
    // p0–p4: copy0 has no report and p5's image failed.
    assert_eq!(mm["summary"]["pairs"].as_u64(), Some(5));
    assert_eq!(mm["pairs"].as_array().map(Vec::len), Some(3));

    let d = env.json(&["duplicates", "--model", "tiny", "--json"]);
    let exact = d["exact"].as_array().expect("exact");
    assert_eq!(exact.len(), 1);
    let mut names: Vec<&str> = exact[0]["members"]
        .as_array()
        .expect("m")
        .iter()
        .map(|m| m["image"].as_str().expect("s"))
        .collect();
    names.sort();
    assert_eq!(names, vec!["copy0.png", "p0.png"]);
}

#[test]
fn minilm_report_search() {
    let env = Env::new();
    corpus(&env);
    let m = fixture("minilm").to_string_lossy().into_owned();
    let added = env.json(&["model", "add", &m, "--json"]);
    assert_eq!(
        (
            added["name"].as_str(),
            added["family"].as_str(),
            added["dim"].as_u64()
        ),
        (Some("minilm"), Some("bert"), Some(384))
    );
    let s = env.json(&["embed", "--model", "minilm", "--json"]);
    assert_eq!(
        (s["images"].as_u64(), s["reports"].as_u64()),
        (Some(0), Some(6))
    );
    let out = env
        .command(&["embed", "--model", "minilm", "--what", "images"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("encodes text only"));

    let hits = env.json(&[
        "similar",
        "--model",
        "minilm",
        "--text",
        "fluid in the pleural space",
        "--k",
        "2",
        "--json",
    ]);
    let top: Vec<&str> = hits
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["image"].as_str().expect("s"))
        .collect();
    let mut top = top;
    top.sort();
    assert_eq!(
        top,
        vec!["p0.png", "p1.png"],
        "the two effusion reports come first"
    );
    // report → reports: the nearest report to the knee-pain note is far from it.
    let hits = env.json(&[
        "similar", "--model", "minilm", "--pair", "1", "--k", "1", "--json",
    ]);
    assert_eq!(
        hits[0]["image"].as_str(),
        Some("p1.png"),
        "effusion report's nearest is the other effusion"
    );
}

fn fails(env: &Env, args: &[&str], extra_env: &[(&str, &Path)], needle: &str) {
    let mut cmd = env.command(args);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    cmd.env("HF_HUB_OFFLINE", "1");
    let out = cmd.output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn model_errors_and_the_hub_cache() {
    let env = Env::new();
    let tmp = env.library.parent().expect("tmp").to_path_buf();
    let hf_home = tmp.join("hf");
    std::fs::create_dir_all(&hf_home).expect("mkdir");
    fails(
        &env,
        &["model", "add", "/no/such/folder"],
        &[],
        "no such folder",
    );
    let odd = tmp.join("odd");
    std::fs::create_dir_all(&odd).expect("mkdir");
    std::fs::write(odd.join("config.json"), r#"{"model_type": "llama"}"#).expect("write");
    fails(
        &env,
        &["model", "add", &odd.to_string_lossy()],
        &[],
        "unknown model architecture \"llama\"",
    );
    fails(
        &env,
        &["model", "add", "acme/tiny-clip"],
        &[("HF_HOME", &hf_home)],
        "not in the local Hugging Face cache",
    );
    fails(
        &env,
        &["embed", "--model", "nothing"],
        &[],
        "pairlab model add",
    );

    // The same hub id, present in the local cache: added offline from there.
    let repo = hf_home.join("hub/models--acme--tiny-clip");
    let snap = repo.join("snapshots/0123abcd");
    tiny_clip(&snap);
    std::fs::create_dir_all(repo.join("refs")).expect("refs");
    std::fs::write(repo.join("refs/main"), "0123abcd").expect("ref");
    let mut cmd = env.command(&["model", "add", "acme/tiny-clip", "--json"]);
    cmd.env("HF_HOME", &hf_home).env("HF_HUB_OFFLINE", "1");
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (rec["name"].as_str(), rec["source"].as_str()),
        (Some("tiny-clip"), Some("hub:acme/tiny-clip"))
    );

    // Files changed under a registered model: refused with the way out.
    std::fs::write(snap.join("config.json"), "{}").expect("write");
    fails(
        &env,
        &["embed", "--model", "tiny-clip"],
        &[],
        "its files changed since it was added",
    );
}

/// A BiomedCLIP-style open_clip folder (timm ViT + BERT, made by open_clip:
/// tests/reference/make_biomedclip.py) through the CLI: `model add` says what it is, `encode`
/// gives open_clip's text embedding, `embed` encodes a corpus's images and reports.
#[test]
fn biomedclip_folder_through_the_cli() {
    let env = Env::new();
    corpus(&env);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/reference");
    let m = root.join("biomedclip_tiny").to_string_lossy().into_owned();
    let added = env.json(&["model", "add", &m, "--name", "biomed", "--json"]);
    assert_eq!(
        (added["family"].as_str(), added["dim"].as_u64()),
        (Some("clip"), Some(64)),
        "{added}"
    );
    let text = std::fs::read_to_string(root.join("biomedclip_tiny.json")).expect("reference");
    let refs: Value = serde_json::from_str(&text).expect("json");
    let sentence = refs["texts"][0].as_str().expect("text");
    let e = env.json(&["encode", "--model", "biomed", "--text", sentence, "--json"]);
    let want = refs["text_features"][0].as_array().expect("row");
    let got = e["embedding"].as_array().expect("embedding");
    assert_eq!(got.len(), want.len());
    for (a, b) in got.iter().zip(want) {
        let (a, b) = (a.as_f64().expect("f"), b.as_f64().expect("f"));
        assert!((a - b).abs() < 1e-4, "{a} vs open_clip's {b}");
    }
    let s = env.json(&["embed", "--model", "biomed", "--json"]);
    assert_eq!(
        (
            s["images"].as_u64(),
            s["reports"].as_u64(),
            s["failed"].as_u64()
        ),
        (Some(6), Some(6), Some(0)),
        "{s}"
    );
}
