//! Corpus layouts: how images, reports, patients, studies, splits and labels are found on
//! disk. Each layout turns a folder into a [`Plan`]; the ingest engine does the rest.

mod folders;
pub mod iu_xml;
mod manifest;
mod mimic;
mod stem;
mod stream;

pub use stream::{Source, Survey, stream};

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::scan::{self, FileRef};
use super::{ErrorKind, IngestError};
use crate::error::{Error, Result};

/// A corpus layout, as chosen on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    Auto,
    Stem,
    Folders,
    Mimic,
    IuXml,
    Manifest,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Auto => "auto",
            Layout::Stem => "stem",
            Layout::Folders => "folders",
            Layout::Mimic => "mimic",
            Layout::IuXml => "iu-xml",
            Layout::Manifest => "manifest",
        }
    }

    pub fn parse(s: &str) -> Result<Layout> {
        [
            Layout::Auto,
            Layout::Stem,
            Layout::Folders,
            Layout::Mimic,
            Layout::IuXml,
            Layout::Manifest,
        ]
        .into_iter()
        .find(|l| l.name() == s)
        .ok_or_else(|| {
            Error::Invalid(format!(
                "unknown layout {s:?}; expected auto, stem, folders, mimic, iu-xml or manifest"
            ))
        })
    }
}

/// Image file extensions Pairlab reads.
pub const IMAGE_EXTS: &[&str] = &[
    "png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp", "dcm", "dicom",
];
/// Report file extensions of the stem, folders and mimic layouts.
pub const REPORT_EXTS: &[&str] = &["txt", "md"];

pub fn is_image(f: &FileRef) -> bool {
    IMAGE_EXTS.contains(&f.ext().as_str())
}

pub fn is_report(f: &FileRef) -> bool {
    REPORT_EXTS.contains(&f.ext().as_str())
}

/// Where a report's text comes from.
#[derive(Clone, Debug)]
pub enum ReportContent {
    /// A text file, read (lossily if it is not UTF-8) by the engine.
    File(FileRef),
    /// Text already in hand (a manifest cell, a parsed XML file), with the file it came
    /// from when there is one, for change detection.
    Text { text: String, from: Option<FileRef> },
}

#[derive(Clone, Debug)]
pub struct PlannedReport {
    /// Unique within the corpus: the report file's relative path, or a manifest key.
    pub source: String,
    pub content: ReportContent,
    pub tags: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct PlannedImage {
    pub file: Option<FileRef>,
    /// `source` of the report this image pairs with.
    pub report: Option<String>,
    pub patient: Option<String>,
    pub study: Option<String>,
    /// Part of the imported split (train, val, test, ...).
    pub split: Option<String>,
    /// Imported labels: class → value (1, 0, -1).
    pub labels: Vec<(String, i8)>,
}

/// Labels that come with the corpus (folder classes, manifest columns).
#[derive(Clone, Debug)]
pub struct ImportedSchema {
    pub name: String,
    pub kind: crate::labels::SchemaKind,
    pub classes: Vec<String>,
}

/// What a layout found: the engine indexes exactly this.
#[derive(Debug)]
pub struct Plan {
    pub layout: Layout,
    pub images: Vec<PlannedImage>,
    pub reports: Vec<PlannedReport>,
    pub errors: Vec<IngestError>,
    pub schema: Option<ImportedSchema>,
}

impl Plan {
    fn new(layout: Layout, errors: Vec<IngestError>) -> Plan {
        Plan {
            layout,
            images: Vec::new(),
            reports: Vec::new(),
            errors,
            schema: None,
        }
    }
}

/// What to index at `root` in `layout` (detecting it for [`Layout::Auto`]): a manifest's
/// or IU X-ray XML's whole plan, or for the folder-local layouts a survey that
/// [`stream`] plans a piece at a time.
pub fn open(
    root: &Path,
    layout: Layout,
    manifest: Option<&Path>,
    skip: Option<&Path>,
) -> Result<Source> {
    let manifest_file = if layout == Layout::Manifest
        || (layout == Layout::Auto && manifest.is_some())
    {
        Some(match manifest {
            Some(m) => m.to_owned(),
            None => find_manifest(root)?.ok_or_else(|| {
                Error::Invalid(format!(
                    "no manifest given and none found in {}: pass --manifest FILE (CSV or JSONL with an `image` column)",
                    root.display()
                ))
            })?,
        })
    } else if layout == Layout::Auto {
        find_manifest(root)?
    } else {
        None
    };
    match (manifest_file, layout) {
        (Some(file), _) => Ok(Source::Whole(manifest::plan(root, &file)?)),
        (None, Layout::IuXml) => {
            let (files, errors) = scan::walk(root, skip);
            Ok(Source::Whole(iu_xml::plan(files, errors)))
        }
        (None, layout) => stream::survey(root, layout, skip),
    }
}

/// A CSV or JSONL file at the top of `root` whose header names an `image` column.
fn find_manifest(root: &Path) -> Result<Option<std::path::PathBuf>> {
    let entries = std::fs::read_dir(root).map_err(|e| Error::io(root, e))?;
    let mut found: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && manifest::is_manifest(p))
        .collect();
    found.sort();
    Ok(found.into_iter().next())
}

/// Groups files by (folder, stem) for same-stem pairing.
fn by_dir_stem(files: &[FileRef]) -> BTreeMap<(String, String), Vec<&FileRef>> {
    let mut map: BTreeMap<(String, String), Vec<&FileRef>> = BTreeMap::new();
    for f in files {
        map.entry((f.dir().to_owned(), f.stem()))
            .or_default()
            .push(f);
    }
    map
}

/// Pairs each image in `images` with a same-stem report among `files`, adding the reports
/// used to `plan` (each once). Returns one planned image per image.
fn pair_same_stem(plan: &mut Plan, files: &[FileRef]) -> Vec<PlannedImage> {
    let groups = by_dir_stem(files);
    let mut out = Vec::new();
    for group in groups.values() {
        // Prefer .txt over .md when both exist.
        let mut reports: Vec<&&FileRef> = group.iter().filter(|f| is_report(f)).collect();
        reports.sort_by_key(|f| f.ext() != "txt");
        let report = reports.first().map(|r| FileRef::clone(r));
        for extra in reports.iter().skip(1) {
            plan.errors.push(IngestError::new(
                extra.rel.clone(),
                ErrorKind::Layout,
                format!(
                    "a second report for the same stem; {} is used",
                    report.as_ref().map(|r| r.rel.as_str()).unwrap_or("")
                ),
            ));
        }
        if let Some(r) = &report {
            plan.reports.push(PlannedReport {
                source: r.rel.clone(),
                content: ReportContent::File(r.clone()),
                tags: Vec::new(),
            });
        }
        for img in group.iter().filter(|f| is_image(f)) {
            out.push(PlannedImage {
                file: Some((*img).clone()),
                report: report.as_ref().map(|r| r.rel.clone()),
                ..PlannedImage::default()
            });
        }
    }
    out
}
