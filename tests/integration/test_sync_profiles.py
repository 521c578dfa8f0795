"""Every server profile, exactly once (issue 10): book matching, auth negotiation, per-book
answers, a wrong base path, refused logins and deletions, against the non-deduplicating
stand-in."""

import collections
import hashlib

import pytest

from harness import CANARY_BL_PASSWORD, session, wait_until
from sync_fixtures import HASHES, server_and_daemon, sync

ISBN = "978-0-306-40615-7"
ISBN13 = "9780306406157"
DEVICE_HASH = hashlib.md5(b"device copy with other metadata").hexdigest()
# 101 is known to the reader by id, 102 only by its hash, 103 only by ISBN (the device's copy
# has another hash than the server's file, as after BookLore wrote metadata into it).
BOOKS = [{"id": 101, "hash": HASHES[0]}, {"id": 102, "hash": HASHES[1]},
         {"id": 103, "hash": HASHES[2], "isbn13": ISBN13}]
BY_HASH = {"W", "B", "B0"}


def queue(d, count, start=0, **pick):
    """Sessions i = start..start+count-1 spread over the three books."""
    client = d.client()
    try:
        for i in range(start, start + count):
            which = i % 3
            fields = [{"book_hash": HASHES[0], "book_id": 101}, {"book_hash": HASHES[1]},
                      {"book_hash": DEVICE_HASH, "isbn": ISBN}][which]
            fields.update(pick)
            reply = client.call(session(i, event_id=f"ev-{i}", **fields))
            assert reply["ok"] and reply["queued"], reply
    finally:
        client.close()


def stored_once(server):
    state = server.state(only=("sessions",))
    keys = [(s["bookId"], s["startTime"], s["endTime"]) for s in state["sessions"]]
    assert state["duplicates"] == 0 and len(keys) == len(set(keys))
    return collections.Counter(s["bookId"] for s in state["sessions"])


@pytest.mark.parametrize("profile", ["G", "A", "W", "B", "B0"])
def test_250_sessions_over_three_books_are_stored_once(profile):
    with server_and_daemon(profile, books=BOOKS) as (server, d):
        queue(d, 250)
        result = sync(d)
        per_book = stored_once(server)
        if profile in BY_HASH:
            assert per_book == {101: 84, 102: 83, 103: 83}, (result, d.log_text()[-3000:])
            assert result["pending_sessions"] == 0
        else:
            # No hash lookup: the book known only by its hash stays queued, unharmed.
            assert per_book == {101: 84, 103: 83}, (result, d.log_text()[-3000:])
            assert result["pending_sessions"] == 83 and result["sessions_unresolved"] == 83
            assert d.sql("SELECT max(retry_count) FROM pending_sessions") == [(0,)]
        assert result["sessions_failed"] == 0 and "error" not in result, result
        assert d.sql("SELECT book_id FROM book_cache WHERE isbn = ?", (ISBN13,)) in ([], [(103,)])
        # Again: nothing is sent twice.
        again = sync(d)
        assert again["sessions_uploaded"] == 0
        assert stored_once(server) == per_book


def test_bearer_learned_on_grimmory_is_remembered_for_the_server():
    with server_and_daemon("G", books=BOOKS) as (server, d):
        queue(d, 6)
        sync(d)
        refused = [r for r in server.requests() if r["status"] == 401]
        assert refused  # the first run found out
        d.stop()
        d.start()
        server.reset()
        queue(d, 3, start=10)
        assert sync(d)["sessions_uploaded"] == 2  # by id and by ISBN; the hash-only one waits
        stored = server.requests()
        assert not [r for r in stored if r["status"] == 401], stored
        # Never a stale Bearer where KOReader headers go.
        assert not [r for r in stored if r["path"].startswith("/api/koreader/") and r["had_bearer"]]


@pytest.mark.parametrize("fault", ["lost_reply", "timeout_after_send"])
@pytest.mark.parametrize("profile", ["G", "B"])
def test_a_lost_answer_stores_nothing_twice(profile, fault):
    effect = {"drop_after_commit": True} if fault == "lost_reply" else {"hang_ms": 2500}
    with server_and_daemon(profile, books=BOOKS,
                           daemon_config={"request_timeout_seconds": 1}) as (server, d):
        queue(d, 3)
        sync(d)  # learns the server: the faulted request is then the session upload itself
        warm = server.state(only=())["counts"]["sessions"]
        queue(d, 30, start=3)
        route = "/api/v1/reading-sessions" + ("/batch" if profile == "B" else "")
        server.faults(path_prefix=route, method="POST", count=1, **effect)
        first = sync(d)
        assert first["network"] == "unreachable", first
        in_doubt = d.sql("SELECT count(*) FROM pending_sessions WHERE in_doubt > 0")[0][0]
        assert in_doubt >= 1
        wait_until(lambda: server.state(only=())["counts"]["sessions"] > warm, what="the commit")
        before = len(server.requests())
        second = sync(d)
        assert second["pending_sessions"] == (11 if profile == "G" else 0), second
        per_book = stored_once(server)
        assert sum(per_book.values()) == (22 if profile == "G" else 33)
        lists = [r for r in server.requests()[before:] if "/reading-sessions/book/" in r["path"]]
        assert len(lists) == 1  # one page reaches back to the oldest row in doubt
        assert d.sql("SELECT count(*) FROM pending_sessions WHERE in_doubt > 0") == [(0,)]


