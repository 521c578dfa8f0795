"""The BookLore stand-in against server-contract.md: profiles, bodies, auth, faults, TLS."""

import base64
import http.client
import json
import os
import socket
import ssl
import sys
import threading

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "standin"))
from standin import Standin, make_certs  # noqa: E402

HASH = "0123456789abcdef0123456789abcdef"
OTHER_HASH = "fedcba9876543210fedcba9876543210"
BOOK = 42
SHELF = 7
JSON = {"Content-Type": "application/json"}


def session(start="2026-02-22T14:00:00Z", end="2026-02-22T15:00:00Z", **extra):
    item = {"startTime": start, "endTime": end, "durationSeconds": 3600,
            "durationFormatted": "1:00:00", "startProgress": 25.5, "endProgress": 38.75,
            "progressDelta": 13.25, "startLocation": "120", "endLocation": "185"}
    item.update(extra)
    return item


def single(**extra):
    body = {"bookId": BOOK, "bookType": "EPUB"}
    body.update(session())
    body.update(extra)
    return body


def batch(count=2, **extra):
    body = {"bookId": BOOK, "bookType": "EPUB",
            "sessions": [session("2026-02-22T%02d:00:00Z" % (i % 24),
                                 "2026-02-22T%02d:30:00Z" % (i % 24)) for i in range(count)]}
    body.update(extra)
    return body


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(str(tmp_path_factory.mktemp("certs") / "set"))


@pytest.fixture(scope="module")
def module_server():
    with Standin(books=[(BOOK, HASH, "Dune"), (43, OTHER_HASH, "Emma", "PDF")],
                 shelves=[SHELF, (8, "KOReader")]) as server:
        yield server


@pytest.fixture
def server(module_server):
    module_server.reset(config=True)
    module_server.add_book(BOOK, HASH)
    module_server.add_book(43, OTHER_HASH)
    yield module_server


def post(server, path, body, **kwargs):
    return server.request("POST", path, json_body=body, **kwargs)


# --------------------------------------------------------------------- §1.2 credential matrix

# (name, method, path, body, credentials) -> expected status for A, B, B0
MATRIX = [
    ("single KO", "POST", "/api/v1/reading-sessions", "single", "ko", (403, 202, 202)),
    ("single Bearer", "POST", "/api/v1/reading-sessions", "single", "bearer", (202, 202, 403)),
    ("single KO+expired", "POST", "/api/v1/reading-sessions", "single", "ko+expired",
     (401, 401, 202)),
    ("single none", "POST", "/api/v1/reading-sessions", "single", "none", (403, 403, 403)),
    ("single bad key", "POST", "/api/v1/reading-sessions", "single", "badko", (403, 403, 403)),
    ("batch KO", "POST", "/api/v1/reading-sessions/batch", "batch", "ko", (403, 200, 403)),
    ("batch Bearer", "POST", "/api/v1/reading-sessions/batch", "batch", "bearer",
     (500, 200, 200)),
    ("ko by-hash KO", "GET", "/api/koreader/books/by-hash/" + HASH, None, "ko", (200, 200, 200)),
    ("ko by-hash Bearer", "GET", "/api/koreader/books/by-hash/" + HASH, None, "bearer",
     (403, 403, 403)),
    ("v1 by-hash Bearer", "GET", "/api/v1/books/by-hash/" + HASH, None, "bearer",
     (200, 200, 200)),
    ("v1 by-hash KO", "GET", "/api/v1/books/by-hash/" + HASH, None, "ko", (403, 403, 403)),
    ("shelves KO", "POST", "/api/v1/books/shelves", "shelves", "ko", (403, 403, 403)),
    ("shelves Bearer", "POST", "/api/v1/books/shelves", "shelves", "bearer", (200, 200, 200)),
    ("ko auth KO", "GET", "/api/koreader/users/auth", None, "ko", (200, 200, 200)),
    ("ko auth bad", "GET", "/api/koreader/users/auth", None, "badko", (403, 403, 403)),
    ("reconcile KO", "GET", "/api/v1/reading-sessions/book/42", None, "ko", (403, 403, 403)),
    ("reconcile Bearer", "GET", "/api/v1/reading-sessions/book/42", None, "bearer",
     (200, 200, 200)),
]


