//! 2-D maps of embeddings: PCA (subspace iteration on the covariance, the products on
//! candle's CPU matmul), exact k nearest neighbours in PCA space (blocked distance
//! products), and UMAP's layout (umap-rs, given our neighbours and a PCA start).

use candle_core::{DType, Device, Tensor};
use ndarray::Array2;

use crate::error::{MlError, Result};

/// The top `k` principal axes of `n × d` rows.
pub struct Pca {
    pub mean: Vec<f32>,
    /// `k × d`, largest variance first.
    pub axes: Vec<f32>,
    /// Variance along each axis.
    pub variance: Vec<f32>,
    pub d: usize,
}

fn tensor(x: &[f32], rows: usize, cols: usize) -> Result<Tensor> {
    Ok(Tensor::from_slice(x, (rows, cols), &Device::Cpu)?)
}

/// Orthonormalises the columns of `q` (`d × k`, row-major) by Gram–Schmidt.
fn orthonormalise(q: &mut [f32], d: usize, k: usize) {
    for j in 0..k {
        for i in 0..j {
            let dot: f32 = (0..d).map(|r| q[r * k + i] * q[r * k + j]).sum();
            for r in 0..d {
                q[r * k + j] -= dot * q[r * k + i];
            }
        }
        let norm = (0..d).map(|r| q[r * k + j].powi(2)).sum::<f32>().sqrt();
        let norm = if norm > 1e-12 { norm } else { 1.0 };
        for r in 0..d {
            q[r * k + j] /= norm;
        }
    }
}

/// PCA of `x` (`n × d`) to `k` axes (k ≤ d), by 40 rounds of subspace iteration on the
/// covariance from a seeded start.
pub fn pca(x: &[f32], n: usize, d: usize, k: usize, seed: u64) -> Result<Pca> {
    if n < 2 || d == 0 || x.len() != n * d {
        return Err(MlError::setting(
            "points",
            format!("a map needs two or more points of one dimension (got {n})"),
        ));
    }
    let k = k.min(d).max(1);
    let mut mean = vec![0f32; d];
    for row in x.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f32);
    let centred = (tensor(x, n, d)? - tensor(&mean, 1, d)?.broadcast_as((n, d))?)?;
    let cov = (centred.t()?.matmul(&centred)? / (n as f64 - 1.0))?;
    let cov_t = cov.contiguous()?;
    let mut rng = crate::rng::SplitMix64(seed ^ 0xC0FF_EE00);
    let mut q: Vec<f32> = (0..d * k).map(|_| rng.uniform() as f32 - 0.5).collect();
    orthonormalise(&mut q, d, k);
    for _ in 0..40 {
        let z = cov_t.matmul(&tensor(&q, d, k)?)?;
        q = z.flatten_all()?.to_vec1::<f32>()?;
        orthonormalise(&mut q, d, k);
    }
    // Rayleigh quotients give each axis's variance; order by them.
    let cq = cov_t
        .matmul(&tensor(&q, d, k)?)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let mut order: Vec<(f32, usize)> = (0..k)
        .map(|j| ((0..d).map(|r| q[r * k + j] * cq[r * k + j]).sum(), j))
        .collect();
    order.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut axes = Vec::with_capacity(k * d);
    for &(_, j) in &order {
        axes.extend((0..d).map(|r| q[r * k + j]));
    }
    Ok(Pca {
        mean,
        axes,
        variance: order.iter().map(|o| o.0).collect(),
        d,
    })
}

impl Pca {
    /// The rows of `x` (`n × d`) on the axes: `n × k`.
    pub fn project(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (d, k) = (self.d, self.variance.len());
        let centred = (tensor(x, n, d)? - tensor(&self.mean, 1, d)?.broadcast_as((n, d))?)?;
        let axes = tensor(&self.axes, k, d)?;
        Ok(centred
            .matmul(&axes.t()?)?
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?)
    }
}

