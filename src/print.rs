//! Human-readable output of the CLI commands.

use std::path::Path;

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::ingest::IndexSummary;
use pairlab_core::store::read::{ErrorRow, PairDetail, SearchHit, Stats};

pub fn index_summary(s: &IndexSummary, auto: bool) {
    let how = if auto { "detected layout" } else { "layout" };
    println!(
        "Indexed {} ({how}: {}) in {:.2} s",
        s.root, s.layout, s.seconds
    );
    println!(
        "  {} pairs · {} images · {} reports · {} unpaired images · {} unpaired reports",
        s.pairs, s.images, s.reports, s.unpaired_images, s.unpaired_reports
    );
    println!(
        "  {} new or changed · {} unchanged · {} moved · {} missing",
        s.added, s.unchanged, s.moved, s.missing
    );
    if s.errors > 0 {
        println!(
            "  {} problems recorded — `pairlab errors` lists them with reasons",
            s.errors
        );
    } else {
        println!("  no problems found");
    }
}

pub fn stats(s: &Stats) {
    println!(
        "{} corpora · {} pairs · {} images · {} reports · {} patients · {} studies",
        s.corpora,
        s.counts.pairs,
        s.counts.images,
        s.counts.reports,
        s.counts.patients,
        s.counts.studies
    );
    println!(
        "{} unpaired images · {} unpaired reports · {} missing images · {} ingest errors",
        s.counts.unpaired_images, s.counts.unpaired_reports, s.counts.missing, s.counts.errors
    );
    if !s.formats.is_empty() {
        let f: Vec<String> = s.formats.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("formats: {}", f.join(", "));
    }
    for c in &s.corpus_list {
        println!(
            "  #{} {} [{}] {} pairs, {} images, {} reports, {} errors (indexed {})",
            c.id,
            c.root,
            c.layout,
            c.counts.pairs,
            c.counts.images,
            c.counts.reports,
            c.counts.errors,
            c.indexed_at.as_deref().unwrap_or("never")
        );
        if let Some(state @ ("interrupted" | "failed" | "cancelled")) = c.index_state.as_deref() {
            println!(
                "      its last index run {} ({}): run `pairlab index {}` again to finish it",
                match state {
                    "interrupted" => "was interrupted (its process ended without finishing)",
                    "failed" => "failed",
                    _ => "was cancelled",
                },
                c.index_state_at.as_deref().unwrap_or("?"),
                c.root
            );
        }
    }
}

pub fn search(hits: &[SearchHit]) {
    if hits.is_empty() {
        println!("no matching reports");
    }
    for h in hits {
        let pairs: Vec<String> = h.pairs.iter().map(|p| p.to_string()).collect();
        println!(
            "{}  (pairs {})",
            h.source,
            if pairs.is_empty() {
                "none".into()
            } else {
                pairs.join(", ")
            }
        );
        println!("    {}", h.snippet.replace('\n', " "));
    }
}

pub fn errors(rows: &[ErrorRow]) {
    if rows.is_empty() {
        println!("no ingest errors");
    }
    for e in rows {
        println!("{:<13} {}: {}", e.kind, e.path, e.message);
    }
}

pub fn pair(d: &PairDetail) {
    let i = &d.image;
    println!("pair {}  (corpus {}: {})", d.id, d.corpus, d.corpus_root);
    println!(
        "image   {}{}\n        {}×{} {} {}-bit{}{} · {} bytes · blake3 {} · dhash {}",
        i.path,
        if i.missing { "  [MISSING]" } else { "" },
        i.width,
        i.height,
        i.format,
        i.bits,
        i.photometric
            .as_deref()
            .map(|p| format!(" {p}"))
            .unwrap_or_default(),
        i.view
            .as_deref()
            .map(|v| format!(" view {v}"))
            .unwrap_or_default(),
        i.size,
        &i.hash[..16.min(i.hash.len())],
        i.dhash
    );
    println!(
        "patient {}  study {}",
        d.patient.as_deref().unwrap_or("-"),
        d.study.as_deref().unwrap_or("-")
    );
    if !d.study_pairs.is_empty() {
        let others: Vec<String> = d.study_pairs.iter().map(|p| p.to_string()).collect();
        println!("same study: pairs {}", others.join(", "));
    }
    for s in &d.splits {
        println!("split   {}: {}", s.split, s.part);
    }
    for l in &d.labels {
        println!(
            "label   {}/{} = {} ({})",
            l.schema, l.class, l.value, l.source
        );
    }
    match &d.report {
        Some(r) => {
            println!(
                "report  {}{}",
                r.source,
                if r.lossy {
                    "  [not UTF-8; decoded lossily]"
                } else {
                    ""
                }
            );
            if !r.tags.is_empty() {
                println!("tags    {}", r.tags.join("; "));
            }
            println!();
            for line in r.text.lines() {
                println!("  {line}");
            }
        }
        None => println!("report  none"),
    }
}

