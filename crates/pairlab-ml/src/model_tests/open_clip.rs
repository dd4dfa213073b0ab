//! BiomedCLIP-style open_clip folders (a timm ViT image tower and a BERT text tower) against
//! open_clip itself (tests/reference/make_biomedclip.py), and the errors of the variants
//! Pairlab does not run.

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde_json::Value;

use super::backbones::pixels;
use super::{assert_close, matrix, reference, workspace};
use crate::Encoder;

fn folder() -> PathBuf {
    workspace().join("tests/data/reference/biomedclip_tiny")
}

/// A copy of the fixture folder with its config changed by `edit`.
fn edited(tmp: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let dir = tmp.join(name);
    std::fs::create_dir_all(&dir).expect("dir");
    for f in ["open_clip_pytorch_model.bin", "tokenizer.json"] {
        std::fs::copy(folder().join(f), dir.join(f)).expect("copy");
    }
    let text = std::fs::read_to_string(folder().join("open_clip_config.json")).expect("cfg");
    let mut cfg: Value = serde_json::from_str(&text).expect("json");
    edit(&mut cfg);
    std::fs::write(dir.join("open_clip_config.json"), cfg.to_string()).expect("write");
    dir
}

fn refused(dir: &Path) -> String {
    Encoder::load(dir).err().expect("refused").to_string()
}

fn texts(refs: &Value) -> Vec<String> {
    refs["texts"]
        .as_array()
        .expect("texts")
        .iter()
        .map(|t| t.as_str().expect("text").to_string())
        .collect()
}

/// Image features, token ids and text features equal open_clip's to 1e-4; the
/// preprocessing takes `preprocess_cfg`'s mean and std.
#[test]
fn biomedclip_matches_open_clip() {
    let refs = reference("biomedclip_tiny.json");
    let enc = Encoder::load(&folder()).expect("load");
    let info = enc.info();
    assert_eq!(
        (info.family.as_str(), info.dim, info.images, info.texts),
        ("clip", 64, true, true)
    );
    assert_eq!(
        (info.image_size, info.arch.as_str()),
        (32, "ViT-128w/8 + BERT")
    );
    assert!(
        info.format
            .starts_with("open_clip, timm ViT + Hugging Face BERT"),
        "{}",
        info.format
    );
    let img = enc.embed_pixels(pixels(2, 3, 32, 1.0), 2).expect("embed");
    assert_close(
        &img,
        &matrix(&refs["image_features"]),
        1e-4,
        "image features",
    );

    let texts = texts(&refs);
    for (t, want) in texts.iter().zip(refs["ids"].as_array().expect("ids")) {
        let want: Vec<u32> = want
            .as_array()
            .expect("row")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect();
        assert_eq!(enc.tokenize(t).expect("ids"), want, "{t}");
    }
    let txt = enc.embed_texts(&texts).expect("texts");
    assert_close(&txt, &matrix(&refs["text_features"]), 1e-4, "text features");

    // A uniform grey image: every value is (v/255 - mean) / std with BiomedCLIP's numbers.
    let grey = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        40,
        50,
        image::Rgb([128, 128, 128]),
    ));
    let px = enc.preprocess(&grey).expect("preprocess");
    assert_eq!(px.len(), 3 * 32 * 32);
    let want = (128.0 / 255.0 - 0.48145466f32) / 0.26862954;
    assert!((px[0] - want).abs() < 1e-5, "{} vs {want}", px[0]);
}

/// The same weights with open_clip's mean_pooler; without a tokenizer the model encodes
/// images only.
#[test]
fn open_clip_mean_pooler_and_images_only() {
    let refs = reference("biomedclip_tiny.json");
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = edited(tmp.path(), "mean", |c| {
        c["model_cfg"]["text_cfg"]["hf_pooler_type"] = "mean_pooler".into();
    });
    let enc = Encoder::load(&dir).expect("load");
    let txt = enc.embed_texts(&texts(&refs)).expect("texts");
    assert_close(
        &txt,
        &matrix(&refs["text_features_mean_pooler"]),
        1e-4,
        "mean-pooled text features",
    );
    std::fs::remove_file(dir.join("tokenizer.json")).expect("rm");
    let enc = Encoder::load(&dir).expect("images only");
    assert!(enc.info().images && !enc.info().texts);
    let e = enc
        .embed_texts(&["effusion"])
        .expect_err("no tokenizer")
        .to_string();
    assert!(e.contains("tokenizer.json"), "{e}");
}

