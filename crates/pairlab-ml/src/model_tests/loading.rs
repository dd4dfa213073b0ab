//! A tiny random CLIP in Hugging Face layout with the real CLIP tokenizer, loaded through
//! the public loader; and the errors broken folders give.

use std::path::Path;

use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};
use serde_json::{Value, json};

use super::{assert_close, fixture};
use crate::random_weights::{Init, write_model};
use crate::{Encoder, Family, MlError, inspect};

fn tiny_clip_config() -> Value {
    json!({
        "model_type": "clip", "projection_dim": 24,
        "text_config": {"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 77},
        "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "image_size": 32, "patch_size": 8}
    })
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).expect("copy");
}

/// A loadable tiny CLIP folder with random weights and the real CLIP tokenizer.
pub fn tiny_clip(dir: &Path, seed: u64) {
    write_model(dir, &tiny_clip_config(), Init::Random { seed }).expect("write");
    copy(
        &fixture("clip-tokenizer").join("tokenizer.json"),
        &dir.join("tokenizer.json"),
    );
}

fn images(n: usize) -> Vec<DynamicImage> {
    (0..n)
        .map(|k| {
            if k % 2 == 0 {
                let img = GrayImage::from_fn(40 + k as u32 * 7, 36, |x, y| {
                    Luma([((x * 5 + y * 3 + k as u32 * 17) % 256) as u8])
                });
                DynamicImage::ImageLuma8(img)
            } else {
                let img = RgbImage::from_fn(33, 50 + k as u32, |x, y| {
                    Rgb([
                        (x * 7 % 256) as u8,
                        (y * 4 % 256) as u8,
                        (k * 30 % 256) as u8,
                    ])
                });
                DynamicImage::ImageRgb8(img)
            }
        })
        .collect()
}

#[test]
fn tiny_clip_loads_and_is_batch_invariant_and_deterministic() {
    let dir = tempfile::tempdir().expect("tmp");
    tiny_clip(dir.path(), 7);
    let enc = Encoder::load(dir.path()).expect("load");
    let info = enc.info();
    assert_eq!(
        (info.family, info.dim, info.images, info.texts),
        (Family::Clip, 24, true, true)
    );
    assert_eq!(
        enc.tokenize("a photo of a cat").expect("ids"),
        vec![49406, 320, 1125, 539, 320, 2368, 49407]
    );

    let imgs = images(8);
    let batch = enc.embed_images(&imgs).expect("batch");
    assert_eq!(batch.len(), 8);
    for (k, v) in batch.iter().enumerate() {
        assert_eq!(v.len(), 24);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length");
        let one = enc.embed_images(&imgs[k..k + 1]).expect("one");
        assert_close(&one, &batch[k..k + 1], 1e-5, "batch of 1 vs 8");
    }
    assert!(
        crate::cosine(&batch[0], &batch[1]) < 0.9999,
        "different images differ"
    );

    let texts = [
        "no acute cardiopulmonary process",
        "large right pleural effusion",
        "x",
    ];
    let t = enc.embed_texts(&texts).expect("texts");
    for (k, text) in texts.iter().enumerate() {
        let one = enc.embed_texts(&[text]).expect("one");
        assert_close(&one, &t[k..k + 1], 1e-5, "padded batch vs alone");
    }
    // A long report is truncated to 77 tokens, still ending in <|endoftext|>.
    let long = "pleural effusion ".repeat(100);
    let ids = enc.tokenize(&long).expect("ids");
    assert_eq!((ids.len(), ids[76]), (77, 49407));
    assert_eq!(enc.embed_texts(&[long]).expect("long")[0].len(), 24);

    // Determinism: a second load of the same folder gives the same numbers.
    let again = Encoder::load(dir.path()).expect("reload");
    assert_eq!(again.embed_images(&imgs).expect("again"), batch);
}

#[test]
fn save_load_round_trip_keeps_every_number() {
    let dir = tempfile::tempdir().expect("tmp");
    tiny_clip(dir.path(), 3);
    let enc = Encoder::load(dir.path()).expect("load");
    // Re-save the loaded tensors under a new folder and load that.
    let weights = candle_core::safetensors::load(
        dir.path().join("model.safetensors"),
        &candle_core::Device::Cpu,
    )
    .expect("weights");
    let copy_dir = tempfile::tempdir().expect("tmp");
    candle_core::safetensors::save(&weights, copy_dir.path().join("model.safetensors"))
        .expect("save");
    for f in ["config.json", "tokenizer.json"] {
        copy(&dir.path().join(f), &copy_dir.path().join(f));
    }
    let reloaded = Encoder::load(copy_dir.path()).expect("reload");
    let imgs = images(3);
    assert_eq!(
        enc.embed_images(&imgs).expect("a"),
        reloaded.embed_images(&imgs).expect("b")
    );
    let t = ["effusion"];
    assert_eq!(
        enc.embed_texts(&t).expect("a"),
        reloaded.embed_texts(&t).expect("b")
    );
    // A different seed is a different model.
    let other = tempfile::tempdir().expect("tmp");
    tiny_clip(other.path(), 4);
    let other = Encoder::load(other.path()).expect("other");
    assert_ne!(
        other.embed_texts(&t).expect("c"),
        enc.embed_texts(&t).expect("a")
    );
}

