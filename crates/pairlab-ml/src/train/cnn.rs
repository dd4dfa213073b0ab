//! `cnn`: a small convolutional network trained from scratch on grey images (the network
//! and its checkpoints are a [`Head`] with image inputs, see `head.rs`; its training step
//! is written out in `cnn_step.rs`).

use std::path::Path;

use super::fit::Event;
use super::head::{self, Head, ImageInput};
use super::trainer::{Fit, Fitted, Input, Model, Part, Settings};
use crate::error::Result;

/// Image sizes a run may ask for, in pixels.
const SIZES: std::ops::RangeInclusive<usize> = 8..=512;

/// The `cnn` trainer.
pub struct CnnTrainer;

/// The network's image inputs for these settings: one grey channel, 16 filters in the first
/// convolution, the last feature map flattened.
fn image(settings: &Settings) -> ImageInput {
    ImageInput {
        channels: 1,
        size: settings.size,
        width: 16,
        flatten: true,
    }
}

impl Fit for CnnTrainer {
    fn about(&self) -> &'static str {
        "a small convolutional network on the images"
    }

    /// 0.001: AdamW's usual rate for a network trained from scratch (on Fashion-MNIST 0.01
    /// ends about three points lower).
    fn default_lr(&self) -> f64 {
        1e-3
    }

    fn check(&self, settings: &Settings) -> Result<()> {
        if !SIZES.contains(&settings.size) {
            let (from, to) = (SIZES.start(), SIZES.end());
            let why = format!("image size {}: use {from} to {to} px", settings.size);
            return Err(crate::MlError::setting("size", why));
        }
        head::check_hidden(settings)
    }

    fn input(&self, settings: &Settings) -> Input {
        Input::Grey {
            size: settings.size,
        }
    }

    fn config(&self, settings: &Settings) -> Result<String> {
        head::config_json(&head::config(settings, Some(image(settings))))
    }

    fn fit(
        &self,
        train: Part,
        val: Part,
        dim: usize,
        settings: &Settings,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<Fitted> {
        let cfg = head::config(settings, Some(image(settings)));
        head::fit_with(train, val, dim, &cfg, observe)
    }

    fn load(&self, dir: &Path) -> Result<Box<dyn Model>> {
        Ok(Box::new(Head::load(dir)?))
    }
}
