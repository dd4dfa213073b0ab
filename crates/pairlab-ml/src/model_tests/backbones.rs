//! ResNet / DenseNet backbones against torchvision, timm and torchxrayvision
//! (tests/reference/make_backbones.py): the deterministic weights in the layouts those
//! libraries write, the real `torch.save` files it made, and the errors of broken ones.

use std::path::Path;

use candle_core::{Device, Tensor};

use super::{assert_close, matrix, reference, workspace};
use crate::backbone::{Arch, Backbone};
use crate::random_weights::write_backbone;
use crate::{densenet, resnet};

pub(super) fn pixels(b: usize, c: usize, s: usize, scale: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(b * c * s * s);
    for i in 0..b {
        for ch in 0..c {
            for y in 0..s {
                for x in 0..s {
                    let v = ((1.0 + 2.0 * i as f64) * (0.05 * y as f64 + 0.03 * x as f64)
                        + 0.1 * ch as f64
                        + 0.7 * i as f64)
                        .sin();
                    out.push(v as f32 * scale);
                }
            }
        }
    }
    out
}

/// Rows compared relative to the largest magnitude of the reference row.
fn assert_rel(got: &[Vec<f32>], want: &[Vec<f32>], tol: f32, what: &str) {
    for (g, w) in got.iter().zip(want) {
        let scale = w.iter().fold(1f32, |m, v| m.max(v.abs()));
        let g: Vec<f32> = g.iter().map(|v| v / scale).collect();
        let w: Vec<f32> = w.iter().map(|v| v / scale).collect();
        assert_close(&[g], &[w], tol, what);
    }
}

