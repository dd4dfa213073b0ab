//! Fine-tuning throughput for `pairlab bench finetune`.

use super::*;

use super::memory::estimate;

/// Figures of [`throughput`].
#[derive(Clone, Debug, Serialize)]
pub struct Throughput {
    pub arch: String,
    pub size: usize,
    pub batch: usize,
    pub steps: usize,
    pub images_per_s: f64,
    pub seconds_per_step: f64,
    /// The process's peak resident memory (VmHWM) after the steps.
    pub peak_rss_mb: f64,
    /// What the run planner estimated for one step of this batch.
    pub estimated_mb: f64,
}

/// Fine-tuning throughput: forward, backward and AdamW steps of `batch` random images on
/// random weights of `arch` at `size` px (one warm-up step first), everything trained
/// unless `unfreeze` says otherwise. For `pairlab bench finetune`.
pub fn throughput(
    arch: &Arch,
    size: usize,
    batch: usize,
    steps: usize,
    unfreeze: Unfreeze,
) -> Result<Throughput> {
    let dir = std::env::temp_dir().join(format!("pairlab-bench-{}", std::process::id()));
    let file = dir.join(format!("{}.safetensors", arch.name()));
    crate::random_weights::write_backbone(&file, arch, Some(7))?;
    let mut pre = Preprocess::imagenet(size as u32);
    pre.channels = arch.in_channels();
    let classes = 2;
    let n = batch * (steps + 1);
    let targets = Targets::MultiClass {
        values: (0..n).map(|i| Some(i % classes)).collect(),
        classes,
    };
    let cfg = FinetuneConfig {
        backbone: file.clone(),
        arch: arch.name(),
        unfreeze,
        size,
        batch,
        epochs: 1,
        lr: 1e-3,
        backbone_lr_factor: 0.1,
        weight_decay: 1e-4,
        patience: 1,
        seed: 1,
        uncertain: Uncertain::Ignore,
        augment: None,
        device: "cpu".into(),
        memory_mb: 0,
    };
    let tuner = Tuner::build(&file, &pre, &targets, &cfg, &Device::Cpu)?;
    let _ = std::fs::remove_dir_all(&dir);
    let dim = pre.channels * size * size;
    let mut rng = SplitMix64(3);
    let x: Vec<f32> = (0..n * dim).map(|_| 127.5 + 127.5 * rng.unit()).collect();
    let data = Data {
        x: &x,
        dim,
        targets: &targets,
        policy: Uncertain::Ignore,
    };
    let (mut opt_head, mut opt_net, all) = tuner.optimizers(&cfg)?;
    let est = estimate(&tuner.net, &tuner.net_vars, pre.channels, size, tuner.cut)?;
    let mut aug = SplitMix64(5);
    let idx: Vec<usize> = (0..n).collect();
    let mut started = Instant::now();
    for (k, b) in idx.chunks(batch).enumerate() {
        if k == 1 {
            started = Instant::now();
        }
        let (_, grads) = tuner.step(&data, b, batch, &cfg, &all, &mut aug)?;
        opt_head.step(&grads)?;
        opt_net.step(&grads)?;
    }
    let secs = started.elapsed().as_secs_f64();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        / 1024.0;
    Ok(Throughput {
        arch: arch.name(),
        size,
        batch,
        steps,
        images_per_s: (steps * batch) as f64 / secs,
        seconds_per_step: secs / steps.max(1) as f64,
        peak_rss_mb: peak,
        estimated_mb: (est.fixed_bytes + est.per_image_bytes * batch as u64) as f64
            / (1u64 << 20) as f64,
    })
}
