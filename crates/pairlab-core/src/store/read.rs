//! Read queries. Lists page by key (`WHERE id > after ORDER BY id LIMIT n`), never OFFSET.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};

/// Counts for one corpus (or the whole library when `corpus` is None).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, TS)]
pub struct Counts {
    pub pairs: u64,
    pub images: u64,
    pub reports: u64,
    pub unpaired_images: u64,
    pub unpaired_reports: u64,
    pub missing: u64,
    pub patients: u64,
    pub studies: u64,
    pub errors: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.pairs += o.pairs;
        self.images += o.images;
        self.reports += o.reports;
        self.unpaired_images += o.unpaired_images;
        self.unpaired_reports += o.unpaired_reports;
        self.missing += o.missing;
        self.patients += o.patients;
        self.studies += o.studies;
        self.errors += o.errors;
    }
}

/// What a file route needs of a pair's image (no report, labels or splits).
pub struct ImageRef {
    pub abs_path: std::path::PathBuf,
    pub format: String,
    pub hash: String,
    pub thumb: Option<String>,
    pub missing: bool,
}

pub fn image_ref(conn: &Connection, pair: i64) -> Result<ImageRef> {
    conn.query_row(
        "SELECT c.root, i.path, i.format, i.hash, i.thumb, i.missing
         FROM pairs p JOIN images i ON i.id = p.image_id JOIN corpora c ON c.id = p.corpus_id
         WHERE p.id = ?1",
        [pair],
        |r| {
            Ok(ImageRef {
                abs_path: std::path::Path::new(&r.get::<_, String>(0)?)
                    .join(r.get::<_, String>(1)?),
                format: r.get(2)?,
                hash: r.get(3)?,
                thumb: r.get(4)?,
                missing: r.get(5)?,
            })
        },
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("pair {pair}")))
}

fn count(conn: &Connection, sql: &str, corpus: Option<i64>) -> Result<u64> {
    Ok(conn.query_row(sql, [corpus], |r| r.get::<_, i64>(0))? as u64)
}

fn counts(conn: &Connection, corpus: Option<i64>) -> Result<Counts> {
    const C: &str = "(?1 IS NULL OR corpus_id = ?1)";
    Ok(Counts {
        pairs: count(
            conn,
            "SELECT COUNT(*) FROM pairs p JOIN images i ON i.id = p.image_id
             JOIN reports r ON r.id = p.report_id
             WHERE i.missing = 0 AND r.missing = 0 AND (?1 IS NULL OR p.corpus_id = ?1)",
            corpus,
        )?,
        images: count(
            conn,
            &format!("SELECT COUNT(*) FROM images WHERE missing = 0 AND {C}"),
            corpus,
        )?,
        reports: count(
            conn,
            &format!("SELECT COUNT(*) FROM reports WHERE missing = 0 AND {C}"),
            corpus,
        )?,
        unpaired_images: count(
            conn,
            "SELECT COUNT(*) FROM pairs p JOIN images i ON i.id = p.image_id
             LEFT JOIN reports r ON r.id = p.report_id
             WHERE i.missing = 0 AND (r.id IS NULL OR r.missing = 1)
               AND (?1 IS NULL OR p.corpus_id = ?1)",
            corpus,
        )?,
        unpaired_reports: count(
            conn,
            "SELECT COUNT(*) FROM reports r WHERE r.missing = 0
               AND (?1 IS NULL OR r.corpus_id = ?1)
               AND NOT EXISTS (SELECT 1 FROM pairs p JOIN images i ON i.id = p.image_id
                               WHERE p.report_id = r.id AND i.missing = 0)",
            corpus,
        )?,
        missing: count(
            conn,
            &format!("SELECT COUNT(*) FROM images WHERE missing = 1 AND {C}"),
            corpus,
        )?,
        patients: count(
            conn,
            &format!("SELECT COUNT(*) FROM patients WHERE {C}"),
            corpus,
        )?,
        studies: count(
            conn,
            &format!("SELECT COUNT(*) FROM studies WHERE {C}"),
            corpus,
        )?,
        errors: count(
            conn,
            &format!("SELECT COUNT(*) FROM ingest_errors WHERE {C}"),
            corpus,
        )?,
    })
}

pub fn corpus_counts(conn: &Connection, corpus: i64) -> Result<Counts> {
    counts(conn, Some(corpus))
}

/// Counts a corpus and keeps the figures with it (when an index run ends): `stats` then
/// reads them instead of counting a million rows again.
pub fn store_corpus_counts(conn: &Connection, corpus: i64) -> Result<Counts> {
    let c = counts(conn, Some(corpus))?;
    let json = serde_json::to_string(&c).map_err(|e| Error::Invalid(e.to_string()))?;
    conn.execute(
        "UPDATE corpora SET counts = ?2 WHERE id = ?1",
        params![corpus, json],
    )?;
    Ok(c)
}

