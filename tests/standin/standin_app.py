"""The BookLore API of the stand-in: routes, recorded state and the shared helpers, for profiles
G, A, W, B and B0 (standin_profiles.py says how they differ and where that was read).

server-contract.md §1.4 decides what an unknown path answers, §2 the endpoints. Recorded state is
kept as tuples under one short lock; nothing sleeps while holding it.
"""

import collections
import re
import sys
import threading
import time

import standin_http as h
from standin_auth import Accounts
from standin_books import BookEndpoints
from standin_faults import Faults
from standin_login import LoginEndpoints
from standin_model import DataConflict, Malformed, as_integer, load_json
from standin_profiles import PROFILES
from standin_security import BOOK_ID_PATH, authenticate
from standin_sessions import SESSION_KEYS, SessionEndpoints, session_key

REQUEST_KEYS = ("method", "path", "status", "conn", "idempotency_key", "batch",
                "had_ko_headers", "had_bearer", "auth", "fault", "replied", "t")
LIST_NAMES = ("sessions", "requests", "deletions", "shelf_changes", "bulk_deletes", "logins")

ALL = lambda facts: True  # noqa: E731 - a route every profile has


class App(SessionEndpoints, BookEndpoints, LoginEndpoints):
    def __init__(self, profile="B", ko_user="kouser", ko_password="kopass", bl_user="bluser",
                 bl_password="blpass", token_ttl=None, seed_delete=False, delay_ms=0,
                 log_file=None):
        self.lock = threading.Lock()
        self.facts = PROFILES[profile]
        self.seed_delete = seed_delete
        self.delay_ms = delay_ms
        self.dedupe = False
        self.accounts = Accounts(ko_user, ko_password, bl_user, bl_password, token_ttl)
        self.initial_accounts = {"ko_user": ko_user, "ko_password": ko_password,
                                 "bl_user": bl_user, "bl_password": bl_password}
        self.faults = Faults()
        self.books = {}
        self.shelves = {}  # id -> name, all owned by the BookLore user
        self.next_session_id = 1
        self.connections = 0
        self.tls_failures = 0
        self.log_file = log_file
        self.ssl_context = None  # set by the server; the control API may swap it
        self.log_lock = threading.Lock()
        self._routes = self._build_routes()
        self.clear_records()
        self.remember_initial_config()

    def remember_initial_config(self):
        """What `reset {config: true}` restores; token_ttl stays "the profile's own" if unset."""
        self.initial_config = dict(self.config_json(), token_ttl=self.accounts.token_ttl)

    @property
    def profile(self):
        return self.facts.name

    # ---------------------------------------------------------------- state

    def clear_records(self):
        self.sessions = []
        self.session_index = {}  # (bookId, start, end, duration) -> first id, for `dedupe`
        self.deduplicated = 0
        self.requests = []
        self.deletions = []
        self.shelf_changes = []
        self.bulk_deletes = []
        self.logins = []
        self.accounts.login_failures.clear()
        self.accounts.refresh_failures.clear()

    def config_json(self):
        acc = self.accounts
        return {"profile": self.profile, "delay_ms": self.delay_ms,
                "seed_delete": self.seed_delete, "token_ttl": self.token_ttl(),
                "dedupe": self.dedupe, "ko_linked": acc.ko_linked, "ko_user": acc.ko_user,
                "bl_user": acc.bl_user,
                "shelves": [{"id": k, "name": v} for k, v in sorted(self.shelves.items())]}

    def new_connection(self):
        with self.lock:
            self.connections += 1
            return self.connections

    def count_tls_failure(self):
        with self.lock:
            self.tls_failures += 1

    def record(self, req, status, fault, replied, elapsed_ms):
        """Append the request and its endpoint-specific record; `replied` is False when the
        connection is closed instead of answering (close_before, drop_after_commit)."""
        row = (req.method, req.path, status, req.conn, req.idempotency_key, req.batch,
               req.had_ko, req.had_bearer, req.auth, fault, replied, req.t)
        extra = None
        if req.method == "DELETE" and req.path == "/api/v1/books":
            extra = self.bulk_deletes
            print("STANDIN WARNING: DELETE /api/v1/books?ids= called (deletes server files) "
                  "status=%s" % status, file=sys.stderr, flush=True)
        elif req.method == "DELETE" and BOOK_ID_PATH.match(req.path):
            extra = self.deletions
        elif req.method == "POST" and req.path == "/api/v1/books/shelves":
            extra = self.shelf_changes
        elif req.method == "POST" and req.path in ("/api/v1/auth/login", "/api/v1/auth/refresh"):
            extra = self.logins
        with self.lock:
            self.requests.append(row)
            if extra is not None:
                entry = {"path": req.path, "status": status, "replied": replied,
                         "conn": req.conn, "auth": req.auth,
                         "idempotency_key": req.idempotency_key, "t": req.t}
                if extra is self.logins:  # a faulted login never reached the endpoint
                    entry.update(kind="login" if req.path.endswith("login") else "refresh",
                                 ok=False, result="fault" if fault else None)
                entry.update(req.note or {})
                extra.append(entry)
        if self.log_file is not None:
            self._log(req, status, fault, replied, elapsed_ms)

    def _log(self, req, status, fault, replied, elapsed_ms):
        # Credential headers are reported as present/absent only, never their values.
        headers = req.headers
        flags = " ".join("%s=<%s>" % (name, "absent" if headers.get(name) is None
                                      else "present")
                         for name in ("x-auth-user", "x-auth-key", "authorization"))
        line = "%s conn=%d %s %s status=%s ms=%.1f %s idempotency-key=%s batch=%s auth=%s " \
               "fault=%s replied=%s\n" % (
                   time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(req.t)), req.conn,
                   req.method, req.path, status, elapsed_ms, flags,
                   req.idempotency_key or "-", req.batch if req.batch is not None else "-",
                   req.auth or "-", fault or "-", "yes" if replied else "no")
        with self.log_lock:
            self.log_file.write(line)
            self.log_file.flush()

    @staticmethod
    def _tallies(lists, lock, deduplicated):
        """Counts a test asserts on, from copies of the lists (computed outside the lock)."""
        per_book = collections.Counter(row[1] for row in lists["sessions"])
        copies = collections.Counter(session_key(row) for row in lists["sessions"])
        duplicates = collections.Counter()
        for key, count in copies.items():
            if count > 1:
                duplicates[key[0]] += count - 1
        routes = collections.Counter("%s %s" % (r[0], r[1]) for r in lists["requests"])
        logins = [e for e in lists["logins"] if e.get("kind") == "login"]
        locked, tripped = lock
        return {
            "sessions_per_book": {str(k): v for k, v in sorted(per_book.items())},
            "duplicates_per_book": {str(k): v for k, v in sorted(duplicates.items())},
            "duplicates": sum(duplicates.values()), "deduplicated": deduplicated,
            "requests_per_route": dict(sorted(routes.items())),
            "login": {"attempts": len(logins),
                      "succeeded": sum(1 for e in logins if e.get("result") == "ok"),
                      "failed": sum(1 for e in logins
                                    if e.get("result") == "invalid_credentials"),
                      "rate_limited": sum(1 for e in logins if e.get("result") == "rate_limited"),
                      "refreshes": len(lists["logins"]) - len(logins),
                      "locked": bool(locked), "locked_keys": locked,
                      "lock_tripped": tripped}}

    def snapshot(self, only=None):
        """The recorded state as JSON-ready values; `only` limits which lists are included."""
        with self.lock:
            lists = {name: list(getattr(self, name)) for name in LIST_NAMES}
            books = [book.to_json() for book in sorted(self.books.values(), key=lambda b: b.id)]
            state = {"config": self.config_json(), "connections": self.connections,
                     "tls_failures": self.tls_failures, "books": books}
            failures = self.accounts.login_failures
            lock = (failures.locked_keys(time.time()), failures.tripped)
            deduplicated = self.deduplicated
        state.update(self._tallies(lists, lock, deduplicated))
        state["faults"] = self.faults.to_json()
        state["counts"] = {name: len(rows) for name, rows in lists.items()}
        for name, rows in lists.items():
            if only is not None and name not in only:
                continue
            if name == "sessions":
                rows = [dict(zip(SESSION_KEYS, row)) for row in rows]
            elif name == "requests":
                rows = [dict(zip(REQUEST_KEYS, row)) for row in rows]
            state[name] = rows
        return state

    # ---------------------------------------------------------------- routing (§1.4)

    def _build_routes(self):
        batch = lambda facts: facts.batch  # noqa: E731
        by_hash = lambda facts: facts.by_hash  # noqa: E731
        table = [
            (r"/api/v1/reading-sessions", {"POST": self.post_single}, ALL),
            (r"/api/v1/reading-sessions/batch", {"POST": self.post_batch}, batch),
            (r"/api/v1/reading-sessions/book/([^/]+)", {"GET": self.get_book_sessions}, ALL),
            (r"/api/koreader/books/by-hash/([^/]+)", {"GET": self.get_by_hash_ko}, by_hash),
            (r"/api/v1/books/by-hash/([^/]+)", {"GET": self.get_by_hash_v1}, by_hash),
            (r"/api/koreader/users/auth", {"GET": self.get_ko_auth}, ALL),
            (r"/api/koreader/users/create", {"POST": self.post_ko_create}, ALL),
            (r"/api/v1/auth/login", {"POST": self.post_login}, ALL),
            (r"/api/v1/auth/refresh", {"POST": self.post_refresh}, ALL),
            (r"/api/v1/books/shelves", {"POST": self.post_shelves}, ALL),
            (r"/api/v1/shelves", {"GET": self.get_shelves}, ALL),
            (r"/api/v1/books", {"GET": self.get_books, "DELETE": self.delete_books_bulk}, ALL),
            (r"/api/v1/books/page", {"GET": self.get_books_page}, lambda f: f.app_books),
            (r"/api/v1/books/search", {"GET": self.get_books_search},
             lambda f: f.book_search),
            (r"/api/v1/app/books", {"GET": self.get_app_books}, lambda f: f.app_books),
            (r"/api/v1/books/([^/]+)", {"GET": self.get_book, "DELETE": self.delete_book}, ALL),
        ]
        return [(re.compile(pattern + r"\Z"), methods, has)
                for pattern, methods, has in table]

    def handle(self, req):
        """The answer of the real server to one API request; commits what it accepts."""
        try:
            denied = authenticate(self, req)
            if denied is not None:
                return denied
            facts = self.facts
            for regex, methods, has in self._routes:
                match = regex.match(req.path)
                if match and has(facts):
                    handler = methods.get(req.method)
                    if handler is None:
                        raise h.Unexpected()  # HttpRequestMethodNotSupportedException
                    return handler(req, *match.groups())
            if req.method == "GET":
                return h.html_page()  # SPA fallback (G:config/WebMvcConfig.java:37-53)
            raise h.Unexpected()
        except h.ApiError as error:
            return h.error_response(error.status, error.message, error.details)
        except Malformed:
            return h.error_response(400, h.MALFORMED)
        except DataConflict:
            return h.error_response(400, h.DATA_CONFLICT)
        except h.Unexpected:
            return h.error_response(500, h.UNEXPECTED)

    # ---------------------------------------------------------------- helpers

    def type_mismatch(self, name, text, type_name):
        """MethodArgumentTypeMismatchException: W answers 400 (W:exception/
        GlobalExceptionHandler.java:51-62); elsewhere the catch-all's 500."""
        if self.facts.type_mismatch_400:
            return h.ApiError(400, "Invalid value '%s' for parameter '%s'. Expected type: %s"
                              % (text, name, type_name))
        return h.Unexpected()

    def path_long(self, text, name, type_name):
        """A Long path variable or parameter."""
        try:
            return as_integer(text, 64)
        except Malformed:
            raise self.type_mismatch(name, text, type_name) from None

    @staticmethod
    def _json_body(req):
        content_type = req.headers.get("Content-Type")
        if not content_type:
            raise h.Unexpected()  # HttpMediaTypeNotSupportedException
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/")
                                               and media.endswith("+json")):
            raise h.Unexpected()
        return load_json(req.body)

    def _linked_user(self, req):
        # W:config/security/service/AuthenticationService.java:98-103 (IllegalStateException)
        if req.auth == "ko" and not self.accounts.ko_linked:
            raise h.ApiError(409, "KOReader user is not linked to a BookLore user")
