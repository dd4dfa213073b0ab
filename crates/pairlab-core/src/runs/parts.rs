//! A split's pairs gathered into the parts a trainer sees: inputs and targets of the train
//! part and of the validation part (a seeded tenth of train when the split has none), with
//! the fingerprint of that data.

use std::collections::HashMap;

use pairlab_ml::train::{Part, Targets};
use rusqlite::Connection;

use super::inputs::Source;
use crate::error::{Error, Result};
use crate::labels::schema::Schema;

/// A split member: (pair, part, image id).
pub(super) type Member = (i64, String, i64);

/// The split's id and its pairs with their part and image id (images still on disk).
pub(super) fn members(conn: &Connection, split: &str) -> Result<(i64, Vec<Member>)> {
    let id = crate::splits::id(conn, split)?;
    let rows = conn
        .prepare(
            "SELECT m.pair_id, m.part, p.image_id FROM split_members m JOIN pairs p ON p.id = m.pair_id
             JOIN images i ON i.id = p.image_id WHERE m.split_id = ?1 AND i.missing = 0 ORDER BY m.pair_id",
        )?
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok((id, rows))
}

pub(super) fn is_val(part: &str) -> bool {
    matches!(part, "val" | "valid" | "validation")
}

/// Inputs and targets of one part.
pub(super) struct PartData {
    pub x: Vec<f32>,
    pub targets: Targets,
    /// The pair of each row.
    pub pairs: Vec<i64>,
}

impl PartData {
    pub fn part(&self) -> Part<'_> {
        Part {
            x: &self.x,
            targets: &self.targets,
        }
    }
}

/// Inputs and targets of one part while they are gathered.
#[derive(Default)]
struct Gathering {
    x: Vec<f32>,
    /// Multi-label values (NaN = blank), `classes` per pair.
    values: Vec<f32>,
    /// Multi-class index per pair.
    class: Vec<Option<usize>>,
    pairs: Vec<i64>,
}

impl Gathering {
    fn done(self, multi_class: bool, classes: usize) -> PartData {
        let targets = if multi_class {
            Targets::MultiClass {
                values: self.class,
                classes,
            }
        } else {
            Targets::MultiLabel {
                values: self.values,
                classes,
            }
        };
        PartData {
            x: self.x,
            targets,
            pairs: self.pairs,
        }
    }
}

/// What a run trains on and predicts.
pub(super) struct Gathered {
    pub train: PartData,
    pub val: PartData,
    /// Every pair of the split that has inputs: (pair, part, row of the inputs); pairs of
    /// train held out for validation have the part `val`.
    pub all: Vec<(i64, String, usize)>,
    /// Identifies the inputs, the parts and the labels.
    pub fingerprint: String,
}

/// Gathers inputs and targets per part; pairs without inputs are left out.
pub(super) fn gather(
    rows: &[Member],
    source: &Source,
    schema: &Schema,
    labels: &HashMap<(i64, String), i8>,
    split: &str,
    seed: u64,
) -> Result<Gathered> {
    let store = &source.rows;
    let dim = store.dim;
    let row_of: HashMap<i64, usize> = store
        .ids
        .iter()
        .enumerate()
        .map(|(i, &id)| (id, i))
        .collect();
    let mut fp = blake3::Hasher::new();
    fp.update(source.fingerprint.as_bytes());
    let mut parts: HashMap<&str, Gathering> = HashMap::new();
    let mut all: Vec<(i64, String, usize)> = Vec::new();
    // Without a val part, a seeded tenth of train is held out for early stopping.
    let carve = !rows.iter().any(|(_, part, _)| is_val(part));
    for (pair, part, image) in rows {
        let Some(&r) = row_of.get(image) else {
            continue;
        };
        let held_out = carve
            && part == "train"
            && pairlab_ml::rng::SplitMix64(seed ^ (*pair as u64)).below(10) == 0;
        let key = if held_out || is_val(part) {
            "val"
        } else if part == "train" {
            "train"
        } else {
            all.push((*pair, part.clone(), r));
            continue;
        };
        all.push((*pair, if held_out { "val".into() } else { part.clone() }, r));
        let e = parts.entry(key).or_default();
        e.x.extend_from_slice(&store.data[r * dim..(r + 1) * dim]);
        let vals: Vec<Option<i8>> = schema
            .classes
            .iter()
            .map(|cl| labels.get(&(*pair, cl.clone())).copied())
            .collect();
        e.values
            .extend(vals.iter().map(|v| v.map_or(f32::NAN, f32::from)));
        e.class.push(vals.iter().position(|v| *v == Some(1)));
        e.pairs.push(*pair);
        fp.update(&pair.to_le_bytes());
        fp.update(key.as_bytes());
        for v in &vals {
            fp.update(&[v.map_or(9u8, |x| (x + 1) as u8)]);
        }
    }
    let (multi_class, c) = (
        schema.kind == crate::labels::SchemaKind::MultiClass,
        schema.classes.len(),
    );
    let train = parts.remove("train").ok_or_else(|| {
        Error::Invalid(format!(
            "split {split} has no embedded pairs in a part named train"
        ))
    })?;
    let val = parts.remove("val").unwrap_or_default();
    Ok(Gathered {
        train: train.done(multi_class, c),
        val: val.done(multi_class, c),
        all,
        fingerprint: fp.finalize().to_hex()[..16].to_string(),
    })
}
