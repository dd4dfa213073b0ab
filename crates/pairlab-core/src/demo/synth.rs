//! Synthetic paired chest-radiograph / report corpus for `pairlab demo`.
//!
//! [`render`] draws a greyscale picture that looks roughly like a PA chest X-ray (dark
//! lungs inside a brighter body, spine and mediastinum, ribs, clavicles, heart shadow)
//! whose content follows a [`Case`]: a wide heart for Cardiomegaly, a basal meniscus for
//! Pleural Effusion, an apical lucency with a pleural line for Pneumothorax, a round
//! nodule for Lung Lesion and a radiopaque tube, line or pacemaker for Support Devices.
//! [`write_report`] writes a free-text report for the same case with positive, negated
//! and uncertain statements, and records what it says per finding (CheXpert style:
//! 1 positive, 0 negative, -1 uncertain, `None` not mentioned).
//!
//! Everything is driven by the small [`Rng`], so a seed reproduces the corpus exactly.
//! `render` draws the same amount of randomness whatever the case, so the same seed
//! with a finding switched on or off gives the same anatomy and differs only in that
//! finding. Image and report are independent draws: sides and sizes in the text are not
//! tied to those in the picture, only the presence of each finding is.

use image::GrayImage;

/// Findings the demo knows about, in this order.
pub const FINDINGS: [&str; 5] = [
    "Cardiomegaly",
    "Pleural Effusion",
    "Pneumothorax",
    "Lung Lesion",
    "Support Devices",
];

const CARDIO: usize = 0;
const EFFUSION: usize = 1;
const PTX: usize = 2;
const LESION: usize = 3;
const DEVICES: usize = 4;

/// Deterministic small RNG (SplitMix64), so the demo is reproducible without extra crates.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f64() as f32
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// The SplitMix64 output function (also used as a per-pixel hash).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// What is really in one image.
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub present: [bool; 5],
}

