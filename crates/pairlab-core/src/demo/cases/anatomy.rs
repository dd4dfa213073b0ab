//! Anatomical building blocks of a scene: lungs, heart, the pathology shapes and the
//! lung vessel trees, plus the rendering constants they share.
//!
//! Anatomy lives in normalised coordinates (u across, v down, both 0..1 over the image;
//! image left is the patient's right; t = |u - 0.5| is the distance from the midline).
//! Sample points are mapped into them through a small random shift, scale and tilt, and
//! a "density" is summed from smooth shapes (higher is whiter); a film-like look-up
//! table turns density into grey. The smooth anatomy is evaluated on a grid of about
//! 128–250 points a side and interpolated (this keeps 256 px at a few milliseconds);
//! lung vessels, devices and the nodule are stamped, anti-aliased, into full-size
//! buffers, the vessels then masked by the aerated lung, and per-pixel noise is added.

use super::Rng;
use super::draw::{edge, smooth01};

/// Density of air outside the body.
pub(super) const AIR: f32 = 0.02;
/// Side of the mottle (value noise) grid.
pub(super) const GRID: usize = 24;
/// Vessel trees: roots per hilum and branching depth (fixed, so draws are fixed).
pub(super) const VESSEL_ROOTS: usize = 6;
pub(super) const VESSEL_DEPTH: u32 = 3;
/// Density-to-grey look-up table size and the density it spans.
pub(super) const LUT_N: usize = 1024;
pub(super) const LUT_MAX: f32 = 1.3;
#[derive(Clone, Copy, Debug)]
pub(super) struct Lung {
    /// Distance of the lung's centre from the midline.
    pub(super) tc: f32,
    /// Half width.
    pub(super) rx: f32,
    pub(super) apex: f32,
    /// Below this the lateral wall runs straight down.
    pub(super) vmid: f32,
    /// Costophrenic angle height.
    pub(super) base: f32,
    /// Height of the diaphragm dome above `base`.
    pub(super) dome: f32,
    /// 1 / rx, 1 / (vmid - apex), 1 / (base - vmid).
    pub(super) inv_rx: f32,
    pub(super) inv_upper: f32,
    pub(super) inv_lower: f32,
}

impl Lung {
    pub(super) fn new(tc: f32, rx: f32, apex: f32, vmid: f32, base: f32, dome: f32) -> Lung {
        Lung {
            tc,
            rx,
            apex,
            vmid,
            base,
            dome,
            inv_rx: 1.0 / rx,
            inv_upper: 1.0 / (vmid - apex),
            inv_lower: 1.0 / (base - vmid),
        }
    }

    /// 0 at `vmid`, 1 at the base.
    pub(super) fn lower(&self, v: f32) -> f32 {
        ((v - self.vmid) * self.inv_lower).clamp(0.0, 1.0)
    }

    /// Elliptical distance from the lung's upper/lateral outline: -1 deep inside, 0 on it.
    pub(super) fn outline(&self, t: f32, v: f32) -> f32 {
        let dy = ((self.vmid - v) * self.inv_upper).max(0.0);
        // The apex sits a little medial to the lung's centre; the base flares out.
        let flare = 0.025 * self.lower(v);
        let dx = (t - self.tc + 0.035 * dy.min(1.0) - flare) * self.inv_rx;
        (dx * dx + dy * dy).sqrt() - 1.0
    }

