#!/usr/bin/env bash
# UMAP of 100,000 × 512 random-but-clustered vectors on this machine (issue 16): Pairlab
# (`pairlab bench umap`: PCA to 50, exact 15 neighbours, UMAP's layout, 200 epochs) and
# umap-learn on the same vectors (its defaults: 15 neighbours by NN-descent, spectral start,
# 200 epochs for this size), one after the other in one run; time, peak memory and how often
# a point's nearest neighbour on the map is of its own cluster.
#
#   UMAP_PY=/path/to/venv/bin/python bash bench/umap.sh     # a venv with umap-learn
#   (N, DIM override)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p pairlab
bin="${CARGO_TARGET_DIR:-target}/release/pairlab"
n="${N:-100000}"; dim="${DIM:-512}"
data="${PAIRLAB_BENCH_DIR:-/tmp/pairlab-bench}/umap-$n-$dim.f32"
mkdir -p "$(dirname "$data")" bench/out
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
$bin bench umap --n "$n" --dim "$dim" --save "$data" --json | tee bench/out/umap-pairlab.json
if [ -n "${UMAP_PY:-}" ]; then
    /usr/bin/time -f "umap-learn: %e s wall, peak %M KiB" "$UMAP_PY" - "$data" "$n" "$dim" <<'PY'
import sys, time, numpy as np, umap
path, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
x = np.fromfile(path, dtype="<f4").reshape(n, d)
label = np.fromfile(path.rsplit(".", 1)[0] + ".labels", dtype=np.uint8)
t = time.time()
xy = umap.UMAP(n_neighbors=15, n_components=2).fit_transform(x)
secs = time.time() - t
sample = np.arange(0, n, max(1, n // 2000))
hits = 0
for chunk in np.array_split(sample, 40):
    d2 = ((xy[chunk, None, :] - xy[None, :, :]) ** 2).sum(-1)
    d2[np.arange(len(chunk)), chunk] = np.inf
    hits += (label[d2.argmin(1)] == label[chunk]).sum()
same = hits / len(sample)
print(f"umap-learn {umap.__version__}: fit_transform {secs:.1f} s; nearest map neighbour in the same cluster {same:.3f}")
PY
fi
rm -f "$data" "${data%.*}.labels"
