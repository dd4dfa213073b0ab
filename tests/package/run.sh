#!/usr/bin/env bash
# The Debian package end to end (CI runs it; it needs root, and it installs and removes the
# package `pairlab`, so it refuses where that package is installed already):
# - builds it (scripts/package.sh; PAIRLAB_DEB=FILE checks one built already);
# - checks what it holds, and that every shared library its programs load comes from a
#   package it depends on (so that a clean machine's apt brings them all);
# - installs it here (dpkg -i, then apt-get -f install); starts the program of its desktop
#   entry under Xvfb as a new user does (an empty home: the first-run screen, the demo opened
#   from there, About; tests/e2e/installed.mjs, screenshots in target/e2e/package); runs the
#   installed `pairlab demo` in a temporary folder and `pairlab serve` with the web UI the
#   package ships; removes it and checks that nothing of it is left;
# - then the same on a clean Debian 12 (debootstrap's minbase in a folder: no Rust, no Node,
#   no -dev packages), where apt installs it from the Debian mirror with only what it
#   declares (screenshots in target/e2e/package-clean).
# Prints `test result: ok|FAILED. N passed; M failed`.
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
clean="$work/clean"
installed_by_us=0
# Unmounts what the clean root borrowed from this machine (never delete through a mount).
clean_unmount() {
    local m
    for m in tmp/.X11-unix dev/shm dev/pts sys proc; do
        if mountpoint -q "$clean/$m" 2>/dev/null; then umount "$clean/$m" 2>/dev/null || umount -l "$clean/$m"; fi
    done
}
cleanup() {
    if [ "$installed_by_us" -ne 0 ] && dpkg-query -W -f='${Status}' pairlab 2>/dev/null | grep -q "ok installed"; then
        apt-get remove --purge -y -qq pairlab >/dev/null 2>&1 || true
    fi
    clean_unmount
    if findmnt -rn -o TARGET | grep -q "^$work/"; then
        echo "left $work: something is still mounted inside it" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

# Screenshots of this run only.
rm -rf "$CARGO_TARGET_DIR/e2e/package" "$CARGO_TARGET_DIR/e2e/package-clean"

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
    if [ -n "${PAIRLAB_DEB:-}" ]; then
        # A package built already (re-running only the checks).
        deb=$(realpath "$PAIRLAB_DEB")
    else
        bash scripts/package.sh >"$work/package.log" 2>&1 || {
            tail -40 "$work/package.log"
            return 1
        }
        deb=$(tail -1 "$work/package.log")
    fi
    [ -f "$deb" ] || fail "scripts/package.sh printed no package: $deb"
}

contents() {
    local name ver
    name=$(dpkg-deb -f "$deb" Package)
    ver=$(dpkg-deb -f "$deb" Version)
    [ "$name" = pairlab ] || fail "package name $name" || return 1
    [ "$ver" = "$version" ] || fail "package version $ver, the workspace's is $version" || return 1
    dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./||; s|^|/|' >"$work/files"
    for f in /usr/bin/pairlab /usr/bin/pairlab-app /usr/share/applications/Pairlab.desktop /usr/share/pairlab/ui/index.html; do
        grep -qx "$f" "$work/files" || fail "the package holds no $f" || return 1
    done
    grep -q '^/usr/share/icons/hicolor/.*/apps/pairlab-app.png$' "$work/files" || fail "the package holds no icon" || return 1
    dpkg-deb -f "$deb" Depends | tee "$work/depends"
}

# Every shared library the two programs load resolves, and the Debian package it comes
# from is one the package depends on (or one of their dependencies, or essential): then a
# clean machine's apt installs everything they need.
# The package a library file comes from (dpkg knows a path as it was packaged: /lib/… or
# /usr/lib/… on a merged /usr, the link or the file it points to).
owner_of() {
    local p owner
    for p in "$1" "/usr$1" "$(realpath "$1")" "$(realpath "$1" | sed 's|^/usr||')"; do
        owner=$(dpkg -S "$p" 2>/dev/null | grep -v '^diversion' | head -1 | cut -d: -f1)
        if [ -n "$owner" ]; then
            echo "$owner"
            return
        fi
    done
}

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
            owner=$(owner_of "$lib")
            [ -n "$owner" ] || { echo "no package owns $lib"; bad=1; continue; }
            if [ "$(dpkg-query -W -f='${Essential}' "$owner" 2>/dev/null)" = yes ]; then continue; fi
            grep -qx "$owner" <<<"$closure" || { echo "$(basename "$bin") loads $lib from $owner, which the package does not depend on"; bad=1; }
        done
    done
    [ "$bad" -eq 0 ]
}

