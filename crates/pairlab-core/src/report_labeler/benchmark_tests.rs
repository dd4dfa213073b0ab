//! The real-report benchmark's gold mapping, halves and scoring, on made-up reports.

use super::*;

const MAP: &str = r#"
    classes = ["No Finding", "Cardiomegaly", "Enlarged Cardiomediastinum", "Support Devices"]
    excluded = ["No Indexing"]
    [no_finding]
    class = "No Finding"
    normal = ["normal"]
    not_blocking = ["Support Devices"]
    [[rule]]
    mesh = "Cardiomegaly"
    with = ["borderline"]
    ignore = ["Cardiomegaly"]
    [[rule]]
    mesh = "Cardiomegaly"
    positive = ["Cardiomegaly"]
    ignore = ["Enlarged Cardiomediastinum"]
    [[rule]]
    mesh = "Catheters,  Indwelling"
    positive = ["Support Devices"]
"#;

fn terms(t: &[&str]) -> Vec<String> {
    t.iter().map(|s| s.to_string()).collect()
}

#[test]
fn gold_follows_the_first_matching_rule_and_positive_beats_ignored() {
    use Gold::*;
    let map = GoldMap::from_toml(MAP).expect("map");
    assert_eq!(
        map.gold(&terms(&["normal"])),
        Some(vec![Positive, Negative, Negative, Negative])
    );
    assert_eq!(
        map.gold(&terms(&["Cardiomegaly/mild"])),
        Some(vec![Negative, Positive, Ignored, Negative])
    );
    // The borderline rule comes first: the class is left out, No Finding too (no
    // positive class blocks it, but the report is not indexed as normal).
    assert_eq!(
        map.gold(&terms(&["cardiomegaly/Borderline"])),
        Some(vec![Ignored, Ignored, Negative, Negative])
    );
    assert_eq!(
        map.gold(&terms(&["Cardiomegaly/borderline", "Cardiomegaly/severe"])),
        Some(vec![Negative, Positive, Ignored, Negative])
    );
    // Support devices do not block No Finding; unknown terms leave it out.
    assert_eq!(
        map.gold(&terms(&["Catheters, Indwelling/right"])),
        Some(vec![Ignored, Negative, Negative, Positive])
    );
    assert_eq!(
        map.gold(&terms(&["Spine/degenerative"])),
        Some(vec![Ignored, Negative, Negative, Negative])
    );
    assert_eq!(map.gold(&terms(&["No Indexing"])), None);
}

#[test]
fn a_map_naming_an_unknown_class_is_refused() {
    let bad = MAP.replace(
        "positive = [\"Support Devices\"]",
        "positive = [\"Devices\"]",
    );
    let err = GoldMap::from_toml(&bad).err().expect("refused").to_string();
    assert!(err.contains("\"Devices\""), "{err}");
    assert!(GoldMap::from_toml("classes = []\nbogus = 1").is_err());
}

#[test]
fn halves_split_on_odd_and_even_file_numbers() {
    assert_eq!(Half::of(1), Half::Development);
    assert_eq!(Half::of(3955), Half::Development);
    assert_eq!(Half::of(2), Half::HeldOut);
}

#[test]
fn scores_count_uncertain_as_negative_when_strict_and_positive_when_lenient() {
    let map = GoldMap::from_toml(MAP).expect("map");
    let labeler = Labeler::chexpert().expect("rules");
    let report = |number, text: &str, mesh: &[&str]| IuReport {
        number,
        text: text.to_owned(),
        mesh: terms(mesh),
    };
    let reports = vec![
        report(1, "FINDINGS: Mild cardiomegaly.", &["Cardiomegaly/mild"]),
        report(
            3,
            "FINDINGS: Heart size is borderline.",
            &["Cardiomegaly/mild"],
        ),
        report(5, "FINDINGS: Cardiomegaly.", &["normal"]),
        report(7, "FINDINGS: Normal heart size.", &["normal"]),
        report(2, "FINDINGS: Cardiomegaly.", &["Cardiomegaly"]),
        report(9, "FINDINGS: Cardiomegaly.", &["No Indexing"]),
    ];
    let (score, scored) = score_half(&labeler, &map, &reports, Half::Development).expect("scored");
    assert_eq!(
        score.reports, 4,
        "the held-out and the unindexed report are out"
    );
    assert_eq!(scored.len(), 4);
    let cm = &score.classes[1];
    assert_eq!(cm.class, "Cardiomegaly");
    assert_eq!((cm.strict.tp, cm.strict.fp, cm.strict.fn_), (1, 1, 1));
    assert_eq!((cm.lenient.tp, cm.lenient.fp, cm.lenient.fn_), (2, 1, 0));
    assert_eq!(cm.support, 2);
    assert!((cm.strict.f1 - 0.5).abs() < 1e-12);
    assert!(score.reports_per_s > 0.0);
    assert_eq!(score.common.classes, vec!["Cardiomegaly".to_owned()]);
}
