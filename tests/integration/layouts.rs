//! Every corpus layout, with exact counts, pairings and ids.

use crate::util::{Env, assert_counts};

#[test]
fn stem_pairs_same_stem_files() {
    stem_pairs_same_stem_files_with(&[]);
}

/// The same with every folder a piece of its own of the streamed plan.
#[test]
fn stem_pairs_same_stem_files_folder_by_folder() {
    stem_pairs_same_stem_files_with(&["--segment-files", "1"]);
}

fn stem_pairs_same_stem_files_with(extra: &[&str]) {
    let env = Env::new();
    env.png("a.png", 1);
    env.write("a.txt", "FINDINGS: Heart is normal.\nIMPRESSION: Normal.");
    env.jpeg("b.jpg", 2);
    env.write("b.md", "Small left pleural effusion.");
    env.png("nested/c.png", 3);
    env.write("nested/c.txt", "IMPRESSION: Cardiomegaly.");
    env.png("lonely.png", 4);
    env.write("orphan.txt", "A report with no image.");
    let v = env.index(extra);
    assert_eq!(v["layout"], "stem");
    assert_counts(
        &v,
        &[
            ("pairs", 3),
            ("images", 4),
            ("reports", 4),
            ("unpaired_images", 1),
            ("unpaired_reports", 1),
            ("errors", 0),
            ("unchanged", 0),
            ("missing", 0),
        ],
    );
    let rows = env.query(
        "SELECT i.path, COALESCE(r.source, '-') FROM pairs p JOIN images i ON i.id = p.image_id
         LEFT JOIN reports r ON r.id = p.report_id ORDER BY i.path",
    );
    assert_eq!(
        rows,
        vec![
            vec!["a.png", "a.txt"],
            vec!["b.jpg", "b.md"],
            vec!["lonely.png", "-"],
            vec!["nested/c.png", "nested/c.txt"],
        ]
    );
    let sections = env.query("SELECT findings, impression FROM reports WHERE source = 'a.txt'");
    assert_eq!(sections, vec![vec!["Heart is normal.", "Normal."]]);
    let dims = env.query("SELECT width, height, format, bits FROM images WHERE path = 'b.jpg'");
    assert_eq!(dims, vec![vec!["40", "30", "jpeg", "8"]]);
}

#[test]
fn folders_with_splits_become_classes_and_an_imported_split() {
    folders_with_splits_become_classes_and_an_imported_split_with(&[]);
}

/// The same with every folder a piece of its own of the streamed plan.
#[test]
fn folders_with_splits_become_classes_and_an_imported_split_folder_by_folder() {
    folders_with_splits_become_classes_and_an_imported_split_with(&["--segment-files", "1"]);
}

fn folders_with_splits_become_classes_and_an_imported_split_with(extra: &[&str]) {
    let env = Env::new();
    env.png("train/cat/1.png", 1);
    env.png("train/cat/2.png", 2);
    env.png("train/dog/3.png", 3);
    env.png("valid/dog/4.png", 4);
    env.png("test/cat/5.png", 5);
    env.png("test/bird/6.png", 6);
    env.png("test/7.png", 7); // not in a class folder
    let v = env.index(extra);
    assert_eq!(v["layout"], "folders");
    assert_counts(
        &v,
        &[
            ("pairs", 0),
            ("images", 6),
            ("reports", 0),
            ("unpaired_images", 6),
            ("errors", 1),
        ],
    );
    assert_eq!(
        env.errors(),
        vec![("test/7.png".to_string(), "layout".to_string())]
    );
    let labels = env.query(
        "SELECT i.path, s.name, s.kind, l.class, l.value, l.source FROM labels l
         JOIN pairs p ON p.id = l.pair_id JOIN images i ON i.id = p.image_id
         JOIN schemas s ON s.id = l.schema_id ORDER BY i.path",
    );
    let expect = [
        ("test/bird/6.png", "bird"),
        ("test/cat/5.png", "cat"),
        ("train/cat/1.png", "cat"),
        ("train/cat/2.png", "cat"),
        ("train/dog/3.png", "dog"),
        ("valid/dog/4.png", "dog"),
    ];
    assert_eq!(labels.len(), expect.len());
    for (row, (path, class)) in labels.iter().zip(expect) {
        assert_eq!(
            row,
            &vec![path, "class", "multi-class", class, "1", "import"]
        );
    }
    let classes = env.query(
        "SELECT c.name FROM schema_classes c JOIN schemas s ON s.id = c.schema_id
         WHERE s.name = 'class' ORDER BY c.position",
    );
    assert_eq!(classes, vec![vec!["bird"], vec!["cat"], vec!["dog"]]);
    let parts = env.query(
        "SELECT m.part, COUNT(*) FROM split_members m JOIN splits s ON s.id = m.split_id
         WHERE s.name = 'imported' GROUP BY m.part ORDER BY m.part",
    );
    assert_eq!(
        parts,
        vec![vec!["test", "2"], vec!["train", "3"], vec!["val", "1"]]
    );
}

