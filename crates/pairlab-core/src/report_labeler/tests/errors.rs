//! Rule files: a minimal one works, and broken ones fail with messages that say what
//! and where.

use super::super::{Labeler, LabelerError, Value};

const MINIMAL: &str = r#"
[[class]]
name = "Effusion"
mentions = ["effusion"]
[triggers.before]
negation = ["no"]
"#;

#[test]
fn minimal_rule_file_works() {
    let l = Labeler::from_toml(MINIMAL).expect("minimal rules");
    assert_eq!(l.classes(), ["Effusion"]);
    assert_eq!(l.label("No effusion.").values, [Some(Value::Negative)]);
    assert_eq!(l.label("Effusion.").values, [Some(Value::Positive)]);
    assert_eq!(l.label("Nothing.").values, [None]);
}

fn rules_error(text: &str) -> String {
    match Labeler::from_toml(text) {
        Ok(_) => panic!("rules should fail:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn from_toml_reports_clear_errors() {
    let cases: &[(&str, &str)] = &[
        ("[[class]\nname = 1", "TOML"),
        (
            "[[class]]\nname = \"A\"\nmentoins = [\"a\"]",
            "unknown field `mentoins`",
        ),
        ("[[class]]\nname = 3", "invalid type"),
        ("name = \"x\"", "no classes"),
        (
            "[[class]]\nname = \"A\"\n[[class]]\nname = \"A\"",
            "class \"A\" is listed twice",
        ),
        ("[[class]]\nname = \"  \"", "empty name"),
        (
            "[[class]]\nname = \"A\"\nmentions = [\"... a\"]",
            "`...` at the start",
        ),
        (
            "[[class]]\nname = \"A\"\nmentions = [\"a ... ... b\"]",
            "twice in a row",
        ),
        ("[[class]]\nname = \"A\"\nmentions = [\"a* b\"]", "`*`"),
        ("[[class]]\nname = \"A\"\nmentions = [\"  \"]", "is empty"),
        (
            "[[class]]\nname = \"A\"\nmentions = [\"a\", \"A\"]",
            "listed twice for this class",
        ),
        (
            "[[class]]\nname = \"A\"\n[no_finding]\nclass = \"B\"",
            "[no_finding] class names class \"B\"",
        ),
        (
            "[[class]]\nname = \"A\"\n[no_finding]\nclass = \"A\"\nignore = [\"C\"]",
            "[no_finding] ignore names class \"C\"",
        ),
        (
            "[[class]]\nname = \"A\"\nmentions = [\"a\"]\nimplies = [{ mentions = [\"a\"], class = \"Z\", value = \"uncertain\" }]",
            "implies names class \"Z\"",
        ),
        (
            "[[class]]\nname = \"A\"\nmentions = [\"a\"]\nimplies = [{ mentions = [\"b\"], class = \"A\", value = \"uncertain\" }]",
            "not one of its mentions",
        ),
        (
            "[[class]]\nname = \"A\"\nmentions = [\"a\"]\nimplies = [{ mentions = [\"a\"], class = \"A\", value = \"maybe\" }]",
            "unknown variant `maybe`",
        ),
        (
            "[[class]]\nname = \"A\"\n[sections]\nlabel = [\"summary\"]",
            "not a key of [sections.headings]",
        ),
        (
            "[[class]]\nname = \"A\"\n[sections.headings]\nfindings = [\"find:ings\"]",
            "letters, digits and spaces",
        ),
        (
            "[[class]]\nname = \"A\"\n[sections.headings]\na = [\"x\"]\nb = [\"x\"]",
            "under two sections",
        ),
        (
            "[[class]]\nname = \"A\"\n[scope]\ngap_words = 100",
            "too large",
        ),
        (
            "[[class]]\nname = \"A\"\n[scope]\nclause_verbs = [\"is not\"]",
            "single word",
        ),
        (
            "[[class]]\nname = \"A\"\n[sentences]\nabbreviations = [\"e. g\"]",
            "one word",
        ),
        (
            "[[class]]\nname = \"A\"\n[triggers.sideways]\nnegation = [\"no\"]",
            "unknown field `sideways`",
        ),
        (
            "[[class]]\nname = \"A\"\n[triggers.before]\nnegation = [\"no ...\"]",
            "[triggers.before] negation: phrase \"no ...\"",
        ),
    ];
    for (text, want) in cases {
        let msg = rules_error(text);
        assert!(
            msg.contains(want),
            "error for {text:?} was {msg:?}, wanted {want:?}"
        );
        assert!(msg.starts_with("labeler rules: "), "{msg}");
    }
    // Syntax errors carry the position.
    let msg = rules_error("[[class]]\nname = \"A\"\nmentions = [\"a\",,]");
    assert!(msg.contains("line 3"), "{msg}");
    assert!(matches!(
        Labeler::from_toml("x = ["),
        Err(LabelerError::Parse(_))
    ));
    assert!(matches!(
        Labeler::from_toml("[[class]]\nname = \"A\"\nmentions = [\"...\"]"),
        Err(LabelerError::Rules(_))
    ));
}
