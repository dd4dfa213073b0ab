//! `pairlab bench export`: the synthetic library (as `bench browse` writes it) exported to
//! hf-parquet with image paths and with embedded thumbnails, at N/10 and N pairs, each
//! export a child process whose time and peak memory are measured side by side.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use crate::bench::run_child;
use crate::bench_browse::open_synthetic;

pub fn run(n: u64, dir: Option<PathBuf>, json: bool) -> Result<()> {
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join("pairlab-bench-export"));
    let mut rows = Vec::new();
    for size in [n / 10, n] {
        let lib = dir.join(format!("library-{size}"));
        drop(open_synthetic(&lib, size, json)?);
        for images in ["path", "thumbnail"] {
            let out = dir.join(format!("export-{size}-{images}"));
            if out.exists() {
                std::fs::remove_dir_all(&out)?;
            }
            let mut cmd = Command::new(std::env::current_exe()?);
            cmd.arg("--library").arg(&lib).args([
                "export",
                "--format",
                "hf-parquet",
                "--split",
                "synthetic",
                "--schema",
                "chexpert",
                "--images",
                images,
                "--json",
                "--out",
            ]);
            cmd.arg(&out);
            let r = run_child(&mut cmd)?;
            let written: u64 = r.summary["files"]
                .as_array()
                .map(|f| f.iter().filter_map(|f| f["bytes"].as_u64()).sum())
                .unwrap_or(0);
            let exported = r.summary["rows"].as_u64().unwrap_or(0);
            rows.push(serde_json::json!({
                "pairs": size,
                "images": images,
                "rows": exported,
                "seconds": r.seconds,
                "pairs_per_second": exported as f64 / r.seconds,
                "peak_rss_mib": r.peak_rss_kib as f64 / 1024.0,
                "written_mb": written as f64 / 1e6,
                "files": r.summary["files"].as_array().map_or(0, Vec::len),
            }));
            std::fs::remove_dir_all(&out)?;
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("export to hf-parquet (each a child process; release build for real figures)");
    println!(
        "{:>9} {:>10} {:>9} {:>11} {:>10} {:>10}",
        "pairs", "images", "seconds", "pairs/s", "peak MiB", "MB out"
    );
    for r in &rows {
        println!(
            "{:>9} {:>10} {:>9.2} {:>11.0} {:>10.1} {:>10.1}",
            r["pairs"].as_u64().unwrap_or(0),
            r["images"].as_str().unwrap_or_default(),
            r["seconds"].as_f64().unwrap_or(0.0),
            r["pairs_per_second"].as_f64().unwrap_or(0.0),
            r["peak_rss_mib"].as_f64().unwrap_or(0.0),
            r["written_mb"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(())
}
