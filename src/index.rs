//! `pairlab index`.

use std::path::PathBuf;

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::ingest::{IndexOptions, Layout, Limits};

use crate::{bar, print};

fn parse_layout(s: &str) -> pairlab_core::Result<Layout> {
    Layout::parse(s)
}

/// Index (or re-index) a corpus folder into the library.
#[derive(clap::Args)]
pub struct IndexCommand {
    /// The corpus folder.
    pub root: PathBuf,
    /// auto, stem, folders, mimic, iu-xml or manifest.
    #[arg(long, default_value = "auto", value_parser = parse_layout)]
    pub layout: Layout,
    /// CSV or JSONL manifest (for --layout manifest; found at ROOT's top otherwise).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Refuse images with more pixels than this (decompression-bomb guard).
    #[arg(long, default_value_t = Limits::default().max_pixels)]
    pub max_pixels: u64,
    /// Refuse image files larger than this many MiB.
    #[arg(long, default_value_t = Limits::default().max_image_bytes >> 20)]
    pub max_file_mib: u64,
    /// Memory for decoded images, all workers together, in MiB: a large image waits
    /// for its share, and one that alone needs more is an error row.
    #[arg(long, default_value_t = Limits::default().max_decode_bytes >> 20)]
    pub decode_memory_mib: u64,
    /// Do not write thumbnails.
    #[arg(long)]
    pub no_thumbnails: bool,
    /// Files per piece of a streamed plan (whole folders; for tests).
    #[arg(long, hide = true, default_value_t = pairlab_core::ingest::SEGMENT_FILES)]
    pub segment_files: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn index(lib: &mut Library, cmd: IndexCommand) -> Result<()> {
    let opts = IndexOptions {
        layout: cmd.layout,
        manifest: cmd.manifest,
        limits: Limits {
            max_pixels: cmd.max_pixels,
            max_image_bytes: cmd.max_file_mib << 20,
            max_decode_bytes: cmd.decode_memory_mib << 20,
            ..Limits::default()
        },
        thumbnails: !cmd.no_thumbnails,
        segment_files: cmd.segment_files,
    };
    let bar = bar::Bar::new(!cmd.json);
    let summary = lib.index(&cmd.root, &opts, &bar);
    bar.finish();
    let summary = summary?;
    if cmd.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print::index_summary(&summary, cmd.layout == Layout::Auto);
    }
    Ok(())
}