#[test]
fn folders_without_splits() {
    folders_without_splits_with(&[]);
}

/// The same with every folder a piece of its own of the streamed plan.
#[test]
fn folders_without_splits_folder_by_folder() {
    folders_without_splits_with(&["--segment-files", "1"]);
}

fn folders_without_splits_with(extra: &[&str]) {
    let env = Env::new();
    env.png("normal/1.png", 1);
    env.png("normal/2.png", 2);
    env.jpeg("effusion/3.jpg", 3);
    let v = env.index(&[&["--layout", "folders"], extra].concat());
    assert_counts(&v, &[("images", 3), ("errors", 0)]);
    let labels = env.query("SELECT class, COUNT(*) FROM labels GROUP BY class ORDER BY class");
    assert_eq!(labels, vec![vec!["effusion", "1"], vec!["normal", "2"]]);
    assert_eq!(env.query("SELECT COUNT(*) FROM splits"), vec![vec!["0"]]);
}

#[test]
fn mimic_studies_share_their_report() {
    mimic_studies_share_their_report_with(&[]);
}

/// The same with every folder a piece of its own of the streamed plan.
#[test]
fn mimic_studies_share_their_report_folder_by_folder() {
    mimic_studies_share_their_report_with(&["--segment-files", "1"]);
}

fn mimic_studies_share_their_report_with(extra: &[&str]) {
    let env = Env::new();
    env.jpeg("files/p10/p10000032/s50414267/img-a.jpg", 1);
    env.jpeg("files/p10/p10000032/s50414267/img-b.jpg", 2);
    env.write(
        "files/p10/p10000032/s50414267.txt",
        "                                 FINAL REPORT\n FINDINGS: No pleural effusion.\n IMPRESSION: Normal chest.\n",
    );
    env.jpeg("files/p10/p10000032/s53189527/img-c.jpg", 3);
    env.write(
        "files/p10/p10000032/s53189527.txt",
        "IMPRESSION: Cardiomegaly.",
    );
    env.jpeg("files/p11/p11000011/s51111111/img-d.jpg", 4); // report missing
    env.write(
        "files/p12/p12000012/s52222222.txt",
        "IMPRESSION: No image for this study.",
    );
    env.jpeg("files/p10/stray.jpg", 5); // not in a study folder
    env.write("mimic-cxr-2.0.0-metadata.csv", "dicom_id,subject_id\nx,1\n");
    let v = env.index(extra);
    assert_eq!(v["layout"], "mimic");
    assert_counts(
        &v,
        &[
            ("pairs", 3),
            ("images", 4),
            ("reports", 3),
            ("unpaired_images", 1),
            ("unpaired_reports", 1),
            ("errors", 1),
        ],
    );
    assert_eq!(
        env.errors(),
        vec![("files/p10/stray.jpg".to_string(), "layout".to_string())]
    );
    let rows = env.query(
        "SELECT i.path, pt.key, s.key, COALESCE(r.source, '-') FROM pairs p
         JOIN images i ON i.id = p.image_id JOIN patients pt ON pt.id = p.patient_id
         JOIN studies s ON s.id = p.study_id LEFT JOIN reports r ON r.id = p.report_id
         ORDER BY i.path",
    );
    assert_eq!(
        rows,
        vec![
            vec![
                "files/p10/p10000032/s50414267/img-a.jpg",
                "10000032",
                "50414267",
                "files/p10/p10000032/s50414267.txt"
            ],
            vec![
                "files/p10/p10000032/s50414267/img-b.jpg",
                "10000032",
                "50414267",
                "files/p10/p10000032/s50414267.txt"
            ],
            vec![
                "files/p10/p10000032/s53189527/img-c.jpg",
                "10000032",
                "53189527",
                "files/p10/p10000032/s53189527.txt"
            ],
            vec![
                "files/p11/p11000011/s51111111/img-d.jpg",
                "11000011",
                "51111111",
                "-"
            ],
        ]
    );
    assert_eq!(env.query("SELECT COUNT(*) FROM patients"), vec![vec!["2"]]);
    assert_eq!(env.query("SELECT COUNT(*) FROM studies"), vec![vec!["3"]]);
}

