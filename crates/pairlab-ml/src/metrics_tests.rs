use super::*;
use crate::curves::{pr_curve, roc_curve};

#[rustfmt::skip]
#[path = "sklearn_fixture.rs"]
mod sklearn_fixture;

use sklearn_fixture::{BINARY, BINARY_COUNTS, MULTICLASS};

const TOL: f64 = 1e-9;

fn close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= TOL, "{what}: {a} vs {b}");
}

fn some(v: Option<f64>) -> f64 {
    v.expect("metric should be defined")
}

#[test]
fn roc_auc_hand_cases() {
    close(
        some(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true])),
        0.75,
        "sklearn doc",
    );
    // Pairs (pos, neg): (.5,.2)=1, (.5,.5)=½, (.9,.2)=1, (.9,.5)=1 → 3.5/4.
    close(
        some(roc_auc(&[0.2, 0.5, 0.5, 0.9], &[false, true, false, true])),
        0.875,
        "tie",
    );
    close(
        some(roc_auc(&[0.5; 4], &[true, false, true, false])),
        0.5,
        "all tied",
    );
    close(
        some(roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true])),
        1.0,
        "perfect",
    );
    close(
        some(roc_auc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true])),
        0.0,
        "reversed",
    );
    assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
    assert_eq!(roc_auc(&[], &[]), None);
}

#[test]
#[should_panic(expected = "same length")]
fn roc_auc_length_mismatch_panics() {
    let _ = roc_auc(&[0.1, 0.2], &[true]);
}

#[test]
fn average_precision_hand_cases() {
    // .8: R ½ P 1; .4: R ½ P ½; .35: R 1 P ⅔ → ½ + 0 + ⅓.
    let ap = some(average_precision(
        &[0.1, 0.4, 0.35, 0.8],
        &[false, false, true, true],
    ));
    close(ap, 5.0 / 6.0, "sklearn doc");
    // Tied top three: R ⅔ P ⅔, then R 1 P ¾ → 4/9 + 1/4.
    let ap = some(average_precision(
        &[0.5, 0.5, 0.5, 0.1],
        &[true, false, true, true],
    ));
    close(ap, 25.0 / 36.0, "ties");
    close(
        some(average_precision(&[0.3, 0.1], &[true, true])),
        1.0,
        "only positives",
    );
    assert_eq!(average_precision(&[0.3, 0.1], &[false, false]), None);
    assert_eq!(average_precision(&[], &[]), None);
}

#[test]
fn roc_curve_hand_cases() {
    let c = roc_curve(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
    let want = [
        (0.0, 0.0, f32::INFINITY),
        (0.0, 0.5, 0.8),
        (0.5, 0.5, 0.4),
        (0.5, 1.0, 0.35),
        (1.0, 1.0, 0.1),
    ];
    assert_eq!(c, want);
    // 0.8 sits in the middle of a straight run and is dropped (like sklearn).
    let c = roc_curve(&[0.9, 0.8, 0.7, 0.1], &[true, true, true, false]);
    let thresholds: Vec<f32> = c.iter().map(|p| p.2).collect();
    assert_eq!(thresholds, [f32::INFINITY, 0.9, 0.7, 0.1]);
    assert!(roc_curve(&[0.1, 0.2], &[true, true]).is_empty());
    assert!(roc_curve(&[0.1, 0.2], &[false, false]).is_empty());
    assert!(roc_curve(&[], &[]).is_empty());
}

#[test]
fn pr_curve_hand_cases() {
    let c = pr_curve(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]);
    assert_eq!(c.len(), 5);
    assert_eq!(c[0], (0.0, 1.0, f32::INFINITY));
    assert_eq!(c[1], (0.5, 1.0, 0.8));
    assert_eq!(c[2], (0.5, 0.5, 0.4));
    close(c[3].1, 2.0 / 3.0, "precision at 0.35");
    assert_eq!((c[3].0, c[3].2), (1.0, 0.35));
    assert_eq!(c[4], (1.0, 0.5, 0.1));
    assert!(pr_curve(&[0.1, 0.2], &[false, false]).is_empty());
    assert!(pr_curve(&[], &[]).is_empty());
}

