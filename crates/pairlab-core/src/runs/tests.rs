//! Runs through the trainer interface: a stored run's checkpoint loads back through its
//! trainer and predicts what was stored; a run whose trainer this version does not know is
//! listed but not loaded.

use rusqlite::params;

use super::{TrainOptions, Trainer, list, load_model, train};
use crate::embed::from_blob;
use crate::embed::tests::{library, pairs, split_s};
use crate::error::{Error, Result};
use crate::labels::{self, SchemaDef};
use crate::progress::Silent;

impl TrainOptions {
    /// A short, seeded `cnn` run at 8 px of `schema` on `split` (for tests).
    pub(crate) fn test_cnn(schema: &str, split: &str, epochs: usize) -> Self {
        TrainOptions {
            schema: schema.into(),
            split: split.into(),
            trainer: Trainer::Cnn,
            model: None,
            epochs,
            lr: Trainer::Cnn.default_lr(),
            hidden: 0,
            size: 8,
            uncertain: pairlab_ml::train::Uncertain::Ignore,
            seed: 1,
            tune: Default::default(),
            text: Default::default(),
            labels: Default::default(),
        }
    }
}

#[test]
fn a_run_loads_through_its_trainer_and_an_unknown_trainer_is_listed_not_loaded() -> Result<()> {
    let (_tmp, mut lib) = library(12)?;
    let def =
        SchemaDef::from_toml("name = \"c\"\nkind = \"multi-class\"\nclasses = [\"a\", \"b\"]\n")?;
    let schema = labels::schema::upsert(lib.conn(), &def)?;
    let p: Vec<i64> = pairs(&lib)?.iter().map(|x| x.0).collect();
    let split = split_s(&lib, &p, |k| ["train", "train", "val", "test"][k % 4])?;
    for (k, pair) in p.iter().enumerate() {
        let class = if k % 2 == 0 { "a" } else { "b" };
        labels::set_human(lib.conn_mut(), *pair, "c", class, Some(1), "ann")?;
    }
    let opts = TrainOptions::test_cnn("c", "s", 2);
    let root = lib.root().to_path_buf();
    let run = train(lib.conn_mut(), &root, &opts, &Silent)?;
    assert_eq!((run.trainer.as_str(), run.status.as_str()), ("cnn", "done"));

    // The checkpoint, loaded through the trainer, predicts what the run stored.
    let model = load_model(lib.conn(), run.run_id)?;
    let x = super::pixels::pixels(lib.conn(), &root, &[p[3]], 8, &Silent)?;
    let stored: Vec<u8> = lib.conn().query_row(
        "SELECT probs FROM run_predictions WHERE run_id = ?1 AND pair_id = ?2",
        params![run.run_id, p[3]],
        |r| r.get(0),
    )?;
    assert_eq!(model.predict(&x.data)?, from_blob(&stored));

    // One pair's prediction, as the Sample view shows it: the stored probabilities, the
    // most probable class predicted (multi-class), the pair's part.
    let shown = super::pair_prediction(lib.conn(), run.run_id, p[3])?;
    let probs = from_blob(&stored);
    assert_eq!(shown.part, "test");
    assert_eq!(shown.kind, "multi-class");
    assert_eq!(
        shown
            .classes
            .iter()
            .map(|c| c.probability)
            .collect::<Vec<_>>(),
        probs
    );
    let top = if probs[0] >= probs[1] { "a" } else { "b" };
    let predicted: Vec<&str> = shown
        .classes
        .iter()
        .filter(|c| c.predicted)
        .map(|c| c.class.as_str())
        .collect();
    assert_eq!(predicted, [top]);
    assert!(shown.classes.iter().all(|c| c.threshold.is_none()));
    // Beside each class, its current label and whether the prediction differs from it
    // (p[3] is labelled b).
    let (a, b) = (&shown.classes[0], &shown.classes[1]);
    assert_eq!((a.label, b.label), (None, Some(1)));
    assert_eq!((a.disagrees, b.disagrees), (false, top != "b"));
    assert!(matches!(
        super::pair_prediction(lib.conn(), run.run_id, 999_999),
        Err(Error::NotFound(_))
    ));

    // A trainer of a newer version: listed as stored, refused when it must be used.
    lib.conn().execute(
        "INSERT INTO runs (schema_id, split_id, trainer, config, seed, fingerprint, classes, status, dir)
         VALUES (?1, ?2, 'finetune-2030', '{}', 0, 'x', '[\"a\",\"b\"]', 'done', '/nowhere')",
        params![schema.id, split],
    )?;
    let future = lib.conn().last_insert_rowid();
    let runs = list(lib.conn())?;
    assert_eq!(
        runs.iter().map(|r| r.trainer.as_str()).collect::<Vec<_>>(),
        ["cnn", "finetune-2030"]
    );
    match load_model(lib.conn(), future) {
        Err(Error::Invalid(m)) => assert!(m.contains("finetune-2030"), "{m}"),
        other => panic!("expected Invalid, got {:?}", other.map(|_| ())),
    }

    // Without a size the cnn takes 64 px, or the split's median short side when smaller
    // (these images are 48 px): it never upsamples for nothing.
    let auto = TrainOptions {
        size: 0,
        epochs: 1,
        ..opts.clone()
    };
    let run = train(lib.conn_mut(), &root, &auto, &Silent)?;
    assert_eq!(run.size, Some(48));
    Ok(())
}