/// A corpus's kept counts, or counted now when there are none (or they do not parse).
fn kept_counts(conn: &Connection, corpus: i64, kept: Option<&str>) -> Result<Counts> {
    match kept.and_then(|j| serde_json::from_str(j).ok()) {
        Some(c) => Ok(c),
        None => counts(conn, Some(corpus)),
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct CorpusInfo {
    pub id: i64,
    pub name: String,
    pub root: String,
    pub layout: String,
    pub indexed_at: Option<String>,
    /// The last index run: `running`, `done`, `failed`, `cancelled` or `interrupted` (its
    /// process ended without finishing); `None` before the first run that recorded it.
    pub index_state: Option<String>,
    /// When `index_state` last changed.
    pub index_state_at: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct Stats {
    pub corpora: u64,
    #[serde(flatten)]
    pub counts: Counts,
    /// Image count per format ("png", "jpeg", "dicom", ...).
    pub formats: std::collections::BTreeMap<String, u64>,
    pub corpus_list: Vec<CorpusInfo>,
}

pub fn stats(conn: &Connection) -> Result<Stats> {
    let mut stmt = conn.prepare(
        "SELECT id, name, root, layout, indexed_at, counts, index_state, index_state_at
             FROM corpora ORDER BY id",
    )?;
    let corpora = stmt
        .query_map([], |r| {
            Ok((
                CorpusInfo {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    root: r.get(2)?,
                    layout: r.get(3)?,
                    indexed_at: r.get(4)?,
                    index_state: r.get(6)?,
                    index_state_at: r.get(7)?,
                    counts: Counts::default(),
                },
                r.get::<_, Option<String>>(5)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut corpus_list = Vec::new();
    for (mut info, kept) in corpora {
        info.counts = kept_counts(conn, info.id, kept.as_deref())?;
        corpus_list.push(info);
    }
    let mut fstmt = conn.prepare(
        "SELECT format, COUNT(*) FROM images WHERE missing = 0 GROUP BY format ORDER BY format",
    )?;
    let formats = fstmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect::<Result<_, _>>()?;
    // Every row belongs to one corpus, so the totals are the corpora's sums (one pass over
    // the tables instead of two).
    let mut total = Counts::default();
    for c in &corpus_list {
        total.add(&c.counts);
    }
    Ok(Stats {
        corpora: corpus_list.len() as u64,
        counts: total,
        formats,
        corpus_list,
    })
}

/// One full-text search hit: a report and the pairs that share it.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct SearchHit {
    pub report_id: i64,
    pub source: String,
    /// Pairs (images) with this report, lowest id first.
    pub pairs: Vec<i64>,
    /// The matching passage, with matches between `[` and `]`.
    pub snippet: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ErrorRow {
    pub id: i64,
    pub corpus: i64,
    pub path: String,
    pub kind: String,
    pub message: String,
    pub time: String,
}

/// Ingest errors after id `after`, at most `limit`.
pub fn errors(conn: &Connection, after: i64, limit: u32) -> Result<Vec<ErrorRow>> {
    let mut stmt = conn.prepare(
        "SELECT id, corpus_id, path, kind, message, created_at FROM ingest_errors
         WHERE id > ?1 ORDER BY id LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![after, limit], |r| {
            Ok(ErrorRow {
                id: r.get(0)?,
                corpus: r.get(1)?,
                path: r.get(2)?,
                kind: r.get(3)?,
                message: r.get(4)?,
                time: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A pair in a list.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct PairRow {
    pub id: i64,
    pub corpus: i64,
    pub image: String,
    pub thumb: Option<String>,
    pub report_id: Option<i64>,
    pub patient: Option<String>,
    pub study: Option<String>,
    pub missing: bool,
    /// Under a score order, the row's score.
    pub score: Option<f64>,
    /// The current positive and uncertain labels under the grid's schema (a person's, else
    /// the most confident machine label), for the cell's badges.
    pub labels: Vec<RowLabel>,
    /// The review status under the grid's schema.
    pub review: Option<String>,
}

/// A current label shown on a grid cell.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct RowLabel {
    pub class: String,
    /// 1 or -1 (negatives are not shown).
    pub value: i8,
    /// Set by a person (else by a machine source).
    pub human: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ImageDetail {
    pub path: String,
    pub abs_path: String,
    pub size: u64,
    pub hash: String,
    pub width: u32,
    pub height: u32,
    pub format: String,
    pub bits: u16,
    pub photometric: Option<String>,
    pub view: Option<String>,
    /// Perceptual difference hash, 16 hex digits.
    pub dhash: String,
    pub thumb: Option<String>,
    pub missing: bool,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct ReportDetail {
    pub id: i64,
    pub source: String,
    pub text: String,
    pub findings: Option<String>,
    pub impression: Option<String>,
    pub lossy: bool,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct LabelRow {
    pub schema: String,
    pub class: String,
    pub value: i8,
    #[ts(as = "String")]
    pub source: crate::labels::LabelSource,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct SplitRow {
    pub split: String,
    pub part: String,
}

#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct PairDetail {
    pub id: i64,
    pub corpus: i64,
    pub corpus_root: String,
    pub patient: Option<String>,
    pub study: Option<String>,
    pub image: ImageDetail,
    pub report: Option<ReportDetail>,
    /// Other images of the same study (pair ids).
    pub study_pairs: Vec<i64>,
    pub labels: Vec<LabelRow>,
    pub splits: Vec<SplitRow>,
}

pub fn pair(conn: &Connection, id: i64) -> Result<PairDetail> {
    let row = conn
        .query_row(
            "SELECT p.corpus_id, c.root, pt.key, s.key, p.report_id, p.study_id,
                    i.path, i.size, i.hash, i.width, i.height, i.format, i.bits, i.photometric,
                    i.view, i.dhash, i.thumb, i.missing
             FROM pairs p JOIN images i ON i.id = p.image_id JOIN corpora c ON c.id = p.corpus_id
             LEFT JOIN patients pt ON pt.id = p.patient_id
             LEFT JOIN studies s ON s.id = p.study_id
             WHERE p.id = ?1",
            [id],
            |r| {
                let root: String = r.get(1)?;
                let path: String = r.get(6)?;
                Ok((
                    r.get::<_, i64>(0)?,
                    root.clone(),
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    ImageDetail {
                        abs_path: std::path::Path::new(&root)
                            .join(&path)
                            .to_string_lossy()
                            .into_owned(),
                        path,
                        size: r.get::<_, i64>(7)? as u64,
                        hash: r.get(8)?,
                        width: r.get(9)?,
                        height: r.get(10)?,
                        format: r.get(11)?,
                        bits: r.get(12)?,
                        photometric: r.get(13)?,
                        view: r.get(14)?,
                        dhash: format!("{:016x}", r.get::<_, i64>(15)? as u64),
                        thumb: r.get(16)?,
                        missing: r.get(17)?,
                    },
                ))
            },
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("pair {id}")))?;
    let (corpus, corpus_root, patient, study, report_id, study_id, image) = row;
    let report = report_id.map(|rid| report_detail(conn, rid)).transpose()?;
    let study_pairs = match study_id {
        Some(sid) => conn
            .prepare("SELECT id FROM pairs WHERE study_id = ?1 AND id != ?2 ORDER BY id")?
            .query_map([sid, id], |r| r.get(0))?
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let labels = conn
        .prepare(
            "SELECT s.name, l.class, l.value, l.source FROM labels l
             JOIN schemas s ON s.id = l.schema_id WHERE l.pair_id = ?1
             ORDER BY s.name, l.class, l.source",
        )?
        .query_map([id], |r| {
            Ok(LabelRow {
                schema: r.get(0)?,
                class: r.get(1)?,
                value: r.get(2)?,
                source: r.get(3)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let splits = conn
        .prepare(
            "SELECT s.name, m.part FROM split_members m JOIN splits s ON s.id = m.split_id
             WHERE m.pair_id = ?1 ORDER BY s.name",
        )?
        .query_map([id], |r| {
            Ok(SplitRow {
                split: r.get(0)?,
                part: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(PairDetail {
        id,
        corpus,
        corpus_root,
        patient,
        study,
        image,
        report,
        study_pairs,
        labels,
        splits,
    })
}

fn report_detail(conn: &Connection, id: i64) -> Result<ReportDetail> {
    let tags = conn
        .prepare(
            "SELECT t.name FROM report_tags rt JOIN tags t ON t.id = rt.tag_id
             WHERE rt.report_id = ?1 ORDER BY t.name",
        )?
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(conn.query_row(
        "SELECT source, text, findings, impression, lossy FROM reports WHERE id = ?1",
        [id],
        |r| {
            Ok(ReportDetail {
                id,
                source: r.get(0)?,
                text: r.get(1)?,
                findings: r.get(2)?,
                impression: r.get(3)?,
                lossy: r.get(4)?,
                tags,
            })
        },
    )?)
}
