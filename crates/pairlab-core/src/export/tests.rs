//! Export: every format from a small library with real image files; counts, labels,
//! determinism, shards, the folder rules, skipped pairs and cancelling.

use std::path::Path;

use super::*;
use crate::labels::{self, LabelKey, Provenance, SchemaDef, SchemaKind};
use crate::progress::{Progress, Silent};
use crate::store;

/// A library of 6 pairs (5 images on disk, pair 6 missing), two patients, reports, a
/// `s` split (train 1–4, test 5–6), a multi-label schema `chexpert` and a multi-class
/// schema `kind`.
fn setup() -> Result<(tempfile::TempDir, Connection)> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let corpus = dir.path().join("corpus");
    std::fs::create_dir_all(corpus.join("p1")).map_err(|e| Error::io(&corpus, e))?;
    for i in 1..=5u32 {
        let img = image::GrayImage::from_fn(8 + i, 6, |x, y| image::Luma([(x * 20 + y * i) as u8]));
        let p = corpus.join(format!("p1/{i}.png"));
        img.save(&p)
            .map_err(|e| Error::io(&p, std::io::Error::other(e)))?;
    }
    let conn = store::open(&dir.path().join("t.db"))?;
    labels::schema::upsert(&conn, &SchemaDef::chexpert()?)?;
    labels::schema::upsert(
        &conn,
        &SchemaDef {
            name: "kind".into(),
            kind: SchemaKind::MultiClass,
            classes: vec!["cat".into(), "dog".into()],
            labeler: None,
            prompts: None,
        },
    )?;
    conn.execute(
        "INSERT INTO corpora (id, root, name, layout) VALUES (1, ?1, 'c', 'stem')",
        [corpus.to_string_lossy()],
    )?;
    conn.execute_batch(
        "INSERT INTO patients (id, corpus_id, key) VALUES (1, 1, 'P1'), (2, 1, 'P2');
         INSERT INTO studies (id, corpus_id, patient_id, key) VALUES (1, 1, 1, 'S1'), (2, 1, 2, 'S2');
         INSERT INTO reports (id, corpus_id, source, text, findings, impression)
           VALUES (1, 1, 'r1.txt', 'FINDINGS: big heart. IMPRESSION: cardiomegaly.', 'big heart.', 'cardiomegaly.');
         INSERT INTO splits (id, name, strategy) VALUES (1, 's', 'patient');",
    )?;
    for i in 1..=6i64 {
        conn.execute(
            "INSERT INTO images (id, corpus_id, path, size, mtime_ns, hash, width, height, format, bits, dhash, view, missing)
             VALUES (?1, 1, ?2, 1, 1, 'h', ?3, 6, 'png', 8, 0, ?4, ?5)",
            rusqlite::params![i, format!("p1/{i}.png"), 8 + i, ["PA", "LL"][(i % 2) as usize], i == 6],
        )?;
        let (patient, report) = if i <= 3 { (1, Some(1)) } else { (2, None) };
        conn.execute(
            "INSERT INTO pairs (id, corpus_id, image_id, report_id, study_id, patient_id) VALUES (?1, 1, ?1, ?2, ?3, ?3)",
            rusqlite::params![i, report, patient],
        )?;
        let part = if i <= 4 { "train" } else { "test" };
        conn.execute(
            "INSERT INTO split_members (split_id, pair_id, part) VALUES (1, ?1, ?2)",
            rusqlite::params![i, part],
        )?;
    }
    let mut conn = conn;
    // Pair 1: human Cardiomegaly 1 over a machine 0; pair 2: machine only.
    let chexpert = labels::schema::get(&conn, "chexpert")?;
    let machine = |pair, class, v| -> Result<()> {
        let key = LabelKey::new(pair, &chexpert, class, "report-rules");
        labels::set_machine(&conn, key, Some(v), Provenance::default())
    };
    machine(1, "Cardiomegaly", 0)?;
    machine(2, "Edema", -1)?;
    labels::set_human(&mut conn, 1, "chexpert", "Cardiomegaly", Some(1), "ann")?;
    labels::set_human(&mut conn, 1, "kind", "dog", Some(1), "ann")?;
    labels::set_human(&mut conn, 2, "kind", "cat", Some(1), "ann")?;
    Ok((dir, conn))
}

