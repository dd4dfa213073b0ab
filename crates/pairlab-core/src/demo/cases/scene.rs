//! A sampled scene (every random quantity of one image) and its density field.

use super::anatomy::{
    AIR, GRID, Heart, Lung, Nodule, Ptx, VESSEL_DEPTH, VESSEL_ROOTS, Vessel, grow_vessels,
};
use super::devices::{Box2, DeviceGeo, Stroke};
use super::draw::{Px, band, bump, bump_sq, edge, edge_k, fract, seg_dist, smooth01, value_noise};
use super::{CARDIO, Case, DEVICES, EFFUSION, LESION, PTX, Rng};

pub(super) struct Scene {
    pub(super) off_u: f32,
    pub(super) off_v: f32,
    pub(super) scale: f32,
    pub(super) inv_scale: f32,
    pub(super) cos: f32,
    pub(super) sin: f32,
    pub(super) exposure: f32,
    pub(super) gamma: f32,
    pub(super) noise_amp: f32,
    pub(super) noise_seed: u64,
    pub(super) body_w: f32,
    pub(super) neck_w: f32,
    pub(super) shoulder_v: f32,
    pub(super) inv_shoulder: f32,
    pub(super) lungs: [Lung; 2],
    pub(super) carina: f32,
    pub(super) knob_v: f32,
    pub(super) heart: Heart,
    pub(super) hilum: [(f32, f32); 2],
    pub(super) clav_v: [f32; 2],
    pub(super) inv_rib_sp: f32,
    pub(super) rib_ph: [f32; 2],
    pub(super) rib_k: f32,
    pub(super) inv_vert_sp: f32,
    pub(super) vert_ph: f32,
    pub(super) mottle: Vec<f32>,
    pub(super) vessels: Vec<Vessel>,
    pub(super) effusion: [f32; 2],
    pub(super) ptx: Option<Ptx>,
    pub(super) nodule: Option<Nodule>,
    pub(super) strokes: Vec<Stroke>,
    pub(super) boxes: Vec<Box2>,
}

impl Scene {
    /// Draws every random quantity (always the same number of draws, whatever the case)
    /// and keeps those the case needs.
    pub(super) fn sample(case: &Case, rng: &mut Rng) -> Scene {
        let off_u = rng.range(-0.02, 0.02);
        let off_v = rng.range(-0.01, 0.03);
        let scale = rng.range(0.94, 1.03);
        let tilt = rng.range(-0.035, 0.035);
        let exposure = rng.range(0.92, 1.08);
        let gamma = rng.range(1.0, 1.3);
        let noise_amp = rng.range(0.008, 0.018);
        let noise_seed = rng.next_u64();
        let body_w = rng.range(0.455, 0.49);
        let neck_w = rng.range(0.095, 0.115);
        let shoulder_v = rng.range(0.2, 0.26);

        let (lungs, carina, knob_v) = sample_lungs(rng);
        let (heart, big_heart) = sample_heart(case, &lungs, rng);

        let hilum = [
            (rng.range(0.095, 0.115), rng.range(0.4, 0.45)),
            (rng.range(0.095, 0.115), rng.range(0.38, 0.43)),
        ];
        let clav_v = [rng.range(0.08, 0.11), rng.range(0.08, 0.11)];
        let rib_sp = rng.range(0.066, 0.076);
        let rib_ph = [rng.range(0.0, 1.0), rng.range(0.0, 1.0)];
        let rib_k = rng.range(0.04, 0.06);
        let vert_sp = rng.range(0.045, 0.052);
        let vert_ph = rng.range(0.0, 1.0);
        let mottle: Vec<f32> = (0..GRID * GRID).map(|_| rng.f64() as f32).collect();
        let vessels = sample_vessels(&hilum, rng);

        let effusion = sample_effusion(case, rng);
        let ptx = sample_ptx(case, &lungs, rng);
        let nodule = sample_nodule(case, &lungs, &big_heart, rng);
        let (strokes, boxes) = sample_devices(case, carina, &lungs[1], &heart, rng);

        Scene {
            off_u,
            off_v,
            scale,
            inv_scale: 1.0 / scale,
            cos: tilt.cos(),
            sin: tilt.sin(),
            exposure,
            gamma,
            noise_amp,
            noise_seed,
            body_w,
            neck_w,
            shoulder_v,
            inv_shoulder: 1.0 / shoulder_v,
            lungs,
            carina,
            knob_v,
            heart,
            hilum,
            clav_v,
            inv_rib_sp: 1.0 / rib_sp,
            rib_ph,
            rib_k,
            inv_vert_sp: 1.0 / vert_sp,
            vert_ph,
            mottle,
            vessels,
            effusion,
            ptx,
            nodule,
            strokes,
            boxes,
        }
    }

