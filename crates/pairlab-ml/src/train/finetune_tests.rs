//! The `finetune` trainer on a small real torchxrayvision checkpoint
//! (tests/data/reference/checkpoints/xrv_tiny.pt): it learns, it is reproducible, the
//! frozen part stays frozen, chunked steps equal whole ones, checkpoints load back as
//! image models, and runs that cannot fit are refused.

use std::path::PathBuf;

use super::finetune::{Augment, BackboneSpec, DeviceChoice, Tune, Unfreeze};
use super::trainer::{Input, Part, Settings, Trainer};
use super::{Targets, Uncertain};
use crate::backbone::{Backbone, Preprocess};
use crate::rng::SplitMix64;

fn xrv_tiny() -> PathBuf {
    crate::model_tests::workspace().join("tests/data/reference/checkpoints/xrv_tiny.pt")
}

/// `n` grey 32-px images (values 0–255): class 1 has a bright disc on the left half,
/// class 0 on the right, over noise.
fn images(n: usize, seed: u64) -> (Vec<f32>, Vec<Option<usize>>) {
    images_at(n, seed, 32)
}

fn images_at(n: usize, seed: u64, s: usize) -> (Vec<f32>, Vec<Option<usize>>) {
    let k = s as f64 / 32.0;
    let mut rng = SplitMix64(seed);
    let mut x = Vec::with_capacity(n * s * s);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % 2;
        let cx = k * (if class == 1 { 9.0 } else { 22.0 } + 2.0 * f64::from(rng.unit()));
        let cy = k * (16.0 + 4.0 * f64::from(rng.unit()));
        for py in 0..s {
            for px in 0..s {
                let d = ((px as f64 - cx).powi(2) + (py as f64 - cy).powi(2)).sqrt();
                let v = if d < 6.0 * k { 200.0 } else { 60.0 } + 30.0 * f64::from(rng.unit());
                x.push(v as f32);
            }
        }
        y.push(Some(class));
    }
    (x, y)
}

pub(super) fn settings(unfreeze: Unfreeze, epochs: usize, memory_mb: usize) -> Settings {
    let mut pre = Preprocess::xrv(32);
    pre.size = 32;
    Settings {
        epochs,
        lr: 1e-2,
        hidden: 0,
        size: 32,
        uncertain: Uncertain::Ignore,
        seed: 11,
        tune: Tune {
            unfreeze,
            batch: 8,
            device: DeviceChoice::Cpu,
            augment: true,
            hflip: false,
            memory_mb,
            backbone: Some(BackboneSpec {
                path: xrv_tiny(),
                arch: "densenet".into(),
                preprocess: pre,
            }),
        },
        text: crate::train::text::TextSettings::default(),
    }
}

pub(super) struct Data {
    pub(super) x: Vec<f32>,
    pub(super) t: Targets,
    pub(super) xv: Vec<f32>,
    pub(super) tv: Targets,
}

pub(super) fn data() -> Data {
    data_at(32)
}

fn data_at(s: usize) -> Data {
    let (x, y) = images_at(48, 1, s);
    let (xv, yv) = images_at(24, 2, s);
    Data {
        x,
        t: Targets::MultiClass {
            values: y,
            classes: 2,
        },
        xv,
        tv: Targets::MultiClass {
            values: yv,
            classes: 2,
        },
    }
}

pub(super) fn fit(d: &Data, s: &Settings) -> crate::train::Fitted {
    let dim = d.x.len() / d.t.len();
    let train = Part {
        x: &d.x,
        targets: &d.t,
    };
    let val = Part {
        x: &d.xv,
        targets: &d.tv,
    };
    Trainer::Finetune
        .fitter()
        .fit(train, val, dim, s, &mut |_| true)
        .expect("fit")
}

pub(super) fn accuracy(p: &[f32], t: &Targets) -> f64 {
    let Targets::MultiClass { values, .. } = t else {
        unreachable!()
    };
    let right = values
        .iter()
        .enumerate()
        .filter(|(i, y)| (p[2 * i + 1] > p[2 * i]) == (**y == Some(1)))
        .count();
    right as f64 / values.len() as f64
}

