//! `iu-xml` (IU X-ray / OpenI): one XML file per report, with `AbstractText` sections
//! (FINDINGS, IMPRESSION, ...), `parentImage id` naming the images (`<id>.png` anywhere
//! under the root) and MeSH major terms, which become tags.

use std::collections::HashMap;

use rayon::prelude::*;

use super::{Layout, Plan, PlannedImage, PlannedReport, ReportContent, is_image};
use crate::ingest::report::decode_text;
use crate::ingest::scan::FileRef;
use crate::ingest::{ErrorKind, IngestError};

/// A parsed OpenI report.
#[derive(Debug, Default, PartialEq)]
pub struct OpenIReport {
    pub uid: Option<String>,
    /// "LABEL: text" lines, one per non-empty AbstractText, in file order.
    pub text: String,
    pub images: Vec<String>,
    pub mesh_major: Vec<String>,
}

/// Cheap check used by layout detection: does this XML file look like an OpenI report?
pub fn looks_like_openi(f: &FileRef) -> bool {
    std::fs::read(&f.abs)
        .map(|b| {
            let head = String::from_utf8_lossy(&b[..b.len().min(64 * 1024)]);
            head.contains("AbstractText") || head.contains("parentImage")
        })
        .unwrap_or(false)
}

pub fn parse(xml: &str) -> Result<OpenIReport, roxmltree::Error> {
    let doc = roxmltree::Document::parse(xml)?;
    let mut out = OpenIReport::default();
    let mut lines = Vec::new();
    for node in doc.descendants().filter(|n| n.is_element()) {
        match node.tag_name().name() {
            "AbstractText" => {
                let text: String = node
                    .descendants()
                    .filter(|n| n.is_text())
                    .filter_map(|n| n.text())
                    .collect::<String>();
                let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                if text.is_empty() {
                    continue;
                }
                match node.attribute("Label") {
                    Some(label) => lines.push(format!("{}: {text}", label.trim().to_uppercase())),
                    None => lines.push(text),
                }
            }
            "parentImage" => {
                if let Some(id) = node.attribute("id") {
                    out.images.push(id.trim().to_owned());
                }
            }
            "major" => {
                if let Some(t) = node.text().map(str::trim).filter(|t| !t.is_empty()) {
                    out.mesh_major.push(t.to_owned());
                }
            }
            "uId" => out.uid = node.attribute("id").map(|s| s.trim().to_owned()),
            _ => {}
        }
    }
    out.text = lines.join("\n");
    Ok(out)
}

/// A parsed report and whether it had to be decoded lossily, or why it could not be read.
type ParsedXml = Result<(OpenIReport, bool), IngestError>;

/// Reads and parses one XML report.
fn read_xml(f: &FileRef) -> ParsedXml {
    std::fs::read(&f.abs)
        .map_err(|e| {
            IngestError::new(
                f.rel.clone(),
                ErrorKind::Unreadable,
                format!("cannot read: {e}"),
            )
        })
        .and_then(|bytes| {
            let (text, lossy) = decode_text(&bytes);
            parse(&text).map(|r| (r, lossy)).map_err(|e| {
                IngestError::new(
                    f.rel.clone(),
                    ErrorKind::Report,
                    format!("not a valid XML report: {e}"),
                )
            })
        })
}

pub fn plan(files: Vec<FileRef>, errors: Vec<IngestError>) -> Plan {
    let mut plan = Plan::new(Layout::IuXml, errors);
    let mut by_stem: HashMap<String, Vec<&FileRef>> = HashMap::new();
    for f in files.iter().filter(|f| is_image(f)) {
        by_stem.entry(f.stem()).or_default().push(f);
    }
    let parsed: Vec<(&FileRef, ParsedXml)> = files
        .par_iter()
        .filter(|f| f.ext() == "xml")
        .map(|f| (f, read_xml(f)))
        .collect();
    let mut used = std::collections::HashSet::new();
    for (xml, res) in parsed {
        let (report, lossy) = match res {
            Ok(r) => r,
            Err(e) => {
                plan.errors.push(e);
                continue;
            }
        };
        if lossy {
            plan.errors.push(IngestError::new(
                xml.rel.clone(),
                ErrorKind::NonUtf8,
                "report is not valid UTF-8; decoded with replacement characters",
            ));
        }
        if report.text.trim().is_empty() {
            plan.errors.push(IngestError::new(
                xml.rel.clone(),
                ErrorKind::EmptyReport,
                "report has no AbstractText; its images are indexed without a report",
            ));
        } else {
            plan.reports.push(PlannedReport {
                source: xml.rel.clone(),
                content: ReportContent::Text {
                    text: report.text.clone(),
                    from: Some(xml.clone()),
                },
                tags: report.mesh_major.clone(),
            });
        }
        let has_report = !report.text.trim().is_empty();
        for id in &report.images {
            let Some(images) = by_stem.get(id) else {
                plan.errors.push(IngestError::new(
                    xml.rel.clone(),
                    ErrorKind::MissingFile,
                    format!("parentImage {id} has no image file {id}.png under the corpus root"),
                ));
                continue;
            };
            for img in images {
                if !used.insert(img.rel.clone()) {
                    plan.errors.push(IngestError::new(
                        img.rel.clone(),
                        ErrorKind::Layout,
                        format!(
                            "image is named by more than one report; {} ignored",
                            xml.rel
                        ),
                    ));
                    continue;
                }
                plan.images.push(PlannedImage {
                    file: Some((*img).clone()),
                    report: has_report.then(|| xml.rel.clone()),
                    patient: report.uid.clone(),
                    study: report.uid.clone(),
                    ..PlannedImage::default()
                });
            }
        }
    }
    for f in files.iter().filter(|f| is_image(f)) {
        if !used.contains(&f.rel) {
            plan.images.push(PlannedImage {
                file: Some(f.clone()),
                ..PlannedImage::default()
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openi_report() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meSH><major>Cardiomegaly/mild</major><major>Pleural Effusion</major><minor>x</minor></meSH>
  <MedlineCitation><Article><Abstract>
    <AbstractText Label="COMPARISON">None.</AbstractText>
    <AbstractText Label="FINDINGS">The heart is   enlarged.</AbstractText>
    <AbstractText Label="IMPRESSION">Cardiomegaly.</AbstractText>
    <AbstractText Label="INDICATION"/>
  </Abstract></Article></MedlineCitation>
  <uId id="CXR12"/>
  <parentImage id="CXR12_IM-0001-1001"><figureId>F1</figureId></parentImage>
  <parentImage id="CXR12_IM-0001-2001"/>
</eCitation>"#;
        let r = parse(xml).expect("parses");
        assert_eq!(r.uid.as_deref(), Some("CXR12"));
        assert_eq!(
            r.text,
            "COMPARISON: None.\nFINDINGS: The heart is enlarged.\nIMPRESSION: Cardiomegaly."
        );
        assert_eq!(r.images, vec!["CXR12_IM-0001-1001", "CXR12_IM-0001-2001"]);
        assert_eq!(r.mesh_major, vec!["Cardiomegaly/mild", "Pleural Effusion"]);
        assert!(parse("<eCitation><unclosed></eCitation>").is_err());
    }
}