fn check(dir: &Path, arch: &Arch, refs: &serde_json::Value, name: &str) {
    let b = Backbone::load(dir, &Device::Cpu).expect("load");
    assert_eq!(b.info.arch, name);
    assert_eq!(b.arch, *arch);
    let x = Tensor::from_vec(pixels(2, 3, 64, 1.0), (2, 3, 64, 64), &Device::Cpu).expect("x");
    let f = b.net.features(&x).expect("features");
    let fnorm = crate::normalize_rows(&f)
        .expect("norm")
        .to_vec2::<f32>()
        .expect("vec");
    let want = &refs["models"][name];
    let reference = matrix(&want["features_norm"]);
    let worst = fnorm
        .iter()
        .flatten()
        .zip(reference.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("{name}: largest |difference| of normalised features from torchvision {worst:.1e}");
    assert_close(&fnorm, &reference, 1e-4, name);
    let logits = b
        .logits(pixels(2, 3, 64, 1.0), 2)
        .expect("logits")
        .expect("fc");
    let first: Vec<Vec<f32>> = logits.iter().map(|r| r[..8].to_vec()).collect();
    assert_rel(&first, &matrix(&want["logits_first8"]), 1e-4, name);
}

#[test]
fn resnets_and_densenet_match_torchvision_on_deterministic_weights() {
    let refs = reference("backbones.json");
    let tmp = tempfile::tempdir().expect("tmp");
    // torchvision: a single state-dict file.
    for (name, arch) in [
        ("resnet18", Arch::ResNet(resnet::Config::resnet18())),
        (
            "densenet121",
            Arch::DenseNet(densenet::Config::densenet121()),
        ),
    ] {
        let file = tmp.path().join(format!("{name}.safetensors"));
        write_backbone(&file, &arch, None).expect("write");
        check(&file, &arch, &refs, name);
        let b = Backbone::load(&file, &Device::Cpu).expect("load");
        assert!(
            b.info.format.starts_with("torchvision"),
            "{}",
            b.info.format
        );
        assert_eq!(b.info.preprocess.size, 224);
    }
    // timm: config.json (as timm's save_for_hf writes it) beside model.safetensors.
    let arch = Arch::ResNet(resnet::Config::resnet50());
    let dir = tmp.path().join("timm-resnet50");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::copy(
        workspace().join("tests/data/reference/timm_resnet50_config.json"),
        dir.join("config.json"),
    )
    .expect("config");
    write_backbone(&dir.join("model.safetensors"), &arch, None).expect("write");
    check(&dir, &arch, &refs, "resnet50");
    let b = Backbone::load(&dir, &Device::Cpu).expect("load");
    assert!(b.info.format.starts_with("timm"), "{}", b.info.format);
    let p = &b.info.preprocess;
    assert_eq!(
        (p.size, p.crop_pct, p.interpolation.as_str()),
        (224, 0.95, "bicubic")
    );
    assert_eq!(b.info.features, 2048);
}

fn ckpt(name: &str) -> std::path::PathBuf {
    workspace()
        .join("tests/data/reference/checkpoints")
        .join(name)
}

#[test]
fn torchxrayvision_checkpoints_load_in_every_torch_save_format() {
    let refs = reference("checkpoints/xrv_tiny.json");
    let x = pixels(2, 1, 64, 1024.0);
    for file in ["xrv_tiny.pt", "xrv_tiny_legacy.pt", "nested_state.pth"] {
        let b = Backbone::load(&ckpt(file), &Device::Cpu).expect(file);
        let Arch::DenseNet(cfg) = &b.arch else {
            panic!("{file}: {:?}", b.arch)
        };
        assert_eq!(
            (
                cfg.growth,
                cfg.blocks.clone(),
                cfg.init_features,
                cfg.bn_size,
                cfg.in_channels
            ),
            (4, vec![2, 2, 2, 2], 8, 2, 1),
            "{file}"
        );
        assert!(
            b.info.format.starts_with("torchxrayvision"),
            "{}",
            b.info.format
        );
        assert_eq!(b.info.labels.len(), 18);
        assert_eq!(b.info.labels[7], "Effusion");
        let t = b.pixels(x.clone(), 2).expect("pixels");
        let f = b
            .net
            .features(&t)
            .expect("features")
            .to_vec2::<f32>()
            .expect("vec");
        assert_rel(&f, &matrix(&refs["features"]), 1e-4, file);
        let logits = b.logits(x.clone(), 2).expect("logits").expect("classifier");
        assert_rel(&logits, &matrix(&refs["logits"]), 1e-4, file);
    }
}

#[test]
fn broken_checkpoints_say_what_is_wrong() {
    let e = Backbone::load(&ckpt("not_tensors.pt"), &Device::Cpu)
        .err()
        .expect("no tensors")
        .to_string();
    assert!(
        e.contains("holds no tensors") && e.contains("never runs"),
        "{e}"
    );

    let tmp = tempfile::tempdir().expect("tmp");
    let arch = Arch::ResNet(resnet::Config::resnet18());
    let file = tmp.path().join("r18.safetensors");
    write_backbone(&file, &arch, Some(1)).expect("write");
    let mut w = candle_core::safetensors::load(&file, &Device::Cpu).expect("read");
    w.remove("layer2.1.bn2.running_var");
    w.remove("layer3.0.conv1.weight");
    w.insert(
        "layer4.0.conv2.weight".into(),
        Tensor::zeros((512, 512, 1, 1), candle_core::DType::F32, &Device::Cpu).expect("z"),
    );
    candle_core::safetensors::save(&w, &file).expect("save");
    let e = Backbone::load(&file, &Device::Cpu)
        .err()
        .expect("broken")
        .to_string();
    assert!(
        e.contains("2 weights missing")
            && e.contains("layer2.1.bn2.running_var")
            && e.contains("layer3.0.conv1.weight")
            && e.contains("layer4.0.conv2.weight is [512, 512, 1, 1]"),
        "{e}"
    );

    let junk = tmp.path().join("junk.safetensors");
    let t = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).expect("t");
    candle_core::safetensors::save(
        &std::collections::HashMap::from([("w".to_string(), t)]),
        &junk,
    )
    .expect("save");
    let e = Backbone::load(&junk, &Device::Cpu)
        .err()
        .expect("junk")
        .to_string();
    assert!(
        e.contains("not a ResNet's") && e.contains("first names are w"),
        "{e}"
    );

    // A timm folder whose config names another network.
    let dir = tmp.path().join("mislabelled");
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("config.json"),
        r#"{"architecture": "densenet121"}"#,
    )
    .expect("cfg");
    write_backbone(&dir.join("model.safetensors"), &arch, Some(2)).expect("write");
    let e = Backbone::load(&dir, &Device::Cpu)
        .err()
        .expect("mislabelled")
        .to_string();
    assert!(
        e.contains("says densenet121") && e.contains("resnet18"),
        "{e}"
    );
}

