"""Crash test (issue 2): SIGKILL at random moments never loses an acknowledged session.

A client sends 2,000 sessions, each with its own event_id, while another thread kills the daemon
with SIGKILL every 50-300 ms and starts it again. The client reconnects and resends whatever has
no `ok` reply yet. At the end every acknowledged session is in the database exactly once, under
the queue_id its reply named, and `PRAGMA integrity_check` says ok.
"""

import os
import random
import sqlite3
import threading
import time

import pytest

from harness import Client, Daemon, session

SESSIONS = 2000
# Bounded: well under a minute in a normal build; the sanitizer build runs several times slower.
DEADLINE_SECONDS = 150 if os.environ.get("BOOKLORE_SANITIZED") in ("1", "ON", "TRUE") else 55
# The sends are spread over at least this long, so that a fast machine (under a millisecond a
# session) still sees dozens of kills; a slow one is not held back.
MIN_RUN_SECONDS = 8
MIN_KILLS = 15
# Every few kills the daemon is killed again while it is still starting up (opening, checking
# or migrating the database), not only while it serves.
KILL_DURING_START_EVERY = 5


class Killer(threading.Thread):
    """Kills and restarts the daemon at random moments until told to stop."""

    def __init__(self, daemon, rnd):
        super().__init__(daemon=True)
        self.d = daemon
        self.rnd = rnd
        self.stop_event = threading.Event()
        self.kills = 0
        self.kills_during_start = 0
        self.error = None

    def run(self):
        try:
            while not self.stop_event.wait(self.rnd.uniform(0.05, 0.30)):
                self.d.kill()
                self.kills += 1
                if self.kills % KILL_DURING_START_EVERY == 0:
                    self.d.start(wait=False)
                    time.sleep(self.rnd.uniform(0.0, 0.02))
                    self.d.kill()
                    self.kills_during_start += 1
                self.d.start()
        except Exception as e:  # noqa: BLE001 - reported by the test thread
            self.error = e


def connect(daemon, deadline):
    """A connection to whichever daemon is running, retrying while it restarts."""
    while True:
        try:
            return Client(daemon.socket, timeout=10)
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError("could not reach the daemon before the deadline")
            time.sleep(0.005)


class Sender(threading.Thread):
    """One client: sends its sessions in order, resending each until it gets an answer."""

    def __init__(self, daemon, numbers, started, deadline):
        super().__init__(daemon=True)
        self.d = daemon
        self.numbers = numbers
        self.started = started
        self.deadline = deadline
        self.acked = {}        # event_id -> queue_id of its ok reply
        self.sends = 0
        self.lost_replies = 0  # killed between request and reply: resent
        self.duplicates = 0    # ok replies with duplicate:true (an earlier, lost reply committed)
        self.error = None

    def run(self):
        try:
            self.send_all()
        except BaseException as e:  # noqa: BLE001 - reported by the test thread
            self.error = e

    def send_all(self):
        client = None
        for i in self.numbers:
            event_id = f"crash-{i:05d}"
            # Pacing, not waiting for anything: session i goes out no earlier than its share.
            ahead = self.started + MIN_RUN_SECONDS * i / SESSIONS - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            while True:
                if time.monotonic() > self.deadline:
                    raise AssertionError(f"{len(self.acked)} of {len(self.numbers)} acknowledged "
                                         f"in {DEADLINE_SECONDS}s")
                if client is None:
                    client = connect(self.d, self.deadline)
                self.sends += 1
                try:
                    reply = client.call(session(i, event_id=event_id, id=i))
                except OSError:
                    reply = None
                if reply is not None:
                    break
                # No answer: unknown whether it was committed; send it again.
                self.lost_replies += 1
                client.close()
                client = None
            assert reply.get("ok") is True, reply
            assert reply["id"] == i and reply["queued"] is True, reply
            self.duplicates += reply["duplicate"]
            self.acked[event_id] = reply["queue_id"]
        if client is not None:
            client.close()


@pytest.mark.parametrize("clients", [1, 4])
def test_sigkill_at_random_moments_loses_no_acknowledged_session(clients):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    print(f"crash test seed={seed} (set CRASH_SEED to repeat)")
    rnd = random.Random(seed)
    d = Daemon(manual_sync_only=True)
    killer = Killer(d, rnd)
    senders = []
    try:
        d.start()
        started = time.monotonic()
        deadline = started + DEADLINE_SECONDS
        # Several clients make the daemon commit several sessions in one transaction.
        senders = [Sender(d, range(k, SESSIONS, clients), started, deadline)
                   for k in range(clients)]
        killer.start()
        for s in senders:
            s.start()
        for s in senders:
            s.join(timeout=DEADLINE_SECONDS + 30)
            assert not s.is_alive()
            assert killer.error is None, f"restarting the daemon failed: {killer.error}"
            if s.error is not None:
                raise s.error
        killer.stop_event.set()
        killer.join(timeout=30)
        assert not killer.is_alive()
        assert killer.error is None, f"restarting the daemon failed: {killer.error}"

        # One last SIGKILL, so the check reads the file exactly as a crash leaves it.
        d.kill()
        con = sqlite3.connect(str(d.database), timeout=10)
        try:
            assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            rows = con.execute("SELECT event_id, id FROM pending_sessions").fetchall()
            per_event = dict(con.execute(
                "SELECT event_id, count(*) FROM pending_sessions GROUP BY event_id").fetchall())
        finally:
            con.close()

        acked = {}
        for s in senders:
            acked.update(s.acked)
        print(f"crash test: clients={clients} sent={sum(s.sends for s in senders)} "
              f"(distinct {SESSIONS}) acked={len(acked)} kills={killer.kills} "
              f"kills_during_start={killer.kills_during_start} "
              f"replies_lost={sum(s.lost_replies for s in senders)} "
              f"acked_as_duplicate={sum(s.duplicates for s in senders)}")
        assert len(acked) == SESSIONS
        assert killer.kills >= MIN_KILLS, "the daemon was hardly killed; the test proved little"
        # Every acknowledged session exactly once, under the id its reply named; nothing else.
        assert all(n == 1 for n in per_event.values()), {e: n for e, n in per_event.items() if n != 1}
        assert dict(rows) == acked
        assert len(rows) == SESSIONS

        # No crash made the daemon think its file was corrupt.
        assert not list(d.dir.glob("queue.sqlite.corrupt-*")), d.log_text()[-2000:]
        d.start()
        status = d.request({"type": "status"})
        assert status["pending_sessions"] == SESSIONS
        assert d.stop() == 0
    finally:
        killer.stop_event.set()
        killer.join(timeout=30)
        d.cleanup()
