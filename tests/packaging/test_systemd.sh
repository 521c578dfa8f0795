#!/bin/bash
# The systemd unit (systemd-analyze verify must be clean), its sysusers file, the notify protocol
# the unit relies on (READY=1, WATCHDOG=1, STOPPING=1 from the real daemon), the sleep hook, and
# every platform's config.example.json accepted by --check-config.
. "$(dirname "$0")/lib.sh"
setup

UNIT=$PACKAGING/systemd/booklore-syncd.service

# systemd-analyze comes with Debian's "systemd" package.
if ! command -v systemd-analyze >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd >/dev/null 2>&1
fi
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify checks that ExecStart's program exists: point the unit at the build under test.
    mkdir -p "$WORK/units"
    sed "s|/usr/bin/booklore-syncd|$DAEMON|g" "$UNIT" >"$WORK/units/booklore-syncd.service"
    check_rc "systemd-analyze verify exits 0" 0 systemd-analyze verify --man=no "$WORK/units/booklore-syncd.service"
    check "…and prints nothing (no warnings)" test -z "$OUT"
    [ -n "$OUT" ] && printf '     %s\n' "$OUT"
    exposure=$(systemd-analyze security --offline=true --no-pager "$WORK/units/booklore-syncd.service" 2>&1 |
        sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    echo "     figure: systemd-analyze security exposure level ${exposure:-?} (0 = locked down, 10 = exposed)"
    check "the sandbox exposure level is below 2.5" awk -v e="${exposure:-99}" 'BEGIN { exit !(e < 2.5) }'
else
    fail "systemd-analyze is available" "apt-get install systemd"
fi
for directive in Type=notify WatchdogSec= Restart=on-failure RuntimeDirectory=booklore-sync \
    StateDirectory=booklore-sync NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    User=booklore-sync 'ExecReload=/bin/kill -HUP $MAINPID'; do
    check "the unit sets $directive" grep -q "^$directive" "$UNIT"
done
check "the example config puts the socket in the RuntimeDirectory" \
    grep -q '"socket": "/run/booklore-sync/' "$PACKAGING/systemd/config.example.json"
check "the example config puts the database in the StateDirectory" \
    grep -q '"database": "/var/lib/booklore-sync/' "$PACKAGING/systemd/config.example.json"

if command -v systemd-sysusers >/dev/null 2>&1; then
    mkdir -p "$WORK/sysroot/etc"
    check_rc "systemd-sysusers accepts the sysusers file" 0 \
        systemd-sysusers --root="$WORK/sysroot" "$PACKAGING/systemd/booklore-sync.sysusers.conf"
    check "…and creates the booklore-sync user" grep -q '^booklore-sync:' "$WORK/sysroot/etc/passwd"
fi

echo "--- sd_notify protocol (what Type=notify and WatchdogSec need from the daemon)"
mkdir -p "$WORK/notify"
write_config "$WORK/notify/config.json" "$WORK/notify/syncd.sock" "$WORK/notify/queue.sqlite"
check_rc "READY=1, watchdog pings at WATCHDOG_USEC/2, STOPPING=1, exit 0 on SIGTERM" 0 \
    /usr/bin/python3 "$TESTS_DIR/notify_listen.py" "$WORK/notify" 1000000 2 -- \
    "$DAEMON" --config "$WORK/notify/config.json"
printf '     %s\n' "${OUT//$'\n'/$'\n'     }"

echo "--- system-sleep hook"
mkdir -p "$WORK/sleep"
write_config "$WORK/sleep/config.json" "$WORK/sleep/syncd.sock" "$WORK/sleep/queue.sqlite"
if start_daemon "$WORK/sleep/config.json" "$WORK/sleep/daemon.log"; then
    next_sync() {
        "$CTL" --socket "$WORK/sleep/syncd.sock" --json status |
            /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["next_sync_in_seconds"])'
    }
    export BOOKLORE_SOCKET=$WORK/sleep/syncd.sock BOOKLORE_SYNCCTL=$CTL
    check_rc "the hook runs for post/suspend" 0 sh "$PACKAGING/systemd/booklore-syncd-sleep.sh" post suspend
    check "after resume a sync is scheduled" test "$(next_sync)" != None
    check_rc "the hook runs for pre/suspend" 0 sh "$PACKAGING/systemd/booklore-syncd-sleep.sh" pre suspend
    check "suspend cancels it" test "$(next_sync)" = None
    unset BOOKLORE_SOCKET BOOKLORE_SYNCCTL
    stop_daemon
fi

echo "--- every config.example.json passes --check-config"
for example in "$PACKAGING"/*/config.example.json; do
    platform=$(basename "$(dirname "$example")")
    mkdir -p "$WORK/examples/$platform"
    target=$WORK/examples/$platform/config.json
    # Same keys and values, paths moved into the work folder.
    /usr/bin/python3 - "$example" "$target" "$WORK/examples/$platform" <<'EOF'
import json, os, sys
src, dst, base = sys.argv[1:4]
cfg = json.load(open(src))
for key in ("database", "socket", "log_file"):
    if key in cfg:
        cfg[key] = os.path.join(base, os.path.basename(cfg[key]))
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
os.write(fd, json.dumps(cfg).encode())
os.close(fd)
EOF
    check_rc "$platform/config.example.json is a valid configuration" 0 "$DAEMON" --config "$target" --check-config
done

finish
