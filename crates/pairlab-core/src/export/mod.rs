//! Export: a library's pairs (a split's parts, or every pair as `train`) with their images,
//! reports, patients, studies and labels, in the formats the field reads — Hugging Face
//! `datasets` Parquet, ImageFolder, the CheXpert CSV, JSONL and CSV.
//!
//! An export reads the library a page at a time and writes as it goes (memory does not
//! grow with the library), is deterministic (the same library gives the same bytes), and
//! never writes outside its folder: everything is written under `OUT/.pairlab-partial`
//! and moved into place at the end, so a failed or cancelled export leaves no half files.
//! `OUT/pairlab-export.json` records what was written; a later export into the same folder
//! replaces exactly those files and refuses a folder holding anything else.

mod folder;
mod hf;
mod out;
mod rows;
#[cfg(test)]
mod tests;
mod text;

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{Error, Result};
use crate::labels::{Schema, schema};
use crate::progress::Progress;
use out::{absolute, prepare_out, publish};
pub use rows::Row;
use rows::{Reader, Which};

/// The file an export leaves in its folder: its summary, and the list of files a later
/// export into the same folder may replace.
pub const MANIFEST: &str = "pairlab-export.json";
const PARTIAL: &str = ".pairlab-partial";

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, TS)]
#[serde(rename_all = "kebab-case")]
pub enum ExportFormat {
    /// Hugging Face `datasets`' hub layout: Parquet shards per part and a README card.
    HfParquet,
    /// `split/class/image` (multi-class) or images with a `metadata.parquet` per split
    /// (multi-label).
    Imagefolder,
    /// CheXpert's `Path,Sex,Age,Frontal/Lateral,AP/PA,<classes>`, one file per part.
    ChexpertCsv,
    Jsonl,
    Csv,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Result<ExportFormat> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            Error::field(
                "format",
                format!("{s:?}: use hf-parquet, imagefolder, chexpert-csv, jsonl or csv"),
            )
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::HfParquet => "hf-parquet",
            ExportFormat::Imagefolder => "imagefolder",
            ExportFormat::ChexpertCsv => "chexpert-csv",
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
        }
    }

    /// The image modes the format can write, the default first.
    fn image_modes(self) -> &'static [ImageMode] {
        use ImageMode::*;
        match self {
            ExportFormat::HfParquet => &[Embed, Thumbnail, Path],
            ExportFormat::Imagefolder => &[Copy, Link],
            ExportFormat::ChexpertCsv | ExportFormat::Jsonl | ExportFormat::Csv => {
                &[Path, Copy, Link]
            }
        }
    }
}

/// Which labels fill the label columns.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, TS)]
#[serde(rename_all = "kebab-case")]
pub enum ExportLabels {
    /// Only labels a person set.
    Human,
    /// The value that counts: the human label, else the most confident machine label.
    #[default]
    Best,
}

/// How images travel with the export.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, TS)]
#[serde(rename_all = "kebab-case")]
pub enum ImageMode {
    /// The image's bytes inside the data files (hf-parquet).
    Embed,
    /// The stored thumbnail's bytes inside the data files (hf-parquet; small previews).
    Thumbnail,
    /// A copy of each image under the export folder.
    Copy,
    /// A symbolic link to each image under the export folder.
    Link,
    /// The image's absolute path only.
    Path,
}

impl ImageMode {
    pub fn parse(s: &str) -> Result<ImageMode> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| {
            Error::field(
                "images",
                format!("{s:?}: use embed, thumbnail, copy, link or path"),
            )
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            ImageMode::Embed => "embed",
            ImageMode::Thumbnail => "thumbnail",
            ImageMode::Copy => "copy",
            ImageMode::Link => "link",
            ImageMode::Path => "path",
        }
    }
}

/// What becomes of DICOM images that are embedded or copied.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, TS)]
#[serde(rename_all = "kebab-case")]
pub enum DicomMode {
    /// Rendered to PNG (what `datasets`' Image feature and ImageFolder read).
    #[default]
    Png,
    /// Kept as the DICOM file.
    Keep,
}

