"""Fault cases on the daemon's own process and disk: SIGKILL at each fsync and at random moments of
a drain, a power cut (unsynced writes dropped or torn), ENOSPC and EIO on writes and fsync."""

import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

from faultlib import (BOOKS, CANARY_PASSWORD, LONG, Events, Standin, check, drain, integrity,
                      local_event_ids, make_daemon, queued_event_ids, send_sessions, sync,
                      wait_until)
import tools


def _restart_and_verify(d, events, where):
    """Start the daemon normally after it died; every acknowledged event must be queued (or
    recorded as uploaded: the final check then looks for it on the server)."""
    d.start()
    missing = events.acked - local_event_ids(d.database)
    assert not missing, f"{where}: acknowledged but not queued after restart: {sorted(missing)[:5]}"
    assert integrity(d.database) == ["ok"], f"{where}: integrity_check failed"


def _crash_points(tmp, name, events, points, start_args, cap=200):
    """For each crash point: start the daemon armed to die there, send sessions from three
    clients until it dies, restart it normally and verify. Returns the running daemon and how
    many points were reached."""
    d = make_daemon(tmp, name, manual_sync_only=True)
    died = 0
    for point in points:
        prefix, env = start_args(point)
        d.start(wait=False, prefix=prefix, extra_env=env)
        wait_until(lambda: d.process.poll() is not None or _connects(d.socket), timeout=20,
                   what="the daemon to listen or die")
        answered = cap
        if d.process.poll() is None:
            answered = send_sessions(d.socket, events, cap, clients=3, timeout=10)
        if answered == cap and d.process.poll() is None:
            d.stop()  # the crash point was not reached with this much traffic
        else:
            died += 1
            d.wait_exit()  # a client saw the connection break: the daemon is dying
        _restart_and_verify(d, events, f"{name} point {point}")
        d.stop()
    d.start()
    return d, died


def _connects(path):
    import socket
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def sigkill_at_fsync(tmp):
    """strace kills the daemon when it enters its N-th fsync/fdatasync (N = 1..points) while
    three clients send sessions; the daemon is then restarted and checked."""
    points = range(1, 121 if LONG else 31)
    events = Events("fsync")

    def armed(n):
        return (["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync,fdatasync", "-e",
                 f"inject=fsync,fdatasync:signal=KILL:when={n}"], None)

    d, died = _crash_points(tmp, "fsync", events, points, armed)
    try:
        return check("SIGKILL at the N-th fsync", events, d,
                     notes=f"N=1..{points[-1]}; {died} kills")
    finally:
        d.cleanup()


def power_cut(tmp, mode):
    """The power-cut VFS (powercut_vfs.cpp, preloaded) cuts at the K-th sync: unsynced writes
    dropped (mode drop) or kept/dropped/torn per 512-byte sector (mode torn)."""
    library = tools.powercut_library()
    points = range(1, 101 if LONG else 26)
    events = Events(f"power-{mode}")
    report = Path(tmp) / f"powercut-{mode}.jsonl"

    def armed(k):
        return ((), {"LD_PRELOAD": str(library), "BOOKLORE_POWERCUT_AT": str(k),
                     "BOOKLORE_POWERCUT_MODE": mode, "BOOKLORE_POWERCUT_SEED": str(k),
                     "BOOKLORE_POWERCUT_REPORT": str(report)})

    d, died = _crash_points(tmp, f"power-{mode}", events, points, armed)
    cuts = [json.loads(line) for line in report.read_text().splitlines()] if report.exists() else []
    try:
        quarantined = list(Path(d.dir).glob("*.corrupt-*"))
        rec = check(f"power cut, unsynced writes {'torn' if mode == 'torn' else 'dropped'}",
                    events, d, quarantined=len(quarantined),
                    notes=f"K=1..{points[-1]}; {len(cuts)} cuts, "
                          f"{sum(c['pending'] for c in cuts)} unsynced writes at the cuts "
                          f"({sum(c['dropped'] for c in cuts)} dropped, "
                          f"{sum(c['partial'] for c in cuts)} torn)")
        assert len(cuts) == died, (len(cuts), died)
        assert not quarantined, f"a power cut left a file the daemon had to quarantine: {quarantined}"
        return rec
    finally:
        d.cleanup()


def sigkill_during_drain(tmp, seed=20261125):
    """A drain to the stand-in (TLS off, 5 ms per request, batches of 20) while a client keeps
    sending; SIGKILL at a random moment, restart, again, until the queue is empty."""
    rng = random.Random(seed)
    rounds = 40 if LONG else 12
    events = Events("drainkill")
    with Standin("B", books=BOOKS, delay_ms=5, ko_password=CANARY_PASSWORD) as server:
        d = make_daemon(tmp, "drainkill", server_url=server.url, manual_sync_only=True,
                        batch_size=20, request_timeout_seconds=5)
        try:
            d.start()
            send_sessions(d.socket, events, 400, clients=4)
            kills = 0
            for _ in range(rounds):
                stop = threading.Event()
                sender = threading.Thread(target=send_sessions, args=(d.socket, events, 10_000),
                                          kwargs={"until": stop.is_set, "timeout": 10})
                syncer = threading.Thread(target=lambda: _quiet(sync, d))
                sender.start()
                syncer.start()
                time.sleep(rng.uniform(0.02, 0.6))
                d.process.send_signal(signal.SIGKILL)
                d.wait_exit()
                kills += 1
                stop.set()
                sender.join()
                syncer.join()
                _restart_and_verify(d, events, f"drain kill {kills}")
            result = drain(d, attempts=10)
            assert result["pending_sessions"] == 0, result
            return check("SIGKILL at random moments of a drain", events, d, server,
                         notes=f"{kills} kills (seed {seed}); batches of 20")
        finally:
            d.cleanup()


