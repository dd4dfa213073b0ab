//! ImageFolder, as `datasets.load_dataset("imagefolder")` reads it: `part/class/image`
//! for a multi-class schema (the folder names are the labels), or `part/image` plus
//! `part/metadata.jsonl` (`file_name` and the label columns) for a multi-label schema.

use std::fs::File;
use std::io::{BufWriter, Write};

use serde_json::Value;

use super::text::{Ordered, common_fields, label_fields};
use super::{ImageOut, Plan, Row, Sink};
use crate::error::{Error, Result};
use crate::labels::{Schema, SchemaKind};

pub struct ImageFolder {
    plan: Plan,
    schema: Schema,
    metadata: Option<(String, BufWriter<File>)>,
    files: Vec<String>,
}

impl ImageFolder {
    pub(crate) fn new(plan: Plan) -> Result<ImageFolder> {
        let schema = plan
            .schema
            .clone()
            .ok_or_else(|| Error::field("schema", "ImageFolder needs a label schema"))?;
        Ok(ImageFolder {
            plan,
            schema,
            metadata: None,
            files: Vec::new(),
        })
    }

    fn close(&mut self) -> Result<()> {
        if let Some((_, mut w)) = self.metadata.take() {
            w.flush().map_err(|e| Error::io("metadata.jsonl", e))?;
        }
        Ok(())
    }
}

/// A class name as a folder name: path separators and control characters replaced.
fn folder_name(class: &str) -> String {
    let name: String = class
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    match name.as_str() {
        "" | "." | ".." => format!("class_{}", name.len()),
        _ => name,
    }
}

impl Sink for ImageFolder {
    fn image_dest(&self, row: &Row, file_name: &str) -> std::result::Result<String, String> {
        if self.schema.kind == SchemaKind::MultiClass {
            let class = row.class(&self.schema).ok_or_else(|| {
                "no class label: ImageFolder files each image under its class".to_owned()
            })?;
            Ok(format!("{}/{}/{file_name}", row.part, folder_name(class)))
        } else {
            Ok(format!("{}/{file_name}", row.part))
        }
    }

    fn row(&mut self, row: &Row, image: ImageOut) -> Result<()> {
        if self.schema.kind == SchemaKind::MultiClass {
            return Ok(());
        }
        let ImageOut::Placed(rel) = &image else {
            return Err(Error::Invalid("ImageFolder places every image".into()));
        };
        let file_name = rel.rsplit('/').next().unwrap_or_default().to_owned();
        let mut fields: Vec<(&str, Value)> = vec![("file_name", Value::from(file_name))];
        // `image` is the column datasets makes from `file_name`.
        fields.extend(
            common_fields(row, &image)
                .into_iter()
                .filter(|(k, _)| *k != "image"),
        );
        fields.extend(label_fields(&self.schema, row));
        if self.plan.embedding_dim.is_some() {
            fields.push(("embedding", row.embedding.clone().into()));
        }
        let line =
            serde_json::to_string(&Ordered(&fields)).map_err(|e| Error::Invalid(e.to_string()))?;
        if self.metadata.as_ref().is_none_or(|(p, _)| *p != row.part) {
            self.close()?;
            let rel = format!("{}/metadata.jsonl", row.part);
            let path = self.plan.dir.join(&rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let f = File::create(&path).map_err(|e| Error::io(&path, e))?;
            self.metadata = Some((row.part.clone(), BufWriter::new(f)));
            self.files.push(rel);
        }
        match &mut self.metadata {
            Some((_, w)) => writeln!(w, "{line}").map_err(|e| Error::io("metadata.jsonl", e)),
            None => Ok(()),
        }
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<String>> {
        self.close()?;
        Ok(self.files)
    }
}
