//! `pairlab bench text-real` and `pairlab bench text-speed`: the `text` trainer on real
//! radiology reports against the rule labeler (and, through bench/text_real.sh, a
//! scikit-learn TF-IDF baseline), and its fine-tuning speed (against PyTorch through
//! bench/text_speed.sh).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use pairlab_core::report_labeler::Value;
use pairlab_core::report_labeler::benchmark::{self, Gold, GoldMap, Half, IuReport};
use pairlab_ml::metrics;
use pairlab_ml::train::finetune::{DeviceChoice, Tune, Unfreeze};
use pairlab_ml::train::text::{Reader, ReportText, Section, TextSettings};
use pairlab_ml::train::{Part, Settings, Targets, Trainer, Uncertain};
use serde::Serialize;

/// The classes every variant is scored on: No Finding and the five common findings.
const SCORED: [&str; 6] = [
    "No Finding",
    "Cardiomegaly",
    "Pleural Effusion",
    "Atelectasis",
    "Edema",
    "Pneumothorax",
];

#[derive(clap::Args)]
pub struct TextRealArgs {
    /// The IU X-ray reports (default: the fixtures cache).
    #[arg(long)]
    reports: Option<PathBuf>,
    /// A Hugging Face BERT folder (default: the MiniLM fixture).
    #[arg(long)]
    text_model: Option<PathBuf>,
    /// Which variants to run, comma-separated: head (the head on frozen MiniLM), finetune
    /// (everything fine-tuned on the gold of the development half), learn (fine-tuned on
    /// the rule labels of the development half, with gold as human labels on its first
    /// LEARN_HUMAN reports, weighing three times).
    #[arg(long, default_value = "head,finetune,learn")]
    variants: String,
    /// Epochs of the fine-tuned variants.
    #[arg(long, default_value_t = 4)]
    epochs: usize,
    #[arg(long, default_value_t = 500)]
    learn_human: usize,
    /// Write dev_gold.csv and heldout_gold.csv (CheXpert layout) here for the scikit-learn
    /// baseline, which fits on the first and only scores the second.
    #[arg(long)]
    write_gold: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct ClassFigures {
    class: String,
    auroc: Option<f64>,
    ap: Option<f64>,
    f1: f64,
    support: u64,
}

#[derive(Serialize)]
struct Variant {
    name: String,
    seconds: f64,
    epochs: usize,
    classes: Vec<ClassFigures>,
    /// Mean AUROC over the five common findings.
    macro_auroc: Option<f64>,
}

fn default_model() -> PathBuf {
    pairlab_ml::random_weights::fixtures_root().join("minilm")
}

/// FINDINGS and IMPRESSION of a benchmark report ("FINDINGS: …\nIMPRESSION: …").
fn sections(text: &str) -> (Option<&str>, Option<&str>) {
    let (f, i) = match text.find("IMPRESSION:") {
        Some(k) => (&text[..k], Some(&text[k + "IMPRESSION:".len()..])),
        None => (text, None),
    };
    let f = f.trim().strip_prefix("FINDINGS:").map(str::trim);
    (
        f.filter(|s| !s.is_empty()),
        i.map(str::trim).filter(|s| !s.is_empty()),
    )
}

fn row(reader: &Reader, r: &IuReport) -> Result<Vec<f32>> {
    let (findings, impression) = sections(&r.text);
    reader
        .row(ReportText {
            text: &r.text,
            findings,
            impression,
        })?
        .with_context(|| format!("report {} has no text", r.number))
}

fn gold_value(g: Gold) -> f32 {
    match g {
        Gold::Positive => 1.0,
        Gold::Negative => 0.0,
        Gold::Ignored => f32::NAN,
    }
}

/// A rule label as a training target: uncertain stays −1 (ignored), not mentioned is 0.
fn rule_value(v: Option<Value>) -> f32 {
    match v {
        Some(Value::Positive) => 1.0,
        Some(Value::Uncertain) => -1.0,
        Some(Value::Negative) | None => 0.0,
    }
}

fn settings(dir: &std::path::Path, unfreeze: Unfreeze, epochs: usize, lr: f64) -> Settings {
    Settings {
        epochs,
        lr,
        hidden: 0,
        size: 0,
        uncertain: Uncertain::Ignore,
        seed: 0,
        tune: Tune {
            unfreeze,
            batch: 16,
            device: DeviceChoice::Cpu,
            ..Default::default()
        },
        text: TextSettings {
            model: Some(dir.to_path_buf()),
            section: Section::Both,
            ..Default::default()
        },
    }
}

/// Per-class figures of probabilities `p` (rows × classes) against gold `g` (NaN = left
/// out), thresholds at the best F1 of the validation rows.
fn score(
    classes: &[String],
    (p, g): (&[f32], &[f32]),
    (vp, vg): (&[f32], &[f32]),
) -> Vec<ClassFigures> {
    let c = classes.len();
    SCORED
        .iter()
        .filter_map(|name| {
            let k = classes.iter().position(|x| x == name)?;
            let pick = |p: &[f32], g: &[f32]| -> (Vec<f32>, Vec<bool>) {
                p.chunks(c)
                    .zip(g.chunks(c))
                    .filter(|(_, g)| !g[k].is_nan())
                    .map(|(p, g)| (p[k], g[k] > 0.5))
                    .unzip()
            };
            let (s, t) = pick(p, g);
            let (vs, vt) = pick(vp, vg);
            let th = metrics::best_threshold_f1(&vs, &vt);
            let th = if th.is_finite() { th } else { 0.5 };
            let decided: Vec<bool> = s.iter().map(|&x| x >= th).collect();
            let counts = metrics::binary_counts(&decided, &t);
            Some(ClassFigures {
                class: (*name).to_string(),
                auroc: metrics::roc_auc(&s, &t),
                ap: metrics::average_precision(&s, &t),
                f1: metrics::binary_f1(&counts),
                support: t.iter().filter(|&&x| x).count() as u64,
            })
        })
        .collect()
}

fn macro_auroc(classes: &[ClassFigures]) -> Option<f64> {
    let v: Vec<f64> = classes
        .iter()
        .filter(|c| c.class != "No Finding")
        .filter_map(|c| c.auroc)
        .collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The benchmark's rows: the development half's training and validation rows (every
/// tenth report held back for early stopping and thresholds), the held-out half's, with
/// gold values (NaN where a class is left out).
struct Rows<'a> {
    dim: usize,
    classes: Vec<String>,
    x: Vec<f32>,
    g: Vec<f32>,
    /// The training reports, in row order.
    r: Vec<&'a benchmark::Scored<'a>>,
    vx: Vec<f32>,
    vg: Vec<f32>,
    hx: Vec<f32>,
    hg: Vec<f32>,
}

fn rows<'a>(
    reader: &Reader,
    classes: Vec<String>,
    dev: &'a [benchmark::Scored<'a>],
    held: &[benchmark::Scored],
) -> Result<Rows<'a>> {
    let mut out = Rows {
        dim: reader.dim(),
        classes,
        x: vec![],
        g: vec![],
        r: vec![],
        vx: vec![],
        vg: vec![],
        hx: vec![],
        hg: vec![],
    };
    for (k, s) in dev.iter().enumerate() {
        let gold = s.gold.iter().map(|&v| gold_value(v));
        if k % 10 == 9 {
            out.vx.extend(row(reader, s.report)?);
            out.vg.extend(gold);
        } else {
            out.x.extend(row(reader, s.report)?);
            out.g.extend(gold);
            out.r.push(s);
        }
    }
    for s in held {
        out.hx.extend(row(reader, s.report)?);
        out.hg.extend(s.gold.iter().map(|&v| gold_value(v)));
    }
    Ok(out)
}