#[test]
fn fine_tuning_learns_is_reproducible_and_saves_an_image_model() {
    let d = data();
    let s = settings(Unfreeze::All, 8, 0);
    assert_eq!(
        Trainer::Finetune.fitter().input(&s),
        Input::Pixels(s.tune.backbone.as_ref().expect("spec").preprocess.clone())
    );
    let a = fit(&d, &s);
    let pa = a.model.predict(&d.xv).expect("predict");
    let acc = accuracy(&pa, &d.tv);
    assert!(acc >= 0.9, "validation accuracy {acc}");
    let first = a.history.first().expect("epochs").train_loss;
    let last = a.history.last().expect("epochs").train_loss;
    assert!(last < first, "train loss {first} -> {last}");

    // The same settings give the same model.
    let b = fit(&d, &s);
    assert_eq!(a.history.len(), b.history.len());
    assert_eq!(pa, b.model.predict(&d.xv).expect("predict"));

    // The checkpoint is a timm-layout image model: it loads back as the trainer's model
    // (same probabilities) and as a backbone for embeddings.
    let dir = tempfile::tempdir().expect("tmp");
    a.model.save(dir.path()).expect("save");
    let loaded = Trainer::Finetune.fitter().load(dir.path()).expect("load");
    let pl = loaded.predict(&d.xv).expect("predict");
    for (x, y) in pl.iter().zip(&pa) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
    let bb = Backbone::load(dir.path(), &candle_core::Device::Cpu).expect("as backbone");
    assert!(bb.info.format.starts_with("timm"), "{}", bb.info.format);
    assert_eq!(
        (bb.info.preprocess.size, bb.info.preprocess.xrv),
        (32, true)
    );
}

