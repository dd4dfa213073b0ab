//! Similarity, consistency, zero-shot and duplicate logic on hand-built embeddings where
//! the right answer is known (no model is run).

use std::path::Path;
use std::time::Instant;

use image::{GrayImage, Luma};
use rusqlite::params;

use super::{mismatch, similar, to_blob, zeroshot};
use crate::error::Result;
use crate::ingest::IndexOptions;
use crate::labels::{self, Prompt, SchemaDef};
use crate::library::Library;
use crate::models::{self, ModelRecord};
use crate::progress::Silent;

fn pattern(seed: u32) -> GrayImage {
    // 8×8 blocks of pseudo-random grey: distinct seeds give distant dHashes.
    GrayImage::from_fn(48, 48, |x, y| {
        let mut h = (seed * 131 + (x / 6) * 17 + (y / 6) * 31 + 7).wrapping_mul(2_654_435_761);
        h ^= h >> 15;
        Luma([(h % 256) as u8])
    })
}

/// A stem-layout corpus of `n` images with one-line reports, indexed.
pub(crate) fn library(n: u32) -> Result<(tempfile::TempDir, Library)> {
    let tmp = tempfile::tempdir().map_err(|e| crate::Error::io("tmp", e))?;
    let corpus = tmp.path().join("corpus");
    std::fs::create_dir_all(&corpus).map_err(|e| crate::Error::io(&corpus, e))?;
    for i in 0..n {
        let p = corpus.join(format!("img{i:03}.png"));
        pattern(i)
            .save(&p)
            .map_err(|e| crate::Error::io(&p, std::io::Error::other(e)))?;
        let t = corpus.join(format!("img{i:03}.txt"));
        std::fs::write(&t, format!("Report number {i}. Findings unremarkable."))
            .map_err(|e| crate::Error::io(&t, e))?;
    }
    let mut lib = Library::open(&tmp.path().join("lib"))?;
    lib.index(&corpus, &IndexOptions::default(), &Silent)?;
    Ok((tmp, lib))
}

/// Registers a model row without files (its vectors are written by hand).
fn hand_model(lib: &Library, dim: usize) -> Result<ModelRecord> {
    lib.conn().execute(
        "INSERT INTO models (name, family, path, source, dim, images, texts, fingerprint)
         VALUES ('hand', 'clip', '/nowhere', 'dir', ?1, 1, 1, 'x')",
        [dim as i64],
    )?;
    models::get(lib.conn(), "hand")
}

/// (pair, image id, report id) in pair order (report 0 when none).
pub(crate) fn pairs(lib: &Library) -> Result<Vec<(i64, i64, i64)>> {
    let mut stmt = lib
        .conn()
        .prepare("SELECT id, image_id, COALESCE(report_id, 0) FROM pairs ORDER BY id")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A split `s` over `pairs`, the k-th pair in the part `part(k)`; answers its id (tests).
pub(crate) fn split_s(
    lib: &Library,
    pairs: &[i64],
    part: impl Fn(usize) -> &'static str,
) -> Result<i64> {
    lib.conn().execute(
        "INSERT INTO splits (name, strategy) VALUES ('s', 'random')",
        [],
    )?;
    let split = lib.conn().last_insert_rowid();
    for (k, pair) in pairs.iter().enumerate() {
        lib.conn().execute(
            "INSERT INTO split_members (split_id, pair_id, part) VALUES (?1, ?2, ?3)",
            params![split, pair, part(k)],
        )?;
    }
    Ok(split)
}

fn put(lib: &Library, model: &ModelRecord, kind: &str, item: i64, v: &[f32]) -> Result<()> {
    lib.conn().execute(
        "INSERT OR REPLACE INTO embeddings (model_id, kind, item_id, vector) VALUES (?1, ?2, ?3, ?4)",
        params![model.id, kind, item, to_blob(v)],
    )?;
    Ok(())
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Deterministic pseudo-random unit vector.
fn rand_unit(seed: u64, dim: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    unit(
        (0..dim)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2000) as f32 / 1000.0 - 1.0
            })
            .collect(),
    )
}

