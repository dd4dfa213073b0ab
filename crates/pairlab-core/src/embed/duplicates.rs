//! Duplicate images: exact (same content hash), near (dHash within a Hamming distance) and
//! semantic (image embeddings at or above a cosine threshold), grouped into clusters.

use pairlab_ml::dedup::{exact_groups, group_pairs, near_hash_pairs, semantic_pairs};
use rusqlite::Connection;
use serde::Serialize;

use super::vectors;
use crate::error::Result;
use crate::models;

#[derive(Clone, Debug)]
pub struct DuplicateOptions {
    /// Largest dHash Hamming distance (of 64 bits) counted as a near duplicate.
    pub near_distance: u32,
    /// A CLIP model whose image embeddings find semantic duplicates, and the threshold.
    pub semantic: Option<(String, f32)>,
}

impl Default for DuplicateOptions {
    fn default() -> Self {
        DuplicateOptions {
            near_distance: 4,
            semantic: None,
        }
    }
}

/// One image in a cluster.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Member {
    pub pair: i64,
    pub image: String,
    pub patient: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cluster {
    /// `exact`, `near` or `semantic`.
    pub kind: String,
    pub members: Vec<Member>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DuplicateReport {
    pub images: u64,
    pub exact: Vec<Cluster>,
    /// Near-duplicate clusters that are not just one exact cluster.
    pub near: Vec<Cluster>,
    /// Semantic clusters that are not just one exact cluster.
    pub semantic: Vec<Cluster>,
}

struct Item {
    pair: i64,
    image_id: i64,
    path: String,
    hash: String,
    dhash: u64,
    patient: Option<String>,
}

pub fn find(conn: &Connection, opts: &DuplicateOptions) -> Result<DuplicateReport> {
    let items: Vec<Item> = conn
        .prepare(
            "SELECT p.id, i.id, i.path, i.hash, i.dhash, pt.key FROM pairs p
             JOIN images i ON i.id = p.image_id LEFT JOIN patients pt ON pt.id = p.patient_id
             WHERE i.missing = 0 ORDER BY p.id",
        )?
        .query_map([], |r| {
            Ok(Item {
                pair: r.get(0)?,
                image_id: r.get(1)?,
                path: r.get(2)?,
                hash: r.get(3)?,
                dhash: r.get::<_, i64>(4)? as u64,
                patient: r.get(5)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let cluster = |kind: &str, group: Vec<usize>| Cluster {
        kind: kind.into(),
        members: group
            .into_iter()
            .map(|i| Member {
                pair: items[i].pair,
                image: items[i].path.clone(),
                patient: items[i].patient.clone(),
            })
            .collect(),
    };
    let all_same_hash = |g: &[usize]| g.iter().all(|&i| items[i].hash == items[g[0]].hash);

    let hashes: Vec<&str> = items.iter().map(|i| i.hash.as_str()).collect();
    let exact = exact_groups(&hashes)
        .into_iter()
        .map(|g| cluster("exact", g))
        .collect();

    let dh: Vec<u64> = items.iter().map(|i| i.dhash).collect();
    let near_pairs = near_hash_pairs(&dh, opts.near_distance);
    let near = group_pairs(items.len(), near_pairs.iter().map(|&(a, b, _)| (a, b)))
        .into_iter()
        .filter(|g| !all_same_hash(g))
        .map(|g| cluster("near", g))
        .collect();

    let mut semantic = Vec::new();
    if let Some((name, threshold)) = &opts.semantic {
        let model = models::get(conn, name)?;
        let store = vectors(conn, &model, "image")?;
        let row_of: std::collections::HashMap<i64, usize> = store
            .ids
            .iter()
            .enumerate()
            .map(|(r, &id)| (id, r))
            .collect();
        // Rows of the embedded images, in item order.
        let present: Vec<usize> = (0..items.len())
            .filter(|&i| row_of.contains_key(&items[i].image_id))
            .collect();
        let mut data = Vec::with_capacity(present.len() * model.dim);
        for &i in &present {
            let r = row_of[&items[i].image_id];
            data.extend_from_slice(&store.data[r * model.dim..(r + 1) * model.dim]);
        }
        let m = pairlab_ml::similarity::Matrix::new(&data, model.dim);
        let pairs = semantic_pairs(m, *threshold);
        semantic = group_pairs(
            items.len(),
            pairs.iter().map(|&(a, b, _)| (present[a], present[b])),
        )
        .into_iter()
        .filter(|g| !all_same_hash(g))
        .map(|g| cluster("semantic", g))
        .collect();
    }
    Ok(DuplicateReport {
        images: items.len() as u64,
        exact,
        near,
        semantic,
    })
}
