"""import_history: KOReader's statistics.sqlite3 queued as sessions (INTERFACE.md "Reading history")."""

import datetime
import hashlib
import os
import pty
import signal
import sqlite3
import subprocess

import pytest

from harness import SYNCCTL, Daemon, session, wait_until
from sync_fixtures import server_and_daemon, sync

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
MD5_A = hashlib.md5(b"book-a").hexdigest()
MD5_B = hashlib.md5(b"book-b").hexdigest()


def iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# KOReader's own schema: koreader/koreader fc88887662c27fbef956a46d7772f2dde1658384
# plugins/statistics.koplugin/main.lua, `book` at :464-479 and its index at :483,
# `page_stat_data` at :405-416 and its index at :419, journal mode at :456-460 (WAL where the
# device can, else TRUNCATE), user_version 20221111 at :35/:495. insertDB (:941-945) writes one
# row per page visit: start_time epoch seconds, duration seconds, total_pages of the layout.
KOREADER_SCHEMA = """
CREATE TABLE IF NOT EXISTS book
    (
        id integer PRIMARY KEY autoincrement,
        title text,
        authors text,
        notes      integer,
        last_open  integer,
        highlights integer,
        pages      integer,
        series text,
        language text,
        md5 text,
        total_read_time  integer,
        total_read_pages integer
    );
CREATE UNIQUE INDEX IF NOT EXISTS book_title_authors_md5 ON book(title, authors, md5);
CREATE TABLE IF NOT EXISTS page_stat_data
    (
        id_book     integer,
        page        integer NOT NULL DEFAULT 0,
        start_time  integer NOT NULL DEFAULT 0,
        duration    integer NOT NULL DEFAULT 0,
        total_pages integer NOT NULL DEFAULT 0,
        UNIQUE (id_book, page, start_time),
        FOREIGN KEY(id_book) REFERENCES book(id)
    );
CREATE INDEX IF NOT EXISTS page_stat_data_start_time ON page_stat_data(start_time);
PRAGMA user_version=20221111;
"""


class Statistics:
    """A statistics.sqlite3 written the way KOReader writes it."""

    def __init__(self, path, journal_mode="WAL"):
        self.path = path
        self.con = sqlite3.connect(str(path), isolation_level=None)
        self.con.execute(f"PRAGMA journal_mode={journal_mode}")
        self.con.executescript(KOREADER_SCHEMA)

    def book(self, title, md5):
        cur = self.con.execute(
            "INSERT INTO book (title, authors, notes, last_open, highlights, pages, md5, "
            "total_read_time, total_read_pages) VALUES (?, 'Author', 0, 0, 0, 200, ?, 0, 0)",
            (title, md5))
        return cur.lastrowid

    def visits(self, id_book, rows):
        """rows: (page, start_time, duration, total_pages), in one transaction like insertDB."""
        self.con.execute("BEGIN")
        self.con.executemany("INSERT OR IGNORE INTO page_stat_data VALUES(?, ?, ?, ?, ?)",
                             [(id_book, *r) for r in rows])
        self.con.execute("COMMIT")

    def close(self):
        self.con.close()


def standard_history(path, journal_mode="WAL"):
    """Book A: two sessions (the 300 s rule) and one too short; book B: one session."""
    stats = Statistics(path, journal_mode)
    a = stats.book("Book A", MD5_A.upper())  # KOReader's md5 case is not ours to trust
    b = stats.book("Book B", MD5_B)
    stats.visits(a, [
        (10, T0, 60, 200), (11, T0 + 160, 40, 200),   # 100 s gap
        (12, T0 + 500, 30, 200),                       # exactly 300 s: same session
        (13, T0 + 831, 50, 200), (14, T0 + 881, 20, 200),  # 301 s: a new session
        (15, T0 + 5000, 20, 200),                      # 20 s alone: shorter than 30
    ])
    stats.visits(b, [(1, T0 + 100, 120, 50), (5, T0 + 300, 120, 50)])
    return stats


def stamp(path):
    st = os.stat(path)
    return path.read_bytes(), st.st_mtime_ns, st.st_size


def import_history(d, path, **fields):
    return d.request({"type": "import_history", "path": str(path), **fields})


