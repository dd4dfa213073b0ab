//! kill -9 in the middle of indexing, labelling and splitting: afterwards the library
//! opens, passes SQLite's integrity checks (the file's and the full-text index's), every
//! label a process acknowledged is there, a split is either whole or absent, and a new
//! index run completes.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use crate::util::Env;

fn write_corpus(env: &Env, n: u32) {
    for i in 0..n {
        env.write(
            &format!("d{}/p{i:04}.png", i / 100),
            crate::util::png_bytes(48, 48, (i % 251) as u8),
        );
        env.write(
            &format!("d{}/p{i:04}.txt", i / 100),
            format!("FINDINGS: Case {i}. Small left effusion.\nIMPRESSION: Effusion."),
        );
    }
}

/// The library opens again (a kill may even come before its first migration committed,
/// which leaves an empty file that the next open migrates) and is consistent: SQLite's
/// integrity check, the FTS index's own, and the foreign keys.
fn assert_consistent(env: &Env, when: &str) {
    env.run(&["stats", "--json"]);
    let db = env.db();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok", "{when}");
    db.execute(
        "INSERT INTO reports_fts(reports_fts) VALUES ('integrity-check')",
        [],
    )
    .unwrap_or_else(|e| panic!("{when}: full-text index: {e}"));
    let broken: i64 = db
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .expect("foreign keys");
    assert_eq!(broken, 0, "{when}");
}

/// Sends SIGKILL to a process group.
#[allow(
    unsafe_code,
    reason = "kill(2) on the child's process group; std has no safe call for it"
)]
fn kill_group(pgid: u32) {
    // SAFETY: kill(2) with a negative pid signals our own child's process group.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
}

#[test]
fn kill_9_mid_index_label_and_split_loses_nothing_acknowledged() {
    let env = Env::new();
    write_corpus(&env, 400);
    let corpus = env.corpus.to_string_lossy().into_owned();

    // Indexing, killed at several points; each time the library stays consistent, and the
    // next command that opens it says the run was interrupted (never still `running`).
    let mut interrupted = 0;
    for (trial, ms) in [40u64, 120, 250, 400].into_iter().enumerate() {
        let mut child = env
            .command(&["index", &corpus, "--json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("index starts");
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().expect("kill -9");
        child.wait().expect("reaped");
        assert_consistent(&env, &format!("index trial {trial} after {ms} ms"));
        let stats = env.json(&["stats", "--json"]);
        if let Some(c) = stats["corpus_list"].get(0) {
            let state = c["index_state"].as_str().unwrap_or("");
            assert!(["interrupted", "done"].contains(&state), "{state}: {c}");
            interrupted += usize::from(state == "interrupted");
        }
    }
    assert!(
        interrupted > 0,
        "at least one kill came while the corpus was being written"
    );
    let v = env.index(&[]);
    assert_eq!(v["pairs"], 400, "a full run after the kills: {v}");
    assert_consistent(&env, "after a full index");
    let stats = env.json(&["stats", "--json"]);
    assert_eq!(stats["corpus_list"][0]["index_state"], "done", "{stats}");
    let text = env.run(&["stats"]);
    assert!(!text.contains("again to finish"), "{text}");

    // Labelling: a shell loop of `label set` (one process each), killed as a group; every
    // label it printed as set is there.
    let bin = env!("CARGO_BIN_EXE_pairlab");
    let script = format!(
        "for i in $(seq 1 400); do \"{bin}\" --library \"{}\" label set $i Edema 1 \
         --annotator crash >/dev/null && echo \"ok $i\"; done",
        env.library.display()
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &script])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("loop starts");
    let pgid = child.id();
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.strip_prefix("ok ").and_then(|n| n.parse::<i64>().ok()))
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(2500));
    kill_group(pgid);
    child.wait().expect("reaped");
    let acknowledged = reader.join().expect("reader");
    assert!(
        !acknowledged.is_empty(),
        "some labels were set before the kill"
    );
    assert!(acknowledged.len() < 400, "the kill came mid-way");
    let stored: Vec<i64> = env
        .query(
            "SELECT pair_id FROM labels WHERE source = 'human' AND annotator = 'crash'
             AND value = 1 ORDER BY pair_id",
        )
        .into_iter()
        .map(|r| r[0].parse().expect("id"))
        .collect();
    for pair in &acknowledged {
        assert!(
            stored.contains(pair),
            "acknowledged label of pair {pair} lost"
        );
    }
    assert_consistent(&env, "after killing the labellers");

    // Splitting: killed or not, a split is whole or absent.
    for ms in [5u64, 30, 80] {
        let mut child = env
            .command(&["split", "--name", "s", "--strategy", "random"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("split starts");
        std::thread::sleep(Duration::from_millis(ms));
        child.kill().expect("kill -9");
        child.wait().expect("reaped");
        assert_consistent(&env, &format!("split killed after {ms} ms"));
        let members = env.query(
            "SELECT COUNT(*) FROM split_members m JOIN splits s ON s.id = m.split_id
             WHERE s.name = 's'",
        );
        let exists = env.query("SELECT COUNT(*) FROM splits WHERE name = 's'");
        match exists[0][0].as_str() {
            "0" => assert_eq!(members[0][0], "0"),
            _ => assert_eq!(members[0][0], "400", "a split is whole"),
        }
    }
}
