//! The CheXpert labeler's command-line formats: a headerless one-column CSV of reports in,
//! a CSV with `Reports` + the 14 observation columns out (`1.0`, `0.0`, `-1.0` or empty),
//! rows in input order; JSONL in and out as well. And the evaluation of predicted labels
//! against a gold file in the same format.

use std::io::{BufRead, Write};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::labeler::{Labeler, Value};

/// Input and output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// By file extension: `.jsonl`/`.ndjson` are JSONL, anything else CSV.
    pub fn of(path: &std::path::Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jsonl" | "ndjson") => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

fn cell(v: Option<Value>) -> &'static str {
    match v.map(Value::as_i8) {
        Some(1) => "1.0",
        Some(0) => "0.0",
        Some(-1) => "-1.0",
        _ => "",
    }
}

fn read_reports(input: impl BufRead, format: Format) -> Result<Vec<String>> {
    match format {
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(input);
            let mut out = Vec::new();
            for (i, rec) in reader.byte_records().enumerate() {
                let rec = rec.map_err(|e| Error::Invalid(format!("input row {}: {e}", i + 1)))?;
                // Reports are the first column; bytes that are not UTF-8 are replaced.
                let text = rec.get(0).map(|b| String::from_utf8_lossy(b).into_owned());
                out.push(text.unwrap_or_default());
            }
            Ok(out)
        }
        Format::Jsonl => {
            let mut out = Vec::new();
            for (i, line) in input.split(b'\n').enumerate() {
                let line = line.map_err(|e| Error::io("input", e))?;
                let line = String::from_utf8_lossy(&line);
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&line)
                    .map_err(|e| Error::Invalid(format!("input line {}: {e}", i + 1)))?;
                let text = match &v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Object(o) => o
                        .get("report")
                        .or_else(|| o.get("text"))
                        .and_then(|t| t.as_str())
                        .map(str::to_owned)
                        .ok_or_else(|| {
                            Error::Invalid(format!(
                                "input line {}: no \"report\" (or \"text\") string",
                                i + 1
                            ))
                        })?,
                    _ => {
                        return Err(Error::Invalid(format!(
                            "input line {}: expected a string or an object",
                            i + 1
                        )));
                    }
                };
                out.push(text);
            }
            Ok(out)
        }
    }
}

/// Labels every report of `input` and writes them in the labeler's layout to `output`.
/// Returns the number of reports.
pub fn label_reports(
    labeler: &Labeler,
    input: impl BufRead,
    in_format: Format,
    output: impl Write,
    out_format: Format,
) -> Result<usize> {
    use rayon::prelude::*;
    let reports = read_reports(input, in_format)?;
    let labels: Vec<_> = reports.par_iter().map(|r| labeler.label(r)).collect();
    let classes = labeler.classes();
    match out_format {
        Format::Csv => {
            let mut w = csv::Writer::from_writer(output);
            let mut header = vec!["Reports".to_string()];
            header.extend(classes.iter().cloned());
            w.write_record(&header)
                .map_err(|e| Error::Invalid(e.to_string()))?;
            for (text, l) in reports.iter().zip(&labels) {
                let mut row = vec![text.as_str()];
                row.extend(l.values.iter().map(|v| cell(*v)));
                w.write_record(&row)
                    .map_err(|e| Error::Invalid(e.to_string()))?;
            }
            w.flush().map_err(|e| Error::io("output", e))?;
        }
        Format::Jsonl => {
            let mut output = output;
            for (text, l) in reports.iter().zip(&labels) {
                let values: serde_json::Map<String, serde_json::Value> = classes
                    .iter()
                    .zip(&l.values)
                    .map(|(c, v)| {
                        let v = v.map(|v| serde_json::Value::from(f64::from(v.as_i8())));
                        (c.clone(), v.unwrap_or(serde_json::Value::Null))
                    })
                    .collect();
                let line =
                    serde_json::json!({"report": text, "labels": values, "evidence": l.evidence});
                writeln!(output, "{line}").map_err(|e| Error::io("output", e))?;
            }
        }
    }
    Ok(reports.len())
}

