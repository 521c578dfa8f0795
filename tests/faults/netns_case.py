#!/usr/bin/python3
"""The network cut, run by cases_server.network_cut inside `unshare --net` (a private loopback).

    netns_case.py TMPDIR OUT.json

Three cuts of the daemon's TLS connection to the stand-in while a batch is in flight:
  1. `ss -K` while the server still waits before handling the request (delay);
  2. `ss -K` after the server committed the batch, while its reply hangs;
  3. the link goes down (`ip link set lo down`) while the reply hangs: a black hole, only the
     request timeout ends it; then the link comes back.
After each, the sessions must still be queued; at the end a drain must deliver all of them.
"""

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases_server import BATCH, SESSIONS, _daemon, _standin  # noqa: E402
from faultlib import (Events, check, drain, make_certs, queued_event_ids, send_sessions,  # noqa: E402
                      sync, wait_until)


def ip(*args):
    subprocess.run(["ip", *args], check=True)


def daemon_connected(port):
    """True while the daemon holds an established connection to the server's port."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return bool(out.strip())


def cut_during(d, server, rule, cut, events, heal=None, settle=0.5):
    """Starts a sync with `rule` active, cuts once the request is in flight, heals after the
    sync ended on its own; returns the sync's result."""
    server.faults(**rule)
    result = {}

    def run():
        reply = sync(d, timeout=60)
        result.update(reply["result"] if reply and reply.get("ok") else {"error": reply})

    syncer = threading.Thread(target=run)
    syncer.start()
    wait_until(lambda: daemon_connected(server.port), timeout=10, what="the daemon to connect")
    time.sleep(settle)  # the request is written by now; the server sits in the fault
    cut()
    began = time.monotonic()
    syncer.join(60)
    result["ended_after"] = time.monotonic() - began
    assert not syncer.is_alive(), "the sync did not end after the cut"
    if heal:
        heal()
    server.clear_faults()
    missing = events.acked - queued_event_ids(d.database) - uploaded_keys(d)
    assert not missing, f"acknowledged events neither queued nor uploaded: {sorted(missing)[:5]}"
    return result


def uploaded_keys(d):
    return {r[0] for r in d.sql("SELECT event_id FROM historical_sessions")}


def main(tmp, out):
    ip("link", "set", "lo", "up")
    # A link the daemon's netlink monitor counts as "network up" (a non-loopback link with a
    # global address and a default route); the stand-in itself stays on 127.0.0.1.
    ip("link", "add", "blveth0", "type", "veth", "peer", "name", "blveth1")
    ip("addr", "add", "10.77.0.1/24", "dev", "blveth0")
    ip("link", "set", "blveth0", "up")
    ip("link", "set", "blveth1", "up")
    ip("route", "add", "default", "via", "10.77.0.2")
    certs = make_certs(str(Path(tmp) / "certs"))
    events = Events("netcut")
    with _standin("B", tls="server", certs=certs) as server:
        d = _daemon(tmp, "netcut", server, certs=certs, request_timeout_seconds=3)
        try:
            d.start()
            send_sessions(d.socket, events, SESSIONS, clients=2)
            kill = ["ss", "-K", "dst", "127.0.0.1", "dport", "=", f":{server.port}"]
            cuts = []
            r1 = cut_during(d, server, {"delay_ms": 2000, "path_prefix": BATCH, "count": 1},
                            lambda: subprocess.run(kill, check=True, capture_output=True), events)
            cuts.append(f"ss -K before commit: sync ended {r1['ended_after']:.1f} s later")
            r2 = cut_during(d, server, {"hang_ms": 2500, "path_prefix": BATCH, "count": 1},
                            lambda: subprocess.run(kill, check=True, capture_output=True), events)
            cuts.append(f"ss -K after commit: {r2['ended_after']:.1f} s")
            r3 = cut_during(d, server, {"hang_ms": 2500, "path_prefix": BATCH, "count": 1},
                            lambda: ip("link", "set", "lo", "down"), events,
                            heal=lambda: ip("link", "set", "lo", "up"))
            cuts.append(f"link down (request timeout 3 s): {r3['ended_after']:.1f} s")
            # A cut before the server committed uploads nothing; after it, the rows in doubt
            # may be found on the server's list in the same run (r2, r3): what counts is that
            # none is stored twice, which check() below counts.
            assert r1["sessions_uploaded"] == 0, r1
            final = drain(d)
            assert final["pending_sessions"] == 0, final
            record = check("network cut mid-request (netns)", events, d, server,
                           notes="; ".join(cuts) + "; then drained")
        finally:
            d.cleanup()
    Path(out).write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