    /// Half width of the body silhouette at height v: neck, sloping shoulders, chest.
    /// Also returns the slope d(half)/dv, to keep the outline's blur even.
    fn body_half(&self, v: f32) -> (f32, f32) {
        let x = (v * self.inv_shoulder).clamp(0.0, 1.0);
        let s = 1.0 - (1.0 - x) * (1.0 - x);
        let taper = if v > 0.5 { 0.025 } else { 0.0 };
        let half = self.neck_w + (self.body_w - self.neck_w) * s - taper * (v - 0.5).max(0.0);
        let slope = if v > 0.0 && v < self.shoulder_v {
            (self.body_w - self.neck_w) * 2.0 * (1.0 - x) * self.inv_shoulder
        } else {
            0.0
        } - taper;
        (half, slope)
    }

    /// Distance from the midline of the lung's medial border (mediastinum, aortic knob).
    fn medial_edge(&self, side: usize, v: f32) -> f32 {
        let m = 0.058 + 0.022 * smooth01((v - 0.12) * (1.0 / 0.25));
        if side == 1 {
            m + 0.03 * bump((v - self.knob_v) * (1.0 / 0.06))
        } else {
            m + 0.008 * bump((v - 0.3) * (1.0 / 0.1))
        }
    }

    /// Maps image position (fractions of the side) to anatomy.
    pub(super) fn to_anat(&self, x: f32, y: f32) -> (f32, f32) {
        let qx = (x - 0.5 - self.off_u) * self.inv_scale;
        let qy = (y - 0.5 - self.off_v) * self.inv_scale;
        (
            0.5 + self.cos * qx - self.sin * qy,
            0.5 + self.sin * qx + self.cos * qy,
        )
    }

    /// Maps anatomy to image position (fractions of the side).
    pub(super) fn to_image(&self, u: f32, v: f32) -> (f32, f32) {
        let (a, b) = (u - 0.5, v - 0.5);
        let qx = self.cos * a + self.sin * b;
        let qy = -self.sin * a + self.cos * b;
        (
            0.5 + self.off_u + self.scale * qx,
            0.5 + self.off_v + self.scale * qy,
        )
    }

    /// Density (0 = air, about 1 = bone/metal) at anatomical (u, v), and how much of the
    /// stamped vessel density shows here (aerated lung only); `px` is the sample spacing.
    pub(super) fn density(&self, u: f32, v: f32, px: &Px) -> (f32, f32) {
        let du = u - 0.5;
        let t = du.abs();
        let side = usize::from(du > 0.0);
        let (half, slope) = self.body_half(v);
        let body = edge((half - t) / (1.0 + slope * slope).sqrt(), 0.01 + px.aa);
        if body <= 0.0 {
            return (AIR, 0.0);
        }
        let mut d = soft_tissue(t, v, half, body);
        self.add_spine(&mut d, t, v, px);
        self.add_airways(&mut d, t, v, px);

        let lung = self.lungs[side];
        let diaphragm = lung.diaphragm(t);
        let at = At {
            v,
            t,
            side,
            lung,
            diaphragm,
            above: edge_k(diaphragm - v, px.k15),
        };
        let (e, in_lung) = self.lung_cover(&at, px);

        let heart = self.heart.cover(u, v);
        self.add_heart_and_abdomen(&mut d, heart, body, &at, px);

        let mut gain = 0.0;
        if in_lung > 0.0 {
            gain = self.add_lung_field(&mut d, (u, e, in_lung), heart, &at, px);
        }
        self.add_ribs(&mut d, in_lung, &at);
        self.add_clavicles(&mut d, &at, px);
        (d, gain)
    }

