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
    assert_eq!(shown["status"], "accepted");
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
    env.run(&["label", "review", "1", "flagged"]);
    assert_eq!(
        env.json(&["label", "show", "1", "--json"])["status"],
        "flagged"
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
