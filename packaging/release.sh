#!/bin/sh
# Builds the three release files into dist/, one per kind of reader:
#   dist/bookloresync.koplugin.zip   the KOReader plugin (any KOReader; unzip into plugins/)
#   dist/KoboRoot.tgz                daemon, init script, udev rule and the plugin (Kobo)
#   dist/booklore-sync-kual.zip      KUAL extension and the plugin (jailbroken Kindle)
#   dist/SHA256SUMS
# The reader's programs are the static armhf build: build-armhf/dist/ from packaging/armhf/build.sh
# (run here if that folder is empty), or the folder given with --bin-dir.
#
# usage: packaging/release.sh [--bin-dir DIR] [--output-dir DIR] [--allow-non-arm]
#   --allow-non-arm  accept host binaries (the tests check the layout with them)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
bin_dir=""
out=$repo/dist
arm_flag=""
while [ $# -gt 0 ]; do
    case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --output-dir) out=$2; shift 2 ;;
    --allow-non-arm) arm_flag=--allow-non-arm; shift ;;
    *) sed -n '2,12p' "$0" >&2; exit 2 ;;
    esac
done

if [ -z "$bin_dir" ]; then
    bin_dir=$repo/build-armhf/dist
    if [ ! -x "$bin_dir/booklore-syncd" ] || [ ! -x "$bin_dir/booklore-syncctl" ]; then
        echo "== no armhf programs in $bin_dir: building them (packaging/armhf/build.sh --no-tests)"
        "$here/armhf/build.sh" --no-tests
    fi
fi

case "$out" in /*) ;; *) out=$PWD/$out ;; esac
mkdir -p "$out"
plugin=$here/koreader/bookloresync.koplugin

rm -f "$out/bookloresync.koplugin.zip"
(cd "$here/koreader" && zip -qrX "$out/bookloresync.koplugin.zip" bookloresync.koplugin)
echo "$out/bookloresync.koplugin.zip: $(wc -c <"$out/bookloresync.koplugin.zip") bytes"
"$here/kobo/build-koboroot.sh" --bin-dir "$bin_dir" --plugin "$plugin" --output "$out/KoboRoot.tgz" $arm_flag >/dev/null
echo "$out/KoboRoot.tgz: $(wc -c <"$out/KoboRoot.tgz") bytes"
"$here/kindle/build-kual.sh" --bin-dir "$bin_dir" --plugin "$plugin" --output "$out/booklore-sync-kual.zip" $arm_flag
(cd "$out" && sha256sum bookloresync.koplugin.zip KoboRoot.tgz booklore-sync-kual.zip >SHA256SUMS)
