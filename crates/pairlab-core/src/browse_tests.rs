use super::*;
use crate::embed::tests::{library, pairs};
use crate::splits::{SplitOptions, Strategy};

/// The pairs passing `f`; their count must be what `browse_count` says.
fn ids(lib: &crate::Library, f: &BrowseFilter) -> Vec<i64> {
    let page = lib
        .browse(f, &BrowseSort::default(), None, 1000)
        .expect("browse");
    let ids: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
    let count = lib.browse_count(f, &BrowseSort::default()).expect("count");
    assert_eq!(count, ids.len() as u64, "count of {f:?}");
    ids
}

fn filter(class: Option<&str>, value: Option<&str>, source: Option<&str>) -> BrowseFilter {
    BrowseFilter {
        class: class.map(str::to_owned),
        value: value.map(str::to_owned),
        source: source.map(str::to_owned),
        ..Default::default()
    }
}

#[test]
fn filters_select_exactly_the_matching_pairs() {
    let (_tmp, mut lib) = library(12).expect("library");
    let all: Vec<i64> = pairs(&lib).expect("pairs").iter().map(|p| p.0).collect();
    let p = |k: usize| all[k];
    for (k, v) in [(2, 1), (5, 1), (9, 1), (3, 0)] {
        lib.set_label(p(k), "chexpert", "Cardiomegaly", Some(v), "ann")
            .expect("label");
    }
    let schema: i64 = lib
        .conn()
        .query_row("SELECT id FROM schemas WHERE name = 'chexpert'", [], |r| {
            r.get(0)
        })
        .expect("schema");
    lib.conn()
        .execute(
            "INSERT INTO labels (pair_id, schema_id, class, source, value, confidence)
             VALUES (?1, ?2, 'Cardiomegaly', 'report-rules', 1, 0.9)",
            rusqlite::params![p(7), schema],
        )
        .expect("machine label");
    let c = Some("Cardiomegaly");
    assert_eq!(
        ids(&lib, &filter(c, Some("1"), None)),
        vec![p(2), p(5), p(7), p(9)]
    );
    assert_eq!(
        ids(&lib, &filter(c, Some("1"), Some("human"))),
        vec![p(2), p(5), p(9)]
    );
    assert_eq!(
        ids(&lib, &filter(c, Some("1"), Some("machine"))),
        vec![p(7)]
    );
    assert_eq!(
        ids(&lib, &filter(c, Some("1"), Some("report-rules"))),
        vec![p(7)]
    );
    assert_eq!(ids(&lib, &filter(c, Some("0"), None)), vec![p(3)]);
    assert_eq!(ids(&lib, &filter(None, None, Some("machine"))), vec![p(7)]);
    let blank: Vec<i64> = all
        .iter()
        .copied()
        .filter(|id| ![p(2), p(3), p(5), p(7), p(9)].contains(id))
        .collect();
    assert_eq!(ids(&lib, &filter(c, Some("blank"), None)), blank);

    // A split part, alone and with a label filter.
    lib.make_split(&SplitOptions {
        name: "s".into(),
        strategy: Strategy::Random,
        parts: vec![("train".into(), 0.5), ("test".into(), 0.5)],
        seed: 3,
        stratify: None,
        freeze: false,
    })
    .expect("split");
    let train: Vec<i64> = lib
        .conn()
        .prepare("SELECT m.pair_id FROM split_members m JOIN splits s ON s.id = m.split_id WHERE s.name = 's' AND m.part = 'train' ORDER BY m.pair_id")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<Vec<i64>>>())
        .expect("train");
    assert!(!train.is_empty() && train.len() < all.len());
    let mut f = BrowseFilter {
        split: Some("s".into()),
        part: Some("train".into()),
        ..Default::default()
    };
    assert_eq!(ids(&lib, &f), train);
    f.class = c.map(str::to_owned);
    f.value = Some("1".into());
    let both: Vec<i64> = train
        .iter()
        .copied()
        .filter(|id| [p(2), p(5), p(7), p(9)].contains(id))
        .collect();
    assert_eq!(ids(&lib, &f), both);

    // Review status, tag and report text.
    lib.set_review(p(5), "chexpert", "accepted", "ann")
        .expect("review");
    let review = |s: &str| BrowseFilter {
        review: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(ids(&lib, &review("accepted")), vec![p(5)]);
    // The states without a decision follow from the labels: the same definition as a
    // pair's own status.
    assert_eq!(ids(&lib, &review("pre-labelled")), vec![p(7)]);
    assert_eq!(ids(&lib, &review("labelled")), vec![p(2), p(3), p(9)]);
    assert_eq!(ids(&lib, &review("unlabelled")).len(), all.len() - 5);
    for state in crate::labels::REVIEW_STATES {
        for id in ids(&lib, &review(state)) {
            assert_eq!(lib.review_status(id, "chexpert").expect("status"), *state);
        }
    }
    assert!(
        lib.browse(&review("accepted-ish"), &BrowseSort::default(), None, 10)
            .is_err()
    );
    lib.conn()
        .execute_batch(&format!(
            "INSERT INTO tags (name) VALUES ('cardiomegaly');
             INSERT INTO report_tags (report_id, tag_id)
             SELECT report_id, (SELECT id FROM tags WHERE name = 'cardiomegaly') FROM pairs WHERE id = {}",
            p(9)
        ))
        .expect("tag");
    let tag = BrowseFilter {
        tag: Some("cardiomegaly".into()),
        ..Default::default()
    };
    assert_eq!(ids(&lib, &tag), vec![p(9)]);
    let text = BrowseFilter {
        text: Some("number 7".into()),
        ..Default::default()
    };
    let want: i64 = lib
        .conn()
        .query_row(
            "SELECT p.id FROM pairs p JOIN reports r ON r.id = p.report_id WHERE r.text LIKE 'Report number 7.%'",
            [],
            |r| r.get(0),
        )
        .expect("report 7");
    assert_eq!(ids(&lib, &text), vec![want]);
}

