//! Deciding each mention within its sentence: which triggers reach it, and in what order
//! they count (pre-negation uncertainty, then negation, then post-negation uncertainty).
//!
//! Scope rules:
//! - a `before` trigger reaches a later mention unless a termination word or `;` lies
//!   between them, or a comma and a `before` trigger of another kind ("no pneumonia,
//!   possible atelectasis"); for negation, a clause verb ("is", "has", ...) between them
//!   also stops it ("no pneumothorax is seen and the effusion is larger"). A `before`
//!   trigger inside the `...` of a mention counts too ("heart is not enlarged");
//! - an `after` trigger reaches an earlier mention at most `after_words` words back, with
//!   no termination word, `;` or clause verb between (verbs and linking words just before
//!   the trigger belong to it: "the effusion seen on the prior study is no longer seen"),
//!   unless another mention follows it closely ("opacity is likely atelectasis");
//! - a `near` trigger reaches mentions at most `near_words` words away on either side;
//! - negation exceptions ("no change") cancel the negation triggers they overlap, pseudo
//!   triggers ("age indeterminate") cancel every trigger they overlap, and a
//!   trigger inside a longer trigger ("not" in "not excluded") is dropped, except a
//!   `before` trigger ending an `after` trigger of its kind ("possible" in "is possible").

use super::Value;
use super::matcher::{Found, Pattern};
use super::rules::{Category, Direction, MentionKind, Role, Rules};

/// A mention that fired, with its value and the rule that decided it.
pub(super) struct Fired {
    pub class: usize,
    pub start: usize,
    pub end: usize,
    pub value: Value,
    pub kind: MentionKind,
    pub rule: String,
    /// The mention's pattern (index into the matcher's patterns).
    pub pattern: u32,
}

struct Trigger<'a> {
    category: Category,
    direction: Direction,
    start: usize,
    end: usize,
    pattern: &'a Pattern,
}

struct Mention<'a> {
    class: usize,
    kind: MentionKind,
    found: &'a Found,
    pattern: &'a Pattern,
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// `outer` contains `inner` and is longer.
fn strictly_contains(outer: (usize, usize), inner: (usize, usize)) -> bool {
    outer.0 <= inner.0 && inner.1 <= outer.1 && outer.1 - outer.0 > inner.1 - inner.0
}

/// Decides the mentions among `found` (the matches of one sentence) into `out`.
pub(super) fn decide(rules: &Rules, text: &[u8], found: &[Found], out: &mut Vec<Fired>) {
    let patterns = &rules.matcher.patterns;
    let mut triggers: Vec<Trigger> = Vec::new();
    let mut mentions: Vec<Mention> = Vec::new();
    let mut barriers: Vec<(usize, usize)> = Vec::new();
    let mut verbs: Vec<(usize, usize)> = Vec::new();
    let mut exceptions: Vec<(usize, usize)> = Vec::new();
    let mut pseudo: Vec<(usize, usize)> = Vec::new();
    let mut unmentions: Vec<(usize, (usize, usize))> = Vec::new();
    for f in found {
        let pattern = &patterns[f.pattern as usize];
        let span = (f.start, f.end);
        match pattern.role {
            Role::Trigger {
                category,
                direction,
            } => triggers.push(Trigger {
                category,
                direction,
                start: f.start,
                end: f.end,
                pattern,
            }),
            Role::Mention { class, kind } => mentions.push(Mention {
                class,
                kind,
                found: f,
                pattern,
            }),
            Role::Termination => barriers.push(span),
            Role::ClauseVerb => verbs.push(span),
            Role::Exception => exceptions.push(span),
            Role::Pseudo => pseudo.push(span),
            Role::Unmention { class } => unmentions.push((class, span)),
        }
    }
    if mentions.is_empty() {
        return;
    }
    triggers.retain(|t| {
        let span = (t.start, t.end);
        (t.category != Category::Negation || !exceptions.iter().any(|&e| overlaps(e, span)))
            && !pseudo.iter().any(|&p| overlaps(p, span))
    });
    let shapes: Vec<_> = triggers
        .iter()
        .map(|t| (t.start, t.end, t.category, t.direction))
        .collect();
    triggers.retain(|t| {
        let me = (t.start, t.end);
        let swallowed = shapes.iter().any(|&(s, e, category, direction)| {
            // "possible" ending "is possible" still reads forward ("is possible that ...").
            let tail = category == t.category
                && direction == Direction::After
                && t.direction == Direction::Before
                && e == t.end;
            strictly_contains((s, e), me) && !tail
        });
        !swallowed && !inside_termination(t, &barriers)
    });

    let keep = resolve_mentions(&mentions, &unmentions);
    let mention_spans: Vec<(usize, usize)> = mentions
        .iter()
        .map(|m| (m.found.start, m.found.end))
        .collect();
    let ctx = Context {
        rules,
        text,
        barriers: &barriers,
        verbs: &verbs,
        mentions: &mention_spans,
        triggers: &triggers,
    };
    for (m, keep) in mentions.iter().zip(keep) {
        if keep {
            out.push(ctx.decide_mention(m));
        }
    }
}

