//! `pairlab prelabel reports`, `pairlab label-reports` (a drop-in for the CheXpert
//! labeler's command line) and `pairlab labeler eval`.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use pairlab_core::Library;
use pairlab_core::chexpert_csv::{self, Format};
use pairlab_core::labeler::Labeler;

#[derive(Subcommand)]
pub enum PrelabelCommand {
    /// Label every pair from its report with the rule-based labeler (source report-rules).
    Reports {
        #[arg(long, default_value = "chexpert")]
        schema: String,
        /// Report sections to label (a report without any of them is labelled whole).
        #[arg(long, value_delimiter = ',', default_value = "findings,impression")]
        sections: Vec<String>,
        /// Labeler rules (TOML, like assets/labeler/chexpert.toml) instead of the schema's own.
        #[arg(long)]
        rules: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Labels from a training run's predictions (source model:run-<id>, probability as
    /// confidence; multi-label classes thresholded where F1 was best on the val part).
    Model {
        #[arg(long)]
        run: i64,
        #[arg(long)]
        json: bool,
    },
    /// Zero-shot labels from a CLIP model (source model:<name>): per class, the softmax over
    /// the image's similarity to the schema's positive and negative prompts.
    ZeroShot {
        #[arg(long)]
        model: String,
        #[arg(long, default_value = "chexpert")]
        schema: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum LabelerCommand {
    /// Per-class precision / recall / F1 (positive, negative, uncertain) against a gold file.
    Eval {
        #[arg(long)]
        gold: PathBuf,
        #[arg(long)]
        pred: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn prelabel(lib: &mut Library, cmd: PrelabelCommand) -> Result<()> {
    let (schema, sections, rules, json) = match cmd {
        PrelabelCommand::Reports {
            schema,
            sections,
            rules,
            json,
        } => (schema, sections, rules, json),
        PrelabelCommand::ZeroShot {
            model,
            schema,
            json,
        } => return crate::models::zero_shot(lib, &model, &schema, json),
        PrelabelCommand::Model { run, json } => {
            let (source, pairs) = lib.prelabel_from_run(run)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"run": run, "source": source, "pairs": pairs})
                );
            } else {
                println!("{pairs} pairs labelled from run {run} (source {source})");
            }
            return Ok(());
        }
    };
    let labeler = match rules {
        Some(file) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            Labeler::from_toml(&text).with_context(|| format!("rules in {}", file.display()))?
        }
        None => lib.labeler_for(&schema)?,
    };
    let labeler = labeler.with_sections(lower(sections));
    let bar = crate::bar::Bar::new(!json);
    let s = lib.prelabel_reports(&labeler, &schema, &bar)?;
    bar.finish();
    if json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        println!(
            "Labelled {} reports ({} pairs) under {}: {} labels from report-rules in {:.2} s",
            s.reports, s.pairs, s.schema, s.labels, s.seconds
        );
    }
    Ok(())
}

fn lower(sections: Vec<String>) -> Vec<String> {
    sections
        .into_iter()
        .map(|s| s.trim().to_lowercase())
        .collect()
}

/// `pairlab label-reports --input reports.csv --output labeled.csv`
pub fn label_reports(input: PathBuf, output: PathBuf, sections: Vec<String>) -> Result<()> {
    let labeler = Labeler::chexpert()?.with_sections(lower(sections));
    let reader = BufReader::new(
        File::open(&input).with_context(|| format!("cannot open {}", input.display()))?,
    );
    let writer = BufWriter::new(
        File::create(&output).with_context(|| format!("cannot create {}", output.display()))?,
    );
    let n = chexpert_csv::label_reports(
        &labeler,
        reader,
        Format::of(&input),
        writer,
        Format::of(&output),
    )?;
    eprintln!("labelled {n} reports → {}", output.display());
    Ok(())
}

pub fn labeler(cmd: LabelerCommand) -> Result<()> {
    let LabelerCommand::Eval { gold, pred, json } = cmd;
    let open = |p: &PathBuf| -> Result<BufReader<File>> {
        Ok(BufReader::new(
            File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        ))
    };
    let rows = chexpert_csv::evaluate(open(&gold)?, open(&pred)?)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<28} {:>20} {:>20} {:>20}",
        "class", "positive P/R/F1", "negative P/R/F1", "uncertain P/R/F1"
    );
    let f = |p: &chexpert_csv::Prf| {
        format!(
            "{:.2}/{:.2}/{:.2} ({})",
            p.precision, p.recall, p.f1, p.support
        )
    };
    for r in &rows {
        println!(
            "{:<28} {:>20} {:>20} {:>20}",
            r.class,
            f(&r.positive),
            f(&r.negative),
            f(&r.uncertain)
        );
    }
    Ok(())
}
