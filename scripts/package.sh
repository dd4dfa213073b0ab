#!/usr/bin/env bash
# Builds Pairlab's Debian package from a checkout: the desktop app, built and bundled by
# Tauri's bundler (its icon, its desktop entry, its dependencies declared), with the
# `pairlab` command line in /usr/bin beside it, at the workspace's version and recording the
# commit it is built from (`pairlab --version`, the app's About). Installs what the build
# needs first (scripts/setup.sh: the system packages; the web UI's npm packages, which
# bring the Tauri CLI). Prints the package's path as its last line.
#
#     bash scripts/package.sh    # then: sudo apt install ./target/package/release/bundle/deb/*.deb
set -euo pipefail
cd "$(dirname "$0")/.."

# Its own target folder: the package's binaries are built without debug information and
# stripped (5–8 times smaller than a developer's release build, which keeps line tables).
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")/package"
export CARGO_TARGET_DIR="$target"
export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true

echo "== system packages (scripts/setup.sh)"
bash scripts/setup.sh
echo "== web UI: install and build (the app embeds ui/dist; the Tauri CLI is one of its packages)"
npm --prefix ui ci --no-audit --no-fund
npm --prefix ui run build

# The commit, for builds where git cannot tell (a source tarball: set PAIRLAB_COMMIT).
if [ -z "${PAIRLAB_COMMIT:-}" ] && commit=$(git rev-parse --short=12 HEAD 2>/dev/null); then
    if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        echo "note: the checkout has uncommitted changes; the package names commit $commit" >&2
    fi
fi

echo "== the command line and the desktop app (release; one build, so they share their crates)"
cargo build --release --locked -p pairlab -p pairlab-app --features pairlab-app/custom-protocol

# What Tauri's configuration leaves to the build: the CLI's path in this target folder, and
# the web UI for `pairlab serve` (which finds it beside itself, in /usr/share/pairlab/ui).
config="$target/tauri.package.json"
mkdir -p "$target"
cat > "$config" <<JSON
{"bundle": {"linux": {"deb": {"files": {
  "/usr/bin/pairlab": "$target/release/pairlab",
  "/usr/share/pairlab/ui": "$(pwd)/ui/dist"
}}}}}
JSON

echo "== the Debian package (Tauri's bundler)"
rm -rf "$target/release/bundle/deb"
(cd src-tauri && ../ui/node_modules/.bin/tauri bundle --ci --bundles deb --features custom-protocol --config "$config")

deb=$(ls "$target"/release/bundle/deb/*.deb)
echo "== built: $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version) ($(du -h "$deb" | cut -f1))"
echo "$deb"