@pytest.mark.parametrize("profile_index,profile", enumerate(("A", "B", "B0")))
def test_credential_matrix(server, profile_index, profile):
    server.config(profile=profile)
    bearer, expired = server.token(), server.token(ttl=-10)
    bodies = {"single": single(), "batch": batch(),
              "shelves": {"bookIds": [BOOK], "shelvesToAssign": [], "shelvesToUnassign": [SHELF]}}
    failures = []
    for name, method, path, body, creds, expected in MATRIX:
        headers = {}
        if "ko" in creds and creds != "badko":
            headers.update(server.ko_headers())
        if creds == "badko":
            headers.update({"x-auth-user": server.ko_user, "x-auth-key": "0" * 32})
        if creds == "bearer":
            headers["Authorization"] = "Bearer " + bearer
        if "expired" in creds:
            headers["Authorization"] = "Bearer " + expired
        reply = server.request(method, path, headers=headers,
                               json_body=bodies[body] if body else None)
        if reply.status != expected[profile_index]:
            failures.append("%s: %d, expected %d" % (name, reply.status, expected[profile_index]))
    assert failures == []


def test_forbidden_and_unauthorized_bodies(server):
    reply = post(server, "/api/v1/reading-sessions", single())
    assert reply.status == 403
    assert reply.json()["status"] == 403 and reply.json()["error"] == "Forbidden"
    reply = post(server, "/api/v1/auth/login", {"username": "bluser", "password": "blpass"},
                 bearer=server.token(ttl=-1))
    assert (reply.status, reply.body) == (401, b"")  # even on the permitAll login


def test_profile_a_missing_endpoints(server):
    server.config(profile="A")
    bearer = server.token()
    reply = server.request("GET", "/api/v1/books/by-hash/" + HASH, bearer=bearer)
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    reply = server.request("GET", "/api/koreader/books/by-hash/" + HASH, ko=True)
    assert reply.status == 200 and b"<app-root>" in reply.body
    reply = post(server, "/api/v1/reading-sessions/batch", batch(), bearer=bearer)
    assert reply.status == 500
    assert reply.json()["message"] == "An unexpected error occurred."
    assert server.state()["counts"]["sessions"] == 0


# --------------------------------------------------------------------- §2.1 / §2.2 bodies

def test_single_post_is_202_empty_and_stores(server):
    reply = post(server, "/api/v1/reading-sessions", single(startTime="2026-02-22T15:00:00+01:00"),
                 ko=True, headers={"Idempotency-Key": "k-1"})
    assert (reply.status, reply.body) == (202, b"")
    assert "content-type" not in reply.headers
    (stored,) = server.sessions()
    assert stored["startTime"] == "2026-02-22T14:00:00Z"
    assert (stored["bookId"], stored["via"], stored["auth"]) == (BOOK, "single", "ko")
    assert stored["idempotency_key"] == "k-1"
    assert (stored["startProgress"], stored["startLocation"]) == (25.5, "120")


def test_single_post_b0_returns_session_id(server):
    server.config(profile="B0")
    reply = post(server, "/api/v1/reading-sessions", single(), ko=True)
    assert reply.status == 202
    assert reply.json() == {"sessionId": server.sessions()[0]["id"]}


