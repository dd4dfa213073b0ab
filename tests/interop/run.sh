#!/usr/bin/env bash
# Round trips through the real consumers: Pairlab's exports read by Hugging Face `datasets`
# and pandas, in a throwaway venv made here (PyPI), against a demo library made by the
# debug `pairlab` binary that `cargo test --workspace` built. Prints one
# `test result: ok. N passed; M failed` line (scripts/test.sh adds it up).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${PAIRLAB_INTEROP_VENV:-$HOME/.cache/pairlab/interop-venv}"
want="datasets==5.2.0 pandas==3.1.1 pillow==13.0.0"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.pairlab-want" 2>/dev/null)" != "$want" ]; then
    echo "interop: making a venv at $venv with $want (PyPI)"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check $want
    echo "$want" > "$venv/.pairlab-want"
fi
bin="${CARGO_TARGET_DIR:-target}/debug/pairlab"
if [ ! -x "$bin" ]; then
    cargo build --workspace
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 HF_DATASETS_CACHE="$work/hf-cache" \
    "$venv/bin/python" tests/interop/roundtrip.py "$bin" "$work"