fn load_err(dir: &Path) -> String {
    match Encoder::load(dir) {
        Ok(_) => panic!("{} loaded but should not", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn broken_model_folders_give_clear_errors() {
    let root = tempfile::tempdir().expect("tmp");
    let missing = root.path().join("nope");
    assert!(load_err(&missing).contains("no such folder"));

    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).expect("dir");
    assert!(load_err(&empty).contains("config.json is missing"));

    std::fs::write(empty.join("config.json"), "{ not json").expect("write");
    assert!(load_err(&empty).contains("config.json is not valid JSON"));

    std::fs::write(empty.join("config.json"), r#"{"model_type": "llama"}"#).expect("write");
    let e = Encoder::load(&empty).err().expect("error");
    assert!(matches!(e, MlError::UnknownArchitecture { .. }), "{e}");
    assert!(e.to_string().contains("\"llama\""));

    // A known family with an incomplete config says what is missing.
    std::fs::write(empty.join("config.json"), r#"{"model_type": "siglip"}"#).expect("write");
    assert!(load_err(&empty).contains("missing field `text_config`"));

    std::fs::write(
        empty.join("config.json"),
        r#"{"model_type": "clip", "text_config": {"hidden_act": "gelu"}}"#,
    )
    .expect("write");
    assert!(load_err(&empty).contains("hidden_act \"gelu\" is not supported"));

    std::fs::write(empty.join("config.json"), tiny_clip_config().to_string()).expect("write");
    assert!(load_err(&empty).contains("model.safetensors is missing"));
    std::fs::write(empty.join("pytorch_model.bin"), b"x").expect("write");
    assert!(load_err(&empty).contains("save the weights as safetensors"));
    std::fs::write(
        empty.join("model.safetensors"),
        b"\x08\0\0\0\0\0\0\0{}garbage",
    )
    .expect("write");
    assert!(load_err(&empty).contains("model.safetensors cannot be read"));

    // Weights from a 2-layer model under a config that asks for 3 layers.
    let good = root.path().join("good");
    tiny_clip(&good, 1);
    let mut cfg = tiny_clip_config();
    cfg["vision_config"]["num_hidden_layers"] = json!(3);
    std::fs::write(good.join("config.json"), cfg.to_string()).expect("write");
    assert!(load_err(&good).contains("the weights do not fit config.json"));
    std::fs::write(good.join("config.json"), tiny_clip_config().to_string()).expect("write");

    // A BERT tokenizer next to CLIP weights, a CLIP tokenizer next to BERT weights.
    copy(
        &fixture("minilm").join("tokenizer.json"),
        &good.join("tokenizer.json"),
    );
    let e = Encoder::load(&good).err().expect("mismatch");
    assert!(matches!(e, MlError::TokenizerMismatch(_)), "{e}");
    std::fs::remove_file(good.join("tokenizer.json")).expect("rm");
    assert!(load_err(&good).contains("tokenizer.json is missing"));

    let bert = root.path().join("bert");
    let bert_cfg = json!({"model_type": "bert", "vocab_size": 49408, "hidden_size": 32,
        "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 64,
        "max_position_embeddings": 64});
    write_model(&bert, &bert_cfg, Init::Random { seed: 1 }).expect("write");
    copy(
        &fixture("clip-tokenizer").join("tokenizer.json"),
        &bert.join("tokenizer.json"),
    );
    let e = Encoder::load(&bert).err().expect("mismatch");
    assert!(matches!(e, MlError::TokenizerMismatch(_)), "{e}");
    copy(
        &fixture("minilm").join("tokenizer.json"),
        &bert.join("tokenizer.json"),
    );
    let enc = Encoder::load(&bert).expect("bert with its tokenizer");
    assert!(
        enc.embed_images(&images(1))
            .expect_err("text only")
            .to_string()
            .contains("text only")
    );
    assert_eq!(inspect(&bert).expect("inspect").dim, 32);
}
