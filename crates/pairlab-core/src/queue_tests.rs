//! The "label next" queue on a real library with a trained run: it serves unlabelled pairs
//! the run is unsure of, never one pair to two annotators at once (two connections asking
//! concurrently), and a labelled pair leaves it.

use std::collections::HashSet;

use super::*;
use crate::embed::tests::{library, pairs, split_s};
use crate::labels::{self, SchemaDef};
use crate::progress::Silent;
use crate::runs::TrainOptions;

fn trained(n: u32) -> Result<(tempfile::TempDir, crate::library::Library, Vec<i64>)> {
    let (tmp, mut lib) = library(n)?;
    let def =
        SchemaDef::from_toml("name = \"c\"\nkind = \"multi-class\"\nclasses = [\"a\", \"b\"]\n")?;
    labels::schema::upsert(lib.conn(), &def)?;
    let p: Vec<i64> = pairs(&lib)?.iter().map(|x| x.0).collect();
    split_s(&lib, &p, |k| if k % 5 == 4 { "val" } else { "train" })?;
    for (k, pair) in p.iter().enumerate() {
        // A quarter labelled by hand; the rest is what the queue offers.
        if k % 4 == 0 {
            let class = if k % 8 == 0 { "a" } else { "b" };
            labels::set_human(lib.conn_mut(), *pair, "c", class, Some(1), "ann")?;
        }
    }
    let opts = TrainOptions::test_cnn("c", "s", 2);
    let root = lib.root().to_path_buf();
    crate::runs::train(lib.conn_mut(), &root, &opts, &Silent)?;
    Ok((tmp, lib, p))
}

fn ask(who: &str) -> NextArgs {
    NextArgs {
        schema: "c".into(),
        annotator: who.into(),
        run: None,
        by: Measure::Entropy,
    }
}

#[test]
fn serves_unlabelled_uncertain_pairs_never_one_to_two_annotators() -> Result<()> {
    let (tmp, mut lib, p) = trained(48)?;
    let labelled: HashSet<i64> = p.iter().step_by(4).copied().collect();
    let first = next(lib.conn_mut(), &ask("x"))?.expect("a pair");
    assert!(
        !labelled.contains(&first.pair_id),
        "a pair without a person's label"
    );
    assert_eq!(first.remaining, 36);
    assert!((0.0..=1.0).contains(&first.uncertainty));

    // Two annotators asking at once, each on their own connection: never the same pair.
    let dir = lib.root().to_path_buf();
    let served: Vec<Vec<i64>> = std::thread::scope(|s| {
        let asks: Vec<_> = ["y", "z"]
            .into_iter()
            .map(|who| {
                let dir = dir.clone();
                s.spawn(move || -> Result<Vec<i64>> {
                    let mut lib = crate::library::Library::open(&dir)?;
                    let mut got = Vec::new();
                    for _ in 0..8 {
                        if let Some(n) = next(lib.conn_mut(), &ask(who))? {
                            got.push(n.pair_id);
                        }
                    }
                    Ok(got)
                })
            })
            .collect();
        asks.into_iter()
            .map(|h| h.join().expect("thread"))
            .collect::<Result<Vec<_>>>()
    })?;
    let (y, z): (HashSet<i64>, HashSet<i64>) = (
        served[0].iter().copied().collect(),
        served[1].iter().copied().collect(),
    );
    assert_eq!(served[0].len(), 8);
    assert_eq!(
        y.len(),
        8,
        "the least recently served first: eight different pairs"
    );
    assert!(
        y.is_disjoint(&z),
        "one pair served to two annotators: {y:?} {z:?}"
    );
    assert!(
        !y.contains(&first.pair_id) && !z.contains(&first.pair_id),
        "x's pair stays x's"
    );

    // Labelled, a pair leaves the queue.
    labels::set_human(lib.conn_mut(), first.pair_id, "c", "a", Some(1), "x")?;
    for _ in 0..30 {
        if let Some(n) = next(lib.conn_mut(), &ask("x"))? {
            assert_ne!(n.pair_id, first.pair_id);
        }
    }
    drop(tmp);
    Ok(())
}

#[test]
fn uncertainty_and_diversity_by_the_book() {
    // Multi-label: the class nearest 0.5 decides; margin and entropy agree on the order.
    let (u, k) = uncertainty(&[0.9, 0.45, 0.1], false, Measure::Entropy);
    assert_eq!(k, 1);
    assert!((u - entropy(&[0.45, 0.55])).abs() < 1e-6);
    let (m, _) = uncertainty(&[0.9, 0.45, 0.1], false, Measure::Margin);
    assert!((m - 0.9).abs() < 1e-6);
    // Multi-class: uniform is the most uncertain.
    assert!((uncertainty(&[0.25; 4], true, Measure::Entropy).0 - 1.0).abs() < 1e-12);
    assert!((uncertainty(&[0.7, 0.2, 0.1], true, Measure::Margin).0 - 0.5).abs() < 1e-6);
    // k-center: with two tight groups, the second pick comes from the other group.
    let c = |pair: i64, dhash: u64| Candidate {
        pair,
        image: pair,
        u: 1.0 - pair as f64 / 10.0,
        class: 0,
        dhash,
    };
    let pool = [
        c(1, 0),
        c(2, 1),
        c(3, 3),
        c(4, u64::MAX),
        c(5, u64::MAX - 1),
    ];
    let d = |a: usize, b: usize| f64::from((pool[a].dhash ^ pool[b].dhash).count_ones());
    let picked = k_center(&pool, 2, &d);
    assert_eq!(picked[0], 0, "the most uncertain first");
    assert!(pool[picked[1]].dhash > 1 << 60, "then the far group");
}
