//! Labeler tests: evidence offsets, sentences, sections and No Finding; rule-file
//! errors are in `errors.rs` and the big table of report sentences is in `table.rs`.

mod errors;
mod table;

use super::{Labeler, Value};

const CLASSES: [&str; 14] = [
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Lesion",
    "Lung Opacity",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
];

const SHORT: [&str; 14] = [
    "NF", "ECM", "CM", "LL", "LO", "ED", "CO", "PNA", "AT", "PTX", "EFF", "PO", "FX", "SD",
];

fn chexpert() -> Labeler {
    Labeler::chexpert().expect("built-in rules load")
}

/// "PTX=0 EFF=1" as a full value vector (unnamed classes blank).
fn values_of(spec: &str) -> Vec<Option<Value>> {
    let mut out = vec![None; SHORT.len()];
    for item in spec.split_whitespace() {
        let (name, v) = item.split_once('=').expect("NAME=VALUE");
        let i = SHORT.iter().position(|s| *s == name).expect("known class");
        out[i] = Some(match v {
            "1" => Value::Positive,
            "0" => Value::Negative,
            "-1" => Value::Uncertain,
            _ => panic!("bad value {v}"),
        });
    }
    out
}

fn value(labeler: &Labeler, text: &str, class: &str) -> Option<i8> {
    let i = labeler
        .classes()
        .iter()
        .position(|c| c == class)
        .expect("class");
    labeler.label(text).values[i].map(Value::as_i8)
}

#[test]
fn chexpert_classes_in_column_order() {
    let l = chexpert();
    assert_eq!(l.classes(), CLASSES);
    assert_eq!(l.sections().names, ["findings", "impression"]);
    assert_eq!(Value::Positive.as_i8(), 1);
    assert_eq!(Value::Negative.as_i8(), 0);
    assert_eq!(Value::Uncertain.as_i8(), -1);
}

#[test]
fn evidence_offsets_point_at_mentions() {
    let l = chexpert();
    let text = "FINDINGS:  Heart size is NORMAL.  No  pleural\n   effusion, but a Left-sided\npneumothorax may be present.\nIMPRESSION: Possible atelectasis.";
    let labels = l.label(text);
    let got: Vec<(&str, &str, i8, &str)> = labels
        .evidence
        .iter()
        .map(|e| {
            (
                e.class.as_str(),
                &text[e.start..e.end],
                e.value.as_i8(),
                e.rule.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "Cardiomegaly",
                "Heart size is NORMAL",
                0,
                "negative mention: heart size ... normal"
            ),
            (
                "Pleural Effusion",
                "pleural\n   effusion",
                0,
                "negation: no"
            ),
            (
                "Pneumothorax",
                "pneumothorax",
                -1,
                "uncertainty: may be present"
            ),
            ("Atelectasis", "atelectasis", -1, "uncertainty: possible"),
        ]
    );
}

#[test]
fn evidence_for_prefixes_gaps_and_unicode() {
    let l = chexpert();
    let text = "Führer wrote: bibasilar ATELECTATIC changes; the heart is mildly enlarged.";
    let labels = l.label(text);
    let spans: Vec<&str> = labels
        .evidence
        .iter()
        .map(|e| &text[e.start..e.end])
        .collect();
    assert_eq!(spans, ["ATELECTATIC", "heart is mildly enlarged"]);
    assert_eq!(labels.evidence[0].rule, "mention: atelecta*");
    assert_eq!(labels.evidence[1].rule, "mention: heart ... enlarged");
    let json = format!("{:?}", labels.evidence[1]);
    assert!(json.contains("Cardiomegaly"), "{json}");
}

#[test]
fn evidence_records_implied_classes_and_other_findings() {
    let l = chexpert();
    let labels = l.label("Mild CHF. Emphysema.");
    let rules: Vec<(&str, &str)> = labels
        .evidence
        .iter()
        .map(|e| (e.class.as_str(), e.rule.as_str()))
        .collect();
    assert_eq!(
        rules,
        [
            ("Edema", "mention: chf"),
            ("Cardiomegaly", "implied by: chf"),
            (
                "No Finding",
                "other finding: emphysema: a finding, so not No Finding"
            ),
        ]
    );
    assert_eq!(labels.values[0], None);
    // Evidence against No Finding, not for it; a negated finding is no evidence at all.
    let against = labels.evidence.iter().find(|e| e.class == "No Finding");
    assert_eq!(against.map(|e| e.value), Some(Value::Negative));
    let clear = l.label("No emphysema. Lungs are clear.");
    assert!(
        clear
            .evidence
            .iter()
            .all(|e| !e.rule.starts_with("other finding"))
    );
}

