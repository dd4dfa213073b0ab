//! `pairlab train` and `pairlab runs`.

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::runs::{self, RunSummary, TrainOptions};

use crate::bar::Bar;

#[allow(clippy::too_many_arguments)]
pub fn train(
    lib: &mut Library,
    schema: String,
    split: String,
    trainer: String,
    model: Option<String>,
    epochs: usize,
    lr: f64,
    hidden: usize,
    uncertain: &str,
    seed: u64,
    json: bool,
) -> Result<()> {
    let opts = TrainOptions {
        schema,
        split,
        trainer,
        model,
        epochs,
        lr,
        hidden,
        uncertain: runs::parse_uncertain(uncertain)?,
        seed,
    };
    let bar = Bar::new(!json);
    let s = lib.train(&opts, &bar);
    bar.finish();
    let s = s?;
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!(
        "run {}: {} on split {} ({} classes), {} epochs, best epoch {} (val loss {:.4}) in {:.1} s",
        s.run_id,
        s.trainer,
        s.split,
        s.classes.len(),
        s.epochs,
        s.best_epoch.unwrap_or(0),
        s.final_val_loss.unwrap_or(f64::NAN),
        s.seconds
    );
    println!("next: pairlab eval --run {} --split test", s.run_id);
    Ok(())
}

fn line(r: &RunSummary) -> String {
    format!(
        "{:>4}  {:<9} {:<6} {:<12} {:<12} {:<10} epochs {:>3} best {:>3}  {}",
        r.run_id,
        r.status,
        r.trainer,
        r.schema,
        r.split,
        r.model.as_deref().unwrap_or("-"),
        r.epochs,
        r.best_epoch.unwrap_or(0),
        r.created_at
    )
}

pub fn list(lib: &Library, json: bool) -> Result<()> {
    let all = lib.runs()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    if all.is_empty() {
        println!("no runs yet: pairlab train --schema S --split NAME --trainer head --model M");
    }
    for r in &all {
        println!("{}", line(r));
    }
    Ok(())
}
