#!/bin/bash
# Fully static armhf build of booklore-syncd and booklore-syncctl with Debian 12's cross compiler,
# then the unit tests under qemu-arm-static.
#
# usage: packaging/armhf/build.sh [--build-dir DIR] [--jobs N] [--install-deps] [--no-tests]
#                                 [--integration] [--startup-bench N]
#   --install-deps   apt-get install crossbuild-essential-armhf qemu-user-static if missing
#   --no-tests       build, strip and report sizes only
#   --integration    also run tests/integration/*.py against the armhf binaries (through qemu)
#   --startup-bench N  time the daemon's start-up under qemu with N queued sessions
#   --native-bin-dir DIR  a native build's daemon/ folder, to fill the queue for the bench faster
#
# The armhf libraries (libssl-dev, libsqlite3-dev: their static archives and headers) are fetched
# with apt-get download using a private apt state (no dpkg --add-architecture, nothing changes in
# the system's apt configuration) and unpacked with dpkg-deb -x into packaging/armhf/sysroot/.
# Stripped programs land in BUILD/dist/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build_dir=$repo/build-armhf
jobs=2
install_deps=false
run_tests=true
run_integration=false
bench_sessions=0
native_bin_dir=""
while [ $# -gt 0 ]; do
    case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --install-deps) install_deps=true; shift ;;
    --no-tests) run_tests=false; shift ;;
    --integration) run_integration=true; shift ;;
    --startup-bench) bench_sessions=$2; shift 2 ;;
    --native-bin-dir) native_bin_dir=$2; shift 2 ;;
    *) sed -n '2,17p' "$0" >&2; exit 2 ;;
    esac
done
sysroot=${BOOKLORE_ARMHF_SYSROOT:-$here/sysroot}
t_start=$(date +%s)

phase() {
    echo "== $* ($(($(date +%s) - t_start)) s)"
}

# --- 1. tools
phase "checking the cross tools"
missing=""
command -v arm-linux-gnueabihf-g++ >/dev/null || missing="$missing crossbuild-essential-armhf"
command -v qemu-arm-static >/dev/null || missing="$missing qemu-user-static"
command -v ninja >/dev/null || missing="$missing ninja-build"
if [ -n "$missing" ]; then
    if $install_deps; then
        apt-get update -q || true
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
    else
        echo "missing:$missing (apt-get install$missing, or pass --install-deps)" >&2
        exit 1
    fi
fi

# --- 2. the private sysroot
armhf_packages="libssl-dev libsqlite3-dev"
if [ ! -f "$sysroot/.complete" ]; then
    phase "fetching armhf packages into $sysroot"
    apt_state=$(mktemp -d)
    trap 'rm -rf "$apt_state"' EXIT
    mkdir -p "$apt_state/lists/partial" "$apt_state/cache/archives/partial" "$apt_state/debs"
    : >"$apt_state/status"
    sources=/etc/apt/sources.list.d/debian.sources
    [ -f "$sources" ] || sources=/etc/apt/sources.list
    apt_opts=(
        -o APT::Architecture=armhf -o APT::Architectures::=armhf
        -o Dir::State::Lists="$apt_state/lists" -o Dir::State::status="$apt_state/status"
        -o Dir::Cache="$apt_state/cache" -o Dir::Etc::SourceParts=/nonexistent
        -o Dir::Etc::SourceList="$sources" -o APT::Sandbox::User=root
    )
    # An index that fails to download (the security armhf index is sometimes mid-sync) is
    # tolerated: the download below says whether what we need was found.
    apt-get -q "${apt_opts[@]}" update || echo "(some indexes failed; trying with what arrived)"
    (cd "$apt_state/debs" && apt-get -q "${apt_opts[@]}" download $armhf_packages)
    rm -rf "$sysroot"
    mkdir -p "$sysroot"
    for deb in "$apt_state"/debs/*.deb; do
        dpkg-deb -x "$deb" "$sysroot"
        basename "$deb" >>"$sysroot/.complete"
    done
    rm -rf "$apt_state"
    trap - EXIT
fi
echo "sysroot: $(tr '\n' ' ' <"$sysroot/.complete")"

# --- 3. configure and build
phase "configuring $build_dir"
cmake -S "$repo" -B "$build_dir" -G Ninja \
    -DCMAKE_TOOLCHAIN_FILE="$here/toolchain.cmake" \
    -DBOOKLORE_ARMHF_SYSROOT="$sysroot" \
    -DBOOKLORE_STATIC=ON \
    -DCMAKE_BUILD_TYPE=MinSizeRel \
    -DBOOKLORE_TESTS="$($run_tests && echo ON || echo OFF)" >/dev/null
phase "building (-j$jobs)"
cmake --build "$build_dir" -j "$jobs"

# --- 4. strip and report
phase "stripping"
dist=$build_dir/dist
mkdir -p "$dist"
for prog in booklore-syncd booklore-syncctl; do
    bin=$build_dir/daemon/$prog
    arm-linux-gnueabihf-strip -o "$dist/$prog" "$bin"
    if readelf -l "$dist/$prog" | grep -q INTERP; then
        echo "$prog is not static" >&2
        exit 1
    fi
    readelf -h "$dist/$prog" | grep -q 'Machine:.*ARM' || { echo "$prog is not ARM" >&2; exit 1; }
    printf 'figure: %s static armhf, stripped: %d bytes (%d KiB); unstripped %d bytes\n' \
        "$prog" "$(stat -c %s "$dist/$prog")" "$(($(stat -c %s "$dist/$prog") / 1024))" "$(stat -c %s "$bin")"
done
qemu-arm-static "$dist/booklore-syncd" --version

# Wrappers so that tools expecting runnable binaries (BOOKLORE_BIN_DIR) get them through qemu.
qemu_bin=$build_dir/qemu-bin
mkdir -p "$qemu_bin"
for prog in booklore-syncd booklore-syncctl; do
    printf '#!/bin/sh\nexec qemu-arm-static %s "$@"\n' "$dist/$prog" >"$qemu_bin/$prog"
    chmod 755 "$qemu_bin/$prog"
done

# --- 5. tests under qemu
if $run_tests; then
    phase "unit tests under qemu-arm-static"
    ctest --test-dir "$build_dir" -L unit --output-on-failure -j "$jobs"
fi
if $run_integration; then
    phase "integration tests against the armhf binaries (qemu)"
    BOOKLORE_BIN_DIR=$qemu_bin /usr/bin/python3 -m pytest -q -p no:cacheprovider "$repo/tests/integration"
fi
if [ "$bench_sessions" -gt 0 ]; then
    phase "start-up with $bench_sessions queued sessions under qemu"
    /usr/bin/python3 "$here/startup_bench.py" --bin-dir "$qemu_bin" \
        ${native_bin_dir:+--native-bin-dir "$native_bin_dir"} --sessions "$bench_sessions"
fi
phase "done"