install_package() {
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
        xvfb-run -a -s "-screen 0 1440x900x24" node tests/e2e/installed.mjs) >"$work/window.log" 2>&1
    # Indented: its steps count as this one step (scripts/test.sh counts `test result:` lines).
    sed 's/^/    /' "$work/window.log"
    grep -q '^test result: ok\.' "$work/window.log"
}

# `pairlab serve` from the package serves the web UI it ships (and the API) on loopback.
# $1: the library; the rest: how to run the installed pairlab.
serves_the_ui() {
    local lib=$1 log="$work/serve.log" url="" pid i ok=0
    shift
    "$@" --library "$lib" serve --port 0 >"$log" 2>&1 &
    pid=$!
    for i in $(seq 1 100); do
        url=$(grep -o 'http://127\.0\.0\.1:[0-9]*/' "$log" | head -1)
        [ -n "$url" ] && break
        sleep 0.1
    done
    if [ -n "$url" ] && grep -q "UI from /usr/share/pairlab/ui" "$log" &&
        curl -fsS "$url" | grep -q '<title>Pairlab</title>' &&
        curl -fsS "${url}api/health" | grep -q "\"commit\":\"$commit\""; then
        ok=1
    fi
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    [ "$ok" -eq 1 ] || { cat "$log"; fail "pairlab serve from the package does not serve its web UI at ${url:-(no address)}"; }
}

cli() {
    local out
    out=$(/usr/bin/pairlab --version) || return 1
    [ "$out" = "pairlab $version (commit $commit)" ] || fail "pairlab --version says: $out" || return 1
    (cd "$work" && /usr/bin/pairlab --library "$work/lib" demo --n 12 >"$work/demo.log" 2>&1) || {
        tail -20 "$work/demo.log"
        return 1
    }
    /usr/bin/pairlab --library "$work/lib" stats --json | grep -q '"pairs": *[1-9]' || fail "the installed CLI's demo indexed nothing" || return 1
    serves_the_ui "$work/lib" /usr/bin/pairlab
}

remove_package() {
    apt-get remove --purge -y -qq pairlab >/dev/null || return 1
    installed_by_us=0
    ! dpkg-query -W -f='${Status}' pairlab 2>/dev/null | grep -q "ok installed" || fail "still installed" || return 1
    for f in /usr/bin/pairlab /usr/bin/pairlab-app /usr/share/applications/Pairlab.desktop; do
        [ ! -e "$f" ] || fail "$f is left after removing the package" || return 1
    done
}

