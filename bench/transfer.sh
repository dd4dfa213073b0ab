#!/usr/bin/env bash
# Transfer works end to end: a ResNet-18 trained by Pairlab from scratch on Fashion-MNIST
# classes 0-4 (PER_CLASS images each), registered as a model (`model add --from-run`), then
# fine-tuned on 500 images of classes 5-9; against the same network and recipe from random
# weights on those 500. Both are scored on the official test images of classes 5-9.
#
#   bash bench/transfer.sh      # PER_CLASS=2000, PRE_EPOCHS=6, EPOCHS=15, SIZE=32,
#                               # LRS="0.01 0.001" (fine-tuning), SEEDS="1 2 3"
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
# Every fine-tuning learning rate in LRS, every seed in SEEDS (the head's initialisation, the
# shuffling and the augmentation), both starts.
lrs="${LRS:-0.01 0.001}"; seeds="${SEEDS:-1 2 3}"
for lr in $lrs; do
    for seed in $seeds; do
        for init in pretrained random; do
            out="bench/out/transfer-$init-lr$lr-s$seed"
            "${tgt[@]}" train --trainer finetune --model "$init" --unfreeze all --size "$size" --batch 32 \
                --lr "$lr" --seed "$seed" --epochs "$epochs" --schema class --split imported --json > "$out.json"
            run=$(python3 -c "import json; print(json.load(open('$out.json'))['run_id'])")
            "${tgt[@]}" eval --run "$run" --split test --json > "$out-eval.json"
        done
    done
done
python3 - "$lrs" "$seeds" <<'PY'
import json, statistics, sys
lrs, seeds = sys.argv[1].split(), sys.argv[2].split()
for lr in lrs:
    acc = {k: [json.load(open(f"bench/out/transfer-{k}-lr{lr}-s{s}-eval.json"))["accuracy"] for s in seeds]
           for k in ["pretrained", "random"]}
    for k, a in acc.items():
        print(f"lr {lr:>6} {k:>10} init, fine-tuned on 500 images of classes 5-9: accuracy "
              + " ".join(f"{x:.4f}" for x in a) + f" (seeds {' '.join(seeds)}), mean {statistics.mean(a):.4f}")
    wins = sum(p > r for p, r in zip(acc["pretrained"], acc["random"]))
    d = statistics.mean(acc["pretrained"]) - statistics.mean(acc["random"])
    print(f"lr {lr:>6} pretrained - random: mean {d:+.4f}, pretrained ahead on {wins} of {len(seeds)} seeds"
          f" -> {'pretrained wins' if d > 0 else 'pretrained does NOT win'}")
PY
