use super::*;

use crate::rng::SplitMix64 as Rng;

fn flip_bits(rng: &mut Rng, h: u64, bits: u32) -> u64 {
    let mut out = h;
    let mut flipped = 0;
    while flipped < bits {
        let b = 1u64 << rng.below(64);
        if (out ^ h) & b == 0 {
            out ^= b;
            flipped += 1;
        }
    }
    out
}

fn naive_hash_pairs(h: &[u64], d: u32) -> Vec<(usize, usize, u32)> {
    let mut v = Vec::new();
    for i in 0..h.len() {
        for j in i + 1..h.len() {
            let dist = (h[i] ^ h[j]).count_ones();
            if dist <= d {
                v.push((i, j, dist));
            }
        }
    }
    v
}

#[test]
fn union_find_basics() {
    let mut uf = UnionFind::new(6);
    assert_eq!(uf.len(), 6);
    assert!(!uf.is_empty());
    assert!(uf.union(4, 1));
    assert!(uf.union(1, 5));
    assert!(!uf.union(5, 4));
    assert!(uf.union(3, 2));
    assert!(uf.connected(4, 5));
    assert!(!uf.connected(0, 1));
    assert_eq!(uf.clusters(), vec![vec![1, 4, 5], vec![2, 3]]);
    assert!(UnionFind::new(0).is_empty());
    assert!(UnionFind::new(0).clusters().is_empty());
    assert!(UnionFind::new(3).clusters().is_empty());
}

#[test]
fn union_find_long_chain() {
    let n = 100_000;
    let mut uf = UnionFind::new(n);
    for i in 1..n {
        uf.union(i - 1, i);
    }
    let c = uf.clusters();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].len(), n);
}

#[test]
fn exact_groups_known() {
    let keys = ["b", "a", "b", "c", "a", "b"];
    assert_eq!(exact_groups(&keys), vec![vec![0, 2, 5], vec![1, 4]]);
    assert!(exact_groups::<u8>(&[]).is_empty());
    assert!(exact_groups(&[1, 2, 3]).is_empty());
}

#[test]
fn band_masks_partition_all_bits() {
    for bands in 1..=64 {
        let m = band_masks(bands);
        assert_eq!(m.len(), bands as usize);
        assert_eq!(m.iter().fold(0u64, |a, &x| a | x), u64::MAX);
        assert_eq!(m.iter().map(|x| x.count_ones()).sum::<u32>(), 64);
        let widths: Vec<u32> = m.iter().map(|x| x.count_ones()).collect();
        let (lo, hi) = (widths.iter().min(), widths.iter().max());
        assert!(hi.zip(lo).is_some_and(|(h, l)| h - l <= 1));
    }
}

#[test]
fn near_hash_pairs_known() {
    let h = [0u64, 1, 3, u64::MAX, 0, 1 << 63];
    assert_eq!(near_hash_pairs(&h, 0), vec![(0, 4, 0)]);
    assert_eq!(
        near_hash_pairs(&h, 1),
        vec![
            (0, 1, 1),
            (0, 4, 0),
            (0, 5, 1),
            (1, 2, 1),
            (1, 4, 1),
            (4, 5, 1)
        ]
    );
    assert!(near_hash_pairs(&[], 3).is_empty());
    assert_eq!(near_hash_pairs(&[7, 7], 64), vec![(0, 1, 0)]);
    assert_eq!(near_hash_pairs(&[0, u64::MAX], 64), vec![(0, 1, 64)]);
    assert!(near_hash_pairs(&[0, u64::MAX], 63).is_empty());
}

#[test]
fn near_hash_pairs_match_brute_force() {
    let mut rng = Rng(7);
    let n = 2000;
    let mut h: Vec<u64> = Vec::with_capacity(n);
    while h.len() < n {
        let base = rng.next_u64();
        h.push(base);
        // Planted near-duplicates at distances 0..=8, plus exact copies.
        if rng.below(3) == 0 {
            let copies = 1 + rng.below(3);
            for _ in 0..copies {
                let bits = rng.below(9) as u32;
                h.push(flip_bits(&mut rng, base, bits));
            }
        }
    }
    h.truncate(n);
    let mut total_found = 0;
    for d in 0..=6 {
        let expected = naive_hash_pairs(&h, d);
        assert_eq!(near_hash_pairs(&h, d), expected, "d = {d}");
        total_found += expected.len();
    }
    assert!(total_found > 500, "planting failed: {total_found}");
    // Brute-force fallback region, on a smaller set.
    for d in [0, 3, 6] {
        assert_eq!(brute_hash_pairs(&h, d), naive_hash_pairs(&h, d), "d = {d}");
    }
    for d in [11, 12, 20, 40] {
        assert_eq!(
            near_hash_pairs(&h[..300], d),
            naive_hash_pairs(&h[..300], d)
        );
    }
}

#[test]
fn semantic_pairs_known() {
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let d = [1.0, 0.0, 0.0, 1.0, 1.0, 0.0, s, s];
    let m = Matrix::new(&d, 2);
    let p = semantic_pairs(m, 0.99);
    assert_eq!(p, vec![(0, 2, 1.0)]);
    let p: Vec<(usize, usize)> = semantic_pairs(m, 0.7).iter().map(|x| (x.0, x.1)).collect();
    assert_eq!(p, vec![(0, 2), (0, 3), (1, 3), (2, 3)]);
    assert!(semantic_pairs(Matrix::new(&[], 4), 0.0).is_empty());
    assert!(semantic_pairs(m, f32::NAN).is_empty());
}

#[test]
fn semantic_pairs_match_brute_force() {
    let mut rng = Rng(11);
    let (n, dim) = (700, 16);
    let mut data: Vec<f32> = (0..n * dim).map(|_| rng.unit()).collect();
    // Plant near-duplicates across block boundaries.
    for _ in 0..60 {
        let (a, b) = (rng.below(n), rng.below(n));
        for k in 0..dim {
            data[b * dim + k] = data[a * dim + k] + 0.05 * rng.unit();
        }
    }
    for r in data.chunks_exact_mut(dim) {
        let norm = dot(r, r).sqrt().max(1e-12);
        r.iter_mut().for_each(|x| *x /= norm);
    }
    let m = Matrix::new(&data, dim);
    for thr in [0.95f32, 0.6, -2.0] {
        let mut expected = Vec::new();
        for i in 0..n {
            for j in i + 1..n {
                let s = dot(m.row(i), m.row(j));
                if s >= thr {
                    expected.push((i, j, s));
                }
            }
        }
        assert_eq!(semantic_pairs(m, thr), expected, "thr {thr}");
    }
}

#[test]
fn group_pairs_components() {
    let g = group_pairs(8, [(6, 7), (0, 3), (3, 5), (2, 2)]);
    assert_eq!(g, vec![vec![0, 3, 5], vec![6, 7]]);
    let g = group_pairs(
        5,
        near_hash_pairs(&[5, 5, 9, 5, 9], 0)
            .iter()
            .map(|p| (p.0, p.1)),
    );
    assert_eq!(g, vec![vec![0, 1, 3], vec![2, 4]]);
    assert_eq!(g, exact_groups(&[5, 5, 9, 5, 9]));
    assert!(group_pairs(0, []).is_empty());
}