const OPENI: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meSH><major>Cardiomegaly/mild</major><major>Pulmonary Atelectasis/base/left</major></meSH>
  <MedlineCitation><Article><Abstract>
    <AbstractText Label="COMPARISON">None.</AbstractText>
    <AbstractText Label="FINDINGS">The heart is mildly enlarged. Left basilar atelectasis.</AbstractText>
    <AbstractText Label="IMPRESSION">Mild cardiomegaly.</AbstractText>
  </Abstract></Article></MedlineCitation>
  <uId id="CXR1"/>
  <parentImage id="CXR1_1_IM-0001-3001"><figureId>F1</figureId></parentImage>
  <parentImage id="CXR1_1_IM-0001-4001"><figureId>F2</figureId></parentImage>
</eCitation>"#;

#[test]
fn iu_xml_reports_images_and_mesh_tags() {
    let env = Env::new();
    env.write("ecgen-radiology/1.xml", OPENI);
    env.write(
        "ecgen-radiology/2.xml",
        OPENI
            .replace("CXR1", "CXR2")
            .replace("<major>Cardiomegaly/mild</major>", "<major>normal</major>"),
    );
    env.write(
        "ecgen-radiology/3.xml",
        r#"<eCitation><MedlineCitation><Article><Abstract><AbstractText Label="IMPRESSION">No acute disease.</AbstractText></Abstract></Article></MedlineCitation><uId id="CXR3"/><parentImage id="CXR3_IM-9"/></eCitation>"#,
    );
    env.write("ecgen-radiology/4.xml", "<eCitation><AbstractText>broken");
    env.png("images/CXR1_1_IM-0001-3001.png", 1);
    env.png("images/CXR1_1_IM-0001-4001.png", 2);
    env.png("images/more/CXR2_1_IM-0001-3001.png", 3);
    env.png("images/CXR2_1_IM-0001-4001.png", 4);
    env.png("images/unreferenced.png", 5);
    let v = env.index(&[]);
    assert_eq!(v["layout"], "iu-xml");
    assert_counts(
        &v,
        &[
            ("pairs", 4),
            ("images", 5),
            ("reports", 3),
            ("unpaired_images", 1),
            ("unpaired_reports", 1),
            ("errors", 2),
        ],
    );
    assert_eq!(
        env.errors(),
        vec![
            (
                "ecgen-radiology/3.xml".to_string(),
                "missing_file".to_string()
            ),
            ("ecgen-radiology/4.xml".to_string(), "report".to_string()),
        ]
    );
    let report = env.query(
        "SELECT text, findings, impression FROM reports WHERE source = 'ecgen-radiology/1.xml'",
    );
    assert_eq!(
        report,
        vec![vec![
            "COMPARISON: None.\nFINDINGS: The heart is mildly enlarged. Left basilar atelectasis.\nIMPRESSION: Mild cardiomegaly.",
            "The heart is mildly enlarged. Left basilar atelectasis.",
            "Mild cardiomegaly."
        ]]
    );
    let tags = env.query(
        "SELECT r.source, t.name FROM report_tags rt JOIN tags t ON t.id = rt.tag_id
         JOIN reports r ON r.id = rt.report_id ORDER BY r.source, t.name",
    );
    assert_eq!(
        tags,
        vec![
            vec!["ecgen-radiology/1.xml", "Cardiomegaly/mild"],
            vec!["ecgen-radiology/1.xml", "Pulmonary Atelectasis/base/left"],
            vec!["ecgen-radiology/2.xml", "Pulmonary Atelectasis/base/left"],
            vec!["ecgen-radiology/2.xml", "normal"],
        ]
    );
    let pairs = env.query(
        "SELECT i.path, r.source, s.key FROM pairs p JOIN images i ON i.id = p.image_id
         JOIN reports r ON r.id = p.report_id JOIN studies s ON s.id = p.study_id ORDER BY i.path",
    );
    assert_eq!(
        pairs,
        vec![
            vec![
                "images/CXR1_1_IM-0001-3001.png",
                "ecgen-radiology/1.xml",
                "CXR1"
            ],
            vec![
                "images/CXR1_1_IM-0001-4001.png",
                "ecgen-radiology/1.xml",
                "CXR1"
            ],
            vec![
                "images/CXR2_1_IM-0001-4001.png",
                "ecgen-radiology/2.xml",
                "CXR2"
            ],
            vec![
                "images/more/CXR2_1_IM-0001-3001.png",
                "ecgen-radiology/2.xml",
                "CXR2"
            ],
        ]
    );
}