def test_batch_200_shape_and_duplicates(server):
    body = batch(3)
    body["sessions"][0]["startTime"] = "2026-02-22T00:00:00.123Z"
    first = post(server, "/api/v1/reading-sessions/batch", body, ko=True)
    second = post(server, "/api/v1/reading-sessions/batch", body, ko=True)
    assert first.status == 200 and second.status == 200
    payload = first.json()
    assert set(payload) == {"totalRequested", "successCount", "results"}
    assert payload["totalRequested"] == payload["successCount"] == 3
    assert [set(r) for r in payload["results"]] == [{"sessionId", "startTime", "endTime"}] * 3
    assert payload["results"][0]["startTime"] == "2026-02-22T00:00:00.123Z"
    assert payload["results"][1]["endTime"] == "2026-02-22T01:30:00Z"
    state = server.state()
    assert state["counts"]["sessions"] == 6  # no server-side deduplication
    assert state["sessions"][0]["startTime"] == "2026-02-22T00:00:00Z"  # seconds precision
    assert [r["batch"] for r in state["requests"]] == [3, 3]
    ids = [r["sessionId"] for r in payload["results"] + second.json()["results"]]
    assert ids == [s["id"] for s in state["sessions"]]


@pytest.mark.parametrize("path,body,status,message,details", [
    ("/api/v1/reading-sessions", single(bookId=None, durationSeconds=None), 400,
     "Validation error", ["bookId: must not be null", "durationSeconds: must not be null"]),
    ("/api/v1/reading-sessions", single(bookType=None), 400,
     "A data conflict occurred. The operation could not be completed.", None),
    ("/api/v1/reading-sessions", single(startTime="2026-02-22T14:00:00"), 400,
     "Request body is missing or malformed.", None),
    ("/api/v1/reading-sessions", single(bookType="epub"), 400,
     "Request body is missing or malformed.", None),
    ("/api/v1/reading-sessions", single(bookId=999), 404, "Book not found with ID: 999", None),
    ("/api/v1/reading-sessions", single(startLocation="x" * 501), 400,
     "A data conflict occurred. The operation could not be completed.", None),
    ("/api/v1/reading-sessions/batch", batch(sessions=[]), 400, "Validation error",
     ["sessions: Sessions list cannot be empty"]),
    ("/api/v1/reading-sessions/batch", batch(2, bookType=None), 400, "Validation error",
     ["bookType: Book type is required"]),
    ("/api/v1/reading-sessions/batch",
     batch(sessions=[session(), session(startTime=None, durationSeconds=None)]), 400,
     "Validation error", ["sessions[1].startTime: Start time is required",
                          "sessions[1].durationSeconds: Duration is required"]),
    ("/api/v1/reading-sessions/batch",
     batch(sessions=[session(), session("2026-02-22T15:00:00Z", "2026-02-22T14:59:59Z")]),
     400, "End time must be after start time", None),
    ("/api/v1/reading-sessions/batch", batch(1001), 400, "Validation error",
     ["sessions: Sessions list cannot exceed 1000 items"]),
    ("/api/v1/reading-sessions/batch", batch(2, bookId=999), 404,
     "Book not found with ID: 999", None),
])
def test_validation_errors(server, path, body, status, message, details):
    reply = post(server, path, body, ko=True)
    assert reply.status == status, reply
    payload = reply.json()
    assert (payload["status"], payload["message"]) == (status, message)
    assert payload.get("details") == details
    assert "timestamp" in payload
    assert server.state()["counts"]["sessions"] == 0  # all or nothing


def test_b0_has_no_batch_limit(server):
    server.config(profile="B0")
    reply = post(server, "/api/v1/reading-sessions/batch", batch(1001), bearer=server.token())
    assert reply.status == 200 and reply.json()["successCount"] == 1001


def test_missing_content_type_is_500(server):
    for path, body in (("/api/v1/reading-sessions", single()),
                       ("/api/v1/reading-sessions/batch", batch())):
        reply = server.request("POST", path, body=json.dumps(body), ko=True)
        assert reply.status == 500
        assert reply.json()["message"] == "An unexpected error occurred."
    reply = server.request("POST", "/api/v1/reading-sessions", body="not json", ko=True,
                           headers=JSON)
    assert reply.status == 400