# A clean Debian 12: debootstrap's minbase, made once and kept as a tarball (a pristine
# copy is unpacked for every run), with this machine's apt sources.
clean_install() {
    local base="$HOME/.cache/pairlab/debian-bookworm-minbase.tar"
    mkdir -p "$(dirname "$base")"
    if [ ! -f "$base" ]; then
        command -v debootstrap >/dev/null || { fail "debootstrap is missing (scripts/setup.sh installs it)"; return 1; }
        debootstrap --variant=minbase bookworm "$work/base" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || {
            tail -20 "$work/debootstrap.log"
            return 1
        }
        tar -C "$work/base" -cf "$base.part" . && mv "$base.part" "$base"
        rm -rf "$work/base"
    fi
    mkdir -p "$clean"
    tar -C "$clean" -xf "$base"
    rm -f "$clean/etc/apt/sources.list"
    cp /etc/apt/sources.list.d/*.sources "$clean/etc/apt/sources.list.d/"
    cp /etc/apt/apt.conf.d/99artifact-registry "$clean/etc/apt/apt.conf.d/" 2>/dev/null || true
    cp /etc/resolv.conf "$clean/etc/resolv.conf"
    mount -t proc proc "$clean/proc"
    mount -t sysfs sysfs "$clean/sys"
    mkdir -p "$clean/dev/pts" "$clean/dev/shm" "$clean/tmp/.X11-unix" /tmp/.X11-unix
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$clean/dev/pts"
    mount -t tmpfs tmpfs "$clean/dev/shm"
    mount --bind /tmp/.X11-unix "$clean/tmp/.X11-unix"
    cp "$deb" "$clean/tmp/pairlab.deb"
    {
        chroot "$clean" apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive chroot "$clean" apt-get install -y -qq --no-install-recommends /tmp/pairlab.deb
    } >"$work/clean-apt.log" 2>&1 || {
        tail -30 "$work/clean-apt.log"
        return 1
    }
    chroot "$clean" dpkg-query -W -f='${Status}' pairlab | grep -q "ok installed" || fail "not installed in the clean root"
}

clean_has_no_toolchain() {
    local t
    for t in cargo rustc node npm gcc cc; do
        if chroot "$clean" sh -c "command -v $t" >/dev/null; then
            fail "the clean root has $t"
            return 1
        fi
    done
    # The -dev packages the build needs are not there either: only what the package declares.
    ! chroot "$clean" dpkg-query -W -f='${Status}' libwebkit2gtk-4.1-dev 2>/dev/null | grep -q "ok installed"
}

clean_cli() {
    local out
    out=$(chroot "$clean" /usr/bin/pairlab --version) || return 1
    [ "$out" = "pairlab $version (commit $commit)" ] || fail "pairlab --version there says: $out" || return 1
    chroot "$clean" env HOME=/root sh -c 'cd /tmp && pairlab --library /root/cli-lib demo --n 12' >"$work/clean-demo.log" 2>&1 || {
        tail -20 "$work/clean-demo.log"
        return 1
    }
    chroot "$clean" env HOME=/root pairlab --library /root/cli-lib stats --json | grep -q '"pairs": *[1-9]' ||
        fail "the demo indexed nothing in the clean root" || return 1
    serves_the_ui /root/cli-lib chroot "$clean" env HOME=/root /usr/bin/pairlab
}

# The window, started from the clean root's desktop entry. Driving it needs a WebDriver
# there: WebKitWebDriver (Debian's webkit2gtk-driver) and tauri-driver, test tools only.
clean_window() {
    local exec
    exec=$(sed -n 's/^Exec=\([^ ]*\).*/\1/p' "$clean/usr/share/applications/Pairlab.desktop" | head -1)
    DEBIAN_FRONTEND=noninteractive chroot "$clean" apt-get install -y -qq --no-install-recommends webkit2gtk-driver \
        >>"$work/clean-apt.log" 2>&1 || { tail -20 "$work/clean-apt.log"; return 1; }
    install -m 0755 "$(command -v tauri-driver)" "$clean/usr/local/bin/tauri-driver"
    (cd "$root" && CHROOT="$clean" HOME=/root APP="/usr/bin/$exec" SHOTS=package-clean \
        EXPECT_VERSION="$version" EXPECT_COMMIT="$commit" \
        xvfb-run -a -s "-ac -screen 0 1440x900x24" node tests/e2e/installed.mjs) >"$work/clean-window.log" 2>&1
    sed 's/^/    /' "$work/clean-window.log"
    grep -q '^test result: ok\.' "$work/clean-window.log"
}

step build_the_package_from_this_checkout build
step it_holds_both_programs_the_web_ui_the_desktop_entry_and_the_icon_at_the_workspace_version contents
step every_library_its_programs_load_comes_from_a_declared_dependency libraries
step it_installs_with_dpkg_and_apt install_package
step its_desktop_entry_starts_the_installed_app desktop_entry
step the_installed_app_opens_on_first_run_and_works_through_the_demo window
step the_installed_cli_names_its_commit_runs_the_demo_and_serves_the_web_ui cli
step it_removes_cleanly remove_package
step a_clean_debian_installs_it_with_apt_from_what_it_declares clean_install
step the_clean_debian_has_no_rust_node_or_dev_packages clean_has_no_toolchain
step there_the_cli_names_its_commit_runs_the_demo_and_serves_the_web_ui clean_cli
step there_the_window_opens_on_first_run_and_works_through_the_demo clean_window

echo "test result: $([ "$failed" -eq 0 ] && echo ok || echo FAILED). $passed passed; $failed failed"
[ "$failed" -eq 0 ]
