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

mod anatomy;
mod devices;
mod draw;
mod raster;
mod report;
mod scene;
mod sentences;
#[cfg(test)]
mod tests;

pub use raster::render;
pub use report::{Report, write_report};

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
