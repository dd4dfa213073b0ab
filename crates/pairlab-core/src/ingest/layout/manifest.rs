//! `manifest`: a CSV or JSONL file with columns `image`, `report` (text) or `report_path`,
//! optional `patient_id`, `study_id`, `split`, and any label columns holding CheXpert-style
//! values (1 / 0 / -1 / blank; `1.0` etc. accepted).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::{ImportedSchema, Layout, Plan, PlannedImage, PlannedReport, ReportContent};
use crate::error::{Error, Result};
use crate::ingest::report::decode_text;
use crate::ingest::scan::{FileRef, contained, rel_path};
use crate::ingest::{ErrorKind, IngestError};

const KNOWN: &[&str] = &[
    "image",
    "report",
    "report_path",
    "patient_id",
    "study_id",
    "split",
];

/// True for a `.csv`/`.jsonl`/`.ndjson` file whose header names an `image` column.
pub fn is_manifest(path: &Path) -> bool {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let (text, _) = decode_text(&bytes[..bytes.len().min(64 * 1024)]);
    let first = text.lines().next().unwrap_or("");
    match ext.as_str() {
        "csv" => first
            .split(',')
            .any(|c| c.trim().trim_matches('"').eq_ignore_ascii_case("image")),
        "jsonl" | "ndjson" => first.contains("\"image\""),
        _ => false,
    }
}

/// One manifest row as column → cell text ("" for blank or null).
type Row = BTreeMap<String, String>;

/// Columns, (line, row or why it is malformed) and whether decoding was lossy.
type Rows = (Vec<String>, Vec<(usize, Result<Row, Malformed>)>, bool);

/// Why a manifest row could not be read.
#[derive(Debug)]
struct Malformed(String);

fn read_rows(file: &Path) -> Result<Rows> {
    let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
    let (text, lossy) = decode_text(&bytes);
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if ext == "jsonl" || ext == "ndjson" {
        let mut columns: Vec<String> = Vec::new();
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let row = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line)
            {
                Ok(obj) => Ok(obj
                    .into_iter()
                    .map(|(k, v)| {
                        if !columns.contains(&k) {
                            columns.push(k.clone());
                        }
                        let cell = match v {
                            serde_json::Value::Null => String::new(),
                            serde_json::Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, cell)
                    })
                    .collect()),
                // What went wrong and where, never the line's text.
                Err(e) => Err(Malformed(format!(
                    "not a JSON object ({} at column {})",
                    match e.classify() {
                        serde_json::error::Category::Syntax => "a syntax error",
                        serde_json::error::Category::Data => "a value of another type",
                        serde_json::error::Category::Eof => "the line ends early",
                        serde_json::error::Category::Io => "a read error",
                    },
                    e.column()
                ))),
            };
            rows.push((i + 1, row));
        }
        return Ok((columns, rows, lossy));
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Invalid(format!("{}: bad CSV header: {e}", file.display())))?
        .iter()
        .map(|c| c.trim().to_owned())
        .collect();
    for (i, c) in columns.iter().enumerate() {
        if let Some(j) = columns[..i].iter().position(|d| d == c) {
            return Err(Error::Invalid(format!(
                "{}: columns {} and {} are both named {c:?}; give each column its own name",
                file.display(),
                j + 1,
                i + 1
            )));
        }
    }
    let mut rows = Vec::new();
    for rec in reader.records() {
        match rec {
            Ok(r) => {
                let line = r.position().map(|p| p.line() as usize).unwrap_or(0);
                let row = columns
                    .iter()
                    .cloned()
                    .zip(r.iter().map(str::to_owned))
                    .collect();
                rows.push((line, Ok(row)));
            }
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                rows.push((line, Err(Malformed(format!("malformed CSV row: {e}")))));
            }
        }
    }
    Ok((columns, rows, lossy))
}