/// One variant trained and scored.
fn variant(d: &Rows, name: &str, model: &std::path::Path, a: &TextRealArgs) -> Result<Variant> {
    let (c, dim) = (d.classes.len(), d.dim);
    let (targets, rows, unfreeze, epochs) = match name {
        "head" => (d.g.clone(), d.x.clone(), Unfreeze::Head, 60),
        "finetune" => (d.g.clone(), d.x.clone(), Unfreeze::All, a.epochs),
        "learn" => {
            // Rule labels everywhere, gold ("human") on the first reports, three times.
            let (mut t, mut rows) = (Vec::new(), Vec::new());
            for (k, s) in d.r.iter().enumerate() {
                let row = &d.x[k * dim..(k + 1) * dim];
                if k < a.learn_human {
                    for _ in 0..3 {
                        rows.extend_from_slice(row);
                        t.extend(s.gold.iter().map(|&v| gold_value(v)));
                    }
                } else {
                    rows.extend_from_slice(row);
                    t.extend(s.pred.iter().map(|&v| rule_value(v)));
                }
            }
            (t, rows, Unfreeze::All, a.epochs)
        }
        other => bail!("variant {other:?}: use head, finetune or learn"),
    };
    let train_t = Targets::MultiLabel {
        values: targets,
        classes: c,
    };
    let val_t = Targets::MultiLabel {
        values: d.vg.clone(),
        classes: c,
    };
    let started = Instant::now();
    let lr = if name == "head" { 1e-2 } else { 1e-3 };
    let fitted = Trainer::Text.fitter().fit(
        Part {
            x: &rows,
            targets: &train_t,
        },
        Part {
            x: &d.vx,
            targets: &val_t,
        },
        dim,
        &settings(model, unfreeze, epochs, lr),
        &mut |e| {
            if let pairlab_ml::train::Event::Epoch(m) = e
                && !a.json
            {
                eprintln!(
                    "{name}: epoch {} val loss {:.4} ({:.0} s)",
                    m.epoch, m.val_loss, m.seconds
                );
            }
            true
        },
    )?;
    let seconds = started.elapsed().as_secs_f64();
    let p = fitted.model.predict(&d.hx)?;
    let vp = fitted.model.predict(&d.vx)?;
    let classes = score(&d.classes, (&p, &d.hg), (&vp, &d.vg));
    Ok(Variant {
        name: name.to_string(),
        seconds,
        epochs: fitted.history.len(),
        macro_auroc: macro_auroc(&classes),
        classes,
    })
}

