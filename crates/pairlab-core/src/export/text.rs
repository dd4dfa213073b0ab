//! The text formats: JSONL and CSV with everything about a pair, and CheXpert's CSV.

use std::fs::File;
use std::io::{BufWriter, Write};

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::{ImageOut, Plan, Row, Sink};
use crate::error::{Error, Result};
use crate::labels::{Schema, SchemaKind};

/// One file per part, opened when the part's first row comes.
struct PerPart<W> {
    plan: Plan,
    ext: &'static str,
    current: Option<(String, W)>,
    files: Vec<String>,
}

impl<W> PerPart<W> {
    fn new(plan: Plan, ext: &'static str) -> PerPart<W> {
        PerPart {
            plan,
            ext,
            current: None,
            files: Vec::new(),
        }
    }

    /// The writer of `part`, opened with `open` (which may write a header) when new.
    fn writer(&mut self, part: &str, open: impl FnOnce(File) -> Result<W>) -> Result<&mut W> {
        if self.current.as_ref().is_none_or(|(p, _)| p != part) {
            let rel = format!("{part}.{}", self.ext);
            let path = self.plan.dir.join(&rel);
            let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
            self.current = Some((part.to_owned(), open(file)?));
            self.files.push(rel);
        }
        match &mut self.current {
            Some((_, w)) => Ok(w),
            None => Err(Error::Invalid("no open export file".into())),
        }
    }
}

impl<W> PerPart<W> {
    /// Flushes the open file; answers the files written.
    fn finish(mut self, flush: impl FnOnce(&mut W) -> std::io::Result<()>) -> Result<Vec<String>> {
        if let Some((part, mut w)) = self.current.take() {
            flush(&mut w).map_err(|e| Error::io(self.plan.dir.join(part), e))?;
        }
        Ok(self.files)
    }
}

/// The image column's text.
fn image_text(image: &ImageOut) -> &str {
    match image {
        ImageOut::Placed(rel) | ImageOut::Path(rel) => rel,
        ImageOut::Bytes(_, name) => name,
    }
}

/// A JSON object written in the order given (serde_json's own map sorts its keys).
pub(crate) struct Ordered<'a>(pub(crate) &'a [(&'a str, Value)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// The columns every text format shares, in order.
pub(crate) fn common_fields(row: &Row, image: &ImageOut) -> Vec<(&'static str, Value)> {
    vec![
        ("pair_id", Value::from(row.pair)),
        ("split", Value::from(row.part.as_str())),
        ("image", Value::from(image_text(image))),
        ("image_path", Value::from(row.image_path.as_str())),
        ("patient_id", row.patient.as_deref().into()),
        ("study_id", row.study.as_deref().into()),
        ("view", row.view.as_deref().into()),
        ("width", Value::from(row.width)),
        ("height", Value::from(row.height)),
        ("report", row.report.as_deref().into()),
        ("findings", row.findings.as_deref().into()),
        ("impression", row.impression.as_deref().into()),
    ]
}

/// The label fields of a JSON row: `label` (multi-class, the class name) or one field per
/// class (1 / 0 / -1 / null), then where each came from.
pub(crate) fn label_fields<'a>(schema: &'a Schema, row: &Row) -> Vec<(&'a str, Value)> {
    let mut out = Vec::new();
    let sources = |i: usize| row.sources[i].as_deref().map_or(Value::Null, Value::from);
    if schema.kind == SchemaKind::MultiClass {
        out.push(("label", row.class(schema).into()));
        let src = row
            .values
            .iter()
            .position(|v| *v == Some(1))
            .map_or(Value::Null, sources);
        out.push(("label_source", src));
    } else {
        for (i, class) in schema.classes.iter().enumerate() {
            out.push((class.as_str(), row.values[i].into()));
        }
        let map: serde_json::Map<String, Value> = schema
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), sources(i)))
            .collect();
        out.push(("label_sources", Value::Object(map)));
    }
    out
}

pub struct Jsonl(PerPart<BufWriter<File>>);

impl Jsonl {
    pub(crate) fn new(plan: Plan) -> Jsonl {
        Jsonl(PerPart::new(plan, "jsonl"))
    }
}