fn sentences_of(text: &str) -> Vec<&str> {
    let l = chexpert();
    let mut out = Vec::new();
    super::sentences::split(text, 0..text.len(), &l.rules.abbreviations, &mut out);
    out.into_iter().map(|r| &text[r]).collect()
}

#[test]
fn sentences_respect_decimals_and_abbreviations() {
    assert_eq!(
        sentences_of("Tube tip is 2.5 cm above the carina. No pneumothorax."),
        ["Tube tip is 2.5 cm above the carina.", "No pneumothorax."]
    );
    assert_eq!(
        sentences_of(
            "Discussed with Dr. Smith at 10 a.m. on the ward. Opacity, e.g. pneumonia, vs. atelectasis, i.e. collapse."
        ),
        [
            "Discussed with Dr. Smith at 10 a.m. on the ward.",
            "Opacity, e.g. pneumonia, vs. atelectasis, i.e. collapse."
        ]
    );
    assert_eq!(
        sentences_of("1. No effusion. 2. Mild cardiomegaly 3. Possible nodule measuring 1.5 cm."),
        [
            "1. No effusion.",
            "2. Mild cardiomegaly",
            "3. Possible nodule measuring 1.5 cm."
        ]
    );
    assert_eq!(
        sentences_of("Measures 3 cm. Next sentence! Really? Yes"),
        ["Measures 3 cm.", "Next sentence!", "Really?", "Yes"]
    );
    assert_eq!(
        sentences_of("Approx. 2 cm nodule. Seen by J. Smith."),
        ["Approx. 2 cm nodule.", "Seen by J. Smith."]
    );
}

#[test]
fn sentences_respect_line_breaks() {
    // Wrapped lines continue a sentence; blank lines, list markers and capitals break.
    assert_eq!(
        sentences_of(
            "There is no focal consolidation or\npleural effusion.\nHeart size normal\nLungs clear\n\nno pneumothorax\n- small effusion\n2) atelectasis"
        ),
        [
            "There is no focal consolidation or\npleural effusion.",
            "Heart size normal",
            "Lungs clear",
            "no pneumothorax",
            "- small effusion",
            "2) atelectasis"
        ]
    );
    assert_eq!(sentences_of("  \n \n "), Vec::<&str>::new());
}

#[test]
fn line_breaks_limit_negation_scope() {
    let l = chexpert();
    assert_eq!(
        value(&l, "No pneumothorax\nSmall effusion", "Pleural Effusion"),
        Some(1)
    );
    assert_eq!(
        value(&l, "No pneumothorax or\neffusion", "Pleural Effusion"),
        Some(0)
    );
}

#[test]
fn sections_select_what_is_labelled() {
    let l = chexpert();
    let report =
        "INDICATION: Pneumonia?\nFINDINGS: Small left effusion.\nIMPRESSION: Cardiomegaly.";
    assert_eq!(l.label(report).values, values_of("EFF=1 CM=1"));
    // Only the impression.
    let l = l.with_sections(vec!["Impression".into()]);
    assert_eq!(l.label(report).values, values_of("CM=1"));
    // A heading variant selects its section.
    let l = l.with_sections(vec!["conclusion".into()]);
    assert_eq!(
        l.label("FINDINGS: Effusion.\nCONCLUSION: Pneumothorax.")
            .values,
        values_of("PTX=1")
    );
    // The indication, if asked for.
    let l = l.with_sections(vec!["indication".into()]);
    assert_eq!(l.label(report).values, values_of("PNA=1"));
    // None of the chosen sections: the whole report is labelled.
    let l = chexpert().with_sections(vec!["findings".into()]);
    assert_eq!(
        l.label("IMPRESSION: Small effusion.").values,
        values_of("EFF=1")
    );
    assert_eq!(l.label("Small effusion.").values, values_of("EFF=1"));
}

#[test]
fn headings_inline_and_on_their_own_line() {
    let l = chexpert();
    // Upper case heading inside a line; lower-case "findings:" inside a line is text.
    let r =
        "INDICATION: assess pneumothorax. FINDINGS: No effusion. IMPRESSION: Normal heart size.";
    assert_eq!(l.label(r).values, values_of("NF=1 EFF=0 CM=0"));
    let r = "FINDINGS\nSmall effusion.\nIMPRESSION\nNo pneumothorax.\nRECOMMENDATION(S): CT to assess the nodule.";
    assert_eq!(l.label(r).values, values_of("EFF=1 PTX=0"));
    let r = "Clinical history: pneumonia.\nFindings and impression: Clear lungs.";
    assert_eq!(l.label(r).values, values_of("NF=1 LO=0"));
}

