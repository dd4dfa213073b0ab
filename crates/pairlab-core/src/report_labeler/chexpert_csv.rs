//! The CheXpert labeler's command-line formats: a headerless one-column CSV of reports in,
//! a CSV with `Reports` + the 14 observation columns out (`1.0`, `0.0`, `-1.0` or empty),
//! rows in input order; JSONL in and out as well. And the evaluation of predicted labels
//! against a gold file in the same format.

use std::io::{BufRead, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::report_labeler::{Labeler, Value};

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
            let mut bytes = Vec::new();
            let mut input = input;
            input
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io("input", e))?;
            if let Some(line) = unclosed_quote(&bytes) {
                return Err(Error::Invalid(format!(
                    "input line {line}: a double quote opens a field that never closes, so \
                     every row after it would run into one report; quote each report whole \
                     and double the quotes inside it (\"\")"
                )));
            }
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(&bytes[..]);
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

/// The line where a quoted CSV field opens and never closes, if one does. As CSV reads
/// it: a quote opens a field only at the field's start, `""` inside is a quote, and a
/// stray quote inside an unquoted field (`2" nodule`) is just a character.
fn unclosed_quote(bytes: &[u8]) -> Option<usize> {
    let (mut line, mut opened) = (1, None);
    let mut field_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line += 1;
        }
        match opened {
            Some(_) if b == b'"' => {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    opened = None;
                    field_start = false;
                }
            }
            Some(_) => {}
            None if b == b'"' && field_start => opened = Some(line),
            None => field_start = matches!(b, b',' | b'\n' | b'\r'),
        }
        i += 1;
    }
    opened
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

/// Labels the reports of file `input` into file `output` (formats by extension, as
/// [`Format::of`]). The output is written to a temporary file beside it and renamed over
/// it only when complete, so a failed run leaves an existing output as it was; an output
/// that is the input file itself is refused before anything is written.
pub fn label_report_file(labeler: &Labeler, input: &Path, output: &Path) -> Result<usize> {
    let reader = std::fs::File::open(input).map_err(|e| Error::io(input, e))?;
    if same_file(input, output) {
        return Err(Error::Invalid(format!(
            "the output {} is the input file: labelling would overwrite the reports; \
             choose another output",
            output.display()
        )));
    }
    write_atomically(output, |w| {
        label_reports(
            labeler,
            std::io::BufReader::new(reader),
            Format::of(input),
            w,
            Format::of(output),
        )
    })
}

/// Whether `a` and `b` name the same existing file (also through links or other paths).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Runs `write` into a temporary file beside `path` and renames it to `path` once `write`
/// and the flush to disk succeeded; on any failure the temporary file is removed and
/// `path` is untouched.
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<T>,
) -> Result<T> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{} is not a file name", path.display())))?;
    let tmp = path.with_file_name(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut w = std::io::BufWriter::new(file);
        let out = write(&mut w)?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(out)
    })();
    if result.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    result
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

/// A labelled CSV: class names, per row one value per class (None = blank), and the
/// first column (the report) of each row.
struct Labelled {
    classes: Vec<String>,
    rows: Vec<Vec<Option<i8>>>,
    reports: Vec<String>,
}

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
    let mut reports = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| Error::Invalid(format!("row {}: {e}", i + 2)))?;
        reports.push(rec.get(0).unwrap_or_default().to_owned());
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
    Ok(Labelled {
        classes: header.into_iter().skip(1).collect(),
        rows,
        reports,
    })
}

/// A gold and a predicted file with the same rows; `columns[i]` is the predictions'
/// column of the gold's class `i`.
struct Compared {
    gold: Labelled,
    pred: Labelled,
    columns: Vec<usize>,
}

fn compare(gold: impl BufRead, pred: impl BufRead) -> Result<Compared> {
    let gold = read_labelled(gold)?;
    let pred = read_labelled(pred)?;
    if gold.rows.len() != pred.rows.len() {
        return Err(Error::Invalid(format!(
            "gold has {} rows but predictions have {}",
            gold.rows.len(),
            pred.rows.len()
        )));
    }
    let columns = gold
        .classes
        .iter()
        .map(|class| {
            pred.classes
                .iter()
                .position(|c| c == class)
                .ok_or_else(|| Error::Invalid(format!("predictions have no column {class:?}")))
        })
        .collect::<Result<_>>()?;
    Ok(Compared {
        gold,
        pred,
        columns,
    })
}

