//! Label import: CheXpert- and MIMIC-style files with matched, unmatched, malformed and
//! duplicate rows; undo and redo as one step; people's labels kept.

use super::*;
use crate::labels::{self, SchemaDef, current, undo};
use crate::progress::Silent;
use crate::store;

/// Pairs 1–4 in corpus `/data/CheXpert-v1.0-small`: 1 and 2 in study s50 of patient p10
/// (MIMIC-style keys), 3 in study s51, 4 elsewhere; a human label on pair 3.
fn setup() -> Result<(tempfile::TempDir, Connection)> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let mut conn = store::open(&dir.path().join("t.db"))?;
    schema::upsert(&conn, &SchemaDef::chexpert()?)?;
    conn.execute_batch(
        "INSERT INTO corpora (id, root, name, layout) VALUES (1, '/data/CheXpert-v1.0-small', 'c', 'stem');
         INSERT INTO patients (id, corpus_id, key) VALUES (1, 1, '10');
         INSERT INTO studies (id, corpus_id, patient_id, key) VALUES (1, 1, 1, '50'), (2, 1, 1, '51');
         INSERT INTO images (id, corpus_id, path, size, mtime_ns, hash, width, height, format, bits, dhash) VALUES
           (1, 1, 'train/patient1/study1/view1_frontal.jpg', 1, 1, 'h', 1, 1, 'jpeg', 8, 0),
           (2, 1, 'train/patient1/study1/view2_lateral.jpg', 1, 1, 'h', 1, 1, 'jpeg', 8, 0),
           (3, 1, 'train/patient1/study2/view1_frontal.jpg', 1, 1, 'h', 1, 1, 'jpeg', 8, 0),
           (4, 1, 'valid/patient2/study1/view1_frontal.jpg', 1, 1, 'h', 1, 1, 'jpeg', 8, 0);
         INSERT INTO pairs (id, corpus_id, image_id, study_id, patient_id) VALUES
           (1, 1, 1, 1, 1), (2, 1, 2, 1, 1), (3, 1, 3, 2, 1), (4, 1, 4, NULL, NULL);",
    )?;
    labels::set_human(&mut conn, 3, "chexpert", "Edema", Some(0), "ann")?;
    Ok((dir, conn))
}

fn value(conn: &Connection, pair: i64, class: &str) -> Result<Option<(i8, String)>> {
    Ok(current(conn, pair, "chexpert")?
        .into_iter()
        .find(|l| l.class == class)
        .map(|l| (l.value, l.source.as_str().to_owned())))
}

fn from_text(name: &str, text: &str) -> ImportOptions {
    ImportOptions {
        content: Some(text.to_owned()),
        name: Some(name.to_owned()),
        ..ImportOptions::default()
    }
}

const CHEXPERT: &str = "Path,Sex,Age,Frontal/Lateral,AP/PA,No Finding,Enlarged Cardiomediastinum,Cardiomegaly,Lung Opacity,Lung Lesion,Edema,Consolidation,Pneumonia,Atelectasis,Pneumothorax,Pleural Effusion,Pleural Other,Fracture,Support Devices
CheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg,Female,68,Frontal,AP,,,1.0,,,-1.0,,,,,,,,
/data/CheXpert-v1.0-small/train/patient1/study2/view1_frontal.jpg,Male,50,Frontal,PA,,,,,,1.0,,,,,,,,1.0
CheXpert-v1.0-small/train/patient9/study1/view1_frontal.jpg,Male,50,Frontal,PA,,,1.0,,,,,,,,,,,
CheXpert-v1.0-small/train/patient1/study1/view2_lateral.jpg,Male,50,Lateral,,,,2.0,,,,,,,,,,,
CheXpert-v1.0-small/train/patient1/study1/view1_frontal.jpg,Female,68,Frontal,AP,,,0.0,,,,,,,,,,,
/elsewhere/valid/patient2/study1/view1_frontal.jpg,,,,,,,1.0,,,,,,,,,,,
";

#[test]
fn a_chexpert_csv_is_matched_by_path_and_its_bad_rows_are_listed() -> Result<()> {
    let (_d, mut conn) = setup()?;
    let s = import_labels(&mut conn, &from_text("train.csv", CHEXPERT), &Silent)?;
    assert_eq!(s.format, ImportFormat::ChexpertCsv);
    assert_eq!((s.rows, s.matched, s.pairs), (6, 2, 2));
    assert_eq!((s.unmatched, s.errors, s.duplicates), (2, 1, 1));
    // The row lines: the header is line 1.
    let lines = |rows: &[ImportRow]| rows.iter().map(|r| r.line).collect::<Vec<_>>();
    assert_eq!(
        lines(&s.unmatched_rows),
        [4, 7],
        "an absolute path outside the root is no match"
    );
    assert_eq!(lines(&s.error_rows), [5]);
    assert!(
        s.error_rows[0].message.contains("\"2.0\""),
        "{:?}",
        s.error_rows
    );
    assert_eq!(lines(&s.duplicate_rows), [6]);
    assert_eq!(
        s.ignored_columns,
        ["Sex", "Age", "Frontal/Lateral", "AP/PA"]
    );
    assert_eq!(value(&conn, 1, "Cardiomegaly")?, Some((1, "import".into())));
    assert_eq!(value(&conn, 1, "Edema")?, Some((-1, "import".into())));
    // A person's label stays current over an imported one; blanks change nothing.
    assert_eq!(value(&conn, 3, "Edema")?, Some((0, "human".into())));
    assert_eq!(
        value(&conn, 3, "Support Devices")?,
        Some((1, "import".into()))
    );
    assert_eq!(value(&conn, 3, "Cardiomegaly")?, None);
    assert_eq!(s.changes, 4);
    Ok(())
}

