"""The daemon core: events queued durably behind the socket (issue 2)."""

import json
import os
import stat
import subprocess

from harness import SYNCD, Daemon, session, wait_until


def test_sessions_and_deletions_are_queued_and_readable_with_the_seed_queries(daemon):
    replies = [daemon.request(session(i)) for i in range(3)]
    assert [r["ok"] for r in replies] == [True] * 3
    assert all(r["queued"] and not r["duplicate"] for r in replies)
    ids = [r["queue_id"] for r in replies]
    assert len(set(ids)) == 3

    deletion = daemon.request({"type": "book_deleted", "file_path": "/mnt/onboard/a.epub",
                               "book_hash": "ABCDEF0123456789ABCDEF0123456789"})
    assert deletion["ok"] and deletion["queued"] and not deletion["duplicate"]

    # The documented inspection commands work while the daemon runs.
    out = subprocess.run(
        ["sqlite3", str(daemon.database),
         "SELECT id, book_hash, duration_seconds, retry_count, created_at FROM pending_sessions;"],
        capture_output=True, text=True, check=True).stdout.strip().splitlines()
    assert [int(line.split("|")[0]) for line in out] == ids
    assert all(line.split("|")[2] == "600" and line.split("|")[3] == "0" for line in out)
    rows = daemon.sql("SELECT id, file_path, book_id, created_at, book_hash FROM pending_deletions")
    assert rows[0][0] == deletion["queue_id"]
    assert rows[0][1] == "/mnt/onboard/a.epub" and rows[0][2] is None
    assert rows[0][4] == "abcdef0123456789abcdef0123456789"
    assert rows[0][3].endswith("Z") and "T" in rows[0][3]


def test_fields_are_normalised(daemon):
    r = daemon.request(session(0, book_hash="0123456789ABCDEF0123456789ABCDEF",
                               file_path="/books/x.PDF", start_time="2026-02-22T15:00:00+01:00",
                               end_time="2026-02-22T14:30:00.250Z", duration_seconds=1800,
                               start_location=120, book_id=None))
    assert r["ok"], r
    row = daemon.sql("SELECT book_hash, book_type, start_time, end_time, start_location, "
                     "book_id, progress_delta FROM pending_sessions")[0]
    assert row == ("0123456789abcdef0123456789abcdef", "PDF", "2026-02-22T14:00:00Z",
                   "2026-02-22T14:30:00Z", "120", None, 2.5)
    r = daemon.request(session(1, book_type="cbx", file_path="/books/y.epub"))
    assert r["ok"]
    assert daemon.sql("SELECT book_type FROM pending_sessions WHERE id=?", (r["queue_id"],)) == [("CBX",)]
    # The file is remembered in book_cache for the lookup at the next sync.
    assert daemon.sql("SELECT file_path FROM book_cache ORDER BY file_path") == [
        ("/books/x.PDF",), ("/books/y.epub",)]


def test_repeated_event_id_answers_as_the_first_did(daemon):
    first = daemon.request(session(0, event_id="kobo-42"))
    again = daemon.request(session(0, event_id="kobo-42"))
    assert first["duplicate"] is False and again["duplicate"] is True
    assert again["queue_id"] == first["queue_id"]
    assert daemon.sql("SELECT count(*) FROM pending_sessions") == [(1,)]
    d1 = daemon.request({"type": "book_deleted", "file_path": "/a.epub", "event_id": "del-1"})
    d2 = daemon.request({"type": "book_deleted", "file_path": "/a.epub", "event_id": "del-1"})
    assert d2["duplicate"] and d2["queue_id"] == d1["queue_id"]


def test_short_sessions_are_not_queued(daemon):
    r = daemon.request(session(0, duration_seconds=29, end_time=1_767_225_600 + 29))
    assert r == {"ok": True, "queued": False, "reason": "too_short"}
    assert daemon.sql("SELECT count(*) FROM pending_sessions") == [(0,)]


def test_field_errors_name_the_field(daemon):
    cases = [
        ({"book_hash": "xyz"}, "book_hash"),
        ({"book_hash": None}, "book_hash"),
        ({"start_time": "2026-02-22T14:00:00"}, "start_time"),
        ({"start_time": "yesterday"}, "start_time"),
        ({"end_time": 1_767_225_600 - 10}, "end_time"),
        ({"duration_seconds": "600"}, "duration_seconds"),
        ({"duration_seconds": -1}, "duration_seconds"),
        ({"duration_seconds": 601.5}, "duration_seconds"),
        ({"duration_seconds": 100000}, "duration_seconds"),
        ({"book_id": 0}, "book_id"),
        ({"book_id": "12"}, "book_id"),
        ({"book_type": "KEPUB"}, "book_type"),
        ({"start_progress": 101}, "start_progress"),
        ({"end_progress": "50"}, "end_progress"),
        ({"start_location": "x" * 501}, "start_location"),
        ({"end_location": [1]}, "end_location"),
        ({"event_id": "e" * 65}, "event_id"),
        ({"title": 5}, "title"),
    ]
    for change, field in cases:
        req = session(0)
        req.update(change)
        r = daemon.request(req)
        assert r["ok"] is False, change
        assert r["error"]["code"] == "invalid_field", (change, r)
        assert r["error"]["field"] == field, (change, r)
    for missing in ("book_hash", "start_time", "end_time", "duration_seconds"):
        req = session(0)
        del req[missing]
        r = daemon.request(req)
        assert r["error"]["field"] == missing
    r = daemon.request({"type": "book_deleted"})
    assert r["error"]["field"] == "file_path"
    assert daemon.sql("SELECT count(*) FROM pending_sessions") == [(0,)]