#[test]
fn expected_calibration_error_hand_cases() {
    let tol = 1e-6; // probabilities are f32
    // Bin [0,½): conf .15, acc ½; bin [½,1]: conf .85, acc 1 → ½·.35 + ½·.15.
    let e = expected_calibration_error(&[0.1, 0.2, 0.8, 0.9], &[false, true, true, true], 2);
    assert!((e - 0.25).abs() < tol, "{e}");
    let e = expected_calibration_error(&[0.5; 4], &[true, false, true, false], 10);
    assert!(e.abs() < tol, "{e}");
    // 1.0 lands in the last bin; values above 1 are clamped.
    assert_eq!(
        expected_calibration_error(&[1.0, 1.5], &[true, true], 10),
        0.0
    );
    assert_eq!(
        expected_calibration_error(&[0.0, -0.5], &[false, false], 10),
        0.0
    );
    assert_eq!(expected_calibration_error(&[], &[], 10), 0.0);
    // bins == 0 is one bin: conf .3, acc .5.
    let e = expected_calibration_error(&[0.2, 0.4], &[true, false], 0);
    assert!((e - 0.2).abs() < tol, "{e}");
}

#[test]
fn best_threshold_f1_hand_cases() {
    // F1 at .9 ⅔, .8 ½, .3 ⅘, .2 ⅔.
    assert_eq!(
        best_threshold_f1(&[0.9, 0.8, 0.3, 0.2], &[true, false, true, false]),
        0.3
    );
    // F1 ⅔ at both .9 and .4: the higher threshold wins.
    assert_eq!(
        best_threshold_f1(&[0.9, 0.6, 0.5, 0.4], &[true, false, false, true]),
        0.9
    );
    assert_eq!(
        best_threshold_f1(&[0.9, 0.1], &[false, false]),
        f32::INFINITY
    );
    assert_eq!(best_threshold_f1(&[], &[]), f32::INFINITY);
}

fn abc() -> Vec<String> {
    ["a", "b", "c"].iter().map(|s| s.to_string()).collect()
}

