"""The stand-in's five profiles against the servers' own code (tests/standin/README.md table):
auth per path, error bodies, login answer and rate limit, per-book 403, the session listing,
the ISBN-bearing book lists, the proxy-404 fault, `dedupe` and the state's tallies."""

import base64
import http.client
import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "standin"))
from standin import Standin  # noqa: E402

HASH = "0123456789abcdef0123456789abcdef"
BOOK, HIDDEN = 42, 44
ISBN13, ISBN10 = "9780306406157", "0306406152"
PROFILES = ("G", "A", "W", "B", "B0")


def session(i=0, **extra):
    item = {"startTime": "2026-02-22T%02d:00:00Z" % i, "endTime": "2026-02-22T%02d:30:00Z" % i,
            "durationSeconds": 1800, "durationFormatted": "0:30:00"}
    item.update(extra)
    return item


def single(book=BOOK, i=0):
    return dict(session(i), bookId=book, bookType="EPUB")


def batch(book=BOOK, count=2):
    return {"bookId": book, "bookType": "EPUB", "sessions": [session(i) for i in range(count)]}


def claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="module")
def module_server():
    books = [{"id": BOOK, "hash": HASH, "title": "Dune", "isbn13": ISBN13, "isbn10": ISBN10},
             (43, "f" * 32, "Emma")]
    with Standin("G", books=books) as server:
        yield server


@pytest.fixture
def server(module_server):
    module_server.reset(config=True)
    module_server.add_book(HIDDEN, "e" * 32, title="Hidden", accessible=False, deleted=False)
    yield module_server


def post(server, path, body, **kwargs):
    return server.request("POST", path, json_body=body, **kwargs)


# ------------------------------------------------------------------ auth per path

# (name, method, path, body, credentials) -> status for G, A, W, B, B0
MATRIX = [
    ("single none", "POST", "/api/v1/reading-sessions", "single", "none",
     (401, 403, 403, 403, 403)),
    ("single KO", "POST", "/api/v1/reading-sessions", "single", "ko", (401, 403, 202, 202, 202)),
    ("single Bearer", "POST", "/api/v1/reading-sessions", "single", "bearer",
     (202, 202, 202, 202, 403)),
    ("single KO+stale", "POST", "/api/v1/reading-sessions", "single", "ko+stale",
     (401, 401, 401, 401, 202)),
    ("batch KO", "POST", "/api/v1/reading-sessions/batch", "batch", "ko",
     (401, 403, 200, 200, 403)),
    ("batch Bearer", "POST", "/api/v1/reading-sessions/batch", "batch", "bearer",
     (500, 500, 200, 200, 200)),
    ("list KO", "GET", "/api/v1/reading-sessions/book/42", None, "ko", (401, 403, 200, 403, 403)),
    ("list Bearer", "GET", "/api/v1/reading-sessions/book/42", None, "bearer", (200,) * 5),
    ("ko auth bad key", "GET", "/api/koreader/users/auth", None, "badko",
     (401, 403, 403, 403, 403)),
    ("ko auth KO+stale", "GET", "/api/koreader/users/auth", None, "ko+stale",
     (200, 401, 401, 401, 200)),
    ("ko by-hash KO+stale", "GET", "/api/koreader/books/by-hash/" + HASH, None, "ko+stale",
     (200, 401, 401, 401, 200)),
    ("ko by-hash Bearer", "GET", "/api/koreader/books/by-hash/" + HASH, None, "bearer",
     (401, 403, 403, 403, 403)),
    ("v1 by-hash Bearer", "GET", "/api/v1/books/by-hash/" + HASH, None, "bearer", (200,) * 5),
    ("books KO", "GET", "/api/v1/books", None, "ko", (401, 403, 403, 403, 403)),
    ("unknown none", "GET", "/api/v1/nothing", None, "none", (401, 403, 403, 403, 403)),
    ("unknown Bearer", "GET", "/api/v1/nothing", None, "bearer", (200,) * 5),
    ("unknown POST Bearer", "POST", "/api/v1/nothing", "single", "bearer", (500,) * 5),
    ("base path GET none", "GET", "/booklore/api/v1/reading-sessions/book/42", None, "none",
     (200,) * 5),
    ("base path POST none", "POST", "/booklore/api/v1/reading-sessions", "single", "none",
     (500,) * 5),
    ("base path GET stale", "GET", "/booklore/api/v1/books", None, "stale",
     (200, 401, 401, 401, 200)),
    ("login stale", "POST", "/api/v1/auth/login", "login", "stale", (200, 401, 401, 401, 200)),
]


