//! The hand-written step against candle's autograd over the same network
//! ([`Head::logits`]): the same loss and the same gradient for every weight.

use super::*;
use crate::rng::SplitMix64;
use crate::train::head::{HeadShape, ImageInput};
use crate::train::loss::{
    bce_targets, cross_entropy, cross_entropy_grad, masked_bce, masked_bce_grad,
};

struct Case {
    /// Images in the batch (from 16 on, it is split in two halves; 19: unequal ones).
    n: usize,
    channels: usize,
    size: usize,
    flatten: bool,
    hidden: usize,
    multi_label: bool,
}

fn check(case: &Case) {
    let Case {
        n,
        channels,
        size,
        flatten,
        hidden,
        multi_label,
    } = *case;
    let classes = 3;
    let dim = channels * size * size;
    let head = Head::build(HeadShape {
        dim,
        classes,
        hidden,
        multi_label,
        image: Some(ImageInput {
            channels,
            size,
            width: 3,
            flatten,
        }),
    })
    .expect("build");
    head.init(11).expect("init");
    let mut rng = SplitMix64(7);
    let x: Vec<f32> = (0..n * dim).map(|_| rng.unit()).collect();
    let d = Device::Cpu;
    let xt = Tensor::from_vec(x.clone(), (n, dim), &d).expect("x");
    let z = crate::train::conv_graph::logits(&head, &xt).expect("logits");
    let (reference, (loss, grads)) = if multi_label {
        // Labels 1, 0, uncertain and blank; uncertain counts as 1 (U-Ones).
        let values: Vec<f32> = (0..n * classes)
            .map(|i| [1.0, 0.0, -1.0, f32::NAN][i % 4])
            .collect();
        let (t, m) = bce_targets(&values, crate::train::Uncertain::Ones);
        let tt = Tensor::from_vec(t.clone(), (n, classes), &d).expect("t");
        let mt = Tensor::from_vec(m.clone(), (n, classes), &d).expect("m");
        (
            masked_bce(&z, &tt, &mt).expect("bce"),
            step(&head, x, n, |z| masked_bce_grad(z, &t, &m)).expect("step"),
        )
    } else {
        let y: Vec<u32> = (0..n as u32).map(|i| i % classes as u32).collect();
        let yt = Tensor::new(y.as_slice(), &d).expect("y");
        (
            cross_entropy(&z, &yt).expect("ce"),
            step(&head, x, n, |z| cross_entropy_grad(z, classes, &y)).expect("step"),
        )
    };
    let expected = reference.to_scalar::<f32>().expect("loss");
    assert!(
        (loss - f64::from(expected)).abs() < 1e-5,
        "loss {loss} vs autograd {expected}"
    );
    let auto = reference.backward().expect("backward");
    let vars = head.varmap.all_vars();
    assert_eq!(vars.len(), 2 * 3 + 2 + if hidden > 0 { 2 } else { 0 });
    for var in vars {
        let flat = |g: &Tensor| g.flatten_all().and_then(|g| g.to_vec1::<f32>());
        let want = flat(auto.get(&var).expect("autograd gradient")).expect("want");
        let got = flat(grads.get(&var).expect("hand gradient")).expect("got");
        assert_eq!(got.len(), want.len());
        let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4 * scale,
                "{:?} [{i}]: {g} vs autograd {w}",
                var.shape()
            );
        }
    }
}

#[test]
fn hand_written_step_matches_autograd() {
    for (channels, size) in [(1, 8), (3, 8), (1, 10)] {
        for flatten in [true, false] {
            for hidden in [0, 4] {
                for multi_label in [false, true] {
                    check(&Case {
                        n: 19,
                        channels,
                        size,
                        flatten,
                        hidden,
                        multi_label,
                    });
                }
            }
        }
    }
}

#[test]
fn a_small_batch_is_not_split() {
    check(&Case {
        n: 5,
        channels: 1,
        size: 8,
        flatten: true,
        hidden: 0,
        multi_label: false,
    });
}

#[test]
fn a_head_without_images_is_refused() {
    let head = Head::build(HeadShape {
        dim: 4,
        classes: 2,
        hidden: 0,
        multi_label: false,
        image: None,
    })
    .expect("build");
    let result = step(&head, vec![0.0; 4], 1, |z| (0.0, vec![0.0; z.len()]));
    assert!(result.is_err());
}

/// Inference (chunks of 256 through the hand-written forward pass, side by side) gives
/// the candle graph's logits, in order, across a chunk boundary.
#[test]
fn inference_matches_the_candle_graph() {
    let (n, size) = (300, 8);
    let head = Head::build(HeadShape {
        dim: size * size,
        classes: 4,
        hidden: 0,
        multi_label: false,
        image: Some(ImageInput {
            channels: 1,
            size,
            width: 2,
            flatten: true,
        }),
    })
    .expect("build");
    head.init(5).expect("init");
    let mut rng = SplitMix64(9);
    let x: Vec<f32> = (0..n * size * size).map(|_| rng.unit()).collect();
    let got = head.logits_no_grad(&x).expect("inference");
    let xt = Tensor::from_slice(&x, (n, size * size), &Device::Cpu).expect("x");
    let want = crate::train::conv_graph::logits(&head, &xt).expect("graph");
    assert_eq!(got.dims(), want.dims());
    let diff = (got - want)
        .and_then(|d| d.abs()?.max_all()?.to_scalar::<f32>())
        .expect("diff");
    assert!(diff < 1e-5, "max difference {diff}");
}