    /// Adds the spine: vertebral bodies, pedicles, darker disc spaces.
    fn add_spine(&self, d: &mut f32, t: f32, v: f32, px: &Px) {
        if t < 0.05 {
            let spine = edge_k(0.034 - t, px.k3) * edge(v - 0.03, 0.03);
            let f = fract(v * self.inv_vert_sp + self.vert_ph);
            let disc = band(f, 0.0, 0.12, 0.06);
            let pedicle = bump((t - 0.022) * (1.0 / 0.008)) * band(f, 0.3, 0.6, 0.1);
            *d += spine * (0.06 - 0.015 * disc + 0.025 * pedicle);
        }
    }

    /// Takes away the air of the trachea and main bronchi.
    fn add_airways(&self, d: &mut f32, t: f32, v: f32, px: &Px) {
        if t < 0.1 && v < self.carina + 0.09 {
            let trachea = edge_k(0.015 - t, px.k15) * edge(self.carina - v, 0.01);
            let bd = seg_dist(t, v, 0.0, self.carina, 0.07, self.carina + 0.055);
            let bronchus = edge_k(0.01 - bd, px.k15);
            *d -= 0.11 * trachea.max(bronchus);
        }
    }

    /// The lung outline's value `e` here (see `Lung::outline`) and how much of the point
    /// lies inside the lung (lateral wall, mediastinum, diaphragm), both 0 far from it.
    fn lung_cover(&self, at: &At, px: &Px) -> (f32, f32) {
        let (lung, t, v) = (&at.lung, at.t, at.v);
        let near_lung = t > 0.05
            && t < lung.tc + lung.rx + 0.04
            && v > lung.apex - 0.02
            && v < lung.base + 0.01;
        if near_lung {
            let e = lung.outline(t, v);
            let lateral = edge_k(-e * lung.rx, px.k15);
            let medial = edge_k(t - self.medial_edge(at.side, v), px.k2);
            (e, lateral * medial * at.above)
        } else {
            (0.0, 0.0)
        }
    }

    /// Adds the heart and the abdomen below the diaphragm (liver on the right, gastric
    /// bubble on the left), the two merging where they meet; `heart` is the heart's cover.
    fn add_heart_and_abdomen(&self, d: &mut f32, heart: f32, body: f32, at: &At, px: &Px) {
        let (lung, t, v) = (&at.lung, at.t, at.v);
        let mut solid = 0.07 * heart;
        if v > at.diaphragm - 0.02 {
            let below = (1.0 - at.above) * edge(lung.tc + lung.rx + 0.01 - t, 0.03);
            solid = solid.max(below * if at.side == 0 { 0.09 } else { 0.075 });
            if at.side == 1 {
                // Dome of gas over a flat fluid level.
                let level = at.diaphragm + 0.045;
                let gx = (t - lung.tc) * (1.0 / 0.05);
                let gy = ((v - level) * (1.0 / 0.03)).min(0.0);
                let r2 = gx * gx + gy * gy;
                if r2 < 1.5 {
                    let gas = edge(1.0 - r2, 0.4) * edge_k(level - v, px.k15);
                    *d -= 0.05 * gas * (1.0 - at.above);
                }
            }
        }

        *d += solid * body;
    }