/// A trigger that is itself inside a termination phrase is not a trigger.
fn inside_termination(t: &Trigger, barriers: &[(usize, usize)]) -> bool {
    barriers
        .iter()
        .any(|&b| strictly_contains(b, (t.start, t.end)))
}

/// Which mentions stand: not overlapping an unmention of their class; of two overlapping
/// mentions of one class, the longer if they read the same way, else the shorter (a gap
/// phrase should not swallow a plainer one: "heart size is enlarged with normal ...").
fn resolve_mentions(mentions: &[Mention], unmentions: &[(usize, (usize, usize))]) -> Vec<bool> {
    let span = |m: &Mention| (m.found.start, m.found.end);
    let mut keep: Vec<bool> = mentions
        .iter()
        .map(|m| {
            !unmentions
                .iter()
                .any(|&(c, u)| c == m.class && overlaps(u, span(m)))
        })
        .collect();
    let rank = |k: MentionKind| match k {
        MentionKind::Negative => 0,
        MentionKind::Uncertain => 1,
        MentionKind::Positive | MentionKind::Other => 2,
    };
    for i in 0..mentions.len() {
        for j in 0..mentions.len() {
            if i == j || !keep[i] || !keep[j] {
                continue;
            }
            let (a, b) = (&mentions[i], &mentions[j]);
            if a.class != b.class {
                continue;
            }
            let (sa, sb) = (span(a), span(b));
            if sa == sb {
                // Same span: keep the more negative reading, then the earlier phrase.
                if (rank(b.kind), b.found.pattern) < (rank(a.kind), a.found.pattern) {
                    keep[i] = false;
                }
            } else if strictly_contains(sa, sb) {
                if a.kind == b.kind {
                    keep[j] = false;
                } else {
                    keep[i] = false;
                }
            }
        }
    }
    keep
}

struct Context<'a> {
    rules: &'a Rules,
    text: &'a [u8],
    barriers: &'a [(usize, usize)],
    verbs: &'a [(usize, usize)],
    /// Spans of all mentions in the sentence.
    mentions: &'a [(usize, usize)],
    triggers: &'a [Trigger<'a>],
}

