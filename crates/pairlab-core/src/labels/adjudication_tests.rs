//! Deciding disagreements on a real library: the decided value becomes the shared label,
//! the reviewer never becomes a rater (also through undo and redo), kappa is unchanged, a
//! later rating opens the disagreement again, and bad decisions are refused.

use super::*;
use crate::embed::tests::{library, pairs};
use crate::labels::{self, SchemaDef};

fn rated_by(lib: &crate::Library, who: &str) -> Result<i64> {
    Ok(lib.conn().query_row(
        "SELECT COUNT(*) FROM annotator_labels WHERE annotator = ?1",
        [who],
        |r| r.get(0),
    )?)
}

fn human(lib: &crate::Library, pair: i64, schema: &str) -> Result<Vec<(String, i8)>> {
    Ok(labels::current(lib.conn(), pair, schema)?
        .into_iter()
        .filter(|l| l.source.is_human())
        .map(|l| (l.class, l.value))
        .collect())
}

fn decide<'a>(pair: i64, class: Option<&'a str>, value: Option<&'a str>) -> Decision<'a> {
    Decision {
        schema: "f",
        pair,
        class,
        value,
        reviewer: "rev",
    }
}

#[test]
fn a_decision_sets_the_label_without_making_the_reviewer_a_rater() -> Result<()> {
    let (_tmp, mut lib) = library(6)?;
    let def =
        SchemaDef::from_toml("name = \"f\"\nkind = \"multi-label\"\nclasses = [\"a\", \"b\"]\n")?;
    labels::schema::upsert(lib.conn(), &def)?;
    let p: Vec<i64> = pairs(&lib)?.iter().map(|x| x.0).collect();
    for (i, pair) in p.iter().enumerate() {
        labels::set_human(lib.conn_mut(), *pair, "f", "a", Some(i8::from(i < 3)), "x")?;
        // y differs on pair 1 only: the shared label is y's, the last set.
        labels::set_human(
            lib.conn_mut(),
            *pair,
            "f",
            "a",
            Some(i8::from(i < 3 && i != 1)),
            "y",
        )?;
    }
    let before = agreement::agreement(lib.conn(), "f", 100, false)?;
    assert_eq!(
        (before.total_disagreements, before.open_disagreements),
        (1, 1)
    );
    assert_eq!(human(&lib, p[1], "f")?, [("a".to_string(), 0)]);

    let done = resolve(lib.conn_mut(), decide(p[1], Some("a"), Some("1")))?;
    assert_eq!(done.label_events, 1);
    let r = done.disagreement.resolution.clone().expect("decided");
    assert_eq!((r.value.as_str(), r.reviewer.as_str()), ("1", "rev"));
    assert_eq!(human(&lib, p[1], "f")?, [("a".to_string(), 1)]);
    assert_eq!(rated_by(&lib, "rev")?, 0, "the reviewer is no rater");
    let ev = labels::history(lib.conn(), p[1])?.pop().expect("event");
    assert!(ev.adjudication && ev.annotator.as_deref() == Some("rev"));
    let after = agreement::agreement(lib.conn(), "f", 100, false)?;
    assert_eq!(after.cohen, before.cohen, "kappa stays the annotators'");
    assert_eq!(after.annotators, ["x", "y"]);
    assert_eq!(
        (after.total_disagreements, after.open_disagreements),
        (1, 0)
    );
    assert!(
        agreement::agreement(lib.conn(), "f", 100, true)?
            .disagreements
            .is_empty()
    );

    // Undo and redo carry the mark: still no rating of the reviewer's.
    labels::undo(lib.conn_mut(), "rev")?.expect("undo");
    assert_eq!(human(&lib, p[1], "f")?, [("a".to_string(), 0)]);
    labels::redo(lib.conn_mut(), "rev")?.expect("redo");
    assert_eq!(human(&lib, p[1], "f")?, [("a".to_string(), 1)]);
    assert_eq!(rated_by(&lib, "rev")?, 0);

    // Opened again (the queue's undo), then decided for the value the label has: no change.
    let open = resolve(lib.conn_mut(), decide(p[1], Some("a"), None))?;
    assert!(open.disagreement.resolution.is_none());
    assert_eq!(
        agreement::agreement(lib.conn(), "f", 100, true)?
            .disagreements
            .len(),
        1
    );
    let same = resolve(lib.conn_mut(), decide(p[1], Some("a"), Some("positive")))?;
    assert_eq!(same.label_events, 0);
    assert!(same.disagreement.resolution.is_some());

    // An annotator rating again after the decision opens it again.
    std::thread::sleep(std::time::Duration::from_millis(5));
    labels::set_human(lib.conn_mut(), p[1], "f", "a", Some(-1), "y")?;
    let again = agreement::agreement(lib.conn(), "f", 100, true)?;
    assert_eq!(again.disagreements.len(), 1);
    assert_eq!(again.disagreements[0].pair_id, p[1]);

    // Refused: no disagreement there, a value that is no decision, a class that is not one.
    for (bad, what) in [
        (decide(p[0], Some("a"), Some("1")), "agree"),
        (decide(p[1], Some("a"), Some("2")), "value"),
        (decide(p[1], Some("a"), Some("")), "blank"),
        (decide(p[1], Some("zz"), Some("1")), "class"),
        (decide(p[1], None, Some("1")), "no class"),
    ] {
        let e = resolve(lib.conn_mut(), bad).expect_err(what);
        assert!(
            matches!(e, Error::NotFound(_) | Error::InvalidField { .. }),
            "{what}: {e}"
        );
    }
    Ok(())
}

#[test]
fn a_multi_class_decision_moves_the_one_class() -> Result<()> {
    let (_tmp, mut lib) = library(3)?;
    let def = SchemaDef::from_toml(
        "name = \"f\"\nkind = \"multi-class\"\nclasses = [\"c1\", \"c2\", \"c3\"]\n",
    )?;
    labels::schema::upsert(lib.conn(), &def)?;
    let p = pairs(&lib)?[0].0;
    labels::set_human(lib.conn_mut(), p, "f", "c1", Some(1), "x")?;
    labels::set_human(lib.conn_mut(), p, "f", "c1", None, "y")?;
    labels::set_human(lib.conn_mut(), p, "f", "c2", Some(1), "y")?;
    assert!(matches!(
        resolve(lib.conn_mut(), decide(p, Some("c1"), Some("c1"))),
        Err(Error::InvalidField { .. })
    ));
    assert!(matches!(
        resolve(lib.conn_mut(), decide(p, None, Some("c9"))),
        Err(Error::InvalidField { .. })
    ));
    let done = resolve(lib.conn_mut(), decide(p, None, Some("c1")))?;
    assert_eq!(done.label_events, 2, "c2 blanked, c1 set");
    assert_eq!(human(&lib, p, "f")?, [("c1".to_string(), 1)]);
    assert_eq!(rated_by(&lib, "rev")?, 0);
    let d = &done.disagreement;
    assert_eq!(d.class, None);
    assert_eq!(d.ratings.len(), 2);
    assert_eq!(d.resolution.as_ref().map(|r| r.value.as_str()), Some("c1"));
    Ok(())
}
