//! `pairlab`: the command line over pairlab-core's API.

#![cfg_attr(
    test,
    allow(
        clippy::too_many_lines,
        reason = "a test reads as one scenario, top to bottom; the non-test build still checks every other function"
    )
)]

mod agreement;
mod bar;
mod bench;
mod bench_browse;
mod bench_clip;
mod bench_export;
mod bench_text;
mod export;
mod index;
mod label_issues;
mod labeler_learn;
mod labels;
mod maps;
mod models;
mod print;
mod report_labeler;
mod runs;
mod serve;
mod splits;
mod users;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use pairlab_core::Library;

// Model inference allocates and frees large tensors at every layer; glibc's malloc hands
// them back to the kernel each time (page faults cost ~20 % of CPU time in `bench clip`).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "pairlab",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PAIRLAB_COMMIT"), ")"),
    about = "Curate, label and model paired image/text corpora"
)]
struct Cli {
    /// Library folder (holds pairlab.db and caches). Default: the platform data folder.
    #[arg(long, global = true, env = "PAIRLAB_LIBRARY", value_name = "DIR")]
    library: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index (or re-index) a corpus folder into the library.
    Index(index::IndexCommand),
    /// Export pairs with images, reports and labels: Hugging Face Parquet, ImageFolder,
    /// CheXpert CSV, JSONL or CSV.
    Export(export::ExportCommand),
    /// Import a label file (CheXpert CSV, MIMIC-CXR CheXpert/NegBio CSV, CSV, JSONL).
    ImportLabels(export::ImportLabelsCommand),
    /// Counts for the library and each corpus.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Full-text search in reports.
    Search {
        text: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Files that could not be indexed, with the reason.
    Errors {
        /// Show at most this many (default: all).
        #[arg(long)]
        limit: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Everything about one pair.
    Show {
        pair: i64,
        #[arg(long)]
        json: bool,
    },
    /// Write the built-in synthetic chest X-ray corpus, index it and show what to do next.
    Demo {
        /// Where to write the corpus (default: a `demo-corpus` folder in the library).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Number of patients.
        #[arg(long, default_value_t = 120)]
        n: u32,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Label pairs by hand: set, undo, redo, history, review.
    #[command(subcommand)]
    Label(labels::LabelCommand),
    /// Assign pairs to annotators, a fraction to two (double labelling).
    Assign(agreement::AssignCommand),
    /// Inter-annotator agreement: Cohen's and Fleiss' kappa per class, the disagreements.
    Agreement(agreement::AgreementCommand),
    /// A 2-D map of a model's embeddings (PCA or UMAP), for the Map view.
    Map(maps::MapCommand),
    /// What to label next (active learning): `queue next`.
    #[command(subcommand)]
    Queue(agreement::QueueCommand),
    /// Label schemas: add from a TOML file, list.
    #[command(subcommand)]
    Schema(labels::SchemaCommand),
    /// User accounts of a shared `pairlab serve`: add (prints a token), list, revoke.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Pre-label pairs: `prelabel reports` runs the rule-based report labeler.
    #[command(subcommand)]
    Prelabel(report_labeler::PrelabelCommand),
    /// Label a CSV (one column of report text, no header) or JSONL of reports, like the
    /// CheXpert labeler: output has `Reports` + 14 observation columns (1.0 / 0.0 / -1.0 / empty).
    LabelReports {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        output: PathBuf,
        /// Report sections to label (a report without any of them is labelled whole).
        #[arg(long, value_delimiter = ',', default_value = "findings,impression")]
        sections: Vec<String>,
    },
    /// The report labeler's tools: `labeler eval --gold G --pred P`.
    #[command(subcommand)]
    Labeler(report_labeler::LabelerCommand),
    /// Local models: `model add DIR|HUB_ID [--name N]`, `model list`.
    #[command(subcommand)]
    Model(models::ModelCommand),
    /// Print one normalised embedding (for scripts and checks against other implementations).
    Encode {
        #[arg(long)]
        model: String,
        #[arg(long, conflicts_with = "text")]
        image: Option<PathBuf>,
        #[arg(long)]
        text: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Embed the library's images and/or reports (only those not embedded yet).
    Embed {
        #[arg(long)]
        model: String,
        /// images, reports or both (default: what the model can encode).
        #[arg(long, default_value = "both")]
        what: String,
        #[arg(long)]
        json: bool,
    },
    /// The images (or reports) most similar to a text or to a pair.
    Similar(models::SimilarCommand),
    /// Score every pair's image–report consistency (CLIP) and list the likeliest mismatches.
    Mismatch {
        #[arg(long)]
        model: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Exact, near (dHash) and semantic (with --model) duplicate image clusters.
    Duplicates {
        /// Largest dHash Hamming distance (0–64) counted as a near duplicate.
        #[arg(long, default_value_t = 4)]
        near: u32,
        /// A CLIP model whose image embeddings find semantic duplicates.
        #[arg(long)]
        model: Option<String>,
        /// Cosine similarity at or above which two images are semantic duplicates.
        #[arg(long, default_value_t = 0.95)]
        threshold: f32,
        #[arg(long)]
        json: bool,
    },
    /// Split the library's pairs into parts (random, stratified by a label, or by patient).
    Split(splits::SplitCommand),
    /// The splits and their part sizes; `--freeze NAME` freezes one first.
    Splits {
        #[arg(long)]
        freeze: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Patients, exact and near-duplicate images shared across a split's parts.
    Leakage {
        #[arg(long)]
        split: String,
        /// Largest dHash Hamming distance of a near-duplicate candidate.
        #[arg(long, default_value_t = pairlab_core::splits::NEAR_DISTANCE)]
        near: u32,
        /// Count every candidate, without checking that the thumbnails show the same
        /// picture (X-rays of different patients often have close hashes).
        #[arg(long)]
        loose: bool,
        #[arg(long)]
        json: bool,
    },
    /// Train a classifier on a split's train part (early stopping on its val part).
    Train(runs::TrainCommand),
    /// Likely label errors: out-of-fold predictions from patient-grouped folds, then
    /// confident learning (Cleanlab 2.9's filters).
    LabelIssues(label_issues::LabelIssuesCommand),
    /// Metrics of a run on a part of its split: accuracy, per-class P/R/F1, AUROC and
    /// AUPRC with 95% bootstrap intervals, calibration, confusion matrix.
    Eval {
        #[arg(long)]
        run: i64,
        /// The part of the run's split to evaluate on.
        #[arg(long, default_value = "test")]
        split: String,
        #[arg(long)]
        json: bool,
    },
    /// The samples behind a confusion-matrix cell (multi-class runs).
    Misclassified {
        #[arg(long)]
        run: i64,
        #[arg(long, default_value = "test")]
        split: String,
        /// Multi-label runs: the class whose 2×2 table holds the cell.
        #[arg(long)]
        class: Option<String>,
        /// True class of the cell (multi-label: 1 or 0).
        #[arg(long = "true")]
        truth: Option<String>,
        /// Predicted class of the cell (multi-label: 1 or 0).
        #[arg(long)]
        pred: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Training runs.
    Runs {
        #[arg(long)]
        json: bool,
    },
    /// Benchmarks (run them in release mode).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Serve the library's API over HTTP/JSON (and the web UI when built).
    Serve {
        #[arg(long, default_value_t = 7878)]
        port: u16,
        /// Address to listen on; a non-loopback one gets a generated token unless --token.
        #[arg(long, default_value = "127.0.0.1")]
        bind: std::net::IpAddr,
        /// Access token every request must carry (Bearer header or ?token=).
        #[arg(long, env = "PAIRLAB_TOKEN")]
        token: Option<String>,
        /// The built web UI folder (default: the one installed beside the program,
        /// /usr/share/pairlab/ui from the Debian package, else ui/dist next to the sources).
        #[arg(long, value_name = "DIR")]
        ui: Option<PathBuf>,
    },
}

fn open_library(dir: Option<PathBuf>) -> Result<Library> {
    let dir = match dir {
        Some(d) => d,
        None => Library::default_dir()?,
    };
    Library::open(&dir).with_context(|| format!("cannot open the library at {}", dir.display()))
}

/// Prints `value` as JSON, or as text with `text`.
fn show<T: serde::Serialize>(json: bool, value: &T, text: impl FnOnce(&T)) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        text(value);
    }
    Ok(())
}

/// `pairlab errors`: every ingest error (or the first `limit`), paged through by key (the
/// store never pages with OFFSET).
fn errors(lib: &Library, limit: Option<u64>, json: bool) -> Result<()> {
    let limit = limit.unwrap_or(u64::MAX);
    let mut errors = Vec::new();
    let mut after = 0;
    while (errors.len() as u64) < limit {
        let page = lib.errors(after, 1000)?;
        let Some(last) = page.last() else { break };
        after = last.id;
        errors.extend(page);
    }
    errors.truncate(limit.min(errors.len() as u64) as usize);
    if json {
        let rows: Vec<_> = errors
            .iter()
            .map(|e| serde_json::json!({"path": e.path, "kind": e.kind, "message": e.message}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print::errors(&errors);
    }
    Ok(())
}

#[allow(
    clippy::too_many_lines,
    reason = "one arm per command: the CLI's dispatch table, nothing else"
)]
fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Index(cmd) => index::index(&mut open_library(cli.library)?, cmd)?,
        Command::Export(cmd) => export::export(&open_library(cli.library)?, cmd)?,
        Command::ImportLabels(cmd) => export::import_labels(&mut open_library(cli.library)?, cmd)?,
        Command::Stats { json } => show(json, &open_library(cli.library)?.stats()?, print::stats)?,
        Command::Search { text, limit, json } => show(
            json,
            &open_library(cli.library)?.search(&text, limit)?,
            |h| print::search(h),
        )?,
        Command::Errors { limit, json } => errors(&open_library(cli.library)?, limit, json)?,
        Command::Show { pair, json } => {
            show(json, &open_library(cli.library)?.pair(pair)?, print::pair)?
        }
        Command::Demo { dir, n, seed } => {
            let mut lib = open_library(cli.library)?;
            let dir = dir.unwrap_or_else(|| lib.root().join("demo-corpus"));
            print::demo(&mut lib, &dir, n, seed)?;
        }
        Command::Label(cmd) => labels::label(&mut open_library(cli.library)?, cmd)?,
        Command::Assign(cmd) => agreement::assign(&mut open_library(cli.library)?, cmd)?,
        Command::Agreement(cmd) => agreement::agreement(&mut open_library(cli.library)?, cmd)?,
        Command::Queue(cmd) => agreement::queue(&mut open_library(cli.library)?, cmd)?,
        Command::Map(cmd) => maps::map(&mut open_library(cli.library)?, cmd)?,
        Command::Schema(cmd) => labels::schema(&open_library(cli.library)?, cmd)?,
        Command::Users(cmd) => users::run(&open_library(cli.library)?, cmd)?,
        Command::Prelabel(cmd) => report_labeler::prelabel(&mut open_library(cli.library)?, cmd)?,
        Command::LabelReports {
            input,
            output,
            sections,
        } => report_labeler::label_reports(input, output, sections)?,
        Command::Labeler(cmd) => report_labeler::labeler(cmd, cli.library)?,
        Command::Bench(cmd) => bench::run(cmd, cli.library)?,
        Command::Split(cmd) => splits::split(&mut open_library(cli.library)?, cmd)?,
        Command::Splits { freeze, json } => {
            splits::list(&open_library(cli.library)?, freeze, json)?
        }
        Command::Leakage {
            split,
            near,
            loose,
            json,
        } => {
            let near = pairlab_core::splits::NearOptions {
                distance: near,
                loose,
            };
            splits::leakage(&open_library(cli.library)?, &split, near, json)?
        }
        Command::Train(cmd) => runs::train(&mut open_library(cli.library)?, cmd)?,
        Command::LabelIssues(cmd) => label_issues::run(&mut open_library(cli.library)?, cmd)?,
        Command::Eval { run, split, json } => {
            runs::eval(&open_library(cli.library)?, run, &split, json)?
        }
        Command::Misclassified {
            run,
            split,
            class,
            truth,
            pred,
            json,
        } => runs::misclassified(
            &open_library(cli.library)?,
            run,
            &split,
            [class, truth, pred],
            json,
        )?,
        Command::Runs { json } => runs::list(&open_library(cli.library)?, json)?,
        Command::Serve {
            port,
            bind,
            token,
            ui,
        } => {
            let dir = match cli.library {
                Some(d) => d,
                None => Library::default_dir()?,
            };
            serve::serve(&dir, bind, port, token, ui)?
        }
        Command::Model(cmd) => models::model(&open_library(cli.library)?, cmd)?,
        Command::Encode {
            model,
            image,
            text,
            json,
        } => models::encode(&open_library(cli.library)?, &model, image, text, json)?,
        Command::Embed { model, what, json } => {
            models::embed(&mut open_library(cli.library)?, &model, &what, json)?
        }
        Command::Similar(cmd) => models::similar(&open_library(cli.library)?, cmd)?,
        Command::Mismatch { model, limit, json } => {
            models::mismatch(&mut open_library(cli.library)?, &model, limit, json)?
        }
        Command::Duplicates {
            near,
            model,
            threshold,
            json,
        } => models::duplicates(&open_library(cli.library)?, near, model, threshold, json)?,
    }
    Ok(())
}

/// `pairlab … | head` closes stdout early: like other Unix tools, stop quietly then instead
/// of reporting `println!`'s "failed printing to stdout" panic.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    pairlab_core::set_build_commit(env!("PAIRLAB_COMMIT"));
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
