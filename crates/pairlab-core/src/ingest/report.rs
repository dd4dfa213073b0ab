//! Report text: lossy decoding of non-UTF-8 files and FINDINGS / IMPRESSION sections.

use std::borrow::Cow;

use super::scan::FileRef;
use super::{ErrorKind, IngestError};

/// Decodes bytes as UTF-8 (dropping a BOM); invalid sequences become U+FFFD.
/// Returns the text and whether anything had to be replaced.
pub fn decode_text(bytes: &[u8]) -> (String, bool) {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(s) => (s.to_owned(), false),
        Cow::Owned(s) => (s, true),
    }
}

/// A report ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedReport {
    pub text: String,
    pub findings: Option<String>,
    pub impression: Option<String>,
    /// The file was not valid UTF-8 and was decoded lossily.
    pub lossy: bool,
}

impl ParsedReport {
    pub fn from_text(text: String, lossy: bool) -> ParsedReport {
        let (findings, impression) = sections(&text);
        ParsedReport {
            text,
            findings,
            impression,
            lossy,
        }
    }
}

/// Reads a report file. Empty (or whitespace-only) and oversized files are errors; a
/// non-UTF-8 file is decoded lossily and flagged (`lossy`).
pub fn read_report(file: &FileRef, max_bytes: u64) -> Result<ParsedReport, IngestError> {
    if file.size > max_bytes {
        return Err(IngestError::new(
            file.rel.clone(),
            ErrorKind::TooLarge,
            format!(
                "report is {} bytes, over the limit of {max_bytes} bytes; skipped",
                file.size
            ),
        ));
    }
    let bytes = std::fs::read(&file.abs).map_err(|e| {
        IngestError::new(
            file.rel.clone(),
            ErrorKind::Unreadable,
            format!("cannot read: {e}"),
        )
    })?;
    let (text, lossy) = decode_text(&bytes);
    check_text(&file.rel, text, lossy)
}

/// Rejects empty text; otherwise parses it.
pub fn check_text(source: &str, text: String, lossy: bool) -> Result<ParsedReport, IngestError> {
    if text.trim().is_empty() {
        return Err(IngestError::new(
            source.to_owned(),
            ErrorKind::EmptyReport,
            "report is empty; its images are indexed without a report",
        ));
    }
    Ok(ParsedReport::from_text(text, lossy))
}

const KNOWN_HEADINGS: &[&str] = &[
    "findings",
    "impression",
    "indication",
    "history",
    "clinical history",
    "technique",
    "comparison",
    "comparisons",
    "examination",
    "exam",
    "conclusion",
    "recommendation",
    "recommendations",
    "final report",
    "wet read",
    "reason for exam",
    "notification",
];

/// If `line` starts a section ("FINDINGS: text" or "Impression:"), its heading in lower
/// case and the text after the colon.
fn heading(line: &str) -> Option<(String, &str)> {
    let trimmed = line.trim_start();
    let (head, rest) = trimmed.split_once(':')?;
    let head = head.trim();
    if head.is_empty() || head.len() > 30 {
        return None;
    }
    if !head
        .chars()
        .all(|c| c.is_alphabetic() || c == ' ' || c == '/' || c == '&' || c == '-')
    {
        return None;
    }
    let lower = head.to_lowercase();
    let all_caps = head
        .chars()
        .filter(|c| c.is_alphabetic())
        .all(char::is_uppercase);
    (all_caps || KNOWN_HEADINGS.contains(&lower.as_str())).then_some((lower, rest))
}

/// The FINDINGS and IMPRESSION sections of a report (trimmed; None when absent or empty).
pub fn sections(text: &str) -> (Option<String>, Option<String>) {
    let mut findings: Option<String> = None;
    let mut impression: Option<String> = None;
    let mut current: Option<String> = None;
    let mut buf = String::new();
    let mut flush = |name: &Option<String>, buf: &mut String| {
        let body = buf.split_whitespace().collect::<Vec<_>>().join(" ");
        buf.clear();
        if body.is_empty() {
            return;
        }
        let slot = match name.as_deref() {
            Some("findings") => &mut findings,
            Some("impression") | Some("conclusion") => &mut impression,
            _ => return,
        };
        match slot {
            Some(existing) => {
                existing.push(' ');
                existing.push_str(&body);
            }
            None => *slot = Some(body),
        }
    };
    for line in text.lines() {
        if let Some((name, rest)) = heading(line) {
            flush(&current, &mut buf);
            current = Some(name);
            buf.push_str(rest);
        } else {
            buf.push(' ');
            buf.push_str(line);
        }
    }
    flush(&current, &mut buf);
    (findings, impression)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_found() {
        let text = "FINAL REPORT\nEXAMINATION: CHEST (PA AND LAT)\n\nFINDINGS: The heart is\nenlarged. No effusion.\n\nIMPRESSION:\n Cardiomegaly.\n";
        let (f, i) = sections(text);
        assert_eq!(f.as_deref(), Some("The heart is enlarged. No effusion."));
        assert_eq!(i.as_deref(), Some("Cardiomegaly."));
    }

    #[test]
    fn mixed_case_headings_and_missing_sections() {
        let (f, i) = sections("Findings: Lungs clear.\nNote: time 10:30 recorded.");
        assert_eq!(
            f.as_deref(),
            Some("Lungs clear. Note: time 10:30 recorded.")
        );
        assert_eq!(i, None);
        assert_eq!(sections("Just a caption."), (None, None));
    }

    #[test]
    fn decoding_flags_invalid_utf8() {
        assert_eq!(decode_text(b"\xEF\xBB\xBFok"), ("ok".to_string(), false));
        let (t, lossy) = decode_text(b"caf\xE9");
        assert!(lossy);
        assert_eq!(t, "caf\u{FFFD}");
    }
}