impl Sink for Jsonl {
    fn row(&mut self, row: Row, image: ImageOut) -> Result<()> {
        let mut fields: Vec<(&str, Value)> = common_fields(&row, &image);
        if let Some(schema) = &self.0.plan.schema {
            fields.extend(label_fields(schema, &row));
        }
        if self.0.plan.embedding_dim.is_some() {
            fields.push(("embedding", row.embedding.clone().into()));
        }
        let line =
            serde_json::to_string(&Ordered(&fields)).map_err(|e| Error::Invalid(e.to_string()))?;
        let w = self.0.writer(&row.part, |f| Ok(BufWriter::new(f)))?;
        writeln!(w, "{line}").map_err(|e| Error::io("jsonl", e))
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>> {
        self.0.finish(|w| w.flush())
    }
}

fn value_text(v: Option<i8>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// CSV, with the schema (cloned once) beside the files.
pub struct Csv(PerPart<csv::Writer<File>>, Option<Schema>);

impl Csv {
    pub(crate) fn new(plan: Plan) -> Csv {
        let schema = plan.schema.clone();
        Csv(PerPart::new(plan, "csv"), schema)
    }
}

fn csv_err(e: csv::Error) -> Error {
    Error::Invalid(format!("writing CSV: {e}"))
}

fn json_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Sink for Csv {
    fn row(&mut self, row: Row, image: ImageOut) -> Result<()> {
        let common = common_fields(&row, &image);
        let mut record: Vec<String> = common.iter().map(|(_, v)| json_text(v)).collect();
        if let Some(schema) = &self.1 {
            if schema.kind == SchemaKind::MultiClass {
                let i = row.values.iter().position(|v| *v == Some(1));
                record.push(row.class(schema).unwrap_or_default().to_owned());
                record.push(i.and_then(|i| row.sources[i].clone()).unwrap_or_default());
            } else {
                record.extend(row.values.iter().map(|v| value_text(*v)));
                record.extend(row.sources.iter().map(|s| s.clone().unwrap_or_default()));
            }
        }
        let schema = &self.1;
        let w = self.0.writer(&row.part, |f| {
            let mut header: Vec<String> = common.iter().map(|(k, _)| (*k).to_owned()).collect();
            match schema {
                Some(s) if s.kind == SchemaKind::MultiClass => {
                    header.extend(["label".to_owned(), "label_source".to_owned()]);
                }
                Some(s) => {
                    header.extend(s.classes.iter().cloned());
                    header.extend(s.classes.iter().map(|c| format!("{c} source")));
                }
                None => {}
            }
            let mut w = csv::Writer::from_writer(f);
            w.write_record(&header).map_err(csv_err)?;
            Ok(w)
        })?;
        w.write_record(&record).map_err(csv_err)
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>> {
        self.0.finish(|w| w.flush())
    }
}

/// CheXpert's CSV: `Path,Sex,Age,Frontal/Lateral,AP/PA`, then one column per class with
/// 1.0 / 0.0 / -1.0 / empty. Pairlab knows no sex or age: those stay empty. A multi-class
/// schema writes 1.0 for the pair's class and 0.0 for the others (empty when unlabelled).
pub struct Chexpert {
    files: PerPart<csv::Writer<File>>,
    schema: Schema,
    /// The schema's class indexes in column order.
    order: Vec<usize>,
}

/// CheXpert's 14 classes in its CSV's column order.
pub const CHEXPERT_CLASSES: [&str; 14] = [
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
];

impl Chexpert {
    pub(crate) fn new(plan: Plan) -> Result<Chexpert> {
        let schema = plan
            .schema
            .clone()
            .ok_or_else(|| Error::field("schema", "the CheXpert CSV needs a label schema"))?;
        let order = column_order(&schema);
        Ok(Chexpert {
            files: PerPart::new(plan, "csv"),
            schema,
            order,
        })
    }
}

/// The schema's class indexes in column order: CheXpert's order when the schema has
/// exactly CheXpert's classes, else the schema's own.
fn column_order(schema: &Schema) -> Vec<usize> {
    let same = schema.classes.len() == CHEXPERT_CLASSES.len()
        && CHEXPERT_CLASSES
            .iter()
            .all(|c| schema.classes.iter().any(|s| s == c));
    if !same {
        return (0..schema.classes.len()).collect();
    }
    CHEXPERT_CLASSES
        .iter()
        .filter_map(|c| schema.classes.iter().position(|s| s == c))
        .collect()
}

/// CheXpert's `Frontal/Lateral` and `AP/PA` from a DICOM ViewPosition.
fn chexpert_view(view: Option<&str>) -> (&'static str, &'static str) {
    match view.map(|v| v.trim().to_ascii_uppercase()).as_deref() {
        Some("PA") => ("Frontal", "PA"),
        Some("AP") => ("Frontal", "AP"),
        Some("LL" | "RL" | "LAT" | "LATERAL") => ("Lateral", ""),
        _ => ("", ""),
    }
}

fn chexpert_value(v: Option<i8>) -> &'static str {
    match v {
        Some(1) => "1.0",
        Some(0) => "0.0",
        Some(-1) => "-1.0",
        _ => "",
    }
}

impl Sink for Chexpert {
    fn row(&mut self, row: Row, image: ImageOut) -> Result<()> {
        let (fl, appa) = chexpert_view(row.view.as_deref());
        let mut record = vec![image_text(&image).to_owned(), String::new(), String::new()];
        record.extend([fl.to_owned(), appa.to_owned()]);
        let labelled = row.values.contains(&Some(1));
        for v in self.order.iter().map(|i| &row.values[*i]) {
            let v = match (self.schema.kind, v) {
                (SchemaKind::MultiClass, None) if labelled => Some(0),
                _ => *v,
            };
            record.push(chexpert_value(v).to_owned());
        }
        let (schema, order) = (&self.schema, &self.order);
        let w = self.files.writer(&row.part, |f| {
            let mut w = csv::Writer::from_writer(f);
            let mut header = vec!["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA"];
            header.extend(order.iter().map(|i| schema.classes[*i].as_str()));
            w.write_record(&header).map_err(csv_err)?;
            Ok(w)
        })?;
        w.write_record(&record).map_err(csv_err)
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>> {
        self.files.finish(|w| w.flush())
    }
}
