//! Tests of the renderer, the report writer and the RNG.

use image::GrayImage;

use super::report::{FILLER_CHEST, FILLER_OTHER, INDICATIONS};
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
            region_mean(img, 0.12, 0.18, 0.63, 0.69).max(region_mean(img, 0.82, 0.88, 0.66, 0.72))
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
