//! `pairlab export` and `pairlab import-labels`.

use std::path::PathBuf;

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::export::{
    DicomMode, ExportFormat, ExportLabels, ExportOptions, ExportSummary, ImageMode,
};
use pairlab_core::labels::import::{ImportFormat, ImportOptions, ImportSource};

use crate::bar;

fn parse_format(s: &str) -> pairlab_core::Result<ExportFormat> {
    ExportFormat::parse(s)
}

fn parse_images(s: &str) -> pairlab_core::Result<ImageMode> {
    ImageMode::parse(s)
}

/// Export pairs with their images, reports and labels.
#[derive(clap::Args)]
pub struct ExportCommand {
    /// hf-parquet, imagefolder, chexpert-csv, jsonl or csv.
    #[arg(long, value_parser = parse_format)]
    pub format: ExportFormat,
    /// The export folder (created; must be empty or hold an earlier Pairlab export).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// A split: its parts become the export's splits (default: every pair as `train`).
    #[arg(long)]
    pub split: Option<String>,
    /// The label schema (default: the library's only one).
    #[arg(long)]
    pub schema: Option<String>,
    /// Which labels: human (only people's) or best (human, else the most confident machine label).
    #[arg(long, value_enum, default_value = "best")]
    pub labels: LabelsArg,
    /// embed, thumbnail, copy, link or path (default: embed for hf-parquet, copy for
    /// imagefolder, else path).
    #[arg(long, value_parser = parse_images)]
    pub images: Option<ImageMode>,
    /// DICOM images embedded or copied: png (rendered) or keep.
    #[arg(long, value_enum, default_value = "png")]
    pub dicom: DicomArg,
    /// A registered image model whose image embeddings become a column.
    #[arg(long, value_name = "MODEL")]
    pub embeddings: Option<String>,
    /// Largest Parquet shard in MB before the next one starts.
    #[arg(long, default_value_t = 500)]
    pub max_shard_mb: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum LabelsArg {
    Human,
    Best,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum DicomArg {
    Png,
    Keep,
}

pub fn export(lib: &Library, cmd: ExportCommand) -> Result<()> {
    let opts = ExportOptions {
        format: cmd.format,
        out: cmd.out.to_string_lossy().into_owned(),
        split: cmd.split,
        schema: cmd.schema,
        labels: match cmd.labels {
            LabelsArg::Human => ExportLabels::Human,
            LabelsArg::Best => ExportLabels::Best,
        },
        images: cmd.images,
        dicom: match cmd.dicom {
            DicomArg::Png => DicomMode::Png,
            DicomArg::Keep => DicomMode::Keep,
        },
        embeddings: cmd.embeddings,
        max_shard_bytes: Some(cmd.max_shard_mb.saturating_mul(1_000_000)),
    };
    let bar = bar::Bar::new(!cmd.json);
    let summary = lib.export(&opts, &bar);
    bar.finish();
    let summary = summary?;
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_export(&summary);
    }
    Ok(())
}

fn print_export(s: &ExportSummary) {
    let parts: Vec<String> = s
        .parts
        .iter()
        .map(|p| format!("{} {}", p.part, p.rows))
        .collect();
    println!(
        "exported {} pairs as {} to {} ({})",
        s.rows,
        s.format.as_str(),
        s.out,
        parts.join(", ")
    );
    let bytes: u64 = s.files.iter().map(|f| f.bytes).sum();
    println!(
        "{} files, {:.1} MB{}",
        s.files.len(),
        bytes as f64 / 1e6,
        if s.images_written > 0 {
            format!(", {} images written", s.images_written)
        } else {
            String::new()
        }
    );
    if s.skipped > 0 {
        println!("{} pairs left out:", s.skipped);
        for k in s.skips.iter().take(10) {
            println!("  pair {}: {}", k.pair, k.reason);
        }
        if s.skipped > 10 {
            println!("  … (all listed in {}/pairlab-export.json)", s.out);
        }
    }
}

fn parse_import_format(s: &str) -> pairlab_core::Result<ImportFormat> {
    ImportFormat::parse(s)
}

/// Import a label file: CheXpert's CSV, MIMIC-CXR-JPG's CheXpert/NegBio CSV, or CSV/JSONL
/// keyed by pair id or image path.
#[derive(clap::Args)]
pub struct ImportLabelsCommand {
    /// The label file (not with --undo or --list).
    #[arg(required_unless_present_any = ["undo", "list"])]
    pub file: Option<PathBuf>,
    /// chexpert-csv, mimic-chexpert, csv or jsonl (default: from the name and header).
    #[arg(long, value_parser = parse_import_format)]
    pub format: Option<ImportFormat>,
    /// The label schema (default: the library's only one).
    #[arg(long)]
    pub schema: Option<String>,
    /// import (machine-like: people's labels stay current) or human (needs --annotator).
    #[arg(long, value_enum, default_value = "import")]
    pub source: SourceArg,
    /// Who the labels are from, with --source human (and who undoes, with --undo).
    #[arg(long, env = "PAIRLAB_ANNOTATOR")]
    pub annotator: Option<String>,
    /// Undo the import with this id (all its labels, as one step).
    #[arg(long, value_name = "ID", conflicts_with = "file")]
    pub undo: Option<i64>,
    /// List the imports.
    #[arg(long, conflicts_with_all = ["file", "undo"])]
    pub list: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum SourceArg {
    Import,
    Human,
}

pub fn import_labels(lib: &mut Library, cmd: ImportLabelsCommand) -> Result<()> {
    if cmd.list {
        let all = lib.label_imports()?;
        if cmd.json {
            println!("{}", serde_json::to_string_pretty(&all)?);
        }
        for i in all.iter().filter(|_| !cmd.json) {
            println!(
                "#{} {} {} ({}, schema {}, {}): {} rows, {} matched, {} unmatched, {} errors, {} changes{}",
                i.id,
                i.time,
                i.file,
                i.format,
                i.schema,
                i.source,
                i.rows,
                i.matched,
                i.unmatched,
                i.errors,
                i.changes,
                if i.undone { ", undone" } else { "" }
            );
        }
        return Ok(());
    }
    if let Some(id) = cmd.undo {
        let who = cmd
            .annotator
            .unwrap_or_else(crate::labels::default_annotator);
        let undone = lib.undo_import(id, &who)?;
        if cmd.json {
            println!("{}", serde_json::to_string_pretty(&undone)?);
        } else {
            println!(
                "undid import #{}: {} label values put back",
                id, undone.reverted
            );
        }
        return Ok(());
    }
    let opts = ImportOptions {
        file: cmd.file.map(|f| f.to_string_lossy().into_owned()),
        format: cmd.format,
        schema: cmd.schema,
        source: match cmd.source {
            SourceArg::Import => ImportSource::Import,
            SourceArg::Human => ImportSource::Human,
        },
        annotator: cmd.annotator,
        ..ImportOptions::default()
    };
    let bar = bar::Bar::new(!cmd.json);
    let summary = lib.import_labels(&opts, &bar);
    bar.finish();
    let s = summary?;
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!(
        "import #{}: {} rows of {} ({}) into schema {} as {}: {} matched ({} pairs), {} label values changed",
        s.import_id,
        s.rows,
        s.file,
        s.format.as_str(),
        s.schema,
        s.source,
        s.matched,
        s.pairs,
        s.changes
    );
    println!("class columns: {}", s.class_columns.join(", "));
    if !s.ignored_columns.is_empty() {
        println!("ignored columns: {}", s.ignored_columns.join(", "));
    }
    for (what, n, rows) in [
        ("unmatched", s.unmatched, &s.unmatched_rows),
        ("malformed", s.errors, &s.error_rows),
        ("duplicate", s.duplicates, &s.duplicate_rows),
    ] {
        if n > 0 {
            println!("{n} {what} rows:");
            for r in rows.iter().take(10) {
                println!("  line {}: {}: {}", r.line, r.key, r.message);
            }
            if n > 10 {
                println!("  … ({} more; --json lists up to 1000)", n - 10);
            }
        }
    }
    println!("undo it with: pairlab import-labels --undo {}", s.import_id);
    Ok(())
}