fn opts(format: ExportFormat, out: &Path) -> ExportOptions {
    ExportOptions {
        format,
        out: out.to_string_lossy().into_owned(),
        split: Some("s".into()),
        schema: Some("chexpert".into()),
        labels: ExportLabels::Best,
        images: None,
        dicom: DicomMode::Png,
        embeddings: None,
        max_shard_bytes: None,
    }
}

fn read(p: &Path) -> Result<String> {
    std::fs::read_to_string(p).map_err(|e| Error::io(p, e))
}

#[test]
fn jsonl_has_every_pair_of_each_part_with_best_or_human_labels() -> Result<()> {
    let (dir, conn) = setup()?;
    let thumbs = dir.path().join("thumbs");
    let out = dir.path().join("out");
    let s = export(&conn, &thumbs, &opts(ExportFormat::Jsonl, &out), &Silent)?;
    let parts: Vec<(String, u64)> = s.parts.iter().map(|p| (p.part.clone(), p.rows)).collect();
    assert_eq!(parts, [("train".into(), 4), ("test".into(), 1)]);
    assert_eq!((s.rows, s.skipped), (5, 1));
    assert_eq!(s.skips[0].pair, 6);
    assert!(s.skips[0].reason.contains("missing"), "{:?}", s.skips);
    let train = read(&out.join("train.jsonl"))?;
    let rows: Vec<serde_json::Value> = train
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["pair_id"], 1);
    assert_eq!(rows[0]["Cardiomegaly"], 1);
    assert_eq!(rows[0]["label_sources"]["Cardiomegaly"], "human");
    assert_eq!(rows[1]["Edema"], -1);
    assert_eq!(rows[1]["Cardiomegaly"], serde_json::Value::Null);
    assert_eq!(rows[0]["impression"], "cardiomegaly.");
    assert_eq!(rows[0]["patient_id"], "P1");
    assert!(
        rows[0]["image"]
            .as_str()
            .unwrap_or_default()
            .ends_with("p1/1.png")
    );
    // Human labels only: pair 2's machine Edema is gone.
    let out2 = dir.path().join("out2");
    let human = ExportOptions {
        labels: ExportLabels::Human,
        ..opts(ExportFormat::Jsonl, &out2)
    };
    export(&conn, &thumbs, &human, &Silent)?;
    let second = read(&out2.join("train.jsonl"))?;
    let row: serde_json::Value = serde_json::from_str(second.lines().nth(1).unwrap_or_default())
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(row["Edema"], serde_json::Value::Null);
    Ok(())
}

#[test]
fn chexpert_csv_has_its_column_order_views_and_values() -> Result<()> {
    let (dir, conn) = setup()?;
    let out = dir.path().join("out");
    export(
        &conn,
        &dir.path().join("thumbs"),
        &opts(ExportFormat::ChexpertCsv, &out),
        &Silent,
    )?;
    let text = read(&out.join("train.csv"))?;
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert!(header.starts_with("Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity,Lung Lesion,"), "{header}");
    let first: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    // Pair 1's view is LL (lateral), Cardiomegaly (column 8) is 1.0, the rest empty.
    assert_eq!(&first[1..5], ["", "", "Lateral", ""]);
    assert_eq!(first[7], "1.0");
    assert_eq!(first.iter().filter(|c| !c.is_empty()).count(), 3);
    let second: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    assert_eq!(&second[3..5], ["Frontal", "PA"]);
    assert_eq!(second[10], "-1.0", "Edema");
    Ok(())
}