#[test]
fn odd_inputs_do_not_panic() {
    let l = chexpert();
    let long = "no effusion or pneumothorax, ".repeat(500);
    let inputs = [
        "",
        ":",
        "FINDINGS:",
        "FINDINGS",
        "IMPRESSION:\n",
        "\r\n\r\n",
        "...",
        "1.",
        "no",
        "- ",
        "\u{2022}",
        "\u{2022} effusion",
        "é",
        "FINDINGS:é effusion ü",
        "no ... effusion",
        "effusion-",
        "-effusion-",
        "INDICATION:\nFINDINGS:",
        "  (S):",
        "RECOMMENDATION(S)",
        "a:b",
        "x\n2",
        "x 2. Y",
        "x 1.",
        "Pneumothorax.\r\nNo effusion.\r\n",
        "FINDINGS: Ünïcödé — “quoted” pneumothorax… ",
        "heart size is",
        "heart ... enlarged",
        "is possible",
        "cannot be excluded",
        "Normal. Heart. Size. Is. Enlarged.",
        &long,
    ];
    for text in inputs {
        let labels = l.label(text);
        assert_eq!(labels.values.len(), 14);
        for e in &labels.evidence {
            assert!(
                text.get(e.start..e.end).is_some_and(|s| !s.is_empty()),
                "{text:?} {e:?}"
            );
        }
    }
    let labels = l.label(&long);
    assert_eq!(labels.values, values_of("NF=1 EFF=0 PTX=0"));
}

#[test]
fn no_finding_is_positive_or_blank() {
    let l = chexpert();
    let nf = |t: &str| value(&l, t, "No Finding");
    assert_eq!(nf(""), Some(1));
    assert_eq!(nf("No acute cardiopulmonary process."), Some(1));
    assert_eq!(nf("No pneumothorax or effusion."), Some(1));
    assert_eq!(nf("Endotracheal tube in place."), Some(1));
    assert_eq!(nf("Small effusion."), None);
    assert_eq!(nf("Possible pneumonia."), None);
    assert_eq!(nf("Stable cardiomediastinal silhouette."), None);
    assert_eq!(nf("Emphysema."), None);
    assert_eq!(nf("No emphysema."), Some(1));
    assert_eq!(nf("Old rib fracture."), None);
    // Never 0 or -1, whatever the report says about "findings".
    for t in [
        "No finding.",
        "Findings are normal.",
        "No abnormal findings. Possibly normal.",
    ] {
        assert_eq!(nf(t), Some(1), "{t}");
    }
}

#[test]
fn evidence_serializes_with_value_names() {
    let e = super::Evidence {
        class: "Edema".into(),
        start: 0,
        end: 5,
        value: Value::Uncertain,
        rule: "mention: edema".into(),
    };
    let s = toml::to_string(&e).expect("serialize");
    assert!(s.contains("value = \"Uncertain\""), "{s}");
    assert!(s.contains("rule = \"mention: edema\""), "{s}");
}

/// Throughput on typical reports (release, one thread):
/// `cargo test --release report_labeler::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let l = chexpert();
    let reports: Vec<String> = (0..2000)
        .map(|i| {
            let side = if i % 2 == 0 { "left" } else { "right" };
            format!(
                "EXAMINATION: CHEST (PA AND LATERAL)\nINDICATION: {i} year old with cough, evaluate for pneumonia.\n\
                 COMPARISON: Chest radiograph from {i} days prior.\n\
                 FINDINGS: The heart size is normal. The mediastinal contours are unremarkable. \
                 There is a small {side} pleural effusion with adjacent atelectasis. No pneumothorax is seen. \
                 Endotracheal tube terminates 4.{} cm above the carina. Mild degenerative changes of the spine.\n\
                 IMPRESSION: 1. Small {side} pleural effusion, cannot exclude superimposed pneumonia. 2. No pneumothorax.",
                i % 10
            )
        })
        .collect();
    let mean = reports.iter().map(String::len).sum::<usize>() / reports.len();
    let start = std::time::Instant::now();
    let mut n = 0usize;
    let mut evidence = 0usize;
    while start.elapsed().as_secs_f64() < 2.0 {
        for r in &reports {
            evidence += l.label(r).evidence.len();
            n += 1;
        }
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    println!("{rate:.0} reports/s ({mean} bytes mean, {evidence} evidence items)");
}
