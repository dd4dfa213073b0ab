//! Rasterising a scene: the density-to-grey table, stamped vessel and device buffers,
//! and the final composite with per-pixel noise.

use image::GrayImage;

use super::anatomy::{AIR, LUT_MAX, LUT_N, Nodule};
use super::devices::Box2;
use super::draw::{Px, catmull_rom, edge, pixel_span, stamp_segment, stamp_soft};
use super::scene::Scene;
use super::{Case, Rng, mix64};

/// Renders a greyscale chest-radiograph-like picture of `size`×`size` (meant for
/// 128..=1024; any size works): dark lungs inside a brighter body, spine/mediastinum,
/// ribs faintly, a heart shadow whose width is much larger when Cardiomegaly, a bright
/// meniscus filling a costophrenic angle / lung base for Pleural Effusion, a dark
/// lung-marking-free region with a visible pleural line at one apex for Pneumothorax, a
/// small bright round nodule for Lung Lesion, a thin bright line (tube/line) or a
/// pacemaker for Support Devices; plus random variation (position, size, noise) from
/// `rng`. Uses the same number of random draws whatever the case and size.
pub fn render(case: &Case, size: u32, rng: &mut Rng) -> GrayImage {
    let scene = Scene::sample(case, rng);
    let n = size as usize;
    let mut img = GrayImage::new(size, size);
    if n == 0 {
        return img;
    }
    // The smooth anatomy is sampled on a grid of about 128–250 points a side and
    // interpolated; vessels, devices, the nodule and noise are drawn at full size.
    let step = (n / 128).clamp(1, 4);
    let nf = n as f32;
    let spacing = Px::new(step as f32 / (nf * scene.scale));
    let m = n.div_ceil(step) + 1;
    let mut dens = vec![0.0f32; m * m];
    let mut gain = vec![0.0f32; m * m];
    for j in 0..m {
        let yf = (j * step) as f32 / nf;
        for i in 0..m {
            let (u, v) = scene.to_anat((i * step) as f32 / nf, yf);
            let (d, g) = scene.density(u, v, &spacing);
            dens[j * m + i] = d;
            gain[j * m + i] = g;
        }
    }
    let axis: Vec<(usize, f32)> = (0..n)
        .map(|x| {
            let f = (x as f32 + 0.5) / step as f32;
            let i = (f as usize).min(m - 2);
            (i, f - i as f32)
        })
        .collect();
    let vessels = scene.vessel_map(n);
    let overlay = scene.overlay(n);
    let lut = scene.lut();
    let to_lut = (LUT_N - 1) as f32 / LUT_MAX;
    let buf: &mut [u8] = &mut img;
    for (y, row) in buf.chunks_exact_mut(n).enumerate() {
        let (j, wy) = axis[y];
        let (r0, r1) = (j * m, (j + 1) * m);
        for (x, px) in row.iter_mut().enumerate() {
            let (i, wx) = axis[x];
            let lerp2 = |g: &[f32]| {
                let top = g[r0 + i] + (g[r0 + i + 1] - g[r0 + i]) * wx;
                let bot = g[r1 + i] + (g[r1 + i + 1] - g[r1 + i]) * wx;
                top + (bot - top) * wy
            };
            let idx = y * n + x;
            let h = mix64(scene.noise_seed ^ (idx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let a = (h & 0xFFFF) as f32 / 65535.0;
            let b = ((h >> 16) & 0xFFFF) as f32 / 65535.0;
            let noise = (a + b - 1.0) * scene.noise_amp;
            let d = lerp2(&dens) + vessels[idx] * lerp2(&gain) + overlay[idx] + noise;
            let k = (d * to_lut).clamp(0.0, (LUT_N - 1) as f32) as usize;
            *px = lut[k];
        }
    }
    img
}

impl Scene {
    /// Density-to-grey table: a film-like saturating curve, then exposure and gamma.
    fn lut(&self) -> Vec<u8> {
        let k = 1.2f32;
        let norm = 1.0 / (1.0 - (-k).exp());
        (0..LUT_N)
            .map(|i| {
                let d = i as f32 * (LUT_MAX / (LUT_N - 1) as f32);
                let x = ((d - AIR) * self.exposure).clamp(0.0, 1.0);
                let b = ((1.0 - (-k * x).exp()) * norm).powf(self.gamma);
                (b * 255.0).round() as u8
            })
            .collect()
    }

    /// Maps (u, v) to pixel coordinates (pixel centres at integers).
    fn to_pixel(&self, u: f32, v: f32, nf: f32) -> (f32, f32) {
        let (x, y) = self.to_image(u, v);
        (x * nf - 0.5, y * nf - 0.5)
    }

    /// Stamps the vessel trees, soft-edged, into an n×n buffer.
    fn vessel_map(&self, n: usize) -> Vec<f32> {
        let mut buf = vec![0.0f32; n * n];
        let nf = n as f32;
        let px_per_unit = nf * self.scale;
        for s in &self.vessels {
            if s.strength.0 <= 0.0 {
                continue;
            }
            let a = self.to_pixel(s.a.0, s.a.1, nf);
            let b = self.to_pixel(s.b.0, s.b.1, nf);
            let ra = 2.2 * s.hw.0 * px_per_unit + 1.2;
            let rb = 2.2 * s.hw.1 * px_per_unit + 1.2;
            stamp_soft(&mut buf, n, a, b, (ra, rb), s.strength);
        }
        buf
    }

    /// Stamps the device strokes and boxes, anti-aliased, into an n×n overlay.
    fn overlay(&self, n: usize) -> Vec<f32> {
        let mut buf = vec![0.0f32; n * n];
        let nf = n as f32;
        let px_per_unit = nf * self.scale;
        for s in &self.strokes {
            let pts: Vec<(f32, f32)> = catmull_rom(&s.pts, 12)
                .into_iter()
                .map(|(u, v)| self.to_pixel(u, v, nf))
                .collect();
            let hw = (s.hw * px_per_unit).max(0.55);
            for w in pts.windows(2) {
                stamp_segment(&mut buf, n, w[0], w[1], hw, s.strength);
            }
        }
        for b in &self.boxes {
            self.stamp_box(&mut buf, n, b);
        }
        if let Some(nod) = self.nodule {
            self.stamp_nodule(&mut buf, n, &nod);
        }
        buf
    }

    /// Adds a small dense sphere (anti-aliased disc, brighter centre).
    fn stamp_nodule(&self, buf: &mut [f32], n: usize, nod: &Nodule) {
        let nf = n as f32;
        let (cx, cy) = self.to_pixel(nod.u, nod.v, nf);
        let r_px = nod.r * nf * self.scale;
        let (xa, xb) = pixel_span(cx - r_px - 2.0, cx + r_px + 2.0, n);
        let (ya, yb) = pixel_span(cy - r_px - 2.0, cy + r_px + 2.0, n);
        for y in ya..yb {
            for x in xa..xb {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                let dist = (dx * dx + dy * dy).sqrt();
                let cov = (r_px + 0.5 - dist).clamp(0.0, 1.0);
                if cov > 0.0 {
                    let q = (dist / r_px).min(1.0);
                    buf[y * n + x] += 0.26 * cov * (0.6 + 0.4 * (1.0 - q * q).sqrt());
                }
            }
        }
    }

    fn stamp_box(&self, buf: &mut [f32], n: usize, b: &Box2) {
        let nf = n as f32;
        let reach = 0.5 * (b.w + b.h) + 0.02;
        let (x0, y0) = self.to_image(b.u - reach, b.v - reach);
        let (x1, y1) = self.to_image(b.u + reach, b.v + reach);
        let (xa, xb) = pixel_span(x0.min(x1) * nf, x0.max(x1) * nf, n);
        let (ya, yb) = pixel_span(y0.min(y1) * nf, y0.max(y1) * nf, n);
        let aa = 1.0 / (nf * self.scale);
        let rad = 0.012;
        for y in ya..yb {
            for x in xa..xb {
                let (u, v) = self.to_anat((x as f32 + 0.5) / nf, (y as f32 + 0.5) / nf);
                let qx = (u - b.u).abs() - 0.5 * b.w + rad;
                let qy = (v - b.v).abs() - 0.5 * b.h + rad;
                let outside = (qx.max(0.0).powi(2) + qy.max(0.0).powi(2)).sqrt();
                let sd = outside + qx.max(qy).min(0.0) - rad;
                let cov = edge(-sd, 1.5 * aa);
                let cell = &mut buf[y * n + x];
                *cell = cell.max(cov * b.strength);
            }
        }
    }
}