def pending(d):
    return d.sql("SELECT book_hash, start_time, end_time, duration_seconds, start_progress, "
                 "end_progress, start_location, end_location, event_id, book_title "
                 "FROM pending_sessions ORDER BY book_hash, start_time")


def test_visits_become_sessions_by_the_300_second_rule(daemon):
    stats = standard_history(daemon.dir / "statistics.sqlite3")
    stats.close()
    # The reader opened book B from a PDF: its type comes from there; book A's is EPUB.
    opened = daemon.request({"type": "book_opened", "file_path": "/mnt/books/b.pdf",
                             "book_hash": MD5_B})
    assert opened["ok"], opened
    reply = import_history(daemon, stats.path)
    assert reply == {"ok": True, "imported": 3, "skipped": 1, "books": 2}, reply
    rows = {(r[0], r[1]): r for r in pending(daemon)}
    assert len(rows) == 3
    a1 = rows[(MD5_A, iso(T0))]
    assert a1[2:8] == (iso(T0 + 530), 130, 5.0, 6.0, "10", "12")
    assert a1[8] == f"history:{MD5_A}:{T0}" and a1[9] == "Book A"
    a2 = rows[(MD5_A, iso(T0 + 831))]
    assert a2[2:8] == (iso(T0 + 901), 70, 6.5, 7.0, "13", "14")
    b = rows[(MD5_B, iso(T0 + 100))]
    assert b[2:8] == (iso(T0 + 420), 240, 2.0, 10.0, "1", "5")
    types = dict(daemon.sql("SELECT book_hash, book_type FROM pending_sessions"))
    assert types == {MD5_A: "EPUB", MD5_B: "PDF"}


def test_min_session_seconds_is_the_daemons_setting(daemon_factory):
    d = daemon_factory(min_session_seconds=100).start()
    standard_history(d.dir / "statistics.sqlite3").close()
    reply = import_history(d, d.dir / "statistics.sqlite3")
    # Only book A's first session (130 s) and book B's (240 s) are long enough.
    assert reply == {"ok": True, "imported": 2, "skipped": 2, "books": 2}, reply


def test_overlap_with_live_sessions_and_a_second_import_queues_nothing_twice(daemon):
    stats = standard_history(daemon.dir / "statistics.sqlite3")
    # The reader already sent book B's reading live (its own boundaries, slightly different).
    live = daemon.request(session(book_hash=MD5_B, start_time=T0 + 90, end_time=T0 + 400,
                                  duration_seconds=300))
    assert live["ok"] and live["queued"], live
    first = import_history(daemon, stats.path)
    assert first == {"ok": True, "imported": 2, "skipped": 2, "books": 1}, first
    second = import_history(daemon, stats.path)
    assert second == {"ok": True, "imported": 0, "skipped": 4, "books": 0}, second
    # KOReader read on: a new session after the import, and one that extends an imported one.
    a = stats.con.execute("SELECT id FROM book WHERE title = 'Book A'").fetchone()[0]
    stats.visits(a, [(16, T0 + 901 + 200, 60, 200), (40, T0 + 90_000, 600, 200)])
    third = import_history(daemon, stats.path)
    assert third == {"ok": True, "imported": 1, "skipped": 4, "books": 1}, third
    assert daemon.sql("SELECT count(*) FROM pending_sessions")[0][0] == 4
    assert daemon.sql("SELECT count(*) FROM pending_sessions WHERE book_hash = ?",
                      (MD5_B,))[0][0] == 1


def test_uploaded_sessions_are_not_imported_again():
    with server_and_daemon("B", books=[(201, MD5_A), (202, MD5_B)]) as (server, d):
        standard_history(d.dir / "statistics.sqlite3").close()
        assert import_history(d, d.dir / "statistics.sqlite3")["imported"] == 3
        result = sync(d)
        assert result["sessions_uploaded"] == 3 and result["pending_sessions"] == 0, result
        # Uploaded sessions left the queue; the history still queues nothing again.
        again = import_history(d, d.dir / "statistics.sqlite3")
        assert again == {"ok": True, "imported": 0, "skipped": 4, "books": 0}, again
        assert sync(d)["sessions_uploaded"] == 0
        assert len(server.sessions()) == 3