#[test]
fn image_to_images_finds_the_planted_neighbour() -> Result<()> {
    let (_tmp, lib) = library(6)?;
    let model = hand_model(&lib, 4)?;
    let p = pairs(&lib)?;
    let vecs = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
        [0.9, 0.1, 0.0, 0.0], // closest to pair 0
        [0.0, 0.0, 0.0, 1.0],
        [0.5, 0.5, 0.0, 0.0], // second closest to pair 0
    ];
    for ((_, img, rep), v) in p.iter().zip(vecs) {
        put(&lib, &model, "image", *img, &unit(v.to_vec()))?;
        put(&lib, &model, "report", *rep, &unit(v.to_vec()))?;
    }
    let hits = lib.similar("hand", &similar::Query::Pair(p[0].0), None, 2)?;
    assert_eq!(
        hits.iter().map(|h| h.pair).collect::<Vec<_>>(),
        vec![p[3].0, p[5].0]
    );
    assert!(hits[0].score > hits[1].score && hits[0].image.ends_with("img003.png"));
    let hits = lib.similar(
        "hand",
        &similar::Query::Pair(p[4].0),
        Some(similar::Target::Reports),
        1,
    )?;
    assert!(
        hits[0].score < 0.01,
        "nothing is close to an orthogonal report"
    );
    assert!(hits[0].report.starts_with("Report number"));
    Ok(())
}

#[test]
fn swapped_reports_rank_first_in_mismatch() -> Result<()> {
    let (_tmp, mut lib) = library(30)?;
    let model = hand_model(&lib, 16)?;
    let p = pairs(&lib)?;
    for (k, (_, img, rep)) in p.iter().enumerate() {
        let v = rand_unit(k as u64 + 1, 16);
        put(&lib, &model, "image", *img, &v)?;
        // Each report is its image plus a little noise…
        let noise = rand_unit(1000 + k as u64, 16);
        let mut r: Vec<f32> = v.iter().zip(&noise).map(|(a, b)| a + 0.2 * b).collect();
        r = unit(r);
        // …except reports 7 and 19, which are swapped.
        let target = match k {
            7 => p[19].2,
            19 => p[7].2,
            _ => *rep,
        };
        put(&lib, &model, "report", target, &r)?;
    }
    let s = mismatch::score_stored(lib.conn_mut(), &model, &Silent, Instant::now())?;
    assert_eq!(s.pairs, 30);
    let top = lib.mismatches("hand", 3)?;
    let mut first_two = vec![top[0].pair, top[1].pair];
    first_two.sort();
    assert_eq!(first_two, vec![p[7].0, p[19].0]);
    assert!(top[0].rank > 1 && top[2].score < top[1].score);
    Ok(())
}

