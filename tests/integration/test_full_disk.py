"""Full disk (issue 2): refused with storage_full, never acknowledged falsely, accepted again.

The database lives on a small tmpfs (or, where tmpfs cannot be mounted, a loop-mounted ext4
image); the socket stays outside it. `PRAGMA max_page_count` is per connection, so it cannot be
set on the daemon's connection from outside: a really full filesystem is the way.
"""

import contextlib
import errno
import os
import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness import Daemon, session

DISK_BYTES = 1024 * 1024
TITLE = "T" * 4000  # near the 4096-character limit: each row takes a good part of a page


def try_mount_tmpfs(where, size):
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(where)], capture_output=True, text=True)


def try_mount_ext4_image(where, image, size, block_size=4096):
    """A loop-mounted ext4 image. 4 KiB blocks by default: with blocks smaller than a memory
    page SQLite's shared-memory file can be sparse, see test_restart_on_a_full_disk_..."""
    with open(image, "wb") as f:
        f.truncate(size + 1024 * 1024)  # room for ext4's own metadata
    made = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-b", str(block_size), str(image)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        return made
    return subprocess.run(["mount", "-o", "loop", str(image), str(where)],
                          capture_output=True, text=True)


@contextlib.contextmanager
def small_disk(size=DISK_BYTES):
    """A freshly mounted small filesystem; skips the test when nothing can be mounted."""
    base = Path(tempfile.mkdtemp(prefix="bls-disk-"))
    where = base / "disk"
    where.mkdir()
    reasons = []
    mounted = False
    try:
        if os.geteuid() != 0:
            pytest.skip("mounting a small filesystem needs root")
        kinds = [("tmpfs", lambda: try_mount_tmpfs(where, size)),
                 ("ext4 loop image", lambda: try_mount_ext4_image(where, base / "img", size))]
        # FULL_DISK_KIND=ext4 tests the fallback on a machine where tmpfs works.
        if os.environ.get("FULL_DISK_KIND") == "ext4":
            kinds = kinds[1:]
        for kind, attempt in kinds:
            try:
                proc = attempt()
            except FileNotFoundError as e:
                reasons.append(f"{kind}: {e}")
                continue
            if proc.returncode == 0:
                mounted = True
                print(f"full-disk test on a {kind}")
                break
            reasons.append(f"{kind}: {proc.stderr.strip()}")
        if not mounted:
            pytest.skip("cannot mount a small filesystem: " + "; ".join(reasons))
        yield where
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def fill(directory):
    """Writes filler files until the filesystem refuses even one more byte."""
    fillers = []
    for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
        path = directory / f"filler-{chunk}"
        fillers.append(path)
        with open(path, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    return fillers


def rows_by_event(database):
    con = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)
    try:
        return dict(con.execute("SELECT event_id, count(*) FROM pending_sessions GROUP BY event_id"))
    finally:
        con.close()