/// Runs core's demo tour (write, index, pre-label, search, split, train, evaluate), prints
/// each step as it finishes, then tells the user what to run next.
pub fn demo(lib: &mut Library, dir: &Path, n: u32, seed: u64) -> Result<()> {
    use pairlab_core::demo::tour::{self, TourOptions};
    println!(
        "Writing the demo corpus ({n} patients) to {} …",
        dir.display()
    );
    let opts = TourOptions {
        dir: dir.to_owned(),
        patients: n,
        seed,
    };
    let bar = crate::bar::Bar::new(true);
    let done = tour::run(lib, &opts, &bar, &mut |step| {
        bar.suspend(|| demo_step(step))
    });
    bar.finish();
    let done = done?;
    let default = Library::default_dir().ok();
    let lib_arg = if default.as_deref() == Some(lib.root()) {
        String::new()
    } else {
        format!(" --library {}", lib.root().display())
    };
    let run = done.run;
    println!();
    // An installed pairlab (the Debian package, `cargo install`) is on the PATH already.
    let on_path = std::env::current_exe()
        .is_ok_and(|exe| !exe.components().any(|c| c.as_os_str() == "target"));
    if on_path {
        println!("Next:");
    } else {
        println!(
            "Next (as `cargo run --release -- …` until `cargo install --path .` puts pairlab on your PATH):"
        );
    }
    println!("  pairlab{lib_arg} stats");
    println!("  pairlab{lib_arg} search \"pleural effusion\"");
    println!("  pairlab{lib_arg} show 1");
    println!("  pairlab{lib_arg} label show 1");
    println!("  pairlab{lib_arg} errors");
    println!("  pairlab{lib_arg} eval --run {run} --split test");
    if let Some(model) = &done.search_model {
        println!("  pairlab{lib_arg} similar --model {model} --text \"enlarged heart\"");
    }
    println!(
        "Open what it built: `pairlab{lib_arg} serve` and browse to http://127.0.0.1:7878/ (web UI),"
    );
    println!(
        "or the desktop window: `PAIRLAB_LIBRARY={} cargo run -p pairlab-app` (README: the desktop app).",
        lib.root().display()
    );
    println!(
        "The truth behind every image and report is in {}",
        done.corpus.join("truth.csv").display()
    );
    Ok(())
}

/// Prints one step of the demo tour.
fn demo_step(step: pairlab_core::demo::tour::Step<'_>) {
    use pairlab_core::demo::tour::Step;
    match step {
        Step::Corpus(corpus) => println!(
            "  {} patients · {} studies · {} images ({} DICOM){}",
            corpus.patients,
            corpus.studies,
            corpus.images,
            corpus.dicom_images,
            if corpus.reused {
                " — already there, reused"
            } else {
                ""
            }
        ),
        Step::Indexed(summary) => index_summary(summary, true),
        Step::Prelabelled { summary, agreement } => {
            println!();
            println!(
                "Pre-labelled {} reports ({} pairs) with the report labeler: {} labels (source report-rules)",
                summary.reports, summary.pairs, summary.labels
            );
            println!("Agreement with what the demo reports state (truth.csv):");
            for a in agreement {
                let pct = if a.total == 0 {
                    0.0
                } else {
                    100.0 * a.agree as f64 / a.total as f64
                };
                println!(
                    "  {:<20} {:>4}/{:<4} {:>6.1} %",
                    a.class, a.agree, a.total, pct
                );
            }
        }
        Step::NoTextEncoder => {
            println!();
            println!(
                "To search reports by meaning, fetch a small text encoder (bash scripts/fetch-fixtures.sh) \
                 and run the demo again, or add your own: pairlab model add DIR"
            );
        }
        Step::Searched(s) => {
            println!();
            println!(
                "Embedded {} reports with {} ({} already stored). Reports closest in meaning to \"{}\":",
                s.embedded.reports, s.model, s.embedded.reports_existing, s.query
            );
            for h in &s.hits {
                let text: String = h.report.split_whitespace().collect::<Vec<_>>().join(" ");
                let short: String = text.chars().take(90).collect();
                println!("  {:.3}  pair {:<5} {short}…", h.score, h.pair);
            }
        }
        Step::Split(split) => {
            let sizes: Vec<String> = split
                .parts
                .iter()
                .map(|p| format!("{} {}", p.part, p.pairs))
                .collect();
            println!();
            println!(
                "Split by patient (no patient in two parts): {}",
                sizes.join(" · ")
            );
        }
        Step::Trained(run) => println!(
            "Trained a small CNN on 32-px images against the report labels: run {}, best epoch {} of {} ({:.1} s)",
            run.run_id,
            run.best_epoch.unwrap_or(0),
            run.epochs,
            run.seconds
        ),
        Step::Evaluated(report) => crate::runs::print_eval(report),
        Step::NotEvaluated(e) => println!("(no evaluation on the test part: {e})"),
    }
}
