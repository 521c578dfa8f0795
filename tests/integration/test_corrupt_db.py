"""Corrupt database at start (issue 2): moved aside with its -wal and -shm, never deleted; a fresh
database is created and the daemon starts and queues."""

import random
import sqlite3

from harness import session


def files_in(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}


def quarantined(d):
    """The moved-aside main file: queue.sqlite.corrupt-<UTC stamp>."""
    moved = [p for p in d.dir.glob("queue.sqlite.corrupt-*")
             if not p.name.endswith(("-wal", "-shm", "-journal"))]
    assert len(moved) == 1, (sorted(p.name for p in d.dir.iterdir()), d.log_text()[-2000:])
    return moved[0]


def companion(path, suffix):
    return path.with_name(path.name + suffix)


def assert_fresh_and_queuing(d):
    assert d.sql("PRAGMA integrity_check") == [("ok",)]
    assert d.sql("SELECT count(*) FROM pending_sessions") == [(0,)]
    r = d.request(session(1, event_id="after-quarantine"))
    assert r["ok"] and r["queued"] and not r["duplicate"], r
    assert d.sql("SELECT id, event_id FROM pending_sessions") == [(r["queue_id"], "after-quarantine")]
    status = d.request({"type": "status"})
    assert status["pending_sessions"] == 1


def test_garbage_file_is_moved_aside_with_its_wal_and_shm(daemon_factory):
    d = daemon_factory(manual_sync_only=True)
    rnd = random.Random(7)
    garbage = bytes(rnd.randrange(256) for _ in range(20000))
    wal = b"not a wal " * 500
    shm = bytes(rnd.randrange(256) for _ in range(32768))
    d.database.write_bytes(garbage)
    companion(d.database, "-wal").write_bytes(wal)
    companion(d.database, "-shm").write_bytes(shm)

    d.start()
    moved = quarantined(d)
    assert moved.read_bytes() == garbage
    assert companion(moved, "-wal").read_bytes() == wal
    assert companion(moved, "-shm").read_bytes() == shm
    log = d.log_text()
    assert "database_quarantined" in log and str(moved) in log
    assert_fresh_and_queuing(d)
    # The fresh file did not inherit the stray companions.
    assert d.database.read_bytes()[:16] == b"SQLite format 3\0"

    # A clean restart keeps the fresh file and quarantines nothing more.
    assert d.stop() == 0
    d.start()
    assert len(list(d.dir.glob("queue.sqlite.corrupt-*"))) == 3
    assert d.request({"type": "status"})["pending_sessions"] == 1


def test_a_short_garbage_file_is_moved_aside_too(daemon_factory):
    d = daemon_factory(manual_sync_only=True)
    d.database.write_bytes(b"hello\n")
    d.start()
    moved = quarantined(d)
    assert moved.read_bytes() == b"hello\n"
    assert_fresh_and_queuing(d)


def fill_real_database(d, count=400):
    d.start()
    c = d.client()
    for i in range(count):
        r = c.call(session(i, event_id=f"real-{i}", title=f"Book {i} " + "x" * 300))
        assert r["ok"], r
    c.close()


def overwrite_middle_pages(path, rnd):
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = len(data) // page_size
    assert pages >= 20, f"only {pages} pages: too small a database to damage in the middle"
    first, last = pages // 3, 2 * pages // 3
    for page in range(first, last):
        start = page * page_size
        data[start:start + page_size] = bytes(rnd.randrange(256) for _ in range(page_size))
    path.write_bytes(bytes(data))
    return bytes(data), last - first, pages


def test_real_database_with_pages_overwritten_in_the_middle(daemon_factory):
    d = daemon_factory(manual_sync_only=True)
    fill_real_database(d)
    assert d.stop() == 0  # a clean stop checkpoints: everything is in the main file
    assert not companion(d.database, "-wal").exists() or \
        companion(d.database, "-wal").stat().st_size == 0
    damaged, overwritten, pages = overwrite_middle_pages(d.database, random.Random(11))
    # The damage is real: SQLite itself finds it.
    con = sqlite3.connect(str(d.database))
    try:
        try:
            check = con.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as e:
            check = [(str(e),)]
    finally:
        con.close()
    assert check != [("ok",)]
    before = files_in(d.dir)

    d.start()
    moved = quarantined(d)
    assert moved.read_bytes() == damaged
    # Whatever companions existed were moved, not deleted.
    for suffix in ("-wal", "-shm"):
        if "queue.sqlite" + suffix in before:
            assert companion(moved, suffix).exists(), suffix
    assert "database_quarantined" in d.log_text()
    assert_fresh_and_queuing(d)
    print(f"corrupt-db test: overwrote {overwritten} of {pages} pages; moved to {moved.name}")


def test_corrupt_database_left_by_a_crash_keeps_its_wal(daemon_factory):
    """SIGKILL leaves a -wal behind; the damaged file is moved together with it, bytes intact."""
    d = daemon_factory(manual_sync_only=True)
    fill_real_database(d)
    assert d.stop() == 0
    d.start()
    for i in range(400, 420):
        assert d.request(session(i, event_id=f"real-{i}"))["ok"]
    d.kill()
    wal_path = companion(d.database, "-wal")
    assert wal_path.exists() and wal_path.stat().st_size > 0, "expected a WAL after SIGKILL"
    wal = wal_path.read_bytes()
    damaged, _, _ = overwrite_middle_pages(d.database, random.Random(13))

    d.start()
    moved = quarantined(d)
    assert moved.read_bytes() == damaged
    assert companion(moved, "-wal").read_bytes() == wal
    assert companion(moved, "-shm").exists()
    assert_fresh_and_queuing(d)