    pub(super) fn diaphragm(&self, t: f32) -> f32 {
        let dz = ((t - self.tc + 0.2 * self.rx) * (self.inv_rx * (1.0 / 1.2))).clamp(-1.0, 1.0);
        self.base - self.dome * (1.0 - dz * dz)
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Ptx {
    pub(super) side: usize,
    /// Depth of the air rim at the apex, as a fraction of the lung's half width.
    pub(super) depth: f32,
    /// Where the rim has tapered away.
    pub(super) v_end: f32,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Nodule {
    pub(super) u: f32,
    pub(super) v: f32,
    pub(super) r: f32,
}

/// A straight vessel segment in (u, v).
#[derive(Clone, Copy, Debug)]
pub(super) struct Vessel {
    pub(super) a: (f32, f32),
    pub(super) b: (f32, f32),
    /// Half widths and densities at a and b.
    pub(super) hw: (f32, f32),
    pub(super) strength: (f32, f32),
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Heart {
    pub(super) cx: f32,
    pub(super) cy: f32,
    /// Half widths to the image left (right atrium) and right (left ventricle).
    pub(super) wl: f32,
    pub(super) wr: f32,
    pub(super) ry_top: f32,
    pub(super) ry_bot: f32,
}

impl Heart {
    /// Soft coverage 0..1 of the heart shadow: pear-shaped, widest low down.
    pub(super) fn cover(&self, u: f32, v: f32) -> f32 {
        let top = self.cy - self.ry_top;
        let du = u - self.cx;
        if v < top - 0.02 || du > self.wr + 0.02 || -du > self.wl + 0.02 {
            return 0.0;
        }
        let s = smooth01((v - top) / self.ry_top);
        // Narrower towards the top (about 0.72 of the full width there).
        let narrow = 1.39 - 0.39 * s;
        let w = if du < 0.0 { self.wl } else { self.wr };
        let hy = (v - self.cy)
            / if v < self.cy {
                self.ry_top
            } else {
                self.ry_bot
            };
        let hx = du * narrow / w;
        let hr = (hx * hx + hy * hy).sqrt();
        edge((1.0 - hr) * 0.12, 0.007)
    }
}

/// Density of a vessel at distance r from its hilum: strong centrally, gone in the
/// outer third of the lung.
fn vessel_fade(r: f32) -> f32 {
    (1.0 - r / 0.3).clamp(0.0, 1.0).powf(1.4)
}

/// Grows one vessel tree in (t, v) from `p` at angle `th` (0 = straight out, positive
/// downwards), each branch a slightly bent pair of segments, tapering and fading away
/// from the hilum `origin`. Always makes the same number of draws.
#[expect(
    clippy::too_many_arguments,
    reason = "one recursive step of a branching tree: its position, direction, width and depth are the recursion's state"
)]
pub(super) fn grow_vessels(
    out: &mut Vec<Vessel>,
    rng: &mut Rng,
    side: usize,
    origin: (f32, f32),
    p: (f32, f32),
    th: f32,
    len: f32,
    hw: f32,
    gain: f32,
    depth: u32,
) {
    let th = (th + rng.range(-0.18, 0.18)).clamp(-1.75, 1.8);
    let len = len * rng.range(0.8, 1.2);
    let spread = rng.range(0.25, 0.55);
    let th2 = th + rng.range(-0.3, 0.3);
    let mid = (p.0 + 0.5 * len * th.cos(), p.1 + 0.5 * len * th.sin());
    let q = (mid.0 + 0.5 * len * th2.cos(), mid.1 + 0.5 * len * th2.sin());
    let to_uv = |a: (f32, f32)| (if side == 0 { 0.5 - a.0 } else { 0.5 + a.0 }, a.1);
    let s = |a: (f32, f32)| {
        let r = ((a.0 - origin.0).powi(2) + (a.1 - origin.1).powi(2)).sqrt();
        gain * vessel_fade(r)
    };
    out.push(Vessel {
        a: to_uv(p),
        b: to_uv(mid),
        hw: (hw, hw * 0.9),
        strength: (s(p), s(mid)),
    });
    out.push(Vessel {
        a: to_uv(mid),
        b: to_uv(q),
        hw: (hw * 0.9, hw * 0.8),
        strength: (s(mid), s(q)),
    });
    if depth > 0 {
        let (len, hw) = (len * 0.8, hw * 0.72);
        grow_vessels(
            out,
            rng,
            side,
            origin,
            q,
            th2 - spread,
            len,
            hw,
            gain,
            depth - 1,
        );
        grow_vessels(
            out,
            rng,
            side,
            origin,
            q,
            th2 + spread * 0.8,
            len,
            hw,
            gain,
            depth - 1,
        );
    }
}
