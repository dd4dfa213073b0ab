//! `label-issues` end to end on a small library whose classes are easy to see (bright and
//! dark images) with a few labels planted wrong: the planted ones are found, each fold is
//! a recorded run whose split keeps every patient on one side, and the result is stored.

use std::collections::{HashMap, HashSet};

use image::{GrayImage, Luma};
use rusqlite::params;

use super::{IssueOptions, Outcome, RankBy, Reading, find, get, list, resolve};
use crate::error::{Error, Result};
use crate::ingest::IndexOptions;
use crate::labels::{self, SchemaDef};
use crate::library::Library;
use crate::progress::Silent;
use crate::runs::TrainOptions;

const N: u32 = 60;
const PLANTED: [u32; 3] = [4, 17, 33];

/// Bright images for even numbers, dark ones for odd; patient `p<i / 2>` (two images each).
fn library() -> Result<(tempfile::TempDir, Library, Vec<i64>)> {
    let tmp = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).map_err(|e| Error::io(&corpus, e))?;
    for i in 0..N {
        let base: u32 = if i % 2 == 0 { 190 } else { 60 };
        let img = GrayImage::from_fn(16, 16, |x, y| {
            let h = (i * 977 + x * 31 + y * 17).wrapping_mul(2_654_435_761) >> 26;
            Luma([(base + h % 40) as u8])
        });
        let p = corpus.join(format!("img{i:03}.png"));
        img.save(&p)
            .map_err(|e| Error::io(&p, std::io::Error::other(e)))?;
    }
    let mut lib = Library::open(&tmp.path().join("lib"))?;
    lib.index(&corpus, &IndexOptions::default(), &Silent)?;
    let pairs: Vec<i64> = lib
        .conn()
        .prepare("SELECT id FROM pairs ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let corpus_id: i64 = lib
        .conn()
        .query_row("SELECT id FROM corpora", [], |r| r.get(0))?;
    for (i, pair) in pairs.iter().enumerate() {
        let key = format!("p{}", i / 2);
        lib.conn().execute(
            "INSERT OR IGNORE INTO patients (corpus_id, key) VALUES (?1, ?2)",
            params![corpus_id, key],
        )?;
        lib.conn().execute(
            "UPDATE pairs SET patient_id = (SELECT id FROM patients WHERE key = ?2) WHERE id = ?1",
            params![pair, key],
        )?;
    }
    Ok((tmp, lib, pairs))
}

/// A split `all` with every pair in its train part.
fn whole_split(lib: &mut Library) -> Result<()> {
    crate::splits::create(
        lib.conn_mut(),
        &crate::splits::SplitOptions {
            name: "all".into(),
            strategy: crate::splits::Strategy::Random,
            parts: vec![("train".into(), 1.0)],
            seed: 0,
            stratify: None,
            freeze: false,
        },
    )?;
    Ok(())
}

fn options(split: &str) -> IssueOptions {
    IssueOptions {
        train: TrainOptions::test_cnn("tone", split, 30),
        folds: 3,
        filter: pairlab_ml::label_issues::Filter::PruneByNoiseRate,
        rank_by: RankBy::SelfConfidence,
    }
}

