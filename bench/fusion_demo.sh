#!/usr/bin/env bash
# Where fusion helps: on the demo corpus (its images follow their findings), one study in
# three gets a report that is silent on everything while the truth (the image truth of the
# five findings the demo draws) says otherwise. An image model is fine-tuned on the train
# part (a tiny torchxrayvision-layout DenseNet from random weights at 64 px, registered as
# a model), then a `fusion` run (its embeddings + MiniLM on the reports) trains against the
# truth, and its ablation on the test part compares the image alone, the report alone and
# both: the same run with the other side masked as in training.
#
#   bash bench/fusion_demo.sh            # N (patients, default 300), FUSION (concat|attention)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${N:-300}"; fusion="${FUSION:-concat}"
bash scripts/fetch-fixtures.sh
cargo build --release -q -p pairlab
bin="$(pwd)/${CARGO_TARGET_DIR:-target}/release/pairlab"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
"$bin" --library "$tmp/scratch" demo --dir "$tmp/corpus" --n "$n" > /dev/null
python3 bench/fusion_demo_manifest.py "$tmp/corpus"
lib=(--library "$tmp/lib")
"$bin" "${lib[@]}" index "$tmp/corpus" --layout manifest --manifest "$tmp/corpus/manifest.csv" --json > /dev/null
"$bin" "${lib[@]}" model add "${PAIRLAB_FIXTURES:-$HOME/.cache/pairlab/fixtures}/minilm" --name minilm > /dev/null
"$bin" "${lib[@]}" model add tests/data/reference/checkpoints/xrv_tiny.pt --name xrv-tiny > /dev/null
ft=$("$bin" "${lib[@]}" train --split imported --trainer finetune --model xrv-tiny --unfreeze all \
    --size 64 --epochs "${IMAGE_EPOCHS:-20}" --lr 0.003 --seed 1 --json)
ft_id=$(echo "$ft" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
"$bin" "${lib[@]}" model add --from-run "$ft_id" --name image > /dev/null
fu=$("$bin" "${lib[@]}" train --split imported --trainer fusion --model image --text-model minilm \
    --fusion "$fusion" --epochs 100 --seed 1 --json)
fu_id=$(echo "$fu" | python3 -c 'import json,sys; print(json.load(sys.stdin)["run_id"])')
mkdir -p bench/out
"$bin" "${lib[@]}" eval --run "$fu_id" --split test --json > bench/out/fusion-demo-eval.json
"$bin" "${lib[@]}" eval --run "$fu_id" --split test | sed -n '/^ablation/,$p'
python3 - bench/out/fusion-demo-eval.json <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["ablation"]
f = {k: a[k]["macro_f1"] for k in ("image", "report", "both")}
m = {k: a[k]["map"] for k in ("image", "report", "both")}
print(f"test part: macro F1 image {f['image']:.3f} · report {f['report']:.3f} · both {f['both']:.3f}; "
      f"mAP image {m['image']:.3f} · report {m['report']:.3f} · both {m['both']:.3f}")
print("fusion beats each modality alone" if f["both"] > max(f["image"], f["report"]) and m["both"] > max(m["image"], m["report"])
      else "fusion does NOT beat each modality alone on both figures")
PY
