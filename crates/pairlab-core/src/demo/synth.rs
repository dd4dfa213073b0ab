//! TEMPORARY STUB (being replaced by the real renderer).
pub const FINDINGS: [&str; 5] = [
    "Cardiomegaly",
    "Pleural Effusion",
    "Pneumothorax",
    "Lung Lesion",
    "Support Devices",
];
pub struct Rng(u64);
impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
}
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    pub present: [bool; 5],
}
impl Case {
    pub fn random(rng: &mut Rng) -> Case {
        let mut p = [false; 5];
        for x in p.iter_mut() {
            *x = rng.chance(0.3);
        }
        Case { present: p }
    }
}
pub fn render(case: &Case, size: u32, rng: &mut Rng) -> image::GrayImage {
    let s = rng.below(50) as u8;
    let k = case.present.iter().filter(|x| **x).count() as u8;
    image::GrayImage::from_fn(size, size, |x, y| {
        image::Luma([(x as u8) ^ (y as u8).wrapping_add(s) ^ k])
    })
}
pub struct Report {
    pub text: String,
    pub stated: [Option<i8>; 5],
    pub no_finding: Option<i8>,
}
pub fn write_report(case: &Case, _rng: &mut Rng) -> Report {
    let mut t = String::from("FINDINGS: ");
    for (i, f) in FINDINGS.iter().enumerate() {
        if case.present[i] {
            t.push_str(&format!("{f}. "));
        }
    }
    t.push_str("\nIMPRESSION: stub.\n");
    Report {
        text: t,
        stated: [None; 5],
        no_finding: None,
    }
}
