//! Image–report consistency: flags pairs whose report looks like it belongs
//! to a different image.
//!
//! For pair `i` the own similarity `s_ii = dot(img_i, rep_i)` is compared
//! with `s_ij = dot(img_i, rep_j)` over a reference set of other reports.

use rayon::prelude::*;

use crate::rng::SplitMix64;
use crate::similarity::{Matrix, dot};

/// Floor applied to the reference standard deviation before dividing.
pub const STD_FLOOR: f32 = 1e-6;

/// Consistency scores of one image–report pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Consistency {
    /// 1 + number of reference reports strictly more similar to the image
    /// than its own report; 1 = own report is the most similar.
    pub rank: u32,
    /// `(rank - 1) / reference count`, in `[0, 1]`; 0 = best, 0 with no
    /// reference.
    pub rank_frac: f32,
    /// `(own - mean_j s_ij) / max(std_j s_ij, STD_FLOOR)` (population std).
    pub z: f32,
    /// Own similarity `s_ii`.
    pub own: f32,
    /// Score to sort by, higher = more likely the wrong report: `-z`.
    ///
    /// `-z` rather than `rank`: rank saturates at 1 for nearly every
    /// correct pair, so it cannot order the bulk of the data, and it ignores
    /// margins. `z` is continuous, subtracts the image's mean similarity to
    /// unrelated reports (so "hub" images that look similar to everything
    /// are not favoured) and divides by the spread (so images with
    /// naturally wide score ranges are comparable to narrow ones).
    pub mismatch: f32,
}

impl Consistency {
    /// Result for a pair with no reference reports.
    fn unreferenced(own: f32) -> Self {
        Self {
            rank: 1,
            rank_frac: 0.0,
            z: 0.0,
            own,
            mismatch: 0.0,
        }
    }
}

/// `count` distinct indices from `0..n`, sorted (partial Fisher–Yates).
fn sample_indices(n: usize, count: usize, seed: u64) -> Vec<usize> {
    let count = count.min(n);
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64(seed);
    for i in 0..count {
        let j = i + rng.below(n - i);
        idx.swap(i, j);
    }
    idx.truncate(count);
    idx.sort_unstable();
    idx
}

/// Scores every image–report pair; see [`Consistency`].
///
/// Row `i` of `images` and row `i` of `reports` form pair `i`. The
/// reference set for pair `i` is every other report when
/// `n <= max_ref`; otherwise it is a fixed, seeded sample of `max_ref + 1`
/// rows, shared by all pairs, from which `i` is dropped (or, if `i` is not
/// in it, the last sampled row), so every pair gets exactly `max_ref`
/// references and the result is deterministic for a given `seed`.
/// Pairs are scored in parallel with rayon.
///
/// With `n <= 1` or `max_ref == 0` there is no reference: rank 1, z 0,
/// mismatch 0.
///
/// Cost: `O(n · min(n, max_ref) · dim)`.
///
/// # Panics
/// If the two matrices have different row counts or dimensions.
#[must_use]
pub fn consistency(images: Matrix, reports: Matrix, max_ref: usize, seed: u64) -> Vec<Consistency> {
    let n = images.rows();
    assert_eq!(n, reports.rows(), "consistency: row count mismatch");
    assert!(
        n == 0 || images.dim == reports.dim,
        "consistency: dimension mismatch"
    );
    let sample: Option<Vec<usize>> = (n > max_ref).then(|| sample_indices(n, max_ref + 1, seed));

    (0..n)
        .into_par_iter()
        .map(|i| {
            let img = images.row(i);
            let own = dot(img, reports.row(i));
            match &sample {
                None => score(
                    own,
                    (0..n).filter(|&j| j != i).map(|j| dot(img, reports.row(j))),
                ),
                Some(s) => {
                    // Drop `i` if sampled, else the extra (last) sample.
                    let skip = if s.binary_search(&i).is_ok() {
                        Some(i)
                    } else {
                        s.last().copied()
                    };
                    let refs = s.iter().copied().filter(|&j| Some(j) != skip);
                    score(own, refs.map(|j| dot(img, reports.row(j))))
                }
            }
        })
        .collect()
}

