//! Pretrained image classifiers through the CLI: `model add` of real `torch.save` files
//! (format detected and said, broken ones refused), `train --trainer finetune`, `model add
//! --from-run`, `encode` of a classifier, and `prelabel model --model` with the
//! torchxrayvision pathology table.

use std::path::PathBuf;

use super::util::Env;

fn checkpoint(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/reference/checkpoints")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn demo() -> Env {
    let env = Env::new();
    let dir = env.corpus.join("demo").to_string_lossy().into_owned();
    env.run(&["demo", "--dir", &dir]);
    env
}

#[test]
fn a_torchxrayvision_checkpoint_fine_tunes_registers_and_prelabels() {
    let env = demo();
    let added = env.json(&[
        "model",
        "add",
        &checkpoint("xrv_tiny_legacy.pt"),
        "--name",
        "xrv",
        "--json",
    ]);
    assert_eq!(added["family"], "densenet");
    assert_eq!(added["source"], "file");
    assert!(
        added["format"]
            .as_str()
            .is_some_and(|f| f.starts_with("torchxrayvision") && f.contains("pre-1.6")),
        "{added}"
    );
    let out = env
        .command(&["model", "add", &checkpoint("not_tensors.pt")])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("holds no tensors") && err.contains("never runs"),
        "{err}"
    );

    // Fine-tune the last stage and the head at 32 px for one epoch.
    let run = env.json(&[
        "train",
        "--trainer",
        "finetune",
        "--model",
        "xrv",
        "--split",
        "demo-by-patient",
        "--size",
        "32",
        "--epochs",
        "1",
        "--unfreeze",
        "1",
        "--batch",
        "8",
        "--json",
    ]);
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(
        (run["trainer"].as_str(), run["model"].as_str()),
        (Some("finetune"), Some("xrv"))
    );
    assert_eq!(
        (
            run["unfreeze"].as_str(),
            run["device"].as_str(),
            run["size"].as_u64()
        ),
        (Some("1"), Some("cpu"), Some(32))
    );
    let id = run["run_id"].as_i64().expect("id").to_string();
    let eval = env.json(&["eval", "--run", &id, "--split", "test", "--json"]);
    assert!(eval["samples"].as_u64().is_some_and(|n| n > 0), "{eval}");

    // The fine-tuned network becomes an image model: embeddings and similarity.
    let tuned = env.json(&[
        "model",
        "add",
        "--from-run",
        &id,
        "--name",
        "tuned",
        "--json",
    ]);
    assert_eq!(
        (tuned["from_run"].as_i64(), tuned["family"].as_str()),
        (run["run_id"].as_i64(), Some("densenet"))
    );
    assert!(
        tuned["format"]
            .as_str()
            .is_some_and(|f| f.starts_with("timm")),
        "{tuned}"
    );
    let e = env.json(&["embed", "--model", "tuned", "--json"]);
    assert_eq!(e["images"].as_u64(), Some(350), "{e}");
    let hits = env.json(&[
        "similar", "--model", "tuned", "--pair", "1", "--k", "3", "--json",
    ]);
    assert_eq!(hits.as_array().map(Vec::len), Some(3));
    // A cnn run is no image model.
    let cnn = env.json(&[
        "train",
        "--trainer",
        "cnn",
        "--split",
        "demo-by-patient",
        "--size",
        "16",
        "--epochs",
        "1",
        "--json",
    ]);
    let cnn_id = cnn["run_id"].as_i64().expect("id").to_string();
    let out = env
        .command(&["model", "add", "--from-run", &cnn_id])
        .output()
        .expect("run");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("only finetune runs"),
        "{out:?}"
    );

    // Pre-labels from the checkpoint's own outputs: Effusion feeds Pleural Effusion; the
    // stored confidence is the sigmoid of the logit `encode` reports for the pair's image.
    let p = env.json(&["prelabel", "model", "--model", "xrv", "--json"]);
    assert_eq!(
        (p["pairs"].as_u64(), p["labels"].as_u64()),
        (Some(350), Some(350 * 11)),
        "{p}"
    );
    let rows = env.query(
        "SELECT c.root || '/' || i.path, l.confidence, l.value FROM labels l JOIN pairs p ON p.id = l.pair_id
         JOIN images i ON i.id = p.image_id JOIN corpora c ON c.id = i.corpus_id
         WHERE l.source = 'model:xrv' AND l.class = 'Pleural Effusion' ORDER BY p.id LIMIT 1",
    );
    let (image, confidence, value) = (
        &rows[0][0],
        rows[0][1].parse::<f64>().expect("conf"),
        &rows[0][2],
    );
    let enc = env.json(&["encode", "--model", "xrv", "--image", image, "--json"]);
    assert_eq!(enc["dim"].as_u64(), Some(16));
    let logit = enc["outputs"]
        .as_array()
        .expect("outputs")
        .iter()
        .find(|o| o["name"] == "Effusion")
        .and_then(|o| o["logit"].as_f64())
        .expect("Effusion");
    let p = 1.0 / (1.0 + (-logit).exp());
    assert!((p - confidence).abs() < 1e-5, "{p} vs {confidence}");
    assert_eq!(value, if p >= 0.5 { "1" } else { "0" });
    let none = env.query("SELECT COUNT(*) FROM labels WHERE source = 'model:xrv' AND class IN ('No Finding', 'Support Devices')");
    assert_eq!(none[0][0], "0", "classes no output maps onto stay blank");
}

/// A BiomedCLIP-style open_clip model fine-tunes its image tower (a timm ViT): `--size`
/// other than its own is refused with the field, a run finishes and evaluates, and the run
/// registers as a ViT image model.
#[test]
fn a_clip_image_tower_fine_tunes_and_registers_as_a_vit() {
    let env = demo();
    let biomed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/reference/biomedclip_tiny")
        .to_string_lossy()
        .into_owned();
    env.json(&["model", "add", &biomed, "--name", "biomed", "--json"]);
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--trainer",
            "finetune",
            "--model",
            "biomed",
            "--split",
            "demo-by-patient",
            "--epochs",
            "1",
            "--unfreeze",
            "1",
            "--batch",
            "8",
            "--json",
        ];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let args = train(&["--size", "64"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.command(&refs).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("its own input size, 32 px"),
        "{err}"
    );

    let args = train(&[]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = env.json(&refs);
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["size"].as_u64(), Some(32), "{run}");
    let id = run["run_id"].as_i64().expect("id").to_string();
    let eval = env.json(&["eval", "--run", &id, "--split", "test", "--json"]);
    assert!(eval["samples"].as_u64().is_some_and(|n| n > 0), "{eval}");
    let tuned = env.json(&[
        "model",
        "add",
        "--from-run",
        &id,
        "--name",
        "tuned",
        "--json",
    ]);
    assert_eq!(
        (tuned["family"].as_str(), tuned["dim"].as_u64()),
        (Some("vit"), Some(128)),
        "{tuned}"
    );
    let e = env.json(&["embed", "--model", "tuned", "--json"]);
    assert_eq!(e["images"].as_u64(), Some(350), "{e}");
}
