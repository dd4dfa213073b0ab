//! Hugging Face `datasets`' hub layout: `data/{part}-{i:05}-of-{n:05}.parquet` (a new
//! shard past `max_shard_bytes`), a `README.md` whose YAML front matter lists the data
//! files per split and `dataset_info.features`, and the features again under the
//! `huggingface` key of every file's schema metadata (so they load without the card).
//! Images are the `Image` feature (`{bytes, path}`), a multi-class schema a `ClassLabel`,
//! a multi-label schema one nullable int8 column per class (1 / 0 / -1 / null).

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BinaryArray, FixedSizeListArray, Float32Array, Int8Array, Int32Array, Int64Array,
    RecordBatch, StringArray, StructArray,
};
use arrow_schema::{DataType, Field, Fields, Schema as ArrowSchema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::{ImageOut, Plan, Row, Sink};
use crate::error::{Error, Result};
use crate::labels::{Schema, SchemaKind};

/// Rows per row group with images inside, else more. Every row group adds to the footer
/// a shard keeps in memory until it is closed, so groups are not made small: a row group
/// is written at this many rows or once its buffered images reach `GROUP_BYTES`.
const IMAGE_ROWS: usize = 1_000;
const PLAIN_ROWS: usize = 10_000;
const GROUP_BYTES: usize = 32 << 20;

fn pq(e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("writing Parquet: {e}"))
}

fn json(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A YAML single-quoted scalar.
fn yaml(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''").replace('\n', " "))
}

/// What the Parquet files are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The hub layout: `data/` shards with the `Image` column, and the card.
    Hub,
    /// ImageFolder's `{split}/metadata.parquet` beside the images: `file_name` instead of
    /// the image, one file per split (typed columns: a class blank in one split and set in
    /// another reads the same in both, which JSON lines cannot say).
    Metadata,
}

pub struct Parquet {
    plan: Plan,
    layout: Layout,
    arrow: SchemaRef,
    /// The features as `datasets` writes them (JSON) and as the card lists them (YAML).
    features_yaml: String,
    rows_per_group: usize,
    buffer: Vec<(Row, ImageOut)>,
    buffered_bytes: usize,
    writer: Option<ArrowWriter<File>>,
    /// Staged shards of the current part.
    shards: Vec<String>,
    files: Vec<String>,
    /// Per split: rows and bytes written.
    counts: Vec<(String, u64, u64)>,
}

/// The label columns' names, checked against the fixed columns.
const FIXED: [&str; 11] = [
    "image",
    "pair_id",
    "patient_id",
    "study_id",
    "view",
    "image_path",
    "width",
    "height",
    "report",
    "findings",
    "impression",
];

fn value(dtype: &str) -> String {
    format!("{{\"dtype\": {}, \"_type\": \"Value\"}}", json(dtype))
}

