#!/usr/bin/env bash
# Transfer works end to end: a ResNet-18 trained by Pairlab from scratch on Fashion-MNIST
# classes 0-4 (PER_CLASS images each), registered as a model (`model add --from-run`), then
# fine-tuned on 500 images of classes 5-9; against the same network and recipe from random
# weights on those 500. Both are scored on the official test images of classes 5-9.
#
#   bash bench/transfer.sh      # PER_CLASS=2000, PRE_EPOCHS=6, EPOCHS=15, SIZE=32
set -euo pipefail
cd "$(dirname "$0")/.."
dpkg-query -W dataset-fashion-mnist >/dev/null 2>&1 || {
    echo "installing dataset-fashion-mnist"; sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
}
cargo build --release -q -p pairlab
bin="${CARGO_TARGET_DIR:-target}/release/pairlab"
dir="${PAIRLAB_BENCH_DIR:-/tmp/pairlab-bench}/transfer"
per="${PER_CLASS:-2000}"; pre="${PRE_EPOCHS:-6}"; epochs="${EPOCHS:-15}"; size="${SIZE:-32}"
mkdir -p bench/out "$dir"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
python3 bench/transfer.py "$dir" --per-class "$per"
rm -rf "$dir/source.library" "$dir/target.library"
src=( "$bin" --library "$dir/source.library" ); tgt=( "$bin" --library "$dir/target.library" )
"${src[@]}" index "$dir/source" --layout folders >/dev/null
"${tgt[@]}" index "$dir/target" --layout folders >/dev/null
"$bin" bench weights --arch resnet18 --seed 1 --out "$dir/resnet18-random.safetensors"
"${src[@]}" model add "$dir/resnet18-random.safetensors" --name random >/dev/null
start=$(date +%s)
"${src[@]}" train --trainer finetune --model random --unfreeze all --size "$size" --batch 32 \
    --lr 0.01 --epochs "$pre" --schema class --split imported --json > bench/out/transfer-pretrain.json
pre_run=$(python3 -c 'import json; print(json.load(open("bench/out/transfer-pretrain.json"))["run_id"])')
echo "pretraining on classes 0-4: run $pre_run, $(( $(date +%s) - start )) s"
"${src[@]}" eval --run "$pre_run" --split test --json > bench/out/transfer-pretrain-eval.json
python3 - <<'PY'
import json
e = json.load(open("bench/out/transfer-pretrain-eval.json"))
print(f"  its accuracy on the official test images of classes 0-4: {e['accuracy']:.4f}")
PY
"${tgt[@]}" model add "$dir/source.library/runs/$pre_run" --name pretrained >/dev/null
"${tgt[@]}" model add "$dir/resnet18-random.safetensors" --name random >/dev/null
for init in pretrained random; do
    "${tgt[@]}" train --trainer finetune --model "$init" --unfreeze all --size "$size" --batch 32 \
        --lr 0.01 --epochs "$epochs" --schema class --split imported --json > "bench/out/transfer-$init.json"
    run=$(python3 -c "import json; print(json.load(open('bench/out/transfer-$init.json'))['run_id'])")
    "${tgt[@]}" eval --run "$run" --split test --json > "bench/out/transfer-$init-eval.json"
done
python3 - <<'PY'
import json
r = {k: json.load(open(f"bench/out/transfer-{k}-eval.json")) for k in ["pretrained", "random"]}
for k, e in r.items():
    print(f"{k:>10} init, fine-tuned on 500 images of classes 5-9: accuracy {e['accuracy']:.4f} on {e['samples']} test images (macro F1 {e['macro_f1']:.4f})")
d = r["pretrained"]["accuracy"] - r["random"]["accuracy"]
print(f"pretrained - random: {d:+.4f} -> {'pretrained wins' if d > 0 else 'pretrained does NOT win'}")
PY
