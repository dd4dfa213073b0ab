//! `pairlab bench clip`: image-embedding throughput of a CLIP vision tower on the CPU (the
//! code path of `pairlab embed`: preprocessed pixels in, normalised embeddings out), at
//! chosen batch sizes. Without `--model` it uses a random-weight ViT-B/32 (speed does not
//! depend on the weights). Run in release mode; bench/clip.sh compares with onnxruntime.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use pairlab_ml::clip::{Clip, Config};
use pairlab_ml::random_weights::{Init, vit_b32_config, write_model};

/// The random ViT-B/32 folder used when no model is given.
pub fn default_model_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/pairlab/bench/clip-vit-b32-random")
}

fn load(dir: &Path) -> Result<Clip> {
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("config.json")).context("config.json")?,
    )?;
    let cfg = Config::from_json(&json)?;
    let weights = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)?;
    let vb = VarBuilder::from_tensors(weights, DType::F32, &Device::Cpu);
    Ok(Clip::load(vb, &cfg)?)
}

/// Deterministic pixels in the normalised range.
fn pixels(n: usize, size: usize) -> Vec<f32> {
    (0..n * 3 * size * size)
        .map(|i| ((i as f64 * 0.001).sin() * 1.5) as f32)
        .collect()
}

pub fn run(
    model: Option<PathBuf>,
    batches: &str,
    seconds: f64,
    npy: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let dir = match model {
        Some(d) => d,
        None => {
            let d = default_model_dir();
            if !d.join("model.safetensors").is_file() {
                eprintln!("writing a random-weight ViT-B/32 CLIP to {} …", d.display());
                write_model(&d, &vit_b32_config(), Init::Random { seed: 0 })?;
            }
            d
        }
    };
    let clip = load(&dir)?;
    let size = clip.config().vision.image_size;
    if let Some(out) = &npy {
        // Inputs and raw (unnormalised) outputs for checking against another implementation.
        std::fs::create_dir_all(out)?;
        let x = clip.pixels(pixels(2, size), 2, &Device::Cpu)?;
        x.write_npy(out.join("input.npy"))?;
        clip.image_embeds(&x)?
            .write_npy(out.join("pairlab_out.npy"))?;
    }
    let threads = candle_core::utils::get_num_threads();
    let mut results = Vec::new();
    for b in batches.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let b: usize = b.parse().with_context(|| format!("batch size {b:?}"))?;
        let x: Tensor = clip.pixels(pixels(b, size), b, &Device::Cpu)?;
        clip.image_features(&x)?; // warm-up
        let mut times = Vec::new();
        let started = Instant::now();
        while times.is_empty() || started.elapsed().as_secs_f64() < seconds {
            let t = Instant::now();
            clip.image_features(&x)?;
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        let rate = b as f64 / median;
        if !json {
            println!(
                "pairlab/candle fp32  batch {b}: {rate:.1} images/s (median of {} runs, {threads} threads)",
                times.len()
            );
        }
        results.push(serde_json::json!({"batch": b, "images_per_s": rate, "runs": times.len()}));
    }
    if json {
        let out = serde_json::json!({"model": dir, "threads": threads, "results": results});
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

/// The products of a ViT-B/32's linear layers (qkv, out, fc1, fc2) at 50 rows (batch 1) and
/// 1,600 rows (batch 32): milliseconds per product (median of timed repeats) and GFLOP/s.
pub fn gemm(json: bool) -> Result<()> {
    let shapes = [
        (50usize, 768usize, 2304usize),
        (50, 3072, 768),
        (1600, 768, 3072),
        (1600, 3072, 768),
        (1600, 768, 2304),
    ];
    let mut out = Vec::new();
    for (m, k, n) in shapes {
        let a = Tensor::randn(0f32, 1., (m, k), &Device::Cpu)?;
        let b = Tensor::randn(0f32, 1., (k, n), &Device::Cpu)?;
        a.matmul(&b)?;
        let reps = if m < 100 { 400 } else { 20 };
        let mut times = Vec::with_capacity(reps);
        for _ in 0..reps {
            let t = Instant::now();
            a.matmul(&b)?;
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let s = times[reps / 2];
        let gflops = 2.0 * (m * k * n) as f64 / s / 1e9;
        if !json {
            println!(
                "candle (gemm crate) {m}x{k}x{n}: {:.3} ms, {gflops:.1} GFLOP/s",
                s * 1e3
            );
        }
        out.push(serde_json::json!({"m": m, "k": k, "n": n, "ms": s * 1e3, "gflops": gflops}));
    }
    if json {
        println!("{}", serde_json::Value::Array(out));
    }
    Ok(())
}
