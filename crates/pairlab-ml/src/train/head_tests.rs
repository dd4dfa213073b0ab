use super::*;
use crate::train::{EpochMetrics, Targets};

/// `n` points per class around distinct centres in `dim` dimensions, with noise.
fn blobs(n: usize, classes: usize, dim: usize, noise: f32, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = SplitMix64(seed);
    let centres: Vec<Vec<f32>> = (0..classes)
        .map(|c| {
            (0..dim)
                .map(|k| if k % classes == c { 2.0 } else { 0.0 })
                .collect()
        })
        .collect();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n * classes {
        let c = i % classes;
        x.extend(centres[c].iter().map(|v| v + noise * rng.unit()));
        y.push(c);
    }
    (x, y)
}

fn multi_class(y: &[usize], classes: usize) -> Targets {
    Targets::MultiClass {
        values: y.iter().map(|&c| Some(c)).collect(),
        classes,
    }
}

fn accuracy(head: &Head, x: &[f32], y: &[usize]) -> f64 {
    let p = head.predict(x).expect("predict");
    let c = head.shape.classes;
    let hits = y
        .iter()
        .enumerate()
        .filter(|&(i, &t)| {
            let row = &p[i * c..(i + 1) * c];
            let best = (0..c)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap_or(0);
            best == t
        })
        .count();
    hits as f64 / y.len() as f64
}

#[test]
fn separable_multi_class_set_is_learned() {
    let (x, y) = blobs(60, 3, 8, 0.8, 1);
    let (xv, yv) = blobs(20, 3, 8, 0.8, 2);
    let (xt, yt) = blobs(40, 3, 8, 0.8, 3);
    for hidden in [0, 16] {
        let cfg = HeadConfig {
            hidden,
            epochs: 60,
            ..Default::default()
        };
        let t = train(
            &x,
            &multi_class(&y, 3),
            &xv,
            &multi_class(&yv, 3),
            8,
            &cfg,
            &mut |_| true,
        )
        .expect("train");
        let acc = accuracy(&t.head, &xt, &yt);
        assert!(acc >= 0.97, "hidden {hidden}: test accuracy {acc}");
        assert!(t.history.first().map(|m| m.train_loss) > t.history.last().map(|m| m.train_loss));
    }
}

#[test]
fn multi_label_with_blanks_is_learned() {
    // Class 0 positive when x0 > 0, class 1 when x1 > 0; every 5th class-1 label is blank.
    let mut rng = SplitMix64(9);
    let n = 400;
    let x: Vec<f32> = (0..n * 4).map(|_| rng.unit() * 2.0).collect();
    let values: Vec<f32> = (0..n)
        .flat_map(|i| {
            let a = if x[i * 4] > 0.0 { 1.0 } else { 0.0 };
            let b = if i % 5 == 0 {
                f32::NAN
            } else if x[i * 4 + 1] > 0.0 {
                1.0
            } else {
                0.0
            };
            [a, b]
        })
        .collect();
    let t = Targets::MultiLabel {
        values: values.clone(),
        classes: 2,
    };
    let cfg = HeadConfig {
        epochs: 80,
        lr: 5e-2,
        ..Default::default()
    };
    let trained = train(
        &x[..300 * 4],
        &Targets::MultiLabel {
            values: values[..600].to_vec(),
            classes: 2,
        },
        &x[300 * 4..],
        &Targets::MultiLabel {
            values: values[600..].to_vec(),
            classes: 2,
        },
        4,
        &cfg,
        &mut |_| true,
    )
    .expect("train");
    let p = trained.head.predict(&x[300 * 4..]).expect("predict");
    let mut right = 0;
    for i in 0..100 {
        let truth0 = x[(300 + i) * 4] > 0.0;
        right += usize::from((p[i * 2] > 0.5) == truth0);
    }
    assert!(right >= 95, "{right}/100");
    assert_eq!(t.len(), n);
}

