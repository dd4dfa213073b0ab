#!/usr/bin/env bash
# Fine-tuning speed of MiniLM (all-MiniLM-L6-v2) side by side: Pairlab's `text` trainer
# (`pairlab bench text-speed`, release build) and PyTorch + transformers
# (bench/text_torch.py) on the same recipe: batch 16 × 256 tokens, mean pooling, a linear
# head of 14 classes, BCE, AdamW, everything unfrozen, 2 threads; tokens/s and peak memory.
#
#   TORCH_PY=/tmp/textvenv/bin/python bash bench/text_speed.sh
#   (BATCH, LEN, STEPS override)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${TORCH_PY:?set TORCH_PY to a python with torch and transformers}"
batch="${BATCH:-16}"; len="${LEN:-256}"; steps="${STEPS:-5}"
bash scripts/fetch-fixtures.sh
cargo build --release -q -p pairlab
bin="${CARGO_TARGET_DIR:-target}/release/pairlab"
mkdir -p bench/out
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
ours=$(RAYON_NUM_THREADS=2 "$bin" bench text-speed --batch "$batch" --len "$len" --steps "$steps" --json)
theirs=$("$py" bench/text_torch.py --batch "$batch" --len "$len" --steps "$steps" --threads 2 --unfreeze all 2>/dev/null | tail -1)
echo "$ours" > bench/out/text-speed-pairlab.json
echo "$theirs" > bench/out/text-speed-torch.json
python3 - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"MiniLM fine-tuning, batch {o['batch']} x {o['len']} tokens, 2 threads: "
      f"Pairlab {o['tokens_per_s']:.0f} tokens/s ({o['seconds_per_step']:.2f} s/step, peak {o['peak_rss_mb']:.0f} MiB), "
      f"PyTorch {t['tokens_per_s']:.0f} tokens/s ({t['seconds_per_step']:.2f} s/step, peak {t['peak_rss_mb']:.0f} MiB) "
      f"-> {t['seconds_per_step'] / o['seconds_per_step']:.2f}x PyTorch's speed (time {o['seconds_per_step'] / t['seconds_per_step']:.2f}x)")
PY