/// Exact `k` nearest neighbours (Euclidean) of each of `n` rows of `y` (`n × dim`), the
/// row itself first as UMAP expects: indices and distances, `n × k`. `progress(done)` is
/// called after each block of rows and stops the search when it answers false.
pub fn knn(
    y: &[f32],
    n: usize,
    dim: usize,
    k: usize,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<(Vec<u32>, Vec<f32>)> {
    let k = k.min(n);
    let all = tensor(y, n, dim)?;
    let norms: Vec<f32> = y
        .chunks_exact(dim)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let all_t = all.t()?.contiguous()?;
    let mut idx = vec![0u32; n * k];
    let mut dist = vec![0f32; n * k];
    const BLOCK: usize = 512;
    let mut start = 0;
    while start < n {
        let rows = BLOCK.min(n - start);
        let dots = all
            .narrow(0, start, rows)?
            .matmul(&all_t)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let chunk: Vec<(Vec<u32>, Vec<f32>)> = {
            use rayon::prelude::*;
            (0..rows)
                .into_par_iter()
                .map(|r| {
                    let i = start + r;
                    let row = &dots[r * n..(r + 1) * n];
                    let mut d2: Vec<(f32, u32)> = (0..n)
                        .map(|j| {
                            let v = if j == i {
                                -1.0
                            } else {
                                (norms[i] + norms[j] - 2.0 * row[j]).max(0.0)
                            };
                            (v, j as u32)
                        })
                        .collect();
                    if k < n {
                        d2.select_nth_unstable_by(k - 1, |a, b| {
                            a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
                        });
                        d2.truncate(k);
                    }
                    d2.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    (
                        d2.iter().map(|p| p.1).collect(),
                        d2.iter().map(|p| p.0.max(0.0).sqrt()).collect(),
                    )
                })
                .collect()
        };
        for (r, (ix, ds)) in chunk.into_iter().enumerate() {
            let i = start + r;
            idx[i * k..(i + 1) * k].copy_from_slice(&ix);
            dist[i * k..(i + 1) * k].copy_from_slice(&ds);
        }
        start += rows;
        if !progress(start) {
            return Err(MlError::Cancelled);
        }
    }
    Ok((idx, dist))
}

/// UMAP's 2-D layout of `n` rows of `y` (`n × dim`) from their neighbours and a start
/// (`n × 2`, e.g. PCA's first two axes), `epochs` rounds of its SGD. `progress(done, of)`
/// after each ten epochs; false stops it.
///
/// umap-rs builds the fuzzy graph (with its curve parameters a, b); the layout is
/// umap-learn's Euclidean SGD (`optimize_layout_euclidean`), ours, seeded: umap-rs 0.4.5's
/// own layout has an extra d² in both gradient denominators (its Euclidean path divides by
/// `a·d^2b·d² + 1` where umap-learn divides by `a·d^2b + 1`), which leaves clusters mixed.
pub fn umap(
    y: &[f32],
    n: usize,
    dim: usize,
    neighbours: (&[u32], &[f32], usize),
    start: &[f32],
    epochs: usize,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<f32>> {
    use umap_rs::{Umap, UmapConfig};
    let (idx, dist, k) = neighbours;
    let shape = |e: ndarray::ShapeError| MlError::setting("map", e.to_string());
    let data = Array2::from_shape_vec((n, dim), y.to_vec()).map_err(shape)?;
    let knn_i = Array2::from_shape_vec((n, k), idx.to_vec()).map_err(shape)?;
    let knn_d = Array2::from_shape_vec((n, k), dist.to_vec()).map_err(shape)?;
    let mut config = UmapConfig {
        n_components: 2,
        ..Default::default()
    };
    config.graph.n_neighbors = k;
    let manifold = Umap::new(config).learn_manifold(data.view(), knn_i.view(), knn_d.view());
    let (a, b) = manifold.curve_params();
    // The graph's edges, both directions, without the weakest (as umap-learn drops them).
    let mut edges: Vec<(u32, u32, f32)> = Vec::new();
    for (i, row) in manifold.graph().outer_iterator().enumerate() {
        for (j, &w) in row.iter() {
            edges.push((i as u32, j as u32, w));
        }
    }
    let max_w = edges.iter().map(|e| e.2).fold(0.0f32, f32::max);
    let epochs = epochs.max(1);
    edges.retain(|e| e.2 >= max_w / epochs as f32 && e.2 > 0.0);
    // The start scaled to [0, 10], as umap-learn does.
    let (mut lo, mut hi) = ([f32::MAX; 2], [f32::MIN; 2]);
    for p in start.chunks_exact(2) {
        for c in 0..2 {
            lo[c] = lo[c].min(p[c]);
            hi[c] = hi[c].max(p[c]);
        }
    }
    let mut emb: Vec<f32> = start
        .chunks_exact(2)
        .flat_map(|p| (0..2).map(move |c| 10.0 * (p[c] - lo[c]) / (hi[c] - lo[c]).max(1e-12)))
        .collect();
    let per_sample: Vec<f64> = edges
        .iter()
        .map(|e| f64::from(max_w) / f64::from(e.2))
        .collect();
    let neg_rate = 5.0;
    let per_negative: Vec<f64> = per_sample.iter().map(|p| p / neg_rate).collect();
    let mut next_sample = per_sample.clone();
    let mut next_negative = per_negative.clone();
    let (gamma, initial_alpha) = (1.0f32, 1.0f32);
    let clip = |v: f32| v.clamp(-4.0, 4.0);
    let mut rng = crate::rng::SplitMix64(0x0A11_CE55);
    for epoch in 0..epochs {
        let alpha = initial_alpha * (1.0 - epoch as f32 / epochs as f32);
        let now = epoch as f64;
        for (e, &(j, kk, _)) in edges.iter().enumerate() {
            if next_sample[e] > now {
                continue;
            }
            let (j, kk) = (j as usize, kk as usize);
            let (dx, dy) = (emb[j * 2] - emb[kk * 2], emb[j * 2 + 1] - emb[kk * 2 + 1]);
            let d2 = dx * dx + dy * dy;
            let coeff = if d2 > 0.0 {
                -2.0 * a * b * d2.powf(b - 1.0) / (a * d2.powf(b) + 1.0)
            } else {
                0.0
            };
            for (c, diff) in [dx, dy].into_iter().enumerate() {
                let g = clip(coeff * diff) * alpha;
                emb[j * 2 + c] += g;
                emb[kk * 2 + c] -= g;
            }
            next_sample[e] += per_sample[e];
            let negatives = ((now - next_negative[e]) / per_negative[e]).max(0.0) as usize;
            for _ in 0..negatives {
                let o = rng.below(n);
                if o == j {
                    continue;
                }
                let (dx, dy) = (emb[j * 2] - emb[o * 2], emb[j * 2 + 1] - emb[o * 2 + 1]);
                let d2 = dx * dx + dy * dy;
                let coeff = if d2 > 0.0 {
                    2.0 * gamma * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0))
                } else {
                    0.0
                };
                for (c, diff) in [dx, dy].into_iter().enumerate() {
                    let g = if coeff > 0.0 { clip(coeff * diff) } else { 4.0 };
                    emb[j * 2 + c] += g * alpha;
                }
            }
            next_negative[e] += negatives as f64 * per_negative[e];
        }
        if ((epoch + 1) % 10 == 0 || epoch + 1 == epochs) && !progress(epoch + 1, epochs) {
            return Err(MlError::Cancelled);
        }
    }
    Ok(emb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three well-separated clusters in 20-D.
    fn clusters(per: usize) -> (Vec<f32>, Vec<usize>) {
        let mut rng = crate::rng::SplitMix64(3);
        let (mut x, mut label) = (Vec::new(), Vec::new());
        for c in 0..3 {
            for _ in 0..per {
                for j in 0..20 {
                    let centre = if j == c * 3 { 10.0 } else { 0.0 };
                    x.push(centre + rng.uniform() as f32 - 0.5);
                }
                label.push(c);
            }
        }
        (x, label)
    }

    #[test]
    fn pca_finds_the_spread_and_neighbours_are_exact() -> Result<()> {
        let (x, label) = clusters(40);
        let n = label.len();
        let p = pca(&x, n, 20, 2, 1)?;
        assert!(
            p.variance[0] >= p.variance[1] && p.variance[1] > 10.0,
            "{:?}",
            p.variance
        );
        let y = p.project(&x, n)?;
        // The first two axes separate the clusters: each point's nearest neighbours on
        // them are of its cluster.
        let (idx, dist) = knn(&y, n, 2, 5, &mut |_| true)?;
        for i in 0..n {
            assert_eq!(idx[i * 5] as usize, i, "itself first");
            assert_eq!(dist[i * 5], 0.0);
            for j in 1..5 {
                assert_eq!(label[idx[i * 5 + j] as usize], label[i]);
                assert!(dist[i * 5 + j] >= dist[i * 5 + j - 1]);
            }
        }
        // Against brute force on the full rows.
        let (ix, _) = knn(&x, n, 20, 4, &mut |_| true)?;
        for i in [0, 37, 80, 119] {
            let mut d: Vec<(f32, usize)> = (0..n)
                .map(|j| {
                    let s: f32 = (0..20)
                        .map(|c| (x[i * 20 + c] - x[j * 20 + c]).powi(2))
                        .sum();
                    (s, j)
                })
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let want: Vec<u32> = d[..4].iter().map(|p| p.1 as u32).collect();
            assert_eq!(&ix[i * 4..i * 4 + 4], want.as_slice());
        }
        Ok(())
    }

    #[test]
    fn umap_pulls_clusters_together_from_a_random_start() -> Result<()> {
        let (x, label) = clusters(100);
        let n = label.len();
        let p = pca(&x, n, 20, 10, 1)?;
        let y = p.project(&x, n)?;
        let (idx, dist) = knn(&y, n, 10, 15, &mut |_| true)?;
        // A start that knows nothing of the clusters.
        let mut rng = crate::rng::SplitMix64(9);
        let start: Vec<f32> = (0..n * 2).map(|_| rng.uniform() as f32).collect();
        let nearest_same = |pts: &[f32]| {
            (0..n)
                .filter(|&i| {
                    let d = |j: usize| {
                        (pts[i * 2] - pts[j * 2]).powi(2)
                            + (pts[i * 2 + 1] - pts[j * 2 + 1]).powi(2)
                    };
                    let near = (0..n)
                        .filter(|&j| j != i)
                        .min_by(|&a, &b| d(a).total_cmp(&d(b)));
                    near.is_some_and(|j| label[j] == label[i])
                })
                .count()
        };
        assert!(nearest_same(&start) < n / 2, "the start mixes the clusters");
        let mut calls = 0;
        let out = umap(&y, n, 10, (&idx, &dist, 15), &start, 200, &mut |_, _| {
            calls += 1;
            true
        })?;
        assert_eq!(calls, 20, "every ten epochs");
        assert_eq!(out.len(), n * 2);
        let same = nearest_same(&out);
        assert!(
            same >= n * 98 / 100,
            "{same} of {n} points next to their own cluster"
        );
        // Stopped when asked.
        let stopped = umap(&y, n, 10, (&idx, &dist, 15), &start, 200, &mut |done, _| {
            done < 50
        });
        assert!(matches!(stopped, Err(MlError::Cancelled)));
        Ok(())
    }
}