#[test]
fn confusion_matrix_hand_case() {
    let cm = ConfusionMatrix::new(abc(), &[0, 0, 1, 1, 2, 2], &[0, 1, 1, 1, 0, 2]);
    assert_eq!(cm.matrix, vec![vec![1, 1, 0], vec![0, 2, 0], vec![1, 0, 1]]);
    assert_eq!(cm.total(), 6);
    let r = per_class(&cm);
    assert_eq!(
        r.iter().map(|c| c.class.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(r.iter().map(|c| c.support).collect::<Vec<_>>(), [2, 2, 2]);
    let want = [
        (0.5, 0.5, 0.5),
        (2.0 / 3.0, 1.0, 0.8),
        (1.0, 0.5, 2.0 / 3.0),
    ];
    for (c, (p, rc, f)) in r.iter().zip(want) {
        close(c.precision, p, "precision");
        close(c.recall, rc, "recall");
        close(c.f1, f, "f1");
    }
    close(accuracy(&cm), 4.0 / 6.0, "accuracy");
    close(micro_f1(&cm), 4.0 / 6.0, "micro f1");
    close(macro_f1(&r), (0.5 + 0.8 + 2.0 / 3.0) / 3.0, "macro f1");
}

#[test]
fn confusion_matrix_zero_division_and_empty() {
    // Class c is neither true nor predicted: all zeros, no NaN.
    let cm = ConfusionMatrix::new(abc(), &[0, 1], &[0, 0]);
    let r = per_class(&cm);
    assert_eq!((r[1].precision, r[1].recall, r[1].f1), (0.0, 0.0, 0.0));
    assert_eq!(
        (r[2].precision, r[2].recall, r[2].f1, r[2].support),
        (0.0, 0.0, 0.0, 0)
    );
    let empty = ConfusionMatrix::new(abc(), &[], &[]);
    assert_eq!((accuracy(&empty), micro_f1(&empty)), (0.0, 0.0));
    assert_eq!(macro_f1(&[]), 0.0);
}

#[test]
#[should_panic(expected = "out of range")]
fn confusion_matrix_bad_index_panics() {
    let _ = ConfusionMatrix::new(abc(), &[3], &[0]);
}

#[test]
fn binary_counts_hand_case() {
    let c = binary_counts(
        &[true, true, false, false, true],
        &[true, false, true, false, true],
    );
    assert_eq!(c, [[1, 1], [1, 2]]);
    close(binary_precision(&c), 2.0 / 3.0, "precision");
    close(binary_recall(&c), 2.0 / 3.0, "recall");
    close(binary_f1(&c), 2.0 / 3.0, "f1");
    let none = binary_counts(&[false, false], &[false, false]);
    assert_eq!(none, [[2, 0], [0, 0]]);
    assert_eq!(
        (
            binary_precision(&none),
            binary_recall(&none),
            binary_f1(&none)
        ),
        (0.0, 0.0, 0.0)
    );
}

#[test]
fn results_are_serializable() {
    fn is_serde<T: Serialize + for<'de> Deserialize<'de>>() {}
    is_serde::<Ci>();
    is_serde::<ConfusionMatrix>();
    is_serde::<ClassReport>();
}

#[test]
fn sklearn_binary_cases() {
    for c in BINARY {
        let name = c.name;
        close(some(roc_auc(c.scores, c.labels)), c.roc_auc, name);
        close(
            some(average_precision(c.scores, c.labels)),
            c.average_precision,
            name,
        );
        assert_eq!(
            best_threshold_f1(c.scores, c.labels),
            c.best_threshold_f1,
            "{name}"
        );

        let roc = roc_curve(c.scores, c.labels);
        assert_eq!(roc.len(), c.roc_fpr.len(), "{name}");
        for (i, &(fpr, tpr, t)) in roc.iter().enumerate() {
            close(fpr, c.roc_fpr[i], name);
            close(tpr, c.roc_tpr[i], name);
            assert_eq!(t, c.roc_thresholds[i], "{name} roc threshold {i}");
        }
        // The area under the (trapezoidal) ROC curve is the AUROC.
        let area: f64 = roc
            .windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum();
        close(area, c.roc_auc, name);

        // sklearn: increasing thresholds, then the (precision 1, recall 0) end.
        let pr = pr_curve(c.scores, c.labels);
        let m = c.pr_thresholds.len();
        assert_eq!(pr.len(), m + 1, "{name}");
        assert_eq!(
            (c.pr_recall[m], c.pr_precision[m]),
            (pr[0].0, pr[0].1),
            "{name}"
        );
        for (j, &(recall, precision, t)) in pr[1..].iter().enumerate() {
            let i = m - 1 - j;
            close(recall, c.pr_recall[i], name);
            close(precision, c.pr_precision[i], name);
            assert_eq!(t, c.pr_thresholds[i], "{name} pr threshold {i}");
        }
    }
}

#[test]
fn sklearn_multiclass_cases() {
    for c in MULTICLASS {
        let name = c.name;
        let cm = ConfusionMatrix::new(abc(), c.truth, c.pred);
        let want: Vec<Vec<u64>> = c.confusion.iter().map(|r| r.to_vec()).collect();
        assert_eq!(cm.matrix, want, "{name}");
        let r = per_class(&cm);
        for (i, rep) in r.iter().enumerate() {
            close(rep.precision, c.precision[i], name);
            close(rep.recall, c.recall[i], name);
            close(rep.f1, c.f1[i], name);
            assert_eq!(rep.support, c.support[i], "{name}");
        }
        let k = r.len() as f64;
        close(
            r.iter().map(|x| x.precision).sum::<f64>() / k,
            c.macro_precision,
            name,
        );
        close(
            r.iter().map(|x| x.recall).sum::<f64>() / k,
            c.macro_recall,
            name,
        );
        close(macro_f1(&r), c.macro_f1, name);
        close(micro_f1(&cm), c.micro_f1, name);
        close(accuracy(&cm), c.accuracy, name);
        close(accuracy(&cm), c.micro_precision, name);
        close(accuracy(&cm), c.micro_recall, name);
    }
}

#[test]
fn sklearn_binary_counts_cases() {
    for c in BINARY_COUNTS {
        let counts = binary_counts(c.pred, c.truth);
        assert_eq!(counts, c.counts, "{}", c.name);
        close(binary_precision(&counts), c.precision, c.name);
        close(binary_recall(&counts), c.recall, c.name);
        close(binary_f1(&counts), c.f1, c.name);
    }
}

#[test]
fn percentile_matches_numpy_linear() {
    // np.percentile([1, 2, 3, 4], [2.5, 97.5]) == [1.075, 3.925]
    let v = [1.0, 2.0, 3.0, 4.0];
    close(percentile_sorted(&v, 0.025), 1.075, "2.5%");
    close(percentile_sorted(&v, 0.975), 3.925, "97.5%");
    close(percentile_sorted(&[7.0], 0.975), 7.0, "single");
}

/// Labels alternate; scores = label + noise in [0, 2.5): separable on
/// average, noisy per sample (AUROC = 1 − 0.6²/2 = 0.82 in expectation).
fn noisy_set(n: usize, seed: u64) -> (Vec<f32>, Vec<bool>) {
    let mut rng = SplitMix64(seed);
    let labels: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
    let scores = labels
        .iter()
        .map(|&l| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            (f64::from(u8::from(l)) + 2.5 * u) as f32
        })
        .collect();
    (scores, labels)
}

fn auc_ci(n: usize, seed: u64) -> Ci {
    let (s, l) = noisy_set(n, 7);
    let stat = |idx: &[usize]| {
        let ss: Vec<f32> = idx.iter().map(|&i| s[i]).collect();
        let ll: Vec<bool> = idx.iter().map(|&i| l[i]).collect();
        roc_auc(&ss, &ll)
    };
    Ci::bootstrap(n, 400, seed, stat).expect("CI should exist")
}

#[test]
fn bootstrap_is_deterministic() {
    let a = auc_ci(200, 42);
    assert_eq!(a, auc_ci(200, 42));
    assert_ne!(a, auc_ci(200, 43));
    // Same result on a single thread as on the default pool.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    assert_eq!(pool.install(|| auc_ci(200, 42)), a);
}

#[test]
fn bootstrap_ci_contains_estimate_and_narrows() {
    let small = auc_ci(60, 1);
    let large = auc_ci(1000, 1);
    for ci in [small, large] {
        assert!(ci.low <= ci.value && ci.value <= ci.high, "{ci:?}");
        assert!(ci.value > 0.7 && ci.value < 0.95, "{ci:?}");
    }
    assert!(
        large.high - large.low < (small.high - small.low) / 2.0,
        "{small:?} {large:?}"
    );
}

#[test]
fn bootstrap_resamples_and_skips() {
    // Every resample has n indices in 0..n.
    let ci = bootstrap_ci(5, 50, 3, |idx| {
        assert!(idx.len() == 5 && idx.iter().all(|&i| i < 5));
        Some(idx.iter().sum::<usize>() as f64)
    });
    let (low, high) = ci.expect("defined");
    assert!(0.0 <= low && low <= high && high <= 20.0);
    // Resamples where the statistic is undefined are skipped.
    let only_with_zero = bootstrap_ci(5, 200, 3, |idx| idx.contains(&0).then_some(1.0));
    assert_eq!(only_with_zero, Some((1.0, 1.0)));
    assert_eq!(bootstrap_ci(5, 50, 3, |_| None), None);
    assert_eq!(bootstrap_ci(5, 0, 3, |_| Some(1.0)), None);
    assert_eq!(Ci::bootstrap(5, 50, 3, |_| None), None);
}
