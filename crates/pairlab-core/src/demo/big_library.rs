//! A large synthetic library written straight into SQLite (no image or report files, 16
//! shared thumbnails), for benchmarks of the query paths such as the browse grid and its
//! first paint in the UI: `n` pairs in one corpus, a
//! patient per 4 pairs, a short report each, machine labels for three CheXpert classes, a
//! human label on every 20th pair, a review on every 50th and an 80/10/10 split by patient
//! named `synthetic`.

use rusqlite::{Connection, Statement, params};

use crate::error::{Error, Result};
use crate::library::{Library, THUMBS_DIR};
use crate::progress::Progress;

/// How many distinct thumbnails the pairs share.
const THUMBS: u64 = 16;

/// Writes the shared thumbnails: grey 96×96 JPEGs with a different gradient each.
fn write_thumbs(lib: &Library) -> Result<()> {
    let dir = lib.root().join(THUMBS_DIR).join("synthetic");
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for k in 0..THUMBS as u32 {
        let img = image::GrayImage::from_fn(96, 96, |x, y| {
            image::Luma([((x * (k + 1) + y * (16 - k)) % 256) as u8])
        });
        let path = dir.join(format!("{k}.jpg"));
        img.save(&path)
            .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
    }
    Ok(())
}

/// The classes that get labels.
pub const CLASSES: [&str; 3] = ["Cardiomegaly", "Pleural Effusion", "Edema"];

const WORDS: [&str; 6] = [
    "cardiomegaly",
    "effusion",
    "edema",
    "pneumothorax",
    "atelectasis",
    "unremarkable",
];

/// splitmix64 step, for reproducible made-up values.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes `n` synthetic pairs (see the module doc) into an empty library.
pub fn write(lib: &mut Library, n: u64, progress: &dyn Progress) -> Result<()> {
    write_thumbs(lib)?;
    let tx = lib.conn_mut().transaction()?;
    tx.execute(
        "INSERT INTO corpora (root, name, layout) VALUES ('/synthetic', 'synthetic', 'stem')",
        [],
    )?;
    let corpus = tx.last_insert_rowid();
    let schema: i64 = tx.query_row("SELECT id FROM schemas WHERE name = 'chexpert'", [], |r| {
        r.get(0)
    })?;
    tx.execute(
        "INSERT INTO splits (name, strategy) VALUES ('synthetic', 'patient')",
        [],
    )?;
    let split = tx.last_insert_rowid();
    progress.stage("writing pairs", n);
    let ids = Ids {
        corpus,
        schema,
        split,
    };
    write_pairs(&tx, &ids, n, progress)?;
    tx.commit()?;
    crate::store::read::store_corpus_counts(lib.conn(), corpus)?;
    Ok(())
}

/// The rows every synthetic pair refers to: its corpus, the chexpert schema, the split.
struct Ids {
    corpus: i64,
    schema: i64,
    split: i64,
}

/// Writes the `n` pairs, a patient per 4 and a split part per patient.
fn write_pairs(conn: &Connection, ids: &Ids, n: u64, progress: &dyn Progress) -> Result<()> {
    let mut inserts = Inserts::prepare(conn)?;
    let mut patient_id = 0;
    let mut part = "train";
    for i in 0..n {
        let r = mix(i);
        if i % 4 == 0 {
            inserts
                .patient
                .execute(params![ids.corpus, format!("p{i:08}")])?;
            patient_id = conn.last_insert_rowid();
            part = match mix(i ^ 0xABCD) % 10 {
                0 => "val",
                1 => "test",
                _ => "train",
            };
        }
        let pair_id = inserts.pair(conn, ids.corpus, patient_id, i, r)?;
        inserts.labels(ids.schema, pair_id, i, r)?;
        inserts.member.execute(params![ids.split, pair_id, part])?;
        if i % 10_000 == 9_999 {
            progress.advance(10_000);
        }
    }
    Ok(())
}

/// The prepared statements that write the synthetic rows.
struct Inserts<'c> {
    patient: Statement<'c>,
    image: Statement<'c>,
    report: Statement<'c>,
    pair: Statement<'c>,
    label: Statement<'c>,
    member: Statement<'c>,
    review: Statement<'c>,
}

impl<'c> Inserts<'c> {
    /// Prepares every insert once, for the whole run.
    fn prepare(conn: &'c Connection) -> Result<Self> {
        Ok(Inserts {
            patient: conn.prepare("INSERT INTO patients (corpus_id, key) VALUES (?1, ?2)")?,
            image: conn.prepare(
                "INSERT INTO images (corpus_id, path, size, mtime_ns, hash, width, height, format, bits, dhash, thumb)
             VALUES (?1, ?2, 1000, 0, ?3, 256, 256, 'png', 8, ?4, ?5)",
            )?,
            report: conn
                .prepare("INSERT INTO reports (corpus_id, source, text) VALUES (?1, ?2, ?3)")?,
            pair: conn.prepare(
                "INSERT INTO pairs (corpus_id, image_id, report_id, patient_id) VALUES (?1, ?2, ?3, ?4)",
            )?,
            label: conn.prepare(
                "INSERT INTO labels (pair_id, schema_id, class, source, value, annotator, confidence)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?,
            member: conn
                .prepare("INSERT INTO split_members (split_id, pair_id, part) VALUES (?1, ?2, ?3)")?,
            review: conn.prepare(
                "INSERT INTO reviews (pair_id, schema_id, status, annotator) VALUES (?1, ?2, 'accepted', 'bench')",
            )?,
        })
    }

    /// Writes pair `i` (made-up values from `r`): its image, its report and the pair
    /// itself; returns the pair's id.
    fn pair(
        &mut self,
        conn: &Connection,
        corpus: i64,
        patient_id: i64,
        i: u64,
        r: u64,
    ) -> Result<i64> {
        self.image.execute(params![
            corpus,
            format!("img/{i:08}.png"),
            format!("{r:016x}"),
            (r >> 1) as i64,
            format!("synthetic/{}.jpg", r % THUMBS)
        ])?;
        let image_id = conn.last_insert_rowid();
        let text = format!(
            "Synthetic report {i}. Findings: {} and {}.",
            WORDS[(r % 6) as usize],
            WORDS[((r >> 8) % 6) as usize]
        );
        self.report
            .execute(params![corpus, format!("img/{i:08}.txt"), text])?;
        let report_id = conn.last_insert_rowid();
        self.pair
            .execute(params![corpus, image_id, report_id, patient_id])?;
        Ok(conn.last_insert_rowid())
    }

    /// Labels pair `i`: machine labels for every class, a human label on every 20th
    /// pair and a review on every 50th.
    fn labels(&mut self, schema: i64, pair_id: i64, i: u64, r: u64) -> Result<()> {
        for (k, class) in CLASSES.iter().enumerate() {
            // About a fifth positive, a tenth uncertain, the rest negative.
            let v = match (r >> (16 + 4 * k)) % 10 {
                0 | 1 => 1,
                2 => -1,
                _ => 0,
            };
            self.label.execute(params![
                pair_id,
                schema,
                class,
                "report-rules",
                v,
                None::<String>,
                0.9
            ])?;
        }
        if i.is_multiple_of(20) {
            self.label.execute(params![
                pair_id,
                schema,
                CLASSES[0],
                "human",
                (r >> 40) as i64 % 2,
                "bench",
                None::<f64>
            ])?;
        }
        if i.is_multiple_of(50) {
            self.review.execute(params![pair_id, schema])?;
        }
        Ok(())
    }
}