#[test]
fn csv_manifest_with_labels_ids_splits_and_bad_rows() {
    let env = Env::new();
    env.png("img/1.png", 1);
    env.png("img/2.png", 2);
    env.png("img/3.png", 3);
    env.png("img/4.png", 4);
    env.write("reports/4.txt", "FINDINGS: Right pneumothorax.");
    env.write(
        "manifest.csv",
        "image,report,report_path,patient_id,study_id,split,Cardiomegaly,Pleural Effusion\n\
         img/1.png,\"Cardiomegaly.\nNo effusion, none.\",,P1,S1,train,1.0,0.0\n\
         img/2.png,\"Possible \"\"small\"\" effusion.\",,P1,S2,test,,-1\n\
         img/3.png,,,P2,S3,val,0,maybe\n\
         img/4.png,,reports/4.txt,P3,S4,train,,\n\
         img/missing.png,text,,P4,S5,train,1,1\n\
         img/1.png,again,,P1,S1,train,1,1\n\
         img/2.png,too,many,cells,here,x,y,z,extra\n",
    );
    let v = env.index(&[]);
    assert_eq!(v["layout"], "manifest");
    assert_counts(
        &v,
        &[
            ("pairs", 3),
            ("images", 4),
            ("reports", 3),
            ("unpaired_images", 1),
            ("unpaired_reports", 0),
            ("errors", 5),
        ],
    );
    assert_eq!(
        env.errors(),
        vec![
            ("img/missing.png".to_string(), "missing_file".to_string()),
            ("manifest.csv:5".to_string(), "empty_report".to_string()),
            ("manifest.csv:5".to_string(), "manifest".to_string()),
            ("manifest.csv:8".to_string(), "manifest".to_string()),
            ("manifest.csv:9".to_string(), "manifest".to_string()),
        ]
    );
    let labels = env.query(
        "SELECT i.path, s.name, l.class, l.value FROM labels l JOIN pairs p ON p.id = l.pair_id
         JOIN images i ON i.id = p.image_id JOIN schemas s ON s.id = l.schema_id
         ORDER BY i.path, l.class",
    );
    assert_eq!(
        labels,
        vec![
            vec!["img/1.png", "chexpert", "Cardiomegaly", "1"],
            vec!["img/1.png", "chexpert", "Pleural Effusion", "0"],
            vec!["img/2.png", "chexpert", "Pleural Effusion", "-1"],
            vec!["img/3.png", "chexpert", "Cardiomegaly", "0"],
        ]
    );
    let meta = env.query(
        "SELECT i.path, pt.key, s.key, m.part, COALESCE(r.text, '-') FROM pairs p
         JOIN images i ON i.id = p.image_id JOIN patients pt ON pt.id = p.patient_id
         JOIN studies s ON s.id = p.study_id JOIN split_members m ON m.pair_id = p.id
         LEFT JOIN reports r ON r.id = p.report_id ORDER BY i.path",
    );
    assert_eq!(
        meta,
        vec![
            vec![
                "img/1.png",
                "P1",
                "S1",
                "train",
                "Cardiomegaly.\nNo effusion, none."
            ],
            vec![
                "img/2.png",
                "P1",
                "S2",
                "test",
                "Possible \"small\" effusion."
            ],
            vec!["img/3.png", "P2", "S3", "val", "-"],
            vec![
                "img/4.png",
                "P3",
                "S4",
                "train",
                "FINDINGS: Right pneumothorax."
            ],
        ]
    );
}