@pytest.mark.parametrize("index,profile", enumerate(PROFILES))
def test_credential_matrix(server, index, profile):
    server.config(profile=profile)
    bearer, stale = server.token(), server.token(ttl=-3600)
    bodies = {"single": single(), "batch": batch(),
              "login": {"username": server.bl_user, "password": server.bl_password}}
    failures = []
    for name, method, path, body, creds, expected in MATRIX:
        headers = {}
        if creds.startswith("ko"):
            headers.update(server.ko_headers())
        if creds == "badko":
            headers.update({"x-auth-user": server.ko_user, "x-auth-key": "0" * 32})
        if creds == "bearer":
            headers["Authorization"] = "Bearer " + bearer
        if creds.endswith("stale"):
            headers["Authorization"] = "Bearer " + stale
        reply = server.request(method, path, headers=headers,
                               json_body=bodies[body] if body else None)
        if reply.status != expected[index]:
            failures.append("%s: %d, expected %d" % (name, reply.status, expected[index]))
    assert failures == []


def test_security_bodies_g_and_a(server):
    reply = post(server, "/api/v1/reading-sessions", single(), ko=True)  # G ignores KO here
    body = reply.json()
    assert reply.status == 401 and set(body) == {"timestamp", "status", "error", "path"}
    assert (body["error"], body["path"]) == ("Unauthorized", "/api/v1/reading-sessions")
    assert body["timestamp"].endswith("Z")
    server.config(profile="A")
    stale = server.token(ttl=-10)
    reply = server.request("GET", "/api/koreader/users/auth", ko=True, bearer=stale)
    assert (reply.status, reply.body) == (401, b"")  # the servlet-level JWT filter


# ------------------------------------------------------------------ login, tokens, rate limit

def test_login_answers_per_profile(server):
    tokens = server.login()
    assert (tokens["expires"], tokens["isDefaultPassword"]) == (7200, False)
    got = claims(tokens["accessToken"])
    assert got["exp"] - got["iat"] == 7200 and got["iss"] == "booklore"
    refreshed = post(server, "/api/v1/auth/refresh", {"refreshToken": tokens["refreshToken"]})
    assert set(refreshed.json()) == {"accessToken", "refreshToken", "expires"}
    server.config(profile="W")
    tokens = server.login()
    assert set(tokens) == {"accessToken", "refreshToken", "isDefaultPassword"}
    assert tokens["isDefaultPassword"] == "false"
    got = claims(tokens["accessToken"])
    assert got["exp"] - got["iat"] == 36000 and "iss" not in got
    server.config(token_ttl=60)
    assert server.state(only=())["config"]["token_ttl"] == 60


def test_g_accepts_a_token_up_to_60_s_past_its_expiry(server):
    path = "/api/v1/reading-sessions/book/42"
    assert server.request("GET", path, bearer=server.token(ttl=-30)).status == 200
    late = server.request("GET", path, bearer=server.token(ttl=-90))
    assert late.status == 401 and late.json()["error"] == "Unauthorized"


def login_from(server, source, username, password):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10,
                                      source_address=(source, 0))
    try:
        reply = server.request("POST", "/api/v1/auth/login", conn=conn,
                               json_body={"username": username, "password": password})
    finally:
        conn.close()
    return reply.status


@pytest.mark.parametrize("profile,by_user", [("G", True), ("W", True), ("B0", False)])
def test_login_lock_counts_per_ip_and_per_user(server, profile, by_user):
    server.config(profile=profile)
    assert [login_from(server, "127.0.0.1", "bluser", "wrong") for _ in range(4)] == [400] * 4
    stats = server.state(only=())["login"]
    assert (stats["failed"], stats["locked"], stats["lock_tripped"]) == (4, False, False)
    assert login_from(server, "127.0.0.1", "bluser", "wrong") == 400
    assert login_from(server, "127.0.0.1", "bluser", "blpass") == 429  # before the password
    # Another address: the user-name key (trimmed, lower-cased) still holds, except in B0.
    assert login_from(server, "127.0.0.2", " BLuser ", "blpass") == (429 if by_user else 400)
    assert login_from(server, "127.0.0.2", "bluser", "blpass") == (429 if by_user else 200)
    stats = server.state(only=())["login"]
    assert (stats["attempts"], stats["failed"], stats["rate_limited"], stats["succeeded"]) == \
        ((8, 5, 3, 0) if by_user else (8, 6, 1, 1))
    assert stats["locked"] is stats["lock_tripped"] is True
    assert "ip:127.0.0.1" in stats["locked_keys"]
    assert ("user:bluser" in stats["locked_keys"]) == by_user
    server.reset()
    assert server.state(only=())["login"] == {"attempts": 0, "succeeded": 0, "failed": 0,
                                               "rate_limited": 0, "refreshes": 0,
                                               "locked": False, "locked_keys": [],
                                               "lock_tripped": False}


# ------------------------------------------------------------------ a book outside the libraries

