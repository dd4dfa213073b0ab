//! Re-indexing is incremental: unchanged files are skipped, new ones added, vanished ones
//! marked missing, moved ones recognised by hash (keeping their pair, labels and id).

use std::time::{Duration, SystemTime};

use crate::util::{Env, assert_counts, png_bytes};

#[test]
fn modify_add_delete_move() {
    modify_add_delete_move_with(&[]);
}

/// The same with every folder a piece of its own of the streamed plan.
#[test]
fn modify_add_delete_move_folder_by_folder() {
    modify_add_delete_move_with(&["--segment-files", "1"]);
}

fn modify_add_delete_move_with(extra: &[&str]) {
    let env = Env::new();
    for i in 0..5u8 {
        env.png(&format!("img{i}.png"), i);
        env.write(&format!("img{i}.txt"), format!("IMPRESSION: case {i}."));
    }
    let first = env.index(extra);
    assert_counts(
        &first,
        &[("pairs", 5), ("images", 5), ("added", 5), ("unchanged", 0)],
    );
    let id_of = |path: &str| {
        env.query(&format!(
            "SELECT p.id FROM pairs p JOIN images i ON i.id = p.image_id WHERE i.path = '{path}'"
        ))
    };
    let moved_pair = id_of("img3.png");

    // Unchanged: nothing is read again.
    let again = env.index(extra);
    assert_counts(
        &again,
        &[
            ("pairs", 5),
            ("unchanged", 5),
            ("added", 0),
            ("moved", 0),
            ("missing", 0),
        ],
    );

    // Modify img0 (new content and mtime), add img5, delete img1, move img3 into a folder
    // together with its report.
    let p0 = env.write("img0.png", png_bytes(48, 48, 99));
    let later = SystemTime::now() + Duration::from_secs(5);
    std::fs::File::options()
        .write(true)
        .open(&p0)
        .and_then(|f| f.set_modified(later))
        .expect("touch");
    env.png("img5.png", 5);
    env.write("img5.txt", "IMPRESSION: case 5.");
    std::fs::remove_file(env.path("img1.png")).expect("rm");
    std::fs::create_dir_all(env.path("moved")).expect("mkdir");
    std::fs::rename(env.path("img3.png"), env.path("moved/img3.png")).expect("mv");
    std::fs::rename(env.path("img3.txt"), env.path("moved/img3.txt")).expect("mv");

    let v = env.index(extra);
    assert_counts(
        &v,
        &[
            ("images", 5),
            ("pairs", 5),
            ("unchanged", 2), // img2 and img4
            ("added", 2),     // img0 (changed) and img5 (new)
            ("moved", 1),
            ("missing", 1),
            ("unpaired_reports", 1), // img1.txt lost its image
            ("errors", 0),
        ],
    );
    assert_eq!(
        id_of("moved/img3.png"),
        moved_pair,
        "a moved image keeps its pair"
    );
    assert_eq!(
        env.query("SELECT path, missing FROM images ORDER BY path"),
        vec![
            vec!["img0.png", "0"],
            vec!["img1.png", "1"],
            vec!["img2.png", "0"],
            vec!["img4.png", "0"],
            vec!["img5.png", "0"],
            vec!["moved/img3.png", "0"],
        ]
    );
    assert_eq!(
        env.query("SELECT width FROM images WHERE path = 'img0.png'"),
        vec![vec!["48"]]
    );
    assert_eq!(
        env.query("SELECT r.source FROM pairs p JOIN images i ON i.id = p.image_id JOIN reports r ON r.id = p.report_id WHERE i.path = 'moved/img3.png'"),
        vec![vec!["moved/img3.txt"]]
    );
    // `stats` reads the counts kept when the run ended; they are the live ones.
    let stats_agree = |summary: &serde_json::Value| {
        let s = env.json(&["stats", "--json"]);
        for k in [
            "pairs",
            "images",
            "missing",
            "unpaired_images",
            "unpaired_reports",
        ] {
            assert_eq!(s[k], summary[k], "{k}: {s}");
        }
    };
    stats_agree(&v);
    assert_eq!(
        env.query("SELECT counts IS NOT NULL FROM corpora"),
        vec![vec!["1"]]
    );
    // The deleted file comes back unchanged: it is present again.
    env.png("img1.png", 1);
    let back = env.index(extra);
    assert_counts(&back, &[("images", 6), ("missing", 0), ("pairs", 6)]);
    stats_agree(&back);
    // Without kept counts (a run that did not finish) they are counted live.
    env.db()
        .execute("UPDATE corpora SET counts = NULL", [])
        .expect("clear");
    stats_agree(&back);
}

#[test]
fn imported_labels_change_through_the_audit_trail() {
    let env = Env::new();
    env.png("cat/1.png", 1);
    env.png("cat/2.png", 2);
    env.png("dog/3.png", 3);
    env.index(&[]);
    let events = || env.query("SELECT COUNT(*) FROM label_events")[0][0].clone();
    assert_eq!(events(), "3", "one event per imported label");
    env.index(&[]);
    assert_eq!(
        events(),
        "3",
        "an unchanged re-index writes no label events"
    );
    // Moving an image to another class folder changes its imported label, same pair.
    let pair = env.query(
        "SELECT p.id FROM pairs p JOIN images i ON i.id = p.image_id WHERE i.path = 'cat/1.png'",
    );
    std::fs::rename(env.path("cat/1.png"), env.path("dog/1.png")).expect("mv");
    let v = env.index(&[]);
    assert_counts(&v, &[("moved", 1), ("images", 3)]);
    assert_eq!(events(), "5", "cat blanked and dog set");
    assert_eq!(
        env.query(&format!(
            "SELECT class, value, source FROM labels WHERE pair_id = {}",
            pair[0][0]
        )),
        vec![vec!["dog", "1", "import"]]
    );
}