#[test]
fn same_seed_same_model_and_save_load_round_trip() {
    let (x, y) = blobs(30, 2, 6, 1.5, 4);
    let (xv, yv) = blobs(10, 2, 6, 1.5, 5);
    let cfg = HeadConfig {
        hidden: 8,
        epochs: 15,
        seed: 42,
        ..Default::default()
    };
    let run = |cfg: &HeadConfig| {
        train(
            &x,
            &multi_class(&y, 2),
            &xv,
            &multi_class(&yv, 2),
            6,
            cfg,
            &mut |_| true,
        )
        .expect("train")
    };
    let a = run(&cfg);
    let b = run(&cfg);
    assert_eq!(
        a.head.predict(&xv).expect("a"),
        b.head.predict(&xv).expect("b")
    );
    let figures = |h: &[EpochMetrics]| -> Vec<(usize, f64, f64, f64)> {
        h.iter()
            .map(|m| (m.epoch, m.train_loss, m.val_loss, m.lr))
            .collect()
    };
    assert_eq!(figures(&a.history), figures(&b.history));
    let c = run(&HeadConfig {
        seed: 43,
        ..cfg.clone()
    });
    assert_ne!(
        a.head.predict(&xv).expect("a"),
        c.head.predict(&xv).expect("c")
    );

    let dir = tempfile::tempdir().expect("tmp");
    a.head.save(dir.path()).expect("save");
    let loaded = Head::load(dir.path()).expect("load");
    assert_eq!(loaded.shape, a.head.shape);
    assert_eq!(
        loaded.predict(&xv).expect("loaded"),
        a.head.predict(&xv).expect("a")
    );
}

#[test]
fn early_stopping_keeps_the_best_epoch_and_cancel_stops() {
    // Labels unrelated to the inputs: validation loss stops improving early.
    let mut rng = SplitMix64(3);
    let x: Vec<f32> = (0..200 * 4).map(|_| rng.unit()).collect();
    let y: Vec<usize> = (0..200).map(|_| rng.below(2)).collect();
    let cfg = HeadConfig {
        hidden: 32,
        epochs: 200,
        patience: 3,
        lr: 5e-2,
        ..Default::default()
    };
    let t = train(
        &x[..600],
        &multi_class(&y[..150], 2),
        &x[600..],
        &multi_class(&y[150..], 2),
        4,
        &cfg,
        &mut |_| true,
    )
    .expect("train");
    assert!(
        t.history.len() < 200,
        "stopped early after {} epochs",
        t.history.len()
    );
    assert_eq!(t.history.len(), t.best_epoch + 3);
    let best = t.history[t.best_epoch - 1].val_loss;
    assert!(t.history.iter().all(|m| m.val_loss >= best));

    let mut seen = 0;
    let r = train(
        &x[..600],
        &multi_class(&y[..150], 2),
        &x[600..],
        &multi_class(&y[150..], 2),
        4,
        &cfg,
        &mut |e| {
            if let Event::Epoch(_) = e {
                seen += 1;
            }
            seen < 2
        },
    );
    assert!(matches!(r, Err(MlError::Cancelled)));
    assert_eq!(seen, 2);
}

/// Images with a bright bar in the top (class 0) or bottom (class 1) third, at a random
/// horizontal place, with noise — a task that horizontal flips and small shifts keep.
fn bars(n: usize, size: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = SplitMix64(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let c = i % 2;
        let left = rng.below(size / 2);
        for yy in 0..size {
            for xx in 0..size {
                let rows = if c == 0 {
                    2..size / 3
                } else {
                    size * 2 / 3..size - 2
                };
                let inside = rows.contains(&yy) && (left..left + size / 2).contains(&xx);
                x.push(if inside { 1.0 } else { 0.0 } + 0.2 * rng.unit());
            }
        }
        y.push(c);
    }
    (x, y)
}

#[test]
fn cnn_learns_a_small_image_task_from_scratch() {
    let size = 16;
    let (x, y) = bars(120, size, 1);
    let (xv, yv) = bars(30, size, 2);
    let (xt, yt) = bars(60, size, 3);
    let cfg = HeadConfig {
        epochs: 40,
        lr: 1e-2,
        batch: 16,
        image: Some(ImageInput {
            channels: 1,
            size,
            width: 4,
            flatten: true,
        }),
        ..Default::default()
    };
    let t = train(
        &x,
        &multi_class(&y, 2),
        &xv,
        &multi_class(&yv, 2),
        size * size,
        &cfg,
        &mut |_| true,
    )
    .expect("train");
    let acc = accuracy(&t.head, &xt, &yt);
    assert!(acc >= 0.95, "cnn test accuracy {acc}");
    let dir = tempfile::tempdir().expect("tmp");
    t.head.save(dir.path()).expect("save");
    let loaded = Head::load(dir.path()).expect("load");
    assert_eq!(loaded.shape.image, cfg.image);
    assert_eq!(
        loaded.predict(&xt).expect("a"),
        t.head.predict(&xt).expect("b")
    );
    // Wrong input size is refused.
    let bad = HeadConfig {
        image: Some(ImageInput {
            channels: 3,
            size,
            width: 4,
            flatten: true,
        }),
        ..cfg
    };
    assert!(
        train(
            &x,
            &multi_class(&y, 2),
            &xv,
            &multi_class(&yv, 2),
            size * size,
            &bad,
            &mut |_| true
        )
        .is_err()
    );
}

