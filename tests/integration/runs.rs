//! Training through the CLI: a head on a tiny CLIP's embeddings of a folders-layout corpus
//! (imported train/val/test split, multi-class schema `class`).

use image::{GrayImage, Luma};

use crate::util::Env;

fn write(env: &Env, rel: &str, bright: bool, k: u32) {
    let img = GrayImage::from_fn(40, 40, |x, y| {
        let base = if bright { 200 } else { 40 };
        Luma([(base + (x * 7 + y * 3 + k * 11) % 40) as u8])
    });
    img.save(env.path(rel)).expect("png");
}

#[test]
fn head_run_on_imported_split_is_stored_and_reproducible() {
    let env = Env::new();
    for (part, n) in [("train", 16), ("val", 6), ("test", 6)] {
        for k in 0..n {
            write(&env, &format!("{part}/bright/{k}.png"), true, k);
            write(&env, &format!("{part}/dark/{k}.png"), false, k);
        }
    }
    env.index(&["--layout", "folders"]);
    let model = env.library.parent().expect("tmp").join("tiny-clip");
    crate::models::tiny_clip(&model);
    env.run(&["model", "add", &model.to_string_lossy(), "--name", "tiny"]);

    let args = [
        "train", "--schema", "class", "--split", "imported", "--model", "tiny", "--epochs", "30",
        "--seed", "7", "--json",
    ];
    let run = env.json(&args);
    assert_eq!(run["status"], "done", "{run}");
    assert_eq!(run["classes"], serde_json::json!(["bright", "dark"]));
    let id = run["run_id"].as_i64().expect("run id");
    assert!(run["best_epoch"].as_u64().is_some_and(|e| e >= 1));
    let rows = env.query(&format!(
        "SELECT COUNT(*), COUNT(DISTINCT part) FROM run_predictions WHERE run_id = {id}"
    ));
    assert_eq!(rows[0], vec!["56", "3"]);
    let epochs = env.query(&format!(
        "SELECT COUNT(*) FROM run_epochs WHERE run_id = {id}"
    ));
    assert_eq!(
        epochs[0][0],
        run["epochs"].as_u64().expect("epochs").to_string()
    );

    // Same seed, same data: the same probabilities.
    let again = env.json(&args);
    let id2 = again["run_id"].as_i64().expect("id");
    let same = env.query(&format!(
        "SELECT COUNT(*) FROM run_predictions a JOIN run_predictions b ON a.pair_id = b.pair_id
         WHERE a.run_id = {id} AND b.run_id = {id2} AND a.probs = b.probs"
    ));
    assert_eq!(same[0][0], "56");
    assert_eq!(again["fingerprint"], run["fingerprint"]);
    let runs = env.json(&["runs", "--json"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(2));

    let out = env
        .command(&["train", "--split", "imported", "--schema", "class"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --model"));
    let out = env
        .command(&[
            "train", "--split", "nope", "--schema", "class", "--model", "tiny",
        ])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("split \"nope\""));
}

#[test]
fn cnn_run_learns_from_the_images_and_caches_them() {
    let env = Env::new();
    for (part, n) in [("train", 20), ("val", 6), ("test", 10)] {
        for k in 0..n {
            write(&env, &format!("{part}/bright/{k}.png"), true, k);
            write(&env, &format!("{part}/dark/{k}.png"), false, k);
        }
    }
    env.index(&["--layout", "folders"]);
    let args = [
        "train",
        "--trainer",
        "cnn",
        "--size",
        "16",
        "--schema",
        "class",
        "--split",
        "imported",
        "--epochs",
        "20",
        "--json",
    ];
    let run = env.json(&args);
    assert_eq!(
        (
            run["status"].as_str(),
            run["trainer"].as_str(),
            run["model"].as_str()
        ),
        (Some("done"), Some("cnn"), None)
    );
    let ids = run["run_id"].to_string();
    let e = env.json(&["eval", "--run", &ids, "--json"]);
    assert!(e["accuracy"].as_f64().expect("accuracy") >= 0.9, "{e}");
    assert_eq!(e["relabelled_since_training"], 0, "{e}");
    // Relabelling a test pair after training shows in the evaluation.
    let pair = env.query(
        "SELECT m.pair_id FROM split_members m JOIN splits s ON s.id = m.split_id
         WHERE s.name = 'imported' AND m.part = 'test' ORDER BY m.pair_id LIMIT 1",
    );
    let pair = &pair[0][0];
    let now = env.query(&format!(
        "SELECT class FROM labels WHERE pair_id = {pair} AND value = 1 LIMIT 1"
    ));
    let other = if now[0][0] == "bright" {
        "dark"
    } else {
        "bright"
    };
    env.run(&["label", "set", pair, other, "1", "--schema", "class"]);
    let e = env.json(&["eval", "--run", &ids, "--json"]);
    assert_eq!(e["relabelled_since_training"], 1, "{e}");
    let text = env.run(&["eval", "--run", &ids]);
    assert!(
        text.contains("1 pair of the test part has labels that differ"),
        "{text}"
    );
    let cached = std::fs::read_dir(env.library.join("cache/pixels-16"))
        .expect("cache")
        .count();
    let distinct = env.query("SELECT COUNT(DISTINCT hash) FROM images");
    assert_eq!(
        cached.to_string(),
        distinct[0][0],
        "one cache file per distinct image content"
    );
}

/// A training process killed with SIGKILL leaves its run `running` in the database; the
/// next command that opens the library finds nobody training it and marks it
/// `interrupted` (with when), while a live run is never taken for a dead one.
#[test]
fn a_killed_training_run_is_marked_interrupted() {
    let env = Env::new();
    for (part, n) in [("train", 24), ("val", 6), ("test", 6)] {
        for k in 0..n {
            write(&env, &format!("{part}/bright/{k}.png"), true, k);
            write(&env, &format!("{part}/dark/{k}.png"), false, k);
        }
    }
    env.index(&["--layout", "folders"]);
    let mut child = env
        .command(&[
            "train",
            "--schema",
            "class",
            "--split",
            "imported",
            "--trainer",
            "cnn",
            "--size",
            "28",
            "--epochs",
            "10000",
            "--json",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("train starts");
    let started = std::time::Instant::now();
    let run = loop {
        let runs = env.json(&["runs", "--json"]);
        if let Some(r) = runs.as_array().and_then(|a| a.first()) {
            // Opening the library while the run trains leaves it running.
            assert_eq!(r["status"], "running", "{r}");
            break r["run_id"].as_i64().expect("run id");
        }
        if let Some(status) = child.try_wait().expect("child") {
            panic!("training ended before its run appeared: {status}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no run appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    // Let it train a moment, check again, then kill it.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let runs = env.json(&["runs", "--json"]);
    assert_eq!(runs[0]["status"], "running", "{runs}");
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let runs = env.json(&["runs", "--json"]);
    assert_eq!(runs[0]["run_id"], run);
    assert_eq!(runs[0]["status"], "interrupted", "{runs}");
    let finished = env.query(&format!(
        "SELECT finished_at IS NOT NULL, message LIKE 'interrupted:%' FROM runs WHERE id = {run}"
    ));
    assert_eq!(finished, vec![vec!["1", "1"]]);
    let out = env
        .command(&["eval", "--run", &run.to_string()])
        .output()
        .expect("eval runs");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("interrupted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !env.library
            .join("locks")
            .join(format!("run-{run}.lock"))
            .exists(),
        "the stale lock file is gone"
    );
}
