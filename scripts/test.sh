#!/usr/bin/env bash
# The whole test suite, in order: the web UI (install, type check, unit tests, build),
# `cargo test --workspace` (unit, integration and the API contract over core, HTTP and
# Tauri), the exports read back by Hugging Face `datasets` and pandas (tests/interop, in a
# venv it makes from PyPI), then end to end: chromium against `pairlab serve`, and the real Tauri window
# under Xvfb (and, with PAIRLAB_PACKAGE_TEST=1 as in CI, the Debian package installed and
# used: tests/package/run.sh). Prints one `tests: N passed, M failed` line; exits non-zero
# on any failure.
# First it installs what is missing, saying what it does: the system packages
# (scripts/setup.sh, as root or with sudo), the model fixtures (scripts/fetch-fixtures.sh)
# and the UI's packages; a step that cannot run is reported, and the tests that need it fail.
set -uo pipefail
cd "$(dirname "$0")/.."

export NO_COLOR=1 FORCE_COLOR=0
log=$(mktemp)
status=0
stage() {
    echo "== $1"
    shift
    "$@" 2>&1 | tee -a "$log"
    local rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ]; then
        echo "== FAILED ($rc): $*" | tee -a "$log"
        status=1
    fi
    return 0
}

# The system packages and the model fixtures: both scripts only install what is missing
# and are quick when everything is there.
stage "set-up: system packages (scripts/setup.sh)" bash scripts/setup.sh
stage "set-up: model fixtures (scripts/fetch-fixtures.sh)" bash scripts/fetch-fixtures.sh

# The UI's packages, when the lock file is newer than the install.
if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
    stage "npm ci" npm --prefix ui ci --no-audit --no-fund
fi
stage "ui: type check" npm --prefix ui run check
stage "ui: unit tests (vitest)" npm --prefix ui test
stage "ui: build" npm --prefix ui run build
stage "cargo test --workspace" cargo test --workspace
stage "interop: datasets and pandas read the exports" bash tests/interop/run.sh
stage "e2e: chromium against pairlab serve" node tests/e2e/browser.mjs
stage "e2e: the Tauri window under Xvfb" \
    xvfb-run -a -s "-screen 0 1440x900x24" node tests/e2e/window.mjs
# The Debian package: built, installed, started, used and removed on this machine. It
# installs and removes the system package `pairlab`, so only where asked (CI does).
if [ "${PAIRLAB_PACKAGE_TEST:-0}" = 1 ]; then
    stage "package: build, install, start, demo, remove (tests/package/run.sh)" bash tests/package/run.sh
else
    echo "== package: skipped (it installs and removes the Debian package 'pairlab' here; PAIRLAB_PACKAGE_TEST=1 runs it, as CI does)"
fi

# cargo and the e2e scripts print `test result: ... N passed; M failed`; vitest prints
# `Tests  N passed (N)` (or `Tests  M failed | N passed (T)`).
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '^test result: .* [0-9]+ failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s += $1} END {print s + 0}')
vitest=$(grep -E '^ +Tests +' "$log" | tail -1)
vp=$(echo "$vitest" | grep -Eo '[0-9]+ passed' | awk '{print $1 + 0}')
vf=$(echo "$vitest" | grep -Eo '[0-9]+ failed' | awk '{print $1 + 0}')
rm -f "$log"
echo "tests: $((passed + ${vp:-0})) passed, $((failed + ${vf:-0})) failed"
exit "$status"
