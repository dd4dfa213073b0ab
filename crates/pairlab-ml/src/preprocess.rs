//! Image preprocessing: CLIP's reference processor (Hugging Face `CLIPImageProcessor`:
//! RGB, shortest side resized with bicubic filtering, centre crop, rescale to 0..1,
//! normalise with the model's mean and std), the image classifiers' ([`Preprocess`]: timm's
//! and torchvision's crop, torchxrayvision's grey ±1024 scaling) and SigLIP's ([`squash`]).

use image::{DynamicImage, imageops::FilterType};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

/// CLIP's default normalisation (OpenAI CLIP training statistics).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// The preprocessing of one image model; read from `preprocessor_config.json` when the
/// model folder has one, else CLIP's defaults for the model's input size.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProcessor {
    /// The shortest side is resized to this many pixels.
    pub shortest_edge: u32,
    /// Then the centre `crop × crop` square is kept.
    pub crop: u32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl ImageProcessor {
    /// CLIP's reference preprocessing for a square input of `size` pixels.
    pub fn clip(size: u32) -> Self {
        ImageProcessor {
            shortest_edge: size,
            crop: size,
            mean: CLIP_MEAN,
            std: CLIP_STD,
        }
    }

    /// Reads the fields of a Hugging Face `preprocessor_config.json` that matter here;
    /// anything missing keeps the default for `size`.
    pub fn from_preprocessor_config(json: &Value, size: u32) -> Self {
        let mut p = Self::clip(size);
        if let Some(s) = json.get("size") {
            let edge = s
                .get("shortest_edge")
                .or_else(|| s.get("height"))
                .and_then(Value::as_u64)
                .or_else(|| s.as_u64());
            if let Some(e) = edge {
                p.shortest_edge = e as u32;
            }
        }
        if let Some(c) = json.get("crop_size") {
            let crop = c
                .get("height")
                .and_then(Value::as_u64)
                .or_else(|| c.as_u64());
            if let Some(c) = crop {
                p.crop = c as u32;
            }
        } else {
            p.crop = p.shortest_edge;
        }
        let triple = |key: &str| -> Option<[f32; 3]> {
            let a = json.get(key)?.as_array()?;
            if a.len() != 3 {
                return None;
            }
            Some([
                a[0].as_f64()? as f32,
                a[1].as_f64()? as f32,
                a[2].as_f64()? as f32,
            ])
        };
        if let Some(m) = triple("image_mean") {
            p.mean = m;
        }
        if let Some(s) = triple("image_std") {
            p.std = s;
        }
        p
    }

    /// One image as a `3 × crop × crop` channel-first array. Greyscale (X-rays) is
    /// replicated to three channels; 16-bit images are scaled to 8 bits first, as PIL does.
    pub fn apply(&self, img: &DynamicImage) -> Vec<f32> {
        let rgb = img.to_rgb8();
        let (w, h) = rgb.dimensions();
        let edge = self.shortest_edge.max(1);
        // Hugging Face: the short side becomes `edge`, the long side int(edge * long / short).
        let (nw, nh) = if w <= h {
            (
                edge,
                ((edge as u64 * h as u64) / w.max(1) as u64).max(1) as u32,
            )
        } else {
            (
                ((edge as u64 * w as u64) / h.max(1) as u64).max(1) as u32,
                edge,
            )
        };
        let resized = if (nw, nh) == (w, h) {
            rgb
        } else {
            image::imageops::resize(&rgb, nw, nh, FilterType::CatmullRom)
        };
        let c = self.crop;
        let top = nh.saturating_sub(c) / 2;
        let left = nw.saturating_sub(c) / 2;
        let plane = (c * c) as usize;
        let mut out = vec![0f32; 3 * plane];
        for y in 0..c {
            for x in 0..c {
                let (sx, sy) = (left + x, top + y);
                // A crop larger than the image pads with zeros (after normalisation: the mean).
                let px = if sx < nw && sy < nh {
                    resized.get_pixel(sx, sy).0
                } else {
                    [0, 0, 0]
                };
                let i = (y * c + x) as usize;
                for ch in 0..3 {
                    let v = px[ch] as f32 / 255.0;
                    out[ch * plane + i] = (v - self.mean[ch]) / self.std[ch];
                }
            }
        }
        out
    }

    /// A batch, preprocessed in parallel: `n × 3 × crop × crop` values.
    pub fn apply_batch(&self, images: &[DynamicImage]) -> Vec<f32> {
        let per: Vec<Vec<f32>> = images.par_iter().map(|i| self.apply(i)).collect();
        per.concat()
    }
}