    /// Adds the aerated lung (less any effusion, a pneumothorax's rim and line), the
    /// hilum, vessels and mottle, where `cover` is (u, the outline's value, the share
    /// inside the lung); returns how much of the vessel density shows here.
    fn add_lung_field(
        &self,
        d: &mut f32,
        cover: (f32, f32, f32),
        heart: f32,
        at: &At,
        px: &Px,
    ) -> f32 {
        let (u, e, in_lung) = cover;
        let (lung, side, t, v) = (&at.lung, at.side, at.t, at.v);
        let fluid = self.effusion_fluid(at);
        let (rim, line) = self.ptx_rim_and_line(e, at, px);
        let visible = in_lung * (1.0 - 0.92 * heart) * (1.0 - 0.95 * fluid);
        let lower = lung.lower(v);
        let upper = ((lung.apex + 0.1 - v) * 10.0).clamp(0.0, 1.0);
        let air = 0.32 - 0.03 * lower - 0.07 * upper + 0.09 * rim;
        *d -= air * visible;

        // Hilum, vessels and a faint parenchymal mottle.
        let (ht, hv) = self.hilum[side];
        let (a1, b1) = ((t - ht) * (1.0 / 0.055), (v - hv) * (1.0 / 0.055));
        let (a2, b2) = ((t - ht - 0.012) * 25.0, (v - hv - 0.05) * 25.0);
        let hil = 0.1 * bump_sq(a1 * a1 + b1 * b1) + 0.06 * bump_sq(a2 * a2 + b2 * b2);
        let m = value_noise(&self.mottle, u * 18.0, v * 18.0) - 0.5;
        *d += (hil + 0.04 * m * (1.0 - rim)) * visible;
        let gain = visible * (1.0 - rim);
        *d += 0.16 * line * in_lung * (1.0 - fluid);
        gain
    }

    /// How much pleural fluid fills the point: fluid in the costophrenic angle rising
    /// along the lateral wall (a meniscus); larger effusions lift the whole level.
    fn effusion_fluid(&self, at: &At) -> f32 {
        let (lung, t, v) = (&at.lung, at.t, at.v);
        let h = self.effusion[at.side];
        if h > 0.0 {
            let mx = ((t - lung.tc + lung.rx) * (0.5 * lung.inv_rx)).clamp(0.0, 1.0);
            let top = lung.base - 0.7 * lung.dome - h * (0.15 + 0.85 * mx * mx * mx);
            smooth01((v - top) * (1.0 / 0.035))
        } else {
            0.0
        }
    }

    /// A pneumothorax's air rim and visceral pleural line at the point (lung edge pulled
    /// away from the apex and lateral wall); both 0 without one on this side.
    fn ptx_rim_and_line(&self, e: f32, at: &At, px: &Px) -> (f32, f32) {
        let (lung, v) = (&at.lung, at.v);
        let mut rim = 0.0;
        let mut line = 0.0;
        if let Some(p) = self.ptx
            && p.side == at.side
            && v < p.v_end
        {
            let fv = ((p.v_end - v) / (p.v_end - lung.apex))
                .clamp(0.0, 1.0)
                .sqrt();
            let depth = p.depth * fv;
            let s = (e + depth) * lung.rx;
            rim = edge_k(s, px.k1);
            line = edge_k(0.002 + 0.5 * px.aa - s.abs(), px.k1) * smooth01(fv * 4.0);
        }
        (rim, line)
    }

    /// Adds the ribs: posterior arcs and fainter anterior ones, mostly seen over the lungs.
    fn add_ribs(&self, d: &mut f32, in_lung: f32, at: &At) {
        let (lung, side, t, v) = (&at.lung, at.side, at.t, at.v);
        let rib_zone = t > 0.03
            && t < lung.tc + lung.rx + 0.04
            && v > lung.apex - 0.06
            && v < lung.base + 0.06;
        if rib_zone {
            let rib_mask = edge(lung.tc + lung.rx + 0.03 - t, 0.02)
                * edge(t - 0.035, 0.01)
                * edge(v - lung.apex + 0.04, 0.03)
                * edge(lung.base + 0.03 - v, 0.04);
            let c = -0.3 * t + 1.5 * t * t;
            let f = fract((v - c) * self.inv_rib_sp + self.rib_ph[side]);
            let post = band(f, 0.05, 0.34, 0.1) * (1.0 + 0.7 * band(f, 0.28, 0.36, 0.06));
            let f2 = fract((v + 0.5 * t) * (self.inv_rib_sp * (1.0 / 1.3)) + self.rib_ph[1 - side]);
            let ant = band(f2, 0.1, 0.32, 0.12);
            *d += rib_mask * (0.2 + 0.8 * in_lung) * self.rib_k * (post + 0.3 * ant);
        }
    }

