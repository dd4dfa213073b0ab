#!/usr/bin/env bash
# The `text` trainer on real radiology reports, side by side with the rule labeler and a
# scikit-learn TF-IDF + logistic regression baseline: 3,9xx IU X-ray reports with gold
# labels from their MeSH indexing (bench/labeler_real_gold.toml); everything trains on the
# development half (odd file numbers) and is scored on the held-out half (even numbers),
# for No Finding and the five common findings. Variants (`pairlab bench text-real`):
#   head      a linear head on frozen MiniLM (mean-pooled), trained on the gold
#   finetune  MiniLM fine-tuned end to end on the gold (EPOCHS epochs)
#   learn     `labeler learn`'s recipe: the rules' labels of the development half, gold
#             ("human") labels on its first 500 reports weighing three times
# Needs a python with scikit-learn for the baseline (TEXT_PY; bench/text_real.py).
#
#   TEXT_PY=/tmp/textvenv/bin/python bash bench/text_real.sh
#
# The reports come from the PyPI wheel torchxrayvision==1.5.7 (checksum pinned, fetched by
# scripts/fetch-fixtures.sh into ~/.cache/pairlab/fixtures/iu-reports). CC BY-NC-ND 4.0:
# the gold CSVs are written to a temporary folder, never commit them or anything derived.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${TEXT_PY:?set TEXT_PY to a python with scikit-learn}"
epochs="${EPOCHS:-4}"
bash scripts/fetch-fixtures.sh
cargo build --release -q -p pairlab
bin="${CARGO_TARGET_DIR:-target}/release/pairlab"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p bench/out
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
"$bin" bench text-real --epochs "$epochs" --write-gold "$tmp" --variants "${VARIANTS:-head,finetune,learn}" | tee bench/out/text-real-pairlab.txt
echo
echo "== scikit-learn TF-IDF + logistic regression (fitted on the development half only)"
"$py" bench/text_real.py --dev "$tmp/dev_gold.csv" --heldout "$tmp/heldout_gold.csv" | tee bench/out/text-real-sklearn.txt