impl Context<'_> {
    fn decide_mention(&self, m: &Mention) -> Fired {
        let (start, end) = (m.found.start, m.found.end);
        let fired = |value: Value, rule: String| Fired {
            class: m.class,
            start,
            end,
            value,
            kind: m.kind,
            rule,
            pattern: m.found.pattern,
        };
        if m.kind == MentionKind::Negative {
            return fired(
                Value::Negative,
                format!("negative mention: {}", m.pattern.text),
            );
        }
        for (category, value, name) in [
            (
                Category::PreNegationUncertainty,
                Value::Uncertain,
                "uncertainty",
            ),
            (Category::Negation, Value::Negative, "negation"),
            (
                Category::PostNegationUncertainty,
                Value::Uncertain,
                "uncertainty",
            ),
        ] {
            let of_kind = || self.triggers.iter().filter(move |t| t.category == category);
            // Of the `before` triggers ending before the mention only the nearest needs a
            // look: whatever blocks it blocks every farther one of its kind too.
            let before = of_kind()
                .filter(|t| t.direction == Direction::Before && t.end <= m.found.start)
                .max_by_key(|t| (t.end, std::cmp::Reverse(t.start)));
            let nearest = of_kind()
                .filter(|t| t.direction != Direction::Before || self.in_gap(t, m))
                .chain(before)
                .filter_map(|t| self.distance(t, m).map(|d| (d, t)))
                .min_by_key(|(d, t)| (*d, t.start));
            if let Some((_, t)) = nearest {
                return fired(value, format!("{name}: {}", t.pattern.text));
            }
        }
        match m.kind {
            MentionKind::Uncertain => fired(
                Value::Uncertain,
                format!("uncertain mention: {}", m.pattern.text),
            ),
            MentionKind::Other => fired(
                Value::Positive,
                format!("other finding: {}", m.pattern.text),
            ),
            _ => fired(Value::Positive, format!("mention: {}", m.pattern.text)),
        }
    }

    /// How far trigger `t` is from mention `m` in bytes, if it is in scope.
    fn distance(&self, t: &Trigger, m: &Mention) -> Option<usize> {
        let (ms, me) = (m.found.start, m.found.end);
        let scope = &self.rules.scope;
        match t.direction {
            Direction::Before => {
                if self.in_gap(t, m) {
                    return Some(0);
                }
                let verbs = t.category == Category::Negation;
                (t.end <= ms && self.clear(t.end, ms, verbs) && !self.restarted(t, ms))
                    .then(|| ms - t.end)
            }
            Direction::After => {
                if t.start < me
                    || self.more_words_than(me, t.start, scope.after_words)
                    || self.leads_into_mention(t.end)
                {
                    return None;
                }
                let to = self.strip_linking(me, t.start);
                self.clear(me, to, true).then(|| t.start - me)
            }
            Direction::Near => {
                let n = scope.near_words;
                if t.end <= ms {
                    (!self.more_words_than(t.end, ms, n) && self.clear(t.end, ms, false))
                        .then(|| ms - t.end)
                } else if t.start >= me {
                    (!self.more_words_than(me, t.start, n) && self.clear(me, t.start, false))
                        .then(|| t.start - me)
                } else {
                    None
                }
            }
        }
    }

    /// Whether `t` lies inside one of the `...` gaps of `m` ("heart is not enlarged").
    fn in_gap(&self, t: &Trigger, m: &Mention) -> bool {
        m.found
            .gaps
            .iter()
            .any(|&(a, b)| a <= t.start && t.end <= b)
    }

    /// Whether a `before` trigger of another kind opens a new phrase after a comma
    /// between `t` and `to` ("no evidence of pneumonia, possible atelectasis").
    fn restarted(&self, t: &Trigger, to: usize) -> bool {
        self.triggers.iter().any(|o| {
            o.direction == Direction::Before
                && o.category != t.category
                && o.start >= t.end
                && o.end <= to
                && self.text[t.end..o.start].iter().rev().find(|&&b| b != b' ') == Some(&b',')
        })
    }

    /// Whether another mention follows `at` closely, without punctuation: then a trigger
    /// ending at `at` is about that mention ("opacity is likely atelectasis").
    fn leads_into_mention(&self, at: usize) -> bool {
        self.mentions.iter().any(|&(s, _)| {
            s >= at
                && !self.more_words_than(at, s, self.rules.scope.near_words)
                && !self.text[at..s]
                    .iter()
                    .any(|b| matches!(b, b',' | b';' | b':'))
        })
    }

    /// No termination phrase (nor clause verb, if `verbs`) within `a..b`, and no `;`.
    fn clear(&self, a: usize, b: usize, verbs: bool) -> bool {
        let inside = |&(s, e): &(usize, usize)| s >= a && e <= b;
        let blocked = self.text[a..b].contains(&b';')
            || self.barriers.iter().any(inside)
            || (verbs && self.verbs.iter().any(inside));
        !blocked
    }

    /// Whether `a..b` holds more than `limit` words (tokens with a letter or digit).
    fn more_words_than(&self, a: usize, b: usize, limit: usize) -> bool {
        self.text[a..b]
            .split(|&c| c == b' ')
            .filter(|w| w.iter().any(u8::is_ascii_alphanumeric))
            .nth(limit)
            .is_some()
    }

    /// `b`, moved back over the clause verbs and linking words that end `a..b`.
    fn strip_linking(&self, a: usize, mut b: usize) -> usize {
        loop {
            let region = &self.text[a..b];
            let trimmed = region.len() - region.iter().rev().take_while(|&&c| c == b' ').count();
            let word_start = region[..trimmed]
                .iter()
                .rposition(|&c| c == b' ')
                .map_or(0, |p| p + 1);
            let word = &region[word_start..trimmed];
            let linking = !word.is_empty()
                && self
                    .rules
                    .clause_verbs
                    .iter()
                    .chain(&self.rules.linking_words)
                    .any(|w| w.as_bytes() == word);
            if !linking {
                return b;
            }
            b = a + word_start;
        }
    }
}
