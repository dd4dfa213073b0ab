//! CLIP checkpoints in OpenAI's format — OpenAI's own `.pt` files, CheXzero, and the
//! open_clip models built on OpenAI's architecture (`open_clip_pytorch_model.bin`) — mapped
//! onto the Hugging Face layout that [`crate::clip`] runs.
//!
//! The shapes come from the weights, as OpenAI's `build_model` reads them: widths from the
//! patch embedding and the token embedding, layers from the residual blocks, heads as width
//! / 64, patch size from the patch embedding's kernel, image size from the number of
//! positions, the embedding size from the projections. Attention's packed `in_proj` is split
//! into q/k/v; the projections (`visual.proj`, `text_projection`, applied as x·P) are
//! transposed into linear weights.

use std::collections::HashMap;

use candle_core::Tensor;

use crate::checkpoint::Weights;
use crate::clip::{Config, TextConfig, VisionConfig};
use crate::error::{MlError, Result};

/// True when the weights are an OpenAI-format CLIP's.
pub fn looks_like(w: &Weights) -> bool {
    w.contains_key("visual.conv1.weight")
        && w.contains_key("visual.proj")
        && w.contains_key("visual.transformer.resblocks.0.attn.in_proj_weight")
}

fn dims(w: &Weights, name: &str) -> Result<Vec<usize>> {
    w.get(name)
        .map(|t| t.dims().to_vec())
        .ok_or_else(|| MlError::Unsupported(format!("an OpenAI CLIP checkpoint needs {name}")))
}

fn blocks(w: &Weights, prefix: &str) -> usize {
    let mut n = 0;
    while w.contains_key(&format!("{prefix}{n}.attn.in_proj_weight")) {
        n += 1;
    }
    n
}

/// The Hugging Face configuration the weights describe.
pub fn config(w: &Weights) -> Result<Config> {
    let shaped = |name: &str, rank: usize| -> Result<Vec<usize>> {
        let d = dims(w, name)?;
        if d.len() == rank {
            Ok(d)
        } else {
            Err(MlError::Unsupported(format!(
                "{name} is {d:?}, not of rank {rank}"
            )))
        }
    };
    let conv = shaped("visual.conv1.weight", 4)?; // [width, 3, patch, patch]
    let positions = shaped("visual.positional_embedding", 2)?[0];
    let vision_width = conv[0];
    let patch = conv[2];
    let grid = ((positions.saturating_sub(1)) as f64).sqrt().round() as usize;
    if grid * grid + 1 != positions || conv[1] != 3 {
        return Err(MlError::Unsupported(format!(
            "visual.positional_embedding has {positions} rows, not a square grid plus a class token"
        )));
    }
    let token = shaped("token_embedding.weight", 2)?; // [vocab, width]
    let text_width = token[1];
    let embed = shaped("text_projection", 2)?[1];
    let vision_mlp = shaped("visual.transformer.resblocks.0.mlp.c_fc.weight", 2)?[0];
    let text_mlp = shaped("transformer.resblocks.0.mlp.c_fc.weight", 2)?[0];
    // OpenAI's build_model: width / 64; open_clip's huge towers have wider heads.
    let heads = |width: usize| crate::vit::heads_for(width).max(1);
    Ok(Config {
        text: TextConfig {
            vocab_size: token[0],
            hidden_size: text_width,
            intermediate_size: text_mlp,
            num_hidden_layers: blocks(w, "transformer.resblocks."),
            num_attention_heads: heads(text_width),
            max_position_embeddings: shaped("positional_embedding", 2)?[0],
        },
        vision: VisionConfig {
            hidden_size: vision_width,
            intermediate_size: vision_mlp,
            num_hidden_layers: blocks(w, "visual.transformer.resblocks."),
            num_attention_heads: heads(vision_width),
            image_size: grid * patch,
            patch_size: patch,
            num_channels: 3,
        },
        projection_dim: embed,
        logit_scale_init_value: 2.6592,
    })
}

