//! Dense vector similarity: a vectorisable dot product, a borrowed row-major
//! matrix view and exact brute-force top-k search.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use rayon::prelude::*;

/// Number of rows above which [`top_k`] splits the scan across rayon tasks.
pub const PARALLEL_MIN_ROWS: usize = 4096;

/// Dot product of two vectors.
///
/// Uses eight independent accumulators over `chunks_exact(8)` so the
/// compiler can keep them in SIMD registers without needing to reassociate
/// floating-point additions. If the lengths differ, only the common prefix
/// is used (and debug builds panic).
#[must_use]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "dot: length mismatch");
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.zip(cb) {
        for ((s, &p), &q) in acc.iter_mut().zip(x).zip(y) {
            *s += p * q;
        }
    }
    let mut tail = 0.0f32;
    for (&p, &q) in ra.iter().zip(rb) {
        tail += p * q;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// Borrowed row-major matrix: `data.len() / dim` rows of `dim` values each.
///
/// Rows are assumed to be L2-normalised, so [`dot`] between rows (or a
/// normalised query and a row) is their cosine similarity.
#[derive(Clone, Copy, Debug)]
pub struct Matrix<'a> {
    /// Row-major values; length should be a multiple of `dim`.
    pub data: &'a [f32],
    /// Length of every row.
    pub dim: usize,
}

impl<'a> Matrix<'a> {
    /// Wraps `data` as rows of length `dim`.
    #[must_use]
    pub fn new(data: &'a [f32], dim: usize) -> Self {
        debug_assert!(dim == 0 || data.len().is_multiple_of(dim), "ragged matrix");
        Self { data, dim }
    }

