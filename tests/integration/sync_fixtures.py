"""A stand-in BookLore server and a daemon pointed at it, for the upload tests."""

import contextlib
import hashlib
import tempfile

from harness import CANARY_BL_PASSWORD, CANARY_PASSWORD, Daemon, session
from standin import Standin, make_certs

HASHES = [hashlib.md5(f"book-{i}".encode()).hexdigest() for i in range(10)]

_certs = None


def certs():
    global _certs
    if _certs is None:
        _certs = make_certs(tempfile.mkdtemp(prefix="bls-certs-"))
    return _certs


@contextlib.contextmanager
def server_and_daemon(profile="B", books=(), daemon_config=None, start=True, **standin_args):
    standin_args.setdefault("ko_password", CANARY_PASSWORD)
    standin_args.setdefault("bl_password", CANARY_BL_PASSWORD)
    with Standin(profile, books=books, **standin_args) as server:
        config = {"booklore_username": "bluser", "booklore_password": CANARY_BL_PASSWORD,
                  "manual_sync_only": True}
        config.update(daemon_config or {})
        d = Daemon(server_url=server.url, **config)
        try:
            if start:
                d.start()
            yield server, d
        finally:
            d.cleanup()


def queue_sessions(d, count, books):
    """Queues `count` sessions spread over `books` [(hash, book_id or None)]; returns replies."""
    client = d.client()
    replies = []
    for i in range(count):
        book_hash, book_id = books[i % len(books)]
        replies.append(client.call(session(i, book_hash=book_hash, book_id=book_id,
                                           event_id=f"ev-{i}")))
    client.close()
    assert all(r["ok"] and r["queued"] for r in replies), replies[:3]
    return replies


def sync(d):
    reply = d.request({"type": "sync_now"})
    assert reply["ok"], reply
    return reply["result"]