#[test]
fn augmentation_flips_and_shifts() {
    let input = ImageInput {
        channels: 1,
        size: 3,
        width: 1,
        flatten: true,
    };
    let img: Vec<f32> = (1..=9).map(|v| v as f32).collect();
    assert_eq!(shift_flip(&img, input, false, 0, 0), img);
    assert_eq!(
        shift_flip(&img, input, true, 0, 0),
        vec![3., 2., 1., 6., 5., 4., 9., 8., 7.]
    );
    assert_eq!(
        shift_flip(&img, input, false, 1, 0),
        vec![0., 1., 2., 0., 4., 5., 0., 7., 8.]
    );
    assert_eq!(
        shift_flip(&img, input, false, 0, -1),
        vec![4., 5., 6., 7., 8., 9., 0., 0., 0.]
    );
    let mut rng = SplitMix64(5);
    let drawn: std::collections::HashSet<Vec<u32>> = (0..200)
        .map(|_| {
            augment(&img, input, &mut rng)
                .iter()
                .map(|v| *v as u32)
                .collect()
        })
        .collect();
    assert!(
        drawn.len() > 10,
        "flips and shifts vary: {} distinct",
        drawn.len()
    );
}

/// The whole `cnn` (convolutions, pooling, ReLU, global average pooling, linear layer and
/// cross-entropy) against central finite differences of its loss, parameter by parameter.
#[test]
fn cnn_gradients_match_finite_differences() {
    // Flattened (new runs) and globally averaged (older checkpoints) feature maps.
    for flatten in [true, false] {
        gradients_match_finite_differences(flatten);
    }
}

fn gradients_match_finite_differences(flatten: bool) {
    let size = 8;
    let head = Head::build(HeadShape {
        dim: size * size,
        classes: 3,
        hidden: 0,
        multi_label: false,
        image: Some(ImageInput {
            channels: 1,
            size,
            width: 2,
            flatten,
        }),
    })
    .expect("build");
    head.init(3).expect("init");
    let (x, _) = bars(6, size, 4);
    let d = Device::Cpu;
    let xt = Tensor::from_vec(x, (6, size * size), &d).expect("x");
    let yt = Tensor::new(&[0u32, 1, 2, 0, 1, 2], &d).expect("y");
    let loss = |h: &Head| {
        crate::train::loss::cross_entropy(&crate::train::conv_graph::logits(h, &xt)?, &yt)
    };
    let grads = loss(&head).and_then(|l| l.backward()).expect("backward");
    let (mut checked, mut off) = (0, Vec::new());
    for var in head.varmap.all_vars() {
        let g = grads.get(&var).expect("grad").flatten_all().expect("g");
        let g = g.to_vec1::<f32>().expect("g");
        let original = var.as_tensor().copy().expect("copy");
        let base = original
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .expect("base");
        for i in (0..base.len()).step_by(2) {
            let at = |delta: f32| {
                let mut p = base.clone();
                p[i] += delta;
                var.set(&Tensor::from_vec(p, var.shape(), &d).expect("p"))
                    .expect("set");
                loss(&head)
                    .and_then(|l| l.to_scalar::<f32>())
                    .expect("loss")
            };
            let fd = (at(1e-2) - at(-1e-2)) / 2e-2;
            var.set(&original).expect("restore");
            checked += 1;
            if (fd - g[i]).abs() > 2e-3 + 0.05 * g[i].abs() {
                off.push((i, fd, g[i]));
            }
        }
    }
    // A difference step can straddle a ReLU or pooling kink; nearly all must agree.
    assert!(checked > 50);
    assert!(
        off.len() * 20 <= checked,
        "flatten {flatten}: {} of {checked} off: {off:?}",
        off.len()
    );
}