#[test]
fn jsonl_manifest_given_explicitly() {
    let env = Env::new();
    env.png("a.png", 1);
    env.png("b b/ü.png", 2);
    let manifest = env.write(
        "meta/list.jsonl",
        "{\"image\": \"a.png\", \"report\": \"Edema.\", \"patient_id\": 7, \"Edema\": 1, \"Other\": null}\n\
         \n\
         {\"image\": \"b b/ü.png\", \"report\": \"Clear.\", \"Edema\": \"0\"}\n\
         not json\n",
    );
    let m = manifest.to_string_lossy().into_owned();
    let v = env.index(&["--layout", "manifest", "--manifest", &m]);
    assert_eq!(v["layout"], "manifest");
    assert_counts(
        &v,
        &[("pairs", 2), ("images", 2), ("reports", 2), ("errors", 1)],
    );
    assert_eq!(
        env.errors(),
        vec![("meta/list.jsonl:4".to_string(), "manifest".to_string())]
    );
    let labels = env.query(
        "SELECT i.path, s.name, l.class, l.value FROM labels l JOIN pairs p ON p.id = l.pair_id
         JOIN images i ON i.id = p.image_id JOIN schemas s ON s.id = l.schema_id ORDER BY i.path",
    );
    assert_eq!(
        labels,
        vec![
            vec!["a.png", "manifest", "Edema", "1"],
            vec!["b b/ü.png", "manifest", "Edema", "0"],
        ]
    );
    assert_eq!(env.query("SELECT key FROM patients"), vec![vec!["7"]]);
}

/// A folder is cut into pieces of a streamed plan only between names that cannot pair:
/// with a piece as small as one file, same-stem files still pair, and so do stems with
/// dots in them.
#[test]
fn a_folder_is_cut_only_between_files_that_cannot_pair() {
    let env = Env::new();
    for (stem, seed) in [("x", 1u8), ("x.y", 2), ("x-1", 3), ("xa", 4)] {
        env.png(&format!("{stem}.png"), seed);
        env.write(&format!("{stem}.txt"), format!("IMPRESSION: case {stem}."));
    }
    env.write("x.md", "A second report for x.");
    let v = env.index(&["--segment-files", "1"]);
    assert_counts(&v, &[("pairs", 4), ("images", 4), ("unpaired_images", 0)]);
    let rows = env.query(
        "SELECT i.path, r.source FROM pairs p JOIN images i ON i.id = p.image_id
         JOIN reports r ON r.id = p.report_id ORDER BY i.path",
    );
    assert_eq!(
        rows,
        vec![
            vec!["x-1.png", "x-1.txt"],
            vec!["x.png", "x.txt"],
            vec!["x.y.png", "x.y.txt"],
            vec!["xa.png", "xa.txt"],
        ]
    );
    assert_eq!(
        env.errors(),
        vec![("x.md".to_string(), "layout".to_string())],
        "the second report of x is said, as when planned whole"
    );
}
