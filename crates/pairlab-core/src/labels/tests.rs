//! Labels: human vs machine precedence, undo/redo and the append-only trail.

use super::*;
use crate::store;

fn setup() -> Result<(tempfile::TempDir, Connection)> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let conn = store::open(&dir.path().join("t.db"))?;
    schema::upsert(&conn, &SchemaDef::chexpert()?)?;
    conn.execute_batch(
        "INSERT INTO corpora (id, root, name, layout) VALUES (1, '/c', 'c', 'stem');
         INSERT INTO images (id, corpus_id, path, size, mtime_ns, hash, width, height, format, bits, dhash)
           VALUES (1, 1, 'a.png', 1, 1, 'h', 1, 1, 'png', 8, 0);
         INSERT INTO pairs (id, corpus_id, image_id) VALUES (1, 1, 1);",
    )?;
    Ok((dir, conn))
}

fn value(conn: &Connection, class: &str) -> Result<Option<(i8, LabelSource)>> {
    Ok(current(conn, 1, "chexpert")?
        .into_iter()
        .find(|l| l.class == class)
        .map(|l| (l.value, l.source)))
}

#[test]
fn machine_labels_never_overwrite_human_ones() -> Result<()> {
    let (_d, mut conn) = setup()?;
    let chexpert = schema::get(&conn, "chexpert")?;
    set_human(&mut conn, 1, "chexpert", "Edema", Some(1), "ann")?;
    let sure = |confidence| Provenance {
        confidence: Some(confidence),
        ..Provenance::default()
    };
    let key = |source| LabelKey::new(1, &chexpert, "Edema", source);
    set_machine(&conn, key("report-rules"), Some(0), sure(0.99))?;
    set_machine(&conn, key("model:clip"), Some(-1), sure(0.7))?;
    assert_eq!(value(&conn, "Edema")?, Some((1, "human".into())));
    assert_eq!(stored(&conn, key(HUMAN))?, Some(1));
    // Without the human label, the most confident machine label is current.
    set_human(&mut conn, 1, "chexpert", "Edema", None, "ann")?;
    assert_eq!(value(&conn, "Edema")?, Some((0, "report-rules".into())));
    assert!(set_machine(&conn, key(HUMAN), Some(0), Provenance::default()).is_err());
    assert_eq!(review_status(&conn, 1, "chexpert")?, "pre-labelled");
    Ok(())
}

#[test]
fn undo_redo_per_annotator_and_the_trail_is_append_only() -> Result<()> {
    let (_d, mut conn) = setup()?;
    set_human(&mut conn, 1, "chexpert", "Edema", Some(1), "alice")?;
    set_human(&mut conn, 1, "chexpert", "Edema", Some(0), "alice")?;
    set_human(&mut conn, 1, "chexpert", "Fracture", Some(-1), "bob")?;
    assert!(set_human(&mut conn, 1, "chexpert", "Fracture", Some(-1), "bob")?.is_none());
    // alice's undo touches only alice's changes, newest first.
    let u1 = undo(&mut conn, "alice")?.expect("undo");
    assert_eq!(
        (u1.old_value, u1.new_value, u1.kind.as_str()),
        (Some(0), Some(1), "undo")
    );
    assert_eq!(value(&conn, "Edema")?, Some((1, "human".into())));
    assert_eq!(value(&conn, "Fracture")?, Some((-1, "human".into())));
    undo(&mut conn, "alice")?.expect("second undo");
    assert_eq!(value(&conn, "Edema")?, None);
    assert!(undo(&mut conn, "alice")?.is_none());
    // Redo in reverse order of the undos.
    redo(&mut conn, "alice")?.expect("redo");
    assert_eq!(value(&conn, "Edema")?, Some((1, "human".into())));
    redo(&mut conn, "alice")?.expect("redo");
    assert_eq!(value(&conn, "Edema")?, Some((0, "human".into())));
    assert!(redo(&mut conn, "alice")?.is_none());
    // A new change clears alice's redo stack.
    undo(&mut conn, "alice")?.expect("undo");
    set_human(&mut conn, 1, "chexpert", "Cardiomegaly", Some(1), "alice")?;
    assert!(redo(&mut conn, "alice")?.is_none());
    // Undo never overwrites another annotator's later change.
    set_human(&mut conn, 1, "chexpert", "Cardiomegaly", Some(0), "bob")?;
    assert!(undo(&mut conn, "alice").is_err());
    assert_eq!(value(&conn, "Cardiomegaly")?, Some((0, "human".into())));
    // Every change is in the trail, which cannot be edited.
    let trail = history(&conn, 1)?;
    let kinds: Vec<&str> = trail.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "set", "set", "set", "undo", "undo", "redo", "redo", "undo", "set", "set"
        ]
    );
    assert!(
        conn.execute("UPDATE label_events SET new_value = 1", [])
            .is_err()
    );
    assert!(conn.execute("DELETE FROM label_events", []).is_err());
    Ok(())
}