def _quiet(fn, *args):
    try:
        fn(*args)
    except (OSError, AssertionError, ValueError):
        pass


def disk_error(tmp, syscall, errno_name, expected_codes):
    """strace attaches to the running daemon and fails every `syscall` with `errno_name`:
    sessions must be refused with one of `expected_codes`, none acknowledged; after strace
    detaches, sessions are accepted again."""
    label = f"{errno_name} on {syscall}"
    events = Events(f"{errno_name}-{syscall}".lower())
    d = make_daemon(tmp, f"{errno_name}-{syscall}", manual_sync_only=True)
    try:
        d.start()
        send_sessions(d.socket, events, 20, clients=2)
        before = set(events.acked)
        pid = d.process.pid
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-p", str(pid), "-e",
                                   f"trace={syscall}", "-e", f"inject={syscall}:error={errno_name}"])
        wait_until(lambda: _traced(pid), timeout=10, what="strace to attach")
        during = Events(f"{events.prefix}-during")
        during.count = 10_000  # distinct start times from the other events
        send_sessions(d.socket, during, 20, clients=2)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
        codes = sorted(set(during.refused.values()))
        falsely_acked = sorted(during.acked)
        refused_but_stored = len(set(during.refused) & queued_event_ids(d.database))
        began = time.monotonic()
        wait_until(lambda: send_sessions(d.socket, events, 1) and events.acked - before,
                   timeout=20, interval=0.2, what="sessions to be accepted again")
        recovered = time.monotonic() - began
        send_sessions(d.socket, events, 20, clients=2)
        # one ledger for the check: the refused ones count as sent, not acknowledged
        for event_id, start in during.start_of.items():
            events.start_of[event_id] = start
        events.refused.update(during.refused)
        events.unknown |= during.unknown
        rec = check(label, events, d, refused_codes=codes, falsely_acked=len(falsely_acked),
                    refused_but_stored=refused_but_stored,
                    notes=f"refused {len(during.refused)}/20 with {','.join(codes) or '-'}; "
                          f"accepted again after {recovered:.1f} s; {refused_but_stored} refused "
                          "events were committed anyway")
        assert not falsely_acked, f"{label}: acknowledged while every {syscall} failed"
        assert during.refused and set(codes) <= set(expected_codes), (label, codes, during.unknown)
        return rec
    finally:
        d.cleanup()


def _traced(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("TracerPid:"):
            return int(line.split()[1]) != 0
    return False


DISK_CASES = [
    ("pwrite64", "ENOSPC", ("storage_full",)),
    ("pwrite64", "EIO", ("storage_error",)),
    ("fdatasync", "EIO", ("storage_error",)),
    ("fdatasync", "ENOSPC", ("storage_full", "storage_error")),
]

CASES = {
    "sigkill_fsync": sigkill_at_fsync,
    "sigkill_drain": sigkill_during_drain,
    "power_cut_drop": lambda tmp: power_cut(tmp, "drop"),
    "power_cut_torn": lambda tmp: power_cut(tmp, "torn"),
}
for _syscall, _errno, _codes in DISK_CASES:
    CASES[f"{_errno.lower()}_{_syscall}"] = (
        lambda tmp, s=_syscall, e=_errno, c=_codes: disk_error(tmp, s, e, c))


CONTROL_WRITER = """
import os, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA synchronous=" + sys.argv[2])
con.execute("PRAGMA wal_autocheckpoint=20")
for i in range(400):
    con.execute("INSERT INTO t VALUES (?)", (i,))
    os.write(2, b"ack\\n")
"""


def power_cut_control(tmp):
    """The power-cut VFS must be able to fail a test: a writer that acknowledges after COMMIT
    under synchronous=NORMAL (which does not sync a WAL commit) loses acknowledged rows at a
    cut; under FULL it loses none. Returns {setting: [(acked, present), ...]}."""
    import sqlite3
    library = tools.powercut_library()
    seen = {}
    for setting in ("FULL", "NORMAL"):
        seen[setting] = []
        for k in (10, 20, 40):
            db = Path(tmp) / f"control-{setting}-{k}.sqlite"
            con = sqlite3.connect(db)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("CREATE TABLE t (x)")
            con.close()
            env = dict(os.environ, LD_PRELOAD=str(library), BOOKLORE_POWERCUT_AT=str(k))
            proc = subprocess.run(["/usr/bin/python3", "-c", CONTROL_WRITER, str(db), setting],
                                  capture_output=True, text=True, env=env)
            acked = proc.stderr.count("ack")
            con = sqlite3.connect(db)
            present = con.execute("SELECT count(*) FROM t").fetchone()[0]
            con.close()
            seen[setting].append((acked, present))
    return seen