/// Rank and z-score of `own` against reference similarities.
fn score(own: f32, refs: impl Iterator<Item = f32>) -> Consistency {
    let (mut count, mut better) = (0u32, 0u32);
    let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
    for s in refs {
        count += 1;
        if s > own {
            better += 1;
        }
        let s = f64::from(s);
        sum += s;
        sum_sq += s * s;
    }
    if count == 0 {
        return Consistency::unreferenced(own);
    }
    let c = f64::from(count);
    let mean = sum / c;
    let var = (sum_sq / c - mean * mean).max(0.0);
    let std = var.sqrt().max(f64::from(STD_FLOOR));
    let z = ((f64::from(own) - mean) / std) as f32;
    Consistency {
        rank: better + 1,
        rank_frac: better as f32 / count as f32,
        z,
        own,
        mismatch: -z,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng_unit(rng: &mut SplitMix64) -> f32 {
        rng.unit()
    }

    fn normalise(v: &mut [f32]) {
        let norm = dot(v, v).sqrt().max(1e-12);
        v.iter_mut().for_each(|x| *x /= norm);
    }

    /// `n` random unit images and reports = image + noise, renormalised.
    fn synthetic(n: usize, dim: usize, noise: f32, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = SplitMix64(seed);
        let mut img: Vec<f32> = (0..n * dim).map(|_| rng_unit(&mut rng)).collect();
        img.chunks_exact_mut(dim).for_each(normalise);
        let mut rep: Vec<f32> = img
            .iter()
            .map(|&x| x + noise * rng_unit(&mut rng))
            .collect();
        rep.chunks_exact_mut(dim).for_each(normalise);
        (img, rep)
    }

    fn swap_rows(v: &mut [f32], dim: usize, a: usize, b: usize) {
        for k in 0..dim {
            v.swap(a * dim + k, b * dim + k);
        }
    }

    fn top2_mismatch(c: &[Consistency]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..c.len()).collect();
        order.sort_by(|&a, &b| c[b].mismatch.total_cmp(&c[a].mismatch));
        let mut top = order[..2].to_vec();
        top.sort_unstable();
        top
    }

    #[test]
    fn empty_and_single() {
        assert!(consistency(Matrix::new(&[], 2), Matrix::new(&[], 2), 10, 0).is_empty());
        let a = [0.6, 0.8];
        let c = consistency(Matrix::new(&a, 2), Matrix::new(&a, 2), 10, 0);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].rank, c[0].z, c[0].mismatch, c[0].rank_frac),
            (1, 0.0, 0.0, 0.0)
        );
        assert!((c[0].own - 1.0).abs() < 1e-6);
        // max_ref = 0: no references either.
        let c = consistency(Matrix::new(&a, 1), Matrix::new(&a, 1), 0, 0);
        assert!(c.iter().all(|x| x.rank == 1 && x.mismatch == 0.0));
    }

    #[test]
    fn known_small_case() {
        // Orthonormal images e0, e1, e2; reports of pairs 0 and 1 swapped.
        let img = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let rep = [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let c = consistency(Matrix::new(&img, 3), Matrix::new(&rep, 3), 100, 7);
        assert_eq!(c[0].rank, 2);
        assert_eq!(c[0].rank_frac, 0.5);
        assert_eq!(c[0].own, 0.0);
        // refs for 0 are {1, 0}: mean 0.5, std 0.5, z = -1.
        assert!((c[0].z + 1.0).abs() < 1e-6);
        assert_eq!(c[2].rank, 1);
        // refs for 2 are {0, 0}: std floored, z huge positive.
        assert!(c[2].z > 1e5);
        assert!(c[0].mismatch > c[2].mismatch && c[1].mismatch > c[2].mismatch);
    }

    #[test]
    fn swapped_pair_gets_two_highest_mismatch_full_and_sampled() {
        let (n, dim) = (200, 64);
        for seed in 0..4u64 {
            let (img, mut rep) = synthetic(n, dim, 0.2, 100 + seed);
            let (a, b) = (13 + seed as usize, 150 - seed as usize);
            swap_rows(&mut rep, dim, a, b);
            let (im, rm) = (Matrix::new(&img, dim), Matrix::new(&rep, dim));
            for max_ref in [1000, 50] {
                let c = consistency(im, rm, max_ref, seed);
                assert_eq!(c.len(), n);
                assert_eq!(
                    top2_mismatch(&c),
                    vec![a, b],
                    "seed {seed} max_ref {max_ref}"
                );
                let correct = c.iter().enumerate().filter(|(i, _)| *i != a && *i != b);
                assert!(correct.clone().all(|(_, x)| x.rank == 1));
                assert!(c.iter().all(|x| (0.0..=1.0).contains(&x.rank_frac)));
                if max_ref >= n {
                    assert!(c[a].rank > 1 && c[b].rank > 1);
                }
            }
        }
    }

    #[test]
    fn sampled_reference_is_deterministic_and_sized() {
        let (n, dim) = (120, 8);
        let (img, rep) = synthetic(n, dim, 0.5, 9);
        let (im, rm) = (Matrix::new(&img, dim), Matrix::new(&rep, dim));
        let c1 = consistency(im, rm, 30, 5);
        let c2 = consistency(im, rm, 30, 5);
        assert_eq!(c1, c2);
        // rank_frac denominators are 30: (rank-1)/30 exactly.
        for x in &c1 {
            assert!((x.rank_frac - (x.rank - 1) as f32 / 30.0).abs() < 1e-7);
            assert!(x.rank <= 31);
        }
        let c3 = consistency(im, rm, 30, 6);
        assert_ne!(c1, c3);
    }

    #[test]
    fn sample_indices_distinct_sorted() {
        let s = sample_indices(100, 40, 3);
        assert_eq!(s.len(), 40);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        assert!(s.iter().all(|&i| i < 100));
        assert_eq!(sample_indices(5, 10, 3), vec![0, 1, 2, 3, 4]);
        // Roughly uniform coverage.
        let mut hits = [0u32; 10];
        for seed in 0..2000 {
            for i in sample_indices(10, 3, seed) {
                hits[i] += 1;
            }
        }
        assert!(hits.iter().all(|&h| (450..750).contains(&h)), "{hits:?}");
    }
}