def test_reconcile_listing(server):
    post(server, "/api/v1/reading-sessions/batch", batch(3), ko=True)
    reply = server.request("GET", "/api/v1/reading-sessions/book/42?page=0&size=2",
                           bearer=server.token())
    payload = reply.json()
    assert [s["startTime"] for s in payload["content"]] == ["2026-02-22T02:00:00Z",
                                                           "2026-02-22T01:00:00Z"]
    assert payload["page"] == {"size": 2, "number": 0, "totalElements": 3, "totalPages": 2}


# --------------------------------------------------------------------- §2.3 / §2.4 by-hash

def test_by_hash_lookup_drift_and_duplicates(server):
    reply = server.request("GET", "/api/koreader/books/by-hash/" + HASH.upper(), ko=True)
    assert reply.status == 200
    book = reply.json()
    assert (book["id"], book["primaryFile"]["bookType"], book["metadata"]["title"]) == \
        (BOOK, "EPUB", "Dune")
    missing = server.request("GET", "/api/koreader/books/by-hash/" + "a" * 32, ko=True)
    assert missing.status == 404
    assert missing.json()["message"] == "Book with hash %s not found" % ("a" * 32)
    server.add_book(BOOK, "b" * 32)  # BookLore wrote metadata into the file
    assert server.request("GET", "/api/v1/books/by-hash/" + HASH,
                          bearer=server.token()).status == 404
    assert server.request("GET", "/api/v1/books/by-hash/" + "b" * 32,
                          bearer=server.token()).json()["id"] == BOOK
    server.add_book(99, "b" * 32)
    assert server.request("GET", "/api/koreader/books/by-hash/" + "b" * 32,
                          ko=True).status == 500


# --------------------------------------------------------------------- §2.7 shelves, §2.6 deletes

def test_shelves(server):
    bearer = server.token()
    body = {"bookIds": [BOOK, 12345], "shelvesToAssign": [8], "shelvesToUnassign": [SHELF]}
    reply = post(server, "/api/v1/books/shelves", body, bearer=bearer)
    assert reply.status == 200
    assert [b["id"] for b in reply.json()] == [BOOK]  # unknown book ids ignored
    assert [s["id"] for s in reply.json()[0]["shelves"]] == [8]
    foreign = post(server, "/api/v1/books/shelves", dict(body, shelvesToUnassign=[99]),
                   bearer=bearer)
    assert foreign.status == 401
    assert foreign.json()["message"] == "Cannot unassign shelves that do not belong to the user."
    missing = post(server, "/api/v1/books/shelves", {"bookIds": [BOOK], "shelvesToUnassign": [7]},
                   bearer=bearer)
    assert missing.status == 500
    changes = server.state()["shelf_changes"]
    assert [c["status"] for c in changes] == [200, 401, 500]
    assert changes[0]["shelvesToUnassign"] == [SHELF]


def test_seed_delete_switch_and_bulk_delete(server):
    bearer = server.token()
    assert server.request("DELETE", "/api/v1/books/42", bearer=bearer).status == 500
    assert server.request("DELETE", "/api/v1/books/42", ko=True).status == 403
    server.config(seed_delete=True)
    assert server.request("DELETE", "/api/v1/books/42", ko=True).status == 200
    assert server.request("DELETE", "/api/v1/books/42", bearer=bearer).status == 200
    assert server.request("DELETE", "/api/v1/books/4242", ko=True).status == 404
    state = server.state()
    assert [(d["bookId"], d["status"], d["auth"]) for d in state["deletions"][2:]] == \
        [(42, 200, "ko"), (42, 200, "bearer"), (4242, 404, "ko")]
    assert state["bulk_deletes"] == []
    reply = server.request("DELETE", "/api/v1/books?ids=43", bearer=bearer)
    assert reply.json() == {"deleted": [43], "failedFileDeletions": []}
    assert [b["ids"] for b in server.state()["bulk_deletes"]] == [[43]]


