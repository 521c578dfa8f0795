#!/bin/sh
# booklore-syncd on a jailbroken Kindle (KUAL extension):
#   start | stop | restart | status | install-service | remove-service
#
# The extension folder (/mnt/us/extensions/booklore-sync) is on the FAT user store, which USB
# mass storage takes away; the daemon therefore runs from a copy in /var/local/booklore-sync
# (persistent, ext3) with its database there, and its socket, pid file and log in /var/tmp.
# With the upstart job installed (install-service), start/stop/status go through upstart.
# Every path can be overridden from the environment (the tests use a temporary root).

# Appended, not prepended: launchers like udev give a minimal PATH, and a caller's own comes first.
PATH=${PATH:+$PATH:}/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export PATH

BOOKLORE_EXT=${BOOKLORE_EXT:-$(cd "$(dirname "$0")/.." && pwd)}
BOOKLORE_HOME=${BOOKLORE_HOME:-/var/local/booklore-sync}
BOOKLORE_DAEMON=${BOOKLORE_DAEMON:-$BOOKLORE_HOME/bin/booklore-syncd}
BOOKLORE_CONFIG=${BOOKLORE_CONFIG:-$BOOKLORE_HOME/config.json}
BOOKLORE_PIDFILE=${BOOKLORE_PIDFILE:-/var/tmp/booklore-syncd.pid}
BOOKLORE_LOG=${BOOKLORE_LOG:-/var/tmp/booklore-syncd.log}
BOOKLORE_UPSTART_DIR=${BOOKLORE_UPSTART_DIR:-/etc/upstart}
BOOKLORE_MNTROOT=${BOOKLORE_MNTROOT:-mntroot}
JOB=booklore-syncd

if [ -z "${SSL_CERT_FILE:-}" ] && [ -r "$BOOKLORE_HOME/ca-bundle.crt" ]; then
    SSL_CERT_FILE=$BOOKLORE_HOME/ca-bundle.crt
    export SSL_CERT_FILE
fi

# shellcheck source=packaging/common/booklore-service.sh
. "${BOOKLORE_LIB:-$BOOKLORE_EXT/bin/booklore-service.sh}"

# Show a line at the bottom of the screen when run from KUAL, and print it too.
show() {
    printf '%s\n' "$*"
    if command -v eips >/dev/null 2>&1; then
        eips 0 38 "                                                  " >/dev/null 2>&1
        eips 0 38 "$*" >/dev/null 2>&1
    fi
}

# Copies the programs, the CA bundle and a config.json (mode 600) from the extension folder.
# KOReader's plugin runs "start" when KOReader starts and the daemon does not answer, so
# unpacking the archive and restarting KOReader is enough.
install_files() {
    mkdir -p "$BOOKLORE_HOME/bin" || return 1
    for f in booklore-syncd booklore-syncctl; do
        if [ -f "$BOOKLORE_EXT/bin/$f" ] && ! cmp -s "$BOOKLORE_EXT/bin/$f" "$BOOKLORE_HOME/bin/$f"; then
            cp -f "$BOOKLORE_EXT/bin/$f" "$BOOKLORE_HOME/bin/$f.new" &&
                chmod 755 "$BOOKLORE_HOME/bin/$f.new" &&
                mv -f "$BOOKLORE_HOME/bin/$f.new" "$BOOKLORE_HOME/bin/$f"
        fi
    done
    if [ -f "$BOOKLORE_EXT/ca-bundle.crt" ]; then
        cp -f "$BOOKLORE_EXT/ca-bundle.crt" "$BOOKLORE_HOME/ca-bundle.crt"
    fi
    if [ -f "$BOOKLORE_EXT/config.json" ]; then
        # The FAT store shows every file as world-readable; the daemon refuses that for a file
        # holding a password. Keep the only copy on /var/local with mode 600.
        if (umask 077 && cat "$BOOKLORE_EXT/config.json" >"$BOOKLORE_CONFIG.new") &&
            mv -f "$BOOKLORE_CONFIG.new" "$BOOKLORE_CONFIG"; then
            rm -f "$BOOKLORE_EXT/config.json"
            echo "imported into $BOOKLORE_CONFIG on $(date)" >"$BOOKLORE_EXT/config.json.imported"
        fi
    fi
    # Otherwise the packaged one, which names only the database and the socket; the server and
    # the accounts are set from KOReader and kept in the database.
    if [ ! -f "$BOOKLORE_CONFIG" ] && [ -f "$BOOKLORE_EXT/config.default.json" ]; then
        (umask 077 && cat "$BOOKLORE_EXT/config.default.json" >"$BOOKLORE_CONFIG")
    fi
}

