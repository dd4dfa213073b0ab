//! What to label next (active learning): among the pairs without a person's label of a
//! schema, the ones a run is least sure of, spread out so that the queue is not a run of
//! near-duplicates, and among those the least recently served, so that two annotators
//! working at once are never given the same pair.
//!
//! Uncertainty per class is the entropy of the run's probability (or 1 − the margin), the
//! pair's the largest over its classes (multi-label) or over the class distribution
//! (multi-class), in [0, 1]. Diversity: k-center greedy over the [`POOL`] most uncertain
//! pairs — the most uncertain first, then each time the pair farthest from those chosen —
//! by cosine distance of the run's model's image embeddings when it has them, else by the
//! Hamming distance of the images' dHashes. Of the [`BATCH`] pairs chosen, the one served
//! longest ago (or never) is served. A pair served to one annotator is not served to
//! another for [`LEASE_MINUTES`] (unless it is labelled first, when it leaves the queue);
//! choosing and recording the serve is one write transaction, so two annotators asking at
//! once get different pairs.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::embed::from_blob;
use crate::error::{Error, Result};
use crate::labels::SchemaKind;

/// How many of the most uncertain pairs diversity chooses from.
pub const POOL: usize = 200;
/// How many diverse pairs the least recently served one is taken from.
pub const BATCH: usize = 20;
/// How long a served pair stays with its annotator.
pub const LEASE_MINUTES: u32 = 15;

/// How uncertainty is measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum Measure {
    #[default]
    Entropy,
    Margin,
}

impl std::str::FromStr for Measure {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "entropy" => Ok(Measure::Entropy),
            "margin" => Ok(Measure::Margin),
            _ => Err(Error::field(
                "by",
                format!("--by {s:?}: use entropy or margin"),
            )),
        }
    }
}

/// Asks for the next pair to label.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
#[serde(deny_unknown_fields)]
pub struct NextArgs {
    #[serde(default = "chexpert")]
    #[ts(optional, as = "Option<String>")]
    pub schema: String,
    /// Who will label it.
    #[serde(default)]
    #[ts(optional, as = "Option<String>")]
    pub annotator: String,
    /// The run whose predictions say how unsure it is (default: the schema's latest done run).
    #[serde(default)]
    #[ts(optional)]
    pub run: Option<i64>,
    #[serde(default)]
    #[ts(optional, as = "Option<Measure>")]
    pub by: Measure,
}

fn chexpert() -> String {
    "chexpert".into()
}

/// The pair to label next, and why.
#[derive(Clone, Debug, Serialize, PartialEq, TS)]
pub struct NextPair {
    pub pair_id: i64,
    /// Its uncertainty (0 to 1).
    pub uncertainty: f64,
    /// The class the run is least sure of (multi-label), or its two likeliest classes
    /// (multi-class), in words.
    pub why: String,
    pub run_id: i64,
    /// Pairs left without a person's label that the run predicted (served elsewhere or not).
    pub remaining: u64,
}

/// Entropy in bits of a probability distribution, divided by its maximum.
fn entropy(p: &[f64]) -> f64 {
    let h: f64 = p.iter().filter(|&&x| x > 0.0).map(|&x| -x * x.log2()).sum();
    let max = (p.len() as f64).log2();
    if max > 0.0 { h / max } else { 0.0 }
}

/// A pair's uncertainty and the index of the class behind it (multi-class: the likeliest).
fn uncertainty(probs: &[f32], multi_class: bool, by: Measure) -> (f64, usize) {
    let p: Vec<f64> = probs
        .iter()
        .map(|&x| f64::from(x).clamp(0.0, 1.0))
        .collect();
    if multi_class {
        let sum: f64 = p.iter().sum::<f64>().max(1e-12);
        let q: Vec<f64> = p.iter().map(|x| x / sum).collect();
        let mut order: Vec<usize> = (0..q.len()).collect();
        order.sort_by(|&a, &b| q[b].total_cmp(&q[a]));
        let u = match by {
            Measure::Entropy => entropy(&q),
            Measure::Margin => 1.0 - (q[order[0]] - order.get(1).map_or(0.0, |&j| q[j])),
        };
        return (u, order[0]);
    }
    p.iter()
        .enumerate()
        .map(|(k, &x)| {
            let u = match by {
                Measure::Entropy => entropy(&[x, 1.0 - x]),
                Measure::Margin => 1.0 - (2.0 * x - 1.0).abs(),
            };
            (u, k)
        })
        .fold((0.0, 0), |best, c| if c.0 > best.0 { c } else { best })
}

/// A candidate: pair, uncertainty, class index, dHash.
struct Candidate {
    pair: i64,
    image: i64,
    u: f64,
    class: usize,
    dhash: u64,
}

/// k-center greedy: `k` of `pool` (most uncertain first), each next the farthest from
/// those chosen.
fn k_center(pool: &[Candidate], k: usize, dist: &dyn Fn(usize, usize) -> f64) -> Vec<usize> {
    if pool.is_empty() {
        return Vec::new();
    }
    let mut chosen = vec![0];
    let mut near: Vec<f64> = (0..pool.len()).map(|i| dist(0, i)).collect();
    while chosen.len() < k.min(pool.len()) {
        let (far, d) = near
            .iter()
            .enumerate()
            .filter(|(i, _)| !chosen.contains(i))
            .fold((usize::MAX, f64::NEG_INFINITY), |b, (i, &d)| {
                if d > b.1 { (i, d) } else { b }
            });
        if far == usize::MAX || d.is_nan() {
            break;
        }
        chosen.push(far);
        for (i, n) in near.iter_mut().enumerate() {
            *n = n.min(dist(far, i));
        }
    }
    chosen
}

