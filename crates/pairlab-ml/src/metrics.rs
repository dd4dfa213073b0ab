//! Evaluation metrics for classifiers: ranking metrics for binary scores
//! (AUROC, average precision), calibration error, bootstrap confidence
//! intervals, and confusion-matrix based metrics for multi-class and
//! per-class binary predictions.
//!
//! Conventions follow scikit-learn: a score `s` predicts positive at
//! threshold `t` when `s >= t`, and a ratio whose denominator is zero is 0
//! (scikit-learn's `zero_division=0`).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::curves::cuts;
use rng::SplitMix64;

/// Random numbers for the bootstrap (to be replaced by `crate::rng`).
use crate::rng;

/// `num / den`, or 0 when `den` is 0.
fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Area under the ROC curve, computed with the Mann–Whitney U statistic:
/// `(R₊ − n₊(n₊+1)/2) / (n₊ n₋)` where `R₊` is the sum of the (1-based,
/// ascending) ranks of the positives and tied scores get their average rank,
/// so a tied positive/negative pair counts one half.
///
/// Returns `None` when only one class (or no sample) is present. Scores are
/// ordered as in [`crate::curves`] (NaN above every number).
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub fn roc_auc(scores: &[f32], labels: &[bool]) -> Option<f64> {
    assert_eq!(
        scores.len(),
        labels.len(),
        "scores and labels must have the same length"
    );
    let n_pos = labels.iter().filter(|&&l| l).count();
    let n_neg = labels.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut pairs: Vec<(f32, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0f64;
    let mut start = 0;
    while start < pairs.len() {
        let mut end = start + 1;
        while end < pairs.len() && crate::curves::tied(pairs[end].0, pairs[start].0) {
            end += 1;
        }
        // Ranks start+1 ..= end, averaged.
        let avg_rank = (start + 1 + end) as f64 / 2.0;
        let pos_in_group = pairs[start..end].iter().filter(|p| p.1).count();
        rank_sum += avg_rank * pos_in_group as f64;
        start = end;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Average precision as scikit-learn defines it (no interpolation):
/// `AP = Σₙ (Rₙ − Rₙ₋₁) Pₙ` over thresholds at the distinct scores in
/// descending order, with `R₀ = 0`.
///
/// Returns `None` when there is no positive (or no sample).
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub fn average_precision(scores: &[f32], labels: &[bool]) -> Option<f64> {
    let all = cuts(scores, labels);
    let total_pos = all.last()?.tp;
    if total_pos == 0 {
        return None;
    }
    let p = total_pos as f64;
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    for c in &all {
        let recall = c.tp as f64 / p;
        let precision = c.tp as f64 / (c.tp + c.fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    Some(ap)
}

/// Threshold that maximises F1 when predicting positive for `score >= t`.
///
/// Candidates are every distinct score plus `f32::INFINITY` (predict
/// nothing, F1 = 0); among equal F1 values the higher threshold wins, so
/// data without positives (or no data) gives `f32::INFINITY`.
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub fn best_threshold_f1(scores: &[f32], labels: &[bool]) -> f32 {
    let all = cuts(scores, labels);
    let total_pos = all.last().map_or(0, |c| c.tp);
    let mut best = (0.0f64, f32::INFINITY);
    for c in &all {
        // F1 = 2TP / (2TP + FP + FN) = 2TP / (TP + FP + P).
        let f1 = ratio(2 * c.tp, c.tp + c.fp + total_pos);
        if f1 > best.0 {
            best = (f1, c.threshold);
        }
    }
    best.1
}

/// Expected calibration error of binary probabilities, in the binary
/// reliability-diagram form: probabilities go into `bins` equal-width bins
/// on `[0, 1]` (bin `k` is `[k/bins, (k+1)/bins)`, the last one also holds
/// 1.0; values outside `[0, 1]` are clamped), and
/// `ECE = Σ_b (n_b / N) · |acc_b − conf_b|` where `conf_b` is the mean
/// probability in the bin and `acc_b` the fraction of positives in it.
/// (This is not the top-label multi-class ECE: `probs` are the positive
/// class's probabilities, not the confidence of the predicted class.)
///
/// Empty bins contribute nothing; no sample gives 0. `bins == 0` is taken
/// as 1.
///
/// # Panics
/// When `probs` and `labels` differ in length.
pub fn expected_calibration_error(probs: &[f32], labels: &[bool], bins: usize) -> f64 {
    assert_eq!(
        probs.len(),
        labels.len(),
        "probs and labels must have the same length"
    );
    if probs.is_empty() {
        return 0.0;
    }
    let bins = bins.max(1);
    // Per bin: (count, sum of probabilities, positives).
    let mut acc = vec![(0u64, 0.0f64, 0u64); bins];
    for (&p, &l) in probs.iter().zip(labels) {
        let p = f64::from(p).clamp(0.0, 1.0);
        let k = ((p * bins as f64) as usize).min(bins - 1);
        acc[k].0 += 1;
        acc[k].1 += p;
        acc[k].2 += u64::from(l);
    }
    let total = probs.len() as f64;
    acc.iter()
        .filter(|b| b.0 > 0)
        .map(|&(n, sum_p, pos)| {
            let n = n as f64;
            (n / total) * (pos as f64 / n - sum_p / n).abs()
        })
        .sum()
}

/// A point estimate with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, TS)]
pub struct Ci {
    /// The statistic on the full data.
    pub value: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
}

impl Ci {
    /// `stat` on all `n` indices together with its [`bootstrap_ci`]
    /// interval; `None` when either is `None`.
    pub fn bootstrap(
        n: usize,
        resamples: usize,
        seed: u64,
        stat: impl Fn(&[usize]) -> Option<f64> + Sync,
    ) -> Option<Ci> {
        let all: Vec<usize> = (0..n).collect();
        let value = stat(&all)?;
        let (low, high) = bootstrap_ci(n, resamples, seed, &stat)?;
        Some(Ci { value, low, high })
    }
}

/// Seed of resample `r`: a bijective mix of `(seed, r)`, so the streams of
/// one seed are all different and do not depend on scheduling.
fn resample_seed(seed: u64, r: usize) -> u64 {
    SplitMix64(seed ^ (r as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64()
}

/// Percentile `q` (in `[0, 1]`) of sorted `v` with linear interpolation,
/// as numpy's default `method="linear"` computes it.
fn percentile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let t = pos - lo as f64;
    let (a, b) = (v[lo], v[hi]);
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// Percentile-bootstrap 95% interval `(low, high)` of a statistic.
///
/// Each of `resamples` resamples draws `n` indices in `0..n` with
/// replacement and evaluates `stat` on them; resamples where `stat` returns
/// `None` (or NaN) are skipped. The bounds are the 2.5th and 97.5th
/// percentiles of the remaining values, interpolated linearly like numpy's
/// default. Resamples run in parallel (rayon), each with its own generator
/// seeded from `(seed, resample index)`, so the result depends only on the
/// arguments. `None` when no resample gives a value.
pub fn bootstrap_ci(
    n: usize,
    resamples: usize,
    seed: u64,
    stat: impl Fn(&[usize]) -> Option<f64> + Sync,
) -> Option<(f64, f64)> {
    let mut values: Vec<f64> = (0..resamples)
        .into_par_iter()
        .map(|r| {
            let mut rng = SplitMix64(resample_seed(seed, r));
            let idx: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
            stat(&idx)
        })
        .collect::<Vec<Option<f64>>>()
        .into_iter()
        .flatten()
        .filter(|v| !v.is_nan())
        .collect();
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some((
        percentile_sorted(&values, 0.025),
        percentile_sorted(&values, 0.975),
    ))
}

/// Multi-class confusion matrix: `matrix[t][p]` counts samples of true
/// class `t` predicted as class `p` (rows true, columns predicted), like
/// scikit-learn's `confusion_matrix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ConfusionMatrix {
    /// Class names; index `i` names row and column `i`.
    pub labels: Vec<String>,
    /// Counts, `labels.len()` × `labels.len()`, rows true, columns predicted.
    pub matrix: Vec<Vec<u64>>,
}

impl ConfusionMatrix {
    /// Counts pairs of true and predicted class indices (into `labels`).
    ///
    /// # Panics
    /// When `truth` and `pred` differ in length or an index is not below
    /// `labels.len()`.
    pub fn new(labels: Vec<String>, truth: &[usize], pred: &[usize]) -> Self {
        assert_eq!(
            truth.len(),
            pred.len(),
            "truth and pred must have the same length"
        );
        let k = labels.len();
        let mut matrix = vec![vec![0u64; k]; k];
        for (&t, &p) in truth.iter().zip(pred) {
            assert!(t < k && p < k, "class index out of range: ({t}, {p})");
            matrix[t][p] += 1;
        }
        Self { labels, matrix }
    }

    /// Number of samples counted.
    pub fn total(&self) -> u64 {
        self.matrix.iter().flatten().sum()
    }

    /// Correct predictions (the diagonal).
    fn correct(&self) -> u64 {
        self.matrix.iter().enumerate().map(|(i, row)| row[i]).sum()
    }
}

/// One class's precision, recall, F1 and support (number of true samples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    /// Class name.
    pub class: String,
    /// TP / (TP + FP), 0 when nothing was predicted as this class.
    pub precision: f64,
    /// TP / (TP + FN), 0 when the class has no true sample.
    pub recall: f64,
    /// 2TP / (2TP + FP + FN), 0 when that denominator is 0.
    pub f1: f64,
    /// Number of samples whose true class is this one.
    pub support: u64,
}

/// Per-class precision, recall, F1 and support, one report per label in
/// order (scikit-learn's `precision_recall_fscore_support(average=None,
/// zero_division=0)`).
pub fn per_class(cm: &ConfusionMatrix) -> Vec<ClassReport> {
    let k = cm.labels.len();
    (0..k)
        .map(|i| {
            let tp = cm.matrix[i][i];
            let support: u64 = cm.matrix[i].iter().sum();
            let predicted: u64 = cm.matrix.iter().map(|row| row[i]).sum();
            ClassReport {
                class: cm.labels[i].clone(),
                precision: ratio(tp, predicted),
                recall: ratio(tp, support),
                f1: ratio(2 * tp, support + predicted),
                support,
            }
        })
        .collect()
}

/// Fraction of samples on the diagonal; 0 for an empty matrix.
pub fn accuracy(cm: &ConfusionMatrix) -> f64 {
    ratio(cm.correct(), cm.total())
}

/// Unweighted mean of the classes' F1 (0 for no class). It averages over
/// every report given, including classes with no true and no predicted
/// sample (F1 = 0); scikit-learn by default only uses the labels present
/// in the data, so pass only those reports to match it.
pub fn macro_f1(reports: &[ClassReport]) -> f64 {
    if reports.is_empty() {
        return 0.0;
    }
    reports.iter().map(|r| r.f1).sum::<f64>() / reports.len() as f64
}

/// Micro-averaged F1 from pooled counts. For single-label multi-class data
/// every error is one FP and one FN, so this equals [`accuracy`].
pub fn micro_f1(cm: &ConfusionMatrix) -> f64 {
    let tp = cm.correct();
    let errors = cm.total() - tp;
    // 2TP / (2TP + FP + FN) with FP = FN = errors.
    ratio(2 * tp, 2 * tp + 2 * errors)
}

/// Binary confusion counts `[[TN, FP], [FN, TP]]`: rows are the true value
/// (false, true), columns the predicted one — note the argument order,
/// predictions first.
///
/// # Panics
/// When `pred` and `truth` differ in length.
pub fn binary_counts(pred: &[bool], truth: &[bool]) -> [[u64; 2]; 2] {
    assert_eq!(
        pred.len(),
        truth.len(),
        "pred and truth must have the same length"
    );
    let mut c = [[0u64; 2]; 2];
    for (&p, &t) in pred.iter().zip(truth) {
        c[usize::from(t)][usize::from(p)] += 1;
    }
    c
}

/// Precision TP / (TP + FP) from [`binary_counts`]; 0 when nothing was
/// predicted positive.
pub fn binary_precision(c: &[[u64; 2]; 2]) -> f64 {
    ratio(c[1][1], c[1][1] + c[0][1])
}

/// Recall TP / (TP + FN) from [`binary_counts`]; 0 when there is no
/// positive.
pub fn binary_recall(c: &[[u64; 2]; 2]) -> f64 {
    ratio(c[1][1], c[1][1] + c[1][0])
}

/// F1 = 2TP / (2TP + FP + FN) from [`binary_counts`]; 0 when that
/// denominator is 0.
pub fn binary_f1(c: &[[u64; 2]; 2]) -> f64 {
    ratio(2 * c[1][1], 2 * c[1][1] + c[0][1] + c[1][0])
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
