#!/usr/bin/env bash
# Ingest benchmark: Pairlab cold/warm index of generated corpora, and FiftyOne on the same
# small-image folder when its venv exists (bash bench/setup_fiftyone.sh makes it).
#
#   bash bench/ingest.sh            # 10k small, 100k small, 1k full-size X-rays
#   SIZES="1000" XRAY=0 bash bench/ingest.sh
#
# Corpora are generated under ${PAIRLAB_BENCH_DIR:-/tmp/pairlab-bench} and kept for reuse.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p pairlab
bin=target/release/pairlab
dir="${PAIRLAB_BENCH_DIR:-/tmp/pairlab-bench}"
mkdir -p "$dir"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"

for n in ${SIZES:-10000 100000}; do
    $bin bench ingest --kind small --n "$n" --dir "$dir/small-$n"
done
if [ "${XRAY:-1}" = 1 ]; then
    $bin bench ingest --kind xray --n "${XRAY_N:-1000}" --dir "$dir/xray-${XRAY_N:-1000}"
fi

venv="${PAIRLAB_BENCH_VENV:-$HOME/.cache/pairlab/fiftyone-venv}"
n="${FIFTYONE_N:-$(echo ${SIZES:-10000} | awk '{print $1}')}"
if [ -x "$venv/bin/python" ] && [ -d "$dir/small-$n" ]; then
    echo "== FiftyOne on the same $n-image folder (import + metadata + 256-px thumbnails)"
    pl=$($bin bench ingest --kind small --n "$n" --dir "$dir/small-$n" --json)
    fo=$("$venv/bin/python" bench/fiftyone_ingest.py "$dir/small-$n" 2>/dev/null | tail -n 1)
    echo "pairlab:  $pl"
    echo "fiftyone: $fo"
    python3 - "$pl" "$fo" <<'PY'
import json, sys
pl, fo = json.loads(sys.argv[1]), json.loads(sys.argv[2])
ratio = pl["cold_pairs_per_second"] / fo["per_second"]
print(f"pairlab {pl['cold_pairs_per_second']:.0f}/s vs fiftyone {fo['per_second']:.0f}/s "
      f"on {fo['images']} images: pairlab is {ratio:.1f}x faster")
PY
else
    echo "(FiftyOne comparison skipped: run bash bench/setup_fiftyone.sh first)"
fi
