#!/usr/bin/env bash
# Fine-tuning speed of MiniLM (all-MiniLM-L6-v2) side by side: Pairlab's `text` trainer
# (`pairlab bench text-speed`, release build) and PyTorch + transformers
# (bench/text_torch.py) on the same recipe: batch 16 × 256 tokens, mean pooling, a linear
# head of 14 classes, BCE, AdamW, everything unfrozen, 2 threads; tokens/s and peak memory.
# Pairlab runs twice: as it trains by default (a batch this size passes the 1 GiB activation
# budget, so its layers are recomputed in the backward pass) and with every activation kept
# (a memory budget of 100 GB).
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
kept=$(RAYON_NUM_THREADS=2 "$bin" bench text-speed --batch "$batch" --len "$len" --steps "$steps" --memory-mb 100000 --json)
theirs=$("$py" bench/text_torch.py --batch "$batch" --len "$len" --steps "$steps" --threads 2 --unfreeze all 2>/dev/null | tail -1)
echo "$ours" > bench/out/text-speed-pairlab.json
echo "$kept" > bench/out/text-speed-pairlab-kept.json
echo "$theirs" > bench/out/text-speed-torch.json
python3 - "$ours" "$kept" "$theirs" <<'PY'
import json, sys
o, k, t = (json.loads(a) for a in sys.argv[1:4])
print(f"MiniLM fine-tuning, batch {o['batch']} x {o['len']} tokens, 2 threads:")
for name, r in [("Pairlab (default: layers recomputed)", o), ("Pairlab (every activation kept)", k), ("PyTorch + transformers", t)]:
    print(f"  {name:<38} {r['tokens_per_s']:6.0f} tokens/s  {r['seconds_per_step']:5.2f} s/step  peak {r['peak_rss_mb']:5.0f} MiB"
          f"  time {r['seconds_per_step'] / t['seconds_per_step']:.2f}x PyTorch's")
PY
