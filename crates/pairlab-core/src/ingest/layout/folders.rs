//! `folders` (the ImageFolder convention): `ROOT/<class>/<image>` or
//! `ROOT/<split>/<class>/<image>`. Classes become the multi-class label set `class`,
//! split folders the stored split `imported`. Same-stem reports pair as in `stem`.

use std::collections::BTreeSet;

use super::{ImportedSchema, Layout, Plan, pair_same_stem};
use crate::ingest::scan::FileRef;
use crate::ingest::{ErrorKind, IngestError};

/// The label set folder classes are imported into.
pub const CLASS_SCHEMA: &str = "class";

/// The canonical part name of a split folder, if `name` is one.
pub fn split_name(name: &str) -> Option<&'static str> {
    match name.to_ascii_lowercase().as_str() {
        "train" | "training" => Some("train"),
        "val" | "valid" | "validation" => Some("val"),
        "test" | "testing" => Some("test"),
        _ => None,
    }
}

/// The plan of some of a corpus's files, whether its top folders are split folders being
/// known beforehand (from the survey); its schema has the classes of these files only.
pub fn plan(files: Vec<FileRef>, errors: Vec<IngestError>, with_splits: bool) -> Plan {
    let mut plan = Plan::new(Layout::Folders, errors);
    let images = pair_same_stem(&mut plan, &files);
    let mut classes = BTreeSet::new();
    for mut img in images {
        let Some(file) = &img.file else { continue };
        let parts: Vec<&str> = file.rel.split('/').collect();
        let (split, class) = if with_splits {
            match parts.as_slice() {
                [split, class, _, ..] => (split_name(split), Some(*class)),
                _ => (None, None),
            }
        } else {
            match parts.as_slice() {
                [class, _, ..] => (None, Some(*class)),
                _ => (None, None),
            }
        };
        let Some(class) = class else {
            let expected = if with_splits {
                "ROOT/<split>/<class>/<image>"
            } else {
                "ROOT/<class>/<image>"
            };
            plan.errors.push(IngestError::new(
                file.rel.clone(),
                ErrorKind::Layout,
                format!("image is not inside a class folder (expected {expected}); skipped"),
            ));
            continue;
        };
        classes.insert(class.to_owned());
        img.split = split.map(str::to_owned);
        img.labels = vec![(class.to_owned(), 1)];
        plan.images.push(img);
    }
    if !classes.is_empty() {
        plan.schema = Some(ImportedSchema {
            name: CLASS_SCHEMA.into(),
            kind: crate::labels::SchemaKind::MultiClass,
            classes: classes.into_iter().collect(),
        });
    }
    plan
}