/// One residual block's weights under Hugging Face's names.
fn block(w: &Weights, from: &str, to: &str, out: &mut Weights) -> Result<()> {
    let get = |k: &str| {
        w.get(&format!("{from}{k}"))
            .cloned()
            .ok_or_else(|| MlError::Unsupported(format!("{from}{k} is missing")))
    };
    let in_w = get("attn.in_proj_weight")?;
    let in_b = get("attn.in_proj_bias")?;
    let width = in_w.dim(1)?;
    for (i, q) in ["q_proj", "k_proj", "v_proj"].iter().enumerate() {
        out.insert(
            format!("{to}self_attn.{q}.weight"),
            in_w.narrow(0, i * width, width)?,
        );
        out.insert(
            format!("{to}self_attn.{q}.bias"),
            in_b.narrow(0, i * width, width)?,
        );
    }
    for (a, b) in [
        ("attn.out_proj.weight", "self_attn.out_proj.weight"),
        ("attn.out_proj.bias", "self_attn.out_proj.bias"),
        ("ln_1.weight", "layer_norm1.weight"),
        ("ln_1.bias", "layer_norm1.bias"),
        ("ln_2.weight", "layer_norm2.weight"),
        ("ln_2.bias", "layer_norm2.bias"),
        ("mlp.c_fc.weight", "mlp.fc1.weight"),
        ("mlp.c_fc.bias", "mlp.fc1.bias"),
        ("mlp.c_proj.weight", "mlp.fc2.weight"),
        ("mlp.c_proj.bias", "mlp.fc2.bias"),
    ] {
        out.insert(format!("{to}{b}"), get(a)?);
    }
    Ok(())
}

/// The weights under Hugging Face's CLIP names, with the configuration they describe.
pub fn to_hf(w: &Weights) -> Result<(Config, Weights)> {
    let cfg = config(w)?;
    let mut out: Weights = HashMap::new();
    let mut copy = |a: &str, b: &str| -> Result<()> {
        let t = w
            .get(a)
            .ok_or_else(|| MlError::Unsupported(format!("{a} is missing")))?;
        out.insert(b.to_string(), t.clone());
        Ok(())
    };
    for (a, b) in [
        (
            "visual.conv1.weight",
            "vision_model.embeddings.patch_embedding.weight",
        ),
        (
            "visual.class_embedding",
            "vision_model.embeddings.class_embedding",
        ),
        (
            "visual.positional_embedding",
            "vision_model.embeddings.position_embedding.weight",
        ),
        ("visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"),
        ("visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"),
        (
            "visual.ln_post.weight",
            "vision_model.post_layernorm.weight",
        ),
        ("visual.ln_post.bias", "vision_model.post_layernorm.bias"),
        (
            "token_embedding.weight",
            "text_model.embeddings.token_embedding.weight",
        ),
        (
            "positional_embedding",
            "text_model.embeddings.position_embedding.weight",
        ),
        ("ln_final.weight", "text_model.final_layer_norm.weight"),
        ("ln_final.bias", "text_model.final_layer_norm.bias"),
    ] {
        copy(a, b)?;
    }
    for i in 0..cfg.vision.num_hidden_layers {
        block(
            w,
            &format!("visual.transformer.resblocks.{i}."),
            &format!("vision_model.encoder.layers.{i}."),
            &mut out,
        )?;
    }
    for i in 0..cfg.text.num_hidden_layers {
        block(
            w,
            &format!("transformer.resblocks.{i}."),
            &format!("text_model.encoder.layers.{i}."),
            &mut out,
        )?;
    }
    let transpose = |k: &str| -> Result<Tensor> {
        Ok(w.get(k)
            .ok_or_else(|| MlError::Unsupported(format!("{k} is missing")))?
            .t()?
            .contiguous()?)
    };
    out.insert("visual_projection.weight".into(), transpose("visual.proj")?);
    out.insert(
        "text_projection.weight".into(),
        transpose("text_projection")?,
    );
    if let Some(s) = w.get("logit_scale") {
        out.insert("logit_scale".into(), s.clone());
    }
    Ok((cfg, out))
}
