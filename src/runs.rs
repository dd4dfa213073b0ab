//! `pairlab train` and `pairlab runs`.

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::runs::{self, RunSummary, TrainOptions};

use crate::bar::Bar;

/// Train a classifier on a split's train part (early stopping on its val part).
#[derive(clap::Args)]
pub struct TrainCommand {
    #[arg(long, default_value = "chexpert")]
    pub schema: String,
    #[arg(long)]
    pub split: String,
    #[command(flatten)]
    pub how: TrainerArgs,
    #[arg(long)]
    pub json: bool,
}

/// How a run trains (`train`, and each fold of `label-issues`).
#[derive(clap::Args)]
pub struct TrainerArgs {
    /// head: a linear/MLP classifier on a model's image embeddings; cnn: a small
    /// convolutional network trained from scratch on the images; finetune: a pretrained
    /// ResNet/DenseNet/ViT (--model) with a new head; text: a BERT-family encoder
    /// (--text-model) with a classification head on the reports; fusion: image embeddings
    /// (--model) and reports (--text-model) through a joint module.
    #[arg(long, default_value = "head")]
    pub trainer: pairlab_core::runs::Trainer,
    /// head and fusion: the model whose image embeddings it learns from; finetune: the
    /// registered image classifier (ResNet, DenseNet, ViT) or CLIP model (its image tower)
    /// to fine-tune.
    #[arg(long)]
    pub model: Option<String>,
    /// text and fusion: the registered BERT-family text model (e.g. MiniLM) that reads the
    /// reports.
    #[arg(long)]
    pub text_model: Option<String>,
    /// text: the part of each report it reads: impression, findings or both (a report
    /// without headings is read whole).
    #[arg(long, default_value = "both")]
    pub text_section: runs::Section,
    /// fusion: the joint module: concat (late fusion into an MLP) or attention (the image
    /// vector attends over the report's tokens).
    #[arg(long, default_value = "concat")]
    pub fusion: runs::Fusion,
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// The learning rate [default: 0.01 for head, 0.001 for cnn and finetune (the backbone
    /// trains at a tenth of it)].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Hidden units of the head (0 = linear).
    #[arg(long, default_value_t = 0)]
    pub hidden: usize,
    /// cnn and finetune: images are resized to SIZE × SIZE pixels [default: for cnn 64, or
    /// the split's median image side when smaller; for finetune the backbone's input size].
    #[arg(long)]
    pub size: Option<usize>,
    /// finetune and text: train the head only (head), also the backbone's or encoder's
    /// last N stages or layers (N), or everything (all).
    #[arg(long, default_value = "head")]
    pub unfreeze: String,
    /// finetune and text: images or reports per optimiser step.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// finetune and text: cpu, cuda or auto (a GPU when this build has one).
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// finetune: no augmentation (rotation, scale, shift, brightness, contrast).
    #[arg(long)]
    pub no_augment: bool,
    /// finetune: random horizontal flips (off by default: chest X-rays are not symmetric).
    #[arg(long)]
    pub hflip: bool,
    /// finetune: memory budget in MiB [default: three quarters of the available memory];
    /// text: a batch whose activations would not fit recomputes them in the backward pass,
    /// slower [default: the model's weights and state and 1 GiB of activations].
    #[arg(long)]
    pub memory_mb: Option<usize>,
    /// Uncertain labels: ignore, zeros or ones (U-Ignore / U-Zeros / U-Ones).
    #[arg(long, default_value = "ignore")]
    pub uncertain: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl TrainerArgs {
    /// Core's options for training on `split` of `schema`.
    pub fn options(self, schema: String, split: String) -> Result<TrainOptions> {
        let TrainerArgs {
            trainer,
            model,
            text_model,
            text_section,
            fusion,
            epochs,
            lr,
            hidden,
            size,
            unfreeze,
            batch,
            device,
            no_augment,
            hflip,
            memory_mb,
            uncertain,
            seed,
        } = self;
        Ok(TrainOptions {
            lr: lr.unwrap_or_else(|| trainer.default_lr()),
            schema,
            split,
            trainer,
            model,
            epochs,
            hidden,
            size: size.unwrap_or(0),
            uncertain: runs::parse_uncertain(&uncertain)?,
            seed,
            tune: runs::Tune {
                unfreeze: unfreeze.parse()?,
                batch,
                device: device.parse()?,
                augment: !no_augment,
                hflip,
                memory_mb: memory_mb.unwrap_or(0),
                backbone: None,
            },
            text: runs::TextOptions {
                model: text_model,
                section: text_section,
                fusion,
            },
            labels: runs::LabelPolicy::Best,
        })
    }
}

pub fn train(lib: &mut Library, cmd: TrainCommand) -> Result<()> {
    let TrainCommand {
        schema,
        split,
        how,
        json,
    } = cmd;
    let opts = how.options(schema, split)?;
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
        if r.status != pairlab_core::runs::RunStatus::Done
            && let Some(m) = &r.message
        {
            println!("      {m}");
        }
    }
    Ok(())
}