    /// Adds the clavicles: from the sternal notch up and out to the shoulders.
    fn add_clavicles(&self, d: &mut f32, at: &At, px: &Px) {
        let (t, v) = (at.t, at.v);
        if t < 0.4 && v < 0.25 {
            let tt = ((t - 0.035) * (1.0 / 0.34)).clamp(0.0, 1.0);
            let vc = self.clav_v[at.side] + 0.06 * (1.0 - tt) - 0.02 * tt * (1.0 - tt);
            let hw = 0.016 - 0.006 * tt;
            let clav =
                edge_k(hw - (v - vc).abs(), px.k15) * edge(t - 0.035, 0.01) * edge(0.375 - t, 0.02);
            let cortex = 1.0 + 0.5 * edge_k((v - vc).abs() - 0.6 * hw, px.k15);
            *d += 0.11 * clav * cortex * (1.0 - 0.3 * tt);
        }
    }
}

/// Where a density sample lies: height v, distance t from the midline, side (0 image
/// left), that side's lung, the diaphragm's height there and how far above it (0..1).
struct At {
    v: f32,
    t: f32,
    side: usize,
    lung: Lung,
    diaphragm: f32,
    above: f32,
}

/// Body soft tissue at distance t from the midline and height v (`half` the body's half
/// width there, `body` its edge): chest wall, pectoral and breast tissue, mediastinum.
fn soft_tissue(t: f32, v: f32, half: f32, body: f32) -> f32 {
    let rel = (t / half).min(1.0);
    let mut d = AIR + body * (0.32 + 0.19 * (1.0 - rel * rel).sqrt());
    // Pectoral / breast soft tissue over the lower lateral chest.
    if t > 0.12 && (0.4..0.84).contains(&v) {
        d += 0.04 * bump((v - 0.62) * (1.0 / 0.22)) * smooth01((t - 0.12) * (1.0 / 0.15));
    }
    // Dense mediastinum.
    if t < 0.1 {
        d += 0.08 * edge(0.085 - t, 0.03) * edge(v - 0.12, 0.05);
    }
    d
}

/// Draws both lungs' outlines, then the carina's and the aortic knob's heights.
fn sample_lungs(rng: &mut Rng) -> ([Lung; 2], f32, f32) {
    let apex = rng.range(0.09, 0.12);
    let vmid = rng.range(0.34, 0.4);
    let mut lungs = [Lung::new(0.2, 0.17, 0.1, 0.4, 0.75, 0.1); 2];
    for (i, lung) in lungs.iter_mut().enumerate() {
        let tc = rng.range(0.215, 0.235);
        let rx = rng.range(0.165, 0.18);
        // The right hemidiaphragm (image left) sits a little higher.
        let base = if i == 0 {
            rng.range(0.73, 0.77)
        } else {
            rng.range(0.76, 0.8)
        };
        let apex = apex + rng.range(-0.01, 0.01);
        *lung = Lung::new(tc, rx, apex, vmid, base, rng.range(0.085, 0.115));
    }
    let carina = rng.range(0.29, 0.33);
    let knob_v = rng.range(0.25, 0.3);
    (lungs, carina, knob_v)
}

/// Draws the heart the case shows and the enlarged one (which the nodule keeps clear of).
fn sample_heart(case: &Case, lungs: &[Lung; 2], rng: &mut Rng) -> (Heart, Heart) {
    // Heart: a normal and an enlarged size are both drawn; the case picks one.
    let normal_w = rng.range(0.3, 0.34);
    let big_w = rng.range(0.45, 0.5);
    let normal_ry = rng.range(0.16, 0.18);
    let big_ry = rng.range(0.19, 0.21);
    let heart_shift = rng.range(-0.01, 0.02);
    let heart_of = |w: f32, ry: f32| Heart {
        cx: 0.5 + heart_shift,
        cy: lungs[1].base - 0.15,
        wl: w * 0.42,
        wr: w * 0.58,
        ry_top: ry,
        ry_bot: 0.4,
    };
    let big_heart = heart_of(big_w, big_ry);
    let heart = if case.present[CARDIO] {
        big_heart
    } else {
        heart_of(normal_w, normal_ry)
    };
    (heart, big_heart)
}