#[test]
fn text_matches_are_kept_per_query_and_dropped_when_reports_change() {
    let (_tmp, lib) = library(6).expect("library");
    let text = |t: &str| BrowseFilter {
        text: Some(t.into()),
        ..Default::default()
    };
    let pair_of = |n: u32| -> i64 {
        lib.conn()
            .query_row(
                "SELECT p.id FROM pairs p JOIN reports r ON r.id = p.report_id WHERE r.text LIKE ?1",
                [format!("Report number {n}.%")],
                |r| r.get(0),
            )
            .expect("pair")
    };
    assert_eq!(ids(&lib, &text("number 2")), vec![pair_of(2)]);
    assert!(ids(&lib, &text("pneumothorax")).is_empty());
    // A report that changes is seen by the next page, not hidden by kept matches.
    lib.conn()
        .execute(
            "UPDATE reports SET text = 'Report number 4. Small pneumothorax.' WHERE text LIKE 'Report number 4.%'",
            [],
        )
        .expect("update");
    assert_eq!(ids(&lib, &text("pneumothorax")), vec![pair_of(4)]);
    // Only the most recent queries keep their matches.
    for k in 0..12 {
        ids(&lib, &text(&format!("number {k}")));
    }
    let kept: i64 = lib
        .conn()
        .query_row("SELECT COUNT(*) FROM text_queries", [], |r| r.get(0))
        .expect("count");
    assert_eq!(kept, KEPT_QUERIES);
    let orphans: i64 = lib
        .conn()
        .query_row(
            "SELECT COUNT(*) FROM text_matches WHERE query_id NOT IN (SELECT id FROM text_queries)",
            [],
            |r| r.get(0),
        )
        .expect("orphans");
    assert_eq!(orphans, 0);
}

