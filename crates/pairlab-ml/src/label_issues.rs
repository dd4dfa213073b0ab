//! Likely label errors by confident learning, as Cleanlab 2.9.0 finds them
//! (`cleanlab.filter.find_label_issues`, `cleanlab.count.compute_confident_joint`;
//! Northcutt et al., JAIR 2021), from out-of-sample predicted probabilities.
//!
//! Per class, the threshold is the mean probability of the class over the examples given
//! it; an example is confidently counted as the class whose probability reaches its
//! threshold (the most probable one when several do). The confident joint (given ×
//! confident class) is calibrated to the label counts, and the filter picks the examples:
//! `prune_by_noise_rate` (per off-diagonal cell, the examples with the largest margin),
//! `prune_by_class` (per class, the least confident), `both`, `confident_learning` (the
//! off-diagonal members) or `predicted_neq_given` (argmax baseline). An example whose
//! given label is (within 1e-6) the most probable is never flagged. Multi-label: each class
//! on its own as a binary problem, an example flagged when any class is.
//!
//! Parity with Cleanlab on fixed arrays is tested (tests/reference/make_cleanlab.py).

/// Which examples count as label issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    PruneByNoiseRate,
    PruneByClass,
    Both,
    ConfidentLearning,
    PredictedNeqGiven,
}

impl Filter {
    /// Cleanlab's name of the filter.
    pub fn parse(s: &str) -> Option<Filter> {
        Some(match s {
            "prune_by_noise_rate" => Filter::PruneByNoiseRate,
            "prune_by_class" => Filter::PruneByClass,
            "both" => Filter::Both,
            "confident_learning" => Filter::ConfidentLearning,
            "predicted_neq_given" => Filter::PredictedNeqGiven,
            _ => return None,
        })
    }
}

/// Cleanlab's tolerance for probability comparisons.
const EPS: f64 = 1e-6;

/// The first index of the largest value (NumPy's `argmax`).
fn argmax(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b })
}

/// Indices sorting `v` ascending (ties by index; Cleanlab's ties are unordered).
fn argsort(v: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    idx
}

/// NumPy's pairwise summation (`pairwise_sum_DOUBLE`) of `a`.
fn pairwise(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        return a.iter().fold(0.0, |s, x| s + x);
    }
    if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        for chunk in a[8..whole].chunks_exact(8) {
            for (acc, x) in r.iter_mut().zip(chunk) {
                *acc += x;
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for x in &a[whole..] {
            res += x;
        }
        return res;
    }
    let mut n2 = n / 2;
    n2 -= n2 % 8;
    pairwise(&a[..n2]) + pairwise(&a[n2..])
}

/// `np.sum` of a float64 array, in the array's memory order, as NumPy adds it (so that
/// thresholds and calibration round exactly as Cleanlab's do).
fn np_sum(a: &[f64]) -> f64 {
    pairwise(a)
}

/// NumPy's `round` (half to even).
fn round_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// Cleanlab's `round_preserving_sum`: rounds each value so that the total stays the
/// rounded total, moving the values with the largest (or smallest) remainders.
fn round_preserving_sum(floats: &[f64]) -> Vec<i64> {
    let mut ints: Vec<f64> = floats.iter().map(|&x| round_even(x)).collect();
    let orig_sum = round_even(np_sum(floats));
    let mut int_sum = round_even(np_sum(&ints));
    while (int_sum - orig_sum).abs() > EPS {
        let diff = round_even(orig_sum - int_sum);
        let increment = if diff < 0.0 { -1.0 } else { 1.0 };
        let changes = (diff.abs() as usize).min(floats.len());
        let rest: Vec<f64> = floats.iter().zip(&ints).map(|(f, i)| f - i).collect();
        // The largest remainders go up (the smallest down). Cleanlab takes them from
        // `argsort(rest)`, reversed to go up; equal remainders come in the order a stable
        // sort gives, so going up the later index first, going down the earlier. (NumPy's
        // default sort is not stable: with AVX-512 kernels its order of ties depends on the
        // CPU, so Cleanlab's own result on such rows does too.)
        let mut order: Vec<usize> = (0..rest.len()).collect();
        order.sort_by(|&a, &b| {
            if increment > 0.0 {
                rest[b].total_cmp(&rest[a]).then(b.cmp(&a))
            } else {
                rest[a].total_cmp(&rest[b]).then(a.cmp(&b))
            }
        });
        for &i in order.iter().take(changes) {
            ints[i] += increment;
        }
        int_sum = round_even(np_sum(&ints));
    }
    ints.iter().map(|&x| x as i64).collect()
}

