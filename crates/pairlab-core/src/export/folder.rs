//! ImageFolder for a multi-class schema, as `datasets.load_dataset("imagefolder")` reads
//! it: `split/class/image`, the folder names being the labels. (A multi-label schema is
//! written as images with a `metadata.parquet` per split: see `hf::Layout::Metadata`.)

use super::{ImageOut, Plan, Row, Sink};
use crate::error::{Error, Result};
use crate::labels::Schema;

pub struct ImageFolder {
    schema: Schema,
}

impl ImageFolder {
    pub(crate) fn new(plan: Plan) -> Result<ImageFolder> {
        let schema = plan
            .schema
            .ok_or_else(|| Error::field("schema", "ImageFolder needs a label schema"))?;
        Ok(ImageFolder { schema })
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
    fn image_dest(&self, row: &Row, file_name: &str) -> Result<String> {
        let class = row.class(&self.schema).ok_or_else(|| {
            Error::Invalid("no class label: ImageFolder files each image under its class".into())
        })?;
        let split = super::hf_split(&row.part);
        Ok(format!("{split}/{}/{file_name}", folder_name(class)))
    }

    fn row(&mut self, _row: Row, _image: ImageOut) -> Result<()> {
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
}
