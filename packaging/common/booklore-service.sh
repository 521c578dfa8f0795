# booklore-service.sh: start / stop / restart / status / reload of booklore-syncd for systems
# without a service manager that supervises it (Kobo, Kindle without upstart, SysV readers).
#
# Sourced by the init scripts (POSIX sh; BusyBox ash on the readers). They set:
#   BOOKLORE_DAEMON   the booklore-syncd binary
#   BOOKLORE_CONFIG   its configuration file
#   BOOKLORE_PIDFILE  pid file (on a tmpfs: /tmp, /var/tmp, /var/run)
#   BOOKLORE_LOG      file that collects the daemon's stderr (rotated at each start above 512 KiB)
# and optionally:
#   BOOKLORE_SOCKET         socket to wait for at start (default: "socket" from the config)
#   BOOKLORE_START_TIMEOUT  seconds to wait for the socket (default 10)
#   BOOKLORE_STOP_TIMEOUT   seconds to wait after SIGTERM before SIGKILL (default 20)
#
# The daemon stays in the foreground and logs to stderr; this library backgrounds it in its own
# session with its working directory at /, so nothing of it pins a removable file system.
# Exit codes follow LSB: status 0 running, 1 dead with a pid file, 3 not running; start 5 program
# missing, 6 not configured.

: "${BOOKLORE_START_TIMEOUT:=10}"
: "${BOOKLORE_STOP_TIMEOUT:=20}"

bl_say() {
    printf '%s\n' "booklore-syncd: $*"
}

# A short pause; BusyBox sleep may lack fractions, usleep may be missing.
bl_nap() {
    sleep 0.1 2>/dev/null || usleep 100000 2>/dev/null || sleep 1
}

# The value of a top-level string key in the JSON config (good enough for our flat file).
bl_config_value() {
    [ -r "$BOOKLORE_CONFIG" ] || return 1
    tr '\n' ' ' <"$BOOKLORE_CONFIG" |
        sed -n "s/.*\"$1\"[[:space:]]*:[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p"
}

bl_socket() {
    if [ -n "${BOOKLORE_SOCKET:-}" ]; then
        printf '%s\n' "$BOOKLORE_SOCKET"
    else
        bl_config_value socket
    fi
}

# True if process $1 exists and is not a zombie (it may still be exec'ing the daemon).
bl_alive() {
    [ -n "$1" ] && [ -d "/proc/$1" ] || return 1
    state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)
    [ "$state" != Z ]
}

# True if process $1 runs our daemon binary (guards against a recycled pid).
bl_is_ours() {
    [ -n "$1" ] && [ -r "/proc/$1/cmdline" ] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)
    case "$cmdline" in
    *"$(basename "$BOOKLORE_DAEMON")"*) return 0 ;;
    esac
    return 1
}

# Prints the daemon's pid and succeeds if it is running.
bl_pid() {
    [ -r "$BOOKLORE_PIDFILE" ] || return 1
    pid=$(head -n 1 "$BOOKLORE_PIDFILE" 2>/dev/null)
    case "$pid" in
    '' | *[!0-9]*) return 1 ;;
    esac
    bl_is_ours "$pid" || return 1
    printf '%s\n' "$pid"
}

bl_rotate_log() {
    [ -f "$BOOKLORE_LOG" ] || return 0
    size=$(wc -c <"$BOOKLORE_LOG" 2>/dev/null || echo 0)
    if [ "${size:-0}" -gt 524288 ]; then
        mv -f "$BOOKLORE_LOG" "$BOOKLORE_LOG.1"
    fi
}

