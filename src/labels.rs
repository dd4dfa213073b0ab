//! `pairlab label ...` and `pairlab schema ...`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use pairlab_core::Library;
use pairlab_core::labels::{LabelEvent, parse_value};

pub fn default_annotator() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "annotator".into())
}

#[derive(Subcommand)]
pub enum LabelCommand {
    /// Set one class of a pair: VALUE is 1, 0, -1 or blank.
    Set {
        pair: i64,
        class: String,
        #[arg(allow_hyphen_values = true)]
        value: String,
        #[arg(long, default_value = "chexpert")]
        schema: String,
        /// Who labels (default: $USER).
        #[arg(long)]
        annotator: Option<String>,
    },
    /// Undo the annotator's latest label change.
    Undo {
        #[arg(long)]
        annotator: Option<String>,
    },
    /// Redo the annotator's latest undone change.
    Redo {
        #[arg(long)]
        annotator: Option<String>,
    },
    /// The audit trail of a pair's labels.
    History {
        pair: i64,
        #[arg(long)]
        json: bool,
    },
    /// A pair's current labels and review status.
    Show {
        pair: i64,
        #[arg(long, default_value = "chexpert")]
        schema: String,
        /// Also the report tokens that weighed most in the positive labels of the text and
        /// fusion runs that pre-labelled the pair.
        #[arg(long)]
        evidence: bool,
        #[arg(long)]
        json: bool,
    },
    /// Record a review decision on a pair: accepted, rejected, flagged, or unreviewed (take
    /// the decision back). Labelling a class is not a decision.
    Review {
        pair: i64,
        status: String,
        #[arg(long, default_value = "chexpert")]
        schema: String,
        #[arg(long)]
        annotator: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum SchemaCommand {
    /// Add (or extend) a label schema from a TOML file (name, kind, classes).
    Add { file: PathBuf },
    /// List the label schemas.
    List {
        #[arg(long)]
        json: bool,
    },
}

fn show_event(e: &LabelEvent) -> String {
    let v = |x: Option<i8>| x.map(|v| v.to_string()).unwrap_or_else(|| "blank".into());
    format!(
        "#{} {} pair {} {}/{}: {} → {} ({}{}){}",
        e.id,
        e.time,
        e.pair,
        e.schema,
        e.class,
        v(e.old_value),
        v(e.new_value),
        e.source,
        e.annotator
            .as_deref()
            .map(|a| format!(", {a}"))
            .unwrap_or_default(),
        match e.kind.as_str() {
            "set" => String::new(),
            k => format!(" [{k} of #{}]", e.ref_event.unwrap_or(0)),
        }
    )
}

pub fn label(lib: &mut Library, cmd: LabelCommand) -> Result<()> {
    match cmd {
        LabelCommand::Set {
            pair,
            class,
            value,
            schema,
            annotator,
        } => {
            let annotator = annotator.unwrap_or_else(default_annotator);
            match lib.set_label(pair, &schema, &class, parse_value(&value)?, &annotator)? {
                Some(e) => println!("{}", show_event(&e)),
                None => println!("unchanged: {class} already has that value"),
            }
        }
        LabelCommand::Undo { annotator } => {
            let annotator = annotator.unwrap_or_else(default_annotator);
            match lib.undo(&annotator)? {
                Some(e) => println!("undone: {}", show_event(&e)),
                None => println!("nothing to undo for {annotator}"),
            }
        }
        LabelCommand::Redo { annotator } => {
            let annotator = annotator.unwrap_or_else(default_annotator);
            match lib.redo(&annotator)? {
                Some(e) => println!("redone: {}", show_event(&e)),
                None => println!("nothing to redo for {annotator}"),
            }
        }
        LabelCommand::History { pair, json } => {
            lib.pair(pair)?;
            let events = lib.label_history(pair)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&events)?);
            } else if events.is_empty() {
                println!("pair {pair} has no label changes");
            } else {
                for e in &events {
                    println!("{}", show_event(e));
                }
            }
        }
        LabelCommand::Show {
            pair,
            schema,
            evidence,
            json,
        } => {
            let detail = lib.pair(pair)?;
            let labels = lib.current_labels(pair, &schema)?;
            let status = lib.review_status(pair, &schema)?;
            let tokens = if evidence {
                lib.model_evidence(pair, &schema)?
            } else {
                Vec::new()
            };
            if json {
                let mut v = serde_json::json!({"pair": pair, "schema": schema, "status": status, "labels": labels});
                if evidence {
                    v["model_evidence"] = serde_json::to_value(&tokens)?;
                }
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("pair {pair} · {schema} · {status}");
                for l in &labels {
                    println!("  {:<28} {:>2}  ({})", l.class, l.value, l.source);
                }
                let text = detail.report.map(|r| r.text).unwrap_or_default();
                for e in &tokens {
                    let word = text.get(e.start..e.end).unwrap_or("?");
                    println!("  {:<28} {word:?}: {}", e.class, e.rule);
                }
            }
        }
        LabelCommand::Review {
            pair,
            status,
            schema,
            annotator,
        } => {
            let annotator = annotator.unwrap_or_else(default_annotator);
            lib.set_review(pair, &schema, &status, &annotator)?;
            println!("pair {pair}: {}", lib.review_status(pair, &schema)?);
        }
    }
    Ok(())
}

pub fn schema(lib: &Library, cmd: SchemaCommand) -> Result<()> {
    match cmd {
        SchemaCommand::Add { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let s = lib.add_schema(&text)?;
            println!(
                "schema {} ({}, {} classes)",
                s.name,
                s.kind.as_str(),
                s.classes.len()
            );
        }
        SchemaCommand::List { json } => {
            let list = lib.schemas()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for s in &list {
                    println!("{} ({}): {}", s.name, s.kind.as_str(), s.classes.join(", "));
                }
            }
        }
    }
    Ok(())
}