/// An image squashed to `size × size` (aspect not kept, bicubic), rescaled to 0..1 and
/// normalised: SigLIP's processor.
pub fn squash(img: &DynamicImage, size: u32, mean: [f32; 3], std: [f32; 3]) -> Vec<f32> {
    let rgb = img.to_rgb8();
    let small = image::imageops::resize(&rgb, size, size, FilterType::CatmullRom);
    let plane = (size * size) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in small.pixels().enumerate() {
        for ch in 0..3 {
            out[ch * plane + i] = (f32::from(px.0[ch]) / 255.0 - mean[ch]) / std[ch];
        }
    }
    out
}

/// ImageNet's mean and std, torchvision's and timm's default.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

/// How images become the network's input.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Preprocess {
    /// Square input size.
    pub size: u32,
    /// The short side is resized to `size / crop_pct`, then the centre is cropped.
    pub crop_pct: f32,
    /// One grey channel, or RGB.
    pub channels: usize,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// `bilinear` or `bicubic`.
    pub interpolation: String,
    /// torchxrayvision's scaling: grey values v in 0..=255 become (2v/255 − 1)·1024.
    pub xrv: bool,
}

impl Preprocess {
    pub fn imagenet(size: u32) -> Self {
        Preprocess {
            size,
            crop_pct: 0.875,
            channels: 3,
            mean: IMAGENET_MEAN.to_vec(),
            std: IMAGENET_STD.to_vec(),
            interpolation: "bilinear".into(),
            xrv: false,
        }
    }

    pub fn xrv(size: u32) -> Self {
        Preprocess {
            size,
            crop_pct: 1.0,
            channels: 1,
            mean: vec![0.0],
            std: vec![1.0],
            interpolation: "bilinear".into(),
            xrv: true,
        }
    }

    fn filter(&self) -> FilterType {
        if self.interpolation == "bicubic" {
            FilterType::CatmullRom
        } else {
            FilterType::Triangle
        }
    }

    /// One image as `channels × size × size` values, normalised for the network.
    pub fn apply(&self, img: &DynamicImage) -> Vec<f32> {
        let raw = self.raw(img);
        let mut out = vec![0f32; raw.len()];
        self.normalise(&raw, &mut out);
        out
    }

    /// The geometric part only: `channels × size × size` values 0–255, channel-first (the
    /// short side resized to `size / crop_pct`, then the centre cropped; grey models take
    /// the centre square first, as torchxrayvision does). Trainers cache and augment these.
    pub fn raw(&self, img: &DynamicImage) -> Vec<u8> {
        let s = self.size.max(1);
        let edge = (((s as f32) / self.crop_pct.clamp(0.1, 1.0)).floor() as u32).max(s);
        if self.channels == 3 {
            let rgb = img.to_rgb8();
            let (w, h) = rgb.dimensions();
            let (nw, nh) = if w <= h {
                (
                    edge,
                    ((u64::from(edge) * u64::from(h)) / u64::from(w.max(1))).max(1) as u32,
                )
            } else {
                (
                    ((u64::from(edge) * u64::from(w)) / u64::from(h.max(1))).max(1) as u32,
                    edge,
                )
            };
            let resized = image::imageops::resize(&rgb, nw, nh, self.filter());
            let (left, top) = (nw.saturating_sub(s) / 2, nh.saturating_sub(s) / 2);
            let plane = (s * s) as usize;
            let mut out = vec![0u8; 3 * plane];
            for y in 0..s.min(nh) {
                for x in 0..s.min(nw) {
                    let px = resized.get_pixel(left + x, top + y).0;
                    for ch in 0..3 {
                        out[ch * plane + (y * s + x) as usize] = px[ch];
                    }
                }
            }
            return out;
        }
        let grey = img.to_luma8();
        let (w, h) = grey.dimensions();
        let side = w.min(h).max(1);
        let square =
            image::imageops::crop_imm(&grey, (w - side) / 2, (h - side) / 2, side, side).to_image();
        let scaled = image::imageops::resize(&square, edge, edge, self.filter());
        let off = (edge - s) / 2;
        image::imageops::crop_imm(&scaled, off, off, s, s)
            .to_image()
            .into_raw()
    }