@pytest.mark.parametrize("journal_mode", ["WAL", "TRUNCATE"])
def test_the_file_is_read_only_and_may_be_open_in_koreader(daemon, journal_mode):
    stats = standard_history(daemon.dir / "statistics.sqlite3", journal_mode)
    if journal_mode == "WAL":
        stats.con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # KOReader holds the file open, in the middle of its next insertDB.
    stats.con.execute("BEGIN IMMEDIATE")
    stats.con.execute("INSERT INTO page_stat_data VALUES (2, 9, ?, 500, 50)", (T0 + 9000,))
    before = stamp(stats.path)
    reply = import_history(daemon, stats.path)
    assert reply == {"ok": True, "imported": 3, "skipped": 1, "books": 2}, reply
    assert stamp(stats.path) == before
    stats.con.execute("COMMIT")
    # What KOReader committed since is read by the next import.
    assert import_history(daemon, stats.path)["imported"] == 1
    stats.close()


def test_bad_paths_answer_invalid_field_and_lose_nothing(daemon):
    queued = daemon.request(session(1))
    assert queued["ok"] and queued["queued"]
    missing = daemon.dir / "nothing-here.sqlite3"
    garbage = daemon.dir / "garbage.sqlite3"
    garbage.write_bytes(os.urandom(16384))
    other = daemon.dir / "other.sqlite3"
    sqlite3.connect(str(other)).executescript("CREATE TABLE book (id INTEGER PRIMARY KEY);")
    cases = [(missing, "there is no file"), (garbage, "not an SQLite database"),
             (other, "does not hold KOReader's reading statistics"), (daemon.dir, "is a folder")]
    for path, says in cases:
        reply = import_history(daemon, path)
        assert not reply["ok"], reply
        assert reply["error"]["code"] == "invalid_field" and reply["error"]["field"] == "path"
        assert says in reply["error"]["message"] and str(path) in reply["error"]["message"]
    assert not missing.exists()
    for fields in ({"path": 12}, {"path": ""}, {}, {"path": str(other), "wait": "yes"}):
        reply = daemon.request({"type": "import_history", **fields})
        assert reply["error"]["code"] == "invalid_field", reply
    assert daemon.request({"type": "status"})["pending_sessions"] == 1
    assert daemon.alive()


def test_progress_events_and_live_sessions_during_a_large_import(daemon):
    stats = Statistics(daemon.dir / "statistics.sqlite3")
    book = stats.book("Long", MD5_A)
    # 450 sessions an hour apart: three groups of at most 200.
    stats.visits(book, [(i, T0 + i * 3600, 60, 500) for i in range(450)])
    stats.close()
    watcher = daemon.client()
    assert watcher.call({"type": "subscribe"})["ok"]
    importer = daemon.client()
    importer.send({"type": "import_history", "path": str(stats.path), "id": "imp"})
    # Live sessions of another book sent while the import runs are all kept.
    live = daemon.client()
    replies = [live.call(session(i, book_hash=MD5_B, event_id=f"live-{i}")) for i in range(20)]
    assert all(r["ok"] and r["queued"] for r in replies)
    reply = importer.recv()
    assert reply == {"ok": True, "imported": 450, "skipped": 0, "books": 1, "id": "imp"}, reply
    events = []
    while not events or events[-1]["done"] < 450:
        msg = watcher.recv()
        if msg.get("event") == "import_progress":
            events.append(msg)
    assert [e["done"] for e in events] == [200, 400, 450]
    assert all(e["total"] == 450 for e in events)
    assert daemon.sql("SELECT count(*) FROM pending_sessions")[0][0] == 470


def test_without_wait_the_reply_comes_first(daemon):
    standard_history(daemon.dir / "statistics.sqlite3").close()
    reply = import_history(daemon, daemon.dir / "statistics.sqlite3", wait=False)
    assert reply == {"ok": True, "started": True, "total": 3}, reply
    wait_until(lambda: daemon.sql("SELECT count(*) FROM pending_sessions")[0][0] == 3,
               what="the background import")
    wait_until(lambda: "history_imported imported=3 skipped=1 books=2" in daemon.log_text(),
               what="the import's log line")


