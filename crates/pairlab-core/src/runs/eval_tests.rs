//! Multi-label evaluation on hand-set predictions whose metrics are worked out by hand.

use rusqlite::params;

use super::evaluate;
use crate::embed::tests::{library, pairs, split_s};
use crate::embed::to_blob;
use crate::error::Result;
use crate::labels::{self, SchemaDef};
use crate::runs::thresholds::val_thresholds;

#[test]
fn multi_label_metrics_use_val_thresholds_and_skip_uncertain_and_blank() -> Result<()> {
    let (_tmp, mut lib) = library(8)?;
    let def =
        SchemaDef::from_toml("name = \"two\"\nkind = \"multi-label\"\nclasses = [\"A\", \"B\"]\n")?;
    let schema = labels::schema::upsert(lib.conn(), &def)?;
    let p: Vec<i64> = pairs(&lib)?.iter().map(|x| x.0).collect();
    let split = split_s(&lib, &p, |k| if k < 4 { "val" } else { "test" })?;
    let conn = lib.conn();
    conn.execute(
        "INSERT INTO runs (schema_id, split_id, trainer, config, seed, fingerprint, classes, status)
         VALUES (?1, ?2, 'head', '{}', 0, 'x', '[\"A\",\"B\"]', 'done')",
        params![schema.id, split],
    )?;
    let run = conn.last_insert_rowid();
    // (A, B) truth and probabilities; None = blank.
    let rows: [(Option<i8>, Option<i8>, f32, f32); 8] = [
        (Some(1), Some(1), 0.8, 0.9), // val
        (Some(0), Some(0), 0.3, 0.2),
        (Some(1), Some(0), 0.6, 0.1),
        (Some(0), Some(0), 0.5, 0.3),
        (Some(1), Some(1), 0.9, 0.95), // test
        (Some(1), Some(0), 0.55, 0.5),
        (Some(0), Some(-1), 0.7, 0.99),
        (Some(0), None, 0.1, 0.99),
    ];
    for (k, (a, b, pa, pb)) in rows.iter().enumerate() {
        let part = if k < 4 { "val" } else { "test" };
        lib.conn().execute(
            "INSERT INTO run_predictions (run_id, pair_id, part, probs) VALUES (?1, ?2, ?3, ?4)",
            params![run, p[k], part, to_blob(&[*pa, *pb])],
        )?;
        labels::set_human(lib.conn_mut(), p[k], "two", "A", *a, "ann")?;
        labels::set_human(lib.conn_mut(), p[k], "two", "B", *b, "ann")?;
    }
    let r = evaluate(lib.conn(), run, "test")?;
    assert_eq!((r.kind.as_str(), r.samples), ("multi-label", 4));
    // Predictions stored without the labels of their training time (older runs).
    assert_eq!(r.relabelled_since_training, None);
    let a = &r.per_class[0];
    // Val: A positives at 0.8 and 0.6, negatives 0.3 and 0.5 → threshold 0.6 (F1 = 1).
    assert_eq!(a.threshold, Some(0.6));
    // Test A: decided [T, F, T, F] vs truth [T, T, F, F] → tn 1, fp 1, fn 1, tp 1.
    assert_eq!(a.confusion, Some([[1, 1], [1, 1]]));
    assert_eq!((a.precision, a.recall, a.f1, a.support), (0.5, 0.5, 0.5, 2));
    assert!((a.auroc.expect("auroc").value - 0.75).abs() < 1e-12);
    let b = &r.per_class[1];
    // B: only the two pairs with a 1 or 0 label count (uncertain and blank left out).
    assert_eq!(b.threshold, Some(0.9));
    assert_eq!(b.confusion, Some([[1, 0], [0, 1]]));
    assert_eq!((b.f1, b.support), (1.0, 1));
    assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
    assert!((r.macro_f1 - 0.75).abs() < 1e-12);
    assert!((r.micro_f1 - 2.0 / 3.0).abs() < 1e-12);
    // mAP: A ranks 0.9 (pos), 0.7, 0.55 (pos), 0.1 → AP = ½·1 + ½·⅔ = ⅚; B's AP is 1.
    let map = r.map.expect("mAP");
    assert!((map - (5.0 / 6.0 + 1.0) / 2.0).abs() < 1e-12, "{map}");

    // Pre-labels from the run: thresholded at the val thresholds, human labels stay current.
    let (source, n) = super::prelabel(lib.conn_mut(), run)?;
    assert_eq!(
        (source.as_str(), n),
        (format!("model:run-{run}").as_str(), 8)
    );
    let value = |pair: i64, class: &str| -> Result<(i64, f64)> {
        Ok(lib.conn().query_row(
            "SELECT value, confidence FROM labels WHERE pair_id = ?1 AND class = ?2 AND source = ?3",
            params![pair, class, source],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    };
    assert_eq!(value(p[4], "A")?.0, 1);
    assert_eq!(value(p[5], "A")?.0, 0);
    assert!((value(p[5], "A")?.1 - 0.55).abs() < 1e-6);
    assert_eq!(value(p[7], "B")?.0, 1, "0.99 ≥ B's threshold 0.9");
    let current = lib.current_labels(p[5], "two")?;
    assert!(current.iter().all(|l| l.source == "human"));
    // A run is never scored against its own pre-labels (p[7]'s blank B now has one).
    assert_eq!(evaluate(lib.conn(), run, "test")?, r);
    // The thresholds are kept, and worked out again after a label changes: with the val
    // pair at 0.6 now negative, A's best threshold is 0.8.
    assert_eq!(val_thresholds(lib.conn(), run)?, vec![0.6, 0.9]);
    labels::set_human(lib.conn_mut(), p[2], "two", "A", Some(0), "ann")?;
    assert_eq!(val_thresholds(lib.conn(), run)?[0], 0.8);
    Ok(())
}