#[test]
fn a_frozen_backbone_stays_as_it_was_and_chunks_add_up_to_the_batch() {
    // 96-px images, so that a 1 MiB budget fits fewer images per pass than the batch.
    let d = data_at(96);
    let sized = |memory| {
        let mut s = settings(Unfreeze::Head, 2, memory);
        s.size = 96;
        s
    };
    let whole = fit(&d, &sized(0));
    // The same steps, summed over chunks.
    let small = sized(1);
    let plan = super::finetune::estimate_run(&small, 48, 72, 60).expect("estimate");
    let pixels = (72 + 60) * 96 * 96 * 4;
    assert!(
        (plan.inputs_mb - pixels as f64 / (1 << 20) as f64).abs() < 1e-9,
        "{plan:?}"
    );
    assert!(plan.chunk >= 1 && plan.chunk < 8, "{plan:?}");
    let chunked = fit(&d, &small);
    assert_eq!(whole.history.len(), 2);
    for (a, b) in whole.history.iter().zip(&chunked.history) {
        assert!(
            (a.train_loss - b.train_loss).abs() < 1e-5 && (a.val_loss - b.val_loss).abs() < 1e-5,
            "{a:?} vs {b:?}"
        );
    }
    // Head only: every backbone tensor (running statistics too) is the pretrained one.
    let dir = tempfile::tempdir().expect("tmp");
    whole.model.save(dir.path()).expect("save");
    let tuned = crate::checkpoint::load(
        &dir.path().join("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .expect("tuned");
    let orig = crate::checkpoint::load(&xrv_tiny(), &candle_core::Device::Cpu).expect("orig");
    let mut compared = 0;
    for (k, t) in &orig {
        if k.starts_with("classifier") {
            continue;
        }
        let u = tuned.get(k).unwrap_or_else(|| panic!("{k} saved"));
        let diff = (t - u)
            .and_then(|d| d.abs())
            .and_then(|d| d.max_all())
            .and_then(|d| d.to_scalar::<f32>())
            .expect("diff");
        assert_eq!(diff, 0.0, "{k} changed");
        compared += 1;
    }
    assert!(compared > 40, "{compared}");

    // Multi-label with blank and uncertain entries: each chunk weighs by its labelled
    // entries, so the chunked steps still equal the whole ones.
    let values: Vec<f32> = (0..d.t.len() * 2)
        .map(|i| match i % 5 {
            0 => f32::NAN,
            1 => -1.0,
            k => ((i / 2 + k) % 2) as f32,
        })
        .collect();
    let vv: Vec<f32> = values.iter().take(d.tv.len() * 2).copied().collect();
    let ml = Data {
        x: d.x.clone(),
        t: Targets::MultiLabel { values, classes: 2 },
        xv: d.xv.clone(),
        tv: Targets::MultiLabel {
            values: vv,
            classes: 2,
        },
    };
    // (One epoch: saturated sigmoids at these raw ±1024 inputs make later epochs amplify
    // float rounding differences between the two summation orders.)
    let one = |memory| {
        let mut s = sized(memory);
        s.epochs = 1;
        s
    };
    let whole = fit(&ml, &one(0));
    let chunked = fit(&ml, &one(1));
    let (a, b) = (&whole.history[0], &chunked.history[0]);
    assert!(
        ((a.train_loss - b.train_loss) / a.train_loss).abs() < 1e-5,
        "{a:?} vs {b:?}"
    );
}

#[test]
fn settings_that_cannot_work_are_refused_with_the_field() {
    let fitter = Trainer::Finetune.fitter();
    let mut s = settings(Unfreeze::All, 1, 0);
    s.size = 8;
    let e = fitter.check(&s).expect_err("tiny");
    assert!(
        matches!(e, crate::MlError::Setting { field: "size", .. }),
        "{e}"
    );
    s.size = 32;
    s.tune.device = DeviceChoice::Cuda;
    if !candle_core::utils::cuda_is_available() {
        let e = fitter.check(&s).expect_err("no cuda");
        assert!(e.to_string().contains("--features cuda"), "{e}");
    }
    let mut s = settings(Unfreeze::All, 1, 0);
    s.tune.backbone = None;
    let d = data();
    let part = Part {
        x: &d.x,
        targets: &d.t,
    };
    let e = fitter
        .fit(part, part, 32 * 32, &s, &mut |_| true)
        .err()
        .expect("no model");
    assert!(
        matches!(e, crate::MlError::Setting { field: "model", .. }),
        "{e}"
    );
    // A run whose weights alone exceed the budget.
    let mut s = settings(Unfreeze::All, 1, 0);
    s.size = 1024;
    s.tune.memory_mb = 1;
    let (x, _) = images(2, 3);
    let big: Vec<f32> = x.iter().cycle().take(2 * 1024 * 1024).copied().collect();
    let t = Targets::MultiClass {
        values: vec![Some(0), Some(1)],
        classes: 2,
    };
    let part = Part {
        x: &big,
        targets: &t,
    };
    let e = fitter
        .fit(part, part, 1024 * 1024, &s, &mut |_| true)
        .err()
        .expect("too big");
    assert!(
        e.to_string().contains("lower --size") && e.to_string().contains("GiB"),
        "{e}"
    );
    assert_eq!("2".parse::<Unfreeze>().expect("n"), Unfreeze::Last(2));
    assert_eq!("all".parse::<Unfreeze>().expect("all").to_string(), "all");
    assert!("some".parse::<Unfreeze>().is_err());
}

#[test]
fn augmentation_is_an_identity_at_zero_and_stays_in_range() {
    let (x, _) = images(1, 5);
    let none = Augment {
        rotate_deg: 0.0,
        scale: 0.0,
        translate: 0.0,
        brightness: 0.0,
        contrast: 0.0,
        hflip: false,
    };
    let mut rng = SplitMix64(1);
    let same = none.apply(&x, 1, 32, &mut rng);
    for (a, b) in same.iter().zip(&x) {
        assert!((a - b).abs() < 1e-3);
    }
    let moved = Augment::xray(true).apply(&x, 1, 32, &mut rng);
    assert!(moved.iter().all(|v| (0.0..=255.0).contains(v)));
    assert_ne!(moved, x);
}

/// The reference's 160 images (tests/reference/make_finetune_steps.py) on `channels`
/// channels, and their two classes.
fn trajectory_images(channels: usize) -> (Vec<f32>, Targets) {
    let (n, size) = (160, 32);
    let mut x = Vec::with_capacity(n * channels * size * size);
    for i in 0..n {
        for _ in 0..channels {
            for y in 0..size {
                for xx in 0..size {
                    let mut v = 127.5
                        + 100.0
                            * (0.37 * i as f64
                                + 0.21 * y as f64 * (1 + i % 3) as f64
                                + 0.13 * xx as f64)
                                .sin();
                    if i % 2 == 1 && xx < size / 2 {
                        v += 40.0;
                    }
                    x.push(v.clamp(0.0, 255.0) as f32);
                }
            }
        }
    }
    let t = Targets::MultiClass {
        values: (0..n).map(|i| Some(i % 2)).collect(),
        classes: 2,
    };
    (x, t)
}

/// The loss of each of the reference's 20 steps, through the trainer itself, against
/// PyTorch's `key` in finetune_steps.json: the largest relative difference.
pub(super) fn follows_pytorch(mut s: Settings, channels: usize, key: &str) -> f64 {
    let refs = crate::model_tests::reference("finetune_steps.json");
    let want: Vec<f64> = refs[key]
        .as_array()
        .expect("losses")
        .iter()
        .map(|v| v.as_f64().expect("loss"))
        .collect();
    let (x, t) = trajectory_images(channels);
    let none = Targets::MultiClass {
        values: Vec::new(),
        classes: 2,
    };
    s.lr = refs["lr"].as_f64().expect("lr");
    s.seed = refs["seed"].as_u64().expect("seed");
    s.tune.batch = refs["batch"].as_u64().expect("batch") as usize;
    s.tune.augment = false;
    let mut means = Vec::new();
    Trainer::Finetune
        .fitter()
        .fit(
            Part { x: &x, targets: &t },
            Part {
                x: &[],
                targets: &none,
            },
            channels * 32 * 32,
            &s,
            &mut |e| {
                if let super::Event::Batch { loss, .. } = e {
                    means.push(loss);
                }
                true
            },
        )
        .expect("fit");
    // Events carry the running mean; step k's own loss is k·m_k − (k−1)·m_(k−1).
    let got: Vec<f64> = (0..means.len())
        .map(|k| {
            let prev = if k == 0 { 0.0 } else { k as f64 * means[k - 1] };
            (k + 1) as f64 * means[k] - prev
        })
        .collect();
    assert_eq!(got.len(), want.len());
    for (k, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            ((g - w) / w).abs() < 1e-3,
            "{key} step {k}: {g} vs PyTorch {w}"
        );
    }
    got.iter()
        .zip(&want)
        .map(|(g, w)| ((g - w) / w).abs())
        .fold(0f64, f64::max)
}

/// 20 steps from the same weights and batches give PyTorch's losses
/// (tests/reference/make_finetune_steps.py) to 1e-3 relative.
#[test]
fn twenty_steps_follow_pytorchs_loss_trajectory() {
    let worst = follows_pytorch(settings(Unfreeze::All, 1, 0), 1, "losses");
    eprintln!("20 steps: largest relative difference from PyTorch's loss {worst:.2e}");
}

/// The memory estimate against peaks measured with `pairlab bench finetune` (ResNet-50:
/// 6,161 MiB, DenseNet-121: 9,065 MiB, ViT-B/16: 7,252 MiB at 224 px, batch 16, everything
/// trained; the process's own few hundred MiB included): within 25 %, and never far below.
#[test]
fn the_memory_estimate_is_near_measured_peaks() {
    use crate::backbone::{Arch, Net};
    use crate::{densenet, resnet};
    for (arch, measured) in [
        (Arch::ResNet(resnet::Config::resnet50()), 6161.0),
        (Arch::DenseNet(densenet::Config::densenet121()), 9065.0),
        (
            Arch::Vit(crate::vit::Config::vit_base_patch16_224()),
            7252.0,
        ),
    ] {
        let arch = arch.with_classes(None);
        let vars = candle_nn::VarMap::new();
        let vb = candle_nn::VarBuilder::from_varmap(
            &vars,
            candle_core::DType::F32,
            &candle_core::Device::Cpu,
        );
        let net = Net::load(vb, &arch).expect("net");
        let e = super::finetune::estimate_for_tests(&net, &vars, 3, 224, 0).expect("estimate");
        let mb = (e.fixed_bytes + 16 * e.per_image_bytes) as f64 / (1u64 << 20) as f64;
        let ratio = mb / measured;
        eprintln!(
            "{}: estimated {mb:.0} MiB, measured {measured}",
            arch.name()
        );
        assert!(
            (0.85..1.25).contains(&ratio),
            "{}: estimated {mb:.0} MiB, measured {measured}",
            arch.name()
        );
    }
}
