"""What every fault case shares: the daemon under a wrapper, the event ledger, the final check.

The check follows Jepsen's set workload: the test remembers every event it sent and what the
daemon answered (ok, refused with a code, or no answer), and at the end reads the server and the
queue. `lost` = acknowledged − (on the server ∪ still queued) must be empty; an event stored
twice on the server is counted (at-least-once delivery; the stand-in, like BookLore, does not
deduplicate by Idempotency-Key). Every case also runs PRAGMA integrity_check on the queue, checks
that the daemon is alive (or was restarted) and greps everything it produced for the secrets.
"""

import collections
import hashlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "standin"))

import harness  # noqa: E402
from harness import CANARY_BL_PASSWORD, CANARY_PASSWORD, Client, wait_until  # noqa: E402,F401
from standin import Standin, make_certs  # noqa: E402,F401

LONG = os.environ.get("BOOKLORE_FAULTS_LONG") == "1"
BIN_DIR = harness.BIN_DIR
SYNCD = harness.SYNCD
BUILD_DIR = BIN_DIR.parent
START_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z; event n starts n hours later
HASHES = [hashlib.md5(f"fault-book-{i}".encode()).hexdigest() for i in range(8)]
BOOKS = [(201 + i, h) for i, h in enumerate(HASHES)]  # (server id, hash)


def iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# ---------------------------------------------------------------------------------- events


class Events:
    """Every session the case sent and the daemon's answer: ok (acknowledged), refused (an
    error reply, by code) or unknown (no answer: the daemon died or the connection broke)."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.lock = threading.Lock()
        self.count = 0
        self.start_of = {}  # event_id -> start epoch (the session's key on the server)
        self.acked = set()
        self.refused = {}
        self.unknown = set()

    def new(self, book_index=None, with_id=True):
        with self.lock:
            n = self.count
            self.count += 1
        book_id, book_hash = BOOKS[n % len(BOOKS) if book_index is None else book_index]
        event_id = f"{self.prefix}-{n}"
        start = START_EPOCH + n * 3600
        self.start_of[event_id] = start
        req = harness.session(n, book_hash=book_hash, event_id=event_id,
                              book_id=book_id if with_id else None)
        req["start_time"], req["end_time"] = start, start + 600
        return req

    def answered(self, req, reply):
        event_id = req["event_id"]
        with self.lock:
            if reply is None:
                self.unknown.add(event_id)
            elif reply.get("ok") and reply.get("queued"):
                self.acked.add(event_id)
                self.refused.pop(event_id, None)
                self.unknown.discard(event_id)
            elif not reply.get("ok"):
                self.refused[event_id] = reply["error"]["code"]
            else:
                raise AssertionError(f"unexpected reply {reply}")


def send_sessions(socket_path, events, count, clients=1, until=None, timeout=10.0, **new_args):
    """`clients` connections send `count` sessions in all (or until `until()` is true), each
    waiting for its answer. A broken connection ends that client (the daemon died). Returns the
    number of answers."""
    remaining = [count]
    answers = [0]
    guard = threading.Lock()

    def one_client():
        try:
            client = Client(socket_path, timeout=timeout)
        except OSError:
            return
        try:
            while True:
                with guard:
                    if remaining[0] <= 0 or (until and until()):
                        return
                    remaining[0] -= 1
                req = events.new(**new_args)
                try:
                    reply = client.call(req)
                except (OSError, ValueError):
                    reply = None
                events.answered(req, reply)
                if reply is None:
                    return
                with guard:
                    answers[0] += 1
        finally:
            client.close()

    threads = [threading.Thread(target=one_client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers[0]


# ---------------------------------------------------------------------------------- daemon


class FaultDaemon(harness.Daemon):
    """harness.Daemon that can run under a wrapper (strace) or with extra env (LD_PRELOAD)."""

    def start(self, wait=True, extra_env=None, prefix=()):
        env = dict(os.environ)
        env.update(extra_env or {})
        if "LD_PRELOAD" in (extra_env or {}):
            # An ASan build checks that its runtime is loaded first; a preloaded test library
            # (libfaketime, the power-cut VFS) comes before it, harmlessly.
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(list(prefix) + [str(SYNCD), "--config",
                                                        str(self.config_path)],
                                        stdout=self.log, stderr=self.log, env=env)
        if wait:
            wait_until(self.accepting, timeout=20, what="the daemon's socket")
        return self

    def daemon_pid(self):
        """The booklore-syncd process itself (a child when a wrapper such as strace runs it)."""
        pids = [self.process.pid]
        while pids:
            pid = pids.pop()
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "booklore-syncd":
                    return pid
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pids += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
        return None

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Signals the daemon itself, not its wrapper (strace would detach and leave it)."""
        pid = self.daemon_pid() if self.process and self.process.poll() is None else None
        if pid is not None and pid != self.process.pid:
            os.kill(pid, sig)
            return self.wait_exit(timeout)
        return super().stop(sig, timeout)

    def kill(self):
        if self.process and self.process.poll() is None:
            pid = self.daemon_pid()
            if pid is not None and pid != self.process.pid:
                os.kill(pid, signal.SIGKILL)
        super().kill()

    def cleanup(self):
        """Stops the daemon but keeps its directory: the case's scratch space (removed by the
        campaign or pytest) still holds the logs for the final secrets sweep."""
        self.kill()

    def wait_exit(self, timeout=30):
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the daemon did not die within {timeout} s")
        self.log.close()
        return self.process.returncode

    def answers(self):
        """True when the daemon is alive and answers status."""
        if not self.alive():
            return False
        try:
            reply = self.request({"type": "status"})
        except OSError:
            return False
        return bool(reply and reply.get("ok"))


