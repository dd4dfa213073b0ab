//! Maps on a library whose image embeddings form three clusters: PCA and UMAP keep them
//! apart, the same inputs answer the kept map, colours follow the labels, and a tagged
//! selection is found by the Browse tag filter.

use rusqlite::params;

use super::*;
use crate::embed::tests::{library, pairs};
use crate::embed::to_blob;
use crate::labels::{self, SchemaDef};
use crate::progress::Silent;

#[test]
fn maps_keep_clusters_apart_are_kept_coloured_and_tagged() -> Result<()> {
    let (_tmp, mut lib) = library(30)?;
    lib.conn().execute(
        "INSERT INTO models (name, family, path, source, dim, images, texts, fingerprint)
         VALUES ('hand', 'clip', '/nowhere', 'dir', 8, 1, 1, 'x')",
        [],
    )?;
    let model = lib.conn().last_insert_rowid();
    let ps = pairs(&lib)?;
    let mut rng = pairlab_ml::rng::SplitMix64(5);
    for (i, (_, image, _)) in ps.iter().enumerate() {
        let mut v: Vec<f32> = (0..8).map(|_| rng.uniform() as f32 * 0.2).collect();
        v[i % 3] += 5.0;
        lib.conn().execute(
            "INSERT INTO embeddings (model_id, kind, item_id, vector) VALUES (?1, 'image', ?2, ?3)",
            params![model, image, to_blob(&v)],
        )?;
    }
    let cluster = |pair: i64| ps.iter().position(|p| p.0 == pair).unwrap_or(0) % 3;
    let near_same = |m: &MapPoints| {
        (0..m.pairs.len())
            .filter(|&i| {
                let d = |j: usize| (m.x[i] - m.x[j]).powi(2) + (m.y[i] - m.y[j]).powi(2);
                let near = (0..m.pairs.len())
                    .filter(|&j| j != i)
                    .min_by(|&a, &b| d(a).total_cmp(&d(b)));
                near.is_some_and(|j| cluster(m.pairs[j]) == cluster(m.pairs[i]))
            })
            .count()
    };
    for method in [Method::Pca, Method::Umap] {
        let opts = MapOptions {
            model: "hand".into(),
            kind: "image".into(),
            method,
            neighbours: Some(5),
            epochs: Some(100),
        };
        let made = compute(lib.conn_mut(), &opts, &Silent)?;
        assert_eq!((made.points, made.cached), (30, false));
        let again = compute(lib.conn_mut(), &opts, &Silent)?;
        assert_eq!(
            (again.id, again.cached),
            (made.id, true),
            "the same inputs: the kept map"
        );
        let m = points(lib.conn(), made.id)?;
        assert_eq!(near_same(&m), 30, "{method:?} keeps the clusters apart");
    }
    assert_eq!(list(lib.conn())?.len(), 2);

    // Colours: a class's label per point, none where unlabelled.
    let def = SchemaDef::from_toml("name = \"f\"\nkind = \"multi-label\"\nclasses = [\"a\"]\n")?;
    labels::schema::upsert(lib.conn(), &def)?;
    labels::set_human(lib.conn_mut(), ps[0].0, "f", "a", Some(1), "x")?;
    let map = list(lib.conn())?[0].id;
    let by = |b: &str| ColourArgs {
        by: b.into(),
        schema: Some("f".into()),
        class: Some("a".into()),
        split: None,
        model: None,
        issues: None,
    };
    let c = colours(lib.conn(), map, &by("label"))?;
    assert_eq!(c.categories[0].as_deref(), Some("1"));
    assert!(c.categories[1..].iter().all(Option::is_none));
    assert_eq!(
        colours(lib.conn(), map, &by("source"))?.categories[0].as_deref(),
        Some("human")
    );
    assert!(matches!(
        colours(lib.conn(), map, &by("split")),
        Err(Error::InvalidField { .. })
    ));
    assert!(matches!(
        colours(lib.conn(), map, &by("loudness")),
        Err(Error::InvalidField { .. })
    ));

    // A selection tagged is found by the Browse tag filter.
    let chosen: Vec<i64> = ps.iter().take(4).map(|p| p.0).collect();
    assert_eq!(tag_pairs(lib.conn_mut(), "lasso-1", &chosen)?, 4);
    assert_eq!(
        tag_pairs(lib.conn_mut(), "lasso-1", &chosen)?,
        0,
        "already tagged"
    );
    let filter = crate::browse::BrowseFilter {
        tag: Some("lasso-1".into()),
        ..Default::default()
    };
    let page = crate::browse::browse(lib.conn(), &filter, &Default::default(), None, 50)?;
    assert_eq!(page.rows.iter().map(|r| r.id).collect::<Vec<_>>(), chosen);
    assert!(matches!(
        tag_pairs(lib.conn_mut(), " ", &chosen),
        Err(Error::InvalidField { .. })
    ));
    Ok(())
}
