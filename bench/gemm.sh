#!/usr/bin/env bash
# The linear layers' matrix products of a ViT-B/32 (batch 1: 50 rows; batch 32: 1,600 rows)
# through candle's gemm crate (`pairlab bench gemm`) and NumPy's bundled OpenBLAS
# (bench/gemm_numpy.py), side by side, same thread count: is a system BLAS worth putting
# behind the linear layers?
#
#   bash bench/gemm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p pairlab
bash bench/setup_onnx.sh >/dev/null
py="${PAIRLAB_ORT_VENV:-$HOME/.cache/pairlab/ort-venv}/bin/python"
threads="${THREADS:-$(nproc)}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
RAYON_NUM_THREADS="$threads" target/release/pairlab bench gemm
OPENBLAS_NUM_THREADS="$threads" "$py" bench/gemm_numpy.py
