//! A rule-based radiology report labeler modelled on the CheXpert labeler (Irvin et al.,
//! 2019): mention extraction, negation and uncertainty detection, and aggregation into
//! one value per class (1 positive, 0 negative, -1 uncertain, blank).
//!
//! The rules are data: the built-in CheXpert rules live in
//! `assets/labeler/chexpert.toml` and users may load their own with
//! [`Labeler::from_toml`]. Where CheXpert reads dependency parses, this labeler uses
//! phrase scope within sentences (see `scope.rs`), which is fast (one Aho-Corasick pass
//! per report) and predictable.
//!
//! ```text
//! report ─ sections ─ sentences ─ normalise ─ match phrases ─ decide each mention ─ aggregate
//! ```

pub mod benchmark;
pub mod chexpert_csv;
mod file;
mod matcher;
mod rules;
mod scope;
mod sentences;
#[cfg(test)]
mod tests;

use serde::Serialize;
use ts_rs::TS;

use matcher::Norm;
use rules::{MentionKind, Rules};

const CHEXPERT_TOML: &str = include_str!("../../../../assets/labeler/chexpert.toml");

#[derive(Debug, thiserror::Error)]
pub enum LabelerError {
    /// The rule file is not valid TOML or does not have the expected layout.
    #[error("labeler rules: {0}")]
    Parse(String),
    /// The rule file parses but its content is inconsistent.
    #[error("labeler rules: {0}")]
    Rules(String),
}

/// A label value: CheXpert's 1, 0 and -1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, TS)]
pub enum Value {
    Positive,
    Negative,
    Uncertain,
}

impl Value {
    pub fn as_i8(self) -> i8 {
        match self {
            Value::Positive => 1,
            Value::Negative => 0,
            Value::Uncertain => -1,
        }
    }

    /// Aggregation order: any positive mention wins, then uncertain, then negative.
    fn rank(self) -> u8 {
        match self {
            Value::Positive => 3,
            Value::Uncertain => 2,
            Value::Negative => 1,
        }
    }
}

/// Why a class got a value: one mention in the report and the rule that decided it.
///
/// Under the No Finding class, evidence records other abnormalities ("emphysema") that
/// stop No Finding from being positive, with the value read for that abnormality.
#[derive(Clone, Debug, PartialEq, Serialize, TS)]
pub struct Evidence {
    pub class: String,
    /// Byte offsets of the mention in the original report text.
    pub start: usize,
    pub end: usize,
    pub value: Value,
    /// "mention: pleural effusion", "negation: no", "uncertainty: possible", ...
    pub rule: String,
}

/// One piece of evidence with its sentence, for a rule author reading why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explained {
    pub sentence: String,
    /// Byte offsets of the mention within `sentence`.
    pub start: usize,
    pub end: usize,
    pub value: Value,
    pub rule: String,
}

/// The labels of one report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Labels {
    /// One per class, in class order; `None` is blank (not mentioned).
    pub values: Vec<Option<Value>>,
    /// The mentions that fired, in text order.
    pub evidence: Vec<Evidence>,
}

/// Which report sections to label (lower case, e.g. "findings").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sections {
    pub names: Vec<String>,
}

impl Default for Sections {
    fn default() -> Self {
        Sections {
            names: vec!["findings".to_owned(), "impression".to_owned()],
        }
    }
}

/// Compiled labeling rules plus the sections to label.
pub struct Labeler {
    rules: Rules,
    sections: Sections,
    /// Per section of `rules.section_names`: whether it is labelled.
    selected: Vec<bool>,
}

impl std::fmt::Debug for Labeler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Labeler")
            .field("classes", &self.rules.classes)
            .field("sections", &self.sections.names)
            .finish_non_exhaustive()
    }
}

impl Labeler {
    /// The built-in CheXpert rules (14 observations).
    pub fn chexpert() -> Result<Labeler, LabelerError> {
        Labeler::from_toml(CHEXPERT_TOML)
    }

    /// Rules from a TOML rule file (see `assets/labeler/chexpert.toml` for the layout).
    pub fn from_toml(text: &str) -> Result<Labeler, LabelerError> {
        let rules = Rules::from_toml(text)?;
        let sections = Sections {
            names: rules.default_sections.clone(),
        };
        Ok(Labeler::assemble(rules, sections))
    }

