#!/bin/sh
# Builds the KUAL extension archive: unpack it into the Kindle's USB drive root, so that
# extensions/booklore-sync/ lands in /mnt/us/extensions/. Layout:
#   extensions/booklore-sync/config.xml, menu.json, config.default.json, config.example.json,
#     ca-bundle.crt
#   extensions/booklore-sync/bin/booklore-sync.sh, booklore-service.sh
#   extensions/booklore-sync/bin/booklore-syncd, booklore-syncctl   (static armhf)
#   extensions/booklore-sync/upstart/booklore-syncd.conf
#   koreader/plugins/bookloresync.koplugin/   (with --plugin DIR: KOReader lives in /mnt/us/koreader)
# config.default.json names only the database and the socket: booklore-sync.sh makes it the
# config.json when there is none, and the server and accounts are set from KOReader.
#
# usage: build-kual.sh --bin-dir DIR [--output FILE.tar.gz|FILE.zip] [--plugin DIR] [--ca-bundle FILE|none]
#                      [--allow-non-arm]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=""
output="$PWD/booklore-sync-kual.tar.gz"
ca_bundle=/etc/ssl/certs/ca-certificates.crt
allow_non_arm=false
plugin=""
while [ $# -gt 0 ]; do
    case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --ca-bundle) ca_bundle=$2; shift 2 ;;
    --plugin) plugin=$2; shift 2 ;;
    --allow-non-arm) allow_non_arm=true; shift ;;
    *) echo "usage: $0 --bin-dir DIR [--output FILE] [--plugin DIR] [--ca-bundle FILE|none] [--allow-non-arm]" >&2; exit 2 ;;
    esac
done
[ -n "$bin_dir" ] || { echo "$0: --bin-dir is required" >&2; exit 2; }

case "$output" in /*) ;; *) output=$PWD/$output ;; esac

for prog in booklore-syncd booklore-syncctl; do
    [ -x "$bin_dir/$prog" ] || { echo "$0: $bin_dir/$prog is missing" >&2; exit 1; }
    if ! readelf -h "$bin_dir/$prog" | grep -q 'Machine:.*ARM'; then
        $allow_non_arm || { echo "$0: $bin_dir/$prog is not an ARM binary (build it with packaging/armhf/build.sh)" >&2; exit 1; }
    elif readelf -l "$bin_dir/$prog" | grep -q 'INTERP'; then
        echo "$0: $bin_dir/$prog is dynamically linked; the Kindle needs the static build" >&2
        exit 1
    fi
done

umask 022
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
ext=$stage/extensions/booklore-sync
mkdir -p "$ext/bin" "$ext/upstart"
install -m 644 "$here/extensions/booklore-sync/config.xml" "$here/extensions/booklore-sync/menu.json" "$ext/"
install -m 644 "$here/config.default.json" "$here/config.example.json" "$ext/"
install -m 755 "$here/extensions/booklore-sync/bin/booklore-sync.sh" "$ext/bin/"
install -m 644 "$here/../common/booklore-service.sh" "$ext/bin/"
install -m 755 "$bin_dir/booklore-syncd" "$bin_dir/booklore-syncctl" "$ext/bin/"
install -m 644 "$here/upstart/booklore-syncd.conf" "$ext/upstart/"
if [ "$ca_bundle" != none ]; then
    [ -r "$ca_bundle" ] || { echo "$0: no CA bundle at $ca_bundle (or --ca-bundle none)" >&2; exit 1; }
    install -m 644 "$ca_bundle" "$ext/ca-bundle.crt"
fi

tops=extensions
if [ -n "$plugin" ]; then
    [ -f "$plugin/main.lua" ] || { echo "$0: $plugin is not the plugin folder (no main.lua)" >&2; exit 1; }
    mkdir -p "$stage/koreader/plugins"
    cp -R "$plugin" "$stage/koreader/plugins/bookloresync.koplugin"
    find "$stage/koreader" -type d -exec chmod 755 {} + && find "$stage/koreader" -type f -exec chmod 644 {} +
    tops="$tops koreader"
fi

mkdir -p "$(dirname "$output")"
# shellcheck disable=SC2086 # $tops is a list of top-level folders
case "$output" in
*.zip) rm -f "$output"; (cd "$stage" && zip -qrX "$output" $tops) ;;
*) tar -czf "$output" --sort=name --owner=root --group=root --numeric-owner -C "$stage" $tops ;;
esac
echo "$output: $(wc -c <"$output") bytes"
