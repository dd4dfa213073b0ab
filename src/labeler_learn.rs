//! `pairlab labeler learn` (the learned report labeler) and `labeler eval --gold G --run ID`
//! (a learned labeler against the rules on a gold CSV).

use std::path::Path;

use anyhow::{Context, Result, bail};
use pairlab_core::Library;
use pairlab_core::report_labeler::Labeler;
use pairlab_core::report_labeler::chexpert_csv::{self, BinaryEval, Counting};
use pairlab_core::runs::LearnOptions;

use crate::bar::Bar;

/// Train the learned report labeler: a text run on human labels where they exist and the
/// report rules' elsewhere (human labels weigh three times).
#[derive(clap::Args)]
pub struct LearnCommand {
    #[arg(long, default_value = "chexpert")]
    pub schema: String,
    /// A registered BERT-family text model [default: the only one registered].
    #[arg(long)]
    pub text_model: Option<String>,
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    /// head, a number of layers, or all.
    #[arg(long, default_value = "all")]
    pub unfreeze: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn learn(lib: &mut Library, cmd: LearnCommand) -> Result<()> {
    let opts = LearnOptions {
        schema: cmd.schema,
        text_model: cmd.text_model,
        epochs: cmd.epochs,
        unfreeze: Some(cmd.unfreeze),
        seed: cmd.seed,
    };
    let bar = Bar::new(!cmd.json);
    let s = lib.learn_labeler(&opts, &bar);
    bar.finish();
    let s = s?;
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!(
        "run {}: the learned report labeler of {} ({} on split {}), best epoch {} (val loss {:.4}) in {:.0} s",
        s.run_id,
        s.schema,
        s.model.as_deref().unwrap_or("-"),
        s.split,
        s.best_epoch.unwrap_or(0),
        s.final_val_loss.unwrap_or(f64::NAN),
        s.seconds
    );
    println!(
        "next: pairlab prelabel model --run {}   ·   pairlab labeler eval --gold GOLD.csv --run {}",
        s.run_id, s.run_id
    );
    Ok(())
}

/// The `Reports` column of a CheXpert-layout CSV.
fn report_texts(gold: &Path) -> Result<Vec<String>> {
    let mut r =
        csv::Reader::from_path(gold).with_context(|| format!("cannot read {}", gold.display()))?;
    let col = r
        .headers()?
        .iter()
        .position(|h| h.trim() == "Reports")
        .with_context(|| format!("{} has no Reports column", gold.display()))?;
    let mut out = Vec::new();
    for row in r.records() {
        out.push(row?.get(col).unwrap_or("").to_string());
    }
    Ok(out)
}

fn csv_of(classes: &[String], texts: &[String], values: &[Vec<Option<i8>>]) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(std::iter::once("Reports").chain(classes.iter().map(String::as_str)))?;
    for (t, v) in texts.iter().zip(values) {
        let cells = v.iter().map(|x| match x {
            Some(1) => "1.0",
            Some(0) => "0.0",
            Some(-1) => "-1.0",
            _ => "",
        });
        w.write_record(std::iter::once(t.as_str()).chain(cells))?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))
}

/// A learned labeler (run `run`) and the rules, scored on the same gold file.
pub fn eval_run(
    lib: &Library,
    gold: &Path,
    run: i64,
    rules: Labeler,
    count: Counting,
    json: bool,
) -> Result<()> {
    let texts = report_texts(gold)?;
    if texts.is_empty() {
        bail!("{} has no reports", gold.display());
    }
    let summary = lib.run(run)?;
    let learned = lib.label_texts_with_run(run, &texts)?;
    let rule_values: Vec<Vec<Option<i8>>> = texts
        .iter()
        .map(|t| {
            rules
                .label(t)
                .values
                .iter()
                .map(|v| v.map(|x| x.as_i8()))
                .collect()
        })
        .collect();
    let gold_bytes = std::fs::read(gold)?;
    let score = |classes: &[String], values: &[Vec<Option<i8>>]| -> Result<Vec<BinaryEval>> {
        let pred = csv_of(classes, &texts, values)?;
        Ok(chexpert_csv::evaluate_binary(
            &gold_bytes[..],
            &pred[..],
            count,
        )?)
    };
    let by_rules = score(rules.classes(), &rule_values)?;
    let by_run = score(&summary.classes, &learned)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"reports": texts.len(), "count": count, "rules": by_rules, "run": {"id": run, "classes": by_run}})
        );
        return Ok(());
    }
    println!(
        "{} reports of {}; binary scores ({}): the rules against run {run}",
        texts.len(),
        gold.display(),
        match count {
            Counting::Strict => "uncertain = negative",
            Counting::Lenient => "uncertain = positive",
        }
    );
    println!(
        "{:<28} {:>7} {:>20} {:>20}",
        "class", "support", "rules P/R/F1", "learned P/R/F1"
    );
    let f = |e: Option<&BinaryEval>| {
        e.map_or("-".to_string(), |e| {
            format!("{:.3}/{:.3}/{:.3}", e.precision, e.recall, e.f1)
        })
    };
    let (mut better, mut scored) = (0, 0);
    for r in &by_rules {
        let l = by_run.iter().find(|x| x.class == r.class);
        if r.support > 0 && l.is_some() {
            scored += 1;
            better += usize::from(l.is_some_and(|l| l.f1 > r.f1));
        }
        println!(
            "{:<28} {:>7} {:>20} {:>20}",
            r.class,
            r.support,
            f(Some(r)),
            f(l)
        );
    }
    println!(
        "the learned labeler's F1 is higher on {better} of {scored} classes with gold positives"
    );
    Ok(())
}
