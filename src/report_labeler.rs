//! `pairlab prelabel reports`, `pairlab label-reports` (a drop-in for the CheXpert
//! labeler's command line) and `pairlab labeler eval`.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use pairlab_core::Library;
use pairlab_core::report_labeler::Labeler;
use pairlab_core::report_labeler::chexpert_csv::{self, Counting};

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
    /// Labels from a training run's predictions (--run ID: source model:run-<id>,
    /// probability as confidence; multi-label classes thresholded where F1 was best on the
    /// val part), or from a registered image classifier's own outputs (--model NAME: a
    /// torchxrayvision DenseNet's pathologies mapped onto the schema's classes by
    /// assets/models/xrv_pathologies.toml or --map FILE; source model:<name>).
    Model {
        #[arg(long, required_unless_present = "model", conflicts_with = "model")]
        run: Option<i64>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value = "chexpert")]
        schema: String,
        /// The output → class table (TOML, like assets/models/xrv_pathologies.toml).
        #[arg(long)]
        map: Option<PathBuf>,
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
    /// Per-class precision / recall / F1 (positive, negative, uncertain) against a gold file;
    /// with --count, binary scores; with --explain CLASS, the rows where CLASS disagrees
    /// with the sentence and evidence that decided each.
    Eval {
        #[arg(long)]
        gold: PathBuf,
        /// The labeler's output (CheXpert layout) to score.
        #[arg(long, required_unless_present = "run", conflicts_with = "run")]
        pred: Option<PathBuf>,
        /// Instead of --pred: label the gold file's reports with the learned labeler of
        /// this run (`labeler learn`) and with the rules (--rules, else the built-in ones),
        /// and score both (binary, --count strict unless told).
        #[arg(long)]
        run: Option<i64>,
        /// Binary scores: gold 1 against gold 0 (blank gold cells are not scored), the
        /// predictions' uncertain (-1) read as negative (strict) or positive (lenient).
        #[arg(long, value_enum)]
        count: Option<CountArg>,
        /// List the rows where this class disagrees (false negatives and false positives
        /// with --count) with the sentence and the evidence span that decided each, from
        /// labelling the predictions' report text again.
        #[arg(long, value_name = "CLASS")]
        explain: Option<String>,
        /// Labeler rules for --explain (default: the built-in CheXpert rules).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Report sections for --explain.
        #[arg(long, value_delimiter = ',', default_value = "findings,impression")]
        sections: Vec<String>,
        /// Most rows --explain lists of each kind. (With --json, --explain prints an object
        /// {"classes", "count", "explain": {"class", "rows"}}; without, the class rows.)
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Train the learned report labeler: a BERT-family text model fine-tuned on human
    /// labels where they exist and the report rules' elsewhere.
    Learn(crate::labeler_learn::LearnCommand),
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CountArg {
    /// Uncertain counts as negative.
    Strict,
    /// Uncertain counts as positive.
    Lenient,
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
        PrelabelCommand::Model {
            model: Some(model),
            schema,
            map,
            json,
            ..
        } => return classifier(lib, &model, &schema, map, json),
        PrelabelCommand::Model { run: None, .. } => anyhow::bail!("give --run ID or --model NAME"),
        PrelabelCommand::Model {
            run: Some(run),
            json,
            ..
        } => {
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
        Some(file) => rules_file(&file)?,
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

/// Labeler rules from a TOML file.
fn rules_file(file: &std::path::Path) -> Result<Labeler> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Labeler::from_toml(&text).with_context(|| format!("rules in {}", file.display()))
}

/// Rules from `file` when given, else the built-in CheXpert rules.
pub fn rules_or_builtin(file: Option<&std::path::Path>) -> Result<Labeler> {
    match file {
        Some(f) => rules_file(f),
        None => Ok(Labeler::chexpert()?),
    }
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
    let n = chexpert_csv::label_report_file(&labeler, &input, &output)?;
    eprintln!("labelled {n} reports → {}", output.display());
    Ok(())
}

pub fn labeler(cmd: LabelerCommand, library: Option<PathBuf>) -> Result<()> {
    let (gold, pred, run, count, explain, rules, sections, limit, json) = match cmd {
        LabelerCommand::Learn(c) => {
            return crate::labeler_learn::learn(&mut crate::open_library(library)?, c);
        }
        LabelerCommand::Eval {
            gold,
            pred,
            run,
            count,
            explain,
            rules,
            sections,
            limit,
            json,
        } => (
            gold, pred, run, count, explain, rules, sections, limit, json,
        ),
    };
    let open = |p: &PathBuf| -> Result<BufReader<File>> {
        Ok(BufReader::new(
            File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
        ))
    };
    let counting = count.map(|c| match c {
        CountArg::Strict => Counting::Strict,
        CountArg::Lenient => Counting::Lenient,
    });
    if let Some(run) = run {
        let labeler = rules_or_builtin(rules.as_deref())?.with_sections(lower(sections));
        let lib = crate::open_library(library)?;
        let count = counting.unwrap_or(Counting::Strict);
        return crate::labeler_learn::eval_run(&lib, &gold, run, labeler, count, json);
    }
    let Some(pred) = pred else {
        anyhow::bail!("give --pred FILE or --run ID");
    };
    let (binary, three_way) = match counting {
        Some(c) => (
            Some(chexpert_csv::evaluate_binary(
                open(&gold)?,
                open(&pred)?,
                c,
            )?),
            None,
        ),
        None => (
            None,
            Some(chexpert_csv::evaluate(open(&gold)?, open(&pred)?)?),
        ),
    };
    let explained = match &explain {
        None => None,
        Some(class) => {
            let labeler = rules_or_builtin(rules.as_deref())?.with_sections(lower(sections));
            let rows = chexpert_csv::disagreements(open(&gold)?, open(&pred)?, class, counting)?;
            Some(explain_rows(&labeler, class, rows, limit))
        }
    };
    if json {
        let table = match (&binary, &three_way) {
            (Some(b), _) => serde_json::to_value(b)?,
            (None, t) => serde_json::to_value(t)?,
        };
        // The per-class rows, as before; with --explain, an object holding them and the
        // explained rows.
        let out = match (&explain, &explained) {
            (Some(class), Some(rows)) => serde_json::json!({
                "classes": table,
                "count": counting,
                "explain": { "class": class, "rows": rows },
            }),
            _ => table,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if let (Some(rows), Some(c)) = (&binary, counting) {
        print_binary(rows, c);
    }
    if let Some(rows) = &three_way {
        print_three_way(rows);
    }
    if let (Some(class), Some(rows)) = (explain, explained) {
        print_explained(&class, &rows);
    }
    Ok(())
}

fn print_three_way(rows: &[chexpert_csv::ClassEval]) {
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
    for r in rows {
        println!(
            "{:<28} {:>20} {:>20} {:>20}",
            r.class,
            f(&r.positive),
            f(&r.negative),
            f(&r.uncertain)
        );
    }
}

fn print_binary(rows: &[chexpert_csv::BinaryEval], counting: Counting) {
    let how = match counting {
        Counting::Strict => "strict: uncertain counts as negative",
        Counting::Lenient => "lenient: uncertain counts as positive",
    };
    println!("binary scores ({how}; blank gold cells not scored)");
    println!(
        "{:<28} {:>9} {:>7} {:>7} {:>7} {:>7}",
        "class", "precision", "recall", "F1", "support", "scored"
    );
    for r in rows {
        println!(
            "{:<28} {:>9.3} {:>7.3} {:>7.3} {:>7} {:>7}",
            r.class, r.precision, r.recall, r.f1, r.support, r.scored
        );
    }
}

/// A disagreeing row with the evidence the labeler finds for its class.
#[derive(serde::Serialize)]
struct ExplainedRow {
    #[serde(flatten)]
    row: chexpert_csv::Disagreement,
    evidence: Vec<pairlab_core::report_labeler::Explained>,
}

/// The first `limit` rows of each kind, explained.
fn explain_rows(
    labeler: &Labeler,
    class: &str,
    rows: Vec<chexpert_csv::Disagreement>,
    limit: usize,
) -> Vec<ExplainedRow> {
    let mut seen: std::collections::HashMap<&'static str, usize> = Default::default();
    rows.into_iter()
        .filter(|r| {
            let n = seen.entry(r.kind).or_default();
            *n += 1;
            *n <= limit
        })
        .map(|row| ExplainedRow {
            evidence: labeler.explain(&row.report, class),
            row,
        })
        .collect()
}

fn print_explained(class: &str, rows: &[ExplainedRow]) {
    let cell = |v: Option<i8>| v.map_or("blank".to_owned(), |v| v.to_string());
    println!("\n{class}: {} disagreeing rows", rows.len());
    for r in rows {
        println!(
            "\n{} (row {}): gold {}, predicted {}",
            r.row.kind,
            r.row.row,
            cell(r.row.gold),
            cell(r.row.pred)
        );
        if r.evidence.is_empty() {
            let text: String = r
                .row
                .report
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let shown: String = text.chars().take(400).collect();
            let more = if shown.len() < text.len() { " ..." } else { "" };
            println!("  no mention of {class} in: {shown}{more}");
        }
        for e in &r.evidence {
            let part = |a: usize, b: usize| e.sentence.get(a..b).unwrap_or("");
            println!(
                "  {:?} by {}: {}[{}]{}",
                e.value,
                e.rule,
                part(0, e.start),
                part(e.start, e.end),
                part(e.end, e.sentence.len())
            );
        }
    }
}

fn classifier(
    lib: &mut Library,
    model: &str,
    schema: &str,
    map: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    use pairlab_core::embed::classifier::OutputMap;
    let table = match map {
        Some(f) => OutputMap::read(&f)?,
        None => OutputMap::xrv(),
    };
    let bar = crate::bar::Bar::new(!json);
    let s = lib.prelabel_classifier(model, schema, &table, &bar);
    bar.finish();
    let s = s?;
    if json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    println!(
        "{} pairs labelled from model {} under {} (source {}): {} labels, {} positive, in {:.1} s",
        s.pairs, s.model, s.schema, s.source, s.labels, s.positives, s.seconds
    );
    for (class, outputs) in &s.classes {
        println!("  {class:<28} <- {}", outputs.join(", "));
    }
    match &s.operating_points {
        Some(o) => println!("operating points: {o}"),
        None => println!("operating points: none (plain sigmoid probabilities)"),
    }
    if s.failed > 0 {
        println!(
            "{} images could not be decoded and were left unlabelled",
            s.failed
        );
    }
    Ok(())
}
