//! The joint image–report trainers through the CLI, on a folders-layout corpus (classes
//! `bright` / `dark`, an imported train/val/test split) whose images tell the class for
//! half of the pairs and whose reports tell it for the other half: `text` learns from the
//! reports and skips pairs without one; `fusion` beats each side alone in its ablation,
//! predicts pairs without a report, and pre-labels from its run.

use image::{GrayImage, Luma};

use crate::util::Env;

/// Pair `k` of `class` in `part`: an image that shows the class when `k` is even (else a
/// mid-grey that does not), and a report that names it when `k` is odd (else one that says
/// nothing); `report: false` leaves the report out.
fn pair(env: &Env, part: &str, class: &str, k: u32, report: bool) {
    let base = match (k % 2, class) {
        (0, "bright") => 200,
        (0, _) => 40,
        _ => 120,
    };
    let img = GrayImage::from_fn(40, 40, |x, y| {
        Luma([(base + (x * 7 + y * 3 + k * 11) % 40) as u8])
    });
    img.save(env.path(&format!("{part}/{class}/{k}.png")))
        .expect("png");
    if report {
        let text = if k % 2 == 1 {
            format!("FINDINGS: The film is very {class} throughout.\nIMPRESSION: {class} film.")
        } else {
            "FINDINGS: Study reviewed.\nIMPRESSION: See the images.".to_string()
        };
        env.write(&format!("{part}/{class}/{k}.txt"), text);
    }
}

fn corpus(env: &Env) {
    for (part, n) in [("train", 24), ("val", 8), ("test", 12)] {
        for class in ["bright", "dark"] {
            for k in 0..n {
                // Four test pairs have no report at all (image-telling ones).
                let report = !(part == "test" && k % 6 == 0);
                pair(env, part, class, k, report);
            }
        }
    }
    env.index(&["--layout", "folders"]);
    let clip = env.library.parent().expect("tmp").join("tiny-clip");
    crate::models::tiny_clip(&clip);
    env.run(&["model", "add", &clip.to_string_lossy(), "--name", "tiny"]);
    let minilm = crate::models::fixture("minilm");
    env.run(&[
        "model",
        "add",
        &minilm.to_string_lossy(),
        "--name",
        "minilm",
    ]);
}

#[test]
fn text_and_fusion_runs_through_the_cli() {
    let env = Env::new();
    corpus(&env);
    let base = [
        "train", "--schema", "class", "--split", "imported", "--seed", "3", "--json",
    ];

    // `text`, head only: trains on the reports; the four pairs without one are counted.
    let args: Vec<&str> = base
        .iter()
        .copied()
        .chain([
            "--trainer",
            "text",
            "--text-model",
            "minilm",
            "--epochs",
            "40",
            "--lr",
            "0.01",
        ])
        .collect();
    let run = env.json(&args);
    assert_eq!(
        (run["status"].as_str(), run["trainer"].as_str()),
        (Some("done"), Some("text")),
        "{run}"
    );
    assert_eq!(run["model"], "minilm");
    assert_eq!(run["text_model"], "minilm");
    assert_eq!(run["pairs_without_inputs"], 4, "{run}");
    let id = run["run_id"].as_i64().expect("id").to_string();
    let e = env.json(&["eval", "--run", &id, "--split", "test", "--json"]);
    assert!(e["map"].as_f64().is_some(), "{e}");
    assert!(e["ablation"].is_null(), "a text run has no ablation");

    // `fusion` (concat and attention): each side alone is right about three quarters of
    // the time, both together nearly always.
    for kind in ["concat", "attention"] {
        let args: Vec<&str> = base
            .iter()
            .copied()
            .chain([
                "--trainer",
                "fusion",
                "--model",
                "tiny",
                "--text-model",
                "minilm",
                "--fusion",
                kind,
                "--epochs",
                "80",
                "--lr",
                "0.01",
            ])
            .collect();
        let run = env.json(&args);
        assert_eq!(run["status"], "done", "{run}");
        assert_eq!(
            (run["model"].as_str(), run["text_model"].as_str()),
            (Some("tiny"), Some("minilm"))
        );
        assert_eq!(
            run["pairs_without_inputs"], 0,
            "pairs without a report are predicted from their image"
        );
        let id = run["run_id"].as_i64().expect("id").to_string();
        let e = env.json(&["eval", "--run", &id, "--split", "test", "--json"]);
        let a = &e["ablation"];
        let f1 = |v: &str| a[v]["macro_f1"].as_f64().expect("macro F1");
        let (image, report, both) = (f1("image"), f1("report"), f1("both"));
        assert!(both >= 0.9, "{kind}: {a} {run}");
        assert!(
            both > image + 0.1 && both > report + 0.1,
            "{kind}: {image} {report} {both}"
        );
        assert_eq!(e["macro_f1"].as_f64(), Some(both));
        assert!(
            a["image"]["map"].as_f64().is_some()
                && a["image"]["per_class"][0]["auroc"].as_f64().is_some()
        );
        let text = env.run(&["eval", "--run", &id, "--split", "test"]);
        assert!(
            text.contains("ablation") && text.contains("report only"),
            "{text}"
        );

        // Pre-labels from the run reach the pairs without a report too.
        let p = env.json(&["prelabel", "model", "--run", &id, "--json"]);
        assert_eq!(p["pairs"], 88, "{p}");
        let none = env.query(&format!(
            "SELECT COUNT(*) FROM labels l JOIN pairs p ON p.id = l.pair_id
             WHERE l.source = 'model:run-{id}' AND p.report_id IS NULL AND l.value = 1"
        ));
        assert_eq!(none[0][0], "4");
        // A pair with a report shows the tokens that weighed in its positive label.
        let with_report = env.query("SELECT MIN(id) FROM pairs WHERE report_id IS NOT NULL");
        let pair = &with_report[0][0];
        let shown = env.json(&[
            "label",
            "show",
            pair,
            "--schema",
            "class",
            "--evidence",
            "--json",
        ]);
        let tokens = shown["model_evidence"].as_array().expect("evidence");
        assert!(
            tokens.iter().any(|t| t["rule"]
                .as_str()
                .is_some_and(|r| r.contains(&format!("run {id} (fusion)")))),
            "{shown}"
        );
    }

    // Bad settings are refused before anything trains.
    let fails = |extra: &[&str], needle: &str| {
        let args: Vec<&str> = base.iter().copied().chain(extra.iter().copied()).collect();
        let out = env.command(&args).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{extra:?}: {err}"
        );
    };
    fails(&["--trainer", "text"], "needs --text-model");
    fails(
        &["--trainer", "text", "--text-model", "tiny"],
        "BERT-family",
    );
    fails(
        &["--trainer", "fusion", "--text-model", "minilm"],
        "needs --model",
    );
    fails(
        &[
            "--trainer",
            "fusion",
            "--model",
            "tiny",
            "--text-model",
            "minilm",
            "--unfreeze",
            "all",
        ],
        "frozen",
    );
    fails(
        &[
            "--trainer",
            "text",
            "--text-model",
            "minilm",
            "--text-section",
            "summary",
        ],
        "impression, findings or both",
    );
    let runs = env.query("SELECT COUNT(*) FROM runs");
    assert_eq!(runs[0][0], "3", "refused runs leave no trace");
}

