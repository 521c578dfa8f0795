"""Control API of the stand-in under /__standin/: no auth, never delayed, never faulted.

Tests read what the server recorded (`GET state`), seed books, switch faults and change the
profile at runtime. Bad control input answers 400 {"error": ...} so a typo in a test fails loudly.
"""

import json
import ssl
import time

import standin_http as h
from standin_books import Book
from standin_faults import FaultError
from standin_model import BOOK_TYPES
from standin_profiles import PROFILES

BOOK_KEYS = ("id", "hash", "title", "bookType", "initialHash", "authors", "accessible",
             "deleted", "remove", "isbn10", "isbn13")
CONFIG_KEYS = ("profile", "delay_ms", "seed_delete", "token_ttl", "dedupe", "ko_linked",
               "ko_user", "ko_password", "bl_user", "bl_password", "shelves", "invalidate_tokens",
               "tls_cert", "tls_key")
STATE_LISTS = ("sessions", "requests", "deletions", "shelf_changes", "bulk_deletes", "logins")


class ControlError(Exception):
    pass


def server_context(cert_file, key_file):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as error:
        raise ControlError("cannot load %s / %s: %s" % (cert_file, key_file, error)) from None
    return context


def _body(req):
    if not req.body:
        return {}
    try:
        return json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ControlError("body is not JSON") from None


def _check_keys(obj, allowed):
    if not isinstance(obj, dict):
        raise ControlError("expected a JSON object")
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise ControlError("unknown keys: " + ", ".join(unknown))


def _int(obj, key, minimum=None):
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or \
            (minimum is not None and value < minimum):
        raise ControlError("%s must be an integer" % key)
    return value


def parse_shelves(items):
    """[7, {"id": 8, "name": "KOReader"}] -> {7: "Shelf 7", 8: "KOReader"}."""
    shelves = {}
    for item in items:
        if isinstance(item, dict):
            shelves[int(item["id"])] = str(item.get("name") or "Shelf %s" % item["id"])
        else:
            shelves[int(item)] = "Shelf %d" % int(item)
    return shelves


def apply_book(app, spec):
    """Add or change one book (or remove it); the caller holds app.lock."""
    book_id = spec["id"]
    if spec.get("remove"):
        app.books.pop(book_id, None)
        return None
    book = app.books.get(book_id)
    if book is None:
        if not spec.get("hash"):
            raise ControlError("a new book needs a hash")
        book = app.books[book_id] = Book(book_id, spec["hash"], spec.get("title"),
                                         spec.get("bookType"))
    elif spec.get("hash"):
        book.hash = spec["hash"]  # metadata written into the file: current_hash moves
    if spec.get("title"):
        book.title = spec["title"]
    if spec.get("bookType"):
        book.book_type = spec["bookType"]
    if spec.get("initialHash"):
        book.initial_hash = spec["initialHash"]
    if "authors" in spec:
        book.authors = list(spec["authors"] or [])
    if "accessible" in spec:
        book.accessible = bool(spec["accessible"])
    if "deleted" in spec:
        book.deleted = bool(spec["deleted"])
    for key in ("isbn10", "isbn13"):
        if key in spec:
            setattr(book, key, spec[key] or None)  # "" or null removes it
    return book


