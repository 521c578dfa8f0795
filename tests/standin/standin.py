"""Test helper: run the BookLore stand-in as a subprocess and talk to its control API.

    from standin import Standin
    with Standin(profile="B", books=[(42, "0123...")], shelves=[7]) as server:
        ... point the daemon at server.url ...
        server.wait_for(lambda s: s["counts"]["sessions"] == 3)

Control calls always skip certificate checks (the server may be serving a deliberately broken
certificate for a TLS test); `request()` verifies against `ca_file` when one is given.
"""

import hashlib
import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "booklore_standin.py")
MAKE_CERTS = os.path.join(HERE, "make_certs.sh")


def make_certs(outdir):
    """Create (once) the test CA and certificates in outdir; returns outdir.

    Files: ca.crt/key, server.crt/key (localhost + 127.0.0.1), wrong-host.crt/key
    (wrong.example), expired.crt/key (localhost, expired), self-signed.crt/key (localhost).
    """
    subprocess.run(["sh", MAKE_CERTS, outdir], check=True, stdout=subprocess.DEVNULL)
    return outdir


class Reply:
    """A plain HTTP answer: status, headers (lower-case names), raw body."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "Reply(%d, %r)" % (self.status, self.body[:200])


class Standin:
    def __init__(self, profile="B", *, books=(), shelves=(), ko_user="kouser",
                 ko_password="kopass", bl_user="bluser", bl_password="blpass", token_ttl=None,
                 seed_delete=False, delay_ms=0, tls_cert=None, tls_key=None, ca_file=None,
                 log=None, host="127.0.0.1", port=0, idle_timeout=None, extra_args=(),
                 start_timeout=10.0):
        """books: (id, hash[, title[, bookType]]) tuples or {"id","hash",...,"isbn13","isbn10"}
        dicts; profile: G, A, W, B or B0; token_ttl None: the profile's own lifetime;
        shelves: ids or (id, name) pairs owned by the BookLore user. port=0 picks a free
        port; pass an old server's port to restart on it (refused connections in between)."""
        self.profile = profile
        self.host = host
        self.ko_user = ko_user
        self.ko_password = ko_password
        self.bl_user = bl_user
        self.bl_password = bl_password
        self._initial = (profile, ko_user, ko_password, bl_user, bl_password)
        self.tls = tls_cert is not None
        self.ca_file = ca_file
        self.log = log
        self.start_timeout = start_timeout
        self.port = None
        self.process = None
        self._workdir = None
        self._local = threading.local()
        self._late_books = []
        args = ["--host", host, "--port", str(port), "--profile", profile,
                "--ko-user", ko_user, "--ko-password", ko_password,
                "--bl-user", bl_user, "--bl-password", bl_password]
        if token_ttl is not None:
            args += ["--token-ttl", str(token_ttl)]
        if seed_delete:
            args.append("--seed-delete")
        if delay_ms:
            args += ["--delay-ms", str(delay_ms)]
        if tls_cert is not None:
            args += ["--tls-cert", tls_cert, "--tls-key", tls_key]
        if log is not None:
            args += ["--log", log]
        if idle_timeout is not None:
            args += ["--idle-timeout", str(idle_timeout)]
        for book in books:
            if not isinstance(book, dict):
                book = dict(zip(("id", "hash", "title", "bookType"), book))
            if ":" in str(book.get("title") or ""):
                self._late_books.append(book)  # the CLI form cannot carry a colon in a title
                continue
            parts = [book["id"], book["hash"], book.get("title") or "", book.get("bookType") or "",
                     book.get("isbn13") or "", book.get("isbn10") or ""]
            args += ["--book", ":".join(str(part) for part in parts).rstrip(":")]
        for shelf in shelves:
            args += ["--shelf", ":".join(str(p) for p in shelf) if isinstance(shelf, tuple)
                     else str(shelf)]
        self._args = args + list(extra_args)

    # ------------------------------------------------------------------ lifecycle

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    @property
    def url(self):
        """Base URL without a trailing slash, e.g. https://127.0.0.1:41234."""
        return "%s://%s:%d" % (self.scheme, self.host, self.port)

    @property
    def ko_key(self):
        return hashlib.md5(self.ko_password.encode("utf-8")).hexdigest()

    def ko_headers(self):
        return {"x-auth-user": self.ko_user, "x-auth-key": self.ko_key}

    @property
    def stderr_path(self):
        return os.path.join(self._workdir, "stderr.txt")

    def start(self):
        self._workdir = tempfile.mkdtemp(prefix="standin-")
        port_file = os.path.join(self._workdir, "port")
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, SCRIPT, "--port-file", port_file] + self._args,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + self.start_timeout
        while not os.path.exists(port_file):
            if self.process.poll() is not None:
                raise RuntimeError("stand-in exited with %s: %s"
                                   % (self.process.returncode, self.stderr_text()))
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("stand-in did not write its port file in %.0f s"
                                   % self.start_timeout)
            time.sleep(0.01)
        with open(port_file) as handle:
            self.port = int(handle.read())
        if self._late_books:
            self.control("POST", "books", self._late_books)
        return self

    def stderr_text(self):
        try:
            with open(self.stderr_path, errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def stop(self):
        """Terminate the server (SIGTERM, then SIGKILL after 5 s); safe to call twice."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ plain HTTP

    def connection(self, timeout=10.0, verify=None):
        """A keep-alive http.client connection to the server (caller closes it).

        verify: None -> check against ca_file when given, else no check; False -> no check."""
        if not self.tls:
            return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        if verify is False or (verify is None and self.ca_file is None):
            context = ssl._create_unverified_context()
        else:
            context = ssl.create_default_context(cafile=self.ca_file)
        return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                           context=context)

    def request(self, method, path, body=None, headers=None, *, json_body=None, ko=False,
                bearer=None, conn=None, timeout=10.0):
        """One request; json_body sets Content-Type: application/json. Uses `conn` when given
        (keep-alive), else a fresh connection that is closed afterwards."""
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        if ko:
            headers.update(self.ko_headers())
        if bearer is not None:
            headers["Authorization"] = "Bearer " + bearer
        if isinstance(body, str):
            body = body.encode("utf-8")
        own = conn is None
        conn = conn or self.connection(timeout, verify=False)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()},
                         data)
        finally:
            if own:
                conn.close()

    # ------------------------------------------------------------------ control API

    def control(self, method, name, body=None):
        """Call /__standin/<name>; returns the decoded JSON, raises on a non-200 answer.

        Each calling thread keeps one connection; a connection the server closed while idle
        is replaced once (the server never faults or drops control requests)."""
        for attempt in (0, 1):
            conn = getattr(self._local, "conn", None)
            if conn is None or getattr(self._local, "port", None) != self.port:
                conn = self._local.conn = self.connection(verify=False)
                self._local.port = self.port
            try:
                reply = self.request(method, "/__standin/" + name, json_body=body, conn=conn)
                break
            except (http.client.HTTPException, ConnectionError, ssl.SSLError):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        if reply.status != 200:
            raise RuntimeError("control %s %s -> %d %s" % (method, name, reply.status,
                                                          reply.body.decode(errors="replace")))
        return reply.json()

    def state(self, only=None):
        """Everything recorded. only=("sessions", ...) limits the lists; only=() gives just
        config, counts, books, faults, connections and tls_failures (cheap to poll)."""
        name = "state" if only is None else "state?only=" + ",".join(only)
        return self.control("GET", name)

    def sessions(self):
        return self.state(("sessions",))["sessions"]

    def requests(self):
        return self.state(("requests",))["requests"]

    def add_book(self, book_id, book_hash=None, title=None, book_type=None, **extra):
        """Add a book or change one (e.g. a new current hash); extra: initialHash, authors,
        accessible, deleted, remove, isbn10, isbn13."""
        spec = {"id": book_id}
        if book_hash is not None:
            spec["hash"] = book_hash
        if title is not None:
            spec["title"] = title
        if book_type is not None:
            spec["bookType"] = book_type
        spec.update(extra)
        return self.control("POST", "books", spec)

    def faults(self, *rules, **rule):
        """Add fault rules: faults(status=503, count=2, path_prefix="/api/v1/reading-sessions")
        or faults({...}, {...}). Returns all active rules."""
        specs = list(rules) + ([rule] if rule else [])
        return self.control("POST", "faults", specs)

    def clear_faults(self):
        return self.control("DELETE", "faults")

    def reset(self, books=False, config=False):
        """Forget recorded requests/sessions/etc., faults and login rate limits; books=True also
        drops the books, config=True restores the start-up configuration and accounts."""
        reply = self.control("POST", "reset", {"books": books, "config": config})
        if config:
            (self.profile, self.ko_user, self.ko_password, self.bl_user,
             self.bl_password) = self._initial
        return reply

    def config(self, **values):
        """profile, delay_ms, seed_delete, token_ttl, dedupe, ko_linked, ko_user, ko_password,
        bl_user, bl_password, shelves, invalidate_tokens."""
        if "ko_user" in values:
            self.ko_user = values["ko_user"]
        if "ko_password" in values:
            self.ko_password = values["ko_password"]
        if "bl_user" in values:
            self.bl_user = values["bl_user"]
        if "bl_password" in values:
            self.bl_password = values["bl_password"]
        if "profile" in values:
            self.profile = values["profile"]
        return self.control("POST", "config", values)

    def token(self, ttl=None):
        """A fresh access token for the BookLore user (ttl seconds; negative = expired)."""
        body = {} if ttl is None else {"ttl": ttl}
        return self.control("POST", "token", body)["accessToken"]

    def login(self):
        """Log in through the real endpoint; returns the JSON reply (tokens)."""
        reply = self.request("POST", "/api/v1/auth/login",
                             json_body={"username": self.bl_user, "password": self.bl_password})
        if reply.status != 200:
            raise RuntimeError("login failed: %r" % reply)
        return reply.json()

    def wait_for(self, predicate, timeout=10.0, interval=0.02, only=None):
        """Poll state(only) until predicate(state) is truthy; returns that state. Pass only=()
        when the predicate needs just counts: a full state with 10,000 sessions is slow."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(only)
            if predicate(state):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached in %.1f s; counts=%s"
                                   % (timeout, state.get("counts")))
            time.sleep(interval)