#[test]
fn pages_follow_each_other_without_gaps_or_repeats() {
    let (_tmp, lib) = library(7).expect("library");
    let all: Vec<i64> = pairs(&lib).expect("pairs").iter().map(|p| p.0).collect();
    let (mut seen, mut after) = (Vec::new(), None::<String>);
    loop {
        let page = lib
            .browse(
                &BrowseFilter::default(),
                &BrowseSort::default(),
                after.as_deref(),
                3,
            )
            .expect("page");
        assert!(page.rows.len() <= 3);
        seen.extend(page.rows.iter().map(|r| r.id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, all);
}

#[test]
fn bad_filters_are_refused_with_a_reason() {
    let (_tmp, lib) = library(2).expect("library");
    let part_only = BrowseFilter {
        part: Some("train".into()),
        ..Default::default()
    };
    assert!(matches!(
        lib.browse(&part_only, &BrowseSort::default(), None, 10),
        Err(Error::Invalid(_))
    ));
    let no_split = BrowseFilter {
        split: Some("nope".into()),
        ..Default::default()
    };
    assert!(matches!(
        lib.browse(&no_split, &BrowseSort::default(), None, 10),
        Err(Error::NotFound(_))
    ));
    let no_class = filter(None, Some("1"), None);
    assert!(matches!(
        lib.browse(&no_class, &BrowseSort::default(), None, 10),
        Err(Error::Invalid(_))
    ));
    let bad_value = filter(Some("Cardiomegaly"), Some("2"), None);
    assert!(matches!(
        lib.browse(&bad_value, &BrowseSort::default(), None, 10),
        Err(Error::Invalid(_))
    ));
    let empty_text = BrowseFilter {
        text: Some("  ".into()),
        ..Default::default()
    };
    assert!(matches!(
        lib.browse(&empty_text, &BrowseSort::default(), None, 10),
        Err(Error::Invalid(_))
    ));
}

/// Every page of the grid under `sort`, following the cursors (as many as the count says).
fn all_pages(lib: &crate::Library, sort: &BrowseSort, size: u32) -> Vec<i64> {
    let (mut seen, mut after) = (Vec::new(), None::<String>);
    loop {
        let page = lib
            .browse(&BrowseFilter::default(), sort, after.as_deref(), size)
            .expect("page");
        seen.extend(page.rows.iter().map(|r| r.id));
        match page.next {
            Some(n) => after = Some(n),
            None => {
                let count = lib.browse_count(&BrowseFilter::default(), sort);
                assert_eq!(count.expect("count"), seen.len() as u64, "{sort:?}");
                return seen;
            }
        }
    }
}

#[test]
fn score_orders_page_through_ties_and_skip_unscored_pairs() {
    let (_tmp, lib) = library(9).expect("library");
    let all: Vec<i64> = pairs(&lib).expect("pairs").iter().map(|p| p.0).collect();
    let conn = lib.conn();
    conn.execute(
        "INSERT INTO models (name, family, path, source, dim, images, texts, fingerprint)
         VALUES ('m', 'clip', '/m', 'dir', 4, 1, 1, 'f')",
        [],
    )
    .expect("model");
    let model = conn.last_insert_rowid();
    // Scores with ties (0.5 three times); the last pair has no score.
    let scores = [0.9, 0.5, 0.1, 0.5, 0.7, 0.5, 0.2, 0.3];
    for (k, s) in scores.iter().enumerate() {
        conn.execute(
            "INSERT INTO pair_scores (pair_id, model_id, kind, score) VALUES (?1, ?2, 'mismatch', ?3)",
            rusqlite::params![all[k], model, s],
        )
        .expect("score");
    }
    let mut want: Vec<(f64, i64)> = scores.iter().zip(&all).map(|(s, id)| (*s, *id)).collect();
    want.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
    let by = |desc| BrowseSort {
        by: Some("mismatch".into()),
        model: Some("m".into()),
        desc: Some(desc),
        ..Default::default()
    };
    let desc: Vec<i64> = want.iter().map(|w| w.1).collect();
    for size in [1, 2, 3, 100] {
        assert_eq!(all_pages(&lib, &by(true), size), desc, "page size {size}");
    }
    want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let asc: Vec<i64> = want.iter().map(|w| w.1).collect();
    assert_eq!(all_pages(&lib, &by(false), 2), asc);
    assert_eq!(all_pages(&lib, &BrowseSort::default(), 4), all);
    let by_id_desc = BrowseSort {
        desc: Some(true),
        ..Default::default()
    };
    let mut reversed = all.clone();
    reversed.reverse();
    assert_eq!(all_pages(&lib, &by_id_desc, 4), reversed);

    let bad = |sort: BrowseSort, after: Option<&str>| {
        matches!(
            lib.browse(&BrowseFilter::default(), &sort, after, 5),
            Err(Error::Invalid(_) | Error::NotFound(_))
        )
    };
    assert!(
        bad(by(true), Some("17")),
        "an id cursor under a score order"
    );
    assert!(bad(BrowseSort::default(), Some("0.5:3")));
    assert!(bad(
        BrowseSort {
            by: Some("mismatch".into()),
            ..Default::default()
        },
        None
    ));
    assert!(bad(
        BrowseSort {
            by: Some("mismatch".into()),
            model: Some("nope".into()),
            ..Default::default()
        },
        None
    ));
    assert!(bad(
        BrowseSort {
            by: Some("confidence".into()),
            run: Some(99),
            ..Default::default()
        },
        None
    ));
    assert!(bad(
        BrowseSort {
            by: Some("loudness".into()),
            ..Default::default()
        },
        None
    ));
}

#[test]
fn a_run_disagreeing_with_the_labels_sorts_and_filters_and_rows_carry_badges() {
    let (_tmp, mut lib) = library(6).expect("library");
    let p: Vec<i64> = pairs(&lib).expect("pairs").iter().map(|x| x.0).collect();
    let conn = lib.conn();
    let schema: i64 = conn
        .query_row("SELECT id FROM schemas WHERE name = 'chexpert'", [], |r| {
            r.get(0)
        })
        .expect("schema");
    conn.execute_batch("INSERT INTO splits (id, name, strategy) VALUES (7, 's', 'random')")
        .expect("split");
    conn.execute(
        "INSERT INTO runs (id, schema_id, split_id, trainer, config, seed, fingerprint, classes, status, dir)
         VALUES (5, ?1, 7, 'head', '{}', 0, 'x', '[\"Cardiomegaly\",\"Edema\"]', 'done', '/r')",
        [schema],
    )
    .expect("run");
    for (k, probs) in [[0.9f32, 0.1], [0.2, 0.8], [0.6, 0.6], [0.5, 0.5]]
        .iter()
        .enumerate()
    {
        conn.execute(
            "INSERT INTO run_predictions (run_id, pair_id, part, probs) VALUES (5, ?1, 'test', ?2)",
            rusqlite::params![p[k], crate::embed::to_blob(probs)],
        )
        .expect("prediction");
    }
    let set = |lib: &mut crate::Library, k: usize, class: &str, v: i8| {
        lib.set_label(p[k], "chexpert", class, Some(v), "ann")
            .expect("label");
    };
    set(&mut lib, 0, "Cardiomegaly", 1); // agrees: |1 - 0.9|
    set(&mut lib, 1, "Cardiomegaly", 1); // disagrees: |1 - 0.2|
    set(&mut lib, 2, "Edema", 0); // disagrees: 0.6 is over the 0.5 threshold
    set(&mut lib, 3, "Edema", -1); // uncertain: no score
    let sort = BrowseSort {
        by: Some("disagreement".into()),
        run: Some(5),
        ..Default::default()
    };
    let scored = |lib: &crate::Library| -> Vec<(i64, f64)> {
        lib.browse(&BrowseFilter::default(), &sort, None, 10)
            .expect("browse")
            .rows
            .iter()
            .map(|r| (r.id, (r.score.expect("score") * 100.0).round() / 100.0))
            .collect()
    };
    assert_eq!(scored(&lib), vec![(p[1], 0.8), (p[2], 0.6), (p[0], 0.1)]);
    let disagrees = BrowseFilter {
        disagrees: Some(5),
        ..Default::default()
    };
    assert_eq!(ids(&lib, &disagrees), vec![p[1], p[2]]);
    // A label change makes the kept scores stale: they are worked out again.
    set(&mut lib, 1, "Cardiomegaly", 0);
    assert_eq!(ids(&lib, &disagrees), vec![p[2]]);
    assert_eq!(scored(&lib)[0], (p[2], 0.6));

    // Rows carry their review status and positive / uncertain labels (not negatives).
    let page = lib
        .browse(&BrowseFilter::default(), &BrowseSort::default(), None, 10)
        .expect("browse");
    let row = |k: usize| page.rows.iter().find(|r| r.id == p[k]).expect("row");
    assert_eq!(row(0).review.as_deref(), Some("labelled"));
    assert_eq!(
        row(0).labels,
        vec![crate::store::read::RowLabel {
            class: "Cardiomegaly".into(),
            value: 1,
            human: true
        }]
    );
    assert!(row(1).labels.is_empty(), "a negative is no badge");
    assert_eq!(row(3).labels[0].value, -1);
    assert_eq!(row(4).review.as_deref(), Some("unlabelled"));
    assert!(row(0).score.is_none(), "no score in id order");

    // The corpus filter.
    let corpus: i64 = lib
        .conn()
        .query_row("SELECT corpus_id FROM pairs WHERE id = ?1", [p[0]], |r| {
            r.get(0)
        })
        .expect("corpus");
    let of = |c: i64| BrowseFilter {
        corpus: Some(c),
        ..Default::default()
    };
    assert_eq!(ids(&lib, &of(corpus)), p);
    assert!(ids(&lib, &of(corpus + 100)).is_empty());
}
