//! `pairlab model`, `encode`, `embed`, `prelabel zero-shot`, `similar`, `mismatch` and
//! `duplicates`: the local-model commands.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use pairlab_core::Library;
use pairlab_core::api::EncodeInput;
use pairlab_core::embed::What;
use pairlab_core::embed::duplicates::{Cluster, DuplicateOptions};
use pairlab_core::embed::similar::{Query, Target};

use crate::bar::Bar;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Register a model: a folder in Hugging Face layout (CLIP or BERT: config.json,
    /// model.safetensors, tokenizer.json), an image classifier (a timm folder with
    /// config.json and model.safetensors; a torchvision or torchxrayvision .pt/.pth/
    /// .safetensors file: ResNet, DenseNet or timm ViT; CLIP in OpenAI's format; an
    /// open_clip folder, BiomedCLIP's included), or a hub id (owner/name; from the local
    /// Hugging Face cache, downloaded first when online). The format is detected and said.
    Add {
        /// The model's folder, checkpoint file or hub id.
        #[arg(required_unless_present = "from_run")]
        spec: Option<String>,
        /// Register the network a finished `finetune` run saved instead.
        #[arg(long, conflicts_with = "spec")]
        from_run: Option<i64>,
        /// Name to use in other commands (default: the folder's or id's last part).
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The registered models.
    List {
        #[arg(long)]
        json: bool,
    },
}

fn json_out<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn model(lib: &Library, cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Add {
            spec,
            from_run,
            name,
            json,
        } => {
            let rec = match (spec, from_run) {
                (_, Some(run)) => lib.add_model_from_run(run, name.as_deref())?,
                (Some(spec), None) => lib.add_model(&spec, name.as_deref())?.0,
                (None, None) => anyhow::bail!("give a model PATH|HUB_ID or --from-run ID"),
            };
            if json {
                return json_out(&rec);
            }
            let can = match (rec.images, rec.texts) {
                (true, true) => "images and texts",
                (false, true) => "texts",
                _ => "images",
            };
            let net = if rec.arch.is_empty() {
                rec.family.clone()
            } else {
                rec.arch.clone()
            };
            println!(
                "added model {} ({net}, {}-d embeddings of {can}) from {}",
                rec.name, rec.dim, rec.path
            );
            println!("format: {}", rec.format);
            println!("next: pairlab embed --model {}", rec.name);
        }
        ModelCommand::List { json } => {
            let models = lib.models()?;
            if json {
                return json_out(&models);
            }
            if models.is_empty() {
                println!("no models yet: pairlab model add PATH|HUB_ID");
            }
            for m in models {
                let net = if m.arch.is_empty() {
                    &m.family
                } else {
                    &m.arch
                };
                println!(
                    "{:<24} {:<11} {:>5}-d  {}  ({}; {})",
                    m.name, net, m.dim, m.path, m.source, m.format
                );
            }
        }
    }
    Ok(())
}

pub fn encode(
    lib: &Library,
    model: &str,
    image: Option<PathBuf>,
    text: Option<String>,
    json: bool,
) -> Result<()> {
    let input = match (image, text) {
        (Some(p), None) => EncodeInput::Image(p),
        (None, Some(t)) => EncodeInput::Text(t),
        _ => anyhow::bail!("give exactly one of --image PATH or --text TEXT"),
    };
    let e = lib.encode(model, &input)?;
    if json {
        println!("{}", serde_json::to_string(&e)?);
    } else {
        let head: Vec<String> = e
            .embedding
            .iter()
            .take(8)
            .map(|x| format!("{x:.4}"))
            .collect();
        println!(
            "{} embedding, {} values: [{}, …]",
            e.kind,
            e.dim,
            head.join(", ")
        );
    }
    Ok(())
}

pub fn embed(lib: &mut Library, model: &str, what: &str, json: bool) -> Result<()> {
    let bar = Bar::new(!json);
    let s = lib.embed(model, What::parse(what)?, &bar);
    bar.finish();
    let s = s?;
    if json {
        return json_out(&s);
    }
    if s.images + s.images_existing > 0 {
        println!(
            "images: {} embedded ({:.1} images/s), {} already stored",
            s.images, s.images_per_s, s.images_existing
        );
    }
    if s.reports + s.reports_existing > 0 {
        println!(
            "reports: {} embedded ({:.1} reports/s), {} already stored",
            s.reports, s.reports_per_s, s.reports_existing
        );
    }
    if s.failed > 0 {
        println!(
            "{} items could not be embedded (recorded; skipped next time)",
            s.failed
        );
    }
    Ok(())
}