/// Precision, recall and F1 of one value (positive, negative or uncertain) of one class.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Prf {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold rows with this value.
    pub support: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ClassEval {
    pub class: String,
    pub positive: Prf,
    pub negative: Prf,
    pub uncertain: Prf,
}

fn prf(tp: u64, pred: u64, gold: u64) -> Prf {
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (p, r) = (ratio(tp, pred), ratio(tp, gold));
    Prf {
        precision: p,
        recall: r,
        f1: if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        },
        support: gold,
    }
}

/// Class names and, per row, one value per class (None = blank).
type Labelled = (Vec<String>, Vec<Vec<Option<i8>>>);

/// Reads a labelled CSV (header `Reports` + classes).
fn read_labelled(input: impl BufRead) -> Result<Labelled> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(input);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Invalid(format!("header: {e}")))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| Error::Invalid(format!("row {}: {e}", i + 2)))?;
        let values = rec
            .iter()
            .skip(1)
            .map(|c| {
                crate::labels::parse_value(c)
                    .map_err(|e| Error::Invalid(format!("row {}: {e}", i + 2)))
            })
            .collect::<Result<Vec<_>>>()?;
        rows.push(values);
    }
    Ok((header.into_iter().skip(1).collect(), rows))
}

/// Per-class precision / recall / F1 of `pred` against `gold` (same layout, same rows).
pub fn evaluate(gold: impl BufRead, pred: impl BufRead) -> Result<Vec<ClassEval>> {
    let (gold_classes, gold) = read_labelled(gold)?;
    let (pred_classes, pred) = read_labelled(pred)?;
    if gold.len() != pred.len() {
        return Err(Error::Invalid(format!(
            "gold has {} rows but predictions have {}",
            gold.len(),
            pred.len()
        )));
    }
    let mut out = Vec::new();
    for (gi, class) in gold_classes.iter().enumerate() {
        let pi = pred_classes
            .iter()
            .position(|c| c == class)
            .ok_or_else(|| Error::Invalid(format!("predictions have no column {class:?}")))?;
        let stats = |want: i8| {
            let (mut tp, mut np, mut ng) = (0, 0, 0);
            for (g, p) in gold.iter().zip(&pred) {
                let (g, p) = (g.get(gi).copied().flatten(), p.get(pi).copied().flatten());
                ng += u64::from(g == Some(want));
                np += u64::from(p == Some(want));
                tp += u64::from(g == Some(want) && p == Some(want));
            }
            prf(tp, np, ng)
        };
        out.push(ClassEval {
            class: class.clone(),
            positive: stats(1),
            negative: stats(0),
            uncertain: stats(-1),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::synth::{Case, Rng, write_report};

    #[test]
    fn thousands_of_reports_with_odd_characters_round_trip() -> Result<()> {
        let mut rng = Rng::new(11);
        let mut reports: Vec<String> = (0..3000)
            .map(|i| {
                let mut t = write_report(&Case::random(&mut rng), &mut rng).text;
                match i % 5 {
                    0 => t.push_str("\n\"Quoted\", with, commas"),
                    1 => t.insert_str(0, "\u{feff}Zeile mit Ümlaut — ünd émoji 🫁\r\n"),
                    2 => t = t.replace('\n', "\r\n"),
                    _ => {}
                }
                t
            })
            .collect();
        reports.push(String::new());
        let mut input = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(Vec::new());
        for r in &reports {
            input
                .write_record([r])
                .map_err(|e| Error::Invalid(e.to_string()))?;
        }
        let input = input
            .into_inner()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let labeler = Labeler::chexpert().map_err(|e| Error::Invalid(e.to_string()))?;
        let mut out = Vec::new();
        let n = label_reports(&labeler, &input[..], Format::Csv, &mut out, Format::Csv)?;
        assert_eq!(n, reports.len());
        let mut reader = csv::Reader::from_reader(&out[..]);
        let rows: Vec<csv::StringRecord> = reader
            .records()
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        assert_eq!(rows.len(), reports.len());
        for (row, text) in rows.iter().zip(&reports) {
            assert_eq!(row.len(), 15);
            assert_eq!(&row[0], text.as_str());
        }
        Ok(())
    }
}
