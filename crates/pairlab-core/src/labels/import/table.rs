//! A label file read as rows of named cells: CSV (any of the formats) or JSON lines.

use std::collections::HashMap;

use super::ImportFormat;
use crate::error::{Error, Result};

/// A file as rows of named cells.
pub(super) struct Table {
    pub(super) header: Vec<String>,
    /// (line, cells in header order).
    pub(super) rows: Vec<(u64, Vec<String>)>,
}

pub(super) fn read_table(text: &str, format: ImportFormat) -> Result<Table> {
    if format == ImportFormat::Jsonl {
        return read_jsonl(text);
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Invalid(format!("cannot read the CSV header: {e}")))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| Error::Invalid(format!("malformed CSV: {e}")))?;
        let line = record.position().map_or(0, |p| p.line());
        rows.push((line, record.iter().map(str::to_owned).collect()));
    }
    Ok(Table { header, rows })
}

fn cell_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn read_jsonl(text: &str) -> Result<Table> {
    let mut header: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| Error::Invalid(format!("line {}: not JSON: {e}", i + 1)))?;
        let serde_json::Value::Object(mut obj) = v else {
            return Err(Error::Invalid(format!("line {}: not a JSON object", i + 1)));
        };
        // Labels may sit in a `labels` object.
        if let Some(serde_json::Value::Object(labels)) = obj.remove("labels") {
            obj.extend(labels);
        }
        let cells: HashMap<String, String> =
            obj.iter().map(|(k, v)| (k.clone(), cell_text(v))).collect();
        for k in obj.keys() {
            if !header.contains(k) {
                header.push(k.clone());
            }
        }
        objects.push((i as u64 + 1, cells));
    }
    let rows = objects
        .into_iter()
        .map(|(line, cells)| {
            let row = header
                .iter()
                .map(|h| cells.get(h).cloned().unwrap_or_default())
                .collect();
            (line, row)
        })
        .collect();
    Ok(Table { header, rows })
}

/// The format from the name and header when not given.
pub(super) fn guess_format(name: &str, text: &str) -> ImportFormat {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
        return ImportFormat::Jsonl;
    }
    let first = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches('\u{feff}');
    let cols: Vec<&str> = first
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    if cols.contains(&"subject_id") && cols.contains(&"study_id") {
        ImportFormat::MimicChexpert
    } else if cols.first() == Some(&"Path") {
        ImportFormat::ChexpertCsv
    } else {
        ImportFormat::Csv
    }
}
