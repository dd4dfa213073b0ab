//! The rule file's TOML layout. Unknown keys are errors, so that a misspelt key in a
//! user's rule file is reported rather than silently ignored.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RuleFile {
    /// Informational only.
    #[serde(default)]
    #[allow(dead_code, reason = "informational, for people reading the file")]
    pub name: Option<String>,
    /// Informational only.
    #[serde(default)]
    #[allow(dead_code, reason = "informational, for people reading the file")]
    pub description: Option<String>,
    #[serde(default)]
    pub scope: ScopeDef,
    #[serde(default)]
    pub sentences: SentenceDef,
    #[serde(default)]
    pub sections: SectionDef,
    #[serde(default)]
    pub triggers: TriggerDef,
    #[serde(default)]
    pub no_finding: Option<NoFindingDef>,
    #[serde(rename = "class", default)]
    pub classes: Vec<ClassDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ScopeDef {
    pub gap_words: usize,
    pub after_words: usize,
    pub near_words: usize,
    pub clause_verbs: Vec<String>,
    pub linking_words: Vec<String>,
}

impl Default for ScopeDef {
    fn default() -> Self {
        ScopeDef {
            gap_words: 3,
            after_words: 8,
            near_words: 2,
            clause_verbs: Vec::new(),
            linking_words: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SentenceDef {
    pub abbreviations: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SectionDef {
    pub label: Vec<String>,
    pub headings: BTreeMap<String, Vec<String>>,
}

impl Default for SectionDef {
    fn default() -> Self {
        let label = vec!["findings".to_owned(), "impression".to_owned()];
        SectionDef {
            headings: label.iter().map(|n| (n.clone(), Vec::new())).collect(),
            label,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct TriggerDef {
    pub termination: Vec<String>,
    pub negation_exceptions: Vec<String>,
    pub pseudo_triggers: Vec<String>,
    pub before: TriggerSet,
    pub after: TriggerSet,
    pub near: TriggerSet,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct TriggerSet {
    pub pre_negation_uncertainty: Vec<String>,
    pub negation: Vec<String>,
    pub post_negation_uncertainty: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoFindingDef {
    pub class: String,
    #[serde(default)]
    pub ignore: Vec<String>,
    #[serde(default)]
    pub other_findings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClassDef {
    pub name: String,
    #[serde(default)]
    pub mentions: Vec<String>,
    #[serde(default)]
    pub negative_mentions: Vec<String>,
    #[serde(default)]
    pub uncertain_mentions: Vec<String>,
    #[serde(default)]
    pub unmentions: Vec<String>,
    #[serde(default)]
    pub implies: Vec<ImplyDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ImplyDef {
    pub mentions: Vec<String>,
    pub class: String,
    pub value: ValueDef,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub(super) enum ValueDef {
    Positive,
    Negative,
    Uncertain,
}

impl From<ValueDef> for Value {
    fn from(v: ValueDef) -> Value {
        match v {
            ValueDef::Positive => Value::Positive,
            ValueDef::Negative => Value::Negative,
            ValueDef::Uncertain => Value::Uncertain,
        }
    }
}
