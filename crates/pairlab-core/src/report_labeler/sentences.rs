//! Report structure: section headings ("FINDINGS:", "Impression:") and sentences.
//!
//! A heading is a known heading name followed by a colon at the start of a line (any
//! case), a line holding only a heading name, or an upper-case heading name with a colon
//! anywhere after whitespace ("... clear. IMPRESSION: ..."). A section runs to the next
//! heading.
//!
//! Sentences end at `.`, `!` or `?` followed by whitespace, except after abbreviations
//! ("Dr.", "e.g."), single-letter initials and list numbers ("1."); decimals ("2.5 cm")
//! never end one. A blank line ends a sentence, and so does a line break before a list
//! marker or a capital letter; other line breaks are wrapping. An inline list number
//! ("... effusion 2. Cardiomegaly") starts a new sentence.

use std::ops::Range;

use super::rules::Heading;

/// A heading found in a report: the section it opens and where its body starts.
struct Found {
    at: usize,
    body: usize,
    section: usize,
}

/// Byte ranges of the report to label: the bodies of the sections in `selected` (indexed
/// like `Rules::section_names`), or the whole report when it has none of them.
pub(super) fn label_ranges(
    report: &str,
    headings: &[Heading],
    selected: &[bool],
) -> Vec<Range<usize>> {
    let found = find_headings(report, headings);
    let mut out = Vec::new();
    let mut any = false;
    for (i, h) in found.iter().enumerate() {
        if !selected.get(h.section).copied().unwrap_or(false) {
            continue;
        }
        any = true;
        let end = found.get(i + 1).map_or(report.len(), |n| n.at);
        if h.body < end {
            out.push(h.body..end);
        }
    }
    if !any {
        out.push(0..report.len());
    }
    out
}

fn find_headings(report: &str, headings: &[Heading]) -> Vec<Found> {
    let bytes = report.as_bytes();
    let mut found = Vec::new();
    // At the start of a line.
    let mut line_start = 0;
    while line_start < bytes.len() {
        let line_end = bytes[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| line_start + p);
        let mut s = line_start;
        while s < line_end && matches!(bytes[s], b' ' | b'\t' | b'\r' | b'*' | b'#') {
            s += 1;
        }
        if let Some((section, after)) = heading_at(bytes, s, line_end, headings) {
            let after = skip_plural(bytes, after, line_end);
            let rest = &bytes[after..line_end];
            let colon = rest.iter().position(|&b| !matches!(b, b' ' | b'\t' | b'*'));
            match colon {
                Some(c) if rest[c] == b':' => found.push(Found {
                    at: s,
                    body: after + c + 1,
                    section,
                }),
                None => found.push(Found {
                    at: s,
                    body: line_end,
                    section,
                }),
                _ => {}
            }
        }
        line_start = line_end + 1;
    }
    // Upper case with a colon, inside a line.
    for (colon, _) in report.match_indices(':') {
        let mut end = colon;
        while end > 0 && bytes[end - 1] == b' ' {
            end -= 1;
        }
        if end >= 3 && bytes[end - 3..end].eq_ignore_ascii_case(b"(s)") {
            end -= 3;
        }
        for h in headings {
            let n = h.text.len();
            if end < n + 1 || !bytes[end - n..end].eq_ignore_ascii_case(h.text.as_bytes()) {
                continue;
            }
            let start = end - n;
            let upper = bytes[start..end].iter().all(|b| !b.is_ascii_lowercase());
            if upper
                && bytes[start - 1].is_ascii_whitespace()
                && !found
                    .iter()
                    .any(|f: &Found| f.at <= start && start < f.body)
            {
                found.push(Found {
                    at: start,
                    body: colon + 1,
                    section: h.section,
                });
            }
            break;
        }
    }
    found.sort_by_key(|f| f.at);
    found
}

/// `at`, moved past a "(s)" ("RECOMMENDATION(S):").
fn skip_plural(bytes: &[u8], at: usize, line_end: usize) -> usize {
    if at + 3 <= line_end && bytes[at..at + 3].eq_ignore_ascii_case(b"(s)") {
        at + 3
    } else {
        at
    }
}

