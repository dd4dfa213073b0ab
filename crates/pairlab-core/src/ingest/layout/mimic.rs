//! `mimic` (MIMIC-CXR): `files/pXX/pSUBJECT/sSTUDY/*.dcm|*.jpg` with the report at
//! `files/pXX/pSUBJECT/sSTUDY.txt`. Every image of a study shares its report; SUBJECT is
//! the patient id and STUDY the study id.

use super::{Layout, Plan, PlannedImage, PlannedReport, ReportContent, is_image};
use crate::ingest::scan::FileRef;
use crate::ingest::{ErrorKind, IngestError};

fn digits_after(s: &str, prefix: char) -> Option<&str> {
    let rest = s.strip_prefix(prefix)?;
    (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

/// Finds `pXX/pSUBJECT/sSTUDY` in a relative path's folders; returns the index of `pXX`.
fn find_prefix(parts: &[&str]) -> Option<usize> {
    (0..parts.len().saturating_sub(2)).find(|&i| {
        digits_after(parts[i], 'p').is_some_and(|d| d.len() == 2)
            && digits_after(parts[i + 1], 'p').is_some()
            && parts[i + 2]
                .strip_suffix(".txt")
                .unwrap_or(parts[i + 2])
                .strip_prefix('s')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// (patient, study, study report path) of an image at `.../pXX/pSUBJECT/sSTUDY/name`.
pub fn parse_image_path(rel: &str) -> Option<(String, String, String)> {
    let parts: Vec<&str> = rel.split('/').collect();
    let i = find_prefix(&parts)?;
    if parts.len() != i + 4 {
        return None;
    }
    let patient = digits_after(parts[i + 1], 'p')?.to_owned();
    let study = digits_after(parts[i + 2], 's')?.to_owned();
    let report = format!("{}.txt", parts[..i + 3].join("/"));
    Some((patient, study, report))
}

fn is_study_report(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    find_prefix(&parts).is_some_and(|i| parts.len() == i + 3 && parts[i + 2].ends_with(".txt"))
}

/// An image names its study's report whether or not that file is among `files` (it may
/// be in an earlier piece of a streamed plan): the engine pairs it only with a report read
/// in this run.
pub fn plan(files: Vec<FileRef>, errors: Vec<IngestError>) -> Plan {
    let mut plan = Plan::new(Layout::Mimic, errors);
    for f in &files {
        if is_study_report(&f.rel) {
            plan.reports.push(PlannedReport {
                source: f.rel.clone(),
                content: ReportContent::File(f.clone()),
                tags: Vec::new(),
            });
        } else if is_image(f) {
            match parse_image_path(&f.rel) {
                Some((patient, study, report)) => plan.images.push(PlannedImage {
                    file: Some(f.clone()),
                    report: Some(report),
                    patient: Some(patient),
                    study: Some(study),
                    ..PlannedImage::default()
                }),
                None => plan.errors.push(IngestError::new(
                    f.rel.clone(),
                    ErrorKind::Layout,
                    "image is not in a study folder files/pXX/pSUBJECT/sSTUDY/; skipped",
                )),
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_study_paths() {
        assert_eq!(
            parse_image_path("files/p10/p10000032/s50414267/02aa804e.jpg"),
            Some((
                "10000032".into(),
                "50414267".into(),
                "files/p10/p10000032/s50414267.txt".into()
            ))
        );
        assert_eq!(parse_image_path("files/p10/p10000032/x.jpg"), None);
        assert_eq!(parse_image_path("files/p100/p1/s2/x.jpg"), None);
        assert!(is_study_report("files/p10/p10000032/s50414267.txt"));
        assert!(!is_study_report("files/p10/p10000032/notes.txt"));
    }
}