def test_ids_are_echoed_and_unknown_types_refused(daemon):
    assert daemon.request({"type": "status", "id": 7})["id"] == 7
    assert daemon.request({"type": "status", "id": "abc"})["id"] == "abc"
    r = daemon.request({"type": "fly", "id": 1})
    assert r["error"]["code"] == "unknown_type" and r["id"] == 1


def test_status_list_and_clear(daemon):
    for i in range(3):
        daemon.request(session(i))
    daemon.request(session(5, book_id=42, book_hash="f" * 32))
    daemon.request({"type": "book_deleted", "file_path": "/b.epub"})
    s = daemon.request({"type": "status"})
    assert (s["pending_sessions"], s["pending_deletions"], s["unresolved_sessions"],
            s["historical_sessions"]) == (4, 1, 3, 0)
    assert s["sync"] == "idle" and s["next_sync_in_seconds"] is None
    assert s["network"] in ("up", "down", "unknown")
    assert s["settings"]["manual_sync_only"] is False
    text = json.dumps(s)
    assert "canary" not in text
    # A secret shows only as a flag that it is set (INTERFACE.md set_settings).
    secret_keys = [k for k in s["settings"] if "password" in k]
    assert secret_keys and all(k.endswith("_set") and isinstance(s["settings"][k], bool)
                               for k in secret_keys)

    listed = daemon.request({"type": "list_pending", "limit": 2})
    assert len(listed["sessions"]) == 2
    assert set(listed["sessions"][0]) >= {"id", "book_id", "book_hash", "title", "duration_seconds",
                                          "retry_count", "last_error", "created_at"}
    assert listed["deletions"][0]["file_path"] == "/b.epub"

    refused = daemon.request({"type": "clear_pending"})
    assert refused["error"]["code"] == "confirmation_required"
    assert daemon.request({"type": "clear_pending", "confirm": "yes"})["error"]["code"] == "invalid_field"
    assert daemon.request({"type": "clear_pending", "confirm": True})["cleared"] == 4
    assert daemon.sql("SELECT count(*) FROM pending_sessions") == [(0,)]
    assert daemon.sql("SELECT count(*) FROM pending_deletions") == [(1,)]


def test_settings_are_stored_and_win_over_the_file(daemon_factory):
    d = daemon_factory(manual_sync_only=False).start()
    r = d.request({"type": "set_settings", "manual_sync_only": True, "ask_before_enabling_wifi": True})
    assert r["settings"]["manual_sync_only"] is True
    assert d.request({"type": "set_settings", "manual_sync_only": "yes"})["error"]["field"] == "manual_sync_only"
    assert d.request({"type": "set_settings", "batch_size": 5})["error"]["field"] == "batch_size"
    assert d.stop() == 0
    d.start()
    s = d.request({"type": "status"})["settings"]
    assert s["manual_sync_only"] is True and s["ask_before_enabling_wifi"] is True


def test_socket_is_private_and_sigterm_exits_cleanly(daemon):
    mode = stat.S_IMODE(os.stat(daemon.socket).st_mode)
    assert mode == 0o600
    daemon.request(session(0))
    assert daemon.stop() == 0
    assert not daemon.socket.exists()
    assert daemon.sql("PRAGMA integrity_check") == [("ok",)]


def test_a_second_daemon_does_not_steal_the_socket(daemon):
    second = Daemon(workdir=None, socket=str(daemon.socket))
    try:
        proc = subprocess.run([str(SYNCD), "--config", str(second.config_path)],
                              capture_output=True, text=True, timeout=20)
        assert proc.returncode != 0
        assert "another booklore-syncd" in proc.stderr
        assert daemon.request({"type": "status"})["ok"]
    finally:
        second.cleanup()


def test_config_errors_name_the_key(tmp_path):
    def check(config, mode=0o600):
        path = tmp_path / "c.json"
        path.write_text(config if isinstance(config, str) else json.dumps(config))
        os.chmod(path, mode)
        return subprocess.run([str(SYNCD), "--config", str(path), "--check-config"],
                              capture_output=True, text=True)

    good = {"server_url": "https://books.example", "database": "/tmp/q.sqlite",
            "socket": "/tmp/s.sock", "password": "pw"}
    assert check(good).returncode == 0
    for change, key in [({"batch_size": 0}, "batch_size"), ({"batch_size": "100"}, "batch_size"),
                        ({"server_url": "ftp://x"}, "server_url"), ({"colour": 1}, "colour"),
                        ({"manual_sync_only": "yes"}, "manual_sync_only"),
                        ({"deletion_mode": "burn"}, "deletion_mode"),
                        ({"deletion_mode": "unshelve"}, "shelf_id"),
                        ({"log_level": "loud"}, "log_level")]:
        bad = dict(good, **change)
        p = check(bad)
        assert p.returncode == 2, change
        assert key in p.stderr, (change, p.stderr)
    missing = dict(good)
    del missing["database"]
    assert "database" in check(missing).stderr
    assert check("{not json").returncode == 2
    readable = check(good, mode=0o644)
    assert readable.returncode == 2 and "chmod 600" in readable.stderr
    assert "pw" not in readable.stderr


def test_version_and_help():
    out = subprocess.run([str(SYNCD), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("booklore-syncd ")
    out = subprocess.run([str(SYNCD), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--config" in out.stdout
    assert subprocess.run([str(SYNCD), "--bogus"], capture_output=True).returncode == 2
