//! What a person types: label values and annotator names.

use crate::error::{Error, Result};

/// Parses a label value as typed by a user: 1, 0, -1 (also 1.0 …), or blank.
pub fn parse_value(s: &str) -> Result<Option<i8>> {
    let s = s.trim().to_ascii_lowercase();
    let word = match s.as_str() {
        "pos" | "positive" => Some(Some(1)),
        "neg" | "negative" => Some(Some(0)),
        "u" | "uncertain" => Some(Some(-1)),
        "" | "blank" | "none" => Some(None),
        _ => None,
    };
    if let Some(v) = word {
        return Ok(v);
    }
    // Numbers in any plain decimal spelling ("1", "1.0", "-0", "-0.00", "+1"): exactly 1,
    // 0 or -1. Not "nan", "inf" or exponents, which are no label.
    let numeric = !s.is_empty()
        && s.trim_start_matches(['+', '-'])
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    match s.parse::<f64>() {
        Ok(v) if numeric && v == 1.0 => Ok(Some(1)),
        Ok(v) if numeric && v == 0.0 => Ok(Some(0)),
        Ok(v) if numeric && v == -1.0 => Ok(Some(-1)),
        _ => Err(Error::field(
            "value",
            format!("label value {s:?}: expected 1, 0, -1 or blank"),
        )),
    }
}

/// Longest annotator name, in characters.
pub const MAX_ANNOTATOR: usize = 64;

/// An annotator's name: not empty, at most [`MAX_ANNOTATOR`] characters, no control
/// characters (it is shown in every history and stored with every label).
pub fn check_annotator(annotator: &str) -> Result<()> {
    let n = annotator.chars().count();
    if annotator.trim().is_empty() {
        return Err(Error::field("annotator", "give a name (it is empty)"));
    }
    if n > MAX_ANNOTATOR {
        return Err(Error::field(
            "annotator",
            format!("{n} characters; use at most {MAX_ANNOTATOR}"),
        ));
    }
    if annotator.chars().any(char::is_control) {
        return Err(Error::field(
            "annotator",
            "control characters (tabs, newlines, NUL) are not allowed",
        ));
    }
    Ok(())
}