    /// Raw values (0–255, as [`Preprocess::raw`] gives them, possibly augmented) into the
    /// network's input: torchxrayvision's [-1024, 1024], or (v/255 − mean)/std per channel.
    /// `raw` holds one or more images' `channels × size × size` values, image after image.
    pub fn normalise<T: Copy + Into<f32>>(&self, raw: &[T], out: &mut [f32]) {
        let plane = (self.size * self.size) as usize;
        for (i, (o, v)) in out.iter_mut().zip(raw).enumerate() {
            let v: f32 = (*v).into();
            *o = if self.xrv {
                (2.0 * v / 255.0 - 1.0) * 1024.0
            } else {
                // Rows of several images follow each other: the channel repeats per image.
                let c = (i / plane.max(1)) % self.mean.len().max(1);
                (v / 255.0 - self.mean[c]) / self.std[c]
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgb, RgbImage};

    /// Every image of a batch is normalised with its own channel's mean and std (the
    /// second RGB image's red plane is red, not blue).
    #[test]
    fn normalise_repeats_channels_per_image() {
        let mut p = Preprocess::imagenet(2);
        p.size = 2;
        let raw = vec![255f32; 2 * 3 * 4];
        let mut out = vec![0f32; raw.len()];
        p.normalise(&raw, &mut out);
        for (k, chunk) in out.chunks(4).enumerate() {
            let c = k % 3;
            let want = (1.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
            assert!(chunk.iter().all(|v| (v - want).abs() < 1e-6), "plane {k}");
        }
    }

    #[test]
    fn shortest_side_then_centre_crop() {
        // A 448×224 image: left half black, right half white. After resizing to 448×224→
        // 448x224 (already short side 224) the centre crop is columns 112..336.
        let mut img = RgbImage::new(448, 224);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if x < 224 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            };
        }
        let p = ImageProcessor::clip(224);
        let out = p.apply(&DynamicImage::ImageRgb8(img));
        assert_eq!(out.len(), 3 * 224 * 224);
        let black = (0.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        let white = (1.0 - CLIP_MEAN[0]) / CLIP_STD[0];
        assert!((out[0] - black).abs() < 1e-5, "left of the crop is black");
        assert!(
            (out[223] - white).abs() < 1e-5,
            "right of the crop is white"
        );
        assert!((out[111] - black).abs() < 1e-5 && (out[112] - white).abs() < 1e-5);
    }

    #[test]
    fn greyscale_is_replicated_and_resized() {
        let img = GrayImage::from_pixel(100, 300, Luma([128]));
        let p = ImageProcessor::clip(32);
        let out = p.apply(&DynamicImage::ImageLuma8(img));
        assert_eq!(out.len(), 3 * 32 * 32);
        for ch in 0..3 {
            let want = (128.0 / 255.0 - CLIP_MEAN[ch]) / CLIP_STD[ch];
            let got = out[ch * 1024 + 500];
            assert!((got - want).abs() < 1e-4, "channel {ch}: {got} vs {want}");
        }
    }

    #[test]
    fn preprocessor_config_overrides_defaults() {
        let json: Value = serde_json::json!({
            "size": {"shortest_edge": 256}, "crop_size": {"height": 240, "width": 240},
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]
        });
        let p = ImageProcessor::from_preprocessor_config(&json, 224);
        assert_eq!(
            p,
            ImageProcessor {
                shortest_edge: 256,
                crop: 240,
                mean: [0.5; 3],
                std: [0.25; 3]
            }
        );
        let legacy = serde_json::json!({"size": 336, "crop_size": 336});
        let p = ImageProcessor::from_preprocessor_config(&legacy, 224);
        assert_eq!((p.shortest_edge, p.crop), (336, 336));
    }
}
