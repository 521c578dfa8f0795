"""Draining the queues to the BookLore stand-in (issue 3)."""

import collections
import hashlib

import pytest

from harness import CANARY_BL_PASSWORD, CANARY_PASSWORD
from sync_fixtures import HASHES, certs, queue_sessions, server_and_daemon, sync

BOOKS = [(101, HASHES[0]), (102, HASHES[1]), (103, HASHES[2])]
# Book 101 is known by id, 102 only by hash, 103 half and half.
QUEUE = [(HASHES[0], 101), (HASHES[1], None), (HASHES[2], 103), (HASHES[2], None)]
# The official server cannot look a hash up: there, a book's id comes from a session that
# carries it (book 102 gets one session with its id).
QUEUE_A = [(HASHES[0], 101), (HASHES[1], None), (HASHES[2], 103), (HASHES[2], None),
           (HASHES[1], 102), (HASHES[1], None), (HASHES[2], None), (HASHES[0], 101)]
PER_BOOK = {"B": {101: 63, 102: 63, 103: 124}, "A": {101: 63, 102: 94, 103: 93}}


@pytest.mark.parametrize("profile", ["B", "B0", "A"])
def test_every_session_is_stored_exactly_once(profile):
    with server_and_daemon(profile, books=BOOKS) as (server, d):
        queue_sessions(d, 250, QUEUE_A if profile == "A" else QUEUE)
        result = sync(d)
        assert result["sessions_uploaded"] == 250, (result, d.log_text()[-3000:])
        assert result["pending_sessions"] == 0 and result["sessions_failed"] == 0

        stored = server.sessions()
        keys = [(s["bookId"], s["startTime"]) for s in stored]
        assert len(keys) == 250 and len(set(keys)) == 250
        per_book = collections.Counter(s["bookId"] for s in stored)
        assert per_book == PER_BOOK.get(profile, PER_BOOK["B"])

        requests = server.requests()
        batches = [r for r in requests if r["path"].endswith("/batch") and r["status"] == 200]
        assert all(r["batch"] <= 100 for r in batches)
        by_key = collections.defaultdict(set)
        for s in stored:
            by_key[s["idempotency_key"]].add(s["bookId"])
        assert all(len(books) == 1 for books in by_key.values())  # no batch mixes books
        if profile == "A":
            assert not batches
            assert all(s["via"] == "single" and s["auth"] == "bearer" for s in stored)
        else:
            assert batches and all(s["via"] == "batch" for s in stored)
            assert len(batches) == 4  # 63, 63, 100 + 24
        # Keep-alive: the whole sync used one connection.
        assert len({r["conn"] for r in requests}) == 1

        assert d.sql("SELECT count(*) FROM historical_sessions") == [(250,)]
        assert d.sql("SELECT count(*) FROM pending_sessions") == [(0,)]
        assert d.sql("SELECT count(*) FROM historical_sessions WHERE uploaded_at IS NULL") == [(0,)]


def test_unknown_book_waits_until_the_server_knows_it():
    with server_and_daemon("B", books=BOOKS[:1]) as (server, d):
        queue_sessions(d, 4, [(HASHES[0], None), (HASHES[5], None)])
        result = sync(d)
        assert result["sessions_uploaded"] == 2
        assert result["sessions_unresolved"] == 2 and result["pending_sessions"] == 2
        assert d.sql("SELECT retry_count FROM pending_sessions") == [(0,), (0,)]
        server.add_book(555, HASHES[5])
        result = sync(d)
        assert result["sessions_uploaded"] == 2 and result["pending_sessions"] == 0
        assert sorted({s["bookId"] for s in server.sessions()}) == [101, 555]
        assert d.sql("SELECT book_id FROM book_cache WHERE book_hash=?", (HASHES[5],)) in ([], [(555,)])