/// Per-class precision / recall / F1 of `pred` against `gold` (same layout, same rows).
pub fn evaluate(gold: impl BufRead, pred: impl BufRead) -> Result<Vec<ClassEval>> {
    let Compared {
        gold,
        pred,
        columns,
    } = compare(gold, pred)?;
    let (gold_classes, gold, pred) = (gold.classes, gold.rows, pred.rows);
    let mut out = Vec::new();
    for (gi, class) in gold_classes.iter().enumerate() {
        let pi = columns[gi];
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

/// How a binary evaluation reads the predictions' uncertain value (-1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counting {
    /// Uncertain counts as negative.
    Strict,
    /// Uncertain counts as positive.
    Lenient,
}

impl Counting {
    fn positive(self, v: Option<i8>) -> bool {
        match self {
            Counting::Strict => v == Some(1),
            Counting::Lenient => matches!(v, Some(1 | -1)),
        }
    }
}

/// One class of a binary evaluation: gold 1 against gold 0 (blank gold cells are left
/// out), predictions read by a [`Counting`].
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BinaryEval {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Gold positives.
    pub support: u64,
    /// Rows with a gold value (1 or 0).
    pub scored: u64,
}

/// Gold positive / negative of one cell, `None` where the gold is blank or uncertain.
fn gold_truth(v: Option<i8>) -> Option<bool> {
    match v {
        Some(1) => Some(true),
        Some(0) => Some(false),
        _ => None,
    }
}

/// Binary per-class precision / recall / F1 of `pred` against `gold`: a gold file whose
/// cells are 1 (positive), 0 (negative) or blank (not scored), as the real-report
/// benchmark writes it.
pub fn evaluate_binary(
    gold: impl BufRead,
    pred: impl BufRead,
    counting: Counting,
) -> Result<Vec<BinaryEval>> {
    let c = compare(gold, pred)?;
    let mut out = Vec::new();
    for (gi, class) in c.gold.classes.iter().enumerate() {
        let pi = c.columns[gi];
        let (mut tp, mut np, mut ng, mut scored) = (0, 0, 0, 0);
        for (g, p) in c.gold.rows.iter().zip(&c.pred.rows) {
            let Some(truth) = gold_truth(g.get(gi).copied().flatten()) else {
                continue;
            };
            let said = counting.positive(p.get(pi).copied().flatten());
            scored += 1;
            ng += u64::from(truth);
            np += u64::from(said);
            tp += u64::from(truth && said);
        }
        let p = prf(tp, np, ng);
        out.push(BinaryEval {
            class: class.clone(),
            precision: p.precision,
            recall: p.recall,
            f1: p.f1,
            support: ng,
            scored,
        });
    }
    Ok(out)
}

/// A row where the prediction of one class disagrees with the gold.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Disagreement {
    /// Data row, counting from 1 (the header is not counted).
    pub row: usize,
    /// The predictions' first column: the report text.
    pub report: String,
    pub gold: Option<i8>,
    pub pred: Option<i8>,
    /// "false negative", "false positive", or (without a counting) "differs".
    pub kind: &'static str,
}

/// The rows where `class` disagrees: with a counting, the false negatives and false
/// positives of [`evaluate_binary`]; without, every row whose values differ.
pub fn disagreements(
    gold: impl BufRead,
    pred: impl BufRead,
    class: &str,
    counting: Option<Counting>,
) -> Result<Vec<Disagreement>> {
    let c = compare(gold, pred)?;
    let gi = c
        .gold
        .classes
        .iter()
        .position(|g| g == class)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "no class {class:?} in the gold file (it has {})",
                c.gold.classes.join(", ")
            ))
        })?;
    let pi = c.columns[gi];
    let mut out = Vec::new();
    for (i, (g, p)) in c.gold.rows.iter().zip(&c.pred.rows).enumerate() {
        let (g, p) = (g.get(gi).copied().flatten(), p.get(pi).copied().flatten());
        let kind = match counting {
            Some(counting) => match (gold_truth(g), counting.positive(p)) {
                (Some(true), false) => "false negative",
                (Some(false), true) => "false positive",
                _ => continue,
            },
            None if g != p => "differs",
            None => continue,
        };
        out.push(Disagreement {
            row: i + 1,
            report: c.pred.reports[i].clone(),
            gold: g,
            pred: p,
            kind,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unclosed_quote_is_found_and_stray_ones_are_not() {
        assert_eq!(unclosed_quote(b"\"a\"\n\"b \"\"q\"\" c\"\n"), None);
        assert_eq!(unclosed_quote(b"plain 2\" nodule\nnext\n"), None);
        assert_eq!(
            unclosed_quote(b"\"ok\"\n\"open, never closed\nmore\n"),
            Some(2)
        );
        assert_eq!(unclosed_quote(b"x,\"y\n"), Some(1));
        let err = label_reports(
            &Labeler::chexpert().expect("rules"),
            &b"\"Edema.\"\n\"No effusion.\nCardiomegaly.\n"[..],
            Format::Csv,
            Vec::new(),
            Format::Csv,
        )
        .expect_err("refused")
        .to_string();
        assert!(err.contains("line 2"), "{err}");
    }
    use crate::demo::cases::{Case, Rng, write_report};

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
