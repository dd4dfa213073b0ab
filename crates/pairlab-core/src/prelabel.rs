//! Pre-labelling pairs from their reports with the rule-based labeler (source
//! `report-rules`). Each report is labelled once, in parallel, and its labels written to
//! every pair that shares it; human labels are never touched.

use std::time::Instant;

use rayon::prelude::*;
use rusqlite::Connection;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::labels::{self, schema};
use crate::progress::Progress;
use crate::report_labeler::{Evidence, Labeler};

/// The source name of labels from the report labeler.
pub const REPORT_RULES: &str = "report-rules";

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PrelabelSummary {
    pub schema: String,
    pub reports: u64,
    pub pairs: u64,
    /// Non-blank labels written.
    pub labels: u64,
    pub seconds: f64,
}

const BATCH: usize = 2048;

/// Labels every present pair's report under `schema_name`, whose classes must be the
/// labeler's.
pub fn reports(
    conn: &mut Connection,
    labeler: &Labeler,
    schema_name: &str,
    progress: &dyn Progress,
) -> Result<PrelabelSummary> {
    let started = Instant::now();
    let schema = schema::get(conn, schema_name)?;
    let classes = labeler.classes();
    if let Some(missing) = classes.iter().find(|c| !schema.classes.contains(c)) {
        return Err(Error::Invalid(format!(
            "the labeler's class {missing:?} is not in schema {schema_name}"
        )));
    }
    let reports: Vec<(i64, String, Vec<i64>)> = {
        let mut stmt = conn.prepare(
            "SELECT r.id, r.text, group_concat(p.id) FROM reports r
             JOIN pairs p ON p.report_id = r.id JOIN images i ON i.id = p.image_id
             WHERE r.missing = 0 AND i.missing = 0 GROUP BY r.id ORDER BY r.id",
        )?;
        stmt.query_map([], |r| {
            let ids: String = r.get(2)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                ids.split(',').filter_map(|s| s.parse().ok()).collect(),
            ))
        })?
        .collect::<Result<_, _>>()?
    };
    progress.stage("labelling reports", reports.len() as u64);
    let (mut pairs, mut written) = (0u64, 0u64);
    for batch in reports.chunks(BATCH) {
        if progress.is_cancelled() {
            return Err(Error::Cancelled);
        }
        let labelled: Vec<_> = batch
            .par_iter()
            .map(|(_, text, _)| labeler.label(text))
            .collect();
        let tx = conn.transaction()?;
        for ((_, _, pair_ids), l) in batch.iter().zip(&labelled) {
            for (ci, class) in classes.iter().enumerate() {
                let value = l.values.get(ci).copied().flatten().map(|v| v.as_i8());
                let spans: Vec<&Evidence> =
                    l.evidence.iter().filter(|e| &e.class == class).collect();
                let evidence = if spans.is_empty() {
                    None
                } else {
                    Some(serde_json::to_string(&spans).map_err(|e| Error::Invalid(e.to_string()))?)
                };
                for &pair in pair_ids {
                    let key = labels::LabelKey::new(pair, &schema, class, REPORT_RULES);
                    let with = labels::Provenance {
                        evidence: evidence.as_deref(),
                        ..Default::default()
                    };
                    labels::set_machine(&tx, key, value, with)?;
                    written += u64::from(value.is_some());
                }
            }
            pairs += pair_ids.len() as u64;
        }
        tx.commit()?;
        progress.advance(batch.len() as u64);
    }
    Ok(PrelabelSummary {
        schema: schema_name.to_owned(),
        reports: reports.len() as u64,
        pairs,
        labels: written,
        seconds: started.elapsed().as_secs_f64(),
    })
}
