//! `pairlab bench ingest`: generates a corpus, then times cold and warm `pairlab index`
//! runs in child processes and reports their rate and peak memory. Run in release mode.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use pairlab_core::demo::bench_corpus::{self, Kind};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Index throughput: cold (fresh library) and warm (unchanged re-index).
    Ingest {
        #[arg(long, value_enum, default_value = "small")]
        kind: KindArg,
        /// Number of image/report pairs.
        #[arg(long, default_value_t = 10_000)]
        n: u32,
        /// Where to generate the corpus (reused when it already holds one of this size).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The `text` trainer on the real IU X-ray reports: trained on the development half,
    /// scored on the held-out half beside the rule labeler; `bench/text_real.sh`.
    TextReal(crate::bench_text::TextRealArgs),
    /// Fine-tuning speed of a BERT text model (tokens/s, peak memory); `bench/text_speed.sh`.
    TextSpeed(crate::bench_text::TextSpeedArgs),
    /// UMAP (PCA to 50, exact neighbours, layout) on random-but-clustered vectors: time and
    /// peak memory (run in release).
    Umap(crate::maps::UmapBenchArgs),
    /// Report labeler throughput on one thread over generated reports.
    Labeler {
        /// Number of reports.
        #[arg(long, default_value_t = 100_000)]
        n: u32,
        #[arg(long)]
        json: bool,
    },
    /// The report labeler on 3,927 real IU X-ray reports, scored against gold labels
    /// derived from their MeSH indexing (bench/labeler_real_gold.toml) on the development
    /// half (odd file numbers) and the held-out half (even); `bench/labeler_real.sh`.
    LabelerReal {
        /// Folder of OpenI XML reports (default: iu-reports in the fixtures folder, which
        /// scripts/fetch-fixtures.sh fills).
        #[arg(long)]
        reports: Option<PathBuf>,
        /// Labeler rules (TOML) instead of the built-in assets/labeler/chexpert.toml.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// MeSH → class mapping instead of the built-in bench/labeler_real_gold.toml.
        #[arg(long)]
        gold_map: Option<PathBuf>,
        /// Write the development half here as dev_gold.csv and dev_pred.csv, for
        /// `pairlab labeler eval --count strict --explain CLASS` (the held-out half is
        /// only ever scored, never written).
        #[arg(long)]
        write: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Writes random weights of a ResNet or DenseNet as a torchvision-style safetensors file
    /// (a network to train from scratch, for `bench/transfer.sh`).
    Weights {
        /// resnet18, resnet34, resnet50 or densenet121.
        #[arg(long, default_value = "resnet18")]
        arch: String,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
    /// Fine-tuning throughput of a ResNet, DenseNet or ViT on random weights and images:
    /// forward, backward and AdamW steps (`bench/finetune.sh` runs PyTorch beside it).
    Finetune {
        /// resnet18, resnet34, resnet50, densenet121 or vit_base_patch16_224.
        #[arg(long, default_value = "resnet50")]
        arch: String,
        #[arg(long, default_value_t = 224)]
        size: usize,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        /// Timed steps (after one warm-up step).
        #[arg(long, default_value_t = 3)]
        steps: usize,
        /// head, a number of stages, or all.
        #[arg(long, default_value = "all")]
        unfreeze: String,
        #[arg(long)]
        json: bool,
    },
    /// CLIP image embeddings/s on the CPU at each batch size (random ViT-B/32 unless
    /// --model DIR); `bench/clip.sh` runs onnxruntime on the same weights beside it.
    Clip {
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long, default_value = "1,32")]
        batches: String,
        /// Seconds of timed runs per batch size (after one warm-up run).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Write input.npy and pairlab_out.npy (raw embeddings of 2 images) into this folder.
        #[arg(long)]
        npy: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The linear layers' matrix products of a ViT-B/32 at batch 1 and 32 through candle (the
    /// gemm crate); `bench/gemm.sh` times NumPy's OpenBLAS on the same shapes beside it.
    Gemm {
        #[arg(long)]
        json: bool,
    },
    /// The browse grid's query on a synthetic library of N pairs: pages of 100 with two
    /// filters at random depths (p50/p95/max in ms).
    Browse {
        #[arg(long, default_value_t = 1_000_000)]
        n: u64,
        #[arg(long, default_value_t = 500)]
        queries: usize,
        /// Where to keep the synthetic library (reused when it holds N pairs).
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Export of the synthetic library (as `bench browse` writes it) to hf-parquet, with
    /// image paths and with embedded thumbnails, at N/10 and N pairs: seconds and peak
    /// memory of each export in a child process; `bench/export.sh`.
    Export {
        #[arg(long, default_value_t = 100_000)]
        n: u64,
        /// Where to keep the synthetic libraries and write the exports.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Only write the benchmark corpus (used by `bench ingest` in a child process, so that
    /// the parent stays small and the children's peak memory is theirs alone).
    #[command(hide = true)]
    Gen {
        #[arg(long, value_enum)]
        kind: KindArg,
        #[arg(long)]
        n: u32,
        #[arg(long)]
        dir: PathBuf,
    },
}

fn kind_of(k: KindArg) -> Kind {
    match k {
        KindArg::Small => Kind::Small,
        KindArg::Tiny => Kind::Tiny,
        KindArg::Xray => Kind::Xray,
        KindArg::Huge => Kind::Huge,
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KindArg {
    /// 256-px PNGs with text reports.
    Small,
    /// 32-px PNGs with text reports (a million pairs on a small disk).
    Tiny,
    /// Full-size (about 2,500 × 3,000 px) JPEG chest X-rays with text reports.
    Xray,
    /// 16,000² 16-bit RGBA PNGs (2 GB each decoded whole): the decoding memory bound.
    Huge,
}

/// One timed child run.
pub(crate) struct Run {
    pub seconds: f64,
    pub peak_rss_kib: i64,
    pub summary: serde_json::Value,
}

#[allow(
    unsafe_code,
    reason = "wait4(2) for the child's peak memory; std has no safe call for it"
)]
pub(crate) fn run_child(cmd: &mut Command) -> Result<Run> {
    let started = Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot start the pairlab child")?;
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.context("no stdout")?;
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out)?;
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    if r != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("the pairlab child failed (status {status})");
    }
    Ok(Run {
        seconds,
        peak_rss_kib: usage.ru_maxrss,
        summary: serde_json::from_str(out.trim()).context("the child printed no JSON")?,
    })
}

fn index_cmd(root: &Path, library: &Path) -> Result<Command> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--library")
        .arg(library)
        .arg("index")
        .arg(root)
        .arg("--json");
    Ok(cmd)
}