@pytest.mark.parametrize("profile,status", [("W", 403), ("B", 404), ("G", 202), ("A", 202),
                                            ("B0", 202)])
def test_book_outside_the_users_libraries(server, profile, status):
    server.config(profile=profile)
    creds = {"ko": True} if profile == "B0" else {"bearer": server.token()}  # B0: KO only
    reply = post(server, "/api/v1/reading-sessions", single(HIDDEN), **creds)
    assert reply.status == status
    if status == 403:
        assert reply.json()["message"] == "You are not authorized to access this book."
        again = post(server, "/api/v1/reading-sessions/batch", batch(HIDDEN), ko=True)
        assert (again.status, again.json()["message"]) == (403, reply.json()["message"])
        listing = server.request("GET", "/api/v1/reading-sessions/book/%d" % HIDDEN, ko=True)
        assert listing.status == 200  # no library check on the listing
        by_hash = server.request("GET", "/api/koreader/books/by-hash/" + "e" * 32, ko=True)
        assert by_hash.status == 404
    if status == 404:
        assert reply.json()["message"] == "Book not found with ID: %d" % HIDDEN
    assert server.state(only=())["counts"]["sessions"] == (1 if status == 202 else 0)
    book = server.request("GET", "/api/v1/books/%d" % HIDDEN, bearer=server.token())
    assert (book.status, book.json()["message"]) == \
        (403, "You are not authorized to access this book.")  # @CheckBookAccess, every profile
    server.add_book(HIDDEN, deleted=True)
    book = server.request("GET", "/api/v1/books/%d" % HIDDEN, bearer=server.token())
    assert book.status == (404 if profile == "G" else 403)


# ------------------------------------------------------------------ GET /reading-sessions/book/{id}

def test_session_listing_shape_and_order(server):
    bearer = server.token()
    for i in (3, 1, 2):
        assert post(server, "/api/v1/reading-sessions", single(i=i), bearer=bearer).status == 202
    reply = server.request("GET", "/api/v1/reading-sessions/book/42", bearer=bearer)
    payload = reply.json()
    assert payload["page"] == {"size": 5, "number": 0, "totalElements": 3, "totalPages": 1}
    assert [s["startTime"] for s in payload["content"]] == [
        "2026-02-22T03:00:00Z", "2026-02-22T02:00:00Z", "2026-02-22T01:00:00Z"]
    first = payload["content"][0]
    assert set(first) == {"id", "bookId", "bookTitle", "bookType", "startTime", "endTime",
                          "durationSeconds", "startProgress", "endProgress", "progressDelta",
                          "startLocation", "endLocation", "createdAt"}  # no durationFormatted
    assert (first["bookTitle"], first["startLocation"]) == ("Dune", None)  # nulls are written
    missing = server.request("GET", "/api/v1/reading-sessions/book/999", bearer=bearer)
    assert (missing.status, missing.json()["message"]) == (404, "Book not found with ID: 999")


# profile, query -> status, message, details
LIMITS = [
    ("G", "size=100", 200, None, None),
    ("G", "size=101", 400, "Validation error",
     ["getReadingSessionsForBook.size: must be less than or equal to 100"]),
    ("A", "size=0", 400, "Validation error",
     ["getReadingSessionsForBook.size: must be greater than or equal to 1"]),
    ("B", "page=-1", 400, "Validation error",
     ["getReadingSessionsForBook.page: must be greater than or equal to 0"]),
    ("W", "size=10000", 200, None, None),
    ("W", "size=10001", 400, "Validation error",
     ["getReadingSessionsForBook.size: must be less than or equal to 10000"]),
    ("W", "size=abc", 400, "Invalid value 'abc' for parameter 'size'. Expected type: int", None),
    ("G", "size=abc", 500, "An unexpected error occurred.", None),
    ("B0", "size=100000", 200, None, None),
    ("B0", "size=0", 400, "Page size must not be less than one", None),
    ("B0", "page=-1", 400, "Page index must not be less than zero", None),
]


@pytest.mark.parametrize("profile,query,status,message,details", LIMITS)
def test_session_listing_limits(server, profile, query, status, message, details):
    server.config(profile=profile)
    reply = server.request("GET", "/api/v1/reading-sessions/book/42?" + query,
                           bearer=server.token())
    assert reply.status == status, reply
    if message is not None:
        assert (reply.json()["message"], reply.json().get("details")) == (message, details)


# ------------------------------------------------------------------ ISBN-bearing book lists

