"""The BookLore API of the stand-in: security chains, routes and endpoints for profiles A, B, B0.

server-contract.md §1.2 decides who may call what, §1.4 what an unknown path answers, §2 the
endpoints. Recorded state is kept as tuples under one short lock; nothing sleeps while holding it.
"""

import re
import sys
import threading
import time

import standin_http as h
from standin_auth import Accounts
from standin_faults import Faults
from standin_model import BatchRequest, DataConflict, Malformed, SingleRequest, as_integer, \
    as_string, format_instant, load_json

PROFILES = ("A", "B", "B0")
FORKS = ("B", "B0")
SESSION_PATHS = ("/api/v1/reading-sessions", "/api/v1/reading-sessions/batch")
JWT_IGNORED = ("/api/v1/opds/", "/api/v2/opds/", "/api/v1/auth/refresh", "/api/v1/setup/",
               "/api/kobo/")
PERMIT_ALL = ("/api/v1/auth", "/api/v1/public-settings", "/api/v1/setup", "/api/v1/healthcheck")
BOOK_ID_PATH = re.compile(r"/api/v1/books/[^/]+\Z")
EXTENSIONS = {"PDF": "pdf", "EPUB": "epub", "CBX": "cbz", "FB2": "fb2", "MOBI": "mobi",
              "AZW3": "azw3", "AUDIOBOOK": "m4b"}

SESSION_KEYS = ("id", "bookId", "bookType", "startTime", "endTime", "durationSeconds",
                "durationFormatted", "startProgress", "endProgress", "progressDelta",
                "startLocation", "endLocation", "via", "idempotency_key", "auth", "conn",
                "createdAt")
REQUEST_KEYS = ("method", "path", "status", "conn", "idempotency_key", "batch",
                "had_ko_headers", "had_bearer", "auth", "fault", "replied", "t")


class Unexpected(Exception):
    """Anything the catch-all handler turns into 500 "An unexpected error occurred."."""


class Book:
    __slots__ = ("id", "hash", "initial_hash", "title", "book_type", "authors", "accessible",
                 "deleted", "shelves")

    def __init__(self, book_id, book_hash, title=None, book_type="EPUB"):
        self.id = book_id
        self.hash = book_hash
        self.initial_hash = book_hash
        self.title = title or "Book %d" % book_id
        self.book_type = book_type or "EPUB"
        self.authors = []
        self.accessible = True
        self.deleted = False
        self.shelves = set()

    def to_json(self):
        return {"id": self.id, "hash": self.hash, "initialHash": self.initial_hash,
                "title": self.title, "bookType": self.book_type, "authors": self.authors,
                "accessible": self.accessible, "deleted": self.deleted,
                "shelves": sorted(self.shelves)}