/// The confident joint (given × confident class, calibrated to the label counts) and the
/// examples counted off the diagonal, in order.
fn confident_joint(labels: &[usize], probs: &[f64], k: usize) -> (Vec<Vec<i64>>, Vec<usize>) {
    let n = labels.len();
    let row = |i: usize| &probs[i * k..(i + 1) * k];
    let mut counts = vec![0usize; k];
    let mut given: Vec<Vec<f64>> = vec![Vec::new(); k];
    for (i, &l) in labels.iter().enumerate() {
        counts[l] += 1;
        given[l].push(row(i)[l]);
    }
    let thresholds: Vec<f64> = (0..k)
        .map(|c| {
            let t = if counts[c] > 0 {
                np_sum(&given[c]) / counts[c] as f64
            } else {
                2.0
            };
            t.max(2.0 * EPS)
        })
        .collect();
    let mut joint = vec![vec![0i64; k]; k];
    let mut off = Vec::new();
    for (i, &l) in labels.iter().enumerate() {
        let p = row(i);
        let confident: Vec<usize> = (0..k).filter(|&c| p[c] >= thresholds[c] - EPS).collect();
        let guess = match confident.len() {
            0 => continue,
            1 => confident[0],
            _ => argmax(p),
        };
        joint[l][guess] += 1;
        if guess != l {
            off.push(i);
        }
    }
    for (c, r) in joint.iter_mut().enumerate() {
        r[c] = r[c].max(1);
    }
    // Calibrate: rows to the label counts, then the whole to n.
    let mut cal: Vec<Vec<f64>> = joint
        .iter()
        .enumerate()
        .map(|(c, r)| {
            let total = (r.iter().sum::<i64>() as f64).max(1e-100);
            r.iter()
                .map(|&v| v as f64 / total * counts[c] as f64)
                .collect()
        })
        .collect();
    // Cleanlab's calibrated joint is a transpose's result, so NumPy sums it column by
    // column (its memory order).
    let flat: Vec<f64> = (0..k).flat_map(|j| cal.iter().map(move |r| r[j])).collect();
    let all: f64 = np_sum(&flat).max(1e-100);
    for r in &mut cal {
        for v in r.iter_mut() {
            *v = *v / all * n as f64;
        }
    }
    (cal.iter().map(|r| round_preserving_sum(r)).collect(), off)
}

/// Cleanlab's `_keep_at_least_n_per_class` with n = 1 and no noise reduction: the number
/// of examples given each class (column) to prune per confident class (row).
fn prune_counts(joint: &[Vec<i64>]) -> Vec<Vec<i64>> {
    let k = joint.len();
    // m = joint transposed: m[j][c] = examples given c confidently counted as j.
    let m: Vec<Vec<f64>> = (0..k)
        .map(|j| (0..k).map(|c| joint[c][j] as f64).collect())
        .collect();
    let diag: Vec<f64> = (0..k).map(|c| m[c][c]).collect();
    let new_diag: Vec<f64> = diag.iter().map(|&d| d.max(1.0)).collect();
    let per_col: Vec<f64> = (0..k)
        .map(|c| {
            let nonzero = (0..k).filter(|&j| m[j][c] != 0.0).count() as f64;
            (new_diag[c] - diag[c]) / (nonzero - 1.0).max(1.0)
        })
        .collect();
    let rows: Vec<Vec<f64>> = (0..k)
        .map(|j| {
            (0..k)
                .map(|c| {
                    if j == c {
                        new_diag[c]
                    } else {
                        (m[j][c] - per_col[c]).max(0.0).trunc()
                    }
                })
                .collect()
        })
        .collect();
    rows.iter().map(|r| round_preserving_sum(r)).collect()
}

/// Examples whose given label is the most probable one (within 1e-6): never issues.
fn agrees(p: &[f64], label: usize) -> bool {
    let mut q = p.to_vec();
    q[label] += EPS;
    argmax(&q) == label
}