fn ci(c: &Option<pairlab_core::runs::eval::Ci>) -> String {
    match c {
        Some(c) => format!("{:.3} [{:.3}–{:.3}]", c.value, c.low, c.high),
        None => "-".into(),
    }
}

pub fn eval(lib: &Library, run: i64, part: &str, json: bool) -> Result<()> {
    let r = lib.evaluate(run, part)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print_eval(&r);
    Ok(())
}

/// An evaluation report as a table: the headline figures, then one row per class.
pub fn print_eval(r: &pairlab_core::runs::eval::EvalReport) {
    println!(
        "run {} on {} ({} samples, {}): accuracy {:.3} · macro F1 {:.3} · micro F1 {:.3} · mAP {} · ECE {:.3}",
        r.run_id,
        r.part,
        r.samples,
        r.kind.as_str(),
        r.accuracy,
        r.macro_f1,
        r.micro_f1,
        r.map.map_or("-".to_string(), |m| format!("{m:.3}")),
        r.ece
    );
    if let Some(n @ 1..) = r.relabelled_since_training {
        println!(
            "note: {n} {} of the {} part {} labels that differ from when the run was trained; the metrics use the current labels",
            if n == 1 { "pair" } else { "pairs" },
            r.part,
            if n == 1 { "has" } else { "have" }
        );
    }
    println!(
        "{:<28} {:>6} {:>6} {:>6} {:>7}  {:<22} {:<22}",
        "class", "prec", "recall", "F1", "support", "AUROC [95% CI]", "AUPRC [95% CI]"
    );
    for c in &r.per_class {
        println!(
            "{:<28} {:>6.3} {:>6.3} {:>6.3} {:>7}  {:<22} {:<22}",
            c.class,
            c.precision,
            c.recall,
            c.f1,
            c.support,
            ci(&c.auroc),
            ci(&c.auprc)
        );
    }
    if let Some(cm) = &r.confusion_matrix {
        println!("confusion matrix (rows: true, columns: predicted):");
        print!("{:<16}", "");
        for l in &cm.labels {
            print!("{:>10}", l.chars().take(9).collect::<String>());
        }
        println!();
        for (l, row) in cm.labels.iter().zip(&cm.matrix) {
            print!("{:<16}", l.chars().take(15).collect::<String>());
            for v in row {
                print!("{v:>10}");
            }
            println!();
        }
        println!(
            "the samples behind a cell: pairlab misclassified --run {} --true A --pred B",
            r.run_id
        );
    }
    if let Some(a) = &r.ablation {
        print_ablation(a);
    }
}

/// The modality ablation: macro F1 and mAP per view, then AUROC per class and view.
fn print_ablation(a: &pairlab_core::runs::ablation::Ablation) {
    let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.3}"));
    let views = [&a.image, &a.report, &a.both];
    println!("ablation (the missing side masked as in training):");
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "", "image only", "report only", "both"
    );
    println!(
        "{:<28} {:>10} {:>11} {:>10}",
        "macro F1",
        f(Some(views[0].macro_f1)),
        f(Some(views[1].macro_f1)),
        f(Some(views[2].macro_f1))
    );
    println!(
        "{:<28} {:>10} {:>11} {:>10}",
        "mAP",
        f(views[0].map),
        f(views[1].map),
        f(views[2].map)
    );
    for c in &a.both.per_class {
        let auroc = |v: &pairlab_core::runs::ablation::ViewEval| {
            f(v.per_class
                .iter()
                .find(|x| x.class == c.class)
                .and_then(|x| x.auroc))
        };
        println!(
            "{:<28} {:>10} {:>11} {:>10}",
            format!("AUROC {}", c.class),
            auroc(&a.image),
            auroc(&a.report),
            auroc(&a.both)
        );
    }
}

pub fn misclassified(
    lib: &Library,
    run: i64,
    part: &str,
    [class, truth, pred]: [Option<String>; 3],
    json: bool,
) -> Result<()> {
    let rows = lib.misclassified(
        run,
        part,
        class.as_deref(),
        truth.as_deref(),
        pred.as_deref(),
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for m in &rows {
        println!(
            "pair {:<7} true {:<14} predicted {:<14} ({:.3})  {}",
            m.pair, m.truth, m.predicted, m.confidence, m.image
        );
    }
    println!("{} samples", rows.len());
    Ok(())
}