impl Case {
    /// A random case: each pathology in roughly 28–30% of cases (effusion a little more
    /// likely with cardiomegaly), support devices in about 20% (more often with a
    /// pneumothorax, as in real intensive-care films).
    pub fn random(rng: &mut Rng) -> Case {
        let cardio = rng.chance(0.3);
        let effusion = rng.chance(if cardio { 0.42 } else { 0.25 });
        let ptx = rng.chance(0.28);
        let lesion = rng.chance(0.28);
        let devices = rng.chance(if ptx { 0.3 } else { 0.16 });
        Case {
            present: [cardio, effusion, ptx, lesion, devices],
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------
//
// Anatomy lives in normalised coordinates (u across, v down, both 0..1 over the image;
// image left is the patient's right; t = |u - 0.5| is the distance from the midline).
// Sample points are mapped into them through a small random shift, scale and tilt, and
// a "density" is summed from smooth shapes (higher is whiter); a film-like look-up
// table turns density into grey. The smooth anatomy is evaluated on a grid of about
// 128–250 points a side and interpolated (this keeps 256 px at a few milliseconds);
// lung vessels, devices and the nodule are stamped, anti-aliased, into full-size
// buffers, the vessels then masked by the aerated lung, and per-pixel noise is added.

/// Density of air outside the body.
const AIR: f32 = 0.02;
/// Side of the mottle (value noise) grid.
const GRID: usize = 24;
/// Vessel trees: roots per hilum and branching depth (fixed, so draws are fixed).
const VESSEL_ROOTS: usize = 6;
const VESSEL_DEPTH: u32 = 3;
/// Density-to-grey look-up table size and the density it spans.
const LUT_N: usize = 1024;
const LUT_MAX: f32 = 1.3;

#[derive(Clone, Copy, Debug)]
struct Lung {
    /// Distance of the lung's centre from the midline.
    tc: f32,
    /// Half width.
    rx: f32,
    apex: f32,
    /// Below this the lateral wall runs straight down.
    vmid: f32,
    /// Costophrenic angle height.
    base: f32,
    /// Height of the diaphragm dome above `base`.
    dome: f32,
    /// 1 / rx, 1 / (vmid - apex), 1 / (base - vmid).
    inv_rx: f32,
    inv_upper: f32,
    inv_lower: f32,
}

impl Lung {
    fn new(tc: f32, rx: f32, apex: f32, vmid: f32, base: f32, dome: f32) -> Lung {
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
    fn lower(&self, v: f32) -> f32 {
        ((v - self.vmid) * self.inv_lower).clamp(0.0, 1.0)
    }

    /// Elliptical distance from the lung's upper/lateral outline: -1 deep inside, 0 on it.
    fn outline(&self, t: f32, v: f32) -> f32 {
        let dy = ((self.vmid - v) * self.inv_upper).max(0.0);
        // The apex sits a little medial to the lung's centre; the base flares out.
        let flare = 0.025 * self.lower(v);
        let dx = (t - self.tc + 0.035 * dy.min(1.0) - flare) * self.inv_rx;
        (dx * dx + dy * dy).sqrt() - 1.0
    }

    fn diaphragm(&self, t: f32) -> f32 {
        let dz = ((t - self.tc + 0.2 * self.rx) * (self.inv_rx * (1.0 / 1.2))).clamp(-1.0, 1.0);
        self.base - self.dome * (1.0 - dz * dz)
    }
}

#[derive(Clone, Copy, Debug)]
struct Ptx {
    side: usize,
    /// Depth of the air rim at the apex, as a fraction of the lung's half width.
    depth: f32,
    /// Where the rim has tapered away.
    v_end: f32,
}

#[derive(Clone, Copy, Debug)]
struct Nodule {
    u: f32,
    v: f32,
    r: f32,
}

/// A straight vessel segment in (u, v).
#[derive(Clone, Copy, Debug)]
struct Vessel {
    a: (f32, f32),
    b: (f32, f32),
    /// Half widths and densities at a and b.
    hw: (f32, f32),
    strength: (f32, f32),
}

#[derive(Clone, Debug)]
struct Stroke {
    /// Control points (u, v) of a Catmull-Rom curve.
    pts: Vec<(f32, f32)>,
    /// Half width in normalised units.
    hw: f32,
    strength: f32,
}

#[derive(Clone, Copy, Debug)]
struct Box2 {
    u: f32,
    v: f32,
    w: f32,
    h: f32,
    strength: f32,
}

#[derive(Clone, Copy, Debug)]
struct Heart {
    cx: f32,
    cy: f32,
    /// Half widths to the image left (right atrium) and right (left ventricle).
    wl: f32,
    wr: f32,
    ry_top: f32,
    ry_bot: f32,
}

impl Heart {
    /// Soft coverage 0..1 of the heart shadow: pear-shaped, widest low down.
    fn cover(&self, u: f32, v: f32) -> f32 {
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

/// One pixel's size in anatomical units, and reciprocals of edge widths built on it.
struct Px {
    aa: f32,
    k1: f32,
    k15: f32,
    k2: f32,
    k3: f32,
}

impl Px {
    fn new(aa: f32) -> Px {
        Px {
            aa,
            k1: 1.0 / aa,
            k15: 1.0 / (1.5 * aa),
            k2: 1.0 / (2.0 * aa),
            k3: 1.0 / (3.0 * aa),
        }
    }
}

struct Scene {
    off_u: f32,
    off_v: f32,
    scale: f32,
    inv_scale: f32,
    cos: f32,
    sin: f32,
    exposure: f32,
    gamma: f32,
    noise_amp: f32,
    noise_seed: u64,
    body_w: f32,
    neck_w: f32,
    shoulder_v: f32,
    inv_shoulder: f32,
    lungs: [Lung; 2],
    carina: f32,
    knob_v: f32,
    heart: Heart,
    hilum: [(f32, f32); 2],
    clav_v: [f32; 2],
    inv_rib_sp: f32,
    rib_ph: [f32; 2],
    rib_k: f32,
    inv_vert_sp: f32,
    vert_ph: f32,
    mottle: Vec<f32>,
    vessels: Vec<Vessel>,
    effusion: [f32; 2],
    ptx: Option<Ptx>,
    nodule: Option<Nodule>,
    strokes: Vec<Stroke>,
    boxes: Vec<Box2>,
}

/// Density of a vessel at distance r from its hilum: strong centrally, gone in the
/// outer third of the lung.
fn vessel_fade(r: f32) -> f32 {
    (1.0 - r / 0.3).clamp(0.0, 1.0).powf(1.4)
}

/// Grows one vessel tree in (t, v) from `p` at angle `th` (0 = straight out, positive
/// downwards), each branch a slightly bent pair of segments, tapering and fading away
/// from the hilum `origin`. Always makes the same number of draws.
#[allow(clippy::too_many_arguments)]
fn grow_vessels(
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

impl Scene {
    /// Draws every random quantity (always the same number of draws, whatever the case)
    /// and keeps those the case needs.
    fn sample(case: &Case, rng: &mut Rng) -> Scene {
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

        // Effusion: one side (either) or both; small, moderate or large.
        let eff_side = rng.below(3) as usize;
        let eff_h = [rng.range(0.06, 0.2), rng.range(0.06, 0.2)];
        let effusion = if case.present[EFFUSION] {
            match eff_side {
                0 => [eff_h[0], 0.0],
                1 => [0.0, eff_h[1]],
                _ => eff_h,
            }
        } else {
            [0.0, 0.0]
        };

        let ptx_side = rng.below(2) as usize;
        let ptx_depth = rng.range(0.22, 0.45);
        let ptx_len = rng.range(0.35, 0.6);
        let ptx = case.present[PTX].then(|| {
            let lung = lungs[ptx_side];
            Ptx {
                side: ptx_side,
                depth: ptx_depth,
                v_end: lung.apex + ptx_len * (lung.base - lung.apex),
            }
        });

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
        let nodule = case.present[LESION].then_some(Nodule {
            u: spot.0,
            v: spot.1,
            r: nod_r,
        });

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
                base: lungs[1].base,
                tc: lungs[1].tc,
                heart_cy: heart.cy,
                j,
            };
            geo.add(kind1, &mut strokes, &mut boxes);
            if two {
                geo.add(kind2, &mut strokes, &mut boxes);
            }
        }

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
    fn to_anat(&self, x: f32, y: f32) -> (f32, f32) {
        let qx = (x - 0.5 - self.off_u) * self.inv_scale;
        let qy = (y - 0.5 - self.off_v) * self.inv_scale;
        (
            0.5 + self.cos * qx - self.sin * qy,
            0.5 + self.sin * qx + self.cos * qy,
        )
    }

    /// Maps anatomy to image position (fractions of the side).
    fn to_image(&self, u: f32, v: f32) -> (f32, f32) {
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
    fn density(&self, u: f32, v: f32, px: &Px) -> (f32, f32) {
        let aa = px.aa;
        let du = u - 0.5;
        let t = du.abs();
        let side = usize::from(du > 0.0);
        let (half, slope) = self.body_half(v);
        let body = edge((half - t) / (1.0 + slope * slope).sqrt(), 0.01 + px.aa);
        if body <= 0.0 {
            return (AIR, 0.0);
        }
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

        // Spine: vertebral bodies, pedicles, darker disc spaces.
        if t < 0.05 {
            let spine = edge_k(0.034 - t, px.k3) * edge(v - 0.03, 0.03);
            let f = fract(v * self.inv_vert_sp + self.vert_ph);
            let disc = band(f, 0.0, 0.12, 0.06);
            let pedicle = bump((t - 0.022) * (1.0 / 0.008)) * band(f, 0.3, 0.6, 0.1);
            d += spine * (0.06 - 0.015 * disc + 0.025 * pedicle);
        }

        // Trachea and main bronchi.
        if t < 0.1 && v < self.carina + 0.09 {
            let trachea = edge_k(0.015 - t, px.k15) * edge(self.carina - v, 0.01);
            let bd = seg_dist(t, v, 0.0, self.carina, 0.07, self.carina + 0.055);
            let bronchus = edge_k(0.01 - bd, px.k15);
            d -= 0.11 * trachea.max(bronchus);
        }

        let lung = self.lungs[side];
        let diaphragm = lung.diaphragm(t);
        let above = edge_k(diaphragm - v, px.k15);
        let near_lung = t > 0.05
            && t < lung.tc + lung.rx + 0.04
            && v > lung.apex - 0.02
            && v < lung.base + 0.01;
        let (e, in_lung) = if near_lung {
            let e = lung.outline(t, v);
            let lateral = edge_k(-e * lung.rx, px.k15);
            let medial = edge_k(t - self.medial_edge(side, v), px.k2);
            (e, lateral * medial * above)
        } else {
            (0.0, 0.0)
        };

        // Heart; abdomen below the diaphragm (liver on the right, gastric bubble on the
        // left), the two merging where they meet.
        let heart = self.heart.cover(u, v);
        let mut solid = 0.07 * heart;
        if v > diaphragm - 0.02 {
            let below = (1.0 - above) * edge(lung.tc + lung.rx + 0.01 - t, 0.03);
            solid = solid.max(below * if side == 0 { 0.09 } else { 0.075 });
            if side == 1 {
                // Dome of gas over a flat fluid level.
                let level = diaphragm + 0.045;
                let gx = (t - lung.tc) * (1.0 / 0.05);
                let gy = ((v - level) * (1.0 / 0.03)).min(0.0);
                let r2 = gx * gx + gy * gy;
                if r2 < 1.5 {
                    let gas = edge(1.0 - r2, 0.4) * edge_k(level - v, px.k15);
                    d -= 0.05 * gas * (1.0 - above);
                }
            }
        }

        d += solid * body;

        let mut gain = 0.0;
        if in_lung > 0.0 {
            // Pleural effusion: fluid filling the costophrenic angle and rising along the
            // lateral wall (a meniscus); larger ones lift the whole level.
            let h = self.effusion[side];
            let fluid = if h > 0.0 {
                let mx = ((t - lung.tc + lung.rx) * (0.5 * lung.inv_rx)).clamp(0.0, 1.0);
                let top = lung.base - 0.7 * lung.dome - h * (0.15 + 0.85 * mx * mx * mx);
                smooth01((v - top) * (1.0 / 0.035))
            } else {
                0.0
            };
            // Pneumothorax: lung edge pulled away from the apex and lateral wall.
            let mut rim = 0.0;
            let mut line = 0.0;
            if let Some(p) = self.ptx
                && p.side == side
                && v < p.v_end
            {
                let fv = ((p.v_end - v) / (p.v_end - lung.apex))
                    .clamp(0.0, 1.0)
                    .sqrt();
                let depth = p.depth * fv;
                let s = (e + depth) * lung.rx;
                rim = edge_k(s, px.k1);
                line = edge_k(0.002 + 0.5 * aa - s.abs(), px.k1) * smooth01(fv * 4.0);
            }
            let visible = in_lung * (1.0 - 0.92 * heart) * (1.0 - 0.95 * fluid);
            let lower = lung.lower(v);
            let upper = ((lung.apex + 0.1 - v) * 10.0).clamp(0.0, 1.0);
            let air = 0.32 - 0.03 * lower - 0.07 * upper + 0.09 * rim;
            d -= air * visible;

            // Hilum, vessels and a faint parenchymal mottle.
            let (ht, hv) = self.hilum[side];
            let (a1, b1) = ((t - ht) * (1.0 / 0.055), (v - hv) * (1.0 / 0.055));
            let (a2, b2) = ((t - ht - 0.012) * 25.0, (v - hv - 0.05) * 25.0);
            let hil = 0.1 * bump_sq(a1 * a1 + b1 * b1) + 0.06 * bump_sq(a2 * a2 + b2 * b2);
            let m = value_noise(&self.mottle, u * 18.0, v * 18.0) - 0.5;
            d += (hil + 0.04 * m * (1.0 - rim)) * visible;
            gain = visible * (1.0 - rim);
            d += 0.16 * line * in_lung * (1.0 - fluid);
        }

        // Ribs: posterior arcs and fainter anterior ones, mostly seen over the lungs.
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
            d += rib_mask * (0.2 + 0.8 * in_lung) * self.rib_k * (post + 0.3 * ant);
        }

        // Clavicles: from the sternal notch up and out to the shoulders.
        if t < 0.4 && v < 0.25 {
            let tt = ((t - 0.035) * (1.0 / 0.34)).clamp(0.0, 1.0);
            let vc = self.clav_v[side] + 0.06 * (1.0 - tt) - 0.02 * tt * (1.0 - tt);
            let hw = 0.016 - 0.006 * tt;
            let clav =
                edge_k(hw - (v - vc).abs(), px.k15) * edge(t - 0.035, 0.01) * edge(0.375 - t, 0.02);
            let cortex = 1.0 + 0.5 * edge_k((v - vc).abs() - 0.6 * hw, px.k15);
            d += 0.11 * clav * cortex * (1.0 - 0.3 * tt);
        }

        (d, gain)
    }

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

/// Jittered device geometry shared by the device kinds.
struct DeviceGeo {
    carina: f32,
    /// Left hemidiaphragm height and left lung centre (for the stomach).
    base: f32,
    tc: f32,
    heart_cy: f32,
    j: [f32; 8],
}

impl DeviceGeo {
    fn add(&self, kind: usize, strokes: &mut Vec<Stroke>, boxes: &mut Vec<Box2>) {
        let j = self.j;
        match kind {
            0 => {
                // Endotracheal tube: faint tube wall with a radiopaque stripe.
                let x = 0.5 + 0.004 * j[1];
                let tip = self.carina - 0.05 - 0.035 * (j[0] + 1.0);
                let pts = vec![(0.5 + 0.012 * j[2], -0.04), (x + 0.003, 0.08), (x, tip)];
                strokes.push(Stroke {
                    pts: pts.clone(),
                    hw: 0.009,
                    strength: 0.08,
                });
                strokes.push(Stroke {
                    pts,
                    hw: 0.0022,
                    strength: 0.5,
                });
            }
            1 => {
                // Enteric tube down the oesophagus into the stomach.
                let pts = vec![
                    (0.505, -0.04),
                    (0.49 + 0.006 * j[3], 0.2),
                    (0.487, 0.45),
                    (0.5 + 0.03, self.base + 0.03),
                    (0.5 + self.tc + 0.012 * j[4], self.base + 0.1),
                    (0.5 + self.tc - 0.04, self.base + 0.15 + 0.02 * j[5]),
                ];
                strokes.push(Stroke {
                    pts,
                    hw: 0.0025,
                    strength: 0.45,
                });
            }
            2 => {
                // Right internal jugular central venous catheter ending in the SVC.
                let pts = vec![
                    (0.38 + 0.012 * j[6], -0.04),
                    (0.425, 0.1),
                    (0.462, 0.2),
                    (0.47, self.carina + 0.06 + 0.03 * j[7]),
                ];
                strokes.push(Stroke {
                    pts,
                    hw: 0.0022,
                    strength: 0.45,
                });
            }
            _ => {
                // Left chest wall pacemaker with a lead into the right ventricle.
                let (gu, gv) = (0.77 + 0.02 * j[0], 0.17 + 0.015 * j[1]);
                boxes.push(Box2 {
                    u: gu,
                    v: gv,
                    w: 0.075,
                    h: 0.052,
                    strength: 0.85,
                });
                let pts = vec![
                    (gu - 0.03, gv + 0.01),
                    (0.62, 0.2),
                    (0.54, 0.25),
                    (0.485, 0.34),
                    (0.475, self.heart_cy - 0.06),
                    (0.52, self.heart_cy + 0.02),
                    (0.575 + 0.01 * j[2], self.heart_cy + 0.045),
                ];
                strokes.push(Stroke {
                    pts,
                    hw: 0.003,
                    strength: 0.5,
                });
            }
        }
    }
}

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

// Small numeric helpers ----------------------------------------------------------------

#[inline(always)]
fn smooth01(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// Soft step: 0 well below zero, 1 well above, rising over a width `w` centred on 0.
#[inline(always)]
fn edge(x: f32, w: f32) -> f32 {
    smooth01(0.5 + x * (1.0 / w))
}

/// `edge` with the reciprocal width given.
#[inline(always)]
fn edge_k(x: f32, k: f32) -> f32 {
    smooth01(0.5 + x * k)
}

/// Smooth plateau on [a, b] with soft sides of width w.
#[inline(always)]
fn band(f: f32, a: f32, b: f32, w: f32) -> f32 {
    edge(f - a, w) * edge(b - f, w)
}

/// (1 - x²)² on |x| < 1.
#[inline(always)]
fn bump(x: f32) -> f32 {
    bump_sq(x * x)
}

/// `bump` of a squared argument.
#[inline(always)]
fn bump_sq(x2: f32) -> f32 {
    let s = (1.0 - x2).max(0.0);
    s * s
}

/// Floor for the moderate values used here (|x| < 2^20), without a libm call.
#[inline(always)]
fn floor_i(x: f32) -> i32 {
    let i = x as i32;
    if (i as f32) > x { i - 1 } else { i }
}

/// x - floor(x), in [0, 1).
#[inline(always)]
fn fract(x: f32) -> f32 {
    x - floor_i(x) as f32
}

/// Smooth value noise on a GRID×GRID grid, wrapping in both directions.
#[inline(always)]
fn value_noise(grid: &[f32], a: f32, b: f32) -> f32 {
    let (ai, bi) = (floor_i(a), floor_i(b));
    let (fa, fb) = (a - ai as f32, b - bi as f32);
    let g = GRID as i32;
    let i0 = ai.rem_euclid(g) as usize;
    let j0 = bi.rem_euclid(g) as usize;
    let (i1, j1) = ((i0 + 1) % GRID, (j0 + 1) % GRID);
    let sa = fa * fa * (3.0 - 2.0 * fa);
    let sb = fb * fb * (3.0 - 2.0 * fb);
    let at = |i: usize, j: usize| grid[j * GRID + i];
    let top = at(i0, j0) + (at(i1, j0) - at(i0, j0)) * sa;
    let bot = at(i0, j1) + (at(i1, j1) - at(i0, j1)) * sa;
    top + (bot - top) * sb
}

/// Distance from (px, py) to the segment (ax, ay)-(bx, by).
#[inline(always)]
fn seg_dist(px: f32, py: f32, ax: f32, ay: f32, bx: f32, by: f32) -> f32 {
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let s = if len2 > 0.0 {
        (((px - ax) * dx + (py - ay) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (px - ax - s * dx, py - ay - s * dy);
    (ex * ex + ey * ey).sqrt()
}

/// Samples a Catmull-Rom curve through `pts`, `steps` points per span.
fn catmull_rom(pts: &[(f32, f32)], steps: usize) -> Vec<(f32, f32)> {
    if pts.len() < 2 {
        return pts.to_vec();
    }
    let at = |i: isize| pts[i.clamp(0, pts.len() as isize - 1) as usize];
    let mut out = Vec::with_capacity(pts.len() * steps + 1);
    for i in 0..pts.len() as isize - 1 {
        let (p0, p1, p2, p3) = (at(i - 1), at(i), at(i + 1), at(i + 2));
        for k in 0..steps {
            let t = k as f32 / steps as f32;
            let (t2, t3) = (t * t, t * t * t);
            let f = |a: f32, b: f32, c: f32, d: f32| {
                0.5 * (2.0 * b
                    + (c - a) * t
                    + (2.0 * a - 5.0 * b + 4.0 * c - d) * t2
                    + (3.0 * b - a - 3.0 * c + d) * t3)
            };
            out.push((f(p0.0, p1.0, p2.0, p3.0), f(p0.1, p1.1, p2.1, p3.1)));
        }
    }
    out.push(pts[pts.len() - 1]);
    out
}

/// Pixel indices covering [lo, hi] (pixel units), clipped to 0..n.
fn pixel_span(lo: f32, hi: f32, n: usize) -> (usize, usize) {
    let a = lo.floor().max(0.0) as usize;
    let b = (hi.ceil() + 1.0).clamp(0.0, n as f32) as usize;
    (a.min(n), b)
}

/// Max-blends an anti-aliased capsule of half width `hw` (pixels) from a to b.
fn stamp_segment(buf: &mut [f32], n: usize, a: (f32, f32), b: (f32, f32), hw: f32, strength: f32) {
    let r = hw + 1.0;
    let (xa, xb) = pixel_span(a.0.min(b.0) - r, a.0.max(b.0) + r, n);
    let (ya, yb) = pixel_span(a.1.min(b.1) - r, a.1.max(b.1) + r, n);
    for y in ya..yb {
        for x in xa..xb {
            let dist = seg_dist(x as f32, y as f32, a.0, a.1, b.0, b.1);
            let cov = (hw + 0.5 - dist).clamp(0.0, 1.0);
            if cov > 0.0 {
                let cell = &mut buf[y * n + x];
                *cell = cell.max(cov * strength);
            }
        }
    }
}

/// Max-blends a soft tapering line from a to b: radius (pixels) and density go from
/// the first to the second value of `r` and `strength`; profile (1 - (d/r)²)².
fn stamp_soft(
    buf: &mut [f32],
    n: usize,
    a: (f32, f32),
    b: (f32, f32),
    r: (f32, f32),
    strength: (f32, f32),
) {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let inv_len2 = if len2 > 1e-9 { 1.0 / len2 } else { 0.0 };
    let rmax = r.0.max(r.1);
    // Half the x-extent, on one row, of the band within rmax of the segment's line.
    let slope = if dy.abs() > 1e-3 { dx / dy } else { 0.0 };
    let half_run = if dy.abs() > 1e-3 {
        rmax * len2.sqrt() / dy.abs()
    } else {
        f32::INFINITY
    };
    let (x_lo, x_hi) = (a.0.min(b.0) - rmax, a.0.max(b.0) + rmax);
    let (ya, yb) = pixel_span(a.1.min(b.1) - rmax, a.1.max(b.1) + rmax, n);
    for y in ya..yb {
        let py = y as f32 - a.1;
        let c = a.0 + py * slope;
        let (xa, xb) = pixel_span(x_lo.max(c - half_run), x_hi.min(c + half_run), n);
        for x in xa..xb {
            let qx = x as f32 - a.0;
            let s = ((qx * dx + py * dy) * inv_len2).clamp(0.0, 1.0);
            let (ex, ey) = (qx - s * dx, py - s * dy);
            let rad = r.0 + (r.1 - r.0) * s;
            let d2 = (ex * ex + ey * ey) / (rad * rad);
            if d2 < 1.0 {
                let k = 1.0 - d2;
                let val = (strength.0 + (strength.1 - strength.0) * s) * k * k;
                let cell = &mut buf[y * n + x];
                *cell = cell.max(val);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------

/// A report for the case: text with "FINDINGS:" and "IMPRESSION:" sections (each on its
/// own line, section text after it), plus what the report says per finding (1 positive,
/// 0 negative, -1 uncertain, None not mentioned) and the CheXpert "No Finding" label.
pub struct Report {
    pub text: String,
    pub stated: [Option<i8>; 5],
    pub no_finding: Option<i8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Say {
    Positive,
    Uncertain,
    Negative,
    Silent,
}

impl Say {
    fn label(self) -> Option<i8> {
        match self {
            Say::Positive => Some(1),
            Say::Uncertain => Some(-1),
            Say::Negative => Some(0),
            Say::Silent => None,
        }
    }

    fn mentioned_as_present(self) -> bool {
        matches!(self, Say::Positive | Say::Uncertain)
    }
}

/// How often an absent finding is explicitly negated (else it goes unmentioned).
const NEGATE_P: [f64; 5] = [0.7, 0.7, 0.65, 0.35, 0.06];

const INDICATIONS: &[&str] = &[
    "Shortness of breath.",
    "Cough.",
    "Chest pain.",
    "Fever.",
    "Pre-operative assessment.",
    "Follow-up.",
    "Dyspnea on exertion.",
];

/// Filler about the lungs and mediastinum; mentions none of the five findings.
const FILLER_CHEST: &[&str] = &[
    "The mediastinal contours are unremarkable.",
    "Hilar contours are within normal limits.",
    "No focal consolidation.",
    "There is no pulmonary edema.",
    "Pulmonary vascularity is normal.",
    "The lungs are well expanded.",
    "Lung volumes are normal.",
];

/// Filler about bones and soft tissues; mentions none of the five findings.
const FILLER_OTHER: &[&str] = &[
    "Osseous structures are intact.",
    "No acute osseous abnormality.",
    "Mild degenerative changes of the thoracic spine.",
    "The visualized upper abdomen is unremarkable.",
    "Soft tissues are unremarkable.",
];

const LOBES: &[&str] = &[
    "right upper lobe",
    "right middle lobe",
    "right lower lobe",
    "left upper lobe",
    "left lower lobe",
    "lingula",
    "left mid lung",
    "right mid lung",
];

/// A location used before a noun ("lingular nodule").
fn lobe_adj(loc: &str) -> &str {
    if loc == "lingula" { "lingular" } else { loc }
}

fn cap(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "4 cm" or "2.5 cm".
fn cm(x: f32) -> String {
    let r = (x * 10.0).round() / 10.0;
    if (r - r.round()).abs() < 1e-4 {
        format!("{} cm", r.round() as i32)
    } else {
        format!("{r:.1} cm")
    }
}

/// A lesion size: "8 mm" below a centimetre, else "1.2 cm".
fn lesion_size(mm: u64) -> String {
    if mm < 10 {
        format!("{mm} mm")
    } else {
        cm(mm as f32 / 10.0)
    }
}

fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let k = rng.below(i as u64 + 1) as usize;
        items.swap(i, k);
    }
}

/// Sentences for one finding: (findings section, impression).
type Lines = (Vec<String>, Vec<String>);

fn cardio_lines(say: Say, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    match say {
        Say::Positive => {
            let sev = rng.pick(&["mild", "moderate", "severe"]);
            f.push(match rng.below(5) {
                0 => format!("{} cardiomegaly.", cap(sev)),
                1 => format!("The heart is {sev}ly enlarged."),
                2 => format!("There is {sev} enlargement of the cardiac silhouette."),
                3 => format!("{} cardiomegaly is present.", cap(sev)),
                _ => format!("The cardiac silhouette is {sev}ly enlarged."),
            });
            imp.push(if rng.chance(0.5) {
                format!("{} cardiomegaly.", cap(sev))
            } else {
                "Cardiomegaly.".to_owned()
            });
        }
        Say::Uncertain => {
            f.push(
                rng.pick(&[
                    "Heart size is borderline enlarged.",
                    "The cardiac silhouette is borderline enlarged.",
                    "Possible mild cardiomegaly.",
                    "The heart may be mildly enlarged.",
                ])
                .to_owned(),
            );
            imp.push(
                rng.pick(&["Borderline cardiomegaly.", "Possible mild cardiomegaly."])
                    .to_owned(),
            );
        }
        Say::Negative => f.push(
            rng.pick(&[
                "Heart size is normal.",
                "The heart size is normal.",
                "Normal heart size.",
                "Heart size is within normal limits.",
                "No cardiomegaly.",
                "There is no cardiomegaly.",
            ])
            .to_owned(),
        ),
        Say::Silent => {}
    }
    (f, imp)
}

fn effusion_lines(say: Say, lungs_clear_ok: bool, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    match say {
        Say::Positive => {
            let size = rng.pick(&["small", "small", "moderate", "large", "trace"]);
            if rng.chance(0.25) {
                let size = if size == "trace" {
                    "small to moderate"
                } else {
                    size
                };
                f.push(match rng.below(3) {
                    0 => format!("{} bilateral pleural effusions.", cap(size)),
                    1 => format!("There are {size} bilateral pleural effusions."),
                    _ => format!(
                        "{} bilateral pleural effusions with adjacent basilar atelectasis.",
                        cap(size)
                    ),
                });
                imp.push(if rng.chance(0.5) {
                    format!("{} bilateral pleural effusions.", cap(size))
                } else {
                    "Bilateral pleural effusions.".to_owned()
                });
            } else {
                let side = rng.pick(&["left", "right"]);
                f.push(match rng.below(5) {
                    0 => format!("{} {side} pleural effusion.", cap(size)),
                    1 => format!("There is a {size} {side} pleural effusion."),
                    2 => format!("A {size} {side} pleural effusion is present."),
                    3 => format!(
                        "{} {side} pleural effusion with adjacent basilar atelectasis.",
                        cap(size)
                    ),
                    _ => format!(
                        "{} {side} pleural effusion layering at the base.",
                        cap(size)
                    ),
                });
                imp.push(if rng.chance(0.5) {
                    format!("{} {side} pleural effusion.", cap(size))
                } else {
                    format!("{} pleural effusion.", cap(side))
                });
            }
        }
        Say::Uncertain => {
            let side = rng.pick(&["left", "right"]);
            f.push(match rng.below(4) {
                0 => format!("Possible small {side} pleural effusion."),
                1 => format!("Cannot exclude a small {side} pleural effusion."),
                2 => format!(
                    "Blunting of the {side} costophrenic angle may represent a small effusion."
                ),
                _ => format!("Trace {side} pleural effusion is possible."),
            });
            imp.push(if rng.chance(0.5) {
                format!("Possible small {side} pleural effusion.")
            } else {
                format!("Cannot exclude a small {side} pleural effusion.")
            });
        }
        Say::Negative => {
            let n = if lungs_clear_ok { 6 } else { 5 };
            f.push(
                match rng.below(n) {
                    0 => "No pleural effusion.",
                    1 => "There is no pleural effusion.",
                    2 => "No pleural effusion is seen.",
                    3 => "Negative for pleural effusion.",
                    4 => "No pleural effusions.",
                    _ => "The lungs are clear without effusion.",
                }
                .to_owned(),
            );
        }
        Say::Silent => {}
    }
    (f, imp)
}

fn ptx_lines(say: Say, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    match say {
        Say::Positive => {
            let side = rng.pick(&["left", "right"]);
            let k = rng.below(3);
            let size = ["small", "moderate", "large"][k as usize];
            let depth = match k {
                0 => rng.range(0.8, 1.9),
                1 => rng.range(2.0, 3.5),
                _ => rng.range(3.6, 6.0),
            };
            f.push(match rng.below(4) {
                0 => format!("{} {side} apical pneumothorax.", cap(size)),
                1 => format!(
                    "There is a {size} {side} apical pneumothorax measuring {}.",
                    cm(depth)
                ),
                2 => format!("{} apical pneumothorax measuring {}.", cap(side), cm(depth)),
                _ => format!("A {size} {side} pneumothorax is present, predominantly apical."),
            });
            imp.push(if rng.chance(0.5) {
                format!("{} {side} pneumothorax.", cap(size))
            } else {
                format!("{} apical pneumothorax.", cap(side))
            });
            if rng.chance(0.4) {
                imp.push("Findings were communicated to the referring clinician.".to_owned());
            }
        }
        Say::Uncertain => {
            let side = rng.pick(&["left", "right"]);
            f.push(match rng.below(3) {
                0 => format!("Cannot exclude a small {side} apical pneumothorax."),
                1 => format!("Possible small {side} apical pneumothorax."),
                _ => {
                    format!("Subtle lucency at the {side} apex may represent a small pneumothorax.")
                }
            });
            imp.push(if rng.chance(0.5) {
                format!("Possible small {side} apical pneumothorax.")
            } else {
                format!("Cannot exclude a small {side} pneumothorax.")
            });
        }
        Say::Negative => f.push(
            rng.pick(&[
                "No pneumothorax.",
                "There is no pneumothorax.",
                "No evidence of pneumothorax.",
                "Negative for pneumothorax.",
            ])
            .to_owned(),
        ),
        Say::Silent => {}
    }
    (f, imp)
}

fn lesion_lines(say: Say, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    let follow_up = "Follow-up chest CT is recommended.";
    match say {
        Say::Positive => {
            let loc = rng.pick(LOBES);
            let mm = if rng.chance(0.85) {
                5 + rng.below(21)
            } else {
                30 + rng.below(26)
            };
            let size = lesion_size(mm);
            if mm >= 30 {
                f.push(match rng.below(3) {
                    0 => format!("{size} mass in the {loc}."),
                    1 => format!("There is a {size} mass in the {loc}."),
                    _ => format!("A {size} spiculated mass is present in the {loc}."),
                });
                imp.push(format!("{size} {} mass.", lobe_adj(loc)));
            } else {
                f.push(match rng.below(5) {
                    0 => format!("{size} nodule in the {loc}."),
                    1 => format!("There is a {size} nodule in the {loc}."),
                    2 => format!("A {size} spiculated nodule is seen in the {loc}."),
                    3 => format!("{size} well-circumscribed nodule projects over the {loc}."),
                    _ => format!("A {size} pulmonary nodule is present in the {loc}."),
                });
                imp.push(format!("{size} {} nodule.", lobe_adj(loc)));
            }
            if rng.chance(0.6) {
                imp.push(follow_up.to_owned());
            }
        }
        Say::Uncertain => {
            let loc = rng.pick(LOBES);
            let size = lesion_size(5 + rng.below(12));
            f.push(match rng.below(4) {
                0 => format!("Opacity in the {loc} suspicious for a nodule."),
                1 => format!("Possible {size} nodule in the {loc}."),
                2 => format!("A rounded opacity in the {loc} may represent a nodule."),
                _ => format!("Cannot exclude a small nodule in the {loc}."),
            });
            imp.push(if rng.chance(0.5) {
                format!("Possible {} nodule.", lobe_adj(loc))
            } else {
                format!("Opacity in the {loc} suspicious for a nodule.")
            });
            if rng.chance(0.6) {
                imp.push(follow_up.to_owned());
            }
        }
        Say::Negative => f.push(
            rng.pick(&[
                "No focal nodule.",
                "No pulmonary nodule or mass is identified.",
                "There is no focal nodule or mass.",
                "No discrete nodule.",
            ])
            .to_owned(),
        ),
        Say::Silent => {}
    }
    (f, imp)
}

fn device_lines(say: Say, rng: &mut Rng) -> Lines {
    let mut f = Vec::new();
    let mut imp = Vec::new();
    match say {
        Say::Positive | Say::Uncertain => {
            let first = rng.below(5);
            let kinds = if rng.chance(0.35) {
                vec![first, (first + 1 + rng.below(4)) % 5]
            } else {
                vec![first]
            };
            for kind in kinds {
                let (sentence, summary) = match kind {
                    0 => {
                        let d = cm(2.0 + 0.5 * rng.below(10) as f32);
                        let s = match rng.below(3) {
                            0 => format!("Endotracheal tube terminates {d} above the carina."),
                            1 => format!("The endotracheal tube tip is {d} above the carina."),
                            _ => format!(
                                "Endotracheal tube in standard position, {d} above the carina."
                            ),
                        };
                        (s, "Endotracheal tube in satisfactory position.")
                    }
                    1 => (
                        rng.pick(&[
                            "An enteric tube courses below the diaphragm with the tip in the stomach.",
                            "Nasogastric tube tip projects over the stomach.",
                            "Enteric tube tip and side port are within the stomach.",
                        ])
                        .to_owned(),
                        "Enteric tube in the stomach.",
                    ),
                    2 => (
                        rng.pick(&[
                            "Right internal jugular central venous catheter terminates in the lower SVC.",
                            "Right IJ catheter tip projects over the cavoatrial junction.",
                            "Right internal jugular line tip is in the mid SVC.",
                        ])
                        .to_owned(),
                        "Central venous catheter in satisfactory position.",
                    ),
                    3 => (
                        rng.pick(&[
                            "Left PICC terminates in the lower SVC.",
                            "A right arm PICC line ends at the cavoatrial junction.",
                        ])
                        .to_owned(),
                        "PICC line in satisfactory position.",
                    ),
                    _ => (
                        rng.pick(&[
                            "Left chest wall pacemaker with lead terminating in the right ventricle.",
                            "A dual-chamber pacemaker is present with leads in the right atrium and right ventricle.",
                            "Left-sided pacemaker generator with intact leads.",
                        ])
                        .to_owned(),
                        "Pacemaker in place.",
                    ),
                };
                f.push(sentence);
                if rng.chance(0.6) {
                    imp.push(summary.to_owned());
                }
            }
        }
        Say::Negative => f.push(
            rng.pick(&[
                "No lines or tubes are seen.",
                "No support devices are present.",
            ])
            .to_owned(),
        ),
        Say::Silent => {}
    }
    (f, imp)
}

/// A report for the case (see [`Report`]). Present findings are stated positively, or
/// for about one in five non-device findings uncertainly; absent ones are negated or
/// left unmentioned. Every sentence carries one polarity for the findings it mentions,
/// using only the negation cues "no", "without", "negative for", "normal" (heart size)
/// and the uncertainty cues "possible", "may", "cannot exclude", "suspicious for",
/// "borderline", so a CheXpert-style labeler reads back `stated`.
pub fn write_report(case: &Case, rng: &mut Rng) -> Report {
    let say: [Say; 5] = std::array::from_fn(|i| {
        if case.present[i] {
            if i != DEVICES && rng.chance(0.2) {
                Say::Uncertain
            } else {
                Say::Positive
            }
        } else if rng.chance(NEGATE_P[i]) {
            Say::Negative
        } else {
            Say::Silent
        }
    });
    let stated = say.map(Say::label);
    let any_pathology = say[..DEVICES].iter().any(|s| s.mentioned_as_present());
    let no_finding = (!any_pathology).then_some(1);
    let lungs_clear_ok = !say[LESION].mentioned_as_present() && !say[PTX].mentioned_as_present();

    let (cardio_f, cardio_i) = cardio_lines(say[CARDIO], rng);
    let (mut eff_f, eff_i) = effusion_lines(say[EFFUSION], lungs_clear_ok, rng);
    let (mut ptx_f, ptx_i) = ptx_lines(say[PTX], rng);
    let (lesion_f, lesion_i) = lesion_lines(say[LESION], rng);
    let (dev_f, dev_i) = device_lines(say[DEVICES], rng);

    // Effusion and pneumothorax both negated: often one combined sentence.
    if say[EFFUSION] == Say::Negative && say[PTX] == Say::Negative && rng.chance(0.5) {
        let n = if lungs_clear_ok { 5 } else { 4 };
        let combined = match rng.below(n) {
            0 => "No pleural effusion or pneumothorax.",
            1 => "There is no pleural effusion or pneumothorax.",
            2 => "No pneumothorax or pleural effusion.",
            3 => "No focal consolidation, pleural effusion, or pneumothorax.",
            _ => "The lungs are clear without effusion or pneumothorax.",
        };
        eff_f = vec![combined.to_owned()];
        ptx_f.clear();
    }

    let mut core: Vec<String> = Vec::new();
    core.extend(cardio_f);
    core.extend(eff_f);
    core.extend(ptx_f);
    core.extend(lesion_f);
    let mut chest: Vec<&str> = FILLER_CHEST.to_vec();
    shuffle(&mut chest, rng);
    let n_fill = 1 + rng.below(3) as usize;
    core.extend(chest.iter().take(n_fill).map(|s| (*s).to_owned()));
    shuffle(&mut core, rng);

    let mut findings: Vec<String> = Vec::new();
    let devices_first = rng.chance(0.7);
    if devices_first {
        findings.extend(dev_f.iter().cloned());
    }
    findings.extend(core);
    if !devices_first {
        findings.extend(dev_f.iter().cloned());
    }
    if rng.chance(0.6) {
        findings.push(rng.pick(FILLER_OTHER).to_owned());
    }

    // Impression: most urgent first; or a normal statement.
    let mut impression: Vec<String> = Vec::new();
    impression.extend(ptx_i);
    impression.extend(eff_i);
    impression.extend(cardio_i);
    impression.extend(lesion_i);
    if !any_pathology {
        impression.insert(0, "No acute cardiopulmonary process.".to_owned());
    }
    if rng.chance(0.5) {
        impression.extend(dev_i);
    } else {
        let mut with_dev = dev_i;
        with_dev.extend(impression);
        impression = with_dev;
    }
    if say[PTX] == Say::Negative && say[DEVICES] == Say::Positive && rng.chance(0.5) {
        impression.push("No pneumothorax.".to_owned());
    }
    let impression_text = if impression.len() >= 2 && rng.chance(0.35) {
        impression
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{}. {s}", i + 1))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        impression.join(" ")
    };

    let mut text = String::new();
    if rng.chance(0.6) {
        let exam = if case.present[DEVICES] && rng.chance(0.7) {
            "CHEST (PORTABLE AP)"
        } else {
            rng.pick(&["CHEST (PA AND LATERAL)", "CHEST (PA)", "CHEST RADIOGRAPH"])
        };
        text.push_str(&format!("EXAMINATION: {exam}\n"));
    }
    if rng.chance(0.6) {
        text.push_str(&format!("INDICATION: {}\n", rng.pick(INDICATIONS)));
    }
    if rng.chance(0.4) {
        text.push_str("COMPARISON: None.\n");
    }
    text.push_str(&format!("FINDINGS: {}\n", findings.join(" ")));
    text.push_str(&format!("IMPRESSION: {impression_text}\n"));

    Report {
        text,
        stated,
        no_finding,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(case: &Case, i: usize, on: bool) -> Case {
        let mut c = case.clone();
        c.present[i] = on;
        c
    }

    /// Mean grey over a region given in fractions of the image.
    fn region_mean(img: &GrayImage, x0: f32, x1: f32, y0: f32, y1: f32) -> f64 {
        let n = img.width() as f32;
        let (xa, xb) = ((x0 * n) as u32, (x1 * n) as u32);
        let (ya, yb) = ((y0 * n) as u32, (y1 * n) as u32);
        let mut sum = 0.0;
        let mut count = 0.0;
        for y in ya..yb {
            for x in xa..xb {
                sum += f64::from(img.get_pixel(x, y).0[0]);
                count += 1.0;
            }
        }
        sum / count
    }

    #[test]
    fn rng_is_deterministic() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut c = Rng::new(8);
        assert_ne!(xs[0], c.next_u64());
        // Known SplitMix64 output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
        let mut r = Rng::new(1);
        for _ in 0..10_000 {
            let f = r.f64();
            assert!((0.0..1.0).contains(&f));
            assert!(r.below(7) < 7);
        }
        assert_eq!(r.below(0), 0);
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
    }

    #[test]
    fn case_prevalence() {
        let mut rng = Rng::new(3);
        let mut counts = [0usize; 5];
        let n = 20_000;
        for _ in 0..n {
            let c = Case::random(&mut rng);
            for (k, p) in counts.iter_mut().zip(c.present) {
                *k += usize::from(p);
            }
        }
        for (i, k) in counts.iter().enumerate() {
            let p = *k as f64 / n as f64;
            if i == DEVICES {
                assert!((0.17..0.23).contains(&p), "devices {p}");
            } else {
                assert!((0.25..0.35).contains(&p), "{} {p}", FINDINGS[i]);
            }
        }
    }

    #[test]
    fn render_is_deterministic() {
        let case = Case {
            present: [true, true, true, true, true],
        };
        let a = render(&case, 160, &mut Rng::new(11));
        let b = render(&case, 160, &mut Rng::new(11));
        assert_eq!(a.dimensions(), (160, 160));
        assert_eq!(a.as_raw(), b.as_raw());
        let c = render(&case, 160, &mut Rng::new(12));
        assert_ne!(a.as_raw(), c.as_raw());
        // Same number of draws whatever the case and size.
        let mut r1 = Rng::new(5);
        let mut r2 = Rng::new(5);
        render(&case, 128, &mut r1);
        render(
            &Case {
                present: [false; 5],
            },
            200,
            &mut r2,
        );
        assert_eq!(r1.next_u64(), r2.next_u64());
        assert_eq!(render(&case, 0, &mut Rng::new(1)).dimensions(), (0, 0));
        for size in [1, 2, 7, 128, 255, 256, 300, 513] {
            assert_eq!(
                render(&case, size, &mut Rng::new(2)).dimensions(),
                (size, size)
            );
        }
    }

    #[test]
    fn looks_like_a_chest_film() {
        let mut rng = Rng::new(21);
        for _ in 0..5 {
            let img = render(
                &Case {
                    present: [false; 5],
                },
                192,
                &mut rng,
            );
            let lung_l = region_mean(&img, 0.24, 0.34, 0.3, 0.55);
            let lung_r = region_mean(&img, 0.68, 0.78, 0.3, 0.55);
            let spine = region_mean(&img, 0.48, 0.52, 0.15, 0.3);
            let abdomen = region_mean(&img, 0.3, 0.7, 0.9, 0.97);
            let outside = region_mean(&img, 0.0, 0.04, 0.0, 0.04);
            assert!(
                lung_l < spine - 50.0 && lung_r < spine - 50.0,
                "{lung_l} {lung_r} {spine}"
            );
            assert!(lung_l < abdomen - 40.0, "{lung_l} {abdomen}");
            assert!(outside < 20.0, "{outside}");
        }
    }

    #[test]
    fn effusion_brightens_lung_bases() {
        let mut rng = Rng::new(100);
        let (mut with_eff, mut without) = (0.0, 0.0);
        for i in 0..20 {
            let case = Case::random(&mut rng);
            let on = render(&with(&case, EFFUSION, true), 192, &mut Rng::new(1000 + i));
            let off = render(&with(&case, EFFUSION, false), 192, &mut Rng::new(2000 + i));
            let base = |img: &GrayImage| {
                region_mean(img, 0.12, 0.18, 0.63, 0.69)
                    .max(region_mean(img, 0.82, 0.88, 0.66, 0.72))
            };
            with_eff += base(&on) / 20.0;
            without += base(&off) / 20.0;
        }
        assert!(with_eff > without + 25.0, "{with_eff} vs {without}");
    }

    /// Bright pixels across the heart's widest rows (spine included in both).
    fn heart_width(img: &GrayImage) -> f64 {
        let n = img.width();
        let (ya, yb) = ((0.56 * n as f32) as u32, (0.64 * n as f32) as u32);
        let mut total = 0.0;
        for y in ya..yb {
            let row = ((0.2 * n as f32) as u32..(0.85 * n as f32) as u32)
                .filter(|&x| img.get_pixel(x, y).0[0] > 110)
                .count();
            total += row as f64;
        }
        total / f64::from(yb - ya) / f64::from(n)
    }

    #[test]
    fn cardiomegaly_widens_heart() {
        let mut rng = Rng::new(200);
        let (mut big, mut normal) = (0.0, 0.0);
        for i in 0..20 {
            let case = with(&Case::random(&mut rng), EFFUSION, false);
            big += heart_width(&render(
                &with(&case, CARDIO, true),
                192,
                &mut Rng::new(300 + i),
            )) / 20.0;
            normal += heart_width(&render(
                &with(&case, CARDIO, false),
                192,
                &mut Rng::new(400 + i),
            )) / 20.0;
        }
        assert!(big > normal + 0.08, "{big} vs {normal}");
        // Cardiothoracic ratio: roughly 0.4 normal, 0.6 enlarged.
        assert!((0.2..0.4).contains(&normal), "{normal}");
    }

    #[test]
    fn findings_change_their_own_regions() {
        let mut rng = Rng::new(9);
        for i in 0..10 {
            let case = Case {
                present: [false; 5],
            };
            let seed = 50 + i;
            let base = render(&case, 192, &mut Rng::new(seed));
            // Same seed, one finding on: differences only where that finding lives.
            let ptx = render(&with(&case, PTX, true), 192, &mut Rng::new(seed));
            let nod = render(&with(&case, LESION, true), 192, &mut Rng::new(seed));
            let dev = render(&with(&case, DEVICES, true), 192, &mut Rng::new(seed));
            let diff = |img: &GrayImage| -> (i32, usize, f64) {
                let mut max = 0;
                let mut count = 0;
                let mut sum_y = 0.0;
                for (p, q) in img.enumerate_pixels().zip(base.pixels()) {
                    let d = i32::from(p.2.0[0]) - i32::from(q.0[0]);
                    max = max.max(d.abs());
                    if d.abs() > 8 {
                        count += 1;
                        sum_y += f64::from(p.1);
                    }
                }
                (max, count, sum_y / count.max(1) as f64 / 192.0)
            };
            let (m, c, y) = diff(&ptx);
            assert!(m > 15 && c > 50 && y < 0.45, "pneumothorax {m} {c} {y}");
            let (m, c, _) = diff(&nod);
            assert!(m > 30 && c > 5 && c < 600, "nodule {m} {c}");
            let (m, c, _) = diff(&dev);
            assert!(m > 60 && c > 40, "devices {m} {c}");
            let _ = rng.next_u64();
        }
    }

    #[test]
    fn pneumothorax_darkens_apex() {
        let mut rng = Rng::new(77);
        let (mut on, mut off) = (0.0, 0.0);
        for i in 0..20 {
            let case = Case::random(&mut rng);
            let apex = |img: &GrayImage| {
                region_mean(img, 0.16, 0.26, 0.16, 0.3).min(region_mean(img, 0.74, 0.84, 0.16, 0.3))
            };
            on += apex(&render(
                &with(&case, PTX, true),
                160,
                &mut Rng::new(600 + i),
            )) / 20.0;
            off += apex(&render(
                &with(&case, PTX, false),
                160,
                &mut Rng::new(600 + i),
            )) / 20.0;
        }
        assert!(on < off - 3.0, "{on} vs {off}");
    }

    // ----- reports -----

    const NEG_CUES: &[&str] = &["no", "without", "free of", "negative for"];
    const UNC_CUES: &[&str] = &[
        "possible",
        "may",
        "cannot exclude",
        "suspicious for",
        "borderline",
    ];

    /// Mentions per finding (lower case, matched on word starts).
    const MENTIONS: [&[&str]; 5] = [
        &["cardiomegaly", "heart", "cardiac silhouette"],
        &["effusion", "pleural fluid", "costophrenic"],
        &["pneumothora"],
        &["nodule", "nodular", "mass", "lesion", "neoplasm"],
        &[
            "tube",
            "line",
            "catheter",
            "pacemaker",
            "lead",
            "picc",
            "device",
            "wire",
        ],
    ];

    fn has_word_start(sentence: &str, cue: &str) -> bool {
        sentence
            .match_indices(cue)
            .any(|(i, _)| i == 0 || !sentence.as_bytes()[i - 1].is_ascii_alphabetic())
    }

    fn has_word(sentence: &str, cue: &str) -> bool {
        sentence.match_indices(cue).any(|(i, _)| {
            let before_ok = i == 0 || !sentence.as_bytes()[i - 1].is_ascii_alphabetic();
            let end = i + cue.len();
            let after_ok = end == sentence.len() || !sentence.as_bytes()[end].is_ascii_alphabetic();
            before_ok && after_ok
        })
    }

    /// A tiny CheXpert-style labeler: per sentence, a mention is uncertain if an
    /// uncertainty cue is present, else negative if a negation cue (or "normal" about
    /// the heart) is present, else positive; per report positive > uncertain > negative.
    fn label(text: &str) -> [Option<i8>; 5] {
        let mut out = [None; 5];
        for line in text.lines() {
            let lower = line.to_lowercase();
            let Some((head, body)) = lower.split_once(':') else {
                continue;
            };
            if head != "findings" && head != "impression" {
                continue;
            }
            for sentence in body.split(". ") {
                let unc = UNC_CUES.iter().any(|c| has_word(sentence, c));
                let neg = NEG_CUES.iter().any(|c| has_word(sentence, c));
                for (i, words) in MENTIONS.iter().enumerate() {
                    if !words.iter().any(|w| has_word_start(sentence, w)) {
                        continue;
                    }
                    let normal = i == CARDIO && has_word(sentence, "normal");
                    let l = if unc {
                        -1
                    } else if neg || normal {
                        0
                    } else {
                        1
                    };
                    out[i] = Some(match out[i] {
                        None => l,
                        Some(old) => {
                            let rank = |x: i8| match x {
                                1 => 3,
                                -1 => 2,
                                _ => 1,
                            };
                            if rank(l) > rank(old) { l } else { old }
                        }
                    });
                }
            }
        }
        out
    }

    #[test]
    fn reports_follow_cases() {
        let mut rng = Rng::new(4242);
        let mut seen_unc = 0;
        let mut seen_neg = 0;
        let mut seen_none = 0;
        let mut seen_normal = 0;
        for _ in 0..3000 {
            let case = Case::random(&mut rng);
            let report = write_report(&case, &mut rng);
            let lines: Vec<&str> = report.text.lines().collect();
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("FINDINGS: ") && l.len() > 12),
                "{}",
                report.text
            );
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("IMPRESSION: ") && l.len() > 14),
                "{}",
                report.text
            );
            for (i, s) in report.stated.iter().enumerate() {
                if case.present[i] {
                    assert!(
                        matches!(s, Some(1) | Some(-1)),
                        "{i} {s:?}\n{}",
                        report.text
                    );
                    if i == DEVICES {
                        assert_eq!(*s, Some(1));
                    }
                } else {
                    assert!(matches!(s, Some(0) | None), "{i} {s:?}\n{}", report.text);
                }
                match s {
                    Some(-1) => seen_unc += 1,
                    Some(0) => seen_neg += 1,
                    None => seen_none += 1,
                    _ => {}
                }
            }
            let pathology = case.present[..DEVICES].iter().any(|&p| p);
            assert_eq!(report.no_finding, (!pathology).then_some(1));
            let normal = report.text.contains("No acute cardiopulmonary process.");
            assert_eq!(normal, !pathology, "{}", report.text);
            seen_normal += usize::from(normal);
            // A rule-based labeler reads back exactly what the report claims to state.
            assert_eq!(label(&report.text), report.stated, "\n{}", report.text);
            assert!(!report.text.contains(".."), "{}", report.text);
        }
        assert!(seen_unc > 200 && seen_neg > 2000 && seen_none > 1000 && seen_normal > 300);
    }

    #[test]
    fn filler_mentions_no_finding() {
        for s in FILLER_CHEST.iter().chain(FILLER_OTHER).chain(INDICATIONS) {
            assert_eq!(label(&format!("FINDINGS: {s}")), [None; 5], "{s}");
        }
    }

    #[test]
    fn reports_vary() {
        let case = Case {
            present: [true, true, false, false, false],
        };
        let mut rng = Rng::new(1);
        let texts: std::collections::HashSet<String> = (0..50)
            .map(|_| write_report(&case, &mut rng).text)
            .collect();
        assert!(texts.len() > 45);
        let a = write_report(&case, &mut Rng::new(9)).text;
        let b = write_report(&case, &mut Rng::new(9)).text;
        assert_eq!(a, b);
    }

    /// Writes sample PNGs, a contact sheet and reports to the temp directory
    /// (`cargo test -- --ignored`).
    #[test]
    #[ignore]
    fn write_samples() {
        let dir = std::env::temp_dir().join("synth_samples");
        std::fs::create_dir_all(&dir).expect("create sample dir");
        let cases = [
            [false; 5],
            [true, false, false, false, false],
            [false, true, false, false, false],
            [false, false, true, false, false],
            [false, false, false, true, false],
            [false, false, false, false, true],
            [true, true, true, true, true],
            [false, false, false, false, true],
            [false, false, false, false, true],
        ];
        let tile = 300u32;
        let mut sheet = GrayImage::new(tile * 3, tile * 3);
        for (i, present) in cases.iter().enumerate() {
            let case = Case { present: *present };
            let mut rng = Rng::new(10 + i as u64);
            let img = render(&case, 512, &mut rng);
            img.save(dir.join(format!("sample{i}.png")))
                .expect("save png");
            render(&case, 256, &mut Rng::new(10 + i as u64))
                .save(dir.join(format!("small{i}.png")))
                .expect("save png");
            let report = write_report(&case, &mut rng);
            std::fs::write(dir.join(format!("sample{i}.txt")), &report.text).expect("write");
            let small = render(&case, tile, &mut Rng::new(10 + i as u64));
            let (ox, oy) = ((i as u32 % 3) * tile, (i as u32 / 3) * tile);
            for (x, y, p) in small.enumerate_pixels() {
                sheet.put_pixel(ox + x, oy + y, *p);
            }
        }
        sheet.save(dir.join("sheet.png")).expect("save sheet");
    }
}
