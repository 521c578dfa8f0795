# Helpers for the packaging tests (sourced by bash). Each test script:
#   . "$(dirname "$0")/lib.sh"; setup; ...checks...; finish
# Environment: BOOKLORE_BIN_DIR, the folder holding booklore-syncd and booklore-syncctl
# (ctest sets it; by hand: BOOKLORE_BIN_DIR=build-x/daemon bash tests/packaging/test_....sh).

set -u

TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$TESTS_DIR/../.." && pwd)
PACKAGING=$REPO/packaging
BIN_DIR=${BOOKLORE_BIN_DIR:-$REPO/build/daemon}
DAEMON=$BIN_DIR/booklore-syncd
CTL=$BIN_DIR/booklore-syncctl

passed=0
failed=0
STARTED_PIDS=""

pass() {
    passed=$((passed + 1))
    echo "ok   $1"
}

fail() {
    failed=$((failed + 1))
    echo "FAIL $1"
    shift
    [ $# -gt 0 ] && printf '     %s\n' "$@"
    return 0
}

# check "description" command args...: passes if the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what" "command: $*"; fi
}

# check_rc "description" expected_rc command args...: runs it, keeps its output in $OUT.
check_rc() {
    local what=$1 expected=$2
    shift 2
    OUT=$("$@" 2>&1)
    local rc=$?
    if [ "$rc" -eq "$expected" ]; then
        pass "$what"
    else
        fail "$what" "expected exit $expected, got $rc from: $*" "${OUT//$'\n'/ | }"
    fi
    return 0
}

# wait_until SECONDS command args...: polls the command until it succeeds or the deadline passes.
wait_until() {
    local deadline=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
    return 0
}

# exited PID: true once the process is gone or a zombie.
exited() {
    [ ! -d "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

cleanup() {
    local pid
    for pid in $STARTED_PIDS; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in $STARTED_PIDS; do
        wait_until 10 exited "$pid" || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    # Daemons started through init scripts are not our children: stop them by their pid files.
    local f
    for f in $(find "$WORK" -name '*.pid' 2>/dev/null); do
        pid=$(head -n 1 "$f" 2>/dev/null)
        case "$pid" in '' | *[!0-9]*) continue ;; esac
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q booklore-syncd; then
            kill -TERM "$pid" 2>/dev/null
        fi
    done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}

setup() {
    if [ ! -x "$DAEMON" ] || [ ! -x "$CTL" ]; then
        echo "FAIL the daemon binaries are not built: $DAEMON, $CTL (set BOOKLORE_BIN_DIR)"
        echo "0 passed, 1 failed"
        exit 1
    fi
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/booklore-pkg.XXXXXX")
    trap cleanup EXIT
}

# write_config FILE SOCKET DATABASE [extra JSON members...]: a config with an unreachable server
# (a closed local port), mode 600.
write_config() {
    local file=$1 socket=$2 database=$3
    shift 3
    local extra=""
    local member
    for member in "$@"; do extra="$extra, $member"; done
    mkdir -p "$(dirname "$file")"
    (umask 077 && printf '{"server_url": "http://127.0.0.1:9", "username": "reader", "password": "secret", "database": "%s", "socket": "%s"%s}\n' \
        "$database" "$socket" "$extra" >"$file")
}

# start_daemon CONFIG LOG: runs the daemon in the background (our child), waits for its socket.
# Sets DAEMON_PID.
start_daemon() {
    local config=$1 log=$2 socket
    socket=$(tr '\n' ' ' <"$config" | sed -n 's/.*"socket"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
    "$DAEMON" --config "$config" </dev/null >>"$log" 2>&1 &
    DAEMON_PID=$!
    STARTED_PIDS="$STARTED_PIDS $DAEMON_PID"
    if ! wait_until 20 test -S "$socket"; then
        fail "daemon started" "no socket $socket after 20 s; log:" "$(tail -n 20 "$log")"
        return 1
    fi
    return 0
}

# stop_daemon: SIGTERM the daemon started by start_daemon; it must exit 0.
stop_daemon() {
    kill -TERM "$DAEMON_PID"
    wait "$DAEMON_PID"
    local rc=$?
    STARTED_PIDS=${STARTED_PIDS// $DAEMON_PID/}
    if [ "$rc" -eq 0 ]; then pass "daemon exits 0 on SIGTERM"; else fail "daemon exits 0 on SIGTERM" "exit code $rc"; fi
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
