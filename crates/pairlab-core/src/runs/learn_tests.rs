//! The learned report labeler and a text run's token evidence, on a small corpus whose
//! reports say effusion or say the lungs are clear, with the real MiniLM.

use std::collections::HashSet;

use super::learn::{LearnOptions, human_then_rules, labeler_status, learn_labeler, weigh};
use super::parts::{Gathered, PartData};
use crate::error::Result;
use crate::ingest::IndexOptions;
use crate::labels;
use crate::library::Library;
use crate::progress::Silent;
use pairlab_ml::train::Targets;

const EFFUSION: &str = "FINDINGS: Large left pleural effusion with basilar opacity.\nIMPRESSION: Left pleural effusion.";
const CLEAR: &str = "FINDINGS: The lungs are clear. Heart size is normal.\nIMPRESSION: No acute cardiopulmonary disease.";

fn library() -> Result<(tempfile::TempDir, Library)> {
    let tmp = tempfile::tempdir().map_err(|e| crate::Error::io("tmp", e))?;
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).map_err(|e| crate::Error::io(&corpus, e))?;
    for i in 0..40u32 {
        let img = image::GrayImage::from_fn(16, 16, |x, y| {
            image::Luma([((x * 7 + y * 3 + i) % 255) as u8])
        });
        let p = corpus.join(format!("p{i:03}.png"));
        img.save(&p)
            .map_err(|e| crate::Error::io(&p, std::io::Error::other(e)))?;
        let t = corpus.join(format!("p{i:03}.txt"));
        std::fs::write(&t, if i % 2 == 0 { EFFUSION } else { CLEAR })
            .map_err(|e| crate::Error::io(&t, e))?;
    }
    let mut lib = Library::open(&tmp.path().join("lib"))?;
    lib.index(&corpus, &IndexOptions::default(), &Silent)?;
    let minilm = pairlab_ml::random_weights::fixtures_root().join("minilm");
    assert!(minilm.is_dir(), "run scripts/fetch-fixtures.sh");
    lib.add_model(&minilm.to_string_lossy(), Some("minilm"))?;
    Ok((tmp, lib))
}

#[test]
fn the_learned_labeler_trains_on_human_then_rule_labels_and_shows_its_tokens() -> Result<()> {
    let (_tmp, mut lib) = library()?;
    let status = labeler_status(lib.conn(), "chexpert")?;
    assert_eq!(
        (status.last_run, status.human_changes_since, status.suggest),
        (None, 0, false)
    );
    assert_eq!(status.text_models, ["minilm"]);
    // A human disagrees with the rules on pair 1 (an effusion report).
    labels::set_human(
        lib.conn_mut(),
        1,
        "chexpert",
        "Pleural Effusion",
        Some(0),
        "dr-a",
    )?;
    let root = lib.root().to_path_buf();
    let opts = LearnOptions {
        schema: "chexpert".into(),
        text_model: None,
        epochs: 30,
        unfreeze: Some("head".into()),
        seed: 1,
    };
    let run = learn_labeler(lib.conn_mut(), &root, &opts, &Silent)?;
    assert_eq!(
        (
            run.trainer.as_str(),
            run.split.as_str(),
            run.model.as_deref()
        ),
        ("text", "labeler-chexpert", Some("minilm"))
    );
    // The rules ran first (the schema had no report-rules labels), and the policy is kept.
    let rules: i64 = lib.conn().query_row(
        "SELECT COUNT(DISTINCT pair_id) FROM labels WHERE source = 'report-rules'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(rules, 40);
    let config: String =
        lib.conn()
            .query_row("SELECT config FROM runs WHERE id = ?1", [run.run_id], |r| {
                r.get(0)
            })?;
    assert!(
        config.contains("\"labels\":\"human-then-report-rules\"")
            && config.contains("\"human_weight\":3"),
        "{config}"
    );
    let schema = labels::schema::get(lib.conn(), "chexpert")?;
    let (values, humans) = human_then_rules(lib.conn(), schema.id)?;
    assert_eq!(humans, HashSet::from([1]));
    assert_eq!(
        values.get(&(1, "Pleural Effusion".to_string())),
        Some(&0),
        "the human label wins"
    );
    assert_eq!(
        values.get(&(3, "Pleural Effusion".to_string())),
        Some(&1),
        "the rules elsewhere"
    );
    let status = labeler_status(lib.conn(), "chexpert")?;
    assert_eq!(status.last_run, Some(run.run_id));

    // It labels any report text, and leaves an empty one alone.
    let texts = vec![EFFUSION.to_string(), CLEAR.to_string(), "  ".to_string()];
    let labelled = lib.label_texts_with_run(run.run_id, &texts)?;
    let k = run
        .classes
        .iter()
        .position(|c| c == "Pleural Effusion")
        .expect("class");
    assert_eq!((labelled[0][k], labelled[1][k]), (Some(1), Some(0)));
    assert!(labelled[2].iter().all(Option::is_none));

    // Its pre-labels come with the report tokens that weighed most, as spans of the text.
    lib.prelabel_from_run(run.run_id)?;
    let evidence = lib.model_evidence(3, "chexpert")?;
    let effusion: Vec<_> = evidence
        .iter()
        .filter(|e| e.class == "Pleural Effusion")
        .collect();
    assert!(!effusion.is_empty() && effusion.len() <= 5, "{evidence:?}");
    let words: Vec<String> = effusion
        .iter()
        .map(|e| EFFUSION[e.start..e.end].to_lowercase())
        .collect();
    assert!(
        words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_alphanumeric())),
        "{words:?}"
    );
    assert!(
        words.iter().any(|w| w.contains("eff") || w == "pleural"),
        "{words:?}"
    );
    assert!(effusion[0].rule.contains(&format!("run {}", run.run_id)));
    // A clear report has no positive effusion label, so no evidence for it.
    assert!(
        lib.model_evidence(4, "chexpert")?
            .iter()
            .all(|e| e.class != "Pleural Effusion")
    );
    Ok(())
}

#[test]
fn human_rows_repeat_by_their_weight() {
    let mut data = Gathered {
        train: PartData {
            x: vec![1.0, 1.0, 2.0, 2.0, 3.0, 3.0],
            targets: Targets::MultiLabel {
                values: vec![1.0, 0.0, 0.0],
                classes: 1,
            },
            pairs: vec![10, 20, 30],
        },
        val: PartData {
            x: vec![],
            targets: Targets::MultiLabel {
                values: vec![],
                classes: 1,
            },
            pairs: vec![],
        },
        all: vec![],
        fingerprint: String::new(),
    };
    weigh(&mut data, &HashSet::from([20]), 3, 2);
    assert_eq!(data.train.pairs, [10, 20, 30, 20, 20]);
    assert_eq!(
        data.train.x,
        [1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 2.0, 2.0, 2.0, 2.0]
    );
    assert_eq!(
        data.train.targets,
        Targets::MultiLabel {
            values: vec![1.0, 0.0, 0.0, 0.0, 0.0],
            classes: 1
        }
    );
}
