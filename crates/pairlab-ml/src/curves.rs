//! ROC and precision–recall curves for binary scores, for plotting.
//!
//! Both curves follow scikit-learn's `roc_curve` / `precision_recall_curve`:
//! a sample is predicted positive when its score is `>= threshold`, and one
//! threshold is taken at each distinct score. Scores are ordered by the IEEE
//! total order (`f32::total_cmp`), so NaN scores rank above every number;
//! `-0.0` and `0.0` count as the same score.

/// Cumulative counts for the cut "predict positive when `score >= threshold`",
/// one per distinct score, in descending threshold order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Cut {
    /// The score used as the threshold.
    pub threshold: f32,
    /// Positives with `score >= threshold`.
    pub tp: u64,
    /// Negatives with `score >= threshold`.
    pub fp: u64,
}

/// Whether two scores count as the same (tied) score.
pub(crate) fn tied(a: f32, b: f32) -> bool {
    a == b || a.total_cmp(&b).is_eq()
}

/// Cuts at every distinct score, highest threshold first. The last cut
/// holds the totals: `tp` = number of positives, `fp` = number of negatives.
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub(crate) fn cuts(scores: &[f32], labels: &[bool]) -> Vec<Cut> {
    assert_eq!(
        scores.len(),
        labels.len(),
        "scores and labels must have the same length"
    );
    let mut pairs: Vec<(f32, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut out: Vec<Cut> = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    for (i, &(score, label)) in pairs.iter().enumerate() {
        if label {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_group = pairs.get(i + 1).is_none_or(|next| !tied(next.0, score));
        if last_of_group {
            out.push(Cut {
                threshold: score,
                tp,
                fp,
            });
        }
    }
    out
}

/// The ROC curve as `(false positive rate, true positive rate, threshold)`
/// points, from `(0, 0, +inf)` up to `(1, 1, lowest score)`, in descending
/// threshold order (ascending rates) — the same points as scikit-learn's
/// `roc_curve` with its default `drop_intermediate=True`: points that lie in
/// the middle of a straight run (equal count steps on both sides) are left out,
/// which does not change the area under the curve.
///
/// Returns an empty vector when either class is absent (the curve is
/// undefined then).
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub fn roc_curve(scores: &[f32], labels: &[bool]) -> Vec<(f64, f64, f32)> {
    let all = cuts(scores, labels);
    let Some(total) = all.last().copied() else {
        return Vec::new();
    };
    if total.tp == 0 || total.fp == 0 {
        return Vec::new();
    }
    let kept: Vec<Cut> = if all.len() > 2 {
        let second_diff = |a: u64, b: u64, c: u64| -> bool {
            // a - 2b + c != 0, without leaving the unsigned domain.
            a + c != 2 * b
        };
        all.iter()
            .enumerate()
            .filter(|&(i, _)| {
                i == 0
                    || i + 1 == all.len()
                    || second_diff(all[i - 1].fp, all[i].fp, all[i + 1].fp)
                    || second_diff(all[i - 1].tp, all[i].tp, all[i + 1].tp)
            })
            .map(|(_, c)| *c)
            .collect()
    } else {
        all
    };
    let (p, n) = (total.tp as f64, total.fp as f64);
    let mut out = Vec::with_capacity(kept.len() + 1);
    out.push((0.0, 0.0, f32::INFINITY));
    out.extend(
        kept.iter()
            .map(|c| (c.fp as f64 / n, c.tp as f64 / p, c.threshold)),
    );
    out
}

/// The precision–recall curve as `(recall, precision, threshold)` points,
/// one per distinct score, in descending threshold order (ascending recall),
/// preceded by the conventional start point `(0, 1, +inf)`.
///
/// These are scikit-learn's `precision_recall_curve` points (default
/// `drop_intermediate=False`) in reverse order; scikit-learn appends the
/// `(recall 0, precision 1)` end point without a threshold, here it comes
/// first with threshold `+inf`.
///
/// Returns an empty vector when there are no positives (recall is
/// undefined then).
///
/// # Panics
/// When `scores` and `labels` differ in length.
pub fn pr_curve(scores: &[f32], labels: &[bool]) -> Vec<(f64, f64, f32)> {
    let all = cuts(scores, labels);
    let Some(total) = all.last().copied() else {
        return Vec::new();
    };
    if total.tp == 0 {
        return Vec::new();
    }
    let p = total.tp as f64;
    let mut out = Vec::with_capacity(all.len() + 1);
    out.push((0.0, 1.0, f32::INFINITY));
    out.extend(all.iter().map(|c| {
        // c.tp + c.fp >= 1: every cut contains at least one sample.
        let precision = c.tp as f64 / (c.tp + c.fp) as f64;
        (c.tp as f64 / p, precision, c.threshold)
    }));
    out
}
