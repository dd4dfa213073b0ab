//! `pairlab demo`: a built-in synthetic paired corpus in the MIMIC-CXR layout. Images are
//! chest-radiograph-like pictures whose content follows their findings; reports state
//! them positively, negated or uncertain. A `truth.csv` beside `files/` records both.

pub mod agreement;
pub mod bench_corpus;
pub mod big_library;
pub mod cases;
pub mod tour;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::dicom::{self, DicomPixels, DicomSpec};
use cases::{Case, FINDINGS, Rng};

/// Marks a folder as written by `pairlab demo`, with the settings used.
const MARKER: &str = ".pairlab-demo";
/// Side of the demo images, in pixels.
pub const IMAGE_SIZE: u32 = 320;

#[derive(Clone, Debug, Serialize)]
pub struct DemoCorpus {
    pub root: PathBuf,
    pub patients: u32,
    pub studies: u32,
    pub images: u32,
    pub dicom_images: u32,
    /// True when an existing demo folder with the same settings was reused.
    pub reused: bool,
}

/// Writes the demo corpus with `patients` patients into `dir`. A folder already holding a
/// demo with the same settings is reused; any other non-empty folder is refused.
pub fn write_corpus(dir: &Path, patients: u32, seed: u64) -> Result<DemoCorpus> {
    let settings = format!("patients={patients} seed={seed} size={IMAGE_SIZE} v2\n");
    let marker = dir.join(MARKER);
    if let Some(existing) = reuse_or_clear(dir, patients, &settings)? {
        return Ok(existing);
    }
    let mut rng = Rng::new(seed);
    let mut truth = truth_header();
    let mut out = DemoCorpus {
        root: dir.to_owned(),
        patients,
        studies: 0,
        images: 0,
        dicom_images: 0,
        reused: false,
    };
    for p in 0..patients {
        let subject = 10_000_000 + p * 37 + 1;
        let group = format!("p{}", subject / 1_000_000);
        let studies = 1 + rng.below(3) as u32;
        for _ in 0..studies {
            out.studies += 1;
            let study = 50_000_000 + out.studies * 101;
            let case = Case::random(&mut rng);
            let report = cases::write_report(&case, &mut rng);
            let study_dir = dir
                .join("files")
                .join(&group)
                .join(format!("p{subject}"))
                .join(format!("s{study}"));
            std::fs::create_dir_all(&study_dir).map_err(|e| Error::io(&study_dir, e))?;
            let report_path = study_dir.with_extension("txt");
            std::fs::write(&report_path, &report.text).map_err(|e| Error::io(&report_path, e))?;
            let views: &[&str] = if rng.chance(0.5) {
                &["PA", "AP"]
            } else {
                &["AP"]
            };
            for view in views {
                let img = cases::render(&case, IMAGE_SIZE, &mut rng);
                // Every ninth image is written as DICOM, to show both kinds side by side.
                let as_dicom = out.images % 9 == 4;
                let name = format!(
                    "{}-{view}.{}",
                    out.images + 1,
                    if as_dicom { "dcm" } else { "png" }
                );
                let path = study_dir.join(&name);
                if as_dicom {
                    save_dicom(img, &path, subject, study, view)?;
                    out.dicom_images += 1;
                } else {
                    img.save(&path)
                        .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
                }
                out.images += 1;
                let rel = format!("files/{group}/p{subject}/s{study}/{name}");
                let _ = write!(truth, "{rel},{subject},{study},{view}");
                push_truth_labels(&mut truth, &case, &report);
            }
        }
    }
    let truth_path = dir.join("truth.csv");
    std::fs::write(&truth_path, truth).map_err(|e| Error::io(&truth_path, e))?;
    std::fs::write(&marker, settings).map_err(|e| Error::io(&marker, e))?;
    Ok(out)
}

/// Checks `dir` before writing: the existing demo when it holds one with the same
/// `settings`, else clears an older demo's files; refuses a folder holding anything else.
fn reuse_or_clear(dir: &Path, patients: u32, settings: &str) -> Result<Option<DemoCorpus>> {
    let marker = dir.join(MARKER);
    if dir.exists() {
        let same = std::fs::read_to_string(&marker).is_ok_and(|m| m == settings);
        let empty = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .next()
            .is_none();
        if !same && !empty && !marker.exists() {
            return Err(Error::Invalid(format!(
                "{} is not empty and holds no Pairlab demo; choose another --dir",
                dir.display()
            )));
        }
        if same {
            return Ok(Some(count_existing(dir, patients)));
        }
        if marker.exists() {
            let files = dir.join("files");
            if files.exists() {
                std::fs::remove_dir_all(&files).map_err(|e| Error::io(&files, e))?;
            }
        }
    }
    Ok(None)
}

