//! Compiling a rule file: validation with readable errors, then the matcher and the small
//! tables the labeler consults.

use std::collections::{BTreeMap, HashSet};

use super::file::{ClassDef, NoFindingDef, RuleFile, ScopeDef, TriggerDef};
use super::matcher::{Matcher, PatternSpec, normalize_phrase};
use super::{LabelerError, Value};

/// What a trigger does, in CheXpert's order of precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Category {
    /// Double negation that leaves the finding open ("cannot exclude"): checked first.
    PreNegationUncertainty,
    Negation,
    /// Hedging ("possible", "may"): checked after negation.
    PostNegationUncertainty,
}

/// Where a trigger sits relative to the mention it affects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Direction {
    /// Before the mention, in the same sentence, with no termination word between.
    Before,
    /// After the mention, in the same clause ("effusion has resolved").
    After,
    /// Within a few words on either side ("atelectasis or pneumonia").
    Near,
}

/// How a class phrase is read when it fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MentionKind {
    /// A finding; triggers decide its value.
    Positive,
    /// A phrase that states the finding is absent ("heart size is normal").
    Negative,
    /// A phrase that states the finding is doubtful; negation still applies.
    Uncertain,
    /// Another abnormality, recorded under the No Finding class: it blocks No Finding.
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Mention {
        class: usize,
        kind: MentionKind,
    },
    Unmention {
        class: usize,
    },
    Trigger {
        category: Category,
        direction: Direction,
    },
    Termination,
    ClauseVerb,
    Exception,
    /// Looks like a trigger but is not one ("age indeterminate"): every trigger it
    /// overlaps is dropped.
    Pseudo,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Scope {
    /// Most words that `...` in a phrase may stand for.
    pub gap_words: usize,
    /// Most words between a mention and a trigger after it.
    pub after_words: usize,
    /// Most words between a mention and a `near` trigger.
    pub near_words: usize,
}

pub(super) struct NoFinding {
    pub class: usize,
    /// Classes whose positive or uncertain values do not block No Finding.
    pub ignore: Vec<bool>,
}

pub(super) struct Heading {
    /// Lower-case heading text, single-spaced ("clinical history").
    pub text: String,
    /// Index into `Rules::section_names`.
    pub section: usize,
}

/// Compiled rules.
pub(super) struct Rules {
    pub classes: Vec<String>,
    pub no_finding: Option<NoFinding>,
    pub scope: Scope,
    pub clause_verbs: Vec<String>,
    pub linking_words: Vec<String>,
    pub abbreviations: Vec<String>,
    /// Longest first, so "findings and impression" wins over "findings".
    pub headings: Vec<Heading>,
    pub section_names: Vec<String>,
    pub default_sections: Vec<String>,
    pub matcher: Matcher,
}

fn err(msg: impl Into<String>) -> LabelerError {
    LabelerError::Rules(msg.into())
}