pub fn run(cmd: BenchCommand, _library: Option<PathBuf>) -> Result<()> {
    let (kind_arg, n, dir, json) = match cmd {
        BenchCommand::Gen { kind, n, dir } => {
            bench_corpus::write(&dir, kind_of(kind), n)?;
            return Ok(());
        }
        BenchCommand::Ingest { kind, n, dir, json } => (kind, n, dir, json),
        BenchCommand::Labeler { n, json } => return bench_labeler(n, json),
        BenchCommand::TextReal(a) => return crate::bench_text::text_real(a),
        BenchCommand::TextSpeed(a) => return crate::bench_text::text_speed(a),
        BenchCommand::Umap(a) => return crate::maps::bench_umap(&a),
        BenchCommand::LabelerReal {
            reports,
            rules,
            gold_map,
            write,
            json,
        } => return bench_labeler_real(reports, rules, gold_map, write, json),
        BenchCommand::Browse {
            n,
            queries,
            dir,
            json,
        } => return crate::bench_browse::run(n, queries, dir, json),
        BenchCommand::Export { n, dir, json } => return crate::bench_export::run(n, dir, json),
        BenchCommand::Clip {
            model,
            batches,
            seconds,
            npy,
            json,
        } => return crate::bench_clip::run(model, &batches, seconds, npy, json),
        BenchCommand::Gemm { json } => return crate::bench_clip::gemm(json),
        cmd @ (BenchCommand::Finetune { .. } | BenchCommand::Weights { .. }) => {
            return model_bench(cmd);
        }
    };
    let kind = kind_of(kind_arg);
    let dir = dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("pairlab-bench-{}-{n}", kind.name())));
    let t = Instant::now();
    let status = Command::new(std::env::current_exe()?)
        .args([
            "bench",
            "gen",
            "--kind",
            kind.name(),
            "--n",
            &n.to_string(),
            "--dir",
        ])
        .arg(&dir)
        .status()
        .context("cannot start the corpus generator")?;
    if !status.success() {
        bail!("writing the benchmark corpus failed");
    }
    if !json {
        eprintln!(
            "corpus: {n} pairs in {} (ready in {:.1} s)",
            dir.display(),
            t.elapsed().as_secs_f64()
        );
    }
    let library = dir.with_extension("library");
    if library.exists() {
        std::fs::remove_dir_all(&library)?;
    }
    let cold = run_child(&mut index_cmd(&dir, &library)?)?;
    let warm = run_child(&mut index_cmd(&dir, &library)?)?;
    let pairs = cold.summary["pairs"].as_u64().unwrap_or(0);
    let result = serde_json::json!({
        "kind": kind.name(),
        "n": n,
        "pairs": pairs,
        "errors": cold.summary["errors"],
        "cold_seconds": cold.seconds,
        "cold_pairs_per_second": pairs as f64 / cold.seconds,
        "cold_peak_rss_mib": cold.peak_rss_kib as f64 / 1024.0,
        "warm_seconds": warm.seconds,
        "warm_unchanged": warm.summary["unchanged"],
        "warm_peak_rss_mib": warm.peak_rss_kib as f64 / 1024.0,
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    if json {
        println!("{result}");
    } else {
        println!(
            "{} × {}: cold {:.2} s = {:.0} pairs/s (peak RSS {:.0} MiB); warm re-index {:.2} s (peak RSS {:.0} MiB)",
            n,
            kind.name(),
            cold.seconds,
            pairs as f64 / cold.seconds,
            cold.peak_rss_kib as f64 / 1024.0,
            warm.seconds,
            warm.peak_rss_kib as f64 / 1024.0
        );
    }
    std::fs::remove_dir_all(&library).ok();
    Ok(())
}

/// Labels `n` generated reports on this thread and prints reports/s.
fn bench_labeler(n: u32, json: bool) -> Result<()> {
    use pairlab_core::demo::cases::{Case, Rng, write_report};
    let mut rng = Rng::new(0x1abe_1e55);
    let reports: Vec<String> = (0..n)
        .map(|_| write_report(&Case::random(&mut rng), &mut rng).text)
        .collect();
    let bytes: usize = reports.iter().map(String::len).sum();
    let labeler = pairlab_core::report_labeler::Labeler::chexpert()?;
    let started = Instant::now();
    let mut positives = 0usize;
    for r in &reports {
        let l = labeler.label(r);
        positives += l.values.iter().filter(|v| v.is_some()).count();
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = f64::from(n) / seconds;
    if json {
        println!(
            "{}",
            serde_json::json!({"reports": n, "seconds": seconds, "reports_per_second": rate,
                "mean_bytes": bytes as f64 / f64::from(n.max(1)), "threads": 1, "labels": positives})
        );
    } else {
        println!(
            "{n} reports (mean {:.0} bytes) on one thread: {seconds:.2} s = {rate:.0} reports/s ({positives} non-blank labels)",
            bytes as f64 / f64::from(n.max(1))
        );
    }
    Ok(())
}

pub(crate) const GOLD_MAP: &str = include_str!("../bench/labeler_real_gold.toml");

/// Where scripts/fetch-fixtures.sh puts the IU X-ray reports.
pub(crate) fn default_iu_reports() -> PathBuf {
    let root = match std::env::var_os("PAIRLAB_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/pairlab/fixtures"),
    };
    root.join("iu-reports")
}

fn bench_labeler_real(
    reports: Option<PathBuf>,
    rules: Option<PathBuf>,
    gold_map: Option<PathBuf>,
    write: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    use pairlab_core::report_labeler::benchmark::{self, GoldMap, Half};
    let dir = reports.unwrap_or_else(default_iu_reports);
    if !dir.is_dir() {
        bail!(
            "{} is missing: run scripts/fetch-fixtures.sh (or give --reports DIR)",
            dir.display()
        );
    }
    let read = |p: &Path| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let labeler = crate::report_labeler::rules_or_builtin(rules.as_deref())?;
    let map = match &gold_map {
        Some(p) => GoldMap::from_toml(&read(p)?)?,
        None => GoldMap::from_toml(GOLD_MAP)?,
    };
    let all = benchmark::read_iu_reports(&dir)?;
    let mut halves = Vec::new();
    for half in [Half::Development, Half::HeldOut] {
        let (score, scored) = benchmark::score_half(&labeler, &map, &all, half)?;
        if let (Some(out), Half::Development) = (&write, half) {
            std::fs::create_dir_all(out)?;
            let create = |name: &str| -> Result<std::io::BufWriter<std::fs::File>> {
                let p = out.join(name);
                Ok(std::io::BufWriter::new(
                    std::fs::File::create(&p)
                        .with_context(|| format!("cannot create {}", p.display()))?,
                ))
            };
            benchmark::write_csvs(
                &map,
                &scored,
                create("dev_gold.csv")?,
                create("dev_pred.csv")?,
            )?;
        }
        halves.push(score);
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"reports": all.len(), "halves": halves})
        );
        return Ok(());
    }
    println!(
        "{} IU X-ray reports with FINDINGS or IMPRESSION ({})",
        all.len(),
        dir.display()
    );
    for h in &halves {
        println!(
            "\n== {} half: {} reports scored, {:.0} reports/s on one thread",
            h.half.name(),
            h.reports,
            h.reports_per_s
        );
        println!(
            "{:<28} {:>7} {:>6}   {:>18}   {:>18}",
            "class", "support", "scored", "strict P / R / F1", "lenient P / R / F1"
        );
        for c in &h.classes {
            let prf =
                |p: &benchmark::Prf| format!("{:.3} {:.3} {:.3}", p.precision, p.recall, p.f1);
            println!(
                "{:<28} {:>7} {:>6}   {:>18}   {:>18}",
                c.class,
                c.support,
                c.scored,
                prf(&c.strict),
                prf(&c.lenient)
            );
        }
        println!(
            "mean F1, five common classes: strict {:.3}, lenient {:.3}",
            h.common.strict, h.common.lenient
        );
        println!(
            "mean F1, {} classes with support >= {}: strict {:.3}, lenient {:.3}",
            h.supported.classes.len(),
            benchmark::MIN_SUPPORT,
            h.supported.strict,
            h.supported.lenient
        );
    }
    Ok(())
}