#[test]
fn planted_label_errors_are_found_out_of_fold_by_patient() -> Result<()> {
    let (_tmp, mut lib, pairs) = library()?;
    let def = SchemaDef::from_toml(
        "name = \"tone\"\nkind = \"multi-class\"\nclasses = [\"bright\", \"dark\"]\n",
    )?;
    labels::schema::upsert(lib.conn(), &def)?;
    for (i, pair) in pairs.iter().enumerate() {
        let bright = (i % 2 == 0) != PLANTED.contains(&(i as u32));
        let class = if bright { "bright" } else { "dark" };
        labels::set_human(lib.conn_mut(), *pair, "tone", class, Some(1), "ann")?;
    }
    whole_split(&mut lib)?;
    let root = lib.root().to_path_buf();
    let found = find(lib.conn_mut(), &root, &options("all"), &Silent)?;

    // The planted errors are the flagged ones, likeliest first, with the other class
    // suggested.
    let planted: HashSet<i64> = PLANTED.iter().map(|&i| pairs[i as usize]).collect();
    let flagged: HashSet<i64> = found.issues.iter().map(|x| x.pair_id).collect();
    assert_eq!(flagged, planted, "{:?}", found.issues);
    assert_eq!(found.examined, u64::from(N));
    assert_eq!((found.flagged_pairs, found.total_issues), (3, 3));
    for (r, x) in found.issues.iter().enumerate() {
        assert_eq!(x.rank, r as u64 + 1);
        let given = if x.class == "bright" {
            "dark"
        } else {
            "bright"
        };
        assert_eq!(x.suggested_class.as_deref(), Some(given));
        assert!(x.score < 0.5, "{x:?}");
        assert!(found.folds.contains(&x.run_id.unwrap_or(0)));
    }
    assert!(found.issues.windows(2).all(|w| w[0].score <= w[1].score));

    // Each fold is a done run on a split that keeps a patient on one side; the pair's run
    // had it in its test part.
    assert_eq!(found.folds.len(), 3);
    let mut fold_of: HashMap<i64, i64> = HashMap::new();
    for (f, run) in found.folds.iter().enumerate() {
        let r = crate::runs::get(lib.conn(), *run)?;
        assert_eq!(
            (r.status.as_str(), r.split.as_str()),
            ("done", &*format!("all-fold{}of3", f + 1))
        );
        let sides: Vec<(i64, String, String)> = lib
            .conn()
            .prepare(
                "SELECT m.pair_id, m.part, pt.key FROM split_members m JOIN splits s ON s.id = m.split_id
                 JOIN pairs p ON p.id = m.pair_id JOIN patients pt ON pt.id = p.patient_id WHERE s.name = ?1",
            )?
            .query_map([&r.split], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        assert_eq!(sides.len(), N as usize);
        let mut part_of: HashMap<&str, &str> = HashMap::new();
        for (pair, part, patient) in &sides {
            assert_eq!(
                *part_of.entry(patient).or_insert(part),
                part.as_str(),
                "{patient}"
            );
            if part == "test" {
                assert!(
                    fold_of.insert(*pair, *run).is_none(),
                    "pair {pair} in two folds"
                );
            }
        }
    }
    assert_eq!(fold_of.len(), N as usize, "every pair predicted once");
    for x in &found.issues {
        assert_eq!(fold_of.get(&x.pair_id).copied(), x.run_id);
    }

    // The Browse grid filters by the flags and orders by the score, likeliest wrong first.
    let filter = crate::browse::BrowseFilter {
        label_issues: Some(found.id),
        ..Default::default()
    };
    let page = crate::browse::browse(lib.conn(), &filter, &Default::default(), None, 50)?;
    let shown: HashSet<i64> = page.rows.iter().map(|r| r.id).collect();
    assert_eq!(shown, planted);
    let sort = crate::browse::BrowseSort {
        by: Some("label-issues".into()),
        issues: Some(found.id),
        ..Default::default()
    };
    let page = crate::browse::browse(lib.conn(), &Default::default(), &sort, None, 3)?;
    let first: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
    let ranked: Vec<i64> = found.issues.iter().map(|x| x.pair_id).collect();
    assert_eq!(first, ranked);
    let rest = crate::browse::browse(
        lib.conn(),
        &Default::default(),
        &sort,
        page.next.as_deref(),
        100,
    )?;
    assert_eq!(rest.rows.len(), N as usize - 3);
    assert!(rest.rows.iter().all(|r| r.score >= page.rows[2].score));

    // Stored: read back the same, listed, stale once a label changes.
    let back = get(lib.conn(), found.id, Reading::default())?;
    assert_eq!(back.issues, found.issues);
    assert!(!back.stale);
    let one = Reading {
        limit: Some(1),
        open_only: false,
    };
    assert_eq!(get(lib.conn(), found.id, one)?.issues.len(), 1);

    // The review queue: accepting a suggestion makes it a person's label (the given human
    // label blanked first: one class per pair), keeping confirms the given one; both leave
    // the queue, and opening one again puts it back.
    let (first, second) = (&found.issues[0], &found.issues[1]);
    let to = first.suggested_class.clone().unwrap_or_default();
    let done = resolve(
        lib.conn_mut(),
        found.id,
        first.pair_id,
        &first.class,
        Outcome::Accept,
        "rev",
    )?;
    assert_eq!(done.issue.outcome.as_deref(), Some("accepted"));
    assert_eq!(
        done.label_events, 2,
        "the given human label blanked, the suggestion set"
    );
    let now = labels::current(lib.conn(), first.pair_id, "tone")?;
    let positive: Vec<(String, String)> = now
        .iter()
        .filter(|l| l.value == 1)
        .map(|l| (l.class.clone(), l.source.as_str().to_string()))
        .collect();
    assert_eq!(positive, [(to, "human".to_string())]);
    let kept = resolve(
        lib.conn_mut(),
        found.id,
        second.pair_id,
        &second.class,
        Outcome::Keep,
        "rev",
    )?;
    assert_eq!(kept.label_events, 0, "already a person's label");
    let open = Reading {
        limit: None,
        open_only: true,
    };
    let queue = get(lib.conn(), found.id, open)?;
    assert_eq!(queue.issues.len(), 1);
    assert_eq!(queue.resolved, 2);
    assert!(queue.stale, "a label changed since the search");
    resolve(
        lib.conn_mut(),
        found.id,
        second.pair_id,
        &second.class,
        Outcome::Open,
        "rev",
    )?;
    assert_eq!(get(lib.conn(), found.id, open)?.issues.len(), 2);
    assert!(matches!(
        resolve(
            lib.conn_mut(),
            found.id,
            pairs[0],
            "bright",
            Outcome::Keep,
            "rev"
        ),
        Err(Error::NotFound(_))
    ));
    assert_eq!(list(lib.conn())?.len(), 1);
    Ok(())
}

#[test]
fn too_few_patients_or_folds_are_refused_clearly() -> Result<()> {
    let (_tmp, mut lib, pairs) = library()?;
    let def = SchemaDef::from_toml(
        "name = \"tone\"\nkind = \"multi-class\"\nclasses = [\"bright\", \"dark\"]\n",
    )?;
    labels::schema::upsert(lib.conn(), &def)?;
    // Two patients labelled.
    for pair in &pairs[..4] {
        labels::set_human(lib.conn_mut(), *pair, "tone", "bright", Some(1), "ann")?;
    }
    whole_split(&mut lib)?;
    let root = lib.root().to_path_buf();
    match find(lib.conn_mut(), &root, &options("all"), &Silent) {
        Err(Error::InvalidField { field, message }) => {
            assert_eq!(field, "folds");
            assert!(message.contains("from 2 patients"), "{message}");
        }
        other => panic!("expected a folds error, got {:?}", other.map(|r| r.id)),
    }
    let mut one = options("all");
    one.folds = 1;
    assert!(matches!(
        find(lib.conn_mut(), &root, &one, &Silent),
        Err(Error::InvalidField { .. })
    ));
    assert!(matches!(
        find(lib.conn_mut(), &root, &options("nope"), &Silent),
        Err(Error::NotFound(_))
    ));
    Ok(())
}
