//! How well the report labeler agrees with what the demo's reports really state
//! (`truth.csv`, written with the corpus).

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, params};
use serde::Serialize;

use super::cases::FINDINGS;
use crate::error::{Error, Result};
use crate::prelabel::REPORT_RULES;

/// Agreement on one class: rows where the labeler's value (blank included) equals the
/// value the report states.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Agreement {
    pub class: String,
    pub agree: u64,
    pub total: u64,
}

fn parse(cell: &str) -> Option<i8> {
    cell.trim().parse().ok()
}

/// Compares the `report-rules` labels of the demo corpus at `root` with its truth.csv.
pub fn agreement(conn: &Connection, root: &Path) -> Result<Vec<Agreement>> {
    let truth_path = root.join("truth.csv");
    let mut reader = csv::Reader::from_path(&truth_path)
        .map_err(|e| Error::Invalid(format!("{}: {e}", truth_path.display())))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| Error::Invalid(e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut classes: Vec<&str> = FINDINGS.to_vec();
    classes.push("No Finding");
    let cols: Vec<usize> = classes
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| h == &format!("{c} (report)"))
                .ok_or_else(|| Error::Invalid(format!("truth.csv has no column {c} (report)")))
        })
        .collect::<Result<_>>()?;
    let root_str = root
        .canonicalize()
        .map_err(|e| Error::io(root, e))?
        .to_string_lossy()
        .into_owned();
    let mut labels: HashMap<(String, String), i8> = HashMap::new();
    let mut stmt = conn.prepare(
        "SELECT i.path, l.class, l.value FROM labels l JOIN pairs p ON p.id = l.pair_id
         JOIN images i ON i.id = p.image_id JOIN corpora c ON c.id = p.corpus_id
         JOIN schemas s ON s.id = l.schema_id
         WHERE c.root = ?1 AND s.name = 'chexpert' AND l.source = ?2",
    )?;
    let rows = stmt.query_map(params![root_str, REPORT_RULES], |r| {
        Ok((
            (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
            r.get::<_, i8>(2)?,
        ))
    })?;
    for row in rows {
        let (k, v) = row?;
        labels.insert(k, v);
    }
    let mut out: Vec<Agreement> = classes
        .iter()
        .map(|c| Agreement {
            class: (*c).to_owned(),
            agree: 0,
            total: 0,
        })
        .collect();
    for rec in reader.records() {
        let rec = rec.map_err(|e| Error::Invalid(e.to_string()))?;
        let path = rec.get(0).unwrap_or_default().to_owned();
        for (i, (class, col)) in classes.iter().zip(&cols).enumerate() {
            let truth = rec.get(*col).and_then(parse);
            let got = labels.get(&(path.clone(), (*class).to_owned())).copied();
            out[i].total += 1;
            out[i].agree += u64::from(truth == got);
        }
    }
    Ok(out)
}
