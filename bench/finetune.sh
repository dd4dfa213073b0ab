#!/usr/bin/env bash
# Fine-tuning throughput side by side: Pairlab (`pairlab bench finetune`, release build)
# and PyTorch (bench/finetune_torch.py) on the same recipe: ResNet-50 and DenseNet-121 at
# 224 px, batch 16, everything unfrozen, forward + backward + AdamW step, 2 threads.
#
#   TORCH_PY=/path/to/venv/bin/python bash bench/finetune.sh
#   (a venv with torch and torchvision from PyPI; ARCHS, SIZE, BATCH, STEPS override)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${TORCH_PY:?set TORCH_PY to a python with torch and torchvision}"
archs="${ARCHS:-resnet50 densenet121}"
size="${SIZE:-224}"; batch="${BATCH:-16}"; steps="${STEPS:-3}"
cargo build --release -q -p pairlab
bin="${CARGO_TARGET_DIR:-target}/release/pairlab"
mkdir -p bench/out
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
for arch in $archs; do
    ours=$(RAYON_NUM_THREADS=2 $bin bench finetune --arch "$arch" --size "$size" --batch "$batch" --steps "$steps" --json)
    theirs=$("$py" bench/finetune_torch.py --arch "$arch" --size "$size" --batch "$batch" --steps "$steps" --threads 2 2>/dev/null)
    echo "$ours" > "bench/out/finetune-$arch-pairlab.json"
    echo "$theirs" > "bench/out/finetune-$arch-torch.json"
    python3 - "$ours" "$theirs" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{o['arch']} {o['size']} px batch {o['batch']}: Pairlab {o['images_per_s']:.2f} img/s "
      f"(peak {o['peak_rss_mb']:.0f} MiB, estimated {o['estimated_mb']:.0f}), PyTorch {t['images_per_s']:.2f} img/s "
      f"(peak {t['peak_rss_mb']:.0f} MiB) -> {o['images_per_s'] / t['images_per_s']:.2f}x PyTorch")
PY
done