#[test]
fn parquet_is_deterministic_sharded_and_carries_its_features() -> Result<()> {
    let (dir, conn) = setup()?;
    let thumbs = dir.path().join("thumbs");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let small = |out: &Path| ExportOptions {
        max_shard_bytes: Some(1),
        ..opts(ExportFormat::HfParquet, out)
    };
    let s = export(&conn, &thumbs, &small(&a), &Silent)?;
    export(&conn, &thumbs, &small(&b), &Silent)?;
    let names: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
    // At a 1-byte limit every row is its own shard, and the names say how many.
    assert!(
        names.contains(&"data/train-00000-of-00004.parquet"),
        "{names:?}"
    );
    assert!(
        names.contains(&"data/train-00003-of-00004.parquet"),
        "{names:?}"
    );
    assert!(
        names.contains(&"data/test-00000-of-00001.parquet"),
        "{names:?}"
    );
    assert!(names.contains(&"README.md"));
    for f in &s.files {
        let (x, y) = (
            std::fs::read(a.join(&f.path)),
            std::fs::read(b.join(&f.path)),
        );
        assert!(
            x.is_ok() && x.ok() == y.ok(),
            "{} differs between two exports",
            f.path
        );
    }
    let file = std::fs::File::open(a.join("data/train-00001-of-00004.parquet"))
        .map_err(|e| Error::io("parquet", e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let meta = reader
        .schema()
        .metadata()
        .get("huggingface")
        .cloned()
        .unwrap_or_default();
    let features: serde_json::Value =
        serde_json::from_str(&meta).map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(features["info"]["features"]["image"]["_type"], "Image");
    assert_eq!(features["info"]["features"]["Edema"]["dtype"], "int8");
    let rows: usize = reader
        .build()
        .map_err(|e| Error::Invalid(e.to_string()))?
        .map(|b| b.map(|b| b.num_rows()).unwrap_or(0))
        .sum();
    assert_eq!(rows, 1);
    let readme = read(&a.join("README.md"))?;
    assert!(
        readme.contains("  - split: train\n    path: data/train-*\n"),
        "{readme}"
    );
    assert!(
        readme.contains("  - name: 'Pleural Effusion'\n    dtype: int8\n"),
        "{readme}"
    );
    Ok(())
}

#[test]
fn a_multi_class_schema_is_a_class_label() -> Result<()> {
    let (dir, conn) = setup()?;
    let out = dir.path().join("out");
    let o = ExportOptions {
        schema: Some("kind".into()),
        ..opts(ExportFormat::HfParquet, &out)
    };
    let s = export(&conn, &dir.path().join("thumbs"), &o, &Silent)?;
    let readme = read(&out.join("README.md"))?;
    assert!(
        readme.contains("class_label:\n        names:\n          '0': 'cat'\n          '1': 'dog'"),
        "{readme}"
    );
    assert_eq!(s.rows, 5);
    Ok(())
}

#[test]
fn imagefolder_files_each_labelled_image_under_its_class() -> Result<()> {
    let (dir, conn) = setup()?;
    let out = dir.path().join("out");
    let o = ExportOptions {
        schema: Some("kind".into()),
        ..opts(ExportFormat::Imagefolder, &out)
    };
    let s = export(&conn, &dir.path().join("thumbs"), &o, &Silent)?;
    assert_eq!((s.rows, s.images_written), (2, 2));
    assert!(out.join("train/dog/1_1.png").is_file());
    assert!(out.join("train/cat/2_2.png").is_file());
    // Pairs 3–5 have no class and 6 no file: all counted with their reasons.
    assert_eq!(s.skipped, 4);
    assert!(s.skips.iter().any(|k| k.reason.contains("no class label")));
    // Multi-label: images and a metadata.parquet per split, one row per image.
    let out2 = dir.path().join("out2");
    export(
        &conn,
        &dir.path().join("thumbs"),
        &opts(ExportFormat::Imagefolder, &out2),
        &Silent,
    )?;
    assert!(out2.join("train/1_1.png").is_file());
    let file = std::fs::File::open(out2.join("train/metadata.parquet"))
        .map_err(|e| Error::io("parquet", e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(reader.schema().field(0).name(), "file_name");
    let batch = reader
        .build()
        .map_err(|e| Error::Invalid(e.to_string()))?
        .next();
    let batch = batch
        .transpose()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(batch.map(|b| b.num_rows()), Some(4));
    Ok(())
}

#[test]
fn the_export_folder_is_replaced_only_when_pairlab_wrote_it() -> Result<()> {
    let (dir, conn) = setup()?;
    let thumbs = dir.path().join("thumbs");
    let out = dir.path().join("out");
    export(&conn, &thumbs, &opts(ExportFormat::Csv, &out), &Silent)?;
    // Again into the same folder, in another format: the earlier files go.
    export(&conn, &thumbs, &opts(ExportFormat::Jsonl, &out), &Silent)?;
    assert!(!out.join("train.csv").exists());
    assert!(out.join("train.jsonl").is_file());
    // A folder with someone else's file is refused and left as it was.
    let theirs = dir.path().join("theirs");
    std::fs::create_dir_all(&theirs).map_err(|e| Error::io(&theirs, e))?;
    std::fs::write(theirs.join("notes.txt"), "mine").map_err(|e| Error::io(&theirs, e))?;
    let err = export(&conn, &thumbs, &opts(ExportFormat::Jsonl, &theirs), &Silent).err();
    assert_eq!(err.map(|e| e.kind()), Some("conflict"));
    let left: Vec<_> = std::fs::read_dir(&theirs)
        .map_err(|e| Error::io(&theirs, e))?
        .collect();
    assert_eq!(left.len(), 1);
    // Images that the format cannot carry are refused by name.
    let bad = ExportOptions {
        images: Some(ImageMode::Embed),
        ..opts(ExportFormat::Csv, &dir.path().join("x"))
    };
    let err = export(&conn, &thumbs, &bad, &Silent)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("use path or copy or link"), "{err}");
    Ok(())
}

struct CancelAfter(std::sync::atomic::AtomicU64);

impl Progress for CancelAfter {
    fn is_cancelled(&self) -> bool {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 2
    }
}

#[test]
fn a_cancelled_export_leaves_nothing_behind() -> Result<()> {
    let (dir, conn) = setup()?;
    let out = dir.path().join("out");
    let cancel = CancelAfter(Default::default());
    let o = ExportOptions {
        images: Some(ImageMode::Copy),
        ..opts(ExportFormat::Jsonl, &out)
    };
    let err = export(&conn, &dir.path().join("thumbs"), &o, &cancel).err();
    assert_eq!(err.map(|e| e.kind()), Some("cancelled"));
    let left: Vec<_> = std::fs::read_dir(&out)
        .map_err(|e| Error::io(&out, e))?
        .collect();
    assert!(left.is_empty(), "{left:?}");
    Ok(())
}

#[test]
fn embeddings_become_a_fixed_size_list_column() -> Result<()> {
    let (dir, conn) = setup()?;
    conn.execute(
        "INSERT INTO models (id, name, family, path, source, dim, images, texts, fingerprint)
         VALUES (1, 'm', 'clip', '/m', 'folder', 3, 1, 0, 'f')",
        [],
    )?;
    for (image, v) in [(1i64, [1.0f32, 0.0, 0.5]), (2, [0.25, -1.0, 2.0])] {
        let blob: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        conn.execute(
            "INSERT INTO embeddings (model_id, kind, item_id, vector) VALUES (1, 'image', ?1, ?2)",
            rusqlite::params![image, blob],
        )?;
    }
    let thumbs = dir.path().join("thumbs");
    let out = dir.path().join("jsonl");
    let with = |format, out: &Path| ExportOptions {
        embeddings: Some("m".into()),
        ..opts(format, out)
    };
    export(&conn, &thumbs, &with(ExportFormat::Jsonl, &out), &Silent)?;
    let text = read(&out.join("train.jsonl"))?;
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::Invalid(e.to_string()))?;
    assert_eq!(rows[1]["embedding"], serde_json::json!([0.25, -1.0, 2.0]));
    assert_eq!(rows[2]["embedding"], serde_json::Value::Null);
    let out = dir.path().join("hf");
    export(
        &conn,
        &thumbs,
        &with(ExportFormat::HfParquet, &out),
        &Silent,
    )?;
    let file = std::fs::File::open(out.join("data/train-00000-of-00001.parquet"))
        .map_err(|e| Error::io("parquet", e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let field = reader.schema().field_with_name("embedding").cloned();
    let field = field.map_err(|e| Error::Invalid(e.to_string()))?;
    assert!(
        matches!(
            field.data_type(),
            arrow_schema::DataType::FixedSizeList(_, 3)
        ),
        "{field:?}"
    );
    let readme = read(&out.join("README.md"))?;
    assert!(
        readme.contains("  - name: 'embedding'\n    list: float32\n    length: 3\n"),
        "{readme}"
    );
    // CSV has no embedding column: refused by name.
    let csv = with(ExportFormat::Csv, &dir.path().join("csv"));
    let err = export(&conn, &thumbs, &csv, &Silent)
        .err()
        .map(|e| e.to_string());
    assert!(err.unwrap_or_default().contains("embedding"));
    Ok(())
}