def test_book_list_carries_isbns_of_the_users_books(server):
    reply = server.request("GET", "/api/v1/books", bearer=server.token())
    books = {b["id"]: b for b in reply.json()}
    assert sorted(books) == [BOOK, 43]  # the hidden library's book is not listed
    assert (books[BOOK]["metadata"]["isbn13"], books[BOOK]["metadata"]["isbn10"]) == \
        (ISBN13, ISBN10)
    assert "isbn13" not in books[43]["metadata"]  # @JsonInclude(NON_NULL)
    server.add_book(43, isbn13="978-0-14-143951-8")
    reply = server.request("GET", "/api/v1/books", bearer=server.token())
    assert [b["metadata"].get("isbn13") for b in reply.json()] == [ISBN13, "978-0-14-143951-8"]


def test_g_paged_book_lists(server):
    bearer = server.token()
    server.control("POST", "books", [{"id": 100 + i, "hash": "%032x" % i} for i in range(60)])
    app = server.request("GET", "/api/v1/app/books?page=0&size=500", bearer=bearer).json()
    assert (app["size"], len(app["content"]), app["totalElements"], app["hasNext"]) == \
        (50, 50, 62, True)
    last = server.request("GET", "/api/v1/app/books?page=1&size=50", bearer=bearer).json()
    dune = [b for b in last["content"] if b["id"] == BOOK]
    assert dune and (dune[0]["isbn13"], dune[0]["isbn10"]) == (ISBN13, ISBN10)
    page = server.request("GET", "/api/v1/books/page?page=0&size=1000", bearer=bearer).json()
    assert page["page"] == {"size": 100, "number": 0, "totalElements": 62, "totalPages": 1}
    assert server.request("GET", "/api/v1/books/search?isbn=" + ISBN13,
                          bearer=bearer).status == 500  # /{bookId} with a non-number


def test_fork_search_scores_an_exact_isbn_1(server):
    server.config(profile="W")
    bearer = server.token()
    server.add_book(43, isbn13="9780306406164")  # shares a long run of digits with ISBN13
    found = server.request("GET", "/api/v1/books/search?isbn=" + ISBN10, bearer=bearer).json()
    assert found[0] == {"id": BOOK, "title": "Dune", "hash": HASH, "matchScore": 1.0}
    assert [r["id"] for r in found] == [BOOK, 43] and 0 < found[1]["matchScore"] < 1
    exact = server.request("GET", "/api/v1/books/search?isbn=978-0306406164",
                           bearer=bearer).json()
    assert [(r["id"], r["matchScore"]) for r in exact if r["matchScore"] == 1.0] == [(43, 1.0)]
    none = server.request("GET", "/api/v1/books/search", bearer=bearer)
    assert none.status == 400
    server.config(profile="B")  # B asks the database for the exact ISBN only
    found = server.request("GET", "/api/v1/books/search?isbn=" + ISBN10, bearer=bearer).json()
    assert found == [{"id": BOOK, "title": "Dune", "hash": HASH, "matchScore": 1.0}]
    server.config(profile="A")
    assert server.request("GET", "/api/v1/app/books", bearer=bearer).body.startswith(b"<!doc")


# ------------------------------------------------------------------ proxy 404, dedupe, tallies

def test_proxy_404_fault_answers_no_server_json(server):
    server.faults(proxy_404=True, path_prefix="/api/")
    for method, path, body in (("POST", "/api/v1/reading-sessions", single()),
                               ("GET", "/api/v1/reading-sessions/book/42", None),
                               ("POST", "/api/v1/auth/login", {"username": "u"})):
        reply = server.request(method, path, json_body=body, bearer=server.token())
        assert reply.status == 404 and reply.headers["content-type"] == "text/html"
        assert b"nginx" in reply.body
    state = server.state(only=())
    assert state["counts"]["sessions"] == 0 and state["login"]["attempts"] == 1
    assert state["requests_per_route"]["POST /api/v1/reading-sessions"] == 1


def test_no_dedupe_unless_switched_on(server):
    bearer = server.token()
    for _ in range(2):
        post(server, "/api/v1/reading-sessions", single(), bearer=bearer)
    post(server, "/api/v1/reading-sessions", single(43), bearer=bearer)
    state = server.state(only=())
    assert state["sessions_per_book"] == {"42": 2, "43": 1}
    assert (state["duplicates"], state["duplicates_per_book"]) == (1, {"42": 1})
    server.config(profile="W", dedupe=True)
    reply = post(server, "/api/v1/reading-sessions/batch", batch(count=3), bearer=bearer)
    ids = [r["sessionId"] for r in reply.json()["results"]]
    state = server.state(("sessions",))
    stored = [s["id"] for s in state["sessions"]]
    assert ids == [stored[0]] + stored[3:]  # the session already stored keeps its id
    assert (state["duplicates"], state["deduplicated"], state["counts"]["sessions"]) == (1, 1, 5)
    assert state["requests_per_route"] == {"POST /api/v1/reading-sessions": 3,
                                           "POST /api/v1/reading-sessions/batch": 1}
