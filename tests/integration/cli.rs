//! The other commands' JSON shapes and the demo, end to end.

use crate::util::{Env, assert_counts};

#[test]
fn stats_search_errors_show() {
    let env = Env::new();
    env.png("a.png", 1);
    env.write(
        "a.txt",
        "FINDINGS: Moderate right pleural effusion.\nIMPRESSION: Effusion.",
    );
    env.png("b.png", 2);
    env.write("b.txt", "FINDINGS: No pneumothorax.\nIMPRESSION: Normal.");
    env.write("c.png", "not an image");
    env.index(&[]);

    let stats = env.json(&["stats", "--json"]);
    assert_counts(
        &stats,
        &[
            ("corpora", 1),
            ("pairs", 2),
            ("images", 2),
            ("reports", 2),
            ("errors", 1),
        ],
    );
    assert_eq!(stats["formats"]["png"], 2);

    let hits = env.json(&["search", "pleural effusions", "--json"]);
    let hits = hits.as_array().expect("array");
    assert_eq!(
        hits.len(),
        1,
        "porter stemming matches the plural: {hits:?}"
    );
    assert_eq!(hits[0]["source"], "a.txt");
    assert!(
        hits[0]["snippet"]
            .as_str()
            .expect("snippet")
            .contains("[pleural]")
    );
    let pair_id = hits[0]["pairs"][0].as_i64().expect("pair id");

    let nothing = env.json(&["search", "cardiomegaly", "--json"]);
    assert_eq!(nothing.as_array().map(Vec::len), Some(0));
    // Query syntax characters are taken literally, never an SQL/FTS error.
    let odd = env.json(&["search", "\"effusion* (", "--json"]);
    assert_eq!(odd.as_array().map(Vec::len), Some(1));

    let errors = env.json(&["errors", "--json"]);
    assert_eq!(errors.as_array().map(Vec::len), Some(1));
    assert_eq!(errors[0]["path"], "c.png");
    assert_eq!(errors[0]["kind"], "corrupt");
    assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()));

    let show = env.json(&["show", &pair_id.to_string(), "--json"]);
    assert_eq!(show["image"]["path"], "a.png");
    assert_eq!(show["image"]["width"], 32);
    assert_eq!(
        show["report"]["findings"],
        "Moderate right pleural effusion."
    );
    assert_eq!(show["report"]["impression"], "Effusion.");
    assert_eq!(show["image"]["hash"].as_str().map(str::len), Some(64));

    let missing = env.command(&["show", "999"]).output().expect("run");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("not found: pair 999"));
}

#[test]
fn demo_writes_and_indexes_a_paired_corpus() {
    let env = Env::new();
    let dir = env.corpus.join("demo");
    let d = dir.to_string_lossy().into_owned();
    let out = env.run(&["demo", "--dir", &d, "--n", "6"]);
    assert!(out.contains("detected layout: mimic"), "{out}");
    assert!(out.contains("pairlab"), "prints what to run next: {out}");
    // With the fetched text encoder (scripts/fetch-fixtures.sh) it searches by meaning.
    assert!(
        out.contains("Reports closest in meaning") && out.contains("similar --model minilm"),
        "{out}"
    );
    assert!(
        out.contains("Split by patient") && out.contains("Trained a small CNN"),
        "{out}"
    );
    let runs = env.json(&["runs", "--json"]);
    assert_eq!(runs[0]["status"], "done");
    let models = env.json(&["model", "list", "--json"]);
    assert_eq!(models[0]["name"], "minilm");
    let stats = env.json(&["stats", "--json"]);
    let images = stats["images"].as_u64().expect("images");
    assert!(images >= 6, "{stats}");
    assert_eq!(
        stats["pairs"].as_u64(),
        Some(images),
        "every demo image has its report"
    );
    assert_eq!(stats["patients"], 6);
    assert_eq!(stats["errors"], 0);
    assert!(
        stats["formats"]["dicom"].as_u64().is_some_and(|n| n >= 1),
        "{stats}"
    );
    let truth = std::fs::read_to_string(dir.join("truth.csv")).expect("truth.csv");
    assert_eq!(truth.lines().count() as u64, images + 1);
    // Running it again reuses the corpus and re-indexes incrementally.
    let again = env.run(&["demo", "--dir", &d, "--n", "6"]);
    assert!(
        again.contains("reused")
            && again.contains(&format!("{images} unchanged"))
            && again.contains("Embedded 0 reports"),
        "{again}"
    );
}

/// `pairlab … | head`: output into a pipe whose reader has gone ends quietly and
/// successfully, not with a panic about printing to stdout.
#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    let env = Env::new();
    env.png("a.png", 1);
    env.write("a.txt", "IMPRESSION: Normal.");
    env.index(&[]);
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = env
        .command(&["stats"])
        .stdout(writer)
        .output()
        .expect("run pairlab");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "status {:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn version_names_the_commit_the_binary_was_built_from() {
    let env = Env::new();
    let version = env.run(&["--version"]);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let commit = match (std::env::var("PAIRLAB_COMMIT").ok(), head) {
        (Some(set), _) if !set.trim().is_empty() => set.trim().to_string(),
        (_, Some(head)) => head,
        _ => "unknown".into(),
    };
    assert_eq!(
        version.trim(),
        format!("pairlab {} (commit {commit})", env!("CARGO_PKG_VERSION"))
    );
}