impl Parquet {
    pub(crate) fn new(plan: Plan, layout: Layout) -> Result<Parquet> {
        let text = |name: &str| Field::new(name, DataType::Utf8, true);
        let image = DataType::Struct(Fields::from(vec![
            Field::new("bytes", DataType::Binary, true),
            Field::new("path", DataType::Utf8, true),
        ]));
        let first = match layout {
            Layout::Hub => Field::new("image", image, true),
            Layout::Metadata => Field::new("file_name", DataType::Utf8, false),
        };
        let mut fields = vec![
            first,
            Field::new("pair_id", DataType::Int64, false),
            text("patient_id"),
            text("study_id"),
            text("view"),
            text("image_path"),
            Field::new("width", DataType::Int32, false),
            Field::new("height", DataType::Int32, false),
            text("report"),
            text("findings"),
            text("impression"),
        ];
        let first = match layout {
            Layout::Hub => (
                "image".into(),
                "{\"_type\": \"Image\"}".into(),
                "dtype: image".into(),
            ),
            Layout::Metadata => ("file_name".into(), value("string"), "dtype: string".into()),
        };
        let mut features: Vec<(String, String, String)> = vec![
            first,
            ("pair_id".into(), value("int64"), "dtype: int64".into()),
        ];
        for name in ["patient_id", "study_id", "view", "image_path"] {
            features.push((name.into(), value("string"), "dtype: string".into()));
        }
        for name in ["width", "height"] {
            features.push((name.into(), value("int32"), "dtype: int32".into()));
        }
        for name in ["report", "findings", "impression"] {
            features.push((name.into(), value("string"), "dtype: string".into()));
        }
        if let Some(schema) = &plan.schema {
            label_columns(schema, &mut fields, &mut features)?;
        }
        if let Some(dim) = plan.embedding_dim {
            let item = Arc::new(Field::new("item", DataType::Float32, true));
            fields.push(Field::new(
                "embedding",
                DataType::FixedSizeList(item, dim as i32),
                true,
            ));
            features.push((
                "embedding".into(),
                format!(
                    "{{\"feature\": {}, \"length\": {dim}, \"_type\": \"List\"}}",
                    value("float32")
                ),
                format!("list: float32\n    length: {dim}"),
            ));
        }
        let features_json = format!(
            "{{\"info\": {{\"features\": {{{}}}}}}}",
            features
                .iter()
                .map(|(n, j, _)| format!("{}: {j}", json(n)))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let features_yaml = features
            .iter()
            .map(|(n, _, y)| format!("  - name: {}\n    {y}\n", yaml(n)))
            .collect();
        let metadata = HashMap::from([("huggingface".to_owned(), features_json)]);
        let arrow = Arc::new(ArrowSchema::new_with_metadata(fields, metadata));
        let rows_per_group = if plan.images == super::ImageMode::Path || layout == Layout::Metadata
        {
            PLAIN_ROWS
        } else {
            IMAGE_ROWS
        };
        Ok(Parquet {
            plan,
            layout,
            arrow,
            features_yaml,
            rows_per_group,
            buffer: Vec::new(),
            buffered_bytes: 0,
            writer: None,
            shards: Vec::new(),
            files: Vec::new(),
            counts: Vec::new(),
        })
    }

    /// Writes the buffered rows as one row group; starts the next shard past the limit.
    fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = self.batch()?;
        let part = super::hf_split(&self.buffer[0].0.part).to_owned();
        self.buffer.clear();
        self.buffered_bytes = 0;
        if self.writer.is_none() {
            let rel = match self.layout {
                Layout::Hub => format!("data/{part}-{:05}.parquet.partial", self.shards.len()),
                Layout::Metadata => format!("{part}/metadata.parquet"),
            };
            let path = self.plan.dir.join(&rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
            // Image bytes: no min/max statistics (meaningless, and kept per page) and no
            // dictionary (images are unique; trying costs time and memory).
            let image_bytes = ColumnPath::from(vec!["image".to_owned(), "bytes".to_owned()]);
            let props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_column_statistics_enabled(image_bytes.clone(), EnabledStatistics::None)
                .set_column_dictionary_enabled(image_bytes, false)
                .set_created_by(format!("pairlab {}", env!("CARGO_PKG_VERSION")))
                .build();
            self.writer =
                Some(ArrowWriter::try_new(file, self.arrow.clone(), Some(props)).map_err(pq)?);
            self.shards.push(rel);
        }
        if let Some(w) = &mut self.writer {
            w.write(&batch).map_err(pq)?;
            w.flush().map_err(pq)?;
            if self.layout == Layout::Hub && w.bytes_written() as u64 >= self.plan.max_shard_bytes {
                self.close_shard()?;
            }
        }
        Ok(())
    }

    fn close_shard(&mut self) -> Result<()> {
        if let Some(w) = self.writer.take() {
            w.close().map_err(pq)?;
        }
        Ok(())
    }

    fn batch(&self) -> Result<RecordBatch> {
        let rows = &self.buffer;
        let mut columns: Vec<ArrayRef> = Vec::new();
        if self.layout == Layout::Metadata {
            let names: Vec<&str> = rows
                .iter()
                .map(|(_, image)| match image {
                    ImageOut::Placed(rel) => rel.rsplit('/').next().unwrap_or_default(),
                    ImageOut::Bytes(_, p) | ImageOut::Path(p) => p.as_str(),
                })
                .collect();
            columns.push(Arc::new(StringArray::from(names)));
        } else {
            columns.push(self.image_column()?);
        }
        columns.push(Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|(r, _)| r.pair),
        )));
        self.common_columns(&mut columns);
        if let Some(schema) = &self.plan.schema {
            self.label_arrays(schema, &mut columns)?;
        }
        if let Some(dim) = self.plan.embedding_dim {
            columns.push(self.embedding_column(dim)?);
        }
        RecordBatch::try_new(self.arrow.clone(), columns).map_err(pq)
    }

    /// The `Image` column: `{bytes, path}`.
    fn image_column(&self) -> Result<ArrayRef> {
        let rows = &self.buffer;
        let (bytes, paths): (Vec<Option<&[u8]>>, Vec<Option<&str>>) = rows
            .iter()
            .map(|(_, image)| match image {
                ImageOut::Bytes(b, name) => (Some(b.as_slice()), Some(name.as_str())),
                ImageOut::Path(p) | ImageOut::Placed(p) => (None, Some(p.as_str())),
            })
            .unzip();
        let image_fields = match self.arrow.field(0).data_type() {
            DataType::Struct(f) => f.clone(),
            _ => return Err(pq("the image column is not a struct")),
        };
        let image_arrays: Vec<ArrayRef> = vec![
            Arc::new(BinaryArray::from(bytes)),
            Arc::new(StringArray::from(paths)),
        ];
        Ok(Arc::new(
            StructArray::try_new(image_fields, image_arrays, None).map_err(pq)?,
        ))
    }

    /// Patient, study, view, path, size and report columns.
    fn common_columns(&self, columns: &mut Vec<ArrayRef>) {
        let rows = &self.buffer;
        let text = |f: &dyn Fn(&Row) -> Option<&str>| -> ArrayRef {
            Arc::new(StringArray::from(
                rows.iter().map(|(r, _)| f(r)).collect::<Vec<_>>(),
            ))
        };
        columns.push(text(&|r| r.patient.as_deref()));
        columns.push(text(&|r| r.study.as_deref()));
        columns.push(text(&|r| r.view.as_deref()));
        columns.push(text(&|r| Some(r.image_path.as_str())));
        columns.push(Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|(r, _)| r.width as i32),
        )));
        columns.push(Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|(r, _)| r.height as i32),
        )));
        columns.push(text(&|r| r.report.as_deref()));
        columns.push(text(&|r| r.findings.as_deref()));
        columns.push(text(&|r| r.impression.as_deref()));
    }

    /// The embeddings as a fixed-size list (null where a pair has none).
    fn embedding_column(&self, dim: usize) -> Result<ArrayRef> {
        let rows = &self.buffer;
        let mut values = Vec::with_capacity(rows.len() * dim);
        let mut valid = Vec::with_capacity(rows.len());
        for (r, _) in rows {
            match &r.embedding {
                Some(e) => values.extend_from_slice(e),
                None => values.extend(std::iter::repeat_n(0.0, dim)),
            }
            valid.push(r.embedding.is_some());
        }
        let item = Arc::new(Field::new("item", DataType::Float32, true));
        let list = FixedSizeListArray::try_new(
            item,
            dim as i32,
            Arc::new(Float32Array::from(values)),
            Some(valid.into()),
        )
        .map_err(pq)?;
        Ok(Arc::new(list))
    }

    fn label_arrays(&self, schema: &Schema, columns: &mut Vec<ArrayRef>) -> Result<()> {
        let rows = &self.buffer;
        if schema.kind == SchemaKind::MultiClass {
            let labels: Vec<Option<i64>> = rows
                .iter()
                .map(|(r, _)| {
                    r.values
                        .iter()
                        .position(|v| *v == Some(1))
                        .map(|i| i as i64)
                })
                .collect();
            let sources: Vec<Option<&str>> = rows
                .iter()
                .map(|(r, _)| {
                    let i = r.values.iter().position(|v| *v == Some(1))?;
                    r.sources[i].as_deref()
                })
                .collect();
            columns.push(Arc::new(Int64Array::from(labels)));
            columns.push(Arc::new(StringArray::from(sources)));
            return Ok(());
        }
        for i in 0..schema.classes.len() {
            let v: Vec<Option<i8>> = rows.iter().map(|(r, _)| r.values[i]).collect();
            columns.push(Arc::new(Int8Array::from(v)));
        }
        let fields: Fields = schema
            .classes
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, true))
            .collect();
        let arrays: Vec<ArrayRef> = (0..schema.classes.len())
            .map(|i| -> ArrayRef {
                Arc::new(StringArray::from(
                    rows.iter()
                        .map(|(r, _)| r.sources[i].as_deref())
                        .collect::<Vec<_>>(),
                ))
            })
            .collect();
        columns.push(Arc::new(
            StructArray::try_new(fields, arrays, None).map_err(pq)?,
        ));
        Ok(())
    }

    /// The dataset card: the YAML front matter `datasets` reads, and how to load the export.
    fn readme(&self) -> String {
        let mut y = String::from("---\nconfigs:\n- config_name: default\n  data_files:\n");
        for (part, _, _) in self.counts.iter().filter(|(_, n, _)| *n > 0) {
            y.push_str(&format!("  - split: {part}\n    path: data/{part}-*\n"));
        }
        y.push_str("dataset_info:\n  features:\n");
        y.push_str(&self.features_yaml);
        y.push_str("  splits:\n");
        for (part, n, bytes) in self.counts.iter().filter(|(_, n, _)| *n > 0) {
            y.push_str(&format!(
                "  - name: {part}\n    num_bytes: {bytes}\n    num_examples: {n}\n"
            ));
        }
        y.push_str("---\n\n# Pairlab export\n\n");
        y.push_str(
            "Images paired with their reports and labels, exported by Pairlab. Load it with\n\n\
             ```python\nfrom datasets import load_dataset\nds = load_dataset(\"parquet\", data_dir=\"data\")\n```\n\n\
             or load this folder (`load_dataset(\"path/to/this/folder\")`), which reads this card.\n",
        );
        if let Some(schema) = &self.plan.schema {
            y.push_str(&format!(
                "\nLabels: schema `{}` ({}); {}.\n",
                schema.name,
                schema.kind.as_str(),
                if schema.kind == SchemaKind::MultiClass {
                    "`label` is the class (null when unlabelled), `label_source` where it came from"
                } else {
                    "one column per class with 1 (positive), 0 (negative), -1 (uncertain) or null (blank); `label_sources` says where each came from"
                }
            ));
        }
        y
    }
}