/// Grows the vessel trees from each hilum.
fn sample_vessels(hilum: &[(f32, f32); 2], rng: &mut Rng) -> Vec<Vessel> {
    let mut vessels = Vec::new();
    for (side, &(ht, hv)) in hilum.iter().enumerate() {
        for k in 0..VESSEL_ROOTS {
            let f = (k as f32 + rng.range(0.2, 0.8)) / VESSEL_ROOTS as f32;
            let th = -1.3 + 2.75 * f;
            // Lower-zone vessels are larger (gravity).
            let gain = 0.12 + 0.05 * f;
            let start = (ht + 0.01, hv + 0.03 * (f - 0.5));
            grow_vessels(
                &mut vessels,
                rng,
                side,
                (ht, hv),
                start,
                th,
                0.075,
                0.0065,
                gain,
                VESSEL_DEPTH,
            );
        }
    }
    vessels
}

/// Draws the effusion's height on each side (zero on both when the case has none).
fn sample_effusion(case: &Case, rng: &mut Rng) -> [f32; 2] {
    // Effusion: one side (either) or both; small, moderate or large.
    let eff_side = rng.below(3) as usize;
    let eff_h = [rng.range(0.06, 0.2), rng.range(0.06, 0.2)];
    if case.present[EFFUSION] {
        match eff_side {
            0 => [eff_h[0], 0.0],
            1 => [0.0, eff_h[1]],
            _ => eff_h,
        }
    } else {
        [0.0, 0.0]
    }
}

/// Draws a pneumothorax's side, depth and extent; kept when the case has one.
fn sample_ptx(case: &Case, lungs: &[Lung; 2], rng: &mut Rng) -> Option<Ptx> {
    let ptx_side = rng.below(2) as usize;
    let ptx_depth = rng.range(0.22, 0.45);
    let ptx_len = rng.range(0.35, 0.6);
    case.present[PTX].then(|| {
        let lung = lungs[ptx_side];
        Ptx {
            side: ptx_side,
            depth: ptx_depth,
            v_end: lung.apex + ptx_len * (lung.base - lung.apex),
        }
    })
}

/// Draws a nodule's size and spot; kept when the case has a lesion.
fn sample_nodule(
    case: &Case,
    lungs: &[Lung; 2],
    big_heart: &Heart,
    rng: &mut Rng,
) -> Option<Nodule> {
    // Nodule: the first of a few candidate spots clear of even a large heart.
    let nod_side = rng.below(2) as usize;
    let nod_r = rng.range(0.009, 0.02);
    let mut spot = (0.0, 0.0);
    for _ in 0..4 {
        let lung = lungs[nod_side];
        let t = lung.tc + lung.rx * rng.range(-0.35, 0.6);
        let v = lung.apex + 0.04 + (lung.base - lung.apex) * rng.range(0.1, 0.62);
        let u = if nod_side == 0 { 0.5 - t } else { 0.5 + t };
        spot = (u, v);
        if big_heart.cover(u, v) < 0.01 && t > 0.12 {
            break;
        }
    }
    case.present[LESION].then_some(Nodule {
        u: spot.0,
        v: spot.1,
        r: nod_r,
    })
}

/// Draws the devices (their kinds and jitter) and, when the case has them, their
/// strokes and boxes; `lung` is the image-right lung, beside the heart's apex.
fn sample_devices(
    case: &Case,
    carina: f32,
    lung: &Lung,
    heart: &Heart,
    rng: &mut Rng,
) -> (Vec<Stroke>, Vec<Box2>) {
    // Devices: one or two of endotracheal tube, enteric tube, jugular line, pacemaker.
    let kind1 = rng.below(4) as usize;
    let two = rng.chance(0.35);
    let kind2 = (kind1 + 1 + rng.below(3) as usize) % 4;
    let mut j = [0.0f32; 8];
    for x in &mut j {
        *x = rng.range(-1.0, 1.0);
    }
    let mut strokes = Vec::new();
    let mut boxes = Vec::new();
    if case.present[DEVICES] {
        let geo = DeviceGeo {
            carina,
            base: lung.base,
            tc: lung.tc,
            heart_cy: heart.cy,
            j,
        };
        geo.add(kind1, &mut strokes, &mut boxes);
        if two {
            geo.add(kind2, &mut strokes, &mut boxes);
        }
    }
    (strokes, boxes)
}
