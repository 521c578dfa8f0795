#!/bin/sh
# Builds KoboRoot.tgz: drop it into /mnt/onboard/.kobo/ and the Kobo unpacks it onto / at the next
# boot. Layout:
#   usr/local/booklore-sync/bin/booklore-syncd, booklore-syncctl   (static armhf)
#   usr/local/booklore-sync/booklore-syncd.init, booklore-service.sh
#   usr/local/booklore-sync/config.default.json, config.example.json, ca-bundle.crt
#   etc/udev/rules.d/97-booklore-syncd.rules
#   mnt/onboard/.adds/koreader/plugins/bookloresync.koplugin/   (with --plugin DIR)
# config.default.json names only the database and the socket: the init script makes it the
# config.json when there is none, and the server and accounts are set from KOReader.
#
# usage: build-koboroot.sh --bin-dir DIR [--output FILE] [--plugin DIR] [--ca-bundle FILE|none]
#                          [--allow-non-arm]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bin_dir=""
output="$PWD/KoboRoot.tgz"
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
[ -n "$bin_dir" ] || { echo "$0: --bin-dir is required (the folder with booklore-syncd and booklore-syncctl)" >&2; exit 2; }

case "$output" in /*) ;; *) output=$PWD/$output ;; esac

for prog in booklore-syncd booklore-syncctl; do
    [ -x "$bin_dir/$prog" ] || { echo "$0: $bin_dir/$prog is missing" >&2; exit 1; }
    if ! readelf -h "$bin_dir/$prog" | grep -q 'Machine:.*ARM'; then
        $allow_non_arm || { echo "$0: $bin_dir/$prog is not an ARM binary (build it with packaging/armhf/build.sh)" >&2; exit 1; }
    elif readelf -l "$bin_dir/$prog" | grep -q 'INTERP'; then
        echo "$0: $bin_dir/$prog is dynamically linked; the Kobo needs the static build" >&2
        exit 1
    fi
done

umask 022
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
home=$stage/usr/local/booklore-sync
mkdir -p "$home/bin" "$stage/etc/udev/rules.d"
install -m 755 "$bin_dir/booklore-syncd" "$bin_dir/booklore-syncctl" "$home/bin/"
install -m 755 "$here/booklore-syncd.init" "$home/booklore-syncd.init"
install -m 644 "$here/../common/booklore-service.sh" "$home/booklore-service.sh"
install -m 644 "$here/config.default.json" "$here/config.example.json" "$home/"
install -m 644 "$here/97-booklore-syncd.rules" "$stage/etc/udev/rules.d/97-booklore-syncd.rules"
if [ "$ca_bundle" != none ]; then
    [ -r "$ca_bundle" ] || { echo "$0: no CA bundle at $ca_bundle (apt-get install ca-certificates, or --ca-bundle none)" >&2; exit 1; }
    install -m 644 "$ca_bundle" "$home/ca-bundle.crt"
fi

tops="usr etc"
if [ -n "$plugin" ]; then
    # The Kobo unpacks the archive onto /, so this lands in KOReader's plugins folder on the
    # onboard partition (FAT keeps no modes; they are set for a tidy listing).
    [ -f "$plugin/main.lua" ] || { echo "$0: $plugin is not the plugin folder (no main.lua)" >&2; exit 1; }
    plugins=$stage/mnt/onboard/.adds/koreader/plugins
    mkdir -p "$plugins"
    cp -R "$plugin" "$plugins/bookloresync.koplugin"
    find "$plugins" -type d -exec chmod 755 {} + && find "$plugins" -type f -exec chmod 644 {} +
    tops="$tops mnt"
fi

mkdir -p "$(dirname "$output")"
# shellcheck disable=SC2086 # $tops is a list of top-level folders
tar -czf "$output" --sort=name --owner=root --group=root --numeric-owner -C "$stage" $tops
echo "$output: $(wc -c <"$output") bytes"
tar -tvzf "$output"
