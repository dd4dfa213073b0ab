//! The `finetune` trainer on ViTs: CLIP image towers (the BiomedCLIP-style open_clip
//! fixture's timm trunk, a Hugging Face CLIP) against PyTorch's loss trajectory, learning
//! with frozen blocks, and checkpoints that load back as the same network.

use super::finetune::{BackboneSpec, Unfreeze};
use super::finetune_tests::{Data, accuracy, data, fit, follows_pytorch, settings};
use super::trainer::Trainer;
use crate::backbone::Backbone;

/// The grey 32-px training and validation images on three channels (a CLIP tower's input).
fn rgb_data() -> Data {
    let d = data();
    let rgb = |x: &[f32]| -> Vec<f32> {
        x.chunks(32 * 32)
            .flat_map(|p| p.iter().chain(p).chain(p).copied())
            .collect()
    };
    Data {
        x: rgb(&d.x),
        t: d.t,
        xv: rgb(&d.xv),
        tv: d.tv,
    }
}

/// The same for a ViT: the timm trunk of the BiomedCLIP-style open_clip fixture, every
/// block trained (layer norms and attention through autograd).
#[test]
fn a_vit_follows_pytorchs_loss_trajectory() {
    let dir = crate::model_tests::workspace().join("tests/data/reference/biomedclip_tiny");
    let info = crate::backbone::info(&dir).expect("a CLIP tower as a backbone");
    assert_eq!(
        (info.family.as_str(), info.arch.as_str(), info.features),
        ("vit", "vit_128w_patch8_32", 128)
    );
    let mut s = settings(Unfreeze::All, 1, 0);
    s.tune.backbone = Some(BackboneSpec {
        path: dir,
        arch: info.arch,
        preprocess: info.preprocess,
    });
    let worst = follows_pytorch(s, 3, "vit_losses");
    eprintln!("ViT, 20 steps: largest relative difference from PyTorch's loss {worst:.2e}");
}

/// A CLIP image tower (the BiomedCLIP-style fixture's timm ViT) fine-tunes with its last
/// block unfrozen: it learns, the frozen blocks stay as they were, and the checkpoint loads
/// back as the same ViT (heads, norms, activation) for predictions and embeddings.
#[test]
fn a_clip_tower_fine_tunes_and_saves_as_a_vit() {
    let dir = crate::model_tests::workspace().join("tests/data/reference/biomedclip_tiny");
    let info = crate::backbone::info(&dir).expect("tower");
    let d = rgb_data();
    let mut s = settings(Unfreeze::Last(1), 20, 0);
    s.lr = 1e-3;
    s.tune.augment = false;
    s.tune.backbone = Some(BackboneSpec {
        path: dir.clone(),
        arch: info.arch.clone(),
        preprocess: info.preprocess.clone(),
    });
    let a = fit(&d, &s);
    let first = a.history.first().expect("epochs").train_loss;
    let last = a.history.last().expect("epochs").train_loss;
    assert!(last < first, "train loss {first} -> {last}");
    let pa = a.model.predict(&d.xv).expect("predict");
    let acc = accuracy(&pa, &d.tv);
    let h: Vec<(f64, f64)> = a
        .history
        .iter()
        .map(|e| (e.train_loss, e.val_loss))
        .collect();
    assert!(acc >= 0.75, "validation accuracy {acc} {h:?}");

    let out = tempfile::tempdir().expect("tmp");
    a.model.save(out.path()).expect("save");
    let saved = crate::checkpoint::load(
        &out.path().join("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .expect("saved");
    let start = crate::checkpoint::load(
        &dir.join("open_clip_pytorch_model.bin"),
        &candle_core::Device::Cpu,
    )
    .expect("start");
    let same = |k: &str| {
        let a = saved[k]
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .expect("a");
        let b = start[&format!("visual.trunk.{k}")]
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .expect("b");
        a == b
    };
    assert!(
        same("blocks.0.attn.qkv.weight") && same("pos_embed"),
        "frozen stages moved"
    );
    assert!(
        !same("blocks.1.mlp.fc2.weight") && !same("norm.weight"),
        "the last block did not train"
    );

    let loaded = Trainer::Finetune.fitter().load(out.path()).expect("load");
    let pl = loaded.predict(&d.xv).expect("predict");
    for (x, y) in pl.iter().zip(&pa) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
    let bb = Backbone::load(out.path(), &candle_core::Device::Cpu).expect("as backbone");
    assert_eq!(bb.info.arch, info.arch);
    assert_eq!(bb.info.preprocess, info.preprocess);
    let crate::backbone::Arch::Vit(c) = &bb.arch else {
        panic!("not a ViT: {}", bb.info.arch)
    };
    assert_eq!((c.heads, c.clip, c.quick_gelu), (2, false, false));
}

/// A Hugging Face CLIP's tower (4 heads of 16, quick-GELU, CLIP's norms: nothing the
/// weights alone say) fine-tunes, saves and loads back as the same network: heads from
/// `model_args`, norms and activation from the architecture name, the same probabilities.
#[test]
fn a_hugging_face_clip_tower_round_trips_its_heads_and_activation() {
    assert_eq!(
        (
            crate::vit::heads_for(768),
            crate::vit::heads_for(1280),
            crate::vit::heads_for(100)
        ),
        (12, 16, 0)
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("clip");
    crate::model_tests::tiny_vit_clip(&src, 5);
    let info = crate::backbone::info(&src).expect("tower");
    assert_eq!(info.arch, "vit_64w_patch8_clip_quickgelu_32");
    let d = rgb_data();
    let mut s = settings(Unfreeze::Last(1), 1, 0);
    s.tune.backbone = Some(BackboneSpec {
        path: src,
        arch: info.arch.clone(),
        preprocess: info.preprocess.clone(),
    });
    let a = fit(&d, &s);
    let pa = a.model.predict(&d.xv).expect("predict");
    let out = tmp.path().join("tuned");
    a.model.save(&out).expect("save");
    let bb = Backbone::load(&out, &candle_core::Device::Cpu).expect("as backbone");
    let crate::backbone::Arch::Vit(c) = &bb.arch else {
        panic!("not a ViT: {}", bb.info.arch)
    };
    assert_eq!(
        (c.heads, c.clip, c.quick_gelu, c.norm_pre),
        (4, true, true, true)
    );
    let pl = Trainer::Finetune
        .fitter()
        .load(&out)
        .expect("load")
        .predict(&d.xv)
        .expect("predict");
    for (x, y) in pl.iter().zip(&pa) {
        assert!((x - y).abs() < 1e-5, "{x} vs {y}");
    }
}