#[test]
fn a_mimic_file_labels_every_image_of_the_study_and_undoes_as_one_step() -> Result<()> {
    let (_d, mut conn) = setup()?;
    let text = "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,Enlarged Cardiomediastinum,Fracture,Lung Lesion,Lung Opacity,No Finding,Pleural Effusion,Pleural Other,Pneumonia,Pneumothorax,Support Devices
10,50,,1.0,,,,,,,,,,,,
10,99,,1.0,,,,,,,,,,,,
10,51,,0.0,,,,,,,,,,,,
10,50,,1.0,,,,,,,,,,,,
10,51,,,,maybe,,,,,,,,,,
";
    let s = import_labels(
        &mut conn,
        &from_text("mimic-cxr-2.0.0-chexpert.csv", text),
        &Silent,
    )?;
    assert_eq!(s.format, ImportFormat::MimicChexpert);
    assert_eq!(
        (s.matched, s.pairs, s.unmatched, s.duplicates, s.errors),
        (2, 3, 1, 1, 1)
    );
    assert_eq!(s.error_rows[0].line, 6);
    assert!(
        s.error_rows[0].message.contains("Edema"),
        "{:?}",
        s.error_rows
    );
    for pair in [1, 2] {
        assert_eq!(
            value(&conn, pair, "Cardiomegaly")?,
            Some((1, "import".into()))
        );
    }
    assert_eq!(value(&conn, 3, "Cardiomegaly")?, Some((0, "import".into())));
    let listed = imports(&conn)?;
    assert_eq!((listed[0].id, listed[0].undone), (s.import_id, false));
    let undone = undo_import(&mut conn, s.import_id, "ann")?;
    assert_eq!(undone.reverted, 3);
    for pair in [1, 2, 3] {
        assert_eq!(value(&conn, pair, "Cardiomegaly")?, None);
    }
    assert!(imports(&conn)?[0].undone);
    // Nothing left to undo the second time.
    assert_eq!(undo_import(&mut conn, s.import_id, "ann")?.reverted, 0);
    assert_eq!(
        undo_import(&mut conn, 77, "ann").err().map(|e| e.kind()),
        Some("not_found")
    );
    Ok(())
}

#[test]
fn human_imports_undo_with_the_annotators_undo_and_never_overwrite_later_work() -> Result<()> {
    let (_d, mut conn) = setup()?;
    let text = "{\"pair_id\": 1, \"Cardiomegaly\": 1, \"Edema\": 0}\n{\"pair_id\": 2, \"labels\": {\"Edema\": -1}}\n{\"pair_id\": 404, \"Edema\": 1}\n";
    let opts = ImportOptions {
        source: ImportSource::Human,
        annotator: Some("rad".into()),
        ..from_text("labels.jsonl", text)
    };
    let s = import_labels(&mut conn, &opts, &Silent)?;
    assert_eq!(
        (s.format, s.matched, s.unmatched, s.changes),
        (ImportFormat::Jsonl, 2, 1, 3)
    );
    assert_eq!(value(&conn, 2, "Edema")?, Some((-1, "human".into())));
    // The annotator's undo takes back the whole import, and redo puts it back.
    let ev = undo(&mut conn, "rad")?.expect("undone");
    assert_eq!(ev.import_id, Some(s.import_id));
    assert_eq!(value(&conn, 1, "Cardiomegaly")?, None);
    assert_eq!(value(&conn, 2, "Edema")?, None);
    labels::redo(&mut conn, "rad")?;
    assert_eq!(value(&conn, 1, "Cardiomegaly")?, Some((1, "human".into())));
    // Someone changes one of its labels: undoing the import is refused, nothing changes.
    labels::set_human(&mut conn, 2, "chexpert", "Edema", Some(1), "other")?;
    let err = undo_import(&mut conn, s.import_id, "rad").err();
    assert_eq!(err.map(|e| e.kind()), Some("conflict"));
    assert_eq!(value(&conn, 1, "Cardiomegaly")?, Some((1, "human".into())));
    // Without an annotator, a human import is refused.
    let no_one = ImportOptions {
        source: ImportSource::Human,
        ..from_text("labels.jsonl", text)
    };
    assert!(import_labels(&mut conn, &no_one, &Silent).is_err());
    Ok(())
}

#[test]
fn a_file_without_class_columns_or_keys_is_refused_whole() -> Result<()> {
    let (_d, mut conn) = setup()?;
    let none = from_text("x.csv", "pair_id,Sex\n1,F\n");
    let err = import_labels(&mut conn, &none, &Silent)
        .err()
        .map(|e| e.to_string());
    assert!(
        err.unwrap_or_default()
            .contains("no column of the file is a class")
    );
    let no_key = from_text("x.csv", "Edema\n1\n");
    let err = import_labels(&mut conn, &no_key, &Silent)
        .err()
        .map(|e| e.to_string());
    assert!(err.unwrap_or_default().contains("pair_id"));
    assert!(
        imports(&conn)?.is_empty(),
        "a refused file records no import"
    );
    Ok(())
}