fn print_table(rules: &[(String, f64)], out: &[Variant]) {
    print!("{:<18} {:>8}", "class", "rules F1");
    for v in out {
        print!(" {:>22}", format!("{} AUROC / F1", v.name));
    }
    println!();
    for (class, f1) in rules {
        print!("{class:<18} {f1:>8.3}");
        for v in out {
            let f = v.classes.iter().find(|x| &x.class == class);
            let cell = f.map_or("-".into(), |f| {
                let a = f.auroc.map_or("-".into(), |a| format!("{a:.3}"));
                format!("{a} / {:.3}", f.f1)
            });
            print!(" {cell:>22}");
        }
        println!();
    }
    for v in out {
        let beats = v
            .classes
            .iter()
            .filter(|f| f.class != "No Finding")
            .filter(|f| rules.iter().any(|(c, r)| c == &f.class && f.f1 > *r))
            .count();
        println!(
            "{}: macro AUROC (five common) {} · F1 above the rules on {beats} of 5 · {} epochs in {:.0} s",
            v.name,
            v.macro_auroc.map_or("-".into(), |m| format!("{m:.3}")),
            v.epochs,
            v.seconds
        );
    }
}

pub fn text_real(a: TextRealArgs) -> Result<()> {
    let dir = a
        .reports
        .clone()
        .unwrap_or_else(crate::bench::default_iu_reports);
    let model = a.text_model.clone().unwrap_or_else(default_model);
    if !dir.is_dir() || !model.is_dir() {
        bail!("the IU reports or the text model are missing: run scripts/fetch-fixtures.sh");
    }
    let map = GoldMap::from_toml(crate::bench::GOLD_MAP)?;
    let all = benchmark::read_iu_reports(&dir)?;
    let labeler = pairlab_core::report_labeler::Labeler::chexpert()?;
    let (_, dev) = benchmark::score_half(&labeler, &map, &all, Half::Development)?;
    let (held_score, held) = benchmark::score_half(&labeler, &map, &all, Half::HeldOut)?;
    if let Some(out) = &a.write_gold {
        std::fs::create_dir_all(out)?;
        for (name, half) in [("dev", &dev), ("heldout", &held)] {
            let gold = std::fs::File::create(out.join(format!("{name}_gold.csv")))?;
            benchmark::write_csvs(&map, half, gold, std::io::sink())?;
        }
    }
    let reader = Reader::load(&model, Section::Both)?;
    let d = rows(&reader, map.classes().to_vec(), &dev, &held)?;
    let mut out = Vec::new();
    for name in a
        .variants
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        out.push(variant(&d, name, &model, &a)?);
    }
    let rules: Vec<(String, f64)> = held_score
        .classes
        .iter()
        .filter(|s| SCORED.contains(&s.class.as_str()))
        .map(|s| (s.class.clone(), s.strict.f1))
        .collect();
    if a.json {
        let rules_json: Vec<_> = rules
            .iter()
            .map(|(c, f)| serde_json::json!({"class": c, "f1": f}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "dev_reports": dev.len(), "heldout_reports": held.len(),
                "rules_f1": rules_json, "variants": out,
            })
        );
        return Ok(());
    }
    println!(
        "{} development reports (train {}, val {}), {} held-out reports scored",
        dev.len(),
        d.r.len(),
        dev.len() - d.r.len(),
        held.len()
    );
    print_table(&rules, &out);
    Ok(())
}

