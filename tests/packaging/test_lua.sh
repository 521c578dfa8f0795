#!/bin/bash
# The KOReader plugin's Lua code under luajit: the partial-MD5 routine (test vectors and an
# independent Python implementation), the IPC module and the plugin against the real daemon
# (events, Wi-Fi policy, idle wake-ups), its outbox across a stopped daemon and a KOReader
# restart, and the UI-thread time per session_end.
. "$(dirname "$0")/lib.sh"
setup

if ! command -v luajit >/dev/null 2>&1; then
    fail "luajit is installed" "apt-get install luajit"
    finish
    exit 1
fi
LUA=$TESTS_DIR/lua

# Undefined globals and the like (style warnings about unused names are not counted).
if command -v luacheck >/dev/null 2>&1; then
    check_rc "luacheck finds no undefined globals or errors in the plugin" 0 luacheck --no-color --std luajit \
        --globals G_reader_settings --no-max-line-length --no-self --no-unused "$PACKAGING/koreader/bookloresync.koplugin"
else
    echo "(luacheck not installed: apt-get install lua-check to lint the plugin)"
fi

# Partial MD5: the vectors, and files of awkward sizes checked against partial_md5.py.
mkdir -p "$WORK/hash"
: >"$WORK/hash/empty"
head -c 1023 /dev/urandom >"$WORK/hash/r1023"
head -c 4097 /dev/urandom >"$WORK/hash/r4097"
head -c 300001 /dev/urandom >"$WORK/hash/r300001"
head -c 5000000 /dev/urandom >"$WORK/hash/r5000000"
# A sparse 1.5 GiB file with marks at 1 KiB before and after 1 GiB: every offset up to 1 Gi counts.
truncate -s 1610612736 "$WORK/hash/sparse"
printf 'mark-before' | dd of="$WORK/hash/sparse" bs=1 seek=1073740800 conv=notrunc status=none
printf 'mark-at-1GiB' | dd of="$WORK/hash/sparse" bs=1 seek=1073741824 conv=notrunc status=none
python3 "$TESTS_DIR/partial_md5.py" "$WORK"/hash/* >"$WORK/reference.txt"
echo "--- test_hash.lua"
if luajit "$LUA/test_hash.lua" "$WORK/hash" "$WORK/reference.txt"; then
    pass "partial MD5 (test_hash.lua)"
else
    fail "partial MD5 (test_hash.lua)"
fi

run_against_daemon() {
    local name=$1 dir=$WORK/$1
    mkdir -p "$dir"
    # BOOKLORE_TEST_CONFIG_EXTRA: more members for the daemon's config, e.g. '"manual_sync_only": true'.
    write_config "$dir/config.json" "$dir/syncd.sock" "$dir/queue.sqlite" ${BOOKLORE_TEST_CONFIG_EXTRA:+"$BOOKLORE_TEST_CONFIG_EXTRA"}
    start_daemon "$dir/config.json" "$dir/daemon.log" || return
    echo "--- $name.lua"
    if BOOKLORE_SOCKET=$dir/syncd.sock BOOKLORE_TEST_DIR=$dir luajit "$LUA/$name.lua"; then
        pass "$name.lua against booklore-syncd"
    else
        fail "$name.lua against booklore-syncd" "daemon log:" "$(tail -n 20 "$dir/daemon.log")"
    fi
    stop_daemon
}

run_against_daemon test_ipc
run_against_daemon test_plugin
BOOKLORE_TIMING_EVENTS=${BOOKLORE_TIMING_EVENTS:-200} run_against_daemon bench_ui

# The outbox test starts and stops its own daemon (stopped, refusing, back).
mkdir -p "$WORK/test_outbox"
echo "--- test_outbox.lua"
if BOOKLORE_DAEMON=$DAEMON BOOKLORE_TEST_DIR=$WORK/test_outbox luajit "$LUA/test_outbox.lua"; then
    pass "test_outbox.lua against booklore-syncd"
else
    fail "test_outbox.lua against booklore-syncd" "daemon log:" "$(tail -n 20 "$WORK/test_outbox/outbox-daemon.log")"
fi
finish