    /// Number of complete rows (0 when `dim == 0`).
    #[must_use]
    pub fn rows(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i >= self.rows()`.
    #[must_use]
    pub fn row(&self, i: usize) -> &'a [f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Sub-matrix of rows `start..end`.
    ///
    /// # Panics
    /// If the range is out of bounds.
    #[must_use]
    pub fn slice_rows(&self, start: usize, end: usize) -> Matrix<'a> {
        Matrix {
            data: &self.data[start * self.dim..end * self.dim],
            dim: self.dim,
        }
    }
}

/// Total order on scores used for ranking: NaN sorts below every number,
/// `-0.0` equals `0.0`, everything else by value.
#[must_use]
pub fn cmp_score(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        // `+ 0.0` turns -0.0 into +0.0 so signed zeros tie.
        (false, false) => (a + 0.0).total_cmp(&(b + 0.0)),
    }
}

/// A scored row; `Ord` puts the *better* hit greater (higher score, then
/// lower index).
#[derive(Clone, Copy, Debug)]
struct Hit {
    idx: usize,
    score: f32,
}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_score(self.score, other.score).then_with(|| other.idx.cmp(&self.idx))
    }
}
impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Hit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Hit {}

/// Scans `m` (whose first row has global index `offset`) keeping the best
/// `k` hits in a bounded min-heap.
fn scan(query: &[f32], m: Matrix, offset: usize, k: usize, exclude: Option<usize>) -> Vec<Hit> {
    let mut heap: BinaryHeap<Reverse<Hit>> = BinaryHeap::with_capacity(k + 1);
    for i in 0..m.rows() {
        let idx = offset + i;
        if exclude == Some(idx) {
            continue;
        }
        let hit = Hit {
            idx,
            score: dot(query, m.row(i)),
        };
        if heap.len() < k {
            heap.push(Reverse(hit));
        } else if let Some(mut worst) = heap.peek_mut()
            && hit > worst.0
        {
            *worst = Reverse(hit);
        }
    }
    heap.into_iter().map(|r| r.0).collect()
}

/// Exact top-`k` rows of `m` by cosine similarity to `query`.
///
/// Returns `(row index, score)` pairs, best first; equal scores are ordered
/// by lower index, and NaN scores rank below all numbers. `exclude` skips
/// one row (typically the query's own row). Returns fewer than `k` hits
/// when the matrix has fewer eligible rows.
///
/// Cost: `O(rows · dim + rows · log k)`. Above [`PARALLEL_MIN_ROWS`] rows
/// the scan is split into row chunks on the rayon pool and the per-chunk
/// heaps are merged; the result is identical to the sequential scan.
#[must_use]
pub fn top_k(query: &[f32], m: Matrix, k: usize, exclude: Option<usize>) -> Vec<(usize, f32)> {
    debug_assert_eq!(query.len(), m.dim, "top_k: query dim mismatch");
    let rows = m.rows();
    if k == 0 || rows == 0 {
        return Vec::new();
    }
    let mut hits = if rows > PARALLEL_MIN_ROWS {
        let threads = rayon::current_num_threads().max(1);
        // Several chunks per thread for load balance, but never tiny ones.
        let chunk = rows.div_ceil(threads * 4).max(1024);
        let starts: Vec<usize> = (0..rows).step_by(chunk).collect();
        starts
            .into_par_iter()
            .map(|s| {
                let e = (s + chunk).min(rows);
                scan(query, m.slice_rows(s, e), s, k, exclude)
            })
            .reduce(Vec::new, |mut a, b| {
                a.extend(b);
                a
            })
    } else {
        scan(query, m, 0, k, exclude)
    };
    hits.sort_unstable_by(|a, b| b.cmp(a));
    hits.truncate(k);
    hits.into_iter().map(|h| (h.idx, h.score)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::rng::SplitMix64 as Rng;

    fn random_unit_rows(rng: &mut Rng, n: usize, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..n * dim).map(|_| rng.unit()).collect();
        for r in v.chunks_exact_mut(dim) {
            let norm = dot(r, r).sqrt().max(1e-12);
            r.iter_mut().for_each(|x| *x /= norm);
        }
        v
    }

    fn brute_top_k(q: &[f32], m: Matrix, k: usize, ex: Option<usize>) -> Vec<(usize, f32)> {
        let mut all: Vec<(usize, f32)> = (0..m.rows())
            .filter(|&i| Some(i) != ex)
            .map(|i| (i, dot(q, m.row(i))))
            .collect();
        all.sort_by(|a, b| cmp_score(b.1, a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    #[test]
    fn dot_matches_naive_for_all_remainders() {
        let mut rng = Rng(1);
        for len in 0..40 {
            let a: Vec<f32> = (0..len).map(|_| rng.unit()).collect();
            let b: Vec<f32> = (0..len).map(|_| rng.unit()).collect();
            let naive: f64 = a.iter().zip(&b).map(|(&x, &y)| x as f64 * y as f64).sum();
            assert!((dot(&a, &b) as f64 - naive).abs() < 1e-5, "len {len}");
        }
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]), 32.0);
        assert_eq!(dot(&[], &[]), 0.0);
    }

    #[test]
    fn matrix_rows_and_row() {
        let d = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let m = Matrix::new(&d, 3);
        assert_eq!(m.rows(), 2);
        assert_eq!(m.row(1), &[4.0, 5.0, 6.0]);
        assert_eq!(Matrix::new(&[], 0).rows(), 0);
        assert_eq!(m.slice_rows(1, 2).row(0), &[4.0, 5.0, 6.0]);
    }

    #[test]
    fn top_k_known_answer_ties_and_exclude() {
        // Rows: e0, e1, e0, -e0 (dim 2).
        let d = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, -1.0, 0.0];
        let m = Matrix::new(&d, 2);
        let q = [1.0, 0.0];
        assert_eq!(top_k(&q, m, 2, None), vec![(0, 1.0), (2, 1.0)]);
        assert_eq!(top_k(&q, m, 2, Some(0)), vec![(2, 1.0), (1, 0.0)]);
        assert_eq!(top_k(&q, m, 10, None).len(), 4);
        assert!(top_k(&q, m, 0, None).is_empty());
        assert!(top_k(&q, Matrix::new(&[], 2), 3, None).is_empty());
    }

    #[test]
    fn top_k_nan_ranks_last() {
        let d = [f32::NAN, 0.0, 0.5, 0.0, -1.0, 0.0];
        let m = Matrix::new(&d, 2);
        let r = top_k(&[1.0, 0.0], m, 3, None);
        assert_eq!(r[0], (1, 0.5));
        assert_eq!(r[1], (2, -1.0));
        assert_eq!(r[2].0, 0);
        assert!(r[2].1.is_nan());
    }

    #[test]
    fn top_k_matches_full_sort_sequential_and_parallel() {
        let mut rng = Rng(42);
        for &(n, dim) in &[
            (1usize, 3usize),
            (37, 5),
            (500, 16),
            (PARALLEL_MIN_ROWS * 3 + 17, 24),
        ] {
            let mut data = random_unit_rows(&mut rng, n, dim);
            // Plant exact duplicates so tie-breaking is exercised.
            if n > 10 {
                let r3 = data[3 * dim..4 * dim].to_vec();
                data[7 * dim..8 * dim].copy_from_slice(&r3);
            }
            let m = Matrix::new(&data, dim);
            for trial in 0..5 {
                let q_row = (rng.next_u64() as usize) % n;
                let q = m.row(q_row).to_vec();
                let ex = if trial % 2 == 0 { Some(q_row) } else { None };
                for k in [1, 5, 50] {
                    assert_eq!(
                        top_k(&q, m, k, ex),
                        brute_top_k(&q, m, k, ex),
                        "n={n} k={k}"
                    );
                }
            }
        }
    }
}
