//! `pairlab bench browse`: the browse grid's server-side query on a large synthetic library
//! (written straight into SQLite once and reused): pages of 100 with two filters at random
//! depths, each timed from the query to the page serialised as JSON, as the server sends it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::browse::{BrowseFilter, BrowseSort};

use crate::bar::Bar;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let k = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(k).copied().unwrap_or(f64::NAN)
}

/// Opens the synthetic library of `n` pairs in `dir`, writing it first unless it is there.
pub(crate) fn open_synthetic(dir: &Path, n: u64, json: bool) -> Result<Library> {
    let mut lib = Library::open(dir)?;
    let have: i64 = lib
        .conn()
        .query_row("SELECT COUNT(*) FROM pairs", [], |r| r.get(0))?;
    if have as u64 != n || !dir.join("thumbs").join("synthetic").is_dir() {
        drop(lib);
        std::fs::remove_dir_all(dir)?;
        lib = Library::open(dir)?;
        let bar = Bar::new(!json);
        let t = Instant::now();
        pairlab_core::demo::big_library::write(&mut lib, n, &bar)?;
        bar.finish();
        if !json {
            println!(
                "wrote {n} synthetic pairs in {:.1} s to {}",
                t.elapsed().as_secs_f64(),
                dir.display()
            );
        }
    }
    Ok(lib)
}

/// The three filters timed, each with its name (two conditions each).
fn filter_cases() -> [(&'static str, BrowseFilter); 3] {
    let class = pairlab_core::demo::big_library::CLASSES[0].to_owned();
    [
        (
            "split part = train and Cardiomegaly = 1",
            BrowseFilter {
                split: Some("synthetic".into()),
                part: Some("train".into()),
                class: Some(class.clone()),
                value: Some("1".into()),
                ..Default::default()
            },
        ),
        (
            "human label and review accepted (1 % of pairs)",
            BrowseFilter {
                source: Some("human".into()),
                review: Some("accepted".into()),
                ..Default::default()
            },
        ),
        (
            "report text \"pneumothorax\" and split part = test",
            BrowseFilter {
                split: Some("synthetic".into()),
                part: Some("test".into()),
                text: Some("pneumothorax".into()),
                ..Default::default()
            },
        ),
    ]
}

pub fn run(n: u64, queries: usize, dir: Option<PathBuf>, json: bool) -> Result<()> {
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("pairlab-bench-browse-{n}")));
    let lib = open_synthetic(&dir, n, json)?;
    let cases = filter_cases();
    let by_id = BrowseSort::default();
    let mut out = Vec::new();
    for (name, filter) in &cases {
        // The first page warms the statement and page caches (and collects a text query's
        // matches), as in a running server; it is reported on its own.
        let t = Instant::now();
        lib.browse(filter, &by_id, None, 100)?;
        let first = t.elapsed().as_secs_f64() * 1000.0;
        let mut state = 0x0b0e_5eedu64;
        let mut times = Vec::with_capacity(queries);
        let mut rows = 0usize;
        for _ in 0..queries {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let after = ((state >> 33) % n.max(1)).to_string();
            let t = Instant::now();
            let page = lib.browse(filter, &by_id, Some(&after), 100)?;
            let body = serde_json::to_vec(&page)?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            rows += page.rows.len();
            std::hint::black_box(body);
        }
        times.sort_by(f64::total_cmp);
        let (p50, p95, max) = (
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 1.0),
        );
        let mean_rows = rows as f64 / queries.max(1) as f64;
        // The grid's total (asked for after the first page): the median of 3 counts.
        let mut counts = Vec::new();
        let mut total = 0;
        for _ in 0..3 {
            let t = Instant::now();
            total = lib.browse_count(filter, &by_id)?;
            counts.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        counts.sort_by(f64::total_cmp);
        let count_ms = counts[1];
        if !json {
            println!(
                "{name}: first page {first:.1} ms, then p50 {p50:.2} ms, p95 {p95:.2} ms, max {max:.2} ms ({mean_rows:.1} rows per page); total {total} counted in {count_ms:.0} ms"
            );
        }
        out.push(serde_json::json!({"filter": name, "first_ms": first, "p50_ms": p50, "p95_ms": p95, "max_ms": max, "mean_rows": mean_rows, "total": total, "count_ms": count_ms}));
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"pairs": n, "queries": queries, "page": 100, "cases": out})
        );
    } else {
        println!("({n} pairs, {queries} pages of 100 per filter at random depths, query + JSON)");
    }
    Ok(())
}
