//! Importing label files: CheXpert's `train.csv` (`Path` + the classes), MIMIC-CXR-JPG's
//! `mimic-cxr-2.0.0-chexpert.csv` / `negbio.csv` (`subject_id,study_id` + the classes), and
//! plain CSV or JSONL keyed by `pair_id` or an image path (Pairlab's own exports read back).
//!
//! Rows are matched to indexed pairs by path (exact, absolute under a corpus root, or with
//! leading folders such as `CheXpert-v1.0-small/` stripped), by (subject, study) — every
//! image of the study — or by pair id. Unmatched and ambiguous rows are counted and listed,
//! never guessed; a value other than 1 / 0 / -1 / blank makes its row an error; a second
//! row for the same pairs is a duplicate and is not applied. A blank cell changes nothing.
//! Every change goes through the audit trail with the import's id, so the import is undone
//! (and redone) as one step.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

mod table;
mod undo;

use table::{Table, guess_format, read_table};
pub(crate) use undo::reverse_batch;
pub use undo::{ImportRecord, ImportUndone, imports, undo_import};

use super::{
    Change, HUMAN, IMPORT, LabelKey, Provenance, Schema, SchemaKind, check_annotator, parse_value,
    record, schema, stored, write_row,
};
use crate::error::{Error, Result};
use crate::progress::Progress;

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, TS)]
#[serde(rename_all = "kebab-case")]
pub enum ImportFormat {
    /// CheXpert's CSV: `Path`, then the classes.
    ChexpertCsv,
    /// MIMIC-CXR-JPG's CheXpert or NegBio CSV: `subject_id,study_id`, then the classes.
    MimicChexpert,
    /// A CSV keyed by `pair_id` or an image path column.
    Csv,
    /// JSON lines keyed like CSV; labels as fields or in a `labels` object.
    Jsonl,
}

impl ImportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportFormat::ChexpertCsv => "chexpert-csv",
            ImportFormat::MimicChexpert => "mimic-chexpert",
            ImportFormat::Csv => "csv",
            ImportFormat::Jsonl => "jsonl",
        }
    }

    pub fn parse(s: &str) -> Result<ImportFormat> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            Error::field(
                "format",
                format!("{s:?}: use chexpert-csv, mimic-chexpert, csv or jsonl"),
            )
        })
    }
}

/// Where imported labels go: the `import` source (machine-like: a person's label stays
/// current) or the human source under an annotator.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, TS)]
#[serde(rename_all = "kebab-case")]
pub enum ImportSource {
    #[default]
    Import,
    Human,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, TS)]
pub struct ImportOptions {
    /// The label file on this machine (or give its `content`).
    #[serde(default)]
    #[ts(optional = nullable)]
    pub file: Option<String>,
    /// The file's text, for a client that uploads it; `name` says what it was called.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub content: Option<String>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub name: Option<String>,
    /// Default: from the file's extension and header.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub format: Option<ImportFormat>,
    /// Default: the library's only schema.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub schema: Option<String>,
    #[serde(default)]
    pub source: ImportSource,
    /// Who the human labels are from (needed with `source: human`).
    #[serde(default)]
    #[ts(optional = nullable)]
    pub annotator: Option<String>,
}

/// A row that was not applied, and why.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, TS)]
pub struct ImportRow {
    /// The line in the file (1 is the header of a CSV).
    pub line: u64,
    /// What the row named (its path, subject/study or pair id).
    pub key: String,
    pub message: String,
}

/// At most this many rows are listed per kind (all are counted).
const LISTED: usize = 1000;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, TS)]
pub struct ImportSummary {
    /// The import's id (`undo_import` takes it).
    pub import_id: i64,
    pub file: String,
    pub format: ImportFormat,
    pub schema: String,
    pub source: String,
    pub annotator: Option<String>,
    /// Data rows read.
    pub rows: u64,
    /// Rows applied to at least one pair.
    pub matched: u64,
    /// Pairs that got a label from the file.
    pub pairs: u64,
    /// Label values that changed.
    pub changes: u64,
    pub unmatched: u64,
    pub errors: u64,
    pub duplicates: u64,
    /// The first unmatched, malformed and duplicate rows.
    pub unmatched_rows: Vec<ImportRow>,
    pub error_rows: Vec<ImportRow>,
    pub duplicate_rows: Vec<ImportRow>,
    /// The file's columns read as classes, and the columns it ignored.
    pub class_columns: Vec<String>,
    pub ignored_columns: Vec<String>,
}

/// How rows name their pairs.
enum Key {
    Path(usize),
    Study { subject: usize, study: usize },
    Pair(usize),
}

fn column(header: &[String], names: &[&str]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| header.iter().position(|h| h == n))
}

