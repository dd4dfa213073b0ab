//! What a run needs in memory and time, estimated before it starts.

use super::*;

pub(super) fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

/// What a run needs: fixed (weights, gradients, AdamW's two moments, a best-epoch copy)
/// and per image in a forward/backward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MemoryEstimate {
    pub fixed_bytes: u64,
    pub per_image_bytes: u64,
}

/// Values kept for the backward pass per value a trained layer computes (its input, batch
/// norm's intermediates, ReLU, concatenations), as measured with `pairlab bench finetune`
/// at 224 px, batch 16 (docs/PERFORMANCE.md): ResNet-50 and DenseNet-121.
fn kept_per_value(net: &Net) -> u64 {
    match net {
        Net::ResNet(_) => 5,
        Net::DenseNet(_) => 5,
        // A ViT's values below already count the intermediates its ops keep.
        Net::Vit(_) => 1,
    }
}

pub(super) fn estimate(
    net: &Net,
    vars: &VarMap,
    channels: usize,
    size: usize,
    cut: usize,
) -> Result<MemoryEstimate> {
    let (mut all, mut trained) = (0u64, 0u64);
    {
        let data = vars.data().lock().map_err(lock_err)?;
        for (n, v) in data.iter() {
            let e = v.elem_count() as u64;
            all += e;
            if !n.contains("running_") && stage_of(&net.arch(), n) >= cut {
                trained += e;
            }
        }
    }
    let values = computed_values(net, size);
    let kept: u64 = values.iter().skip(cut).sum::<u64>() * kept_per_value(net);
    // A frozen stage keeps nothing, but its largest stage is alive while it runs.
    let peak = values.iter().copied().max().unwrap_or(0) * 2 + (channels * size * size) as u64;
    Ok(MemoryEstimate {
        fixed_bytes: 4 * (2 * all + 3 * trained),
        per_image_bytes: 4 * (kept + peak),
    })
}

/// Values the layers of each stage compute for one image at `size` px (the output of every
/// convolution, and for DenseNet each layer's concatenated input).
fn computed_values(net: &Net, size: usize) -> Vec<u64> {
    // A convolutional network's stem: a 7×7 stride-2 convolution, then a 3×3 stride-2 max
    // pool (`s2` the side after it).
    let conv = |s: usize, k: usize, stride: usize| (s + 2 * (k / 2) - k) / stride + 1;
    let s1 = conv(size, 7, 2);
    let s2 = (s1 - 1) / 2 + 1;
    let stem = |ch: usize| (ch * s1 * s1 + ch * s2 * s2) as u64;
    match net {
        Net::Vit(v) => {
            let c = v.config();
            let t = ((size / c.patch).pow(2) + 1) as u64;
            let (d, m, h) = (c.hidden as u64, c.mlp as u64, c.heads as u64);
            // Per block: the norms' outputs, q/k/v and their copies, the attention scores
            // and their softmax, the projections, the MLP and the residual sums.
            // (Calibrated on ViT-B/16 at 224 px, batch 16: 7,252 MiB measured.)
            let block = 16 * t * d + 4 * t * m + 4 * h * t * t;
            let mut out = vec![3 * t * d];
            out.extend(std::iter::repeat_n(block, c.depth));
            out
        }
        Net::ResNet(r) => {
            let mut out = vec![stem(64)];
            let c = r.config();
            let mut s = s2;
            for (k, &blocks) in c.blocks.iter().enumerate() {
                let w = 64usize << k;
                let first = s;
                if k > 0 {
                    s = (s - 1) / 2 + 1;
                }
                // A bottleneck computes w (at the input size), w, 4w and the sum; a basic
                // block w, w and the sum; the first block also its shortcut.
                let per = if c.bottleneck {
                    w * first * first + w * s * s + 4 * w * s * s * 2
                } else {
                    w * s * s * 3
                };
                let wide = if c.bottleneck { 4 * w } else { w };
                out.push((blocks * per + wide * s * s) as u64);
            }
            out
        }
        Net::DenseNet(d) => {
            let mut out = vec![stem(d.config().init_features)];
            let c = d.config();
            let (mut ch, mut s) = (c.init_features, s2);
            for (i, &layers) in c.blocks.iter().enumerate() {
                let mut v = 0;
                for l in 0..layers {
                    let input = ch + l * c.growth;
                    v += (input + c.bn_size * c.growth + c.growth + input) * s * s;
                }
                ch += layers * c.growth;
                if i + 1 < c.blocks.len() {
                    v += ch * s * s + ch / 2 * s * s;
                    ch /= 2;
                    s /= 2;
                }
                out.push(v as u64);
            }
            out
        }
    }
}

/// What a run that does not fit can lower (a ViT runs at its own size only).
pub(super) fn what_to_lower(net: &Net) -> &'static str {
    if matches!(net, Net::Vit(_)) {
        "unfreeze fewer stages (--unfreeze), or free memory (a ViT trains at its own input size)"
    } else {
        "lower --size, or unfreeze fewer stages (--unfreeze)"
    }
}

/// The memory a run may use: `--memory-mb`, else three quarters of what is available.
pub(super) fn budget(cfg: &FinetuneConfig) -> u64 {
    budget_after(cfg, 0)
}

