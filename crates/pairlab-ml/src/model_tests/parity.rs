//! Our CLIP and BERT against an independent NumPy implementation (tests/reference), on the
//! same deterministic weights, to 1e-4; and real MiniLM weights against its reference.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::clip::vision_model::ClipVisionTransformer;

use super::{assert_close, fixture, matrix, reference};
use crate::random_weights::{Init, write_model};
use crate::{Encoder, bert, clip};

fn load_vb(dir: &std::path::Path) -> VarBuilder<'static> {
    let w = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
        .expect("weights");
    VarBuilder::from_tensors(w, DType::F32, &Device::Cpu)
}

fn ids_tensor(v: &serde_json::Value) -> Tensor {
    let rows: Vec<Vec<u32>> = v
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            r.as_array()
                .expect("row")
                .iter()
                .map(|x| x.as_u64().expect("id") as u32)
                .collect()
        })
        .collect();
    Tensor::new(rows, &Device::Cpu).expect("ids")
}

#[test]
fn tiny_clip_matches_numpy_reference() {
    let fx = reference("tiny_clip.json");
    let dir = tempfile::tempdir().expect("tmp");
    write_model(dir.path(), &fx["config"], Init::Deterministic).expect("write");
    let cfg = clip::Config::from_json(&fx["config"]).expect("config");
    let model = clip::Clip::load(load_vb(dir.path()), &cfg).expect("load");

    let ids = ids_tensor(&fx["inputs"]["input_ids"]);
    let text = model
        .text_features(&ids)
        .expect("text")
        .to_vec2::<f32>()
        .expect("vec");
    assert_close(
        &text,
        &matrix(&fx["outputs"]["text_embeds_norm"]),
        1e-4,
        "text",
    );

    let px: Vec<f32> = (0..2 * 3 * 32 * 32)
        .map(|i| {
            let (b, c, y, x) = (i / 3072, (i / 1024) % 3, (i / 32) % 32, i % 32);
            (0.3 * b as f64 + 0.1 * c as f64 + 0.05 * y as f64 + 0.03 * x as f64).sin() as f32
        })
        .collect();
    let pixels = model.pixels(px, 2, &Device::Cpu).expect("pixels");
    let img = model
        .image_features(&pixels)
        .expect("image")
        .to_vec2::<f32>()
        .expect("vec");
    assert_close(
        &img,
        &matrix(&fx["outputs"]["image_embeds_norm"]),
        1e-4,
        "image",
    );

    // The pooled image vectors barely depend on these pixels; the encoder output does.
    // Both our CPU-tuned tower and candle-transformers' must match the reference.
    let ours = model.vision_hidden_state(&pixels).expect("ours");
    let want = fx["outputs"]["vision_last_hidden_state"]
        .as_array()
        .expect("batch");
    for (b, w) in want.iter().enumerate() {
        let got = ours.get(b).expect("row").to_vec2::<f32>().expect("vec");
        assert_close(&got, &matrix(w), 1e-4, "vision hidden state (ours)");
    }
    let vision = ClipVisionTransformer::new(
        load_vb(dir.path()).pp("vision_model"),
        &cfg.to_candle().vision_config,
    )
    .expect("vision");
    let states = vision.output_hidden_states(&pixels).expect("states");
    let last = &states[states.len() - 2];
    let want = fx["outputs"]["vision_last_hidden_state"]
        .as_array()
        .expect("batch");
    for (b, w) in want.iter().enumerate() {
        let got = last.get(b).expect("row").to_vec2::<f32>().expect("vec");
        assert_close(&got, &matrix(w), 1e-4, "vision hidden state");
    }
}

#[test]
fn tiny_bert_matches_numpy_reference() {
    let fx = reference("tiny_bert.json");
    let dir = tempfile::tempdir().expect("tmp");
    write_model(dir.path(), &fx["config"], Init::Deterministic).expect("write");
    let cfg = bert::config_from_json(&fx["config"]).expect("config");
    let model = bert::SentenceEncoder::load(load_vb(dir.path()), &cfg).expect("load");
    let ids = ids_tensor(&fx["inputs"]["input_ids"]);
    let mask = ids_tensor(&fx["inputs"]["attention_mask"]);
    let emb = model
        .embed(&ids, &mask)
        .expect("embed")
        .to_vec2::<f32>()
        .expect("vec");
    assert_close(
        &emb,
        &matrix(&fx["outputs"]["sentence_embeddings"]),
        1e-4,
        "bert",
    );
    let hidden = model.hidden_states(&ids, &mask).expect("hidden");
    let row0 = hidden.get(0).expect("row").to_vec2::<f32>().expect("vec");
    assert_close(
        &row0,
        &matrix(&fx["outputs"]["last_hidden_state_row0"]),
        1e-4,
        "hidden",
    );
}

#[test]
fn minilm_real_weights_match_reference_and_rank_reports() {
    let fx = reference("minilm.json");
    let enc = Encoder::load(&fixture("minilm")).expect("load MiniLM");
    assert_eq!(enc.info().dim, 384);
    let sentences: Vec<String> = fx["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .map(|s| s.as_str().expect("text").to_string())
        .collect();
    for (s, want) in sentences
        .iter()
        .zip(fx["input_ids"].as_array().expect("ids"))
    {
        let want: Vec<u32> = want
            .as_array()
            .expect("ids")
            .iter()
            .map(|x| x.as_u64().expect("id") as u32)
            .collect();
        assert_eq!(enc.tokenize(s).expect("tokens"), want, "token ids of {s:?}");
    }
    // Batched (padded) and one by one both match the reference.
    let batch = enc.embed_texts(&sentences).expect("embed");
    assert_close(&batch, &matrix(&fx["embeddings"]), 1e-4, "MiniLM batch");
    let single = enc.embed_texts(&sentences[2..3]).expect("embed");
    assert_close(
        &single,
        &matrix(&fx["embeddings"])[2..3],
        1e-4,
        "MiniLM single",
    );

    let cos = |a: usize, b: usize| crate::cosine(&batch[a], &batch[b]);
    // Two effusion reports are closer to each other than to a knee-pain note.
    assert!(cos(2, 3) > cos(2, 4) + 0.3 && cos(2, 3) > cos(3, 4) + 0.3);
    // The two normal chest reports are closer to each other than to the knee-pain note.
    assert!(cos(0, 1) > cos(0, 4) && cos(0, 1) > cos(1, 4));
}
