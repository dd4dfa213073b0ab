//! Phrase matching: one Aho-Corasick automaton over every literal in the rules, run once
//! per report over a normalised copy of the labelled sentences (ASCII lower case, runs of
//! whitespace and hyphens as one space), with word boundaries checked on each hit.
//!
//! Phrase syntax: words are matched whole; a word ending in `*` matches as a prefix
//! ("atelecta*"); a `...` token stands for up to `gap_words` words (no punctuation) within
//! the sentence ("heart ... enlarged").

use std::ops::Range;

use aho_corasick::{AhoCorasick, MatchKind};

use super::rules::Role;
use super::{LabelerError, Value};

/// Lower-cases (ASCII), turns hyphens and whitespace into single spaces and trims.
pub(super) fn normalize_phrase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| c.is_whitespace() || c == '-') {
        if word.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.to_ascii_lowercase());
    }
    out
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b >= 0x80
}

/// The end of the word that `at` is in (for prefix matches).
fn word_end(text: &[u8], mut at: usize) -> usize {
    while at < text.len() && is_word_byte(text[at]) {
        at += 1;
    }
    at
}

/// One part of a phrase: a literal (index into the automaton) and whether its last word
/// is a prefix.
#[derive(Clone, Copy, Debug)]
pub(super) struct Part {
    lit: u32,
    prefix: bool,
}

/// A phrase from the rule file, before compilation.
pub(super) struct PatternSpec {
    text: String,
    parts: Vec<(String, bool)>,
    role: Role,
    implies: Vec<(usize, Value)>,
}

impl PatternSpec {
    pub(super) fn new(
        phrase: &str,
        role: Role,
        implies: Vec<(usize, Value)>,
        what: &str,
    ) -> Result<PatternSpec, LabelerError> {
        let bad = |why: &str| LabelerError::Rules(format!("{what}: phrase {phrase:?} {why}"));
        let norm = normalize_phrase(phrase);
        if norm.is_empty() {
            return Err(bad("is empty"));
        }
        let mut parts = Vec::new();
        let mut current: Vec<&str> = Vec::new();
        let words: Vec<&str> = norm.split(' ').collect();
        for (i, w) in words.iter().enumerate() {
            if *w == "..." {
                if current.is_empty() {
                    return Err(bad("has `...` at the start, at the end or twice in a row"));
                }
                parts.push(std::mem::take(&mut current));
                continue;
            }
            if w.contains('*') {
                let last_of_part = words.get(i + 1).is_none_or(|n| *n == "...");
                if !w.ends_with('*') || w.matches('*').count() > 1 || !last_of_part || w.len() < 2 {
                    return Err(bad(
                        "has a `*` that is not at the end of the last word before `...` or the end",
                    ));
                }
            }
            current.push(w);
        }
        if current.is_empty() {
            return Err(bad("has `...` at the start, at the end or twice in a row"));
        }
        parts.push(current);
        let parts = parts
            .into_iter()
            .map(|words| {
                let joined = words.join(" ");
                match joined.strip_suffix('*') {
                    Some(stem) => (stem.to_owned(), true),
                    None => (joined, false),
                }
            })
            .collect();
        Ok(PatternSpec {
            text: phrase.split_whitespace().collect::<Vec<_>>().join(" "),
            parts,
            role,
            implies,
        })
    }
}

/// A compiled phrase.
pub(super) struct Pattern {
    /// As written in the rules (single-spaced), for evidence.
    pub text: String,
    pub role: Role,
    /// Classes and values this mention also gives when it fires positive or uncertain.
    pub implies: Vec<(usize, Value)>,
    parts: Vec<Part>,
}

struct Literal {
    /// First byte is a word character: needs a word boundary on the left.
    left_word: bool,
    /// Last byte is a word character: needs a word boundary on the right (unless prefix).
    right_word: bool,
}

pub(super) struct Matcher {
    ac: AhoCorasick,
    literals: Vec<Literal>,
    /// For each literal, the patterns whose first part it is.
    first_of: Vec<Vec<u32>>,
    pub patterns: Vec<Pattern>,
}

/// One pattern matched in the normalised text.
#[derive(Clone, Debug)]
pub(super) struct Found {
    pub pattern: u32,
    pub start: usize,
    pub end: usize,
    /// The spans that `...` covered.
    pub gaps: Vec<(usize, usize)>,
}

#[derive(Clone, Copy)]
struct Hit {
    lit: u32,
    start: u32,
    end: u32,
    right_ok: bool,
}

impl Matcher {
    pub(super) fn build(specs: Vec<PatternSpec>) -> Result<Matcher, LabelerError> {
        let mut lit_text: Vec<String> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mut patterns = Vec::with_capacity(specs.len());
        for spec in specs {
            let mut parts = Vec::with_capacity(spec.parts.len());
            for (text, prefix) in spec.parts {
                let next = u32::try_from(lit_text.len())
                    .map_err(|_| LabelerError::Rules("too many phrases".into()))?;
                let lit = *index.entry(text.clone()).or_insert_with(|| {
                    lit_text.push(text);
                    next
                });
                parts.push(Part { lit, prefix });
            }
            patterns.push(Pattern {
                text: spec.text,
                role: spec.role,
                implies: spec.implies,
                parts,
            });
        }
        let literals = lit_text
            .iter()
            .map(|t| Literal {
                left_word: t.bytes().next().is_some_and(is_word_byte),
                right_word: t.bytes().last().is_some_and(is_word_byte),
            })
            .collect();
        let mut first_of = vec![Vec::new(); lit_text.len()];
        for (i, p) in patterns.iter().enumerate() {
            if let Some(first) = p.parts.first() {
                first_of[first.lit as usize].push(i as u32);
            }
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&lit_text)
            .map_err(|e| LabelerError::Rules(format!("could not build the phrase matcher: {e}")))?;
        Ok(Matcher {
            ac,
            literals,
            first_of,
            patterns,
        })
    }

