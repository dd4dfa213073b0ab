#!/usr/bin/env bash
# CLIP image-embedding throughput on the CPU: Pairlab (candle) and onnxruntime fp32, side by
# side in the same run, on the same random-weight ViT-B/32 folder, same thread count; plus an
# accuracy cross-check of the two implementations on the same two inputs.
#
#   bash bench/clip.sh                       # batches 1 and 32, 10 s each
#   BATCHES=1,8,32 SECONDS_PER=20 bash bench/clip.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p pairlab
bin=target/release/pairlab
bash bench/setup_onnx.sh >/dev/null
py="${PAIRLAB_ORT_VENV:-$HOME/.cache/pairlab/ort-venv}/bin/python"
out=bench/out
mkdir -p "$out"
threads="${THREADS:-$(nproc)}"
export RAYON_NUM_THREADS="$threads"
model="$HOME/.cache/pairlab/bench/clip-vit-b32-random"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
$bin bench clip --batches "${BATCHES:-1,32}" --seconds "${SECONDS_PER:-10}" --npy "$out/clip-check" --json >"$out/clip-candle.json"
"$py" bench/clip_onnx.py --model "$model" --threads "$threads" --batches "${BATCHES:-1,32}" \
    --seconds "${SECONDS_PER:-10}" --json "$out/clip-ort.json" >/dev/null
echo "== accuracy: onnxruntime vs Pairlab on the same 2 images (raw projected embeddings)"
"$py" bench/clip_onnx.py --model "$model" --check "$out/clip-check/input.npy" \
    --expect "$out/clip-check/pairlab_out.npy" --seconds 0 | grep -i "diff" || true
python3 - "$out/clip-candle.json" "$out/clip-ort.json" <<'PY'
import json, sys
c = {r["batch"]: r["images_per_s"] for r in json.load(open(sys.argv[1]))["results"]}
o = {r["batch"]: r["images_per_s"] for r in json.load(open(sys.argv[2]))["results"]}
print(f"{'batch':>5}  {'pairlab (candle)':>17}  {'onnxruntime fp32':>17}  ratio")
for b in sorted(c):
    print(f"{b:>5}  {c[b]:>12.1f} img/s  {o.get(b, float('nan')):>12.1f} img/s  {c[b] / o[b]:.2f}x" if b in o else f"{b:>5} {c[b]:.1f}")
PY