    /// Labels these sections instead (names as in `[sections.headings]`, any case; a
    /// heading variant such as "conclusion" selects its section). A report with none of
    /// them is labelled whole.
    pub fn with_sections(self, sections: Vec<String>) -> Labeler {
        let names = sections
            .iter()
            .map(|s| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_lowercase()
            })
            .collect();
        Labeler::assemble(self.rules, Sections { names })
    }

    fn assemble(rules: Rules, sections: Sections) -> Labeler {
        let selected = rules
            .section_names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                sections.names.iter().any(|n| {
                    n == name
                        || rules
                            .headings
                            .iter()
                            .any(|h| h.section == i && h.text == *n)
                })
            })
            .collect();
        Labeler {
            rules,
            sections,
            selected,
        }
    }

    pub fn classes(&self) -> &[String] {
        &self.rules.classes
    }

    pub fn sections(&self) -> &Sections {
        &self.sections
    }

    /// The byte ranges of the sentences it labels in a report (of the selected sections,
    /// or of the whole report when it has none of them), in text order.
    pub fn sentences(&self, report: &str) -> Vec<std::ops::Range<usize>> {
        let rules = &self.rules;
        let mut sents = Vec::new();
        for range in sentences::label_ranges(report, &rules.headings, &self.selected) {
            sentences::split(report, range, &rules.abbreviations, &mut sents);
        }
        sents
    }

    /// Labels one report.
    pub fn label(&self, report: &str) -> Labels {
        let rules = &self.rules;
        let sents = self.sentences(report);
        let norm = Norm::build(report, &sents);
        let mut found = Vec::new();
        rules
            .matcher
            .find(&norm.text, rules.scope.gap_words, &mut found);

        let mut fired = Vec::new();
        let mut i = 0;
        while i < found.len() {
            let sentence = norm.sentence_of(found[i].start);
            let mut j = i + 1;
            while j < found.len() && norm.sentence_of(found[j].start) == sentence {
                j += 1;
            }
            scope::decide(rules, &norm.text, &found[i..j], &mut fired);
            i = j;
        }
        self.aggregate(&norm, &fired)
    }

    /// Why a report got its value for `class`: each piece of evidence of that class with
    /// the sentence it is in (for No Finding, the findings that stopped it). Empty when
    /// the report never mentions the class.
    pub fn explain(&self, report: &str, class: &str) -> Vec<Explained> {
        let sentences = self.sentences(report);
        self.label(report)
            .evidence
            .into_iter()
            .filter(|e| e.class == class)
            .map(|e| {
                let range = sentences
                    .iter()
                    .find(|r| r.start <= e.start && e.end <= r.end)
                    .cloned()
                    .unwrap_or(e.start..e.end);
                Explained {
                    sentence: report[range.clone()].to_owned(),
                    start: e.start - range.start,
                    end: e.end - range.start,
                    value: e.value,
                    rule: e.rule,
                }
            })
            .collect()
    }

    fn aggregate(&self, norm: &Norm, fired: &[scope::Fired]) -> Labels {
        let rules = &self.rules;
        let mut values: Vec<Option<Value>> = vec![None; rules.classes.len()];
        let mut evidence = Vec::with_capacity(fired.len());
        let mut blocked = false;
        let merge = |values: &mut [Option<Value>], class: usize, value: Value| {
            let v = &mut values[class];
            if v.is_none_or(|old| value.rank() > old.rank()) {
                *v = Some(value);
            }
        };
        for f in fired {
            let pattern = &rules.matcher.patterns[f.pattern as usize];
            let (start, end) = norm.original(f.start, f.end);
            if f.kind == MentionKind::Other {
                // Another abnormality, mentioned: evidence *against* No Finding (which then
                // stays blank). Negated, it decides nothing and is no evidence.
                if f.value != Value::Negative {
                    blocked = true;
                    evidence.push(Evidence {
                        class: rules.classes[f.class].clone(),
                        start,
                        end,
                        value: Value::Negative,
                        rule: format!("{}: a finding, so not No Finding", f.rule),
                    });
                }
                continue;
            }
            evidence.push(Evidence {
                class: rules.classes[f.class].clone(),
                start,
                end,
                value: f.value,
                rule: f.rule.clone(),
            });
            merge(&mut values, f.class, f.value);
            if f.value != Value::Negative {
                for &(class, value) in &pattern.implies {
                    merge(&mut values, class, value);
                    evidence.push(Evidence {
                        class: rules.classes[class].clone(),
                        start,
                        end,
                        value,
                        rule: format!("implied by: {}", pattern.text),
                    });
                }
            }
        }
        if let Some(nf) = &rules.no_finding {
            blocked |= values.iter().enumerate().any(|(c, v)| {
                c != nf.class
                    && !nf.ignore[c]
                    && matches!(v, Some(Value::Positive | Value::Uncertain))
            });
            values[nf.class] = (!blocked).then_some(Value::Positive);
        }
        evidence.sort_by_key(|e| e.start);
        Labels { values, evidence }
    }
}
