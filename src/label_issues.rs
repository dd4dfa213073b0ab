//! `pairlab label-issues`: likely label errors by confident learning on out-of-fold
//! probabilities from patient-grouped folds.

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::label_issues::{self, IssueOptions, LabelIssueReport, RankBy};

use crate::bar::Bar;
use crate::runs::TrainerArgs;

/// Find likely label errors: K runs on patient-grouped folds of a split (each pair
/// predicted by a run that never saw its patient), then confident learning as Cleanlab 2.9
/// does it. The result is stored: the Browse grid sorts and filters by it.
#[derive(clap::Args)]
pub struct LabelIssuesCommand {
    #[arg(long, default_value = "chexpert")]
    pub schema: String,
    /// The split whose labelled pairs are searched (all its parts).
    #[arg(long)]
    pub split: String,
    /// How each fold's run trains (as for `pairlab train`).
    #[command(flatten)]
    pub how: TrainerArgs,
    #[arg(long, default_value_t = label_issues::DEFAULT_FOLDS)]
    pub folds: usize,
    /// prune_by_noise_rate (Cleanlab's default), prune_by_class, both, confident_learning
    /// or predicted_neq_given.
    #[arg(long, default_value = "prune_by_noise_rate")]
    pub filter: String,
    /// What ranks the issues: self_confidence (the given label's probability) or
    /// normalized_margin.
    #[arg(long, default_value = "self_confidence")]
    pub rank_by: String,
    /// How many issues to print (all with --json).
    #[arg(long, default_value_t = 20)]
    pub show: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(lib: &mut Library, cmd: LabelIssuesCommand) -> Result<()> {
    let opts = IssueOptions {
        filter: label_issues::parse_filter(&cmd.filter)?,
        rank_by: cmd.rank_by.parse::<RankBy>()?,
        folds: cmd.folds,
        train: cmd.how.options(cmd.schema, cmd.split)?,
    };
    let bar = Bar::new(!cmd.json);
    let found = lib.find_label_issues(&opts, &bar);
    bar.finish();
    let found = found?;
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
        return Ok(());
    }
    print(&found, cmd.show);
    Ok(())
}

fn print(r: &LabelIssueReport, show: usize) {
    let folds: Vec<String> = r.folds.iter().map(i64::to_string).collect();
    println!(
        "label issues {}: {} of {} labelled pairs flagged ({} labels) on split {} by {} \
         from {} patient-grouped folds (runs {}) in {:.1} s",
        r.id,
        r.flagged_pairs,
        r.examined,
        r.total_issues,
        r.split,
        r.filter,
        r.folds.len(),
        folds.join(", "),
        r.seconds
    );
    if r.issues.is_empty() {
        return;
    }
    println!(
        "{:>5}  {:>7}  {:<28} {:<22} {:>7}",
        "rank", "pair", "class", "given → suggested", r.rank_by
    );
    for x in r.issues.iter().take(show) {
        let change = match &x.suggested_class {
            Some(s) => format!("→ {s}"),
            None => format!("{} → {}", x.given, x.suggested),
        };
        println!(
            "{:>5}  {:>7}  {:<28} {:<22} {:>7.4}",
            x.rank, x.pair_id, x.class, change, x.score
        );
    }
    if r.issues.len() > show {
        println!("… {} more (--show N, or --json)", r.issues.len() - show);
    }
    println!(
        "browse them: Browse → order \"label issues\" (sort by=label-issues, issues={})",
        r.id
    );
}