#[test]
fn the_learned_report_labeler_through_the_cli() {
    let env = Env::new();
    let effusion = "FINDINGS: Large left pleural effusion.\nIMPRESSION: Left pleural effusion.";
    let clear = "FINDINGS: The lungs are clear.\nIMPRESSION: No acute disease.";
    for i in 0..30u32 {
        env.write(
            &format!("p{i:02}.png"),
            crate::util::png_bytes(24, 24, i as u8),
        );
        env.write(
            &format!("p{i:02}.txt"),
            if i % 2 == 0 { effusion } else { clear },
        );
    }
    env.index(&[]);
    // Without a text model it says what to add.
    let out = env.command(&["labeler", "learn"]).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no BERT-family text model"),
        "{err}"
    );
    let minilm = crate::models::fixture("minilm");
    env.run(&[
        "model",
        "add",
        &minilm.to_string_lossy(),
        "--name",
        "minilm",
    ]);
    let run = env.json(&[
        "labeler",
        "learn",
        "--unfreeze",
        "head",
        "--epochs",
        "30",
        "--json",
    ]);
    assert_eq!(
        (
            run["trainer"].as_str(),
            run["split"].as_str(),
            run["status"].as_str()
        ),
        (Some("text"), Some("labeler-chexpert"), Some("done")),
        "{run}"
    );
    let id = run["run_id"].as_i64().expect("id").to_string();
    // Scored beside the rules on a gold file in the CheXpert layout.
    let gold = env.write(
        "gold.csv",
        format!(
            "Reports,Pleural Effusion,No Finding\n\"{effusion}\",1.0,0.0\n\"{clear}\",0.0,1.0\n\"Small right effusion.\",1.0,0.0\n"
        ),
    );
    let e = env.json(&[
        "labeler",
        "eval",
        "--gold",
        &gold.to_string_lossy(),
        "--run",
        &id,
        "--json",
    ]);
    assert_eq!(e["reports"], 3, "{e}");
    let f1 = |side: &serde_json::Value| {
        side.as_array()
            .expect("rows")
            .iter()
            .find(|r| r["class"] == "Pleural Effusion")
            .and_then(|r| r["f1"].as_f64())
            .expect("f1")
    };
    assert_eq!(f1(&e["rules"]), 1.0, "{e}");
    assert!(f1(&e["run"]["classes"]) > 0.5, "{e}");
    let text = env.run(&[
        "labeler",
        "eval",
        "--gold",
        &gold.to_string_lossy(),
        "--run",
        &id,
    ]);
    assert!(
        text.contains("rules P/R/F1") && text.contains("learned P/R/F1"),
        "{text}"
    );
    // An image run cannot label texts.
    let out = env
        .command(&[
            "labeler",
            "eval",
            "--gold",
            &gold.to_string_lossy(),
            "--run",
            "999",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success(), "run 999 does not exist");
}
