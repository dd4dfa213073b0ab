#!/usr/bin/env bash
# Export of the synthetic library (`bench browse`'s: reports, labels, a split, shared
# thumbnails; no image files) to hf-parquet, with image paths and with embedded thumbnails,
# at N/10 and N pairs: seconds and peak memory of each export (a child process), so that
# memory can be seen not to grow with N. Release build.
#
# Beside it, when DATASETS_PY names a python with `datasets` installed: the same rows read
# from the library's SQLite file and written by `datasets` (bench/export_datasets.py,
# `Dataset.from_generator` + `to_parquet`), the way a script does it today.
#
#   DATASETS_PY=/tmp/dsvenv/bin/python bash bench/export.sh     (N=100000; N=... overrides)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${N:-100000}"
cargo build --release -q -p pairlab
bin="${CARGO_TARGET_DIR:-target}/release/pairlab"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
"$bin" bench export --n "$n" --dir "${TMPDIR:-/tmp}/pairlab-bench-export"
if [ -n "${DATASETS_PY:-}" ]; then
    echo "the same export with Hugging Face datasets ($("$DATASETS_PY" -c 'import datasets; print(datasets.__version__)')):"
    for size in $((n / 10)) "$n"; do
        for mode in path thumbnail; do
            out=$(mktemp -d)
            /usr/bin/time -f "%M" -o "$out.rss" "$DATASETS_PY" bench/export_datasets.py \
                "${TMPDIR:-/tmp}/pairlab-bench-export/library-$size" "$out" "$mode" > "$out.json" 2>/dev/null
            python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f'{sys.argv[3]:>9} {sys.argv[4]:>10} {r[\"seconds\"]:9.2f} {r[\"rows\"]/r[\"seconds\"]:11.0f} {int(open(sys.argv[2]).read())/1024:10.1f}')" "$out.json" "$out.rss" "$size" "$mode"
            rm -rf "$out" "$out.rss" "$out.json"
        done
    done
fi