fn key_of(header: &[String], format: ImportFormat) -> Result<Key> {
    let missing = |what: &str| Error::Invalid(format!("the file has no {what} column"));
    match format {
        ImportFormat::ChexpertCsv => column(header, &["Path"])
            .map(Key::Path)
            .ok_or_else(|| missing("`Path`")),
        ImportFormat::MimicChexpert => {
            let subject = column(header, &["subject_id"]).ok_or_else(|| missing("`subject_id`"))?;
            let study = column(header, &["study_id"]).ok_or_else(|| missing("`study_id`"))?;
            Ok(Key::Study { subject, study })
        }
        ImportFormat::Csv | ImportFormat::Jsonl => {
            if let Some(i) = column(header, &["pair_id"]) {
                return Ok(Key::Pair(i));
            }
            column(
                header,
                &["image_path", "path", "Path", "file_name", "image"],
            )
            .map(Key::Path)
            .ok_or_else(|| missing("`pair_id` or image path (`image_path`, `path`, `file_name`)"))
        }
    }
}

/// The pairs a row names, or why none (unmatched or ambiguous).
fn pairs_of(
    conn: &Connection,
    key: &Key,
    cells: &[String],
) -> Result<std::result::Result<Vec<i64>, String>> {
    let get = |i: usize| cells.get(i).map(|s| s.trim()).unwrap_or_default();
    match key {
        Key::Pair(i) => {
            let Ok(id) = get(*i).parse::<i64>() else {
                return Ok(Err(format!("pair id {:?} is not a number", get(*i))));
            };
            let found: Option<i64> = conn
                .prepare_cached("SELECT id FROM pairs WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            Ok(found
                .map(|p| vec![p])
                .ok_or_else(|| format!("no pair {id}")))
        }
        Key::Study { subject, study } => {
            let (subject, study) = (get(*subject), get(*study));
            let mut stmt = conn.prepare_cached(
                "SELECT p.id FROM studies s JOIN pairs p ON p.study_id = s.id
                 LEFT JOIN patients pt ON pt.id = s.patient_id
                 WHERE s.key IN (?1, 's' || ?1) AND (pt.key IS NULL OR pt.key IN (?2, 'p' || ?2))
                 ORDER BY p.id",
            )?;
            let ids: Vec<i64> = stmt
                .query_map([study, subject], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            if ids.is_empty() {
                return Ok(Err(format!("no study {study} of subject {subject}")));
            }
            Ok(Ok(ids))
        }
        Key::Path(i) => by_path(conn, get(*i)),
    }
}

fn by_path(conn: &Connection, raw: &str) -> Result<std::result::Result<Vec<i64>, String>> {
    let path = raw.replace('\\', "/");
    if path.is_empty() {
        return Ok(Err("no path".into()));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, c.root FROM images i JOIN pairs p ON p.image_id = i.id
         JOIN corpora c ON c.id = i.corpus_id WHERE i.path = ?1 ORDER BY p.id",
    )?;
    let mut rel = path.trim_start_matches("./");
    loop {
        let hits: Vec<(i64, String)> = stmt
            .query_map([rel], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        // An absolute path must lie under the corpus root it names.
        let hits: Vec<i64> = hits
            .into_iter()
            .filter(|(_, root)| {
                !path.starts_with('/') || path == format!("{}/{rel}", root.trim_end_matches('/'))
            })
            .map(|(id, _)| id)
            .collect();
        match hits.len() {
            1 => return Ok(Ok(hits)),
            0 => {}
            n => return Ok(Err(format!("{rel} is in {n} corpora: not guessed"))),
        }
        match rel.split_once('/') {
            Some((_, rest)) if !rest.is_empty() => rel = rest,
            _ => return Ok(Err("no indexed image at this path".into())),
        }
    }
}

/// The schema's class per file column (exact names, then case-insensitive).
fn class_columns(header: &[String], schema: &Schema) -> Vec<(usize, String)> {
    schema
        .classes
        .iter()
        .filter_map(|c| {
            header
                .iter()
                .position(|h| h == c)
                .or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(c)))
                .map(|i| (i, c.clone()))
        })
        .collect()
}

