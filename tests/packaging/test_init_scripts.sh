#!/bin/bash
# The Kobo, Kindle and generic SysV scripts against the real daemon, each in a temporary root:
# build the package, unpack it, then start / status / reload / restart / stop, and the refusals.
# Run under BusyBox sh with BusyBox applets when busybox is installed (as on the readers), else
# under /bin/sh.
. "$(dirname "$0")/lib.sh"
setup

# A shell and a PATH like the readers': BusyBox applets first.
if command -v busybox >/dev/null 2>&1; then
    mkdir -p "$WORK/busybox"
    for applet in sh cat cmp cp date dirname basename head tail kill mkdir mv rm sed sleep tr wc \
        usleep setsid grep; do
        ln -s "$(command -v busybox)" "$WORK/busybox/$applet"
    done
    SH=("$WORK/busybox/sh")
    SH_PATH=$WORK/busybox:$PATH
    echo "(scripts run under BusyBox $(busybox | head -n 1 | cut -d' ' -f2))"
else
    SH=(/bin/sh)
    SH_PATH=$PATH
    echo "(busybox not installed: scripts run under /bin/sh)"
fi

# run SCRIPT ARGS...: the script under the reader-like shell, with the test's BOOKLORE_* variables.
run() {
    env PATH="$SH_PATH" "${SH[@]}" "$@"
}

pid_of() { head -n 1 "$1" 2>/dev/null; }

is_running() { [ -n "$1" ] && [ -d "/proc/$1" ] && ! exited "$1"; }