def test_full_disk_refuses_with_storage_full_and_recovers():
    with small_disk() as disk:
        d = Daemon(manual_sync_only=True, database=str(disk / "queue.sqlite"))
        d.database = disk / "queue.sqlite"  # what Daemon.sql() and the checks read
        try:
            d.start()
            c = d.client()
            ok = {}        # event_id -> queue_id of every ok reply
            refused = []   # (event_id, error code) of every refusal
            n = 0

            def send(client):
                nonlocal n
                event_id = f"disk-{n:05d}"
                reply = client.call(session(n, event_id=event_id, title=TITLE))
                n += 1
                if reply["ok"]:
                    assert reply["queued"] and not reply["duplicate"], reply
                    ok[event_id] = reply["queue_id"]
                else:
                    refused.append((event_id, reply["error"]["code"]))
                return event_id, reply

            def assert_rows_match_ok_replies():
                stored = rows_by_event(d.database)
                assert set(stored) == set(ok), set(stored) ^ set(ok)
                assert all(count == 1 for count in stored.values())

            for _ in range(5):
                assert send(c)[1]["ok"]
            fillers = fill(disk)

            # SQLite may still have room in space it already owns: keep sending until it runs
            # out, then make sure the refusals persist.
            consecutive = 0
            while consecutive < 10:
                assert n < 500, "the full disk never refused a session"
                _, reply = send(c)
                consecutive = 0 if reply["ok"] else consecutive + 1
            assert {code for _, code in refused} == {"storage_full"}, refused
            deletion = c.call({"type": "book_deleted", "file_path": "/mnt/full.epub",
                               "event_id": "disk-deletion"})
            assert deletion["ok"] is False and deletion["error"]["code"] == "storage_full", deletion
            assert "nothing was queued" in deletion["error"]["message"]

            # Alive and answering; no acknowledged row missing, no refused row present.
            assert d.alive()
            status = d.request({"type": "status"})
            assert status["pending_sessions"] == len(ok) and status["pending_deletions"] == 0
            assert_rows_match_ok_replies()
            c.close()

            # Killed and restarted while the disk is still full: it starts, and still refuses.
            d.kill()
            d.start()
            c = d.client()
            _, reply = send(c)
            assert reply["ok"] is False and reply["error"]["code"] == "storage_full", reply
            assert_rows_match_ok_replies()
            ok_while_full, refused_while_full = len(ok), len(refused)

            # Space returns: the very next event is accepted, then the refused ones too, as new
            # rows (not duplicates: nothing of them had been written).
            for f in fillers:
                f.unlink()
            _, reply = send(c)
            assert reply["ok"], reply
            for event_id, _ in refused:
                again = c.call(session(int(event_id.split("-")[1]), event_id=event_id, title=TITLE))
                assert again["ok"] and again["duplicate"] is False, again
                ok[event_id] = again["queue_id"]
            deletion = c.call({"type": "book_deleted", "file_path": "/mnt/full.epub",
                               "event_id": "disk-deletion"})
            assert deletion["ok"] and deletion["duplicate"] is False, deletion
            c.close()

            assert_rows_match_ok_replies()
            assert dict(d.sql("SELECT event_id, id FROM pending_sessions")) == ok
            assert d.sql("PRAGMA integrity_check") == [("ok",)]
            assert d.alive()
            assert d.stop() == 0
            print(f"full-disk test: acked_until_full={ok_while_full} "
                  f"refused_storage_full={refused_while_full} acked_at_end={len(ok)} "
                  f"requests={n + refused_while_full + 2}")
        finally:
            d.cleanup()


def test_the_queue_does_not_fill_a_small_disk_with_wal_history():
    with small_disk() as disk:
        d = Daemon(manual_sync_only=True, database=str(disk / "queue.sqlite"))
        d.database = disk / "queue.sqlite"
        try:
            d.start()
            c = d.client()
            accepted = 0
            while accepted < 200:
                reply = c.call(session(accepted, event_id=f"small-{accepted}"))
                if not reply["ok"]:
                    assert reply["error"]["code"] == "storage_full", reply
                    break
                accepted += 1
            c.close()
            print(f"small disk: {accepted} short sessions fit on {DISK_BYTES} bytes; files: "
                  + ", ".join(f"{p.name}={p.stat().st_size}" for p in sorted(disk.iterdir())))
            assert d.sql("SELECT count(*) FROM pending_sessions") == [(accepted,)]
            # A few hundred bytes of data a session: 200 of them need far less than 1 MiB.
            assert accepted == 200
        finally:
            d.cleanup()


@pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
    "BUG (SQLite limitation the daemon does not guard against): after a crash, the first "
    "connection rebuilds the -shm; SQLite makes it non-sparse by writing one byte per 4 KiB "
    "memory page, which on a filesystem with 1 KiB blocks leaves holes; the mmap write into a "
    "hole on a full disk raises SIGBUS and the daemon dies at start-up (exit -7) until space "
    "returns. No acknowledged data is lost (the -wal is intact)."))
def test_restart_on_a_full_disk_with_1k_blocks_after_a_crash():
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    base = Path(tempfile.mkdtemp(prefix="bls-disk-"))
    disk = base / "disk"
    disk.mkdir()
    try:
        proc = try_mount_ext4_image(disk, base / "img", DISK_BYTES, block_size=1024)
    except FileNotFoundError as e:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"no mkfs.ext4: {e}")
    if proc.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip("cannot mount an ext4 image: " + proc.stderr.strip())
    d = Daemon(manual_sync_only=True, database=str(disk / "queue.sqlite"))
    d.database = disk / "queue.sqlite"
    try:
        d.start()
        c = d.client()
        acked = set()
        for i in range(5):
            assert c.call(session(i, event_id=f"k-{i}", title=TITLE))["ok"]
            acked.add(f"k-{i}")
        fill(disk)
        for i in range(5, 10):
            assert c.call(session(i, event_id=f"k-{i}", title=TITLE))["error"]["code"] == "storage_full"
        c.close()
        d.kill()
        d.start()  # dies with SIGBUS here
        reply = d.request(session(10, event_id="k-10", title=TITLE))
        assert reply["ok"] is False and reply["error"]["code"] == "storage_full", reply
        assert set(rows_by_event(d.database)) == acked
    finally:
        d.cleanup()
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