/// What to export, and where.
#[derive(Clone, Debug, Deserialize, Serialize, TS)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// The export folder (created; must be empty or hold an earlier Pairlab export).
    pub out: String,
    /// A split: its parts become the export's splits. Without one every pair is `train`.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub split: Option<String>,
    /// The label schema (default: the library's only schema; none: no label columns).
    #[serde(default)]
    #[ts(optional = nullable)]
    pub schema: Option<String>,
    #[serde(default)]
    pub labels: ExportLabels,
    /// Default: `embed` for hf-parquet, `copy` for imagefolder, else `path`.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub images: Option<ImageMode>,
    #[serde(default)]
    pub dicom: DicomMode,
    /// A registered image model whose stored image embeddings become a column.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub embeddings: Option<String>,
    /// Largest Parquet shard before the next one starts (default 500 MB, as `datasets`).
    #[serde(default)]
    #[ts(optional)]
    pub max_shard_bytes: Option<u64>,
}

/// One file the export wrote.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, TS)]
pub struct ExportFile {
    /// Relative to the export folder.
    pub path: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, TS)]
pub struct ExportPart {
    pub part: String,
    pub rows: u64,
}

/// A pair left out, and why.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, TS)]
pub struct ExportSkip {
    pub pair: i64,
    pub reason: String,
}

/// At most this many skipped pairs are listed (all are counted).
const MAX_LISTED_SKIPS: usize = 1000;

/// What an export wrote.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, TS)]
pub struct ExportSummary {
    pub format: ExportFormat,
    /// The export folder, absolute.
    pub out: String,
    pub split: Option<String>,
    pub schema: Option<String>,
    pub labels: ExportLabels,
    pub images: ImageMode,
    pub rows: u64,
    pub parts: Vec<ExportPart>,
    /// Data files, cards and metadata (copied images are counted, not listed).
    pub files: Vec<ExportFile>,
    pub images_written: u64,
    pub skipped: u64,
    /// The first skipped pairs with their reasons.
    pub skips: Vec<ExportSkip>,
}

/// The split name `datasets` gives a part: `val` and `valid` are `validation` (what it
/// infers from file and folder names), the others keep theirs.
pub(crate) fn hf_split(part: &str) -> &str {
    match part {
        "val" | "valid" => "validation",
        p => p,
    }
}

/// How an image reaches a sink.
pub(crate) enum ImageOut {
    /// The bytes to embed, and the file name they stand for.
    Bytes(Vec<u8>, String),
    /// Where the copy or link was put, relative to the export folder.
    Placed(String),
    /// The original's absolute path.
    Path(String),
}

/// A format's writer. Rows arrive part by part, in order.
pub(crate) trait Sink {
    /// Where an image placed under the export folder goes (relative to it), or why the
    /// pair cannot be written (an ImageFolder pair without a class).
    fn image_dest(&self, _row: &Row, file_name: &str) -> Result<String> {
        Ok(format!("images/{}/{file_name}", _row.part))
    }
    /// Whether images given by path that must be rendered (DICOM) travel as bytes.
    fn embeds_rendered(&self) -> bool {
        false
    }
    fn row(&mut self, row: Row, image: ImageOut) -> Result<()>;
    /// The part's last row has been written.
    fn end_part(&mut self, _part: &str, _rows: u64) -> Result<()> {
        Ok(())
    }
    /// Writes what remains; answers the files written (relative to the export folder).
    fn finish(self: Box<Self>) -> Result<Vec<String>>;
}

/// What every sink knows of the export.
pub(crate) struct Plan {
    /// Where files are written (the staging folder).
    pub dir: PathBuf,
    pub schema: Option<Schema>,
    pub parts: Vec<String>,
    pub embedding_dim: Option<usize>,
    pub images: ImageMode,
    pub max_shard_bytes: u64,
}