# No file of process $1 (fd, cwd, executable) may be under directory $2.
holds_nothing_under() {
    local pid=$1 dir
    dir=$(cd "$2" && pwd -P)
    local f target
    for f in /proc/"$pid"/fd/* /proc/"$pid"/cwd /proc/"$pid"/exe; do
        target=$(readlink "$f" 2>/dev/null) || continue
        case "$target" in "$dir" | "$dir"/*) echo "  $f -> $target"; return 1 ;; esac
    done
    return 0
}

mode_of() { stat -c %a "$1"; }

# --------------------------------------------------------------------------------------------
echo "--- Kobo: KoboRoot.tgz"
K=$WORK/kobo
mkdir -p "$K/root" "$K/tmp"
check_rc "build-koboroot.sh builds the archive" 0 \
    "$PACKAGING/kobo/build-koboroot.sh" --bin-dir "$BIN_DIR" --output "$K/KoboRoot.tgz" --allow-non-arm
check_rc "build-koboroot.sh refuses host binaries without --allow-non-arm" 1 \
    "$PACKAGING/kobo/build-koboroot.sh" --bin-dir "$BIN_DIR" --output "$K/refused.tgz"
listing=$(tar -tvzf "$K/KoboRoot.tgz")
for entry in usr/local/booklore-sync/bin/booklore-syncd usr/local/booklore-sync/bin/booklore-syncctl \
    usr/local/booklore-sync/booklore-syncd.init usr/local/booklore-sync/booklore-service.sh \
    usr/local/booklore-sync/config.example.json usr/local/booklore-sync/ca-bundle.crt \
    etc/udev/rules.d/97-booklore-syncd.rules; do
    check "KoboRoot.tgz has $entry" grep -q " $entry\$" <<<"$listing"
done
check "KoboRoot.tgz is owned by root (0/0)" bash -c '! grep -v " 0/0 " <<<"$1" | grep -q .' _ "$listing"
check "KoboRoot.tgz puts nothing on /mnt/onboard" bash -c '! grep -q "mnt/onboard" <<<"$1"' _ "$listing"
tar -xzf "$K/KoboRoot.tgz" -C "$K/root"
check "the init script is executable" test -x "$K/root/usr/local/booklore-sync/booklore-syncd.init"
check "the udev rule runs the init script" grep -q 'RUN+="/usr/local/booklore-sync/booklore-syncd.init start"' \
    "$K/root/etc/udev/rules.d/97-booklore-syncd.rules"

echo "--- Kobo: init script"
export BOOKLORE_HOME=$K/root/usr/local/booklore-sync
export BOOKLORE_PIDFILE=$K/tmp/booklore-syncd.pid
export BOOKLORE_LOG=$K/tmp/booklore-syncd.log
export BOOKLORE_ONBOARD=$K/onboard
export BOOKLORE_ONBOARD_CONFIG=$K/onboard/.adds/booklore-sync/config.json
KOBO_INIT=$BOOKLORE_HOME/booklore-syncd.init
# The user drops a config on the FAT partition; the example's paths, moved into the temp root.
mkdir -p "$(dirname "$BOOKLORE_ONBOARD_CONFIG")"
sed -e "s|/usr/local/booklore-sync|$BOOKLORE_HOME|" -e "s|/tmp/booklore-syncd.sock|$K/tmp/booklore-syncd.sock|" \
    -e 's|https://booklore.example.org|http://127.0.0.1:9|' \
    "$BOOKLORE_HOME/config.example.json" >"$BOOKLORE_ONBOARD_CONFIG"
chmod 644 "$BOOKLORE_ONBOARD_CONFIG"

check_rc "status before start: not running (3)" 3 run "$KOBO_INIT" status
check_rc "start" 0 run "$KOBO_INIT" start
check "the config was moved off the FAT partition" test ! -e "$BOOKLORE_ONBOARD_CONFIG"
check "a note says where it went" test -f "$BOOKLORE_ONBOARD_CONFIG.imported"
check "the imported config is mode 600" test "$(mode_of "$BOOKLORE_HOME/config.json")" = 600
pid=$(pid_of "$BOOKLORE_PIDFILE")
check "the pid file names the running daemon" is_running "$pid"
check "the socket exists" test -S "$K/tmp/booklore-syncd.sock"
check "the daemon's working directory is /" test "$(readlink "/proc/$pid/cwd")" = /
check "the daemon holds nothing on the onboard partition" holds_nothing_under "$pid" "$K/onboard"
check "the daemon runs in its own session" test "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid"
check "the daemon answers over the socket" "$CTL" --socket "$K/tmp/booklore-syncd.sock" status
check "the log collects the daemon's stderr" test -s "$BOOKLORE_LOG"
check_rc "start again: already running" 0 run "$KOBO_INIT" start
check "…with the same pid" test "$(pid_of "$BOOKLORE_PIDFILE")" = "$pid"
check_rc "status: running (0)" 0 run "$KOBO_INIT" status
check "status names the pid" grep -q "running (pid $pid)" <<<"$OUT"
check_rc "reload (SIGHUP)" 0 run "$KOBO_INIT" reload
sleep 0.2
check "still running after reload" is_running "$pid"
check_rc "restart" 0 run "$KOBO_INIT" restart
new_pid=$(pid_of "$BOOKLORE_PIDFILE")
check "restart gives a new process" bash -c "[ '$new_pid' != '$pid' ] && [ -d /proc/$new_pid ]"
check "the old process is gone" exited "$pid"
check_rc "stop" 0 run "$KOBO_INIT" stop
check "the daemon is gone" wait_until 5 exited "$new_pid"
check "the pid file is removed" test ! -e "$BOOKLORE_PIDFILE"
check_rc "status after stop: not running (3)" 3 run "$KOBO_INIT" status
check_rc "stop again: nothing to do" 0 run "$KOBO_INIT" stop

echo 99999999 >"$BOOKLORE_PIDFILE"
check_rc "a stale pid file: dead but pid file exists (1)" 1 run "$KOBO_INIT" status
echo $$ >"$BOOKLORE_PIDFILE"
check_rc "a pid file naming another program is not taken for the daemon" 1 run "$KOBO_INIT" status
check_rc "start over a stale pid file" 0 run "$KOBO_INIT" start
check_rc "stop" 0 run "$KOBO_INIT" stop
check "the test shell was not signalled" kill -0 $$

cp "$BOOKLORE_HOME/config.json" "$K/good.json"
sed -i "s|\"database\": \"[^\"]*\"|\"database\": \"$K/onboard/.adds/booklore-sync/queue.sqlite\"|" "$BOOKLORE_HOME/config.json"
check_rc "a database on the onboard partition is refused (6)" 6 run "$KOBO_INIT" start
check "…and says why" grep -q "USB mass storage" <<<"$OUT"
check "…and starts nothing" test ! -e "$BOOKLORE_PIDFILE"
cp "$K/good.json" "$BOOKLORE_HOME/config.json"
echo '{"server_url": 5}' >"$BOOKLORE_HOME/config.json"
check_rc "an invalid config is refused before backgrounding (6)" 6 run "$KOBO_INIT" start
check "…with the daemon's message" grep -q "server_url" <<<"$OUT"
cp "$K/good.json" "$BOOKLORE_HOME/config.json"
# A database whose folder is a file: the configuration is fine, opening the database is not.
sed -i "s|\"database\": \"[^\"]*\"|\"database\": \"$K/good.json/queue.sqlite\"|" "$BOOKLORE_HOME/config.json"
check_rc "a daemon that exits at start-up is reported (1)" 1 run "$KOBO_INIT" start
check "…with the end of its log" grep -q "database" <<<"$OUT"
check "…and leaves no pid file" test ! -e "$BOOKLORE_PIDFILE"
run "$KOBO_INIT" stop >/dev/null
cp "$K/good.json" "$BOOKLORE_HOME/config.json"
mv "$BOOKLORE_HOME/bin/booklore-syncd" "$BOOKLORE_HOME/bin/moved"
check_rc "a missing program is reported (5)" 5 run "$KOBO_INIT" start
mv "$BOOKLORE_HOME/bin/moved" "$BOOKLORE_HOME/bin/booklore-syncd"
unset BOOKLORE_HOME BOOKLORE_PIDFILE BOOKLORE_LOG BOOKLORE_ONBOARD BOOKLORE_ONBOARD_CONFIG

# --------------------------------------------------------------------------------------------
echo "--- Kindle: KUAL extension"
D=$WORK/kindle
mkdir -p "$D/us" "$D/var-tmp" "$D/etc-upstart"
check_rc "build-kual.sh builds the archive" 0 \
    "$PACKAGING/kindle/build-kual.sh" --bin-dir "$BIN_DIR" --output "$D/kual.tar.gz" --allow-non-arm
tar -xzf "$D/kual.tar.gz" -C "$D/us"
EXT=$D/us/extensions/booklore-sync
for f in config.xml menu.json config.example.json ca-bundle.crt bin/booklore-sync.sh bin/booklore-service.sh \
    bin/booklore-syncd bin/booklore-syncctl upstart/booklore-syncd.conf; do
    check "the extension has $f" test -f "$EXT/$f"
done
check "menu.json is valid JSON with start, stop and status" /usr/bin/python3 -c '
import json, sys
items = json.load(open(sys.argv[1]))["items"][0]["items"]
params = {i["params"] for i in items}
assert {"start", "stop", "status"} <= params, params
for i in items:
    assert i["action"] == "./bin/booklore-sync.sh"
' "$EXT/menu.json"
check "config.xml names menu.json" grep -q '<menu type="json" dynamic="true">menu.json</menu>' "$EXT/config.xml"

export BOOKLORE_HOME=$D/var-local/booklore-sync
export BOOKLORE_PIDFILE=$D/var-tmp/booklore-syncd.pid
export BOOKLORE_LOG=$D/var-tmp/booklore-syncd.log
export BOOKLORE_UPSTART_DIR=$D/etc-upstart
export BOOKLORE_MNTROOT=true
KINDLE=$EXT/bin/booklore-sync.sh
sed -e "s|/var/local/booklore-sync|$BOOKLORE_HOME|" -e "s|/var/tmp/booklore-syncd.sock|$D/var-tmp/booklore-syncd.sock|" \
    -e 's|https://booklore.example.org|http://127.0.0.1:9|' "$EXT/config.example.json" >"$EXT/config.json"

check_rc "status before start: not running (3)" 3 run "$KINDLE" status
check_rc "start" 0 run "$KINDLE" start
check "the programs were copied off the FAT store" test -x "$BOOKLORE_HOME/bin/booklore-syncd"
check "the config was moved off the FAT store, mode 600" test "$(mode_of "$BOOKLORE_HOME/config.json")" = 600 -a ! -e "$EXT/config.json"
pid=$(pid_of "$BOOKLORE_PIDFILE")
check "the daemon runs from the copy" test "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$BOOKLORE_HOME/bin/booklore-syncd")"
check "the daemon holds nothing on the FAT store" holds_nothing_under "$pid" "$D/us"
check_rc "status: running (0)" 0 run "$KINDLE" status
check "status shows the queue" grep -qi "pending\|sessions" <<<"$OUT"
check_rc "restart" 0 run "$KINDLE" restart
check "restart gives a new process" test "$(pid_of "$BOOKLORE_PIDFILE")" != "$pid"
check_rc "stop" 0 run "$KINDLE" stop
check_rc "status after stop: not running (3)" 3 run "$KINDLE" status
check_rc "install-service copies the upstart job" 0 run "$KINDLE" install-service
check "the upstart job is in place" cmp -s "$EXT/upstart/booklore-syncd.conf" "$BOOKLORE_UPSTART_DIR/booklore-syncd.conf"
check_rc "remove-service removes it" 0 run "$KINDLE" remove-service
check "the upstart job is gone" test ! -e "$BOOKLORE_UPSTART_DIR/booklore-syncd.conf"
check "the upstart job starts on the user store and respawns" bash -c \
    'grep -q "^start on started filesystems_userstore" "$1" && grep -q "^respawn" "$1" && grep -q "exec .*booklore-syncd\" --config" "$1"' \
    _ "$EXT/upstart/booklore-syncd.conf"
unset BOOKLORE_HOME BOOKLORE_PIDFILE BOOKLORE_LOG BOOKLORE_UPSTART_DIR BOOKLORE_MNTROOT

# --------------------------------------------------------------------------------------------
echo "--- generic SysV init script"
S=$WORK/sysv
mkdir -p "$S/run" "$S/log" "$S/lib"
write_config "$S/etc/config.json" "$S/run/booklore-syncd.sock" "$S/lib/queue.sqlite"
cat >"$S/default" <<EOF
BOOKLORE_DAEMON=$DAEMON
BOOKLORE_CONFIG=$S/etc/config.json
BOOKLORE_PIDFILE=$S/run/booklore-syncd.pid
BOOKLORE_LOG=$S/log/booklore-syncd.log
EOF
export BOOKLORE_DEFAULTS=$S/default
export BOOKLORE_LIB=$PACKAGING/common/booklore-service.sh
SYSV=$PACKAGING/sysv/booklore-syncd
check "the LSB header is complete" bash -c 'for k in Provides Required-Start Required-Stop Default-Start Default-Stop Short-Description; do grep -q "^# $k:" "$1" || exit 1; done' _ "$SYSV"
check_rc "status before start (3)" 3 run "$SYSV" status
check_rc "start" 0 run "$SYSV" start
pid=$(pid_of "$S/run/booklore-syncd.pid")
check "running" is_running "$pid"
check_rc "status (0)" 0 run "$SYSV" status
check_rc "reload" 0 run "$SYSV" reload
check_rc "force-reload restarts" 0 run "$SYSV" force-reload
check "force-reload gives a new process" test "$(pid_of "$S/run/booklore-syncd.pid")" != "$pid"
check_rc "stop" 0 run "$SYSV" stop
check_rc "status after stop (3)" 3 run "$SYSV" status
chmod 644 "$S/etc/config.json"
check_rc "a password file readable by others is refused (6)" 6 run "$SYSV" start
check "…and says how to fix it" grep -q "chmod 600" <<<"$OUT"
check_rc "an unknown command is a usage error (2)" 2 run "$SYSV" frobnicate
unset BOOKLORE_DEFAULTS BOOKLORE_LIB

finish