/// The label columns and their features.
fn label_columns(
    schema: &Schema,
    fields: &mut Vec<Field>,
    features: &mut Vec<(String, String, String)>,
) -> Result<()> {
    if schema.kind == SchemaKind::MultiClass {
        fields.push(Field::new("label", DataType::Int64, true));
        fields.push(Field::new("label_source", DataType::Utf8, true));
        let names: Vec<String> = schema.classes.iter().map(|c| json(c)).collect();
        let yaml_names: String = schema
            .classes
            .iter()
            .enumerate()
            .map(|(i, c)| format!("\n          '{i}': {}", yaml(c)))
            .collect();
        features.push((
            "label".into(),
            format!(
                "{{\"names\": [{}], \"_type\": \"ClassLabel\"}}",
                names.join(", ")
            ),
            format!("dtype:\n      class_label:\n        names:{yaml_names}"),
        ));
        features.push((
            "label_source".into(),
            value("string"),
            "dtype: string".into(),
        ));
        return Ok(());
    }
    for class in &schema.classes {
        if FIXED.contains(&class.as_str()) || class == "label_sources" || class == "embedding" {
            return Err(Error::Invalid(format!(
                "class {class:?} has the name of a fixed column: rename the class to export it as Parquet"
            )));
        }
        fields.push(Field::new(class, DataType::Int8, true));
        features.push((class.clone(), value("int8"), "dtype: int8".into()));
    }
    let sub: Fields = schema
        .classes
        .iter()
        .map(|c| Field::new(c, DataType::Utf8, true))
        .collect();
    fields.push(Field::new("label_sources", DataType::Struct(sub), false));
    let json_sub: Vec<String> = schema
        .classes
        .iter()
        .map(|c| format!("{}: {}", json(c), value("string")))
        .collect();
    let yaml_sub: String = schema
        .classes
        .iter()
        .map(|c| format!("\n    - name: {}\n      dtype: string", yaml(c)))
        .collect();
    features.push((
        "label_sources".into(),
        format!("{{{}}}", json_sub.join(", ")),
        format!("struct:{yaml_sub}"),
    ));
    Ok(())
}

