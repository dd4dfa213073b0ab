//! Labelling from the command line: set, undo, redo, history, show, review and schemas.

use crate::util::Env;

#[test]
fn label_commands_round_trip() {
    let env = Env::new();
    env.png("a.png", 1);
    env.write("a.txt", "IMPRESSION: Edema.");
    env.index(&[]);
    let set = env.run(&["label", "set", "1", "Edema", "1", "--annotator", "alice"]);
    assert!(set.contains("blank → 1"), "{set}");
    env.run(&[
        "label",
        "set",
        "1",
        "Pleural Effusion",
        "-1",
        "--annotator",
        "alice",
    ]);
    let shown = env.json(&["label", "show", "1", "--json"]);
    // Labelling classes by hand is not accepting the pair.
    assert_eq!(shown["status"], "labelled");
    let labels: Vec<(String, i64)> = shown["labels"]
        .as_array()
        .expect("labels")
        .iter()
        .map(|l| {
            (
                l["class"].as_str().unwrap_or("").to_owned(),
                l["value"].as_i64().unwrap_or(9),
            )
        })
        .collect();
    assert_eq!(
        labels,
        vec![("Edema".into(), 1), ("Pleural Effusion".into(), -1)]
    );
    let undo = env.run(&["label", "undo", "--annotator", "alice"]);
    assert!(undo.contains("Pleural Effusion: -1 → blank"), "{undo}");
    let redo = env.run(&["label", "redo", "--annotator", "alice"]);
    assert!(redo.contains("Pleural Effusion: blank → -1"), "{redo}");
    let nothing = env.run(&["label", "undo", "--annotator", "bob"]);
    assert!(nothing.contains("nothing to undo"), "{nothing}");
    let history = env.json(&["label", "history", "1", "--json"]);
    let kinds: Vec<&str> = history
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(kinds, ["set", "set", "undo", "redo"]);
    assert_eq!(history[0]["annotator"], "alice");
    let status = || env.json(&["label", "show", "1", "--json"])["status"].clone();
    let said = env.run(&["label", "review", "1", "flagged"]);
    assert!(said.contains("pair 1: flagged"), "{said}");
    assert_eq!(status(), "flagged");
    let said = env.run(&["label", "review", "1", "unreviewed"]);
    assert!(said.contains("pair 1: labelled"), "{said}");
    assert_eq!(status(), "labelled");
    let bad = env
        .command(&["label", "review", "1", "pre-labelled"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("accepted, rejected, flagged, unreviewed")
    );

    // Bad input is a clear error, not a panic.
    let bad = env
        .command(&["label", "set", "1", "Edema", "7"])
        .output()
        .expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected 1, 0, -1 or blank"));
    let bad = env
        .command(&["label", "set", "1", "Nope", "1"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a class of schema chexpert"));

    // User schemas from TOML.
    let file = env.write(
        "../tb.toml",
        "name = \"tb\"\nkind = \"multi-class\"\nclasses = [\"normal\", \"tb\"]\n",
    );
    env.run(&["schema", "add", &file.to_string_lossy()]);
    let schemas = env.json(&["schema", "list", "--json"]);
    let names: Vec<&str> = schemas
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["chexpert", "tb"]);
    env.run(&["label", "set", "1", "tb", "1", "--schema", "tb"]);
}

/// Four `label set` processes at a time, on different pairs, while another process indexes
/// a second folder into the same library: every command succeeds (writers wait for the
/// write lock instead of failing with "database is locked") and every label is there.
#[test]
fn concurrent_label_processes_while_indexing_all_succeed() {
    let env = Env::new();
    for i in 0..4 {
        env.png(&format!("p{i}.png"), i as u8 + 1);
        env.write(&format!("p{i}.txt"), "IMPRESSION: Edema.");
    }
    env.index(&[]);
    // A second corpus, beside the first, for the concurrent indexing run.
    let other = env.corpus.with_file_name("other");
    for i in 0..240u8 {
        std::fs::create_dir_all(&other).expect("dir");
        let png = crate::util::png_bytes(64, 64, i);
        std::fs::write(other.join(format!("o{i}.png")), png).expect("png");
        std::fs::write(other.join(format!("o{i}.txt")), "FINDINGS: Clear.").expect("txt");
    }
    let indexer = env
        .command(&["index", &other.to_string_lossy(), "--json"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("index starts");
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=4)
            .map(|pair| {
                let env = &env;
                s.spawn(move || {
                    let mut failures = Vec::new();
                    for i in 0..11 {
                        let value = ["1", "0", "-1", "blank"][i % 4];
                        let (pair, annotator) = (pair.to_string(), format!("ann{pair}"));
                        let out = env
                            .command(&[
                                "label",
                                "set",
                                &pair,
                                "Edema",
                                value,
                                "--annotator",
                                &annotator,
                            ])
                            .output()
                            .expect("label set runs");
                        if !out.status.success() {
                            failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("writer thread"))
            .collect()
    });
    let indexed = indexer.wait_with_output().expect("index ends");
    assert!(
        indexed.status.success(),
        "{}",
        String::from_utf8_lossy(&indexed.stderr)
    );
    assert!(
        failures.is_empty(),
        "{} of 44 label commands failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    // The last value each writer set (round 10: -1).
    for pair in 1..=4 {
        let shown = env.json(&["label", "show", &pair.to_string(), "--json"]);
        let edema = shown["labels"]
            .as_array()
            .expect("labels")
            .iter()
            .find(|l| l["class"] == "Edema" && l["source"] == "human")
            .cloned();
        assert_eq!(
            edema.map(|l| l["value"].clone()),
            Some((-1).into()),
            "pair {pair}"
        );
    }
    let stats = env.json(&["stats", "--json"]);
    assert_eq!(stats["pairs"], 244, "{stats}");
}

#[test]
fn users_are_added_listed_and_revoked() {
    let env = Env::new();
    let added = env.json(&["users", "add", "ann", "--role", "reviewer", "--json"]);
    assert_eq!(added["role"], "reviewer");
    let token = added["token"].as_str().expect("token");
    assert_eq!(token.len(), 64);
    let text = env.run(&["users", "add", "bob"]);
    assert!(text.contains("added bob (annotator)"), "{text}");
    let listed = env.json(&["users", "list", "--json"]);
    let names: Vec<&str> = listed
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["ann", "bob"]);
    assert!(
        !listed.to_string().contains(token),
        "tokens are never listed"
    );
    let dup = env
        .command(&["users", "add", "ann"])
        .output()
        .expect("runs");
    assert!(!dup.status.success());
    let bad = env
        .command(&["users", "add", "carol", "--role", "boss"])
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&bad.stderr).contains("annotator, reviewer or admin"));
    env.run(&["users", "revoke", "ann"]);
    let listed = env.json(&["users", "list", "--json"]);
    assert!(listed[0]["revoked_at"].is_string(), "{listed}");
    assert!(listed[1]["revoked_at"].is_null(), "{listed}");
    let again = env
        .command(&["users", "revoke", "ann"])
        .output()
        .expect("runs");
    assert!(!again.status.success());
}

#[test]
fn a_reviewer_decides_a_disagreement_from_the_command_line() {
    let env = Env::new();
    env.png("a.png", 1);
    env.write("a.txt", "IMPRESSION: Edema.");
    env.index(&[]);
    env.run(&["label", "set", "1", "Edema", "1", "--annotator", "ann"]);
    env.run(&["label", "set", "1", "Edema", "0", "--annotator", "bob"]);
    let open = env.json(&["agreement", "--open", "--json"]);
    assert_eq!(open["open_disagreements"], 1, "{open}");
    let listed = env.run(&["agreement"]);
    assert!(listed.contains("1 disagreements, 1 open"), "{listed}");
    let done = env.json(&[
        "agreement",
        "resolve",
        "--pair",
        "1",
        "--class",
        "Edema",
        "--value",
        "1",
        "--annotator",
        "rev",
        "--json",
    ]);
    assert_eq!(done["label_events"], 1, "{done}");
    assert_eq!(done["disagreement"]["resolution"]["reviewer"], "rev");
    let shown = env.json(&["label", "show", "1", "--json"]);
    assert_eq!(shown["labels"][0]["value"], 1, "{shown}");
    let after = env.json(&["agreement", "--open", "--json"]);
    assert_eq!(after["open_disagreements"], 0, "{after}");
    assert_eq!(after["disagreements"], serde_json::json!([]));
    assert_eq!(after["annotators"], serde_json::json!(["ann", "bob"]));
    let listed = env.run(&["agreement"]);
    assert!(listed.contains("→ 1 (decided by rev)"), "{listed}");
    // The label goes back with an undo; --reopen opens the disagreement again.
    let undo = env.run(&["label", "undo", "--annotator", "rev"]);
    assert!(undo.contains("Edema: 1 → 0"), "{undo}");
    let reopened = env.run(&[
        "agreement",
        "resolve",
        "--pair",
        "1",
        "--class",
        "Edema",
        "--reopen",
    ]);
    assert!(reopened.contains("open again"), "{reopened}");
    // Refused, with the reason: a value that is no decision, and no value at all.
    let bad = env
        .command(&[
            "agreement",
            "resolve",
            "--pair",
            "1",
            "--class",
            "Edema",
            "--value",
            "7",
        ])
        .output()
        .expect("runs");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected 1, 0, -1"));
    let none = env
        .command(&["agreement", "resolve", "--pair", "1", "--class", "Edema"])
        .output()
        .expect("runs");
    assert!(!none.status.success());
}
