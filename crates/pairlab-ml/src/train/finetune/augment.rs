//! X-ray augmentation of raw pixel rows.

use super::*;

/// Augmentation ranges (each drawn uniformly per image and epoch).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augment {
    pub rotate_deg: f32,
    pub scale: f32,
    pub translate: f32,
    pub brightness: f32,
    pub contrast: f32,
    pub hflip: bool,
}

impl Augment {
    pub fn xray(hflip: bool) -> Self {
        Augment {
            rotate_deg: 10.0,
            scale: 0.1,
            translate: 0.08,
            brightness: 0.1,
            contrast: 0.1,
            hflip,
        }
    }

    /// One image (`channels × s × s` raw values) transformed: an affine warp about the
    /// centre with bilinear sampling (outside: 0), then v ↦ (v − 127.5)·contrast + 127.5 +
    /// 255·brightness, clamped to 0–255.
    pub fn apply(&self, img: &[f32], channels: usize, s: usize, rng: &mut SplitMix64) -> Vec<f32> {
        let mut draw = |r: f32| r * rng.unit();
        let angle = draw(self.rotate_deg).to_radians();
        let scale = 1.0 + draw(self.scale);
        let (tx, ty) = (
            draw(self.translate) * s as f32,
            draw(self.translate) * s as f32,
        );
        let contrast = 1.0 + draw(self.contrast);
        let brightness = draw(self.brightness) * 255.0;
        let flip = self.hflip && rng.below(2) == 1;
        let (sin, cos) = angle.sin_cos();
        let c = (s as f32 - 1.0) / 2.0;
        let mut out = vec![0f32; img.len()];
        for y in 0..s {
            for x in 0..s {
                // The source of output (x, y): the inverse of scale·rotate, then translate.
                let (dx, dy) = (x as f32 - c - tx, y as f32 - c - ty);
                let mut sx = (cos * dx + sin * dy) / scale + c;
                let sy = (-sin * dx + cos * dy) / scale + c;
                if flip {
                    sx = s as f32 - 1.0 - sx;
                }
                if sx < 0.0 || sy < 0.0 || sx > s as f32 - 1.0 || sy > s as f32 - 1.0 {
                    continue;
                }
                let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
                let (x1, y1) = ((x0 + 1).min(s - 1), (y0 + 1).min(s - 1));
                let (fx, fy) = (sx - x0 as f32, sy - y0 as f32);
                for ch in 0..channels {
                    let p = |yy: usize, xx: usize| img[(ch * s + yy) * s + xx];
                    let v = p(y0, x0) * (1.0 - fx) * (1.0 - fy)
                        + p(y0, x1) * fx * (1.0 - fy)
                        + p(y1, x0) * (1.0 - fx) * fy
                        + p(y1, x1) * fx * fy;
                    out[(ch * s + y) * s + x] =
                        ((v - 127.5) * contrast + 127.5 + brightness).clamp(0.0, 255.0);
                }
            }
        }
        out
    }
}