def _permit_all(path):
    """Spring's "/api/v1/auth/**" matches the bare path and everything below it."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PERMIT_ALL)


def _path_long(text):
    """A Long path variable; anything else is a type mismatch (500)."""
    try:
        return as_integer(text, 64)
    except Malformed:
        raise Unexpected() from None


class App:
    def __init__(self, profile="B", ko_user="kouser", ko_password="kopass", bl_user="bluser",
                 bl_password="blpass", token_ttl=36000, seed_delete=False, delay_ms=0,
                 log_file=None):
        self.lock = threading.Lock()
        self.profile = profile
        self.seed_delete = seed_delete
        self.delay_ms = delay_ms
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
        self.initial_config = self.config_json()

    # ---------------------------------------------------------------- state

    def clear_records(self):
        self.sessions = []
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
                "seed_delete": self.seed_delete, "token_ttl": acc.token_ttl,
                "ko_linked": acc.ko_linked, "ko_user": acc.ko_user, "bl_user": acc.bl_user,
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

    def snapshot(self, only=None):
        """The recorded state as JSON-ready values; `only` limits which lists are included."""
        with self.lock:
            lists = {"sessions": list(self.sessions), "requests": list(self.requests),
                     "deletions": list(self.deletions), "shelf_changes": list(self.shelf_changes),
                     "bulk_deletes": list(self.bulk_deletes), "logins": list(self.logins)}
            books = [book.to_json() for book in sorted(self.books.values(), key=lambda b: b.id)]
            state = {"config": self.config_json(), "connections": self.connections,
                     "tls_failures": self.tls_failures, "books": books}
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

    # ---------------------------------------------------------------- security (§1.2)

    def _chain(self, method, path):
        profile = self.profile
        if profile == "B" and method == "POST" and path in SESSION_PATHS:
            return "ko+jwt"  # readingSessionsSecurityChain: KOReader filter, then JWT filter
        if self.seed_delete and method == "DELETE" and BOOK_ID_PATH.match(path):
            return "ko+jwt"  # the seed's server: KOReader headers or Bearer
        if profile == "B0" and path == "/api/v1/reading-sessions":
            return "ko"
        if path.startswith("/api/koreader/") or path == "/api/koreader":
            return "ko"
        if path.startswith(("/api/", "/komga/", "/ws/")):
            return "jwt"
        return "web"

    def _authenticate(self, req):
        """None when the request may go on (req.auth set), else the security answer."""
        chain = self._chain(req.method, req.path)
        headers = req.headers
        if chain != "jwt" and chain != "web":
            if self.accounts.ko_valid(headers.get("x-auth-user"), headers.get("x-auth-key")):
                req.auth = "ko"
        if chain.endswith("jwt") and not req.path.startswith(JWT_IGNORED):
            authorization = headers.get("Authorization")
            if authorization is not None and authorization.startswith("Bearer "):
                if self.accounts.verify(authorization[7:], time.time()) is None:
                    return h.Response(401)  # even on permitAll paths
                req.auth = "bearer"
        if req.auth is None and chain != "web":
            if chain == "jwt" and _permit_all(req.path):
                return None
            return h.spring_error(403, req.path)
        return None

    # ---------------------------------------------------------------- routing (§1.4)

    def _build_routes(self):
        table = [
            (r"/api/v1/reading-sessions", {"POST": self.post_single}, PROFILES),
            (r"/api/v1/reading-sessions/batch", {"POST": self.post_batch}, FORKS),
            (r"/api/v1/reading-sessions/book/([^/]+)", {"GET": self.get_book_sessions}, PROFILES),
            (r"/api/koreader/books/by-hash/([^/]+)", {"GET": self.get_by_hash_ko}, FORKS),
            (r"/api/v1/books/by-hash/([^/]+)", {"GET": self.get_by_hash_v1}, FORKS),
            (r"/api/koreader/users/auth", {"GET": self.get_ko_auth}, PROFILES),
            (r"/api/koreader/users/create", {"POST": self.post_ko_create}, PROFILES),
            (r"/api/v1/auth/login", {"POST": self.post_login}, PROFILES),
            (r"/api/v1/auth/refresh", {"POST": self.post_refresh}, PROFILES),
            (r"/api/v1/books/shelves", {"POST": self.post_shelves}, PROFILES),
            (r"/api/v1/shelves", {"GET": self.get_shelves}, PROFILES),
            (r"/api/v1/books", {"DELETE": self.delete_books_bulk}, PROFILES),
            (r"/api/v1/books/([^/]+)", {"GET": self.get_book, "DELETE": self.delete_book},
             PROFILES),
        ]
        return [(re.compile(pattern + r"\Z"), methods, profiles)
                for pattern, methods, profiles in table]

    def handle(self, req):
        """The answer of the real server to one API request; commits what it accepts."""
        try:
            denied = self._authenticate(req)
            if denied is not None:
                return denied
            profile = self.profile
            for regex, methods, profiles in self._routes:
                match = regex.match(req.path)
                if match and profile in profiles:
                    handler = methods.get(req.method)
                    if handler is None:
                        raise Unexpected()  # HttpRequestMethodNotSupportedException
                    return handler(req, *match.groups())
            if req.method == "GET":
                return h.html_page()  # SPA fallback
            raise Unexpected()
        except h.ApiError as error:
            return h.error_response(error.status, error.message, error.details)
        except Malformed:
            return h.error_response(400, h.MALFORMED)
        except DataConflict:
            return h.error_response(400, h.DATA_CONFLICT)
        except Unexpected:
            return h.error_response(500, h.UNEXPECTED)

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _json_body(req):
        content_type = req.headers.get("Content-Type")
        if not content_type:
            raise Unexpected()  # HttpMediaTypeNotSupportedException
        media = content_type.split(";", 1)[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/")
                                               and media.endswith("+json")):
            raise Unexpected()
        return load_json(req.body)

    def _linked_user(self, req):
        if req.auth == "ko" and not self.accounts.ko_linked:
            raise h.ApiError(409, "KOReader user is not linked to a BookLore user")

    def _session_book(self, book_id):
        with self.lock:
            book = self.books.get(book_id)
        # findById also finds soft-deleted books; only B checks library access.
        if book is None or (self.profile == "B" and not book.accessible):
            raise h.ApiError(404, "Book not found with ID: %d" % book_id)
        return book

    def _book_dto(self, book, with_description):
        ext = EXTENSIONS.get(book.book_type, "epub")
        metadata = {"bookId": book.id, "title": book.title, "authors": list(book.authors)}
        if with_description:
            metadata["description"] = "A book served by the BookLore stand-in."
        return {"id": book.id, "libraryId": 1, "libraryName": "Books",
                "primaryFile": {"id": 1000 + book.id, "bookId": book.id,
                                "fileName": "%s.%s" % (book.title, ext), "fileSubPath": "",
                                "isBook": True, "folderBased": False,
                                "bookType": book.book_type, "fileSizeKb": 512,
                                "extension": ext, "addedOn": "2026-01-01T00:00:00Z"},
                "metadata": metadata,
                "shelves": [{"id": s, "name": self.shelves.get(s, "Shelf %d" % s)}
                            for s in sorted(book.shelves)],
                "readStatus": "READING", "isPhysical": False, "alternativeFormats": [],
                "supplementaryFiles": []}

    def _store(self, book_type, rows, via, req):
        """INSERT: assigns ids and appends; returns the ids."""
        created = time.strftime("%Y-%m-%dT%H:%M:%S")
        with self.lock:
            first = self.next_session_id
            self.next_session_id += len(rows)
            for offset, (book_id, values) in enumerate(rows):
                self.sessions.append((first + offset, book_id, book_type) + values +
                                     (via, req.idempotency_key, req.auth, req.conn, created))
        return range(first, first + len(rows))

    # ---------------------------------------------------------------- sessions (§2.1, §2.2)

    def post_single(self, req):
        request = SingleRequest(self._json_body(req))
        details = request.validation_details()
        if details:
            raise h.ApiError(400, h.VALIDATION, details)
        self._linked_user(req)
        self._session_book(request.book_id)
        if request.book_type is None:
            raise DataConflict()  # book_type NOT NULL
        values = request.fields.storage_values()
        (session_id,) = self._store(request.book_type, [(request.book_id, values)], "single", req)
        if self.profile == "B0":
            return h.json_response(202, {"sessionId": session_id})
        return h.Response(202)

    def post_batch(self, req):
        request = BatchRequest(self._json_body(req))
        req.batch = request.raw_count
        fork_b = self.profile == "B"
        details = request.validation_details(1000 if fork_b else None, fork_b)
        if details:
            raise h.ApiError(400, h.VALIDATION, details)
        if any(item is None for item in request.items):
            raise Unexpected()  # a null list element reaches the service loop: NPE
        self._linked_user(req)
        self._session_book(request.book_id)
        for item in request.items:
            if item.end < item.start:
                raise h.ApiError(400, "End time must be after start time")
        rows = [(request.book_id, item.storage_values()) for item in request.items]
        ids = self._store(request.book_type, rows, "batch", req)
        results = [{"sessionId": session_id, "startTime": format_instant(item.start),
                    "endTime": format_instant(item.end)}
                   for session_id, item in zip(ids, request.items)]
        return h.json_response(200, {"totalRequested": len(results),
                                     "successCount": len(results), "results": results})

    def get_book_sessions(self, req, book_text):
        book_id = _path_long(book_text)
        try:
            page = int(req.query.get("page", ["0"])[0])
            size = int(req.query.get("size", ["20"])[0])
        except ValueError:
            raise Unexpected() from None
        if size < 1 or size > 100 or page < 0:
            raise h.ApiError(400, h.VALIDATION)
        with self.lock:
            book = self.books.get(book_id)
            rows = [row for row in self.sessions if row[1] == book_id]
        if book is None:
            raise h.ApiError(404, "Book not found with ID: %d" % book_id)
        rows.sort(key=lambda row: (row[3], row[0]), reverse=True)
        content = [{"id": r[0], "bookId": r[1], "bookTitle": book.title, "bookType": r[2],
                    "startTime": r[3], "endTime": r[4], "durationSeconds": r[5],
                    "startProgress": r[7], "endProgress": r[8], "progressDelta": r[9],
                    "startLocation": r[10], "endLocation": r[11], "createdAt": r[16]}
                   for r in rows[page * size:(page + 1) * size]]
        return h.json_response(200, {"content": content, "page": {
            "size": size, "number": page, "totalElements": len(rows),
            "totalPages": (len(rows) + size - 1) // size}})

    # ---------------------------------------------------------------- books (§2.3–§2.7)

    def _by_hash(self, req, book_hash, with_description):
        self._linked_user(req)
        wanted = book_hash.lower()
        with self.lock:
            matches = [b for b in self.books.values()
                       if not b.deleted and b.hash and b.hash.lower() == wanted]
        if len(matches) > 1:
            raise Unexpected()  # non-unique result
        if not matches or not matches[0].accessible:
            raise h.ApiError(404, "Book with hash %s not found" % book_hash)
        return h.json_response(200, self._book_dto(matches[0], with_description))

    def get_by_hash_ko(self, req, book_hash):
        return self._by_hash(req, book_hash, True)

    def get_by_hash_v1(self, req, book_hash):
        return self._by_hash(req, book_hash, req.query.get("withDescription") == ["true"])

    def get_book(self, req, book_text):
        book_id = _path_long(book_text)
        with self.lock:
            book = self.books.get(book_id)
        if book is None or book.deleted:
            raise h.ApiError(404, "Book not found with ID: %d" % book_id)
        return h.json_response(200, self._book_dto(book, False))

    def delete_book(self, req, book_text):
        if not self.seed_delete:
            raise Unexpected()  # matches GET /{bookId} with the wrong method
        book_id = _path_long(book_text)
        req.note = {"bookId": book_id}
        with self.lock:
            known = book_id in self.books
        if not known:
            raise h.ApiError(404, "Book not found with ID: %d" % book_id)
        return h.json_response(200, {"id": book_id, "deleted": True})

    def delete_books_bulk(self, req):
        values = req.query.get("ids")
        if not values:
            raise Unexpected()  # MissingServletRequestParameterException
        ids = [_path_long(part.strip()) for value in values for part in value.split(",")
               if part.strip()]
        req.note = {"ids": ids}
        if not ids:
            raise Unexpected()
        with self.lock:
            for book_id in ids:
                self.books.pop(book_id, None)  # files and rows are gone
        return h.json_response(200, {"deleted": ids, "failedFileDeletions": []})

    def post_shelves(self, req):
        body = self._json_body(req)
        if not isinstance(body, dict):
            raise Malformed()
        sets = {}
        for key in ("bookIds", "shelvesToAssign", "shelvesToUnassign"):
            value = body.get(key)
            if value is not None and not isinstance(value, list):
                raise Malformed()
            sets[key] = None if value is None else [as_integer(v, 64) for v in value]
        req.note = dict(sets)
        if any(value is None or None in value for value in sets.values()):
            raise Unexpected()  # containsAll(null) / findAllById(null)
        owned = self.shelves
        if not set(sets["shelvesToAssign"]) <= set(owned):
            raise h.ApiError(401, "Cannot assign shelves that do not belong to the user.")
        if not set(sets["shelvesToUnassign"]) <= set(owned):
            raise h.ApiError(401, "Cannot unassign shelves that do not belong to the user.")
        found = []
        with self.lock:
            for book_id in dict.fromkeys(sets["bookIds"]):
                book = self.books.get(book_id)
                if book is None or book.deleted:
                    continue
                book.shelves.difference_update(sets["shelvesToUnassign"])
                book.shelves.update(sets["shelvesToAssign"])
                found.append(book)
            dtos = [self._book_dto(book, False) for book in found]
        return h.json_response(200, dtos)

    def get_shelves(self, req):
        with self.lock:
            counts = {s: sum(1 for b in self.books.values() if s in b.shelves)
                      for s in self.shelves}
            shelves = [{"id": s, "name": name, "icon": "pi pi-book", "iconType": "PRIME_NG",
                        "userId": self.accounts.user_id, "publicShelf": False,
                        "bookCount": counts[s]} for s, name in sorted(self.shelves.items())]
        return h.json_response(200, shelves)

    # ---------------------------------------------------------------- accounts (§2.8, §2.9)

    def get_ko_auth(self, req):
        return h.json_response(200, {"username": self.accounts.ko_user})

    def post_ko_create(self, req):
        return h.json_response(403, {"error": "User registration via Koreader is disabled"})

    @staticmethod
    def _blank(text):
        return text is None or text.strip() == ""

    def post_login(self, req):
        body = self._json_body(req)
        if not isinstance(body, dict):
            raise Malformed()
        username = as_string(body.get("username"))
        password = as_string(body.get("password"))
        details = []
        if self._blank(username):
            details.append("username: Username must not be blank")
        if self._blank(password):
            details.append("password: Password must not be blank")
        if details:
            raise h.ApiError(400, h.VALIDATION, details)
        req.note = {"kind": "login", "username": username, "ok": False}
        now = time.time()
        acc = self.accounts
        user_key = "user:" + username
        with self.lock:
            if acc.login_failures.blocked(req.client_ip, now) or \
                    acc.login_failures.blocked(user_key, now):
                raise h.ApiError(429, h.RATE_LIMITED)
            if username != acc.bl_user or password != acc.bl_password:
                acc.login_failures.fail(req.client_ip, now)
                acc.login_failures.fail(user_key, now)
                raise h.ApiError(400, "Invalid credentials")
            acc.login_failures.clear(req.client_ip)
            acc.login_failures.clear(user_key)
            tokens = {"accessToken": acc.access_token(now), "refreshToken": acc.refresh_token(now),
                      "isDefaultPassword": "false"}
        req.note["ok"] = True
        return h.json_response(200, tokens)

    def post_refresh(self, req):
        body = self._json_body(req)
        if not isinstance(body, dict):
            raise Malformed()
        token = as_string(body.get("refreshToken"))
        if self._blank(token):
            raise h.ApiError(400, h.VALIDATION, ["refreshToken: must not be blank"])
        req.note = {"kind": "refresh", "ok": False}
        now = time.time()
        acc = self.accounts
        with self.lock:
            if acc.refresh_failures.blocked(req.client_ip, now):
                raise h.ApiError(429, h.RATE_LIMITED)
            problem = acc.use_refresh(token, now)
            if problem is not None:
                acc.refresh_failures.fail(req.client_ip, now)
                raise h.ApiError(400, problem)
            tokens = {"accessToken": acc.access_token(now), "refreshToken": acc.refresh_token(now)}
        req.note["ok"] = True
        return h.json_response(200, tokens)