upstart_installed() {
    [ -f "$BOOKLORE_UPSTART_DIR/$JOB.conf" ] && command -v initctl >/dev/null 2>&1
}

case "${1:-}" in
start | restart)
    install_files || { show "BookLore Sync: cannot write $BOOKLORE_HOME"; exit 1; }
    if upstart_installed; then
        [ "$1" = restart ] && stop "$JOB" >/dev/null 2>&1
        start "$JOB" >/dev/null 2>&1
        show "BookLore Sync: $(status "$JOB" 2>&1)"
    else
        out=$(bl_main "$@")
        rc=$?
        show "BookLore Sync: ${out#booklore-syncd: }"
        exit $rc
    fi
    ;;
stop)
    if upstart_installed; then
        stop "$JOB" >/dev/null 2>&1
        show "BookLore Sync: $(status "$JOB" 2>&1)"
    else
        out=$(bl_main stop)
        rc=$?
        show "BookLore Sync: ${out#booklore-syncd: }"
        exit $rc
    fi
    ;;
status)
    if upstart_installed; then
        show "BookLore Sync: $(status "$JOB" 2>&1)"
    else
        out=$(bl_main status)
        rc=$?
        counts=""
        if [ $rc -eq 0 ] && [ -x "$BOOKLORE_HOME/bin/booklore-syncctl" ]; then
            counts=$("$BOOKLORE_HOME/bin/booklore-syncctl" --config "$BOOKLORE_CONFIG" status 2>/dev/null |
                grep '^pending ' | tr -s ' ' | tr '\n' ',' | sed 's/,$//; s/,/, /g')
        fi
        show "BookLore Sync: ${out#booklore-syncd: }${counts:+, $counts}"
        exit $rc
    fi
    ;;
install-service)
    install_files || exit 1
    bl_main stop >/dev/null
    "$BOOKLORE_MNTROOT" rw || { show "BookLore Sync: cannot remount / read-write"; exit 1; }
    cp -f "$BOOKLORE_EXT/upstart/$JOB.conf" "$BOOKLORE_UPSTART_DIR/$JOB.conf"
    rc=$?
    "$BOOKLORE_MNTROOT" ro
    if [ $rc -ne 0 ]; then
        show "BookLore Sync: could not install the boot service"
        exit 1
    fi
    if command -v initctl >/dev/null 2>&1; then
        initctl reload-configuration >/dev/null 2>&1
        start "$JOB" >/dev/null 2>&1
    fi
    show "BookLore Sync: boot service installed"
    ;;
remove-service)
    if command -v initctl >/dev/null 2>&1; then
        stop "$JOB" >/dev/null 2>&1
    fi
    "$BOOKLORE_MNTROOT" rw || { show "BookLore Sync: cannot remount / read-write"; exit 1; }
    rm -f "$BOOKLORE_UPSTART_DIR/$JOB.conf"
    "$BOOKLORE_MNTROOT" ro
    show "BookLore Sync: boot service removed"
    ;;
*)
    echo "usage: $0 {start|stop|restart|status|install-service|remove-service}" >&2
    exit 2
    ;;
esac