bl_start() {
    if pid=$(bl_pid); then
        bl_say "already running (pid $pid)"
        return 0
    fi
    if [ ! -x "$BOOKLORE_DAEMON" ]; then
        bl_say "$BOOKLORE_DAEMON is missing or not executable"
        return 5
    fi
    if [ ! -r "$BOOKLORE_CONFIG" ]; then
        bl_say "no configuration at $BOOKLORE_CONFIG (see config.example.json)"
        return 6
    fi
    # Refuse early and visibly: a bad file or a password readable by others is reported here,
    # not only in the log.
    if ! problem=$("$BOOKLORE_DAEMON" --config "$BOOKLORE_CONFIG" --check-config 2>&1); then
        bl_say "configuration refused: $problem"
        return 6
    fi
    mkdir -p "$(dirname "$BOOKLORE_PIDFILE")" "$(dirname "$BOOKLORE_LOG")"
    bl_rotate_log
    socket=$(bl_socket)
    rm -f "$BOOKLORE_PIDFILE"
    (
        cd / || exit 1
        umask 077
        if command -v setsid >/dev/null 2>&1; then
            # Its own session: a launcher (udev, KUAL, KOReader) that kills its process group on
            # exit does not take the daemon with it.
            setsid "$BOOKLORE_DAEMON" --config "$BOOKLORE_CONFIG" </dev/null >>"$BOOKLORE_LOG" 2>&1 &
        else
            trap '' HUP
            "$BOOKLORE_DAEMON" --config "$BOOKLORE_CONFIG" </dev/null >>"$BOOKLORE_LOG" 2>&1 &
        fi
        echo $! >"$BOOKLORE_PIDFILE"
    )
    pid=$(head -n 1 "$BOOKLORE_PIDFILE" 2>/dev/null)
    deadline=$(($(date +%s) + BOOKLORE_START_TIMEOUT))
    while :; do
        if ! bl_alive "$pid"; then
            rm -f "$BOOKLORE_PIDFILE"
            bl_say "failed to start; the end of $BOOKLORE_LOG says:"
            tail -n 5 "$BOOKLORE_LOG" 2>/dev/null
            return 1
        fi
        if [ -n "$socket" ] && [ -S "$socket" ]; then
            break
        fi
        if [ -z "$socket" ] && bl_is_ours "$pid"; then
            break
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            bl_say "started (pid $pid) but $socket did not appear within ${BOOKLORE_START_TIMEOUT}s"
            return 0
        fi
        bl_nap
    done
    if ! bl_is_ours "$pid"; then
        # The socket was a stale one and the process is not (or no longer) the daemon.
        rm -f "$BOOKLORE_PIDFILE"
        bl_say "failed to start; the end of $BOOKLORE_LOG says:"
        tail -n 5 "$BOOKLORE_LOG" 2>/dev/null
        return 1
    fi
    bl_say "started (pid $pid)"
    return 0
}

bl_stop() {
    if ! pid=$(bl_pid); then
        rm -f "$BOOKLORE_PIDFILE"
        bl_say "not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null
    deadline=$(($(date +%s) + BOOKLORE_STOP_TIMEOUT))
    while bl_is_ours "$pid"; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            bl_say "did not stop within ${BOOKLORE_STOP_TIMEOUT}s; killing it"
            kill -KILL "$pid" 2>/dev/null
            break
        fi
        bl_nap
    done
    rm -f "$BOOKLORE_PIDFILE"
    bl_say "stopped"
    return 0
}

bl_status() {
    if pid=$(bl_pid); then
        bl_say "running (pid $pid)"
        return 0
    elif [ -f "$BOOKLORE_PIDFILE" ]; then
        bl_say "not running, but $BOOKLORE_PIDFILE exists"
        return 1
    fi
    bl_say "not running"
    return 3
}

bl_reload() {
    if pid=$(bl_pid); then
        kill -HUP "$pid"
        bl_say "asked to reopen its log file"
        return 0
    fi
    bl_say "not running"
    return 7
}

bl_main() {
    case "${1:-}" in
    start) bl_start ;;
    stop) bl_stop ;;
    restart)
        bl_stop
        bl_start
        ;;
    status) bl_status ;;
    reload) bl_reload ;;
    *)
        echo "usage: $0 {start|stop|restart|status|reload}" >&2
        return 2
        ;;
    esac
}
