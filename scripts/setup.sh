#!/usr/bin/env bash
# Installs the system packages Pairlab needs to build and test on Debian 12 (idempotent).
# Run as root, or with sudo available.
set -euo pipefail

packages=(
    # Tauri 2 (the desktop shell)
    libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libayatana-appindicator3-dev
    librsvg2-dev libxdo-dev
    # building bundled C code
    build-essential pkg-config
    # the web UI's tests in a real browser (Node 20 + npm come with the machine)
    chromium
    # the real window, headless: Xvfb, WebKitWebDriver (tauri-driver drives it)
    xvfb xauth webkit2gtk-driver
    # the Debian package's test: its desktop entry checked, a clean Debian to install it in
    desktop-file-utils debootstrap
    # the export round trips (a venv with Hugging Face datasets and pandas from PyPI)
    python3 python3-venv
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "error: installing these Debian packages needs root, and sudo is not here: run this script as root" >&2
            exit 1
        fi
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "error: the web UI needs Node.js 20 or newer with npm (https://nodejs.org)" >&2
    exit 1
fi

# tauri-driver: the WebDriver bridge for the Tauri window tests.
if ! command -v tauri-driver >/dev/null 2>&1; then
    echo "== installing tauri-driver"
    cargo install tauri-driver --locked --version 2.1.0 --quiet
fi

if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
echo "== system packages ready"