/// What open_clip can build and Pairlab does not run is refused by name; broken weights name
/// what is missing.
#[test]
fn open_clip_variants_refused_by_name() {
    let tmp = tempfile::tempdir().expect("tmp");
    let e = refused(&edited(tmp.path(), "avg", |c| {
        c["model_cfg"]["vision_cfg"]["timm_pool"] = "avg".into();
    }));
    assert!(e.contains("timm_pool is avg"), "{e}");
    let e = refused(&edited(tmp.path(), "convnext", |c| {
        c["model_cfg"]["vision_cfg"]["timm_model_name"] = "convnext_base".into();
    }));
    assert!(e.contains("timm's convnext_base"), "{e}");
    let e = refused(&edited(tmp.path(), "pooler", |c| {
        c["model_cfg"]["text_cfg"]
            .as_object_mut()
            .expect("text_cfg")
            .remove("hf_pooler_type");
    }));
    assert!(e.contains("hf_pooler_type is not set"), "{e}");
    let e = refused(&edited(tmp.path(), "roberta", |c| {
        c["model_cfg"]["text_cfg"]["hf_model_name"] = "roberta-base".into();
    }));
    assert!(e.contains("roberta-base, not a BERT"), "{e}");
    let e = refused(&edited(tmp.path(), "squash", |c| {
        c["preprocess_cfg"]["resize_mode"] = "squash".into();
    }));
    assert!(e.contains("resize_mode is squash"), "{e}");

    // Weights: one tensor gone, then a trunk that is not a ViT.
    let file = folder().join("open_clip_pytorch_model.bin");
    let mut w = crate::checkpoint::load(&file, &Device::Cpu).expect("weights");
    let broken = edited(tmp.path(), "broken", |_| {});
    std::fs::remove_file(broken.join("open_clip_pytorch_model.bin")).expect("rm");
    w.remove("visual.trunk.blocks.1.mlp.fc2.bias");
    candle_core::safetensors::save(&w, broken.join("open_clip_model.safetensors")).expect("save");
    let e = refused(&broken);
    assert!(e.contains("visual.trunk.blocks.1.mlp.fc2.bias"), "{e}");
    w.retain(|k, _| !k.starts_with("visual.trunk.cls_token"));
    candle_core::safetensors::save(&w, broken.join("open_clip_model.safetensors")).expect("save");
    let e = refused(&broken);
    assert!(e.contains("not a timm ViT with a class token"), "{e}");
}

/// Two test images through a backbone: its input tensor and pooled features.
fn pooled(b: &crate::backbone::Backbone, size: usize) -> (candle_core::Tensor, Vec<Vec<f32>>) {
    let x = b.pixels(pixels(2, 3, size, 1.0), 2).expect("pixels");
    let f = b.net.features(&x).expect("features");
    (x, f.to_vec2::<f32>().expect("vec"))
}

/// `x · Wᵀ`, each row then L2-normalised.
fn project(rows: &[Vec<f32>], w: &candle_core::Tensor) -> Vec<Vec<f32>> {
    let x = candle_core::Tensor::new(rows.to_vec(), &Device::Cpu).expect("rows");
    let y = x.matmul(&w.t().expect("t")).expect("matmul");
    crate::normalize_rows(&y)
        .expect("norm")
        .to_vec2::<f32>()
        .expect("vec")
}

/// CLIP image towers as fine-tunable ViT backbones (`vit_sources` + `vit`): their pooled
/// features, through the tower's own projection, are open_clip's image features — for
/// BiomedCLIP's timm trunk and for an OpenAI-format checkpoint — and a Hugging Face CLIP
/// folder's are the encoder's.
#[test]
fn clip_towers_as_vit_backbones_match_open_clip() {
    use crate::backbone::Backbone;
    // BiomedCLIP: the trunk's pooled class token, then `visual.head.proj`.
    let refs = reference("biomedclip_tiny.json");
    let b = Backbone::load(&folder(), &Device::Cpu).expect("tower");
    assert_eq!(
        (b.info.family.as_str(), b.info.arch.as_str()),
        ("vit", "vit_128w_patch8_32")
    );
    assert!(b.info.format.contains("image tower"), "{}", b.info.format);
    let (_, f) = pooled(&b, 32);
    let w = crate::checkpoint::load(&folder().join("open_clip_pytorch_model.bin"), &Device::Cpu)
        .expect("weights");
    let got = project(&f, &w["visual.head.proj.weight"]);
    assert_close(
        &got,
        &matrix(&refs["image_features"]),
        1e-4,
        "BiomedCLIP tower",
    );

    // OpenAI's format: ln_pre, quick-GELU, eps 1e-5; `visual.proj` is applied as x·P.
    let refs = reference("checkpoints/openai_clip_tiny.json");
    let file = workspace().join("tests/data/reference/checkpoints/openai_clip_tiny.pt");
    let b = Backbone::load(&file, &Device::Cpu).expect("tower");
    assert!(b.info.arch.contains("_clip_quickgelu"), "{}", b.info.arch);
    let (_, f) = pooled(&b, 64);
    let w = crate::checkpoint::load(&file, &Device::Cpu).expect("weights");
    let p = w["visual.proj"].t().expect("t");
    let got = project(&f, &p);
    assert_close(&got, &matrix(&refs["image_features"]), 1e-4, "OpenAI tower");

    // A Hugging Face CLIP folder: the same as the encoder, which is parity-tested.
    let tmp = tempfile::tempdir().expect("tmp");
    let cfg = super::tiny_vit_clip(tmp.path(), 3);
    let b = Backbone::load(tmp.path(), &Device::Cpu).expect("tower");
    let (x, f) = pooled(&b, 32);
    let hf = candle_core::safetensors::load(tmp.path().join("model.safetensors"), &Device::Cpu)
        .expect("weights");
    let got = project(&f, &hf["visual_projection.weight"]);
    let vb = candle_nn::VarBuilder::from_tensors(hf, candle_core::DType::F32, &Device::Cpu);
    let clip_cfg = crate::clip::Config::from_json(&cfg).expect("cfg");
    let clip = crate::clip::Clip::load(vb, &clip_cfg).expect("clip");
    let want = clip
        .image_features(&x)
        .expect("features")
        .to_vec2::<f32>()
        .expect("vec");
    assert_close(&got, &want, 1e-5, "Hugging Face CLIP tower");
}
