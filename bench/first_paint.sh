#!/usr/bin/env bash
# First grid paint on a generated library of 1M pairs (see bench/first_paint.mjs).
# Usage: bash bench/first_paint.sh [N_PAIRS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
runs=${2:-5}
npm --prefix ui run build >/dev/null
cargo build --release --bin pairlab
lib=${TMPDIR:-/tmp}/pairlab-bench-browse-$n
# Writes the library when missing (and prints the server-side query figures).
target/release/pairlab bench browse --n "$n" --queries 100 --dir "$lib"
node bench/first_paint.mjs "$lib" "$runs"