/// The run a queue reads: the given one, else the schema's latest done run.
fn run_of(conn: &Connection, schema_id: i64, run: Option<i64>) -> Result<i64> {
    if let Some(r) = run {
        crate::runs::get(conn, r)?;
        return Ok(r);
    }
    conn.query_row(
        "SELECT id FROM runs WHERE schema_id = ?1 AND status = 'done' ORDER BY id DESC LIMIT 1",
        [schema_id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| {
        Error::Invalid(
            "no finished run of this schema to say what is uncertain: train one first".into(),
        )
    })
}

/// Image embeddings of the run's model, by image id, when it has them.
fn embeddings(
    conn: &Connection,
    run: i64,
    images: &[i64],
) -> Result<Option<HashMap<i64, Vec<f32>>>> {
    let model: Option<i64> = conn
        .query_row("SELECT model_id FROM runs WHERE id = ?1", [run], |r| {
            r.get(0)
        })
        .optional()?
        .flatten();
    let Some(model) = model else { return Ok(None) };
    let mut stmt = conn.prepare_cached(
        "SELECT vector FROM embeddings WHERE model_id = ?1 AND kind = 'image' AND item_id = ?2",
    )?;
    let mut out = HashMap::new();
    for &img in images {
        if let Some(v) = stmt
            .query_row(params![model, img], |r| r.get::<_, Vec<u8>>(0))
            .optional()?
        {
            out.insert(img, from_blob(&v));
        }
    }
    Ok((out.len() == images.len()).then_some(out))
}

/// Serves the next pair to `annotator` (see the module's documentation); None when every
/// pair the run predicted has a person's label or is with another annotator.
pub fn next(conn: &mut Connection, args: &NextArgs) -> Result<Option<NextPair>> {
    crate::labels::check_annotator(&args.annotator)?;
    let schema = crate::labels::schema::get(conn, &args.schema)?;
    let multi_class = schema.kind == SchemaKind::MultiClass;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let run = run_of(&tx, schema.id, args.run)?;
    let lease = format!("-{LEASE_MINUTES} minutes");
    let mut all: Vec<Candidate> = Vec::new();
    {
        let mut stmt = tx.prepare(
            "SELECT rp.pair_id, p.image_id, rp.probs, i.dhash FROM run_predictions rp
             JOIN pairs p ON p.id = rp.pair_id JOIN images i ON i.id = p.image_id
             WHERE rp.run_id = ?1 AND i.missing = 0
             AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.pair_id = rp.pair_id AND l.schema_id = ?2 AND l.source = 'human')
             AND NOT EXISTS (SELECT 1 FROM queue_served q WHERE q.pair_id = rp.pair_id AND q.annotator != ?3
                             AND q.served_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?4))",
        )?;
        let rows = stmt.query_map(params![run, schema.id, args.annotator, lease], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (pair, image, blob, dhash) = row?;
            let (u, class) = uncertainty(&from_blob(&blob), multi_class, args.by);
            all.push(Candidate {
                pair,
                image,
                u,
                class,
                dhash: dhash as u64,
            });
        }
    }
    let remaining = all.len() as u64;
    all.sort_by(|a, b| b.u.total_cmp(&a.u).then(a.pair.cmp(&b.pair)));
    all.truncate(POOL);
    let images: Vec<i64> = all.iter().map(|c| c.image).collect();
    let vectors = embeddings(&tx, run, &images)?;
    let dist = |a: usize, b: usize| -> f64 {
        match &vectors {
            Some(v) => {
                let (x, y) = (&v[&all[a].image], &v[&all[b].image]);
                1.0 - x.iter().zip(y).map(|(p, q)| f64::from(p * q)).sum::<f64>()
            }
            None => f64::from((all[a].dhash ^ all[b].dhash).count_ones()),
        }
    };
    let batch = k_center(&all, BATCH, &dist);
    // The least recently served of the batch (never served first), then the most uncertain.
    let mut last =
        tx.prepare_cached("SELECT MAX(served_at) FROM queue_served WHERE pair_id = ?1")?;
    let mut best: Option<(Option<String>, usize)> = None;
    for &i in &batch {
        let at: Option<String> = last.query_row([all[i].pair], |r| r.get(0))?;
        let better = match &best {
            None => true,
            Some((b, _)) => match (&at, b) {
                (None, Some(_)) => true,
                (Some(x), Some(y)) => x < y,
                _ => false,
            },
        };
        if better {
            best = Some((at, i));
        }
    }
    drop(last);
    let Some((_, i)) = best else {
        tx.commit()?;
        return Ok(None);
    };
    let c = &all[i];
    tx.execute(
        "INSERT INTO queue_served (pair_id, annotator) VALUES (?1, ?2)
         ON CONFLICT (pair_id, annotator) DO UPDATE SET served_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        params![c.pair, args.annotator],
    )?;
    let why = if multi_class {
        format!(
            "most likely {} (the run is unsure)",
            schema.classes[c.class]
        )
    } else {
        format!(
            "{} is the finding the run is least sure of",
            schema.classes[c.class]
        )
    };
    let out = NextPair {
        pair_id: c.pair,
        uncertainty: c.u,
        why,
        run_id: run,
        remaining,
    };
    tx.commit()?;
    Ok(Some(out))
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