def make_daemon(tmp, name, **config):
    path = Path(tmp) / name
    path.mkdir(parents=True, exist_ok=True)
    return FaultDaemon(workdir=str(path), **config)


# ---------------------------------------------------------------------------------- checks

SECRETS = [CANARY_PASSWORD, CANARY_BL_PASSWORD] + [
    hashlib.md5(p.encode()).hexdigest() for p in (CANARY_PASSWORD, CANARY_BL_PASSWORD)]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def secret_hits(texts):
    """Secrets (the canary passwords, their MD5 keys, anything shaped like a JWT) in texts."""
    hits = []
    for where, text in texts:
        for secret in SECRETS:
            if secret.lower() in text.lower():
                hits.append(f"{where}: {secret[:6]}…")
        if JWT.search(text):
            hits.append(f"{where}: a JWT")
    return hits


def integrity(db_path):
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return [r[0] for r in con.execute("PRAGMA integrity_check")]
    finally:
        con.close()


def queued_event_ids(db_path):
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return {r[0] for r in con.execute("SELECT event_id FROM pending_sessions")}
    finally:
        con.close()


def local_event_ids(db_path):
    """Events the queue holds: pending, or moved to historical_sessions after an upload."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return {r[0] for r in con.execute(
            "SELECT event_id FROM pending_sessions UNION SELECT event_id FROM historical_sessions")}
    finally:
        con.close()


class Record(dict):
    """One row of the campaign table."""

    def assert_sound(self):
        assert self["lost"] == 0, f"{self['case']}: {self['lost']} acknowledged events lost: {self}"
        assert self["integrity"] == "ok", f"{self['case']}: integrity_check says {self['integrity']}"
        assert self["alive"], f"{self['case']}: the daemon is not alive at the end"
        assert not self["secrets"], f"{self['case']}: secrets in the output: {self['secrets']}"
        assert self["unexpected"] == 0, f"{self['case']}: sessions nobody sent: {self}"
        assert not self.get("sanitizer"), f"{self['case']}: sanitizer reports: {self['sanitizer']}"


def check(case, events, daemon, server=None, extra_texts=(), **notes):
    """The common end of every case. The daemon must be running (restarted if the case killed
    it); the server, when there is one, is read for what it stored."""
    stored = collections.Counter()
    server_text = ""
    if server is not None:
        for s in server.sessions():
            stored[s["startTime"]] += 1
        server_text = server.stderr_text()
    key_of = {e: iso(start) for e, start in events.start_of.items()}
    sent_keys = set(key_of.values())
    queued = queued_event_ids(daemon.database) & events.acked
    uploaded = {e for e in events.acked if stored[key_of[e]] > 0}
    lost = events.acked - uploaded - queued
    twice = sum(1 for e in events.start_of if stored[key_of[e]] > 1)
    copies = sum(stored[key_of[e]] - 1 for e in events.start_of if stored[key_of[e]] > 1)
    unexpected = sum(n for key, n in stored.items() if key not in sent_keys)
    log = daemon.log_text()
    texts = [("daemon log", log), ("stand-in stderr", server_text)]
    # In the ASan/UBSan build a report lands in the daemon's stderr (our log file).
    sanitizer = [line[:200] for line in log.splitlines()
                 if "Sanitizer" in line or "runtime error:" in line][:5]
    texts += list(extra_texts)
    rec = Record(case=case, acknowledged=len(events.acked), uploaded=len(uploaded),
                 queued=len(queued), lost=len(lost), twice=twice, extra_copies=copies,
                 unexpected=unexpected,
                 refused=len(events.refused), unanswered=len(events.unknown),
                 integrity=";".join(integrity(daemon.database)), alive=daemon.answers(),
                 secrets=secret_hits(texts), sanitizer=sanitizer, lost_ids=sorted(lost)[:10])
    rec.update(notes)
    return rec


def report(record):
    """For the CI wrappers: print the record (and append it to $BOOKLORE_FAULTS_REPORT when
    set, as a JSON line), then assert the common check."""
    print(json.dumps(record, sort_keys=True))
    if os.environ.get("BOOKLORE_FAULTS_REPORT"):
        with open(os.environ["BOOKLORE_FAULTS_REPORT"], "a") as out:
            out.write(json.dumps(record, sort_keys=True) + "\n")
    record.assert_sound()


def sync(daemon, timeout=120):
    client = daemon.client(timeout=timeout)
    try:
        return client.call({"type": "sync_now"})
    finally:
        client.close()


def drain(daemon, attempts=6):
    """sync_now until nothing is pending (or attempts run out); returns the last result."""
    result = {}
    for _ in range(attempts):
        reply = sync(daemon)
        assert reply and reply.get("ok"), reply
        result = reply["result"]
        if result["pending_sessions"] == 0:
            break
    return result


def dump(record):
    return json.dumps(record, sort_keys=True)