def test_a_wrong_base_path_forgets_nothing_and_everything_uploads_once_fixed():
    with server_and_daemon("B", books=BOOKS, start=False) as (server, d):
        for broken in (server.url + "/booklore", None):
            d.config["server_url"] = broken or server.url
            d.write_config()
            d.start()
            queue(d, 9, start=0 if broken else 9)
            d.request({"type": "book_deleted", "file_path": f"/b/{bool(broken)}.epub",
                       "book_hash": HASHES[5]})
            if broken:
                server.faults(path_prefix="/", proxy_404=True)
                proxied = sync(d)
                server.clear_faults()
                wrong = sync(d)  # no proxy: the server's own page and 500s
                for result in (proxied, wrong):
                    assert result["sessions_uploaded"] == 0 and result["deletions_done"] == 0
                    assert "server_url" in result["error"], result
                assert server.sessions() == []
                assert d.sql("SELECT count(*) FROM pending_sessions WHERE book_id IS NULL") == [(6,)]
                assert d.sql("SELECT count(*) FROM pending_deletions") == [(1,)]
                assert d.sql("SELECT count(*) FROM book_cache WHERE book_id IS NOT NULL") == [(0,)]
                d.stop()
        result = sync(d)
        assert result["sessions_uploaded"] == 18 and result["pending_sessions"] == 0, result
        assert sum(stored_once(server).values()) == 18


def test_a_wrong_booklore_password_never_locks_the_account():
    with server_and_daemon("G", books=BOOKS,
                           daemon_config={"booklore_password": "changed-on-the-web",
                                          "manual_sync_only": False}) as (server, d):
        def finished():
            return d.log_text().count("sync_finished")

        for i in range(11):
            done = finished()
            assert d.request(session(i, book_hash=HASHES[0], book_id=101))["queued"]
            wait_until(lambda: finished() > done, what="the automatic sync")
        login = server.state(only=())["login"]
        assert login["attempts"] == 1  # the first automatic run learned; ten did not try
        status = d.request({"type": "status"})
        assert "Automatic syncs do not log in again" in status["last_sync"]["result"]["error"]
        for expected in (2, 3):
            result = sync(d)  # a person asks: one login each time
            assert "booklore_password" in result["error"]
            assert server.state(only=())["login"]["attempts"] == expected
        login = server.state(only=())["login"]
        assert not login["lock_tripped"] and not login["locked"]
        assert d.sql("SELECT max(retry_count) FROM pending_sessions") == [(0,)]
        assert d.request({"type": "status"})["login_refused"] is True
        # The reader types the new password: the refusal is forgotten, the next automatic
        # sync logs in and uploads.
        changed = d.request({"type": "set_settings", "booklore_password": CANARY_BL_PASSWORD})
        assert changed["ok"], changed
        assert d.request({"type": "status"})["login_refused"] is False
        done = finished()
        assert d.request(session(20, book_hash=HASHES[0], book_id=101))["queued"]
        wait_until(lambda: finished() > done, what="the automatic sync after the change")
        assert d.sql("SELECT count(*) FROM pending_sessions") == [(0,)]


def test_a_forbidden_book_on_w_does_not_hold_back_the_others():
    with server_and_daemon("W", books=BOOKS) as (server, d):
        server.add_book(102, HASHES[1], accessible=False)
        client = d.client()
        for i in range(9):
            book = 101 + i % 3
            assert client.call(session(i, book_hash=HASHES[i % 3], book_id=book))["queued"]
        client.close()
        result = sync(d)
        assert stored_once(server) == {101: 3, 103: 3}
        assert result["pending_sessions"] == 3 and "error" not in result, result
        rows = d.sql("SELECT book_id, retry_count, last_error FROM pending_sessions")
        assert all(book == 102 and count == 1 and "book 102" in err and "not authorized" in err
                   for book, count, err in rows), rows


def test_a_deletion_waits_for_the_books_sessions():
    with server_and_daemon("W", books=BOOKS, seed_delete=True) as (server, d):
        server.add_book(101, HASHES[0], accessible=False)
        d.request(session(1, book_hash=HASHES[0], book_id=101, file_path="/b/one.epub"))
        d.request({"type": "book_deleted", "file_path": "/b/one.epub", "book_id": 101})
        first = sync(d)
        assert first["deletions_done"] == 0 and first["pending_deletions"] == 1
        assert server.state()["deletions"] == []
        assert d.sql("SELECT retry_count FROM pending_deletions") == [(0,)]
        server.add_book(101, HASHES[0], accessible=True)
        second = sync(d)  # the session first, then the deletion, in one run
        assert second["sessions_uploaded"] == 1 and second["deletions_done"] == 1, second
        assert len(server.state()["deletions"]) == 1


def test_a_server_without_the_seeds_delete_says_what_to_set():
    with server_and_daemon("B", books=BOOKS) as (server, d):
        d.request({"type": "book_deleted", "file_path": "/b/x.epub", "book_id": 101})
        result = sync(d)
        assert result["deletions_done"] == 0 and result["pending_deletions"] == 1
        [(error,)] = d.sql("SELECT last_error FROM pending_deletions")
        assert "deletion_mode" in error and "unshelve" in error and "shelf_id" in error, error
        state = server.state()
        assert state["bulk_deletes"] == []
        assert not [r for r in state["requests"] if r["path"].startswith("/api/v1/books?")]