pub fn zero_shot(lib: &mut Library, model: &str, schema: &str, json: bool) -> Result<()> {
    let bar = Bar::new(!json);
    let s = lib.prelabel_zero_shot(model, schema, &bar);
    bar.finish();
    let s = s?;
    if json {
        return json_out(&s);
    }
    println!(
        "{} pairs labelled under {} by {} ({} labels, {} positive) in {:.1} s",
        s.pairs, s.schema, s.source, s.labels, s.positives, s.seconds
    );
    Ok(())
}

/// The items most similar to a text or to a pair's image or report.
#[derive(clap::Args)]
pub struct SimilarCommand {
    #[arg(long)]
    pub model: String,
    #[arg(long, conflicts_with = "pair")]
    pub text: Option<String>,
    #[arg(long)]
    pub pair: Option<i64>,
    /// images or reports (default: images for CLIP models, reports for text encoders).
    #[arg(long)]
    pub target: Option<String>,
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn similar(lib: &Library, cmd: SimilarCommand) -> Result<()> {
    let SimilarCommand {
        model,
        text,
        pair,
        target,
        k,
        json,
    } = cmd;
    let model = model.as_str();
    let query = match (text, pair) {
        (Some(t), None) => Query::Text(t),
        (None, Some(p)) => Query::Pair(p),
        _ => anyhow::bail!("give exactly one of --text TEXT or --pair ID"),
    };
    let target = match target.as_deref() {
        None => None,
        Some("images") => Some(Target::Images),
        Some("reports") => Some(Target::Reports),
        Some(o) => anyhow::bail!("--target {o:?}: use images or reports"),
    };
    let hits = lib.similar(model, &query, target, k)?;
    if json {
        return json_out(&hits);
    }
    for h in hits {
        println!(
            "{:>7.4}  pair {:<7} {}  {}",
            h.score,
            h.pair,
            h.image,
            one_line(&h.report, 70)
        );
    }
    Ok(())
}

fn one_line(s: &str, n: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > n {
        format!("{}…", flat.chars().take(n).collect::<String>())
    } else {
        flat
    }
}

pub fn mismatch(lib: &mut Library, model: &str, limit: u32, json: bool) -> Result<()> {
    let bar = Bar::new(!json);
    let s = lib.score_mismatch(model, &bar);
    bar.finish();
    let s = s?;
    let rows = lib.mismatches(model, limit)?;
    if json {
        return json_out(&serde_json::json!({"summary": s, "pairs": rows}));
    }
    println!(
        "{} pairs scored; for {} the own report is not the closest (model {})",
        s.pairs, s.not_first, s.model
    );
    println!("{:>7}  {:>5}  {:>7}  pair", "score", "rank", "own");
    for r in rows {
        println!(
            "{:>7.2}  {:>5}  {:>7.4}  {:<7} {}  {}",
            r.score,
            r.rank,
            r.own_similarity,
            r.pair,
            r.image,
            one_line(&r.report, 60)
        );
    }
    Ok(())
}

pub fn duplicates(
    lib: &Library,
    near: u32,
    model: Option<String>,
    threshold: f32,
    json: bool,
) -> Result<()> {
    let opts = DuplicateOptions {
        near_distance: near,
        semantic: model.map(|m| (m, threshold)),
    };
    let r = lib.duplicates(&opts)?;
    if json {
        return json_out(&r);
    }
    println!(
        "{} images: {} exact, {} near (dHash ≤ {near}), {} semantic duplicate clusters",
        r.images,
        r.exact.len(),
        r.near.len(),
        r.semantic.len()
    );
    for c in r.exact.iter().chain(&r.near).chain(&r.semantic).take(50) {
        print_cluster(c);
    }
    Ok(())
}

fn print_cluster(c: &Cluster) {
    let patients: std::collections::BTreeSet<&str> = c
        .members
        .iter()
        .filter_map(|m| m.patient.as_deref())
        .collect();
    let note = if patients.len() > 1 {
        "  (different patients!)"
    } else {
        ""
    };
    println!("{} ×{}{note}", c.kind, c.members.len());
    for m in &c.members {
        println!("    pair {:<7} {}", m.pair, m.image);
    }
}
