#!/usr/bin/env bash
# Installs onnxruntime (CPU) + onnx + numpy into a throwaway virtualenv for the
# Pairlab-vs-onnxruntime CLIP image-embedding benchmark (bench/clip_onnx.py).
# Idempotent: a second run that finds the pinned versions importable does nothing.
#
#   bash bench/setup_onnx.sh
#   "${PAIRLAB_ORT_VENV:-$HOME/.cache/pairlab/ort-venv}/bin/python" bench/clip_onnx.py --help
#
# Environment:
#   PAIRLAB_ORT_VENV  venv location (default ~/.cache/pairlab/ort-venv)
#   PYTHON            interpreter used to create the venv (default python3)
set -euo pipefail

VENV="${PAIRLAB_ORT_VENV:-$HOME/.cache/pairlab/ort-venv}"
PYTHON="${PYTHON:-python3}"
# Tested on Debian 12 / Python 3.11 (x86_64 manylinux wheels).
NUMPY_VERSION=2.4.6
ONNX_VERSION=1.23.2
ORT_VERSION=1.32.0

export PIP_DISABLE_PIP_VERSION_CHECK=1
export PIP_NO_INPUT=1
export PIP_PROGRESS_BAR=off

PY="$VENV/bin/python"

check() {
    [ -x "$PY" ] || return 1
    "$PY" - "$NUMPY_VERSION" "$ONNX_VERSION" "$ORT_VERSION" <<'PYEOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
want = dict(zip(["numpy", "onnx", "onnxruntime"], sys.argv[1:]))
for pkg, v in want.items():
    assert version(pkg) == v, (pkg, version(pkg), v)
import numpy, onnx, onnxruntime  # noqa: F401,E401
assert "CPUExecutionProvider" in onnxruntime.get_available_providers()
PYEOF
}

if check; then
    echo "numpy $NUMPY_VERSION, onnx $ONNX_VERSION, onnxruntime $ORT_VERSION already installed in $VENV"
    exit 0
fi

if [ ! -x "$PY" ]; then
    echo "creating venv $VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi

"$PY" -m pip --quiet install --only-binary=:all: \
    "numpy==$NUMPY_VERSION" "onnx==$ONNX_VERSION" "onnxruntime==$ORT_VERSION"

if check; then
    echo "numpy $NUMPY_VERSION, onnx $ONNX_VERSION, onnxruntime $ORT_VERSION installed in $VENV"
else
    echo "onnxruntime install in $VENV does not work; details:" >&2
    "$PY" -c 'import numpy, onnx, onnxruntime; print(numpy.__version__, onnx.__version__, onnxruntime.__version__)' >&2
    exit 1
fi