/// The budget once `loading` more bytes (the split's pixels) are taken.
fn budget_after(cfg: &FinetuneConfig, loading: u64) -> u64 {
    if cfg.memory_mb > 0 {
        cfg.memory_mb as u64 * (1 << 20)
    } else {
        available_memory().saturating_sub(loading) / 4 * 3
    }
}

/// MemAvailable from /proc/meminfo (8 GiB where it cannot be read).
fn available_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(8 << 30)
}

/// What a `finetune` run will need, told before it starts (the Train view shows it).
#[derive(Clone, Debug, Serialize, TS)]
pub struct RunEstimate {
    pub arch: String,
    pub size: usize,
    pub unfreeze: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// Memory the run needs at the chunk it will use (weights, optimiser state, activations,
    /// and the split's pixels).
    pub memory_mb: f64,
    /// The split's decoded pixels as the trainer holds them (all its images, plus the
    /// training part's copy).
    pub inputs_mb: f64,
    /// Activations per image in a training pass.
    pub per_image_mb: f64,
    pub budget_mb: f64,
    /// Images per forward/backward pass (the batch, or less when it is accumulated); 0 when
    /// not even one image fits.
    pub chunk: usize,
    /// Seconds per epoch over `images` training images, from one timed forward pass scaled
    /// to the run's size and a training step's cost (a rough figure: ±50 %).
    pub seconds_per_epoch: f64,
    pub images: usize,
    /// Why the run cannot start, when it cannot.
    pub refused: Option<String>,
}

/// Estimates a `finetune` run on `images` training images of a split of `loaded` images,
/// `copied` of which (training and validation) the parts hold a second copy of:
/// memory from the network's shapes and the pixels held, time from one timed forward pass
/// (random weights of the same shapes).
pub fn estimate_run(
    settings: &Settings,
    images: usize,
    loaded: usize,
    copied: usize,
) -> Result<RunEstimate> {
    let cfg = config_of(settings)?;
    let spec = spec(settings)?;
    let device = settings.tune.device.device()?;
    let (_, _, arch) = backbone::read(&spec.path, &Device::Cpu)?;
    let arch = arch.with_classes(None);
    let vars = VarMap::new();
    let net = Net::load(
        VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu),
        &arch,
    )?;
    let stages = net.stages();
    let cut = cfg.unfreeze.cut(stages);
    let channels = spec.preprocess.channels;
    let est = estimate(&net, &vars, channels, cfg.size, cut)?;
    let inputs = 4 * (channels * cfg.size * cfg.size) as u64 * (loaded + copied) as u64;
    let budget = budget_after(&cfg, inputs);
    let fits = (budget.saturating_sub(est.fixed_bytes) / est.per_image_bytes.max(1)) as usize;
    let chunk = fits.min(cfg.batch);
    // One forward pass of two images at up to 64 px, scaled by area; a trained stage costs
    // about three forward passes (forward, and backward for inputs and weights).
    // (A ViT runs at its own size only.)
    let probe = if matches!(net, Net::Vit(_)) {
        cfg.size
    } else {
        64.min(cfg.size)
    };
    let x = Tensor::zeros((2, channels, probe, probe), DType::F32, &Device::Cpu)?;
    net.features(&x)?;
    let t = Instant::now();
    net.features(&x)?;
    let fwd =
        t.elapsed().as_secs_f64() / 2.0 * (cfg.size * cfg.size) as f64 / (probe * probe) as f64;
    let trained = (stages - cut.min(stages)) as f64 / stages as f64;
    let per_image = fwd * (1.0 + 2.0 * trained);
    let mb = |b: u64| b as f64 / (1u64 << 20) as f64;
    let refused = if cfg.memory_mb == 0 && inputs >= available_memory() {
        Some(format!(
            "the split's {loaded} images take about {:.0} MiB decoded at {} px, {:.0} MiB \
             available: train on a smaller split{}",
            mb(inputs),
            cfg.size,
            mb(available_memory()),
            if matches!(net, Net::Vit(_)) {
                ""
            } else {
                " or lower --size"
            }
        ))
    } else {
        (chunk == 0).then(|| {
            format!(
                "needs about {:.0} MiB even one image at a time, {:.0} MiB available: {}",
                mb(est.fixed_bytes + est.per_image_bytes),
                mb(budget),
                what_to_lower(&net)
            )
        })
    };
    Ok(RunEstimate {
        arch: arch.name(),
        size: cfg.size,
        unfreeze: cfg.unfreeze.to_string(),
        device: DeviceChoice::name_of(&device).into(),
        memory_mb: mb(est.fixed_bytes + est.per_image_bytes * chunk.max(1) as u64 + inputs),
        inputs_mb: mb(inputs),
        per_image_mb: mb(est.per_image_bytes),
        budget_mb: mb(budget),
        chunk,
        seconds_per_epoch: per_image * images as f64,
        images,
        refused,
    })
}

#[cfg(test)]
pub(in crate::train) fn estimate_for_tests(
    net: &Net,
    vars: &VarMap,
    channels: usize,
    size: usize,
    cut: usize,
) -> Result<MemoryEstimate> {
    estimate(net, vars, channels, size, cut)
}