/// Exports the library's pairs as `opts` says.
pub fn export(
    conn: &Connection,
    thumbs: &Path,
    opts: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportSummary> {
    let images = opts.images.unwrap_or(opts.format.image_modes()[0]);
    if !opts.format.image_modes().contains(&images) {
        let can: Vec<&str> = opts
            .format
            .image_modes()
            .iter()
            .map(|m| m.as_str())
            .collect();
        return Err(Error::field(
            "images",
            format!(
                "{} cannot be written with images {}: use {}",
                opts.format.as_str(),
                images.as_str(),
                can.join(" or ")
            ),
        ));
    }
    let schema = pick_schema(conn, opts.schema.as_deref(), opts.format)?;
    let (split_id, parts) = parts_of(conn, opts.split.as_deref())?;
    let model = match &opts.embeddings {
        Some(name) => {
            if matches!(opts.format, ExportFormat::Csv | ExportFormat::ChexpertCsv) {
                return Err(Error::field(
                    "embeddings",
                    "CSV files hold no embedding column: export hf-parquet or jsonl",
                ));
            }
            let m = crate::models::get(conn, name)?;
            Some((m.id, m.dim))
        }
        None => None,
    };
    let out = absolute(Path::new(&opts.out))?;
    let staging = prepare_out(&out)?;
    let plan = Plan {
        dir: staging.clone(),
        schema: schema.clone(),
        parts: parts.clone(),
        embedding_dim: model.map(|m| m.1),
        images,
        max_shard_bytes: opts.max_shard_bytes.unwrap_or(500_000_000).max(1),
    };
    let which = match opts.labels {
        ExportLabels::Human => Which::Human,
        ExportLabels::Best => Which::Best,
    };
    let reader = Reader::new(conn, split_id, schema.as_ref(), which, model);
    let mut summary = ExportSummary {
        format: opts.format,
        out: out.to_string_lossy().into_owned(),
        split: opts.split.clone(),
        schema: schema.as_ref().map(|s| s.name.clone()),
        labels: opts.labels,
        images,
        rows: 0,
        parts: Vec::new(),
        files: Vec::new(),
        images_written: 0,
        skipped: 0,
        skips: Vec::new(),
    };
    let outcome = write_all(&reader, plan, opts, thumbs, &mut summary, progress)
        .and_then(|files| publish(&staging, &out, files, &mut summary));
    if outcome.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    outcome?;
    Ok(summary)
}

fn write_all(
    reader: &Reader,
    plan: Plan,
    opts: &ExportOptions,
    thumbs: &Path,
    summary: &mut ExportSummary,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let total = plan
        .parts
        .iter()
        .map(|p| reader.count(p))
        .sum::<Result<u64>>()?;
    progress.stage("export", total);
    let parts = plan.parts.clone();
    let images = plan.images;
    let mut sink: Box<dyn Sink> = match opts.format {
        ExportFormat::HfParquet => Box::new(hf::Parquet::new(plan, hf::Layout::Hub)?),
        ExportFormat::Imagefolder => match &plan.schema {
            Some(s) if s.kind == crate::labels::SchemaKind::MultiLabel => {
                Box::new(hf::Parquet::new(plan, hf::Layout::Metadata)?)
            }
            _ => Box::new(folder::ImageFolder::new(plan)?),
        },
        ExportFormat::ChexpertCsv => Box::new(text::Chexpert::new(plan)?),
        ExportFormat::Jsonl => Box::new(text::Jsonl::new(plan)),
        ExportFormat::Csv => Box::new(text::Csv::new(plan)),
    };
    let staging = PathBuf::from(&summary.out).join(PARTIAL);
    for part in &parts {
        let mut written = 0;
        let mut after = 0;
        loop {
            let page = reader.page(part, after)?;
            let Some(last) = page.last() else { break };
            after = last.pair;
            for row in page {
                if progress.is_cancelled() {
                    return Err(Error::Cancelled);
                }
                let file_name = export_name(&row, images, opts.dicom);
                let image = match image_out(
                    &row, images, opts.dicom, thumbs, &staging, &*sink, &file_name,
                ) {
                    Ok(image) => image,
                    Err(why) => {
                        summary.skipped += 1;
                        if summary.skips.len() < MAX_LISTED_SKIPS {
                            summary.skips.push(ExportSkip {
                                pair: row.pair,
                                reason: why.to_string(),
                            });
                        }
                        progress.advance(1);
                        continue;
                    }
                };
                if matches!(image, ImageOut::Placed(_)) {
                    summary.images_written += 1;
                }
                sink.row(row, image)?;
                written += 1;
                progress.advance(1);
            }
        }
        sink.end_part(part, written)?;
        summary.rows += written;
        summary.parts.push(ExportPart {
            part: part.clone(),
            rows: written,
        });
    }
    sink.finish()
}

/// The file name an image gets in the export: the pair id before the original name (so
/// names never collide), `.png` for an image rendered from DICOM.
fn export_name(row: &Row, images: ImageMode, dicom: DicomMode) -> String {
    let base = row
        .image_path
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_control() || c == '\\' { '_' } else { c })
        .collect::<String>();
    let name = format!("{}_{base}", row.pair);
    if images == ImageMode::Thumbnail {
        let ext = row
            .thumb
            .as_deref()
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("jpg");
        return format!("{}_thumb.{ext}", row.pair);
    }
    if row.format == "dicom" && dicom == DicomMode::Png {
        let stem = name.rsplit_once('.').map_or(name.as_str(), |(s, _)| s);
        return format!("{stem}.png");
    }
    name
}