/// Lower-cased, single-spaced words (for heading names and word lists).
fn words_key(s: &str) -> String {
    s.split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Rules {
    pub(super) fn from_toml(text: &str) -> Result<Rules, LabelerError> {
        let file: RuleFile =
            toml::from_str(text).map_err(|e| LabelerError::Parse(e.to_string()))?;
        compile(file)
    }
}

/// The classes' names, in file order: none empty, none twice.
fn class_names(file: &RuleFile) -> Result<Vec<String>, LabelerError> {
    if file.classes.is_empty() {
        return Err(err("no classes: add at least one [[class]] table"));
    }
    let mut classes = Vec::with_capacity(file.classes.len());
    for c in &file.classes {
        let name = c.name.trim();
        if name.is_empty() {
            return Err(err("a [[class]] has an empty name"));
        }
        if classes.iter().any(|n: &String| n == name) {
            return Err(err(format!("class {name:?} is listed twice")));
        }
        classes.push(name.to_owned());
    }
    Ok(classes)
}

/// The index of the class `name` (as `what` spells it) among `classes`.
fn class_index(classes: &[String], name: &str, what: &str) -> Result<usize, LabelerError> {
    classes
        .iter()
        .position(|c| c == name.trim())
        .ok_or_else(|| {
            err(format!(
                "{what} names class {name:?}, which is not a [[class]]"
            ))
        })
}

fn compile_scope(s: &ScopeDef) -> Result<Scope, LabelerError> {
    if s.gap_words > 20 || s.after_words > 50 || s.near_words > 20 {
        return Err(err(
            "[scope]: gap_words (at most 20), after_words (at most 50) or near_words (at most 20) is too large",
        ));
    }
    Ok(Scope {
        gap_words: s.gap_words,
        after_words: s.after_words,
        near_words: s.near_words,
    })
}

/// Adds one pattern per phrase of `list`, all with `role`.
fn add(
    specs: &mut Vec<PatternSpec>,
    list: &[String],
    role: Role,
    what: &str,
) -> Result<(), LabelerError> {
    for p in list {
        specs.push(PatternSpec::new(p, role, Vec::new(), what)?);
    }
    Ok(())
}

/// The `[triggers]` tables: terminations, exceptions, pseudo-triggers, and the negation and
/// uncertainty triggers before, after and near a mention.
fn trigger_specs(t: &TriggerDef, specs: &mut Vec<PatternSpec>) -> Result<(), LabelerError> {
    add(
        specs,
        &t.termination,
        Role::Termination,
        "[triggers] termination",
    )?;
    add(
        specs,
        &t.negation_exceptions,
        Role::Exception,
        "[triggers] negation_exceptions",
    )?;
    add(
        specs,
        &t.pseudo_triggers,
        Role::Pseudo,
        "[triggers] pseudo_triggers",
    )?;
    for (set, direction, table) in [
        (&t.before, Direction::Before, "[triggers.before]"),
        (&t.after, Direction::After, "[triggers.after]"),
        (&t.near, Direction::Near, "[triggers.near]"),
    ] {
        for (list, category, key) in [
            (
                &set.pre_negation_uncertainty,
                Category::PreNegationUncertainty,
                "pre_negation_uncertainty",
            ),
            (&set.negation, Category::Negation, "negation"),
            (
                &set.post_negation_uncertainty,
                Category::PostNegationUncertainty,
                "post_negation_uncertainty",
            ),
        ] {
            let role = Role::Trigger {
                category,
                direction,
            };
            add(specs, list, role, &format!("{table} {key}"))?;
        }
    }
    Ok(())
}

/// `[no_finding]`: its class, the classes it ignores, and the other findings that rule it
/// out (as mentions of kind `Other`).
fn compile_no_finding(
    nf: &NoFindingDef,
    classes: &[String],
    specs: &mut Vec<PatternSpec>,
) -> Result<NoFinding, LabelerError> {
    let class = class_index(classes, &nf.class, "[no_finding] class")?;
    let mut ignore = vec![false; classes.len()];
    for name in &nf.ignore {
        ignore[class_index(classes, name, "[no_finding] ignore")?] = true;
    }
    let role = Role::Mention {
        class,
        kind: MentionKind::Other,
    };
    add(
        specs,
        &nf.other_findings,
        role,
        "[no_finding] other_findings",
    )?;
    Ok(NoFinding { class, ignore })
}

/// One `[[class]]`'s mentions (with what each implies for other classes) and unmentions.
fn class_specs(
    c: &ClassDef,
    ci: usize,
    classes: &[String],
    specs: &mut Vec<PatternSpec>,
) -> Result<(), LabelerError> {
    let name = &classes[ci];
    let mut implied: Vec<(String, Vec<(usize, Value)>)> = Vec::new();
    for imp in &c.implies {
        let target = class_index(classes, &imp.class, &format!("class {name:?}: implies"))?;
        for m in &imp.mentions {
            let key = normalize_phrase(m);
            if !c
                .mentions
                .iter()
                .chain(&c.uncertain_mentions)
                .any(|x| normalize_phrase(x) == key)
            {
                return Err(err(format!(
                    "class {name:?}: implies lists {m:?}, which is not one of its mentions or uncertain_mentions"
                )));
            }
            match implied.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push((target, imp.value.into())),
                None => implied.push((key, vec![(target, imp.value.into())])),
            }
        }
    }
    let mut seen = HashSet::new();
    for (list, kind, key) in [
        (&c.mentions, MentionKind::Positive, "mentions"),
        (
            &c.negative_mentions,
            MentionKind::Negative,
            "negative_mentions",
        ),
        (
            &c.uncertain_mentions,
            MentionKind::Uncertain,
            "uncertain_mentions",
        ),
    ] {
        for p in list {
            let what = format!("class {name:?}: {key}");
            if !seen.insert(normalize_phrase(p)) {
                return Err(err(format!("{what}: {p:?} is listed twice for this class")));
            }
            let implies = implied
                .iter()
                .find(|(k, _)| *k == normalize_phrase(p))
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let role = Role::Mention { class: ci, kind };
            specs.push(PatternSpec::new(p, role, implies, &what)?);
        }
    }
    let what = format!("class {name:?}: unmentions");
    for p in &c.unmentions {
        specs.push(PatternSpec::new(
            p,
            Role::Unmention { class: ci },
            Vec::new(),
            &what,
        )?);
    }
    Ok(())
}

