#!/usr/bin/env bash
# The report labeler on real radiology reports: 3,927 IU X-ray reports (FINDINGS and
# IMPRESSION) scored against gold labels derived from the radiologists' MeSH indexing by
# bench/labeler_real_gold.toml, on the development half (odd file numbers: rules are tuned
# looking at these) and the held-out half (even numbers: only ever scored). Prints per half
# the per-class precision / recall / F1 / support, strict (uncertain = negative) and
# lenient (uncertain = positive), the mean F1 over the five common classes and over the
# classes with support >= 20, and reports/s on one thread.
#
#   bash bench/labeler_real.sh                      # built-in rules
#   bash bench/labeler_real.sh --rules my.toml      # other rules
#   bash bench/labeler_real.sh --write /tmp/dev     # + dev_gold.csv / dev_pred.csv, then
#   pairlab labeler eval --gold /tmp/dev/dev_gold.csv --pred /tmp/dev/dev_pred.csv \
#       --count strict --explain Atelectasis
#
# The reports come from the PyPI wheel torchxrayvision==1.5.7 (checksum pinned), fetched
# once by scripts/fetch-fixtures.sh into ~/.cache/pairlab/fixtures/iu-reports. They are
# CC BY-NC-ND 4.0: never commit them or anything derived from them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-fixtures.sh
cargo build --release -q -p pairlab
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
exec target/release/pairlab bench labeler-real "$@"
