//! `pairlab map` (a 2-D map of a model's embeddings) and `pairlab bench umap`.

use std::time::Instant;

use anyhow::Result;
use pairlab_core::Library;
use pairlab_core::map::{MapOptions, Method};
use pairlab_ml::projection;

use crate::bar::Bar;

/// A 2-D map of a model's stored image or report embeddings: PCA at once, or UMAP (PCA to
/// 50 dimensions, exact neighbours, UMAP's layout). The same inputs answer the kept map.
#[derive(clap::Args)]
pub struct MapCommand {
    #[arg(long)]
    pub model: String,
    /// image or report.
    #[arg(long, default_value = "image")]
    pub kind: String,
    /// umap or pca.
    #[arg(long, default_value = "umap")]
    pub method: String,
    #[arg(long, default_value_t = 15)]
    pub neighbours: usize,
    #[arg(long, default_value_t = 200)]
    pub epochs: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn map(lib: &mut Library, cmd: MapCommand) -> Result<()> {
    let method = match cmd.method.as_str() {
        "umap" => Method::Umap,
        "pca" => Method::Pca,
        other => anyhow::bail!("--method {other:?}: use umap or pca"),
    };
    let bar = Bar::new(!cmd.json);
    let s = lib.make_map(
        &MapOptions {
            model: cmd.model,
            kind: cmd.kind,
            method,
            neighbours: Some(cmd.neighbours),
            epochs: Some(cmd.epochs),
        },
        &bar,
    );
    bar.finish();
    let s = s?;
    if cmd.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "map {}: {} {} embeddings of {} by {} ({}, {:.1} s); open it in the Map view",
            s.id,
            s.points,
            s.kind,
            s.model,
            s.method,
            if s.cached { "kept from before" } else { "new" },
            s.seconds
        );
    }
    Ok(())
}

/// UMAP on random-but-clustered vectors: time of each stage and peak memory.
#[derive(clap::Args)]
pub struct UmapBenchArgs {
    #[arg(long, default_value_t = 100_000)]
    pub n: usize,
    #[arg(long, default_value_t = 512)]
    pub dim: usize,
    #[arg(long, default_value_t = 20)]
    pub clusters: usize,
    #[arg(long, default_value_t = 200)]
    pub epochs: usize,
    /// Also write the vectors (raw little-endian f32, n × dim) and their clusters (u8), for
    /// the same run in umap-learn (bench/umap.sh).
    #[arg(long)]
    pub save: Option<std::path::PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn bench_umap(a: &UmapBenchArgs) -> Result<()> {
    let (n, d) = (a.n, a.dim);
    // Cluster centres on a sphere of radius 4, points with unit Gaussian-ish noise.
    let mut rng = pairlab_ml::rng::SplitMix64(11);
    let centres: Vec<f32> = (0..a.clusters * d)
        .map(|_| (rng.uniform() as f32 - 0.5) * 4.0)
        .collect();
    let mut label = Vec::with_capacity(n);
    let mut x = Vec::with_capacity(n * d);
    for i in 0..n {
        let c = i % a.clusters;
        label.push(c);
        for j in 0..d {
            let noise = (rng.uniform() + rng.uniform() + rng.uniform() - 1.5) as f32;
            x.push(centres[c * d + j] + noise);
        }
    }
    if let Some(path) = &a.save {
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(path, bytes)?;
        let labels: Vec<u8> = label.iter().map(|&c| c as u8).collect();
        std::fs::write(path.with_extension("labels"), labels)?;
    }
    let t = Instant::now();
    let p = projection::pca(&x, n, d, d.min(50), 0)?;
    let y = p.project(&x, n)?;
    let pca_s = t.elapsed().as_secs_f64();
    drop(x);
    let low = p.variance.len();
    let t = Instant::now();
    let (idx, dist) = projection::knn(&y, n, low, 15, &mut |_| true)?;
    let knn_s = t.elapsed().as_secs_f64();
    let start: Vec<f32> = y.chunks_exact(low).flat_map(|r| [r[0], r[1]]).collect();
    let t = Instant::now();
    let xy = projection::umap(
        &y,
        n,
        low,
        (&idx, &dist, 15),
        &start,
        a.epochs,
        &mut |_, _| true,
    )?;
    let umap_s = t.elapsed().as_secs_f64();
    // Quality on a sample: how often a point's nearest map neighbour is of its cluster.
    let sample: Vec<usize> = (0..n).step_by((n / 2000).max(1)).collect();
    let same = sample
        .iter()
        .filter(|&&i| {
            let d2 = |j: usize| {
                (xy[i * 2] - xy[j * 2]).powi(2) + (xy[i * 2 + 1] - xy[j * 2 + 1]).powi(2)
            };
            (0..n)
                .filter(|&j| j != i)
                .min_by(|&p, &q| d2(p).total_cmp(&d2(q)))
                .is_some_and(|j| label[j] == label[i])
        })
        .count();
    let out = serde_json::json!({
        "n": n, "dim": d, "clusters": a.clusters, "epochs": a.epochs,
        "threads": rayon::current_num_threads(),
        "pca_seconds": pca_s, "knn_seconds": knn_s, "umap_seconds": umap_s,
        "total_seconds": pca_s + knn_s + umap_s,
        "peak_rss_mib": crate::bench_text::peak_rss_mb(),
        "nearest_same_cluster": same as f64 / sample.len() as f64,
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "UMAP of {n} × {d} ({} clusters) on {} threads: PCA to 50 {pca_s:.1} s, 15 exact neighbours {knn_s:.1} s, layout ({} epochs) {umap_s:.1} s, total {:.1} s; peak {:.0} MiB; nearest map neighbour in the same cluster {:.3}",
            a.clusters,
            rayon::current_num_threads(),
            a.epochs,
            pca_s + knn_s + umap_s,
            crate::bench_text::peak_rss_mb(),
            same as f64 / sample.len() as f64
        );
    }
    Ok(())
}
