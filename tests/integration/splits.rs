//! Splits through the CLI: patient splits never share a patient, stratified and random
//! splits, frozen splits, imported splits and the leakage audit.

use serde_json::Value;

use crate::util::Env;

fn parts(v: &Value) -> Vec<(String, u64)> {
    v["parts"]
        .as_array()
        .expect("parts")
        .iter()
        .map(|p| {
            (
                p["part"].as_str().expect("name").to_string(),
                p["pairs"].as_u64().expect("n"),
            )
        })
        .collect()
}

#[test]
fn patient_split_has_no_leakage_and_random_split_is_caught() {
    let env = Env::new();
    let dir = env.corpus.join("demo");
    env.run(&["demo", "--dir", &dir.to_string_lossy(), "--n", "30"]);
    let pairs = env.json(&["stats", "--json"])["pairs"]
        .as_u64()
        .expect("pairs");

    let s = env.json(&[
        "split",
        "--name",
        "by-patient",
        "--strategy",
        "patient",
        "--seed",
        "3",
        "--json",
    ]);
    let p = parts(&s);
    assert_eq!(
        p.iter().map(|x| x.0.as_str()).collect::<Vec<_>>(),
        vec!["train", "val", "test"]
    );
    assert_eq!(p.iter().map(|x| x.1).sum::<u64>(), pairs);
    assert!(p[0].1 > p[1].1 && p[0].1 > p[2].1, "{p:?}");
    let leak = env.json(&["leakage", "--split", "by-patient", "--json"]);
    assert_eq!(leak["patients"].as_array().map(Vec::len), Some(0), "{leak}");
    // Near duplicates are checked on the pixels: every candidate is a near duplicate, a
    // look-alike or unchecked, and --loose counts them all.
    assert_eq!(leak["loose"], false);
    let loose = env.json(&["leakage", "--split", "by-patient", "--loose", "--json"]);
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().expect("count");
    assert_eq!(
        n(&loose, "near_total"),
        n(&leak, "near_total") + n(&leak, "look_alikes") + n(&leak, "unchecked"),
        "{leak}"
    );
    // The same seed gives the same split.
    let again = env.json(&[
        "split",
        "--name",
        "by-patient",
        "--strategy",
        "patient",
        "--seed",
        "3",
        "--json",
    ]);
    assert_eq!(parts(&again), p);
    let members = |name: &str| {
        env.query(&format!(
        "SELECT m.pair_id, m.part FROM split_members m JOIN splits s ON s.id = m.split_id WHERE s.name = '{name}' ORDER BY 1"
    ))
    };
    let before = members("by-patient");
    env.json(&[
        "split",
        "--name",
        "by-patient",
        "--strategy",
        "patient",
        "--seed",
        "3",
        "--json",
    ]);
    assert_eq!(members("by-patient"), before);

    // A random split of images puts studies of one patient in different parts.
    env.json(&[
        "split",
        "--name",
        "rand",
        "--strategy",
        "random",
        "--ratios",
        "0.5,0.5",
        "--json",
    ]);
    let leak = env.json(&["leakage", "--split", "rand", "--json"]);
    assert!(
        !leak["patients"].as_array().expect("patients").is_empty(),
        "{leak}"
    );
    let shared = &leak["patients"][0];
    assert_eq!(shared["parts"], serde_json::json!(["test", "train"]));

    // Stratified by the report labeler's Pleural Effusion value.
    let s = env.json(&[
        "split",
        "--name",
        "strat",
        "--strategy",
        "stratified",
        "--schema",
        "chexpert",
        "--class",
        "Pleural Effusion",
        "--ratios",
        "0.5,0.5",
        "--json",
    ]);
    assert_eq!(parts(&s).iter().map(|x| x.1).sum::<u64>(), pairs);
    let by_part = env.query(
        "SELECT m.part, SUM(l.value = 1) FROM split_members m JOIN splits s ON s.id = m.split_id
         JOIN labels l ON l.pair_id = m.pair_id AND l.class = 'Pleural Effusion' AND l.source = 'report-rules'
         WHERE s.name = 'strat' GROUP BY m.part ORDER BY m.part",
    );
    let pos: Vec<i64> = by_part.iter().map(|r| r[1].parse().expect("n")).collect();
    assert!(
        (pos[0] - pos[1]).abs() <= 1,
        "positives spread evenly: {by_part:?}"
    );

    // Frozen splits cannot be remade.
    env.run(&["splits", "--freeze", "strat"]);
    let out = env
        .command(&["split", "--name", "strat", "--strategy", "random"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is frozen"));
    let list = env.json(&["splits", "--json"]);
    let names: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|s| s["name"].as_str().expect("n"))
        .collect();
    // demo-by-patient is the one `pairlab demo` made.
    assert_eq!(
        names,
        vec!["by-patient", "demo-by-patient", "rand", "strat"]
    );
    assert_eq!(list[3]["frozen"], true);

    let out = env
        .command(&["split", "--name", "x", "--strategy", "stratified"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --schema"));
    let out = env
        .command(&["split", "--name", "x", "--ratios", "0.5,-1"])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[test]
fn imported_split_with_duplicate_images_across_parts() {
    let env = Env::new();
    env.png("train/cat/a.png", 1);
    env.png("train/dog/b.png", 2);
    env.png("test/cat/a-copy.png", 1); // the same bytes as train/cat/a.png
    env.png("test/dog/c.png", 3);
    env.index(&["--layout", "folders"]);
    let list = env.json(&["splits", "--json"]);
    assert_eq!(list[0]["name"], "imported");
    let leak = env.json(&["leakage", "--split", "imported", "--json"]);
    let exact = leak["exact_duplicates"].as_array().expect("exact");
    assert_eq!(exact.len(), 1, "{leak}");
    assert_eq!(exact[0]["parts"], serde_json::json!(["test", "train"]));
    assert_eq!(exact[0]["pairs"].as_array().map(Vec::len), Some(2));
}
