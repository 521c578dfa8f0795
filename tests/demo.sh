#!/bin/sh
# The demo: the daemon queues reading sessions while the BookLore server is down, then uploads
# them once it is up, over HTTPS with a self-signed CA. Usage: tests/demo.sh (as root, Debian 12).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh tests/setup-debian.sh > /dev/null
cmake -S . -B build-demo -G Ninja -DCMAKE_BUILD_TYPE=Release -DBOOKLORE_TESTS=OFF > /dev/null
cmake --build build-demo -j"$(nproc)"

work=$(mktemp -d /tmp/booklore-demo-XXXX)
syncd="$top/build-demo/daemon/booklore-syncd"
ctl="$top/build-demo/daemon/booklore-syncctl --socket $work/syncd.sock"
standin="python3 $top/tests/standin/booklore_standin.py"
sh tests/standin/make_certs.sh "$work/certs" > /dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
hash_a=$(printf 'book-a' | md5sum | cut -c1-32)
hash_b=$(printf 'book-b' | md5sum | cut -c1-32)

cat > "$work/config.json" <<JSON
{
  "server_url": "https://localhost:$port",
  "ca_file": "$work/certs/ca.crt",
  "username": "reader",
  "password": "demo-password",
  "database": "$work/booklore-sync.sqlite",
  "socket": "$work/syncd.sock",
  "log_file": "$work/syncd.log"
}
JSON
chmod 600 "$work/config.json"

cleanup() {
    [ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null || true
    [ -n "${server_pid:-}" ] && kill "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "Starting booklore-syncd (the BookLore server is down)"
"$syncd" --config "$work/config.json" 2> "$work/stderr.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$work/syncd.sock" ] && break; sleep 0.05; done

step "Reading offline: 5 sessions for two books and one deleted book are queued"
t=1767250800
for i in 1 2 3; do
    $ctl send-session --hash "$hash_a" --book-id 101 --title "The Hobbit" --file /books/hobbit.epub \
        --start $((t + i * 3600)) --end $((t + i * 3600 + 1200)) --duration 1200 \
        --start-progress $((i * 10)) --end-progress $((i * 10 + 8)) --event-id "demo-a-$i"
done
for i in 1 2; do
    # No book id yet: the daemon will look the book up by its fingerprint.
    $ctl send-session --hash "$hash_b" --title "Dune" --file /books/dune.pdf \
        --start $((t + 86400 + i * 3600)) --end $((t + 86400 + i * 3600 + 900)) --duration 900 \
        --event-id "demo-b-$i"
done
$ctl delete-book --file /books/old.epub --book-id 103
step "The queue (booklore-syncctl pending): the session-end syncs could not reach the server"
$ctl pending
$ctl status | head -6
step "The same rows with the seed's sqlite3 query"
sqlite3 "$work/booklore-sync.sqlite" \
    "SELECT id, book_hash, duration_seconds, retry_count, created_at FROM pending_sessions;"

step "The BookLore server comes up"
$standin --port "$port" --port-file "$work/port" --tls-cert "$work/certs/server.crt" \
    --tls-key "$work/certs/server.key" --ko-user reader --ko-password demo-password \
    --seed-delete --book "101:$hash_a:The Hobbit" --book "102:$hash_b:Dune:PDF" \
    --book "103:$(printf 'old' | md5sum | cut -c1-32):Old" 2> "$work/standin.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done

step "Sync now (booklore-syncctl sync)"
$ctl sync
step "Status after the upload"
$ctl status
step "What the server stored"
python3 - "$port" "$work/certs/ca.crt" <<'PY'
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
state = json.load(urllib.request.urlopen(f"https://localhost:{sys.argv[1]}/__standin/state", context=ctx))
for s in state["sessions"]:
    print(f"  book {s['bookId']}: {s['startTime']} .. {s['endTime']} ({s['durationFormatted']}) via {s['via']}")
print(f"  deleted book ids: {[d.get('id', d.get('bookId')) for d in state['deletions']]}")
PY
step "Done; files are in $work"