def test_server_errors_count_one_retry_per_attempt_and_rows_stay():
    with server_and_daemon("B", books=BOOKS) as (server, d):
        queue_sessions(d, 5, [(HASHES[0], 101)])
        server.faults(status=500, path_prefix="/api/v1/reading-sessions")
        first = sync(d)
        assert first["sessions_uploaded"] == 0 and first["sessions_failed"] >= 1
        counts = [c for (c,) in d.sql("SELECT retry_count FROM pending_sessions ORDER BY id")]
        assert max(counts) == 1 and len(counts) == 5
        sync(d)
        counts2 = [c for (c,) in d.sql("SELECT retry_count FROM pending_sessions ORDER BY id")]
        assert all(b - a in (0, 1) for a, b in zip(counts, counts2)) and max(counts2) == 2
        assert d.sql("SELECT last_error FROM pending_sessions WHERE retry_count > 0")[0][0].startswith("HTTP 500")
        server.clear_faults()
        last = sync(d)
        assert last["sessions_uploaded"] == 5 and last["pending_sessions"] == 0
        assert len(server.sessions()) == 5


def test_lost_reply_is_checked_against_the_server_before_it_goes_again():
    with server_and_daemon("B", books=BOOKS) as (server, d):
        queue_sessions(d, 3, [(HASHES[0], 101)])
        server.faults(drop_after_commit=True, path_prefix="/api/v1/reading-sessions/batch", count=1)
        first = sync(d)
        assert first["sessions_uploaded"] == 0
        assert d.sql("SELECT DISTINCT retry_count, in_doubt > 0 FROM pending_sessions") == [(1, 1)]
        assert sync(d)["sessions_uploaded"] == 3
        assert d.sql("SELECT count(*) FROM pending_sessions") == [(0,)]
        # The server already held all three: the second sync read its list and sent nothing.
        batches = [r for r in server.requests() if r["path"].endswith("/batch")]
        assert len(batches) == 1 and batches[0]["replied"] is False
        lists = [r for r in server.requests() if "/reading-sessions/book/" in r["path"]]
        assert len(lists) == 1 and lists[0]["status"] == 200
        assert len(server.sessions()) == 3
        assert server.state(only=())["duplicates"] == 0


@pytest.mark.parametrize("cert", ["self-signed", "wrong-host", "expired"])
def test_tls_refuses_bad_certificates_before_sending_credentials(cert):
    c = certs()
    with server_and_daemon("B", books=BOOKS, tls_cert=f"{c}/{cert}.crt",
                           tls_key=f"{c}/{cert}.key",
                           daemon_config={"ca_file": f"{c}/ca.crt"}) as (server, d):
        queue_sessions(d, 2, [(HASHES[0], 101)])
        result = sync(d)
        assert result["sessions_uploaded"] == 0
        assert result["network"] == "unreachable"
        assert server.requests() == []  # no request, so no credential, reached the server
        assert d.sql("SELECT retry_count FROM pending_sessions") == [(0,), (0,)]
        assert "certificate" in (result.get("error") or "") or "certificate" in d.log_text()


def test_tls_with_the_ca_file_works():
    c = certs()
    with server_and_daemon("B", books=BOOKS, tls_cert=f"{c}/server.crt",
                           tls_key=f"{c}/server.key",
                           daemon_config={"ca_file": f"{c}/ca.crt"}) as (server, d):
        assert server.url.startswith("https://")
        queue_sessions(d, 2, [(HASHES[1], None)])
        assert sync(d)["sessions_uploaded"] == 2


