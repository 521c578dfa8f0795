#!/bin/sh
# The test command: installs the Debian packages, builds, and runs every test twice: in a
# normal build and in an AddressSanitizer + UndefinedBehaviorSanitizer build.
# Usage: tests/run-all.sh   (as root on Debian 12)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh tests/setup-debian.sh
sh tests/check-format.sh

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
(cd build && ctest -j2 --output-on-failure --timeout 900)

cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBOOKLORE_SANITIZE=ON
cmake --build build-sanitize -j"$jobs"
# Leaks are reported as errors; timing-bound checks skip themselves in this build.
(cd build-sanitize && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -j2 --output-on-failure --timeout 1800)
echo "all tests passed"