/// The image of `row` as the sink takes it, or why the pair is left out (an error that
/// skips the pair, recorded with it; the export goes on).
fn image_out(
    row: &Row,
    mode: ImageMode,
    dicom: DicomMode,
    thumbs: &Path,
    staging: &Path,
    sink: &dyn Sink,
    file_name: &str,
) -> Result<ImageOut> {
    if row.missing {
        return Err(Error::NotFound(
            "the image file is missing from its corpus".into(),
        ));
    }
    let render = row.format == "dicom" && dicom == DicomMode::Png;
    let bytes = || -> Result<Vec<u8>> {
        if render {
            crate::api::render_png(&row.abs_image, &row.format)
        } else {
            std::fs::read(&row.abs_image).map_err(|e| Error::io(&row.abs_image, e))
        }
    };
    match mode {
        // Parquet's Image feature is decoded by PIL, which cannot read DICOM: the rendered
        // PNG travels with the original's path.
        ImageMode::Path if render && sink.embeds_rendered() => Ok(ImageOut::Bytes(
            bytes()?,
            row.abs_image.to_string_lossy().into_owned(),
        )),
        ImageMode::Path => Ok(ImageOut::Path(row.abs_image.to_string_lossy().into_owned())),
        ImageMode::Embed => Ok(ImageOut::Bytes(bytes()?, file_name.to_owned())),
        ImageMode::Thumbnail => {
            let rel = row
                .thumb
                .as_deref()
                .filter(|rel| crate::api::is_plain_relative(Path::new(rel)))
                .ok_or_else(|| Error::NotFound("the pair has no thumbnail".into()))?;
            let path = thumbs.join(rel);
            let b = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            Ok(ImageOut::Bytes(b, file_name.to_owned()))
        }
        ImageMode::Copy | ImageMode::Link => {
            let rel = sink.image_dest(row, file_name)?;
            let dest = staging.join(&rel);
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            if mode == ImageMode::Link && !render {
                link(&row.abs_image, &dest)?;
            } else if render {
                std::fs::write(&dest, bytes()?).map_err(|e| Error::io(&dest, e))?;
            } else {
                std::fs::copy(&row.abs_image, &dest).map_err(|e| Error::io(&row.abs_image, e))?;
            }
            Ok(ImageOut::Placed(rel))
        }
    }
}

#[cfg(unix)]
fn link(target: &Path, dest: &Path) -> Result<()> {
    std::os::unix::fs::symlink(target, dest).map_err(|e| Error::io(dest, e))
}

#[cfg(not(unix))]
fn link(_target: &Path, _dest: &Path) -> Result<()> {
    Err(Error::Unsupported(
        "links are made on Unix only: use --images copy".into(),
    ))
}

/// The schema the label columns come from: the one named, else the library's only one.
fn pick_schema(
    conn: &Connection,
    name: Option<&str>,
    format: ExportFormat,
) -> Result<Option<Schema>> {
    if let Some(name) = name {
        return Ok(Some(schema::get(conn, name)?));
    }
    let all = schema::list(conn)?;
    match all.len() {
        1 => Ok(all.into_iter().next()),
        0 if format == ExportFormat::Imagefolder || format == ExportFormat::ChexpertCsv => {
            Err(Error::field(
                "schema",
                "the library has no label schema: this format needs labels",
            ))
        }
        0 => Ok(None),
        _ => Err(Error::field(
            "schema",
            format!(
                "the library has several schemas: name one ({})",
                all.iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The split's id and parts in order (train, val, test first), or every pair as `train`.
fn parts_of(conn: &Connection, split: Option<&str>) -> Result<(Option<i64>, Vec<String>)> {
    let Some(name) = split else {
        return Ok((None, vec!["train".into()]));
    };
    let summary = crate::splits::get(conn, name)?;
    let id: i64 = conn.query_row("SELECT id FROM splits WHERE name = ?1", [name], |r| {
        r.get(0)
    })?;
    for p in &summary.parts {
        if p.part.is_empty()
            || !p
                .part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::Invalid(format!(
                "split {name} has a part named {:?}: exported splits are named with letters, digits and _",
                p.part
            )));
        }
    }
    Ok((
        Some(id),
        summary.parts.into_iter().map(|p| p.part).collect(),
    ))
}
