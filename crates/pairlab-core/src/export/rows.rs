//! The rows an export writes: one per pair, read from the library a page at a time (memory
//! stays flat however large the library), in the split's part order and then by pair id.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

use crate::error::{Error, Result};
use crate::labels::{BEST_FIRST, HUMAN, OneSource, Schema};

/// Rows read from SQLite per query.
const PAGE: i64 = 500;

/// One pair as an export sees it.
#[derive(Clone, Debug)]
pub struct Row {
    pub pair: i64,
    pub part: String,
    /// The image file on disk.
    pub abs_image: PathBuf,
    /// The image's path inside its corpus (forward slashes).
    pub image_path: String,
    pub image_id: i64,
    pub format: String,
    pub width: u32,
    pub height: u32,
    pub view: Option<String>,
    pub thumb: Option<String>,
    pub missing: bool,
    pub patient: Option<String>,
    pub study: Option<String>,
    pub report: Option<String>,
    pub findings: Option<String>,
    pub impression: Option<String>,
    /// One value per schema class, in the schema's order (None: blank).
    pub values: Vec<Option<i8>>,
    /// Where each value comes from (`human`, `report-rules`, `model:…`, `import`).
    pub sources: Vec<Option<String>>,
    pub embedding: Option<Vec<f32>>,
}

impl Row {
    /// A multi-class pair's class (the one class set to 1), if labelled.
    pub fn class<'a>(&self, schema: &'a Schema) -> Option<&'a str> {
        self.values
            .iter()
            .position(|v| *v == Some(1))
            .map(|i| schema.classes[i].as_str())
    }
}

/// Which labels fill the label columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Only labels a person set.
    Human,
    /// The value that counts: the human one, else the most confident machine one.
    Best,
}

/// Reads the rows of one part (or, without a split, of every pair) page by page.
pub struct Reader<'c> {
    conn: &'c Connection,
    split: Option<i64>,
    schema: Option<&'c Schema>,
    which: Which,
    embeddings: Option<(i64, usize)>,
}

const SELECT: &str =
    "SELECT p.id, c.root, i.path, i.id, i.format, i.width, i.height, i.view, i.thumb,
        i.missing, pt.key, st.key, r.text, r.findings, r.impression
     FROM pairs p JOIN images i ON i.id = p.image_id JOIN corpora c ON c.id = p.corpus_id
     LEFT JOIN patients pt ON pt.id = p.patient_id
     LEFT JOIN studies st ON st.id = p.study_id
     LEFT JOIN reports r ON r.id = p.report_id AND r.missing = 0";

impl<'c> Reader<'c> {
    pub fn new(
        conn: &'c Connection,
        split: Option<i64>,
        schema: Option<&'c Schema>,
        which: Which,
        embeddings: Option<(i64, usize)>,
    ) -> Reader<'c> {
        Reader {
            conn,
            split,
            schema,
            which,
            embeddings,
        }
    }

    /// How many pairs `part` holds (every pair without a split).
    pub fn count(&self, part: &str) -> Result<u64> {
        let n: i64 = match self.split {
            Some(s) => self.conn.query_row(
                "SELECT COUNT(*) FROM split_members WHERE split_id = ?1 AND part = ?2",
                params![s, part],
                |r| r.get(0),
            )?,
            None => self
                .conn
                .query_row("SELECT COUNT(*) FROM pairs", [], |r| r.get(0))?,
        };
        Ok(n as u64)
    }

    /// The next page of `part` after pair id `after` (empty at the end).
    pub fn page(&self, part: &str, after: i64) -> Result<Vec<Row>> {
        let mut rows = match self.split {
            Some(s) => {
                let sql = format!(
                    "{SELECT} JOIN split_members m ON m.pair_id = p.id
                     WHERE m.split_id = ?1 AND m.part = ?2 AND m.pair_id > ?3
                     ORDER BY m.pair_id LIMIT ?4"
                );
                let mut stmt = self.conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![s, part, after, PAGE], |r| row(r, part))?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
            None => {
                let sql = format!("{SELECT} WHERE p.id > ?1 ORDER BY p.id LIMIT ?2");
                let mut stmt = self.conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![after, PAGE], |r| row(r, part))?;
                rows.collect::<Result<Vec<_>, _>>()?
            }
        };
        for row in &mut rows {
            if let Some(schema) = self.schema {
                let (values, sources) = labels_of(self.conn, schema, self.which, row.pair)?;
                row.values = values;
                row.sources = sources;
            }
            if let Some((model, dim)) = self.embeddings {
                row.embedding = embedding(self.conn, model, dim, row.image_id)?;
            }
        }
        Ok(rows)
    }
}

fn row(r: &rusqlite::Row, part: &str) -> rusqlite::Result<Row> {
    let root: String = r.get(1)?;
    let path: String = r.get(2)?;
    Ok(Row {
        pair: r.get(0)?,
        part: part.to_owned(),
        abs_image: Path::new(&root).join(&path),
        image_path: path,
        image_id: r.get(3)?,
        format: r.get(4)?,
        width: r.get(5)?,
        height: r.get(6)?,
        view: r.get(7)?,
        thumb: r.get(8)?,
        missing: r.get(9)?,
        patient: r.get(10)?,
        study: r.get(11)?,
        report: r.get(12)?,
        findings: r.get(13)?,
        impression: r.get(14)?,
        values: Vec::new(),
        sources: Vec::new(),
        embedding: None,
    })
}

type Labels = (Vec<Option<i8>>, Vec<Option<String>>);

/// A pair's values and their sources per class of `schema`: its human labels, or the best
/// ones as `labels::best_values` picks them.
fn labels_of(conn: &Connection, schema: &Schema, which: Which, pair: i64) -> Result<Labels> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT class, value, source FROM labels WHERE pair_id = ?1 AND schema_id = ?2
           AND (?3 = 0 OR source = ?4)
         ORDER BY {BEST_FIRST}"
    ))?;
    let only_human = which == Which::Human;
    let rows = stmt.query_map(params![pair, schema.id, only_human, HUMAN], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i8>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let n = schema.classes.len();
    let (mut values, mut sources) = (vec![None; n], vec![None; n]);
    let mut one_source = OneSource::new(schema.kind);
    for row in rows {
        let (class, value, source) = row?;
        if !one_source.admits(pair, &source) {
            continue;
        }
        let Some(i) = schema.classes.iter().position(|c| *c == class) else {
            continue;
        };
        if values[i].is_none() {
            values[i] = Some(value);
            sources[i] = Some(source);
        }
    }
    Ok((values, sources))
}

fn embedding(conn: &Connection, model: i64, dim: usize, image: i64) -> Result<Option<Vec<f32>>> {
    let blob: Option<Vec<u8>> = conn
        .prepare_cached(
            "SELECT vector FROM embeddings WHERE model_id = ?1 AND kind = 'image' AND item_id = ?2",
        )?
        .query_row(params![model, image], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    let Some(blob) = blob else { return Ok(None) };
    if blob.len() != dim * 4 {
        return Err(Error::Invalid(format!(
            "a stored embedding has {} values where its model has {dim}",
            blob.len() / 4
        )));
    }
    Ok(Some(
        blob.chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
    ))
}