#[test]
fn bad_targets_are_refused() -> Result<()> {
    let (_d, mut conn) = setup()?;
    assert!(matches!(
        set_human(&mut conn, 9, "chexpert", "Edema", Some(1), "a"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        set_human(&mut conn, 1, "chexpert", "Edemaa", Some(1), "a"),
        Err(Error::InvalidField { field, .. }) if field == "class"
    ));
    assert!(matches!(
        set_human(&mut conn, 1, "nope", "Edema", Some(1), "a"),
        Err(Error::NotFound(_))
    ));
    assert!(parse_value("2").is_err());
    assert_eq!(parse_value("-1.0")?, Some(-1));
    assert_eq!(parse_value("blank")?, None);
    set_review(&conn, 1, "chexpert", "flagged", "a")?;
    assert_eq!(review_status(&conn, 1, "chexpert")?, "flagged");
    assert!(set_review(&conn, 1, "chexpert", "maybe", "a").is_err());
    // Review states that follow from labels are not decisions anyone can store.
    assert!(set_review(&conn, 1, "chexpert", "pre-labelled", "a").is_err());
    Ok(())
}

#[test]
fn review_status_follows_the_labels_until_a_person_decides() -> Result<()> {
    let (_d, mut conn) = setup()?;
    let status = |conn: &Connection| review_status(conn, 1, "chexpert");
    assert_eq!(status(&conn)?, "unlabelled");
    let chexpert = schema::get(&conn, "chexpert")?;
    let key = LabelKey::new(1, &chexpert, "Edema", "report-rules");
    set_machine(&conn, key, Some(1), Provenance::default())?;
    assert_eq!(status(&conn)?, "pre-labelled");
    // Labelling a class by hand is not accepting the pair.
    set_human(&mut conn, 1, "chexpert", "Fracture", Some(0), "ann")?;
    assert_eq!(status(&conn)?, "labelled");
    set_review(&conn, 1, "chexpert", "accepted", "rev")?;
    assert_eq!(status(&conn)?, "accepted");
    // A decision stays through later label changes until it is taken back.
    set_human(&mut conn, 1, "chexpert", "Fracture", None, "ann")?;
    assert_eq!(status(&conn)?, "accepted");
    set_review(&conn, 1, "chexpert", "unreviewed", "rev")?;
    assert_eq!(status(&conn)?, "pre-labelled");
    assert!(matches!(
        review_status(&conn, 2, "chexpert"),
        Err(Error::NotFound(_))
    ));
    Ok(())
}

#[test]
fn multi_class_schemas_take_one_class() -> Result<()> {
    let (_d, mut conn) = setup()?;
    let def = SchemaDef::from_toml(
        "name = \"tb\"\nkind = \"multi-class\"\nclasses = [\"normal\", \"tb\"]",
    )?;
    schema::upsert(&conn, &def)?;
    set_human(&mut conn, 1, "tb", "tb", Some(1), "a")?;
    assert!(set_human(&mut conn, 1, "tb", "normal", Some(1), "a").is_err());
    assert!(set_human(&mut conn, 1, "tb", "normal", Some(0), "a").is_err());
    set_human(&mut conn, 1, "tb", "tb", None, "a")?;
    set_human(&mut conn, 1, "tb", "normal", Some(1), "a")?;
    let now: Vec<String> = current(&conn, 1, "tb")?
        .into_iter()
        .map(|l| l.class)
        .collect();
    assert_eq!(now, ["normal"]);
    Ok(())
}

/// In a multi-class schema the values that count come from one source per pair: another
/// run's pre-label of a different class never joins an imported (or human) label, which
/// would give the pair two classes.
#[test]
fn multi_class_truth_comes_from_one_source_per_pair() -> Result<()> {
    let (_d, conn) = setup()?;
    let def = SchemaDef::from_toml(
        "name = \"tb\"\nkind = \"multi-class\"\nclasses = [\"normal\", \"tb\"]",
    )?;
    let tb = schema::upsert(&conn, &def)?;
    let with = |confidence| Provenance {
        confidence,
        ..Provenance::default()
    };
    set_machine(
        &conn,
        LabelKey::new(1, &tb, "tb", "import"),
        Some(1),
        with(None),
    )?;
    set_machine(
        &conn,
        LabelKey::new(1, &tb, "normal", "model:run-1"),
        Some(1),
        with(Some(0.9)),
    )?;
    let best = best_values(&conn, tb.id)?;
    assert_eq!(best.get(&(1, "tb".to_string())), Some(&1));
    assert_eq!(best.get(&(1, "normal".to_string())), None, "{best:?}");
    // Leaving the import out (as when it is the source scored), the run's label counts.
    let rest = best_values_without(&conn, tb.id, Some("import"))?;
    assert_eq!(rest.get(&(1, "normal".to_string())), Some(&1));
    // A multi-label schema still takes the best value per class, from any source.
    let chexpert = schema::get(&conn, "chexpert")?;
    set_machine(
        &conn,
        LabelKey::new(1, &chexpert, "Edema", "report-rules"),
        Some(1),
        with(Some(0.6)),
    )?;
    set_machine(
        &conn,
        LabelKey::new(1, &chexpert, "Atelectasis", "model:run-1"),
        Some(0),
        with(Some(0.9)),
    )?;
    let best = best_values(&conn, chexpert.id)?;
    assert_eq!(
        (
            best.get(&(1, "Edema".into())),
            best.get(&(1, "Atelectasis".into()))
        ),
        (Some(&1), Some(&0))
    );
    Ok(())
}

/// Several writers, each on its own connection (as the server's requests and the CLI's
/// processes are), labelling, undoing and redoing different pairs at once: every call
/// waits its turn and none fails with "database is locked".
#[test]
fn concurrent_writers_wait_and_never_fail() -> Result<()> {
    let (dir, conn) = setup()?;
    let db = dir.path().join("t.db");
    let (writers, rounds) = (4i64, 60);
    for p in 2..=writers {
        conn.execute(
            "INSERT INTO images (id, corpus_id, path, size, mtime_ns, hash, width, height, format, bits, dhash)
             VALUES (?1, 1, ?2, 1, 1, ?2, 1, 1, 'png', 8, 0)",
            rusqlite::params![p, format!("{p}.png")],
        )?;
        conn.execute(
            "INSERT INTO pairs (id, corpus_id, image_id) VALUES (?1, 1, ?1)",
            [p],
        )?;
    }
    drop(conn);
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (1..=writers)
            .map(|pair| {
                let db = &db;
                s.spawn(move || {
                    let mut failures = Vec::new();
                    let mut conn = match store::open(db) {
                        Ok(c) => c,
                        Err(e) => return vec![format!("open: {e}")],
                    };
                    let annotator = format!("ann{pair}");
                    for i in 0..rounds {
                        let value = [Some(1), Some(0), Some(-1), None][i % 4];
                        let step = match i % 5 {
                            3 => undo(&mut conn, &annotator).map(|_| ()),
                            4 => redo(&mut conn, &annotator).map(|_| ()),
                            _ => set_human(&mut conn, pair, "chexpert", "Edema", value, &annotator)
                                .map(|_| ()),
                        };
                        if let Err(e) = step {
                            failures.push(format!("pair {pair} round {i}: {e}"));
                        }
                    }
                    failures
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|_| vec!["a writer panicked".into()])
            })
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} writes failed: {:?}",
        failures.len(),
        writers as usize * rounds,
        &failures[..failures.len().min(5)]
    );
    // Every change is in the trail: each writer's sets, undos and redos.
    let conn = store::open(&db)?;
    let events: i64 = conn.query_row("SELECT COUNT(*) FROM label_events", [], |r| r.get(0))?;
    assert!(events >= writers * 40, "{events} events");
    Ok(())
}