@pytest.mark.parametrize("mode", ["delete", "unshelve"])
def test_deletions_offline_then_online(mode):
    config = {"deletion_mode": mode}
    if mode == "unshelve":
        config["shelf_id"] = 7
    with server_and_daemon("B", books=BOOKS, shelves=[7], seed_delete=True,
                           daemon_config=config) as (server, d):
        # A book whose id comes from the cache: opened on the device, later deleted by path.
        assert d.request({"type": "book_opened", "file_path": "/books/one.epub",
                          "book_hash": HASHES[0], "book_id": 101})["ok"]
        d.request({"type": "book_deleted", "file_path": "/books/one.epub"})
        d.request({"type": "book_deleted", "file_path": "/books/two.epub", "book_hash": HASHES[1]})
        d.request({"type": "book_deleted", "file_path": "/books/three.epub", "book_id": 103})
        server.stop()  # offline: everything stays queued
        result = sync(d)
        assert result["deletions_done"] == 0
        assert d.sql("SELECT count(*) FROM pending_deletions") == [(3,)]
        assert d.sql("SELECT max(retry_count) FROM pending_deletions") == [(0,)]
        server.start()
        d.config["server_url"] = server.url
        d.write_config()
        d.stop()
        d.start()
        result = sync(d)
        assert result["deletions_done"] == 3, (result, d.log_text()[-2000:])
        assert d.sql("SELECT count(*) FROM pending_deletions") == [(0,)]
        state = server.state()
        assert state["bulk_deletes"] == []  # never the call that deletes server files
        if mode == "delete":
            assert sorted(x["bookId"] if "bookId" in x else x["id"] for x in state["deletions"]) == [101, 102, 103]
        else:
            assert len(state["shelf_changes"]) == 3


def test_deletion_mode_off_queues_nothing():
    with server_and_daemon("B", daemon_config={"deletion_mode": "off"}) as (server, d):
        r = d.request({"type": "book_deleted", "file_path": "/x.epub"})
        assert r["ok"] and r["queued"] is False
        assert d.sql("SELECT count(*) FROM pending_deletions") == [(0,)]


def test_credentials_refused_stop_the_run_without_burning_counts():
    with server_and_daemon("B", books=BOOKS, ko_password="another-password",
                           daemon_config={"booklore_password": "wrong"}) as (server, d):
        queue_sessions(d, 6, [(HASHES[1], None), (HASHES[0], 101)])
        result = sync(d)
        assert result["sessions_uploaded"] == 0
        assert "refused" in result["error"]
        assert d.sql("SELECT max(retry_count) FROM pending_sessions") == [(0,)]
        # The hash lookup (refused), the batch (refused: the server then wants Bearer), one
        # login (refused).
        assert len(server.requests()) <= 3
        assert server.state(only=())["login"]["attempts"] == 1


def test_syncctl_sync_shows_a_summary():
    with server_and_daemon("B", books=BOOKS) as (server, d):
        queue_sessions(d, 3, [(HASHES[0], 101)])
        out = d.ctl("sync")
        assert out.returncode == 0, out.stderr
        assert "uploaded 3 sessions" in out.stdout


def test_secrets_never_reach_the_logs():
    with server_and_daemon("A", books=BOOKS, daemon_config={"log_level": "trace"}) as (server, d):
        queue_sessions(d, 3, [(HASHES[1], 102)])
        sync(d)
        assert any(s["auth"] == "bearer" for s in server.sessions())  # a token was used
        key = hashlib.md5(CANARY_PASSWORD.encode()).hexdigest()
        outputs = [d.log_text(), d.ctl("--json", "status").stdout, d.ctl("status").stdout,
                   d.ctl("--json", "pending").stdout]
        for text in outputs:
            for secret in (CANARY_PASSWORD, CANARY_BL_PASSWORD, key, "eyJhbGci"):
                assert secret not in text


def test_an_opened_book_gets_its_id_at_the_next_sync():
    with server_and_daemon("B", books=BOOKS) as (server, d):
        assert d.request({"type": "book_opened", "file_path": "/books/two.pdf",
                          "book_hash": HASHES[1].upper()})["ok"]
        assert d.sql("SELECT book_id FROM book_cache") == [(None,)]
        sync(d)
        assert d.sql("SELECT book_hash, book_id FROM book_cache") == [(HASHES[1], 102)]
        # A later deletion by path alone now finds the book.
        d.request({"type": "book_deleted", "file_path": "/books/two.pdf"})
        server.config(seed_delete=True)
        assert sync(d)["deletions_done"] == 1
