//! The `fusion` trainer on pairs where the image tells the class for half of them and
//! the report for the other half: the joint model beats each side alone, works with one
//! side missing, and its checkpoint loads back.

use super::*;
use crate::train::Targets;
use crate::train::text::{Reader, ReportText, TextSettings, tests::tiny_bert};
use crate::train::trainer::Trainer;

const IMAGE_DIM: usize = 8;

/// Pair `i` of class `c`: the image says the class when `i` is even (else noise), the
/// report when `i` is odd (else a sentence that says nothing).
fn pairs(reader: &Reader, n: usize, seed: u64) -> (Vec<f32>, Targets) {
    let mut rng = crate::rng::SplitMix64(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = (i / 2) % 2;
        let mut img: Vec<f32> = (0..IMAGE_DIM).map(|_| 0.3 * rng.unit()).collect();
        if i % 2 == 0 {
            img[0] += if c == 1 { 1.0 } else { -1.0 };
        }
        let text = match (i % 2, c) {
            (1, 1) => "large pleural effusion on the left",
            (1, _) => "lungs are clear no acute disease",
            _ => "study reviewed by the radiologist",
        };
        let tokens = reader
            .row(ReportText {
                text,
                findings: None,
                impression: None,
            })
            .expect("row")
            .expect("some");
        x.extend(row(Some(&img), IMAGE_DIM, Some(&tokens), reader.max_len()));
        y.push(Some(c));
    }
    (
        x,
        Targets::MultiClass {
            values: y,
            classes: 2,
        },
    )
}

fn settings(dir: &Path, fusion: Fusion) -> Settings {
    Settings {
        epochs: 60,
        lr: 1e-2,
        hidden: 32,
        size: 0,
        uncertain: Uncertain::Ignore,
        seed: 3,
        tune: crate::train::finetune::Tune {
            batch: 16,
            device: DeviceChoice::Cpu,
            ..Default::default()
        },
        text: TextSettings {
            model: Some(dir.to_path_buf()),
            section: Section::Both,
            fusion,
        },
    }
}

fn accuracy(p: &[f32], t: &Targets) -> f64 {
    let Targets::MultiClass { values, .. } = t else {
        unreachable!()
    };
    let right = p
        .chunks(2)
        .zip(values)
        .filter(|(r, y)| Some(usize::from(r[1] > r[0])) == **y)
        .count();
    right as f64 / values.len() as f64
}

#[test]
fn fusion_beats_each_side_alone_and_predicts_with_one_side_missing() {
    let dir = tempfile::tempdir().expect("tmp");
    tiny_bert(dir.path(), 8);
    let reader = Reader::load(dir.path(), Section::Both).expect("reader");
    let (x, t) = pairs(&reader, 96, 1);
    let (xv, tv) = pairs(&reader, 32, 2);
    let (xt, tt) = pairs(&reader, 48, 3);
    let dim = IMAGE_DIM + 2 + reader.max_len();
    assert_eq!(
        row_layout(dim, reader.max_len()),
        Some((IMAGE_DIM, IMAGE_DIM + 1))
    );
    let fusion = Trainer::Fusion.fitter();
    for kind in [Fusion::Concat, Fusion::Attention] {
        let s = settings(dir.path(), kind);
        let fitted = fusion
            .fit(
                Part { x: &x, targets: &t },
                Part {
                    x: &xv,
                    targets: &tv,
                },
                dim,
                &s,
                &mut |_| true,
            )
            .expect("fit");
        let both = accuracy(&fitted.model.predict(&xt).expect("p"), &tt);
        let views = fitted
            .model
            .predict_views(&xt)
            .expect("views")
            .expect("some");
        let (image, report) = (accuracy(&views.image, &tt), accuracy(&views.report, &tt));
        assert!(both >= 0.9, "{kind}: both {both}");
        assert!(
            image < 0.85 && report < 0.85,
            "{kind}: image {image}, report {report}"
        );
        assert!(
            image > 0.6 && report > 0.6,
            "{kind}: each side alone still helps: {image} {report}"
        );
        // A pair without a report (count 0) or without an image is still predicted, from
        // the other side: the image-telling pairs without their reports are right.
        let mut no_report = Vec::new();
        let mut truth = Vec::new();
        let Targets::MultiClass { values, .. } = &tt else {
            unreachable!()
        };
        for (i, r) in xt.chunks(dim).enumerate().filter(|(i, _)| i % 2 == 0) {
            let mut r = r.to_vec();
            r[IMAGE_DIM + 1..].iter_mut().for_each(|v| *v = 0.0);
            no_report.extend(r);
            truth.push(values[i]);
        }
        let p = fitted.model.predict(&no_report).expect("p");
        let acc = accuracy(
            &p,
            &Targets::MultiClass {
                values: truth,
                classes: 2,
            },
        );
        assert!(acc >= 0.9, "{kind}: image-only pairs {acc}");
        // The checkpoint loads back through the trainer and predicts the same.
        let out = tempfile::tempdir().expect("tmp");
        fitted.model.save(out.path()).expect("save");
        let loaded = fusion.load(out.path()).expect("load");
        let (a, b) = (
            fitted.model.predict(&xt).expect("a"),
            loaded.predict(&xt).expect("b"),
        );
        assert!(
            a.iter().zip(&b).all(|(u, v)| (u - v).abs() < 1e-5),
            "{kind}"
        );
    }
    // Fine-tuning inside a fusion run is refused with what to do instead.
    let mut s = settings(dir.path(), Fusion::Concat);
    s.tune.unfreeze = Unfreeze::All;
    let e = fusion.config(&s).expect_err("refused").to_string();
    assert!(e.contains("frozen") && e.contains("finetune"), "{e}");
}
