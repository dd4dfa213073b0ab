#!/usr/bin/env bash
# Peak memory of indexing as the corpus grows (issue 18): generated corpora of 10k, 100k and
# 1M pairs of 32-px PNGs with text reports, each indexed cold (empty library) and warm
# (unchanged re-index), with the peak RSS of the `pairlab index` process.
#
#   bash bench/ingest_memory.sh
#   SIZES="10000 100000" bash bench/ingest_memory.sh
#   BEFORE=/path/to/an/older/pairlab bash bench/ingest_memory.sh   # side by side, same corpora
#
# Corpora go under ${PAIRLAB_BENCH_DIR:-/tmp/pairlab-bench} and are kept for reuse (1M
# pairs: about 2 million files, 8 GB of disk with 4 KiB blocks); each library (with its
# thumbnails) is removed after its row.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/time ]; then
    echo "this benchmark reads peak RSS with GNU time: apt-get install time" >&2
    exit 1
fi
cargo build --release -q -p pairlab
now=target/release/pairlab
dir="${PAIRLAB_BENCH_DIR:-/tmp/pairlab-bench}"
mkdir -p "$dir"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), commit $(git rev-parse --short HEAD)"
echo "| pairs | build | cold s | pairs/s | cold peak RSS | warm s | warm peak RSS |"
echo "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"
for n in ${SIZES:-10000 100000 1000000}; do
    corpus="$dir/tiny-$n"
    "$now" bench gen --kind tiny --n "$n" --dir "$corpus"
    for build in ${BEFORE:+before} now; do
        bin=$now
        [ "$build" = before ] && bin=$BEFORE
        work=$(mktemp -d "$dir/library-XXXXXX")
        row="| $n | $build"
        for run in cold warm; do
            /usr/bin/time -f "%e %M" -o "$work/time" \
                "$bin" --library "$work/lib" index "$corpus" --json > "$work/$run.json"
            read -r seconds kib < "$work/time"
            pairs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pairs"])' "$work/$run.json")
            if [ "$pairs" != "$n" ]; then
                echo "$build $run: $pairs pairs indexed, expected $n" >&2
                exit 1
            fi
            mib=$(awk -v k="$kib" 'BEGIN {printf "%.0f MiB", k / 1024}')
            if [ "$run" = cold ]; then
                row="$row | $seconds | $(awk -v n="$n" -v s="$seconds" 'BEGIN {printf "%.0f", n / s}') | $mib"
            else
                row="$row | $seconds | $mib |"
            fi
        done
        echo "$row"
        rm -rf "$work"
    done
done