/// A row's (class, value) pairs, blanks left out; an error names the bad cell.
fn row_values(
    schema: &Schema,
    columns: &[(usize, String)],
    label_col: Option<usize>,
    cells: &[String],
) -> std::result::Result<Vec<(String, i8)>, String> {
    let mut out = Vec::new();
    for (i, class) in columns {
        let raw = cells.get(*i).map(String::as_str).unwrap_or_default();
        match parse_value(raw) {
            Ok(Some(v)) => out.push((class.clone(), v)),
            Ok(None) => {}
            Err(_) => return Err(format!("{class}: {raw:?} is not 1, 0, -1 or blank")),
        }
    }
    if schema.kind != SchemaKind::MultiClass {
        return Ok(out);
    }
    // Multi-class: one class per pair, named by a `label` column or the one class set to 1.
    if let Some(i) = label_col {
        let name = cells.get(i).map(|s| s.trim()).unwrap_or_default();
        if !name.is_empty() {
            let class = schema
                .classes
                .iter()
                .find(|c| c.as_str() == name)
                .ok_or_else(|| {
                    format!("label {name:?} is not a class of schema {}", schema.name)
                })?;
            out.push((class.clone(), 1));
        }
    }
    if let Some((c, v)) = out.iter().find(|(_, v)| *v == -1) {
        return Err(format!(
            "{c}: {v}: schema {} is multi-class (1 or blank)",
            schema.name
        ));
    }
    out.retain(|(_, v)| *v == 1);
    out.dedup();
    if out.len() > 1 {
        return Err(format!(
            "{} classes set: schema {} is multi-class",
            out.len(),
            schema.name
        ));
    }
    Ok(out)
}

struct Writer<'a> {
    schema: &'a Schema,
    source: &'a str,
    annotator: Option<&'a str>,
    batch: i64,
}

impl Writer<'_> {
    /// Sets one value; answers whether it changed.
    fn set(&self, conn: &Connection, pair: i64, class: &str, value: Option<i8>) -> Result<bool> {
        let key = LabelKey::new(pair, self.schema, class, self.source);
        let old = stored(conn, key)?;
        if old == value {
            return Ok(false);
        }
        let with = Provenance {
            annotator: self.annotator,
            ..Provenance::default()
        };
        write_row(conn, key, value, with)?;
        let change = Change {
            annotator: self.annotator,
            old,
            new: value,
            kind: "set",
            ref_event: None,
            batch: Some(self.batch),
            adjudication: false,
        };
        record(conn, key, change)?;
        Ok(true)
    }

    /// Applies a row's values to a pair; answers how many changed. In a multi-class
    /// schema the pair's other class from the same source is blanked first.
    fn apply(&self, conn: &Connection, pair: i64, values: &[(String, i8)]) -> Result<u64> {
        let mut changed = 0;
        if self.schema.kind == SchemaKind::MultiClass
            && let Some((class, _)) = values.first()
        {
            let others: Vec<String> = conn
                .prepare_cached(
                    "SELECT class FROM labels WHERE pair_id = ?1 AND schema_id = ?2 AND source = ?3 AND class != ?4",
                )?
                .query_map(params![pair, self.schema.id, self.source, class], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for other in others {
                changed += u64::from(self.set(conn, pair, &other, None)?);
            }
        }
        for (class, value) in values {
            changed += u64::from(self.set(conn, pair, class, Some(*value))?);
        }
        Ok(changed)
    }
}

fn listed(list: &mut Vec<ImportRow>, count: &mut u64, line: u64, key: String, message: String) {
    *count += 1;
    if list.len() < LISTED {
        list.push(ImportRow { line, key, message });
    }
}

/// The file's text and the name it is known by.
fn source_text(opts: &ImportOptions) -> Result<(String, String)> {
    match (&opts.file, &opts.content) {
        (Some(path), None) => {
            let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let text = String::from_utf8(text)
                .map_err(|_| Error::Invalid(format!("{path} is not UTF-8 text")))?;
            Ok((path.clone(), text))
        }
        (None, Some(content)) => Ok((
            opts.name.clone().unwrap_or_else(|| "upload".into()),
            content.clone(),
        )),
        _ => Err(Error::field(
            "file",
            "give the label file's path or its content (one of them)",
        )),
    }
}