/// Parses a CheXpert-style label cell.
/// A label cell: 1, 0, -1 in any plain decimal spelling (`1.0`, `-0`), or blank.
pub fn parse_label(cell: &str) -> Option<Option<i8>> {
    let cell = cell.trim();
    if cell.chars().any(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    crate::labels::parse_value(cell).ok()
}

fn resolve(root: &Path, manifest_dir: &Path, cell: &str) -> Option<PathBuf> {
    let p = Path::new(cell);
    if p.is_absolute() {
        return Some(p.to_owned());
    }
    let from_root = root.join(p);
    if from_root.exists() {
        return Some(from_root);
    }
    let from_manifest = manifest_dir.join(p);
    from_manifest.exists().then_some(from_manifest)
}

pub fn plan(root: &Path, file: &Path) -> Result<Plan> {
    let manifest_rel = rel_path(root, file);
    let (columns, rows, lossy) = read_rows(file)?;
    if !columns.iter().any(|c| c == "image") {
        // The columns are not echoed: a manifest path pointing at some other file (over
        // the API, too) must not reveal its first line.
        return Err(Error::Invalid(format!(
            "{}: the manifest has no `image` column among its {} columns; its first row \
             (CSV) or its objects' keys (JSONL) must name the columns: image, report or \
             report_path, and optionally patient_id, study_id, split and label columns",
            file.display(),
            columns.len()
        )));
    }
    let mut plan = Plan::new(Layout::Manifest, Vec::new());
    if lossy {
        plan.errors.push(IngestError::new(
            manifest_rel.clone(),
            ErrorKind::NonUtf8,
            "manifest is not valid UTF-8; decoded with replacement characters",
        ));
    }
    let label_cols: Vec<String> = columns
        .iter()
        .filter(|c| !KNOWN.contains(&c.as_str()))
        .cloned()
        .collect();
    let mut planner = RowPlanner {
        root,
        root_canon: root.canonicalize().unwrap_or_else(|_| root.to_owned()),
        manifest_dir: file.parent().unwrap_or(root).to_owned(),
        manifest_rel,
        report_text: columns.iter().any(|c| c == "report"),
        label_cols: &label_cols,
        seen_images: HashSet::new(),
        seen_reports: HashSet::new(),
        plan: &mut plan,
    };
    for (line, row) in rows {
        let at = format!("{}:{line}", planner.manifest_rel);
        match row {
            Ok(row) => planner.row(&at, &row),
            Err(Malformed(message)) => {
                planner
                    .plan
                    .errors
                    .push(IngestError::new(at, ErrorKind::Manifest, message));
            }
        }
    }
    if !label_cols.is_empty() {
        let chexpert = crate::labels::SchemaDef::chexpert()?.classes;
        let all_chexpert = label_cols.iter().all(|c| chexpert.contains(c));
        plan.schema = Some(if all_chexpert {
            ImportedSchema {
                name: "chexpert".into(),
                kind: crate::labels::SchemaKind::MultiLabel,
                classes: chexpert,
            }
        } else {
            ImportedSchema {
                name: "manifest".into(),
                kind: crate::labels::SchemaKind::MultiLabel,
                classes: label_cols,
            }
        });
    }
    Ok(plan)
}

/// Plans the manifest's rows one by one; every refusal is an error row of the plan and
/// the other rows go on.
struct RowPlanner<'a> {
    root: &'a Path,
    root_canon: PathBuf,
    manifest_dir: PathBuf,
    manifest_rel: String,
    /// Whether the manifest has a `report` column (report text in the row).
    report_text: bool,
    label_cols: &'a [String],
    seen_images: HashSet<String>,
    seen_reports: HashSet<String>,
    plan: &'a mut Plan,
}