/// The heading (longest first) at `s`, ending at a word boundary: its section and end.
fn heading_at(
    bytes: &[u8],
    s: usize,
    line_end: usize,
    headings: &[Heading],
) -> Option<(usize, usize)> {
    for h in headings {
        let e = s + h.text.len();
        if e <= line_end
            && bytes[s..e].eq_ignore_ascii_case(h.text.as_bytes())
            && (e == line_end || !bytes[e].is_ascii_alphanumeric())
        {
            return Some((h.section, e));
        }
    }
    None
}

/// Appends the sentences of `report[range]` to `out` (trimmed, non-empty).
pub(super) fn split(
    report: &str,
    range: Range<usize>,
    abbreviations: &[String],
    out: &mut Vec<Range<usize>>,
) {
    let bytes = report.as_bytes();
    let mut start = range.start;
    let mut i = range.start;
    let push = |from: usize, to: usize, out: &mut Vec<Range<usize>>| {
        let (mut a, mut b) = (from, to);
        while a < b && bytes[a].is_ascii_whitespace() {
            a += 1;
        }
        while b > a && bytes[b - 1].is_ascii_whitespace() {
            b -= 1;
        }
        if a < b {
            out.push(a..b);
        }
    };
    while i < range.end {
        let b = bytes[i];
        match b {
            b'.' | b'!' | b'?' => {
                let next = bytes.get(i + 1).copied();
                let at_break = i + 1 >= range.end || next.is_some_and(|n| n.is_ascii_whitespace());
                if at_break && (b != b'.' || !keeps_sentence(bytes, start, i, abbreviations)) {
                    push(start, i + 1, out);
                    start = i + 1;
                }
            }
            b'\n' => {
                let mut j = i + 1;
                while j < range.end && matches!(bytes[j], b' ' | b'\t' | b'\r') {
                    j += 1;
                }
                let breaks = j >= range.end
                    || bytes[j] == b'\n'
                    || bytes[j].is_ascii_uppercase()
                    || list_marker(bytes, j, range.end).is_some();
                if breaks {
                    push(start, i, out);
                    start = i + 1;
                }
            }
            b' ' | b'\t' => {
                // "... effusion 2. Cardiomegaly": a list number starts a sentence.
                if let Some(after) = list_marker(bytes, i + 1, range.end)
                    && bytes[i + 1].is_ascii_digit()
                    && bytes.get(after).is_some_and(u8::is_ascii_uppercase)
                    && bytes[start..i].iter().any(|b| !b.is_ascii_whitespace())
                {
                    push(start, i, out);
                    start = i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    push(start, range.end, out);
}

/// Whether the period at `dot` does not end the sentence that began at `start`.
fn keeps_sentence(bytes: &[u8], start: usize, dot: usize, abbreviations: &[String]) -> bool {
    let mut t = dot;
    while t > start && (bytes[t - 1].is_ascii_alphanumeric() || bytes[t - 1] == b'.') {
        t -= 1;
    }
    let token = &bytes[t..dot];
    if token.is_empty() {
        return false;
    }
    if token.len() == 1 && token[0].is_ascii_alphabetic() {
        return true; // an initial
    }
    if token.iter().all(u8::is_ascii_digit) && bytes[start..t].iter().all(u8::is_ascii_whitespace) {
        return true; // "1." opening a list item
    }
    abbreviations
        .iter()
        .any(|a| a.as_bytes().eq_ignore_ascii_case(token))
}

/// If a list marker ("1. ", "2) ", "- ", "* ", "• ") starts at `j`, the offset after it.
fn list_marker(bytes: &[u8], j: usize, end: usize) -> Option<usize> {
    let mut k = j;
    while k < end && k < j + 2 && bytes[k].is_ascii_digit() {
        k += 1;
    }
    if k > j {
        if k + 1 < end && matches!(bytes[k], b'.' | b')') && bytes[k + 1] == b' ' {
            return Some(k + 2);
        }
        return None;
    }
    if j + 1 < end && matches!(bytes[j], b'-' | b'*') && bytes[j + 1] == b' ' {
        return Some(j + 2);
    }
    let bullet = "\u{2022} ".as_bytes();
    if bytes.len() >= j + bullet.len() && bytes[j..j + bullet.len()] == *bullet {
        return Some(j + bullet.len());
    }
    None
}