/// The header line of `truth.csv`: the image's ids, then per finding what the image
/// shows and what the report says, then the report's No Finding.
fn truth_header() -> String {
    let mut truth = String::from("path,patient_id,study_id,view");
    for f in FINDINGS {
        let _ = write!(truth, ",{f} (image),{f} (report)");
    }
    truth.push_str(",No Finding (report)\n");
    truth
}

/// Ends a `truth.csv` row with what the case shows and what its report states.
fn push_truth_labels(truth: &mut String, case: &Case, report: &cases::Report) {
    for (i, present) in case.present.iter().enumerate() {
        let stated = report.stated[i].map(|v| v.to_string()).unwrap_or_default();
        let _ = write!(truth, ",{},{stated}", u8::from(*present));
    }
    let nf = report.no_finding.map(|v| v.to_string()).unwrap_or_default();
    let _ = writeln!(truth, ",{nf}");
}

/// Writes one demo image as an 8-bit DICOM file with its patient, study and view.
fn save_dicom(
    img: image::GrayImage,
    path: &Path,
    subject: u32,
    study: u32,
    view: &str,
) -> Result<()> {
    let patient_id = subject.to_string();
    let study_uid = format!("1.2.826.0.1.3680043.10.{study}");
    let spec = DicomSpec {
        width: img.width(),
        height: img.height(),
        pixels: DicomPixels::Mono8(img.into_raw()),
        photometric: "MONOCHROME2",
        rescale: None,
        window: None,
        patient_id: Some(&patient_id),
        study_uid: Some(&study_uid),
        view: Some(view),
    };
    dicom::write_dicom(path, &spec).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
}

fn count_existing(dir: &Path, patients: u32) -> DemoCorpus {
    let mut out = DemoCorpus {
        root: dir.to_owned(),
        patients,
        studies: 0,
        images: 0,
        dicom_images: 0,
        reused: true,
    };
    for e in walkdir::WalkDir::new(dir.join("files"))
        .into_iter()
        .flatten()
    {
        let name = e.file_name().to_string_lossy();
        if name.ends_with(".txt") {
            out.studies += 1;
        } else if name.ends_with(".png") {
            out.images += 1;
        } else if name.ends_with(".dcm") {
            out.images += 1;
            out.dicom_images += 1;
        }
    }
    out
}

/// Writes the demo corpus under `dir/corpus`, indexes it into a library at `dir/lib` and
/// pre-labels its reports with the rule labeler; returns the library folder. The fixture
/// of the front ends' tests (server, desktop shell).
pub fn prelabelled_library(dir: &Path, patients: u32, seed: u64) -> Result<PathBuf> {
    let corpus = dir.join("corpus");
    write_corpus(&corpus, patients, seed)?;
    let lib_dir = dir.join("lib");
    let mut lib = crate::Library::open(&lib_dir)?;
    lib.index(
        &corpus,
        &crate::ingest::IndexOptions::default(),
        &crate::progress::Silent,
    )?;
    let labeler = lib.labeler_for("chexpert")?;
    lib.prelabel_reports(&labeler, "chexpert", &crate::progress::Silent)?;
    Ok(lib_dir)
}

/// Splits the library at `lib_dir` by patient into train / val / test (60 / 20 / 20,
/// seed 1) under `name`: the split the front ends' tests train on.
pub fn split_by_patient(lib_dir: &Path, name: &str) -> Result<()> {
    let mut lib = crate::Library::open(lib_dir)?;
    lib.make_split(&crate::splits::SplitOptions {
        name: name.into(),
        strategy: crate::splits::Strategy::Patient,
        parts: vec![
            ("train".into(), 0.6),
            ("val".into(), 0.2),
            ("test".into(), 0.2),
        ],
        seed: 1,
        stratify: None,
        freeze: false,
    })?;
    Ok(())
}
