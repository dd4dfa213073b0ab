//! Agreement on a real library: three annotators label the same pairs (one confirming the
//! shared label without changing it), Cohen's and Fleiss' kappa come out as the reference
//! functions give them on the same arrays, and the disagreements are listed; assignment
//! doubles the asked fraction.

use super::*;
use crate::embed::tests::{library, pairs};
use crate::labels::{self, SchemaDef};

#[test]
fn annotators_own_labels_give_cohen_fleiss_and_the_disagreements() -> Result<()> {
    let (_tmp, mut lib) = library(12)?;
    let def =
        SchemaDef::from_toml("name = \"f\"\nkind = \"multi-label\"\nclasses = [\"a\", \"b\"]\n")?;
    labels::schema::upsert(lib.conn(), &def)?;
    let p: Vec<i64> = pairs(&lib)?.iter().map(|x| x.0).collect();
    // Class a: x and y agree on 10 of 12 pairs; z labels the first 6 only.
    let x: Vec<i8> = (0..12).map(|i| i8::from(i % 3 == 0)).collect();
    let mut y = x.clone();
    y[4] = 1;
    y[7] = -1;
    let z: Vec<i8> = (0..6).map(|i| i8::from(i % 2 == 0)).collect();
    for (i, pair) in p.iter().enumerate() {
        labels::set_human(lib.conn_mut(), *pair, "f", "a", Some(x[i]), "x")?;
        // y's equal values write no event (the shared label has them) but count as y's.
        labels::set_human(lib.conn_mut(), *pair, "f", "a", Some(y[i]), "y")?;
        if i < 6 {
            labels::set_human(lib.conn_mut(), *pair, "f", "a", Some(z[i]), "z")?;
        }
    }
    // A blanked label is not a rating.
    labels::set_human(lib.conn_mut(), p[0], "f", "b", Some(1), "x")?;
    labels::set_human(lib.conn_mut(), p[0], "f", "b", None, "x")?;

    let r = agreement(lib.conn(), "f", 100, false)?;
    assert_eq!(r.annotators, ["x", "y", "z"]);
    let row = |a: &str, b: &str| {
        r.cohen
            .iter()
            .find(|c| c.a == a && c.b == b && c.class.as_deref() == Some("a"))
            .cloned()
    };
    let xy = row("x", "y").expect("x and y");
    assert_eq!((xy.items, xy.agreed), (12, 10));
    assert_eq!(xy.kappa, cohen_kappa(&x, &y));
    let xz = row("x", "z").expect("x and z");
    assert_eq!(xz.items, 6);
    assert_eq!(xz.kappa, cohen_kappa(&x[..6], &z));
    assert!(
        r.cohen.iter().all(|c| c.class.as_deref() == Some("a")),
        "b has no rating left"
    );
    // Fleiss over the 6 pairs all three labelled.
    let table: Vec<Vec<usize>> = (0..6)
        .map(|i| {
            let v = [x[i], y[i], z[i]];
            [-1i8, 0, 1]
                .iter()
                .filter(|c| (0..6).any(|k| [x[k], y[k], z[k]].contains(c)))
                .map(|c| v.iter().filter(|x| *x == c).count())
                .collect()
        })
        .collect();
    assert_eq!(r.fleiss.len(), 1);
    assert_eq!(r.fleiss[0].items, 6);
    let (got, want) = (
        r.fleiss[0].kappa.expect("kappa"),
        fleiss_kappa(&table).expect("kappa"),
    );
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    // Disagreements: pair 4 and 7 (x vs y), and where z differs among the first six.
    let mut want: Vec<i64> = (0..12)
        .filter(|&i| x[i] != y[i] || (i < 6 && z[i] != x[i]))
        .map(|i| p[i])
        .collect();
    want.sort_unstable();
    let got: Vec<i64> = r.disagreements.iter().map(|d| d.pair_id).collect();
    assert_eq!(got, want);
    assert_eq!(r.total_disagreements, want.len() as u64);
    assert_eq!(agreement(lib.conn(), "f", 1, false)?.disagreements.len(), 1);
    Ok(())
}

#[test]
fn assignment_doubles_the_fraction_and_refuses_bad_plans() -> Result<()> {
    let (_tmp, mut lib) = library(20)?;
    let plan = |fraction: f64, names: &[&str]| AssignOptions {
        annotators: names.iter().map(|s| s.to_string()).collect(),
        fraction,
        split: None,
        seed: 4,
    };
    let s = assign(lib.conn_mut(), &plan(0.25, &["ann", "bob", "cy"]))?;
    assert_eq!((s.pairs, s.double), (20, 5));
    assert_eq!(s.per_annotator.iter().map(|c| c.pairs).sum::<u64>(), 25);
    let twice: i64 = lib.conn().query_row(
        "SELECT COUNT(*) FROM (SELECT pair_id FROM assignments GROUP BY pair_id HAVING COUNT(*) = 2)",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(twice, 5);
    // Again: the pairs' assignments are replaced, not added to.
    assign(lib.conn_mut(), &plan(0.0, &["ann"]))?;
    let n: i64 = lib
        .conn()
        .query_row("SELECT COUNT(*) FROM assignments", [], |r| r.get(0))?;
    assert_eq!(n, 20);
    for bad in [
        plan(0.5, &["ann"]),
        plan(1.5, &["a", "b"]),
        plan(0.1, &["a", "a"]),
        plan(0.1, &[" "]),
    ] {
        assert!(matches!(
            assign(lib.conn_mut(), &bad),
            Err(Error::InvalidField { .. })
        ));
    }
    Ok(())
}

#[test]
fn the_migration_fills_own_labels_from_the_audit_trail() -> Result<()> {
    let (_tmp, mut lib) = library(4)?;
    let def = SchemaDef::from_toml("name = \"f\"\nkind = \"multi-label\"\nclasses = [\"a\"]\n")?;
    labels::schema::upsert(lib.conn(), &def)?;
    let p: Vec<i64> = pairs(&lib)?.iter().map(|x| x.0).collect();
    labels::set_human(lib.conn_mut(), p[0], "f", "a", Some(1), "x")?;
    labels::set_human(lib.conn_mut(), p[0], "f", "a", Some(0), "y")?;
    labels::set_human(lib.conn_mut(), p[1], "f", "a", Some(-1), "x")?;
    labels::set_human(lib.conn_mut(), p[1], "f", "a", Some(1), "x")?;
    let own = |lib: &crate::library::Library| -> Result<Vec<(i64, String, Option<i8>)>> {
        Ok(lib
            .conn()
            .prepare("SELECT pair_id, annotator, value FROM annotator_labels ORDER BY pair_id, annotator")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?)
    };
    let kept = own(&lib)?;
    assert_eq!(
        kept,
        [
            (p[0], "x".into(), Some(1)),
            (p[0], "y".into(), Some(0)),
            (p[1], "x".into(), Some(1))
        ]
    );
    // A library from before schema 23 has only the trail: the migration's fill gives the same.
    lib.conn().execute("DELETE FROM annotator_labels", [])?;
    let sql = include_str!("../store/migrations/0023_agreement.sql");
    let fill = &sql[sql.find("INSERT INTO annotator_labels").expect("fill")
        ..sql.find("CREATE TABLE assignments").expect("next")];
    lib.conn().execute_batch(fill)?;
    assert_eq!(own(&lib)?, kept);
    Ok(())
}