# --------------------------------------------------------------------- §2.8 auth

def test_login_tokens_and_refresh_rotation(server):
    server.config(token_ttl=120)
    tokens = server.login()
    assert tokens["isDefaultPassword"] == "false"
    payload = tokens["accessToken"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "bluser" and claims["exp"] - claims["iat"] == 120
    assert post(server, "/api/v1/reading-sessions", single(),
                bearer=tokens["accessToken"]).status == 202
    refreshed = post(server, "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]})
    assert refreshed.status == 200 and set(refreshed.json()) == {"accessToken", "refreshToken"}
    reused = post(server, "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]})
    assert reused.status == 400
    # INVALID_CREDENTIALS drops its detail argument (G:exception/ApiError.java:87-90)
    assert reused.json()["message"] == "Invalid credentials"
    server.config(invalidate_tokens=True)
    assert post(server, "/api/v1/reading-sessions", single(),
                bearer=tokens["accessToken"]).status == 401


def test_login_failures_and_rate_limit(server):
    wrong = {"username": "bluser", "password": "nope"}
    statuses = [post(server, "/api/v1/auth/login", wrong).status for _ in range(5)]
    assert statuses == [400] * 5
    assert post(server, "/api/v1/auth/login", wrong).json()["message"] == \
        "Too many failed login attempts. Please try again later."
    right = {"username": "bluser", "password": "blpass"}
    assert post(server, "/api/v1/auth/login", right).status == 429  # checked before the password
    blank = post(server, "/api/v1/auth/login", {"username": " ", "password": "x"})
    assert blank.json()["details"] == ["username: Username must not be blank"]
    logins = server.state()["logins"]
    assert len(logins) == 8 and "nope" not in json.dumps(logins)
    server.reset()
    assert post(server, "/api/v1/auth/login", right).status == 200


def test_unlinked_koreader_user_is_409(server):
    server.config(ko_linked=False)
    assert post(server, "/api/v1/reading-sessions", single(), ko=True).status == 409
    assert post(server, "/api/v1/reading-sessions", single(), bearer=server.token()).status == 202


# --------------------------------------------------------------------- faults and connections

def test_status_html_and_retry_after_faults(server):
    server.faults(status=503, count=1, path_prefix="/api/v1/reading-sessions")
    server.faults(retry_after=7, status=429, count=1, method="POST")
    server.faults(html=True, count=1, path_prefix="/api/v1/reading-sessions/batch")
    first = post(server, "/api/v1/reading-sessions/batch", batch(), ko=True)
    assert first.status == 503 and first.json()["status"] == 503
    second = post(server, "/api/v1/reading-sessions/batch", batch(), ko=True)
    assert (second.status, second.headers["retry-after"]) == (429, "7")
    third = post(server, "/api/v1/reading-sessions/batch", batch(), ko=True)
    assert third.status == 200 and third.headers["content-type"].startswith("text/html")
    assert post(server, "/api/v1/reading-sessions/batch", batch(), ko=True).status == 200
    state = server.state()
    assert state["counts"]["sessions"] == 2  # faulted answers commit nothing
    assert [r["fault"] for r in state["requests"]] == ["status", "status+retry_after", "html",
                                                       None]


def test_drop_after_commit_loses_the_reply_but_keeps_the_sessions(server):
    server.faults(drop_after_commit=True, count=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        post(server, "/api/v1/reading-sessions/batch", batch(2), ko=True,
             headers={"Idempotency-Key": "batch-1"})
    assert post(server, "/api/v1/reading-sessions/batch", batch(2), ko=True,
                headers={"Idempotency-Key": "batch-1"}).status == 200
    state = server.state()
    assert [s["idempotency_key"] for s in state["sessions"]] == ["batch-1"] * 4  # duplicates
    assert [(r["status"], r["replied"]) for r in state["requests"]] == [(200, False),
                                                                       (200, True)]


def test_close_before_and_hang(server):
    server.faults(close_before=True, count=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        post(server, "/api/v1/reading-sessions", single(), ko=True)
    server.faults(hang_ms=1500, count=1)
    with pytest.raises(socket.timeout):
        post(server, "/api/v1/reading-sessions", single(), ko=True, timeout=0.3)
    state = server.wait_for(lambda s: s["counts"]["sessions"] == 1)  # committed, then hung
    assert [r["fault"] for r in state["requests"]] == ["close_before", "hang_ms"]


def test_fault_counts_are_exact_under_concurrency(server):
    server.faults(status=500, count=5, path_prefix="/api/koreader/")
    statuses = []
    lock = threading.Lock()

    def worker():
        for _ in range(4):
            reply = server.request("GET", "/api/koreader/users/auth", ko=True)
            with lock:
                statuses.append(reply.status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 27 + [500] * 5


def test_keep_alive_connection_counting(server):
    conn = server.connection()
    try:
        for _ in range(3):
            assert server.request("GET", "/api/koreader/users/auth", ko=True,
                                  conn=conn).status == 200
    finally:
        conn.close()
    assert server.request("GET", "/api/koreader/users/auth", ko=True).status == 200
    conns = [r["conn"] for r in server.requests()]
    assert conns[0] == conns[1] == conns[2] != conns[3]


# --------------------------------------------------------------------- TLS and the log

@pytest.fixture(scope="module")
def tls_server(certs, tmp_path_factory):
    log = str(tmp_path_factory.mktemp("log") / "requests.log")
    with Standin(books=[(BOOK, HASH)], tls_cert=os.path.join(certs, "server.crt"),
                 tls_key=os.path.join(certs, "server.key"), ca_file=os.path.join(certs, "ca.crt"),
                 ko_password="CANARY-pass", log=log) as server:
        yield server


def test_tls_with_generated_ca(tls_server):
    server = tls_server
    server.reset()
    assert server.url.startswith("https://127.0.0.1:")
    conn = server.connection()  # verifies against the test CA, host name 127.0.0.1
    try:
        token = server.token()
        for _ in range(2):
            reply = server.request("POST", "/api/v1/reading-sessions/batch", conn=conn,
                                   json_body=batch(2), ko=True)
            assert reply.status == 200
        assert server.request("GET", "/api/v1/books/by-hash/" + HASH, bearer=token,
                              conn=conn).status == 200
    finally:
        conn.close()
    untrusted = ssl.create_default_context()  # system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            untrusted.wrap_socket(raw, server_hostname="localhost")
    state = server.wait_for(lambda s: s["tls_failures"] >= 1)
    assert len({r["conn"] for r in state["requests"]}) == 1  # one kept-alive connection
    with open(server.log) as handle:
        text = handle.read()
    assert "x-auth-key=<present>" in text and "authorization=<present>" in text
    assert server.ko_key not in text and token not in text and "CANARY" not in text


@pytest.mark.parametrize("cert,error", [("wrong-host", "match"), ("expired", "expired"),
                                        ("self-signed", "self-signed")])
def test_tls_fixtures_fail_verification(tls_server, certs, cert, error):
    tls_server.config(tls_cert=os.path.join(certs, cert + ".crt"),
                      tls_key=os.path.join(certs, cert + ".key"))
    try:
        context = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
        with pytest.raises(ssl.SSLCertVerificationError, match=error):
            with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw:
                context.wrap_socket(raw, server_hostname="localhost")
    finally:
        tls_server.config(tls_cert=os.path.join(certs, "server.crt"),
                          tls_key=os.path.join(certs, "server.key"))
    conn = tls_server.connection()
    try:
        assert tls_server.request("GET", "/api/koreader/users/auth", ko=True,
                                  conn=conn).status == 200
    finally:
        conn.close()