/// An OpenAI-format CLIP (`torch.save` of a state dict, as OpenAI's and CheXzero's files
/// are), made with open_clip (tests/reference/make_openai_clip.py): image and text
/// features equal open_clip's; without a tokenizer.json beside it, images only; an
/// open_clip folder loads the same way, one of another architecture is refused.
#[test]
fn openai_format_clip_matches_open_clip() {
    use crate::Encoder;
    let refs = reference("checkpoints/openai_clip_tiny.json");
    let file = ckpt("openai_clip_tiny.pt");
    let enc = Encoder::load(&file).expect("load");
    let info = enc.info();
    assert_eq!(
        (info.dim, info.images, info.texts, info.image_size),
        (32, true, false, 64)
    );
    assert!(info.format.starts_with("OpenAI CLIP"), "{}", info.format);
    let img = enc.embed_pixels(pixels(2, 3, 64, 1.0), 2).expect("embed");
    assert_close(
        &img,
        &matrix(&refs["image_features"]),
        1e-4,
        "image features",
    );
    let e = enc
        .embed_texts(&["effusion"])
        .expect_err("no tokenizer")
        .to_string();
    assert!(e.contains("images only"), "{e}");

    // The text tower, with the reference's ids (no tokenizer needed).
    let w = crate::checkpoint::load(&file, &Device::Cpu).expect("weights");
    let (cfg, hf) = crate::openai_clip::to_hf(&w).expect("mapped");
    assert_eq!(
        (
            cfg.text.vocab_size,
            cfg.vision.num_hidden_layers,
            cfg.vision.patch_size
        ),
        (300, 2, 16)
    );
    let vb = candle_nn::VarBuilder::from_tensors(hf, candle_core::DType::F32, &Device::Cpu);
    let clip = crate::clip::Clip::load(vb, &cfg).expect("clip");
    let rows: Vec<Vec<u32>> = refs["ids"]
        .as_array()
        .expect("ids")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|v| v.as_u64().expect("id") as u32)
                .collect()
        })
        .collect();
    let ids = Tensor::new(rows, &Device::Cpu).expect("ids");
    let txt = clip
        .text_features(&ids)
        .expect("text")
        .to_vec2::<f32>()
        .expect("vec");
    assert_close(&txt, &matrix(&refs["text_features"]), 1e-4, "text features");

    // The same weights as an open_clip folder.
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::copy(&file, tmp.path().join("open_clip_pytorch_model.bin")).expect("copy");
    std::fs::write(tmp.path().join("open_clip_config.json"), "{}").expect("cfg");
    let enc = Encoder::load(tmp.path()).expect("open_clip folder");
    assert!(
        enc.info().format.starts_with("open_clip"),
        "{}",
        enc.info().format
    );
    let again = enc.embed_pixels(pixels(2, 3, 64, 1.0), 2).expect("embed");
    assert_eq!(again, img);
    // open_clip's config says which GELU: quick-GELU loads, exact GELU (LAION's) is refused.
    let cfg = tmp.path().join("open_clip_config.json");
    std::fs::write(&cfg, r#"{"model_cfg": {"quick_gelu": true}}"#).expect("cfg");
    assert!(Encoder::load(tmp.path()).is_ok());
    std::fs::write(&cfg, r#"{"model_cfg": {"embed_dim": 32}}"#).expect("cfg");
    let e = Encoder::load(tmp.path()).err().expect("GELU").to_string();
    assert!(e.contains("quick_gelu is not true"), "{e}");
    std::fs::write(&cfg, "{}").expect("cfg");
    // An open_clip folder whose towers are neither OpenAI's nor a timm trunk.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).expect("dir");
    std::fs::write(other.join("open_clip_config.json"), "{}").expect("cfg");
    let t = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).expect("t");
    candle_core::safetensors::save(
        &std::collections::HashMap::from([("visual.conv.weight".to_string(), t)]),
        other.join("open_clip_model.safetensors"),
    )
    .expect("save");
    let e = Encoder::load(&other).err().expect("refused").to_string();
    assert!(e.contains("neither OpenAI's CLIP architecture"), "{e}");
}

/// SigLIP's image tower in the Hugging Face layout (transformers' `save_pretrained`,
/// tests/reference/make_siglip.py): its attention-pooled features equal transformers'
/// `get_image_features`; it encodes images only.
#[test]
fn siglip_image_features_match_transformers() {
    use crate::Encoder;
    let refs = reference("siglip_tiny.json");
    let dir = workspace().join("tests/data/reference/siglip_tiny");
    let enc = Encoder::load(&dir).expect("load");
    let info = enc.info();
    assert_eq!(
        (info.family.as_str(), info.dim, info.images, info.texts),
        ("siglip", 64, true, false)
    );
    let img = enc.embed_pixels(pixels(2, 3, 64, 1.0), 2).expect("embed");
    assert_close(
        &img,
        &matrix(&refs["image_features"]),
        1e-4,
        "image features",
    );
    assert!(enc.embed_texts(&["effusion"]).is_err());
}
