#!/bin/sh
# /usr/lib/systemd/system-sleep/booklore-syncd: tells the daemon about suspend and resume on
# readers where KOReader does not (systemd-suspend runs this with pre|post and the sleep kind).
SOCKET=${BOOKLORE_SOCKET:-/run/booklore-sync/booklore-syncd.sock}
SYNCCTL=${BOOKLORE_SYNCCTL:-/usr/bin/booklore-syncctl}
[ -S "$SOCKET" ] || exit 0
case "$1" in
pre) "$SYNCCTL" --socket "$SOCKET" suspend >/dev/null 2>&1 ;;
post) "$SYNCCTL" --socket "$SOCKET" resume >/dev/null 2>&1 ;;
esac
exit 0
