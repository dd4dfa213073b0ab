//! `pairlab assign`, `pairlab agreement` and `pairlab queue next`: double labelling,
//! inter-annotator agreement and what to label next.

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::labels::adjudication::Decision;
use pairlab_core::labels::agreement::{AgreementReport, AssignOptions};

/// Assign pairs to annotators: each pair to one in turn, a seeded fraction to two (double
/// labelling, for agreement); the pairs' earlier assignments are replaced. Annotators find
/// theirs in Browse (filter "assigned to").
#[derive(clap::Args)]
pub struct AssignCommand {
    /// Comma-separated annotator names.
    #[arg(long, value_delimiter = ',', required = true)]
    pub annotators: Vec<String>,
    /// The fraction of the pairs two annotators label.
    #[arg(long, default_value_t = 0.2)]
    pub fraction: f64,
    /// Only the pairs of this split.
    #[arg(long)]
    pub split: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

pub fn assign(lib: &mut Library, cmd: AssignCommand) -> Result<()> {
    let s = lib.assign(&AssignOptions {
        annotators: cmd.annotators,
        fraction: cmd.fraction,
        split: cmd.split,
        seed: cmd.seed,
    })?;
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }
    println!(
        "assigned {} pairs, {} of them to two annotators",
        s.pairs, s.double
    );
    for c in &s.per_annotator {
        println!("  {:<20} {:>7} pairs", c.annotator, c.pairs);
    }
    Ok(())
}

/// Inter-annotator agreement of a schema: Cohen's kappa per class for each two annotators,
/// Fleiss' kappa when there are more, and the pairs they labelled differently; `resolve`
/// decides one.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgreementCommand {
    #[command(subcommand)]
    pub action: Option<AgreementAction>,
    #[arg(long, default_value = "chexpert")]
    pub schema: String,
    /// How many disagreements to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Only the disagreements no reviewer has decided yet.
    #[arg(long)]
    pub open: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Subcommand)]
pub enum AgreementAction {
    /// Decide a disagreement: the value becomes the pair's human label (not a rating of the
    /// reviewer's: the annotators' kappa stays as it was). `pairlab label undo` takes the
    /// label back; `--reopen` opens the disagreement again.
    Resolve {
        #[arg(long, default_value = "chexpert")]
        schema: String,
        #[arg(long)]
        pair: i64,
        /// The class (left out for a multi-class schema).
        #[arg(long)]
        class: Option<String>,
        /// 1, 0 or -1; for a multi-class schema the class decided.
        #[arg(long, required_unless_present = "reopen", conflicts_with = "reopen")]
        value: Option<String>,
        /// Open the disagreement again (the decision is forgotten, the label stays).
        #[arg(long)]
        reopen: bool,
        /// Who decides (default: $USER).
        #[arg(long)]
        annotator: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

fn kappa(k: Option<f64>) -> String {
    k.map_or_else(|| "-".into(), |k| format!("{k:.3}"))
}

pub fn agreement(lib: &mut Library, cmd: AgreementCommand) -> Result<()> {
    if let Some(AgreementAction::Resolve {
        schema,
        pair,
        class,
        value,
        reopen: _,
        annotator,
        json,
    }) = cmd.action
    {
        let reviewer = annotator.unwrap_or_else(crate::labels::default_annotator);
        let done = lib.resolve_disagreement(Decision {
            schema: &schema,
            pair,
            class: class.as_deref(),
            value: value.as_deref(),
            reviewer: &reviewer,
        })?;
        if json {
            println!("{}", serde_json::to_string_pretty(&done)?);
        } else {
            let what = format!(
                "pair {pair}{}",
                class.map(|c| format!(", {c}")).unwrap_or_default()
            );
            match &done.disagreement.resolution {
                Some(r) => println!(
                    "decided {what}: {} by {} ({} label change{})",
                    r.value,
                    r.reviewer,
                    done.label_events,
                    if done.label_events == 1 { "" } else { "s" }
                ),
                None => println!("{what}: open again"),
            }
        }
        return Ok(());
    }
    let r = lib.agreement(&cmd.schema, cmd.limit, cmd.open)?;
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print(&r);
    Ok(())
}

fn print(r: &AgreementReport) {
    if r.annotators.len() < 2 {
        println!(
            "schema {}: {} annotator(s) with labels; agreement needs two (pairlab assign --annotators A,B --fraction 0.2)",
            r.schema,
            r.annotators.len()
        );
        return;
    }
    println!(
        "schema {}: annotators {}",
        r.schema,
        r.annotators.join(", ")
    );
    println!(
        "{:<28} {:<24} {:>7} {:>7} {:>7}",
        "class", "annotators", "pairs", "agreed", "kappa"
    );
    for c in &r.cohen {
        println!(
            "{:<28} {:<24} {:>7} {:>7} {:>7}",
            c.class.as_deref().unwrap_or("(class given)"),
            format!("{} · {}", c.a, c.b),
            c.items,
            c.agreed,
            kappa(c.kappa)
        );
    }
    for f in &r.fleiss {
        println!(
            "{:<28} {:<24} {:>7} {:>7} {:>7}",
            f.class.as_deref().unwrap_or("(class given)"),
            "all (Fleiss)",
            f.items,
            "",
            kappa(f.kappa)
        );
    }
    println!(
        "{} disagreements, {} open (pairlab agreement resolve --pair P --class C --value V)",
        r.total_disagreements, r.open_disagreements
    );
    for d in &r.disagreements {
        let says: Vec<String> = d
            .ratings
            .iter()
            .map(|x| format!("{} {}", x.annotator, x.value))
            .collect();
        let decided = d
            .resolution
            .as_ref()
            .map(|r| format!("  → {} (decided by {})", r.value, r.reviewer))
            .unwrap_or_default();
        println!(
            "  pair {:>7}  {:<28} {}{decided}",
            d.pair_id,
            d.class.as_deref().unwrap_or(""),
            says.join(" · ")
        );
    }
}

/// What to label next: an unlabelled pair the latest run is unsure of (spread out, never
/// one served to another annotator in the last 15 minutes).
#[derive(clap::Subcommand)]
pub enum QueueCommand {
    Next {
        #[arg(long, default_value = "chexpert")]
        schema: String,
        /// Who will label it (default: $USER).
        #[arg(long)]
        annotator: Option<String>,
        /// The run whose uncertainty counts (default: the schema's latest done run).
        #[arg(long)]
        run: Option<i64>,
        /// entropy or margin.
        #[arg(long, default_value = "entropy")]
        by: String,
        #[arg(long)]
        json: bool,
    },
}

pub fn queue(lib: &mut Library, cmd: QueueCommand) -> Result<()> {
    let QueueCommand::Next {
        schema,
        annotator,
        run,
        by,
        json,
    } = cmd;
    let next = lib.next_pair(&pairlab_core::queue::NextArgs {
        schema,
        annotator: annotator.unwrap_or_else(crate::labels::default_annotator),
        run,
        by: by.parse()?,
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&next)?);
        return Ok(());
    }
    match next {
        Some(n) => println!(
            "pair {}: uncertainty {:.3} by run {} ({}); {} unlabelled pairs left",
            n.pair_id, n.uncertainty, n.run_id, n.why, n.remaining
        ),
        None => println!(
            "nothing to label: every pair the run predicted has a person's label (or is with another annotator)"
        ),
    }
    Ok(())
}