class Control:
    def __init__(self, app):
        self.app = app

    def handle(self, req):
        try:
            name = req.path[len("/__standin/"):].strip("/")
            handler = getattr(self, "%s_%s" % (req.method.lower(), name), None)
            if handler is None:
                return h.json_response(404, {"error": "no control endpoint %s %s"
                                                      % (req.method, req.path)})
            return handler(req)
        except (ControlError, FaultError, KeyError, TypeError, ValueError) as error:
            return h.json_response(400, {"error": str(error) or type(error).__name__})

    def get_health(self, req):
        return h.json_response(200, {"ok": True})

    def get_state(self, req):
        only = None
        if "only" in req.query:
            only = set(filter(None, ",".join(req.query.get("only", [])).split(",")))
            unknown = only - set(STATE_LISTS)
            if unknown:
                raise ControlError("unknown state lists: " + ", ".join(sorted(unknown)))
        return h.json_response(200, self.app.snapshot(only))

    def post_books(self, req):
        body = _body(req)
        specs = body if isinstance(body, list) else [body]
        for spec in specs:
            _check_keys(spec, BOOK_KEYS)
            _int(spec, "id")
            if spec.get("bookType") is not None and spec["bookType"] not in BOOK_TYPES:
                raise ControlError("bookType must be one of " + ", ".join(sorted(BOOK_TYPES)))
        app = self.app
        result = []
        with app.lock:
            for spec in specs:
                book = apply_book(app, spec)
                result.append(book.to_json() if book else {"id": spec["id"], "removed": True})
        return h.json_response(200, result if isinstance(body, list) else result[0])

    def get_faults(self, req):
        return h.json_response(200, self.app.faults.to_json())

    def post_faults(self, req):
        body = _body(req)
        if isinstance(body, dict) and body.get("clear"):
            self.app.faults.clear()
            rest = {k: v for k, v in body.items() if k != "clear"}
            if rest:
                self.app.faults.add(rest)
        else:
            self.app.faults.add(body)
        return h.json_response(200, self.app.faults.to_json())

    def delete_faults(self, req):
        self.app.faults.clear()
        return h.json_response(200, [])

    def post_reset(self, req):
        body = _body(req)
        _check_keys(body, ("books", "config"))
        app = self.app
        app.faults.clear()
        with app.lock:
            app.clear_records()
            if body.get("books"):
                app.books.clear()
        if body.get("config"):
            self._apply_config(dict(app.initial_config, **app.initial_accounts))
        return h.json_response(200, {"ok": True})

    def post_config(self, req):
        body = _body(req)
        _check_keys(body, CONFIG_KEYS)
        self._apply_config(body)
        return h.json_response(200, self.app.config_json())

    def _apply_config(self, body):
        app = self.app
        acc = app.accounts
        if "profile" in body and body["profile"] not in PROFILES:
            raise ControlError("profile must be one of " + ", ".join(PROFILES))
        if "tls_cert" in body or "tls_key" in body:
            if app.ssl_context is None:
                raise ControlError("the server runs plain HTTP; start it with --tls-cert")
            # New connections use the new certificate; open ones keep theirs.
            app.ssl_context = server_context(body["tls_cert"], body["tls_key"])
        with app.lock:
            if "profile" in body:
                app.facts = PROFILES[body["profile"]]
            if "delay_ms" in body:
                app.delay_ms = _int(body, "delay_ms", 0)
            if "seed_delete" in body:
                app.seed_delete = bool(body["seed_delete"])
            if "token_ttl" in body:  # null: the profile's own lifetime
                acc.token_ttl = None if body["token_ttl"] is None else _int(body, "token_ttl")
            if "dedupe" in body:
                app.dedupe = bool(body["dedupe"])
            if "ko_linked" in body:
                acc.ko_linked = bool(body["ko_linked"])
            if "ko_user" in body:
                acc.ko_user = str(body["ko_user"])
            if "ko_password" in body:
                acc.set_ko_password(str(body["ko_password"]))
            if "bl_user" in body:
                acc.bl_user = str(body["bl_user"])
            if "bl_password" in body:
                acc.bl_password = str(body["bl_password"])
            if "shelves" in body:
                app.shelves = parse_shelves(body["shelves"])
            if body.get("invalidate_tokens"):
                acc.invalidate_tokens()

    def post_token(self, req):
        """Mint tokens without a login (not recorded): {"ttl": -10} gives an expired one."""
        body = _body(req)
        _check_keys(body, ("ttl", "refresh"))
        now = time.time()
        app = self.app
        with app.lock:
            ttl = _int(body, "ttl") if "ttl" in body else app.token_ttl()
            issuer = app.issuer()
            tokens = {"accessToken": app.accounts.access_token(now, ttl, issuer)}
            if body.get("refresh"):
                tokens["refreshToken"] = app.accounts.refresh_token(now, issuer)
        return h.json_response(200, tokens)