/// `bench finetune` and `bench weights`.
fn model_bench(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Finetune {
            arch,
            size,
            batch,
            steps,
            unfreeze,
            json,
        } => bench_finetune(&arch, size, batch, steps, &unfreeze, json),
        BenchCommand::Weights { arch, seed, out } => {
            pairlab_ml::random_weights::write_backbone(&out, &arch_of(&arch)?, Some(seed))?;
            println!(
                "wrote random {arch} weights (seed {seed}) to {}",
                out.display()
            );
            Ok(())
        }
        _ => bail!("not a model benchmark"),
    }
}

fn bench_finetune(
    arch: &str,
    size: usize,
    batch: usize,
    steps: usize,
    unfreeze: &str,
    json: bool,
) -> Result<()> {
    let arch = arch_of(arch)?;
    let t = pairlab_ml::train::finetune::throughput(&arch, size, batch, steps, unfreeze.parse()?)?;
    if json {
        println!("{}", serde_json::to_string(&t)?);
    } else {
        println!(
            "{} at {} px, batch {}: {:.2} images/s ({:.2} s per step), peak memory {:.0} MiB (estimated {:.0} MiB)",
            t.arch,
            t.size,
            t.batch,
            t.images_per_s,
            t.seconds_per_step,
            t.peak_rss_mb,
            t.estimated_mb
        );
    }
    Ok(())
}

fn arch_of(name: &str) -> Result<pairlab_ml::backbone::Arch> {
    use pairlab_ml::backbone::Arch;
    use pairlab_ml::{densenet, resnet, vit};
    Ok(match name {
        "vit_base_patch16_224" => Arch::Vit(vit::Config::vit_base_patch16_224()),
        "resnet18" => Arch::ResNet(resnet::Config::resnet18()),
        "resnet34" => Arch::ResNet(resnet::Config::resnet34()),
        "resnet50" => Arch::ResNet(resnet::Config::resnet50()),
        "densenet121" => Arch::DenseNet(densenet::Config::densenet121()),
        other => bail!(
            "--arch {other}: use resnet18, resnet34, resnet50, densenet121 or vit_base_patch16_224"
        ),
    })
}