/// `[sentences] abbreviations`: single lower-case words without their final dot.
fn compile_abbreviations(list: &[String]) -> Result<Vec<String>, LabelerError> {
    let mut abbreviations = Vec::new();
    for a in list {
        let a = a.trim().trim_end_matches('.').to_ascii_lowercase();
        if a.is_empty() || a.contains(char::is_whitespace) {
            return Err(err(format!(
                "[sentences] abbreviations: {a:?} must be one word, e.g. \"e.g\" or \"dr\""
            )));
        }
        abbreviations.push(a);
    }
    Ok(abbreviations)
}

fn compile(file: RuleFile) -> Result<Rules, LabelerError> {
    let classes = class_names(&file)?;
    let scope = compile_scope(&file.scope)?;
    let mut specs: Vec<PatternSpec> = Vec::new();
    trigger_specs(&file.triggers, &mut specs)?;
    let clause_verbs = single_words(&file.scope.clause_verbs, "[scope] clause_verbs")?;
    let linking_words = single_words(&file.scope.linking_words, "[scope] linking_words")?;
    for v in &clause_verbs {
        specs.push(PatternSpec::new(
            v,
            Role::ClauseVerb,
            Vec::new(),
            "[scope] clause_verbs",
        )?);
    }
    let no_finding = match &file.no_finding {
        None => None,
        Some(nf) => Some(compile_no_finding(nf, &classes, &mut specs)?),
    };
    for (ci, c) in file.classes.iter().enumerate() {
        class_specs(c, ci, &classes, &mut specs)?;
    }
    let (section_names, headings) = compile_headings(&file.sections.headings)?;
    let mut default_sections = Vec::new();
    for l in &file.sections.label {
        let key = words_key(l);
        if !section_names.contains(&key) && !headings.iter().any(|h| h.text == key) {
            return Err(err(format!(
                "[sections] label names {l:?}, which is not a key of [sections.headings]"
            )));
        }
        default_sections.push(key);
    }
    let abbreviations = compile_abbreviations(&file.sentences.abbreviations)?;
    let matcher = Matcher::build(specs)?;
    Ok(Rules {
        classes,
        no_finding,
        scope,
        clause_verbs,
        linking_words,
        abbreviations,
        headings,
        section_names,
        default_sections,
        matcher,
    })
}

fn single_words(list: &[String], what: &str) -> Result<Vec<String>, LabelerError> {
    list.iter()
        .map(|w| {
            let k = words_key(w);
            if k.is_empty() || k.contains(' ') || !k.bytes().all(|b| b.is_ascii_alphanumeric()) {
                Err(err(format!("{what}: {w:?} must be a single word")))
            } else {
                Ok(k)
            }
        })
        .collect()
}

fn compile_headings(
    defs: &BTreeMap<String, Vec<String>>,
) -> Result<(Vec<String>, Vec<Heading>), LabelerError> {
    let mut names = Vec::new();
    let mut headings: Vec<Heading> = Vec::new();
    for (name, variants) in defs {
        let key = words_key(name);
        if key.is_empty() {
            return Err(err("[sections.headings] has an empty section name"));
        }
        let section = names.len();
        names.push(key.clone());
        for v in std::iter::once(name).chain(variants) {
            let text = words_key(v);
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ') {
                return Err(err(format!(
                    "[sections.headings] {name}: heading {v:?} must be letters, digits and spaces"
                )));
            }
            match headings.iter().find(|h| h.text == text) {
                Some(h) if h.section != section => {
                    return Err(err(format!(
                        "[sections.headings]: heading {v:?} is listed under two sections"
                    )));
                }
                Some(_) => {}
                None => headings.push(Heading { text, section }),
            }
        }
    }
    headings.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(a.text.cmp(&b.text)));
    Ok((names, headings))
}
