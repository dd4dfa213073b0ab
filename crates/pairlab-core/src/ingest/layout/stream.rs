//! The folder-local layouts (stem, folders, mimic) planned a piece at a time, so indexing
//! holds a few thousand files' plan however large the corpus: a first walk that keeps only
//! what decides the layout (and, for `folders`, its classes and split folders), then a
//! second that hands the engine a [`Plan`] for every piece of about `segment` files. A
//! folder's files come together, by name, and before its sub-folders
//! ([`scan::walk_each`]), so same-stem pairs never straddle two pieces ([`may_part`]) and
//! a MIMIC study's report (beside its study folder) comes before the study's images.

use std::collections::BTreeSet;
use std::path::Path;

use super::{ImportedSchema, Layout, Plan, folders, is_image, is_report, iu_xml, mimic, stem};
use crate::error::Result;
use crate::ingest::IngestError;
use crate::ingest::scan::{self, FileRef};

/// What the first walk of a folder-local layout found.
#[derive(Debug)]
pub struct Survey {
    /// `stem`, `folders` or `mimic` (never `auto`).
    pub layout: Layout,
    /// `folders`: the class label set, all classes known before the first piece.
    pub schema: Option<ImportedSchema>,
    /// `folders`: the top folders are split folders (train, val, test).
    pub with_splits: bool,
    /// Images and report files found: the total the progress counts to.
    pub files: u64,
}

/// What a layout gives the engine: the whole plan at once (a manifest, IU X-ray XML: their
/// rows name files anywhere in the corpus), or a survey to stream piece by piece.
#[derive(Debug)]
pub enum Source {
    Whole(Plan),
    Streamed(Survey),
}

/// What the first walk keeps: flags and small sets, never a list of files.
#[derive(Default)]
struct Seen {
    mimic_image: bool,
    xml_checked: usize,
    openi: bool,
    report: bool,
    images: u64,
    reports: u64,
    image_at_top: bool,
    /// Top folders holding images, and the classes a `folders` corpus would have without
    /// and with split folders: kept only while the corpus can still be `folders`.
    tops: BTreeSet<String>,
    classes_flat: BTreeSet<String>,
    classes_split: BTreeSet<String>,
}

impl Seen {
    fn add(&mut self, f: &FileRef, layout: Layout) {
        if is_report(f) {
            self.reports += 1;
            self.report = true;
            if layout != Layout::Folders {
                self.tops.clear();
                self.classes_flat.clear();
                self.classes_split.clear();
            }
        }
        if f.ext() == "xml" && self.xml_checked < 5 && !self.openi {
            self.xml_checked += 1;
            self.openi = iu_xml::looks_like_openi(f);
        }
        if !is_image(f) {
            return;
        }
        self.images += 1;
        self.mimic_image |= mimic::parse_image_path(&f.rel).is_some();
        let parts: Vec<&str> = f.rel.split('/').collect();
        self.image_at_top |= parts.len() == 1;
        let could_be_folders =
            layout == Layout::Folders || (layout == Layout::Auto && !self.report);
        if could_be_folders && parts.len() >= 2 {
            self.tops.insert(parts[0].to_owned());
            self.classes_flat.insert(parts[0].to_owned());
            if parts.len() >= 3 {
                self.classes_split.insert(parts[1].to_owned());
            }
        }
    }

    /// The layout the files say: MIMIC study paths, else OpenI XML reports, else images
    /// only and every one in a folder (`folders`), else `stem`.
    fn detect(&self) -> Layout {
        if self.mimic_image {
            Layout::Mimic
        } else if self.openi {
            Layout::IuXml
        } else if !self.report && self.images > 0 && !self.image_at_top {
            Layout::Folders
        } else {
            Layout::Stem
        }
    }
}

/// Plans `root` in a folder-local `layout` (or detects it): a [`Survey`] to stream, or for
/// a corpus of IU X-ray XML reports the whole plan.
pub fn survey(root: &Path, layout: Layout, skip: Option<&Path>) -> Result<Source> {
    let mut seen = Seen::default();
    let mut scratch = Vec::new();
    let walked: Result<(), std::convert::Infallible> =
        scan::walk_each(root, skip, false, &mut scratch, |f| {
            seen.add(&f, layout);
            Ok(())
        });
    let Ok(()) = walked;
    let layout = match layout {
        Layout::Auto => seen.detect(),
        other => other,
    };
    if layout == Layout::IuXml {
        let (files, errors) = scan::walk(root, skip);
        return Ok(Source::Whole(iu_xml::plan(files, errors)));
    }
    let with_splits = layout == Layout::Folders
        && !seen.tops.is_empty()
        && seen.tops.iter().all(|d| folders::split_name(d).is_some());
    let classes = if with_splits {
        seen.classes_split
    } else {
        seen.classes_flat
    };
    let schema = (layout == Layout::Folders && !classes.is_empty()).then(|| ImportedSchema {
        name: folders::CLASS_SCHEMA.into(),
        kind: crate::labels::SchemaKind::MultiClass,
        classes: classes.into_iter().collect(),
    });
    Ok(Source::Streamed(Survey {
        layout,
        schema,
        with_splits,
        files: seen.images + seen.reports,
    }))
}

/// Whether a piece may end between `last` and `next` (in walk order): in another folder,
/// or in the same folder under a name that differs before its first dot. Files that pair
/// share a stem, so that part of their names, and names sharing it are next to each other
/// by name ("x.png", "x.txt" and "x.y.png" stay together; "x-1.png" may go).
fn may_part(last: &FileRef, next: &FileRef) -> bool {
    fn head(f: &FileRef) -> &str {
        let name = f.rel.rsplit('/').next().unwrap_or_default();
        name.split('.').next().unwrap_or_default()
    }
    last.dir() != next.dir() || head(last) != head(next)
}

/// Walks `root` again and hands `each` the plan of every piece of at least `segment` files
/// (the last one smaller), ending only where [`may_part`] allows (a large folder is cut
/// into pieces too). Answers the walk's errors (unreadable entries, links out of the root,
/// loops); the layout's own errors are in each piece's plan.
pub fn stream(
    root: &Path,
    skip: Option<&Path>,
    survey: &Survey,
    segment: usize,
    mut each: impl FnMut(Plan) -> Result<()>,
) -> Result<Vec<IngestError>> {
    let mut errors = Vec::new();
    let mut pending: Vec<FileRef> = Vec::new();
    let plan = |files: Vec<FileRef>| match survey.layout {
        Layout::Folders => folders::plan(files, Vec::new(), survey.with_splits),
        Layout::Mimic => mimic::plan(files, Vec::new()),
        _ => stem::plan(files, Vec::new()),
    };
    scan::walk_each(root, skip, true, &mut errors, |f| -> Result<()> {
        let may_end = pending.last().is_some_and(|last| may_part(last, &f));
        if may_end && pending.len() >= segment {
            each(plan(std::mem::take(&mut pending)))?;
        }
        pending.push(f);
        Ok(())
    })?;
    if !pending.is_empty() {
        each(plan(pending))?;
    }
    Ok(errors)
}