#[derive(clap::Args)]
pub struct TextSpeedArgs {
    /// A Hugging Face BERT folder (default: the MiniLM fixture).
    #[arg(long)]
    text_model: Option<PathBuf>,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Tokens per report (every row this long).
    #[arg(long, default_value_t = 256)]
    len: usize,
    /// Timed steps, after one warm-up step.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    #[arg(long, default_value_t = 14)]
    classes: usize,
    /// head or all.
    #[arg(long, default_value = "all")]
    unfreeze: String,
    /// The trainer's memory budget in MiB (0: its default, 1 GiB of activations; a batch
    /// over it recomputes its layers in the backward pass).
    #[arg(long, default_value_t = 0)]
    memory_mb: usize,
    #[arg(long)]
    json: bool,
}

/// The process's peak resident memory (VmHWM) in MiB.
pub(crate) fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0
}

/// Forward, backward and AdamW steps of random reports `len` tokens long through the
/// `text` trainer itself: one epoch over `(steps + 1) × batch` rows, timed from the end of
/// the first (warm-up) batch to the end of the last.
pub fn text_speed(a: TextSpeedArgs) -> Result<()> {
    let model = a.text_model.unwrap_or_else(default_model);
    let unfreeze: Unfreeze = a.unfreeze.parse()?;
    let reader = Reader::load(&model, Section::Both)?;
    let len = a.len.min(reader.max_len()).max(2);
    let dim = reader.dim();
    let n = (a.steps + 1) * a.batch;
    let mut rng = pairlab_ml::rng::SplitMix64(1);
    let mut x = vec![0f32; n * dim];
    for r in x.chunks_mut(dim) {
        r[0] = len as f32;
        r[1] = 101.0;
        for v in &mut r[2..len] {
            *v = (1000 + rng.below(29_000)) as f32;
        }
        r[len] = 102.0;
    }
    let values: Vec<f32> = (0..n * a.classes).map(|_| rng.below(2) as f32).collect();
    let targets = Targets::MultiLabel {
        values,
        classes: a.classes,
    };
    let empty = Targets::MultiLabel {
        values: vec![],
        classes: a.classes,
    };
    let mut marks = Vec::new();
    let started = Instant::now();
    Trainer::Text.fitter().fit(
        Part {
            x: &x,
            targets: &targets,
        },
        Part {
            x: &[],
            targets: &empty,
        },
        dim,
        &Settings {
            tune: Tune {
                memory_mb: a.memory_mb,
                ..settings(&model, unfreeze, 1, 1e-3).tune
            },
            ..settings(&model, unfreeze, 1, 1e-3)
        },
        &mut |e| {
            if let pairlab_ml::train::Event::Batch { .. } = e {
                marks.push(started.elapsed().as_secs_f64());
            }
            true
        },
    )?;
    if marks.len() < 2 {
        bail!("fewer than two steps ran");
    }
    let secs = (marks[marks.len() - 1] - marks[0]) / (marks.len() - 1) as f64;
    let out = serde_json::json!({
        "batch": a.batch, "len": len, "steps": marks.len() - 1, "unfreeze": unfreeze.to_string(),
        "memory_mb": a.memory_mb,
        "seconds_per_step": secs, "tokens_per_s": (a.batch * len) as f64 / secs,
        "peak_rss_mb": peak_rss_mb(),
    });
    if a.json {
        println!("{out}");
    } else {
        println!(
            "text fine-tuning, batch {} × {len} tokens, unfreeze {unfreeze}: {:.2} s/step, {:.0} tokens/s, peak {:.0} MiB",
            a.batch,
            secs,
            (a.batch * len) as f64 / secs,
            peak_rss_mb()
        );
    }
    Ok(())
}
