//! `pairlab split`, `pairlab splits` and `pairlab leakage`.

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::api::library_args::SplitArgs;
use pairlab_core::splits::{self, LeakageReport, SplitOptions, SplitSummary};

/// Make (or remake, unless frozen) a named split of every present pair.
#[derive(clap::Args)]
pub struct SplitCommand {
    #[arg(long)]
    pub name: String,
    #[arg(long, default_value = "patient")]
    pub strategy: String,
    #[arg(long, default_value = "0.8,0.1,0.1")]
    pub ratios: String,
    /// Part names (default: train,val,test for three ratios, train,test for two).
    #[arg(long)]
    pub parts: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stratify by a label of this schema (with --class for multi-label schemas).
    #[arg(long)]
    pub schema: Option<String>,
    #[arg(long)]
    pub class: Option<String>,
    /// Freeze the split so that it can never be remade.
    #[arg(long)]
    pub freeze: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn split(lib: &mut Library, cmd: SplitCommand) -> Result<()> {
    let SplitCommand {
        name,
        strategy,
        ratios,
        parts,
        seed,
        schema,
        class,
        freeze,
        json,
    } = cmd;
    // The same checks and defaults as the UI's `POST /splits`.
    let opts: SplitOptions = SplitArgs {
        name,
        strategy: Some(strategy),
        ratios: Some(ratios),
        parts,
        seed: Some(seed),
        schema,
        class,
        freeze: Some(freeze),
    }
    .options()?;
    let s = lib.make_split(&opts)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    print_split(&s);
    if opts.strategy == splits::Strategy::Patient {
        println!(
            "no patient is in two parts (check: pairlab leakage --split {})",
            s.name
        );
    }
    Ok(())
}

fn print_split(s: &SplitSummary) {
    let frozen = if s.frozen { ", frozen" } else { "" };
    println!("split {} ({}{frozen})", s.name, s.strategy);
    for p in &s.parts {
        println!(
            "  {:<8} {:>7} pairs  {:>6} patients",
            p.part, p.pairs, p.patients
        );
    }
}

pub fn list(lib: &Library, freeze: Option<String>, json: bool) -> Result<()> {
    if let Some(name) = freeze {
        lib.freeze_split(&name)?;
    }
    let all = lib.splits()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    if all.is_empty() {
        println!("no splits yet: pairlab split --name NAME --strategy patient");
    }
    for s in &all {
        print_split(s);
    }
    Ok(())
}

pub fn leakage(lib: &Library, split: &str, near: splits::NearOptions, json: bool) -> Result<()> {
    let r: LeakageReport = lib.leakage(split, near)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let how = if r.loose {
        "not checked on the pixels"
    } else {
        "the same picture"
    };
    println!(
        "split {}: {} patients, {} exact duplicates and {} near duplicates (dHash ≤ {}, {how}) in {} clusters shared across parts",
        r.split,
        r.patients.len(),
        r.exact_duplicates.len(),
        r.near_total,
        near.distance,
        r.near_clusters.len()
    );
    if r.look_alikes + r.unchecked > 0 {
        println!(
            "  not counted: {} look-alikes (close hashes, different pixels){}",
            r.look_alikes,
            if r.unchecked > 0 {
                format!(", {} without a readable thumbnail", r.unchecked)
            } else {
                String::new()
            }
        );
    }
    if r.near_total > r.near_duplicates.len() as u64 {
        println!(
            "  (--json lists the closest {} near pairs; a smaller --near is stricter)",
            r.near_duplicates.len()
        );
    }
    for (what, list) in [
        ("patient", &r.patients),
        ("exact", &r.exact_duplicates),
        ("near", &r.near_clusters),
    ] {
        for s in list.iter().take(20) {
            println!(
                "  {what:<7} {:<24} parts {}  pairs {:?}",
                s.key,
                s.parts.join("+"),
                s.pairs
            );
        }
    }
    if r.is_clean() {
        println!("no leakage found");
    }
    Ok(())
}
