#!/usr/bin/env bash
# Likely label errors on planted noise (issue 16): the first 10,000 Fashion-MNIST training
# images (Debian's dataset-fashion-mnist) with class-conditional noise planted at 10 %, 20 %
# and 40 % between confusable classes (the truth kept outside the corpus); per rate,
# `pairlab label-issues` (cnn, 5 folds) scored against the planted errors, Cleanlab 2.9 on
# Pairlab's own out-of-fold probabilities (its flags must be the same), and the baseline a
# Cleanlab user starts with (out-of-fold logistic regression on the pixels), side by side.
#
#   CLEANLAB_PY=/path/to/venv/bin/python bash bench/label_issues.sh
#   (a venv with cleanlab==2.9.0 and scikit-learn; RATES, N, EPOCHS, FOLDS override)
set -euo pipefail
cd "$(dirname "$0")/.."
py="${CLEANLAB_PY:?set CLEANLAB_PY to a python with cleanlab==2.9.0 and scikit-learn}"
dpkg-query -W dataset-fashion-mnist >/dev/null 2>&1 || {
    echo "installing dataset-fashion-mnist"; sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
}
cargo build --release -q -p pairlab
bin="${CARGO_TARGET_DIR:-target}/release/pairlab"
base="${PAIRLAB_BENCH_DIR:-/tmp/pairlab-bench}/label-issues"
rates="${RATES:-0.1 0.2 0.4}"; n="${N:-10000}"; epochs="${EPOCHS:-15}"; folds="${FOLDS:-5}"
mkdir -p bench/out "$base"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
for rate in $rates; do
    dir="$base/fashion-$n-$rate"; lib="$dir.library"
    rm -rf "$dir" "$lib"
    python3 bench/label_issues.py plant "$dir" --rate "$rate" --n "$n"
    $bin --library "$lib" index "$dir" --layout folders >/dev/null
    out="bench/out/label-issues-$rate.json"
    /usr/bin/time -f "pairlab label-issues: %e s wall, peak %M KiB" \
        $bin --library "$lib" label-issues --schema class --split imported --trainer cnn \
        --size 28 --epochs "$epochs" --folds "$folds" --seed 0 --json > "$out"
    echo "== noise $rate =="
    "$py" bench/label_issues.py score "$dir" "$lib" "$out"
    "$py" bench/label_issues.py baseline "$dir"
done
