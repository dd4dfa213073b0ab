//! Pairlab's machine-learning layer: models, embeddings, training and metrics (candle).
//! It knows nothing of SQLite or the library; core hands it plain data.
//!
//! One model family per file (`clip`, `bert`), each with a `Config` read from the Hugging
//! Face `config.json` and a `load(vb, &cfg)`; `encoder` turns a model folder into an
//! embedding function; `similarity`, `consistency` and `dedup` work on stored embeddings.

#![cfg_attr(
    test,
    allow(
        clippy::too_many_lines,
        reason = "a test reads as one scenario, top to bottom; the non-test build still checks every other function"
    )
)]

pub mod agreement;
pub mod backbone;
pub mod batchnorm;
pub mod bert;
pub mod bert_net;
pub mod checkpoint;
pub mod clip;
pub mod clip_vision;
pub mod consistency;
pub mod conv2d;
mod cpu_values;
pub mod curves;
pub mod dedup;
pub mod densenet;
pub mod encoder;
pub mod error;
pub mod label_issues;
pub mod lastdim;
pub mod metrics;
pub mod open_clip;
pub mod openai_clip;
pub mod preprocess;
pub mod projection;
pub mod random_weights;
pub mod recompute;
pub mod resnet;
pub mod rng;
pub mod similarity;
pub mod text;
pub mod train;
pub mod vit;
pub mod vit_sources;

pub use encoder::{Encoder, Family, ModelInfo, inspect};
pub use error::MlError;

use candle_core::{D, Result, Tensor};

/// Cosine similarity of two equally long vectors (0 when either is all zeros).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Scales each row of a `[n, d]` tensor to unit L2 norm (rows of zeros stay zero), as
/// embeddings are stored and compared.
pub fn normalize_rows(t: &Tensor) -> Result<Tensor> {
    let norms = t
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::INFINITY)?;
    t.broadcast_div(&norms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn cosine_basics() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 2.0]).abs() < 1e-6);
        assert!((cosine(&[1.0, 1.0], &[-1.0, -1.0]) + 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }

    #[test]
    fn rows_become_unit_length() -> Result<()> {
        let t = Tensor::new(&[[3f32, 4.0], [0.0, 0.0], [1.0, 1.0]], &Device::Cpu)?;
        let n = normalize_rows(&t)?.to_vec2::<f32>()?;
        assert_eq!(n[0], vec![0.6, 0.8]);
        assert_eq!(n[1], vec![0.0, 0.0]);
        let r = (0.5f32).sqrt();
        assert!((n[2][0] - r).abs() < 1e-6 && (n[2][1] - r).abs() < 1e-6);
        // Normalised rows agree with the scalar cosine.
        let a = [1f32, 2.0, 3.0];
        let b = [-2f32, 0.5, 4.0];
        let t = Tensor::new(&[a, b], &Device::Cpu)?;
        let n = normalize_rows(&t)?.to_vec2::<f32>()?;
        let dot: f32 = n[0].iter().zip(&n[1]).map(|(x, y)| x * y).sum();
        assert!((dot - cosine(&a, &b)).abs() < 1e-6);
        Ok(())
    }
}

#[cfg(test)]
mod model_tests;
