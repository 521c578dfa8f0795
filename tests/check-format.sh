#!/bin/sh
# Fails when a C++ file differs from what .clang-format makes of it. Pinned to Debian 12's
# clang-format 14: another version formats some constructs differently.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files --cached --others --exclude-standard '*.cpp' '*.hpp')
# shellcheck disable=SC2086
clang-format-14 --dry-run -Werror $files
echo "format ok: $(echo "$files" | wc -l) files"