/// Imports a label file as `opts` says (see the module doc). One transaction: a failure or
/// a cancel leaves the library as it was.
pub fn import_labels(
    conn: &mut Connection,
    opts: &ImportOptions,
    progress: &dyn Progress,
) -> Result<ImportSummary> {
    let (file, text) = source_text(opts)?;
    let format = opts.format.unwrap_or_else(|| guess_format(&file, &text));
    let (source, annotator) = match opts.source {
        ImportSource::Import => (IMPORT, None),
        ImportSource::Human => {
            let a = opts.annotator.as_deref().ok_or_else(|| {
                Error::field(
                    "annotator",
                    "human labels need the annotator they come from",
                )
            })?;
            check_annotator(a)?;
            (HUMAN, Some(a))
        }
    };
    let table = read_table(&text, format)?;
    let tx = conn.transaction()?;
    let schema = pick_schema(&tx, opts.schema.as_deref())?;
    let key = key_of(&table.header, format)?;
    let columns = class_columns(&table.header, &schema);
    let label_col = (schema.kind == SchemaKind::MultiClass)
        .then(|| column(&table.header, &["label"]))
        .flatten();
    if columns.is_empty() && label_col.is_none() {
        return Err(Error::Invalid(format!(
            "no column of the file is a class of schema {} ({})",
            schema.name,
            schema.classes.join(", ")
        )));
    }
    tx.execute(
        "INSERT INTO label_imports (file, format, schema_id, source, annotator, rows, matched, unmatched, errors, changes)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, 0, 0, 0)",
        params![file, format.as_str(), schema.id, source, annotator],
    )?;
    let batch = tx.last_insert_rowid();
    let used: Vec<&String> = columns.iter().map(|(i, _)| &table.header[*i]).collect();
    let mut s = ImportSummary {
        import_id: batch,
        file,
        format,
        schema: schema.name.clone(),
        source: source.to_owned(),
        annotator: annotator.map(str::to_owned),
        rows: table.rows.len() as u64,
        matched: 0,
        pairs: 0,
        changes: 0,
        unmatched: 0,
        errors: 0,
        duplicates: 0,
        unmatched_rows: Vec::new(),
        error_rows: Vec::new(),
        duplicate_rows: Vec::new(),
        class_columns: used.iter().map(|c| (*c).clone()).collect(),
        ignored_columns: Vec::new(),
    };
    s.ignored_columns = table
        .header
        .iter()
        .enumerate()
        .filter(|(i, h)| !used.contains(h) && Some(*i) != label_col && !is_key(&key, *i))
        .map(|(_, h)| h.clone())
        .collect();
    let writer = Writer {
        schema: &schema,
        source,
        annotator,
        batch,
    };
    let rows = Rows {
        key: &key,
        columns: &columns,
        label_col,
    };
    apply_rows(&tx, &table, &rows, &writer, &mut s, progress)?;
    tx.execute(
        "UPDATE label_imports SET rows = ?2, matched = ?3, unmatched = ?4, errors = ?5, changes = ?6 WHERE id = ?1",
        params![batch, s.rows as i64, s.matched as i64, s.unmatched as i64, s.errors as i64, s.changes as i64],
    )?;
    tx.commit()?;
    Ok(s)
}

fn pick_schema(conn: &Connection, name: Option<&str>) -> Result<Schema> {
    if let Some(name) = name {
        return schema::get(conn, name);
    }
    match <[Schema; 1]>::try_from(schema::list(conn)?) {
        Ok([one]) => Ok(one),
        Err(all) => Err(Error::field(
            "schema",
            format!("name the schema ({} in the library)", all.len()),
        )),
    }
}

/// How a file's rows read: their key and class columns.
struct Rows<'a> {
    key: &'a Key,
    columns: &'a [(usize, String)],
    label_col: Option<usize>,
}

/// Matches and applies every row, counting and listing those left out.
fn apply_rows(
    tx: &Connection,
    table: &Table,
    rows: &Rows,
    writer: &Writer,
    s: &mut ImportSummary,
    progress: &dyn Progress,
) -> Result<()> {
    progress.stage("import labels", s.rows);
    let mut seen: HashMap<i64, u64> = HashMap::new();
    for (line, cells) in &table.rows {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        progress.advance(1);
        let name = key_text(rows.key, cells);
        let values = match row_values(writer.schema, rows.columns, rows.label_col, cells) {
            Ok(v) => v,
            Err(m) => {
                listed(&mut s.error_rows, &mut s.errors, *line, name, m);
                continue;
            }
        };
        let pairs = match pairs_of(tx, rows.key, cells)? {
            Ok(p) => p,
            Err(m) => {
                listed(&mut s.unmatched_rows, &mut s.unmatched, *line, name, m);
                continue;
            }
        };
        if let Some(first) = pairs.iter().find_map(|p| seen.get(p)) {
            let m = format!("names the same pairs as line {first}: not applied");
            listed(&mut s.duplicate_rows, &mut s.duplicates, *line, name, m);
            continue;
        }
        s.matched += 1;
        for p in pairs {
            seen.insert(p, *line);
            s.pairs += 1;
            s.changes += writer.apply(tx, p, &values)?;
        }
    }
    Ok(())
}

fn is_key(key: &Key, i: usize) -> bool {
    match key {
        Key::Path(k) | Key::Pair(k) => *k == i,
        Key::Study { subject, study } => *subject == i || *study == i,
    }
}

fn key_text(key: &Key, cells: &[String]) -> String {
    let get = |i: usize| {
        cells
            .get(i)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    };
    match key {
        Key::Path(i) | Key::Pair(i) => get(*i),
        Key::Study { subject, study } => format!("{}/{}", get(*subject), get(*study)),
    }
}

#[cfg(test)]
mod tests;
