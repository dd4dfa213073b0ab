#!/usr/bin/env bash
# The Debian package end to end, on this machine (CI runs it; it needs root and installs
# and removes the package `pairlab`, so it refuses where that package is already
# installed): builds it (scripts/package.sh); checks what it holds and that every shared
# library its programs load comes from a package it depends on (so that a clean machine's
# `apt` brings them); installs it (dpkg -i, then apt-get -f install); starts the program of
# its desktop entry under Xvfb as a new user does (an empty home: the first-run screen, the
# demo opened from there, About; tests/e2e/installed.mjs, screenshots in target/e2e/package);
# runs the installed `pairlab demo` in a temporary folder; removes the package and checks
# that nothing of it is left. Prints `test result: ok|FAILED. N passed; M failed`.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
export CARGO_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-target}")"

passed=0
failed=0
broken=0
step() {
    local name=$1
    shift
    if [ "$broken" -ne 0 ]; then
        echo "test package::$name ... skipped"
        return
    fi
    local t=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        echo "test package::$name ... ok ($((SECONDS - t)) s)"
    else
        failed=$((failed + 1))
        broken=1
        echo "test package::$name ... FAILED"
    fi
}
fail() {
    echo "assertion failed: $*" >&2
    return 1
}

work=$(mktemp -d)
installed_by_us=0
cleanup() {
    if [ "$installed_by_us" -ne 0 ] && dpkg-query -W -f='${Status}' pairlab 2>/dev/null | grep -q "ok installed"; then
        apt-get remove --purge -y -qq pairlab >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
commit=$(git rev-parse --short=12 HEAD)
deb=""

build() {
    if [ "$(id -u)" -ne 0 ]; then
        fail "installing a package needs root"
        return 1
    fi
    if dpkg-query -W -f='${Status}' pairlab 2>/dev/null | grep -q "ok installed"; then
        fail "a package 'pairlab' is already installed here; this test installs and removes its own, so it will not run (apt-get remove pairlab first)"
        return 1
    fi
    bash scripts/package.sh >"$work/package.log" 2>&1 || {
        tail -40 "$work/package.log"
        return 1
    }
    deb=$(tail -1 "$work/package.log")
    [ -f "$deb" ] || fail "scripts/package.sh printed no package: $deb"
}

contents() {
    local name ver
    name=$(dpkg-deb -f "$deb" Package)
    ver=$(dpkg-deb -f "$deb" Version)
    [ "$name" = pairlab ] || fail "package name $name" || return 1
    [ "$ver" = "$version" ] || fail "package version $ver, the workspace's is $version" || return 1
    dpkg-deb -c "$deb" | awk '{print $6}' >"$work/files"
    for f in ./usr/bin/pairlab ./usr/bin/pairlab-app ./usr/share/applications/Pairlab.desktop; do
        grep -qx "$f" "$work/files" || fail "the package holds no $f" || return 1
    done
    grep -q '^./usr/share/icons/hicolor/.*/apps/pairlab-app.png$' "$work/files" || fail "the package holds no icon" || return 1
    dpkg-deb -f "$deb" Depends | tee "$work/depends"
}

# Every shared library the two programs load resolves, and the Debian package it comes
# from is one the package depends on (or one of their dependencies, or essential): then a
# clean machine's apt installs everything they need.
libraries() {
    local x="$work/x" deps closure lib owner bad=0
    dpkg-deb -x "$deb" "$x"
    deps=$(tr ',' '\n' <"$work/depends" | sed 's/([^)]*)//; s/|.*//; s/ //g' | grep -v '^$')
    # shellcheck disable=SC2086
    closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances $deps 2>/dev/null | grep -v '^ ' | sed 's/:.*//' | sort -u)
    for bin in "$x/usr/bin/pairlab" "$x/usr/bin/pairlab-app"; do
        if ldd "$bin" | grep -q "not found"; then
            ldd "$bin" | grep "not found"
            fail "$bin loads libraries that are not here"
            return 1
        fi
        for lib in $(ldd "$bin" | awk '/=> \//{print $3}'); do
            owner=$(dpkg -S "$(realpath "$lib")" 2>/dev/null | head -1 | cut -d: -f1) ||
                owner=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1)
            [ -n "$owner" ] || { echo "no package owns $lib"; bad=1; continue; }
            if [ "$(dpkg-query -W -f='${Essential}' "$owner" 2>/dev/null)" = yes ]; then continue; fi
            grep -qx "$owner" <<<"$closure" || { echo "$(basename "$bin") loads $lib from $owner, which the package does not depend on"; bad=1; }
        done
    done
    [ "$bad" -eq 0 ]
}

install() {
    installed_by_us=1
    DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >"$work/dpkg.log" 2>&1 ||
        DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq >>"$work/dpkg.log" 2>&1 || {
        cat "$work/dpkg.log"
        return 1
    }
    dpkg-query -W -f='${Status}' pairlab | grep -q "ok installed" || fail "pairlab is not installed after dpkg -i"
}

# The desktop entry: valid, and its program is the installed app.
desktop_entry() {
    local entry=/usr/share/applications/Pairlab.desktop exec
    [ -f "$entry" ] || fail "no $entry" || return 1
    if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$entry" || return 1; fi
    exec=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$entry" | head -1)
    app=$(command -v "$exec") || fail "the desktop entry runs $exec, which is not on the PATH" || return 1
    dpkg -S "$app" | grep -q '^pairlab:' || fail "$app is not the package's" || return 1
    grep -q '^Icon=' "$entry" || fail "the desktop entry names no icon"
}

window() {
    mkdir -p "$work/home"
    (cd "$root" && HOME="$work/home" APP="$app" EXPECT_VERSION="$version" EXPECT_COMMIT="$commit" \
        xvfb-run -a -s "-screen 0 1440x900x24" node tests/e2e/installed.mjs) | tee "$work/window.log"
    grep -q '^test result: ok\.' "$work/window.log"
}

cli() {
    local out
    out=$(/usr/bin/pairlab --version) || return 1
    [ "$out" = "pairlab $version (commit $commit)" ] || fail "pairlab --version says: $out" || return 1
    (cd "$work" && /usr/bin/pairlab --library "$work/lib" demo --n 12 >"$work/demo.log" 2>&1) || {
        tail -20 "$work/demo.log"
        return 1
    }
    /usr/bin/pairlab --library "$work/lib" stats --json | grep -q '"pairs": *[1-9]' || fail "the installed CLI's demo indexed nothing"
}

remove() {
    apt-get remove --purge -y -qq pairlab >/dev/null || return 1
    installed_by_us=0
    ! dpkg-query -W -f='${Status}' pairlab 2>/dev/null | grep -q "ok installed" || fail "still installed" || return 1
    for f in /usr/bin/pairlab /usr/bin/pairlab-app /usr/share/applications/Pairlab.desktop; do
        [ ! -e "$f" ] || fail "$f is left after removing the package" || return 1
    done
}

step build_the_package_from_this_checkout build
step it_holds_both_programs_the_desktop_entry_and_the_icon_at_the_workspace_version contents
step every_library_its_programs_load_comes_from_a_declared_dependency libraries
step it_installs_with_dpkg_and_apt install
step its_desktop_entry_starts_the_installed_app desktop_entry
step the_installed_app_opens_on_first_run_and_works_through_the_demo window
step the_installed_cli_names_its_commit_and_runs_the_demo cli
step it_removes_cleanly remove

echo "test result: $([ "$failed" -eq 0 ] && echo ok || echo FAILED). $passed passed; $failed failed"
[ "$failed" -eq 0 ]