impl Sink for Parquet {
    fn row(&mut self, row: Row, image: ImageOut) -> Result<()> {
        if let ImageOut::Bytes(b, _) = &image {
            self.buffered_bytes += b.len();
        }
        self.buffered_bytes += row.report.as_ref().map_or(0, String::len);
        self.buffer.push((row, image));
        // A row group never holds more than a shard may.
        let group_bytes = (GROUP_BYTES as u64).min(self.plan.max_shard_bytes) as usize;
        if self.buffer.len() >= self.rows_per_group || self.buffered_bytes >= group_bytes {
            self.flush()?;
        }
        Ok(())
    }

    fn image_dest(&self, row: &Row, file_name: &str) -> Result<String> {
        Ok(format!("{}/{file_name}", super::hf_split(&row.part)))
    }

    fn end_part(&mut self, part: &str, rows: u64) -> Result<()> {
        self.flush()?;
        self.close_shard()?;
        let split = super::hf_split(part);
        if self.layout == Layout::Metadata {
            self.files.extend(std::mem::take(&mut self.shards));
            return Ok(());
        }
        let n = self.shards.len();
        let mut bytes = 0;
        for (i, staged) in std::mem::take(&mut self.shards).into_iter().enumerate() {
            let rel = format!("data/{split}-{i:05}-of-{n:05}.parquet");
            let (from, to) = (self.plan.dir.join(&staged), self.plan.dir.join(&rel));
            std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
            bytes += std::fs::metadata(&to).map_err(|e| Error::io(&to, e))?.len();
            self.files.push(rel);
        }
        self.counts.push((split.to_owned(), rows, bytes));
        Ok(())
    }

    fn embeds_rendered(&self) -> bool {
        self.layout == Layout::Hub
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<String>> {
        if self.layout == Layout::Metadata {
            return Ok(self.files);
        }
        let path = self.plan.dir.join("README.md");
        std::fs::write(&path, self.readme()).map_err(|e| Error::io(&path, e))?;
        self.files.push("README.md".into());
        Ok(self.files)
    }
}