#[test]
fn zero_shot_labels_follow_prompts_and_never_touch_human_labels() -> Result<()> {
    let (_tmp, mut lib) = library(3)?;
    let model = hand_model(&lib, 3)?;
    let def = SchemaDef::from_toml(
        "name = \"two\"\nkind = \"multi-label\"\nclasses = [\"Effusion\", \"Edema\"]\n\
         [prompts]\nEffusion = { positive = \"effusion\", negative = \"no effusion\" }\n",
    )?;
    let schema = labels::schema::upsert(lib.conn(), &def)?;
    let prompts = labels::schema::prompts(lib.conn(), "two")?;
    assert_eq!(prompts[0].1.positive, "effusion");
    assert_eq!(prompts[1].1, Prompt::default_for("Edema"));
    let p = pairs(&lib)?;
    // Class prompts: Effusion +x / -x; Edema +y / -y.
    let pos = vec![vec![1.0, 0.0, 0.0], vec![0.0, 1.0, 0.0]];
    let neg = vec![vec![-1.0, 0.0, 0.0], vec![0.0, -1.0, 0.0]];
    put(&lib, &model, "image", p[0].1, &unit(vec![0.8, -0.2, 0.1]))?; // effusion, no edema
    put(&lib, &model, "image", p[1].1, &unit(vec![-0.5, 0.7, 0.1]))?; // edema, no effusion
    // Pair 2 has no embedding: not labelled.
    labels::set_human(lib.conn_mut(), p[0].0, "two", "Edema", Some(1), "ann")?;
    let s = zeroshot::apply(
        lib.conn_mut(),
        &model,
        &schema,
        &prompts,
        &pos,
        &neg,
        &Silent,
    )?;
    assert_eq!((s.pairs, s.labels, s.positives), (2, 4, 2));
    assert_eq!(s.source, "model:hand");
    let value = |pair: i64, class: &str| -> Result<(i64, f64)> {
        Ok(lib.conn().query_row(
            "SELECT value, confidence FROM labels WHERE pair_id = ?1 AND class = ?2 AND source = 'model:hand'",
            params![pair, class],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    };
    let (v, c) = value(p[0].0, "Effusion")?;
    assert_eq!(v, 1);
    assert!(
        (c - f64::from(zeroshot::two_way(
            unit(vec![0.8, -0.2, 0.1])[0],
            -unit(vec![0.8, -0.2, 0.1])[0]
        )))
        .abs()
            < 1e-6
    );
    assert_eq!(value(p[0].0, "Edema")?.0, 0);
    assert_eq!(value(p[1].0, "Edema")?.0, 1);
    assert_eq!(value(p[1].0, "Effusion")?.0, 0);
    // The human's Edema label stays the current one.
    let current = lib.current_labels(p[0].0, "two")?;
    let edema = current
        .iter()
        .find(|l| l.class == "Edema")
        .expect("edema label");
    assert_eq!((edema.value, edema.source.as_str()), (1, "human"));
    Ok(())
}

fn write_png(img: &GrayImage, path: &Path) -> Result<()> {
    img.save(path)
        .map_err(|e| crate::Error::io(path, std::io::Error::other(e)))
}

#[test]
fn duplicates_exact_near_and_semantic_clusters() -> Result<()> {
    let (tmp, mut lib) = library(5)?;
    let corpus = tmp.path().join("corpus");
    // An exact copy of img000, a near copy of img001 (one pixel changed).
    std::fs::copy(corpus.join("img000.png"), corpus.join("copy000.png"))
        .map_err(|e| crate::Error::io("copy", e))?;
    let mut near = pattern(1);
    near.put_pixel(3, 3, Luma([near.get_pixel(3, 3).0[0].wrapping_add(9)]));
    write_png(&near, &corpus.join("near001.png"))?;
    lib.index(&corpus, &IndexOptions::default(), &Silent)?;
    let model = hand_model(&lib, 8)?;
    let p = pairs(&lib)?;
    let path_of = |pair: i64| -> Result<String> {
        Ok(lib.conn().query_row(
            "SELECT i.path FROM pairs p JOIN images i ON i.id = p.image_id WHERE p.id = ?1",
            [pair],
            |r| r.get(0),
        )?)
    };
    // Semantic: img002 and img003 embed almost the same; the rest are apart.
    for (pair, img, _) in &p {
        let v = match path_of(*pair)?.as_str() {
            "img002.png" => unit(vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            "img003.png" => unit(vec![0.99, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
            _ => rand_unit(*pair as u64 * 7, 8),
        };
        put(&lib, &model, "image", *img, &v)?;
    }
    let opts = super::duplicates::DuplicateOptions {
        near_distance: 2,
        semantic: Some(("hand".into(), 0.98)),
    };
    let r = lib.duplicates(&opts)?;
    let names = |c: &super::duplicates::Cluster| -> Vec<String> {
        c.members.iter().map(|m| m.image.clone()).collect()
    };
    assert_eq!(r.exact.len(), 1);
    let mut exact = names(&r.exact[0]);
    exact.sort();
    assert_eq!(exact, vec!["copy000.png", "img000.png"]);
    assert!(
        r.near.iter().any(|c| {
            let mut n = names(c);
            n.sort();
            n == vec!["img001.png", "near001.png"]
        }),
        "near clusters: {:?}",
        r.near
    );
    assert!(
        r.near.iter().all(|c| names(c) != exact),
        "exact copies are not repeated as near"
    );
    assert_eq!(r.semantic.len(), 1, "{:?}", r.semantic);
    let mut sem = names(&r.semantic[0]);
    sem.sort();
    assert_eq!(sem, vec!["img002.png", "img003.png"]);
    Ok(())
}

#[test]
fn changed_images_lose_their_embeddings() -> Result<()> {
    let (tmp, mut lib) = library(2)?;
    let model = hand_model(&lib, 2)?;
    let p = pairs(&lib)?;
    for (_, img, rep) in &p {
        put(&lib, &model, "image", *img, &[1.0, 0.0])?;
        put(&lib, &model, "report", *rep, &[1.0, 0.0])?;
    }
    let count = |lib: &Library, kind: &str| -> Result<i64> {
        Ok(lib.conn().query_row(
            "SELECT COUNT(*) FROM embeddings WHERE kind = ?1",
            [kind],
            |r| r.get(0),
        )?)
    };
    assert_eq!((count(&lib, "image")?, count(&lib, "report")?), (2, 2));
    let corpus = tmp.path().join("corpus");
    write_png(&pattern(77), &corpus.join("img000.png"))?;
    std::fs::write(corpus.join("img001.txt"), "A different report now.")
        .map_err(|e| crate::Error::io("txt", e))?;
    lib.index(&corpus, &IndexOptions::default(), &Silent)?;
    assert_eq!((count(&lib, "image")?, count(&lib, "report")?), (1, 1));
    Ok(())
}

/// Cancels the job once the first batch has been reported.
struct CancelAfterFirst(std::sync::atomic::AtomicBool);

impl crate::progress::Progress for CancelAfterFirst {
    fn advance(&self, _n: u64) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    fn is_cancelled(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[test]
fn embedding_is_cancellable_and_resumes_where_it_stopped() -> Result<()> {
    let n = super::IMAGE_BATCH as u32 + 8;
    let (tmp, mut lib) = library(n)?;
    let dir = tmp.path().join("tiny-clip");
    let cfg = serde_json::json!({
        "model_type": "clip", "projection_dim": 8,
        "text_config": {"vocab_size": 49408, "hidden_size": 16, "intermediate_size": 32,
            "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 77},
        "vision_config": {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 2, "image_size": 32, "patch_size": 16}
    });
    pairlab_ml::random_weights::write_model(
        &dir,
        &cfg,
        pairlab_ml::random_weights::Init::Random { seed: 5 },
    )?;
    let tok = pairlab_ml::random_weights::fixtures_root().join("clip-tokenizer/tokenizer.json");
    std::fs::copy(&tok, dir.join("tokenizer.json")).map_err(|e| crate::Error::io(&tok, e))?;
    lib.add_model(&dir.to_string_lossy(), Some("tiny"))?;

    let cancel = CancelAfterFirst(std::sync::atomic::AtomicBool::new(false));
    let r = lib.embed("tiny", super::What::Images, &cancel);
    assert!(matches!(r, Err(crate::Error::Cancelled)), "{r:?}");
    let stored: i64 = lib.conn().query_row(
        "SELECT COUNT(*) FROM embeddings WHERE kind = 'image'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(
        stored,
        super::IMAGE_BATCH as i64,
        "the finished batch is kept"
    );
    let s = lib.embed("tiny", super::What::Images, &Silent)?;
    assert_eq!(
        (s.images, s.images_existing),
        (8, super::IMAGE_BATCH as u64)
    );
    Ok(())
}