    /// All pattern matches in `text`, sorted by start then end. Gapped patterns take the
    /// nearest continuation of each part.
    pub(super) fn find(&self, text: &[u8], gap_words: usize, out: &mut Vec<Found>) {
        let mut hits: Vec<Hit> = Vec::new();
        for m in self.ac.find_overlapping_iter(text) {
            let lit = m.pattern().as_u32();
            let l = &self.literals[lit as usize];
            let (s, e) = (m.start(), m.end());
            if l.left_word && s > 0 && is_word_byte(text[s - 1]) {
                continue;
            }
            let right_ok = !l.right_word || e == text.len() || !is_word_byte(text[e]);
            hits.push(Hit {
                lit,
                start: s as u32,
                end: e as u32,
                right_ok,
            });
        }
        hits.sort_unstable_by_key(|h| (h.lit, h.start));
        for h in &hits {
            for &pi in &self.first_of[h.lit as usize] {
                let p = &self.patterns[pi as usize];
                if !(p.parts[0].prefix || h.right_ok) {
                    continue;
                }
                let mut end = if p.parts[0].prefix {
                    word_end(text, h.end as usize)
                } else {
                    h.end as usize
                };
                if p.parts.len() == 1 {
                    out.push(Found {
                        pattern: pi,
                        start: h.start as usize,
                        end,
                        gaps: Vec::new(),
                    });
                    continue;
                }
                let mut gaps = Vec::with_capacity(p.parts.len() - 1);
                for part in &p.parts[1..] {
                    match next_part(&hits, text, *part, end, gap_words) {
                        Some(next) => {
                            gaps.push((end, next.start as usize));
                            end = if part.prefix {
                                word_end(text, next.end as usize)
                            } else {
                                next.end as usize
                            };
                        }
                        None => {
                            gaps.clear();
                            break;
                        }
                    }
                }
                if !gaps.is_empty() {
                    out.push(Found {
                        pattern: pi,
                        start: h.start as usize,
                        end,
                        gaps,
                    });
                }
            }
        }
        out.sort_unstable_by_key(|f| (f.start, f.end, f.pattern));
    }
}

/// The nearest hit of `part` after `from`, separated only by up to `max_words` words.
fn next_part(hits: &[Hit], text: &[u8], part: Part, from: usize, max_words: usize) -> Option<Hit> {
    let lo = hits.partition_point(|h| h.lit < part.lit);
    let hi = hits.partition_point(|h| h.lit <= part.lit);
    let same = &hits[lo..hi];
    let first = same.partition_point(|h| (h.start as usize) <= from);
    for h in &same[first..] {
        let gap = &text[from..h.start as usize];
        let ok_chars = gap
            .iter()
            .all(|&b| is_word_byte(b) || b == b' ' || b == b'/' || b == b'\'');
        if !ok_chars || gap.first() != Some(&b' ') || gap.last() != Some(&b' ') {
            return None;
        }
        if gap.split(|&b| b == b' ').filter(|w| !w.is_empty()).count() > max_words {
            return None;
        }
        if part.prefix || h.right_ok {
            return Some(*h);
        }
    }
    None
}

/// The labelled sentences of a report, normalised for matching and joined by newlines,
/// with a map back to byte offsets in the original report.
pub(super) struct Norm {
    pub text: Vec<u8>,
    /// Original offset of each normalised byte, plus one entry for the end.
    map: Vec<u32>,
    /// Start of each sentence in `text`.
    pub sentence_starts: Vec<usize>,
}

impl Norm {
    pub(super) fn build(report: &str, sentences: &[Range<usize>]) -> Norm {
        let bytes = report.as_bytes();
        let mut text = Vec::with_capacity(report.len() + sentences.len());
        let mut map = Vec::with_capacity(report.len() + sentences.len() + 1);
        let mut sentence_starts = Vec::with_capacity(sentences.len());
        for r in sentences {
            sentence_starts.push(text.len());
            let mut space: Option<usize> = None;
            let mut any = false;
            for (i, &b) in bytes[r.clone()].iter().enumerate() {
                let at = r.start + i;
                if b.is_ascii_whitespace() || b == b'-' {
                    if space.is_none() {
                        space = Some(at);
                    }
                    continue;
                }
                if let Some(sp) = space.take()
                    && any
                {
                    text.push(b' ');
                    map.push(sp as u32);
                }
                text.push(b.to_ascii_lowercase());
                map.push(at as u32);
                any = true;
            }
            text.push(b'\n');
            map.push(r.end as u32);
        }
        map.push(report.len() as u32);
        Norm {
            text,
            map,
            sentence_starts,
        }
    }

    /// The original byte span of normalised `start..end` (a non-empty match).
    pub(super) fn original(&self, start: usize, end: usize) -> (usize, usize) {
        let s = self.map[start] as usize;
        let e = if end > start {
            self.map[end - 1] as usize + 1
        } else {
            s
        };
        (s, e)
    }

    /// Index of the sentence holding normalised offset `at`.
    pub(super) fn sentence_of(&self, at: usize) -> usize {
        self.sentence_starts
            .partition_point(|&s| s <= at)
            .saturating_sub(1)
    }
}