def test_syncctl_import_history(daemon):
    standard_history(daemon.dir / "statistics.sqlite3").close()
    # A relative PATH is the caller's, not the daemon's.
    r = subprocess.run([str(SYNCCTL), "--socket", str(daemon.socket), "import-history",
                        "statistics.sqlite3"], capture_output=True, text=True, cwd=daemon.dir,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("imported 3 sessions of 2 books; skipped 1"), r.stdout
    r = daemon.ctl("--json", "import-history", str(daemon.dir / "statistics.sqlite3"))
    assert r.returncode == 0 and '"imported":0' in r.stdout and '"skipped":4' in r.stdout
    r = daemon.ctl("import-history", str(daemon.dir / "missing.sqlite3"))
    assert r.returncode == 1 and "there is no file" in r.stderr, r.stderr
    assert daemon.ctl("import-history").returncode == 2


def test_syncctl_draws_a_progress_bar_on_a_terminal(daemon):
    stats = Statistics(daemon.dir / "statistics.sqlite3")
    stats.visits(stats.book("Long", MD5_A), [(i, T0 + i * 3600, 60, 500) for i in range(250)])
    stats.close()
    parent, child = pty.openpty()
    p = subprocess.Popen([str(SYNCCTL), "--socket", str(daemon.socket),
                          "import-history", str(stats.path)],
                         stdout=subprocess.PIPE, stderr=child, text=True)
    os.close(child)
    out, _ = p.communicate(timeout=60)
    terminal = b""
    while True:
        try:
            chunk = os.read(parent, 4096)
        except OSError:
            break
        if not chunk:
            break
        terminal += chunk
    os.close(parent)
    assert p.returncode == 0 and out.startswith("imported 250 sessions"), out
    assert b"[" + b"#" * 30 + b"] 250/250 sessions" in terminal, terminal


def test_sigterm_during_an_import_keeps_every_committed_group(daemon):
    stats = Statistics(daemon.dir / "statistics.sqlite3")
    for b in range(20):
        book = stats.book(f"Book {b}", hashlib.md5(f"many-{b}".encode()).hexdigest())
        stats.visits(book, [(i, T0 + (b * 1000 + i) * 3600, 60, 500) for i in range(1000)])
    stats.close()
    watcher = daemon.client()
    assert watcher.call({"type": "subscribe"})["ok"]
    importer = daemon.client()
    importer.send({"type": "import_history", "path": str(stats.path)})
    while watcher.recv().get("event") != "import_progress":
        pass
    daemon.process.send_signal(signal.SIGTERM)
    # The socket closes at shutdown: a reply only if the import was faster than the signal.
    reply = importer.recv()
    assert daemon.stop() == 0
    queued = daemon.sql("SELECT count(*) FROM pending_sessions")[0][0]
    assert queued % 200 == 0 and 200 <= queued, queued
    assert reply is None or reply["imported"] == queued == 20_000, reply
    # Importing again after the restart adds exactly the rest.
    daemon.start()
    again = import_history(daemon, stats.path)
    assert again["imported"] == 20_000 - queued and again["skipped"] == queued, again


def test_a_full_disk_stops_the_import_and_says_what_was_committed():
    from test_full_disk import small_disk
    with small_disk() as disk:
        d = Daemon(manual_sync_only=True, database=str(disk / "queue.sqlite"))
        d.database = disk / "queue.sqlite"
        try:
            d.start()
            stats = Statistics(d.dir / "statistics.sqlite3")
            # A long title on every row: 3,000 sessions cannot fit in 1 MiB.
            book = stats.book("T" * 3000, MD5_A)
            stats.visits(book, [(i, T0 + i * 3600, 60, 500) for i in range(3000)])
            stats.close()
            reply = import_history(d, stats.path)
            assert not reply["ok"] and reply["error"]["code"] == "storage_full", reply
            queued = d.sql("SELECT count(*) FROM pending_sessions")[0][0]
            assert queued % 200 == 0, queued
            message = reply["error"]["message"]
            assert (f"after {queued} sessions were imported" in message if queued
                    else "nothing was queued" in message), message
            assert d.request({"type": "status"})["pending_sessions"] == queued
        finally:
            d.cleanup()