impl RowPlanner<'_> {
    fn error(&mut self, at: impl Into<String>, kind: ErrorKind, message: impl Into<String>) {
        self.plan
            .errors
            .push(IngestError::new(at.into(), kind, message.into()));
    }

    /// One row (`at` is `manifest:line`): its image, report and labels.
    fn row(&mut self, at: &str, row: &Row) {
        let cell = |name: &str| row.get(name).map(|s| s.trim()).filter(|s| !s.is_empty());
        let Some(image) = cell("image") else {
            self.error(at, ErrorKind::Manifest, "row has no `image` value; skipped");
            return;
        };
        let Some(file_ref) = self.image_file(at, image) else {
            return;
        };
        let rel = file_ref.rel.clone();
        let mut planned = PlannedImage {
            file: Some(file_ref),
            patient: cell("patient_id").map(str::to_owned),
            study: cell("study_id").map(str::to_owned),
            split: cell("split").map(|s| s.to_ascii_lowercase()),
            ..PlannedImage::default()
        };
        if let Some(path) = cell("report_path") {
            planned.report = self.report_file(at, path);
        } else if self.report_text {
            planned.report = self.report_in_row(at, &rel, row);
        }
        self.labels(at, row, &mut planned);
        self.plan.images.push(planned);
    }

    /// The image a row names, if it exists inside the root, is readable and is not listed
    /// before.
    fn image_file(&mut self, at: &str, image: &str) -> Option<FileRef> {
        let Some(abs) = resolve(self.root, &self.manifest_dir, image) else {
            self.error(
                image,
                ErrorKind::MissingFile,
                format!("named in {at} but the file does not exist"),
            );
            return None;
        };
        let Some(canon) = contained(&self.root_canon, &abs) else {
            self.error(
                image,
                ErrorKind::OutsideRoot,
                format!("named in {at} but lies outside the corpus root; skipped"),
            );
            return None;
        };
        let rel = rel_path(&self.root_canon, &canon);
        let file_ref = match FileRef::stat(canon, rel.clone()) {
            Ok(f) => f,
            Err(e) => {
                self.error(rel, ErrorKind::Unreadable, format!("cannot read: {e}"));
                return None;
            }
        };
        if !self.seen_images.insert(rel.clone()) {
            self.error(
                at,
                ErrorKind::Manifest,
                format!("{rel} is listed more than once; only its first row is used"),
            );
            return None;
        }
        Some(file_ref)
    }

    /// A `report_path`: planned once however many rows name it; read only when it resolves
    /// inside the root (links included).
    fn report_file(&mut self, at: &str, path: &str) -> Option<String> {
        let found = resolve(self.root, &self.manifest_dir, path)
            .ok_or((ErrorKind::MissingFile, "file does not exist".to_string()))
            .and_then(|abs| {
                let canon = contained(&self.root_canon, &abs).ok_or((
                    ErrorKind::OutsideRoot,
                    "it lies outside the corpus root and is not read".to_string(),
                ))?;
                let rel = rel_path(&self.root_canon, &canon);
                FileRef::stat(canon, rel).map_err(|e| (ErrorKind::Unreadable, e.to_string()))
            });
        match found {
            Ok(rf) => {
                if self.seen_reports.insert(rf.rel.clone()) {
                    self.plan.reports.push(PlannedReport {
                        source: rf.rel.clone(),
                        content: ReportContent::File(rf.clone()),
                        tags: Vec::new(),
                    });
                }
                Some(rf.rel)
            }
            Err((kind, e)) => {
                self.error(
                    path,
                    kind,
                    format!("report named in {at}: {e}; image indexed without a report"),
                );
                None
            }
        }
    }

    /// A `report` cell: the report's text in the row.
    fn report_in_row(&mut self, at: &str, rel: &str, row: &Row) -> Option<String> {
        let text = row.get("report").cloned().unwrap_or_default();
        if text.trim().is_empty() {
            self.error(
                at,
                ErrorKind::EmptyReport,
                format!("report of {rel} is empty; image indexed without a report"),
            );
            return None;
        }
        let source = format!("{}#{rel}", self.manifest_rel);
        self.plan.reports.push(PlannedReport {
            source: source.clone(),
            content: ReportContent::Text { text, from: None },
            tags: Vec::new(),
        });
        Some(source)
    }

    /// The label columns' values (1, 0, -1 or blank; anything else is an error row).
    fn labels(&mut self, at: &str, row: &Row, planned: &mut PlannedImage) {
        for col in self.label_cols {
            let value = row.get(col).map(String::as_str).unwrap_or("");
            match parse_label(value) {
                Some(Some(v)) => planned.labels.push((col.clone(), v)),
                Some(None) => {}
                None => self.error(
                    at,
                    ErrorKind::Manifest,
                    format!(
                        "label {col:?} has value {value:?}; expected 1, 0, -1 or blank; label skipped"
                    ),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_cells() {
        assert_eq!(parse_label("1.0"), Some(Some(1)));
        assert_eq!(parse_label(" -1 "), Some(Some(-1)));
        assert_eq!(parse_label("0"), Some(Some(0)));
        assert_eq!(parse_label(""), Some(None));
        assert_eq!(parse_label("yes"), None);
        assert_eq!(parse_label("2"), None);
        assert_eq!(parse_label("-0"), Some(Some(0)));
        assert_eq!(parse_label("-0.0"), Some(Some(0)));
        assert_eq!(parse_label("1.000"), Some(Some(1)));
        assert_eq!(parse_label("0.5"), None);
        assert_eq!(parse_label("1e0"), None);
        assert_eq!(parse_label("nan"), None);
    }
}