/// Label issues of a multi-class problem: `labels[i]` < `k`, `probs` row-major n × k.
///
/// # Panics
/// When `probs` is not `labels.len() × k` or a label is not below `k`.
pub fn find_label_issues(labels: &[usize], probs: &[f64], k: usize, filter: Filter) -> Vec<bool> {
    let n = labels.len();
    assert_eq!(probs.len(), n * k, "probs must be n × k");
    assert!(labels.iter().all(|&l| l < k), "a label out of range");
    let row = |i: usize| &probs[i * k..(i + 1) * k];
    let (joint, off) = confident_joint(labels, probs, k);
    let mut mask = vec![false; n];
    match filter {
        Filter::ConfidentLearning => off.iter().for_each(|&i| mask[i] = true),
        Filter::PredictedNeqGiven => {
            for (i, &l) in labels.iter().enumerate() {
                mask[i] = argmax(row(i)) != l;
            }
        }
        Filter::PruneByNoiseRate | Filter::PruneByClass | Filter::Both => {
            let prune = prune_counts(&joint);
            let by_class = prune_each(labels, k, |members| {
                // The least confident of the class's examples beyond what it keeps.
                let c = labels[members[0]];
                let issues = members.len() as i64 - prune[c][c];
                let mut out = vec![false; members.len()];
                if issues >= 1 {
                    let p: Vec<f64> = members.iter().map(|&i| row(i)[c]).collect();
                    for &m in argsort(&p).iter().take(issues as usize) {
                        out[m] = true;
                    }
                }
                out
            });
            let by_count = prune_each(labels, k, |members| {
                // Per confident class j, the examples with the largest margin p_j − p_c.
                let c = labels[members[0]];
                let mut out = vec![false; members.len()];
                for (j, r) in prune.iter().enumerate() {
                    let take = r[c];
                    if j == c || take <= 0 {
                        continue;
                    }
                    let neg_margin: Vec<f64> =
                        members.iter().map(|&i| -(row(i)[j] - row(i)[c])).collect();
                    for &m in argsort(&neg_margin).iter().take(take as usize) {
                        out[m] = true;
                    }
                }
                out
            });
            for i in 0..n {
                mask[i] = match filter {
                    Filter::PruneByClass => by_class[i],
                    Filter::PruneByNoiseRate => by_count[i],
                    _ => by_class[i] && by_count[i],
                };
            }
        }
    }
    for (i, &l) in labels.iter().enumerate() {
        if mask[i] && agrees(row(i), l) {
            mask[i] = false;
        }
    }
    mask
}

/// Runs `per_class` on the examples given each class (in order) with more than one
/// example, as Cleanlab prunes, and gathers the flags.
fn prune_each(labels: &[usize], k: usize, per_class: impl Fn(&[usize]) -> Vec<bool>) -> Vec<bool> {
    let mut mask = vec![false; labels.len()];
    for c in 0..k {
        let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        if members.len() > 1 {
            for (m, flag) in members.iter().zip(per_class(&members)) {
                mask[*m] = flag;
            }
        }
    }
    mask
}

/// Label issues of a multi-label problem: `labels[i * k + c]` says whether example i is
/// given class c, `probs[i * k + c]` its predicted probability (each on its own, need not
/// sum to 1). Each class is a binary problem; an example is flagged when any class is.
///
/// # Panics
/// When `labels` or `probs` is not n × k.
pub fn find_multilabel_issues(
    labels: &[bool],
    probs: &[f64],
    k: usize,
    filter: Filter,
) -> Vec<bool> {
    assert_eq!(
        labels.len(),
        probs.len(),
        "labels and probs must both be n × k"
    );
    let n = labels.len() / k.max(1);
    let mut any = vec![false; n];
    for c in 0..k {
        let given: Vec<usize> = (0..n).map(|i| usize::from(labels[i * k + c])).collect();
        let binary: Vec<f64> = (0..n)
            .flat_map(|i| [1.0 - probs[i * k + c], probs[i * k + c]])
            .collect();
        for (i, flag) in find_label_issues(&given, &binary, 2, filter)
            .into_iter()
            .enumerate()
        {
            any[i] |= flag;
        }
    }
    any
}

/// The flagged examples, least self-confident first (the probability of the given label;
/// Cleanlab's `return_indices_ranked_by="self_confidence"`).
pub fn ranked_by_self_confidence(
    mask: &[bool],
    labels: &[usize],
    probs: &[f64],
    k: usize,
) -> Vec<usize> {
    let flagged: Vec<usize> = (0..mask.len()).filter(|&i| mask[i]).collect();
    let scores: Vec<f64> = flagged.iter().map(|&i| probs[i * k + labels[i]]).collect();
    argsort(&scores).into_iter().map(|j| flagged[j]).collect()
}

#[cfg(test)]
mod tests;
