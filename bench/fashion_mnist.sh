#!/usr/bin/env bash
# Fashion-MNIST, end to end through Pairlab: the 70,000 real labelled images (Debian package
# dataset-fashion-mnist) written as a folders-layout corpus, indexed, the `cnn` trainer fitted
# on the official train part (a seeded tenth held out for early stopping) and evaluated on
# the official test part; then, when a PyTorch venv is given, the same network, epochs and
# optimiser in PyTorch on the CPU for the time comparison.
#
#   bash bench/fashion_mnist.sh                 # EPOCHS=15 by default
#   TORCH_PY=/path/to/venv/bin/python bash bench/fashion_mnist.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dpkg-query -W dataset-fashion-mnist >/dev/null 2>&1 || {
    echo "installing dataset-fashion-mnist"; sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
}
cargo build --release -q -p pairlab
bin="${CARGO_TARGET_DIR:-target}/release/pairlab"
dir="${PAIRLAB_BENCH_DIR:-/tmp/pairlab-bench}/fashion-mnist"
lib="$dir.library"
epochs="${EPOCHS:-15}"
mkdir -p bench/out
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
python3 bench/fashion_mnist.py "$dir"
rm -rf "$lib"
/usr/bin/time -f "index: %e s, peak %M KiB" $bin --library "$lib" index "$dir" --layout folders >/dev/null
start=$(date +%s.%N)
$bin --library "$lib" train --trainer cnn --size 28 --schema class --split imported \
    --epochs "$epochs" --seed 0 --json > bench/out/fashion-run.json
end=$(date +%s.%N)
run=$(python3 -c 'import json,sys; print(json.load(open("bench/out/fashion-run.json"))["run_id"])')
$bin --library "$lib" eval --run "$run" --split test --json > bench/out/fashion-eval.json
$bin --library "$lib" eval --run "$run" --split test > bench/out/fashion-eval.txt
head -n 14 bench/out/fashion-eval.txt
python3 - "$start" "$end" "$lib/pairlab.db" <<'PY'
import json, sqlite3, sys
r = json.load(open("bench/out/fashion-run.json")); e = json.load(open("bench/out/fashion-eval.json"))
rows = sqlite3.connect(sys.argv[3]).execute(
    "SELECT epoch, val_loss, val_accuracy, seconds FROM run_epochs WHERE run_id = ? ORDER BY epoch", (r["run_id"],)).fetchall()
for epoch, loss, acc, secs in rows:
    print(f"pairlab epoch {epoch}: val loss {loss:.4f} acc {acc:.4f} ({secs:.1f} s)")
print(f"pairlab cnn: {r['epochs']} epochs (best {r['best_epoch']}), epochs alone {sum(x[3] for x in rows):.1f} s, "
      f"train command {float(sys.argv[2]) - float(sys.argv[1]):.1f} s (incl. decoding + caching 70k images and predicting all), "
      f"test accuracy {e['accuracy']:.4f}, macro F1 {e['macro_f1']:.4f}")
PY
if [ -n "${TORCH_PY:-}" ]; then
    "$TORCH_PY" bench/fashion_mnist_torch.py --epochs "$epochs" --threads "$(nproc)"
fi
