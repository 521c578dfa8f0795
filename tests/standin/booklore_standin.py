#!/usr/bin/python3
"""BookLore stand-in server for tests, the demo and benchmarks (stdlib only).

HTTP/1.1 with keep-alive (one thread per connection), optional TLS, profiles G / A / W / B / B0 of
/work/shared/reference/server-contract.md, fault switches, and a control API under /__standin/.
Run with --help for the options. Credentials and tokens never reach the log or stderr.
"""

import argparse
import http.server
import os
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from email.utils import formatdate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import standin_http as h  # noqa: E402
from standin_app import App  # noqa: E402
from standin_control import (Control, ControlError, apply_book, parse_shelves,  # noqa: E402
                             server_context)
from standin_model import BOOK_TYPES  # noqa: E402
from standin_profiles import NAMES  # noqa: E402

MAX_BODY = 64 * 1024 * 1024


class BadRequest(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in one write anyway

    def setup(self):
        server = self.server
        self.conn_id = server.app.new_connection()
        self.timeout = server.idle_timeout
        self.aborted = False
        context = server.app.ssl_context
        if context is not None:
            self.request.settimeout(server.idle_timeout)
            try:  # the handshake runs here, in the connection's thread, not in accept()
                self.request = context.wrap_socket(self.request, server_side=True)
            except (OSError, ValueError):
                server.app.count_tls_failure()
                raise HandshakeFailed() from None
        super().setup()

    def handle(self):
        try:
            super().handle()
        except (OSError, ValueError):  # peer reset, TLS error, or I/O after our own abort
            self.close_connection = True

    def finish(self):
        try:
            super().finish()
        except (OSError, ValueError):
            pass
        sock = self.connection
        if isinstance(sock, ssl.SSLSocket):
            if not self.aborted:
                try:  # close_notify, waiting only briefly for the peer's
                    sock.settimeout(0.2)
                    sock.unwrap()
                except (OSError, ValueError):
                    pass
            try:
                sock.close()
            except OSError:
                pass

    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass  # our own log never carries header values

    # ------------------------------------------------------------------ one request

    def _read_body(self):
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None and "chunked" in encoding.lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BadRequest() from None
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise BadRequest()
                chunk = self.rfile.read(size)
                if len(chunk) != size:
                    raise BadRequest()
                chunks.append(chunk)
                self.rfile.readline(8)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise BadRequest() from None
        if size < 0 or size > MAX_BODY:
            raise BadRequest()
        body = self.rfile.read(size) if size else b""
        if len(body) != size:
            raise BadRequest()
        return body

    def _dispatch(self):
        started = time.time()
        try:
            body = self._read_body()
        except BadRequest:
            self.close_connection = True
            self._send(h.error_response(400, h.MALFORMED))
            return
        path, _, query = self.path.partition("?")
        req = h.Request(self.command, path, urllib.parse.parse_qs(query, keep_blank_values=True),
                        self.headers, body, self.conn_id, self.client_address[0], started)
        server = self.server
        if path.startswith("/__standin/"):
            self._send(server.control.handle(req))
            return
        app = server.app
        rule = app.faults.take(req.method, path)
        delay_ms = app.delay_ms + (rule.delay_ms if rule else 0)
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        if rule is not None and rule.close_before:
            app.record(req, None, rule.name, False, 1000 * (time.time() - started))
            self._abort(rule.rst)
            return
        if rule is not None and rule.replaces_reply():
            response = self._fault_reply(rule, req)
        else:
            response = self._real_reply(req)
        # Recorded before the reply (and before a hang), so a client that got the reply, or
        # gave up waiting, always finds the request in the state.
        drop = rule is not None and rule.drop_after_commit
        app.record(req, response.status, rule.name if rule is not None else None, not drop,
                   1000 * (time.time() - started))
        if rule is not None and rule.hang_ms:
            time.sleep(rule.hang_ms / 1000.0)  # after the commit: the timeout duplicate maker
        if drop:
            self._abort(rule.rst)
            return
        self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def _real_reply(self, req):
        try:
            return self.server.app.handle(req)
        except Exception:  # a stand-in bug must still answer like the catch-all handler
            traceback.print_exc(file=sys.stderr)
            return h.error_response(500, h.UNEXPECTED)

    @staticmethod
    def _fault_reply(rule, req):
        if rule.html:
            return h.html_page()
        if rule.proxy_404:
            return h.proxy_404()
        headers = [("Retry-After", str(rule.retry_after))] if rule.retry_after is not None else None
        return h.status_response(rule.status, req.path, rule.message, headers)

    def _send(self, response):
        lines = ["HTTP/1.1 %d %s" % (response.status, h.reason_phrase(response.status)),
                 "Date: " + formatdate(usegmt=True)]
        if response.content_type:
            lines.append("Content-Type: " + response.content_type)
        lines.append("Content-Length: %d" % len(response.body))
        for name, value in response.headers:
            lines.append("%s: %s" % (name, value))
        if self.close_connection:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _abort(self, reset):
        """Close the TCP connection without a reply (no TLS close_notify either)."""
        self.aborted = True
        self.close_connection = True
        sock = self.connection
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass


class HandshakeFailed(Exception):
    pass


class StandinServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address, app, idle_timeout):
        self.app = app
        self.control = Control(app)
        self.idle_timeout = idle_timeout
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall on DNS.
        http.server.socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, (HandshakeFailed, OSError)):
            return
        traceback.print_exc(file=sys.stderr)


def book_arg(text):
    """ID:HASH[:TITLE[:TYPE[:ISBN13[:ISBN10]]]]"""
    parts = text.split(":", 5)
    if len(parts) < 2 or not parts[1]:
        raise argparse.ArgumentTypeError("expected ID:HASH[:TITLE[:TYPE[:ISBN13[:ISBN10]]]]")
    try:
        book_id = int(parts[0])
    except ValueError:
        raise argparse.ArgumentTypeError("book id must be an integer") from None
    title = parts[2] if len(parts) > 2 and parts[2] else None
    book_type = parts[3] if len(parts) > 3 and parts[3] else None
    if book_type is not None and book_type not in BOOK_TYPES:
        raise argparse.ArgumentTypeError("book type must be one of "
                                         + ", ".join(sorted(BOOK_TYPES)))
    spec = {"id": book_id, "hash": parts[1], "title": title, "bookType": book_type}
    for index, key in ((4, "isbn13"), (5, "isbn10")):
        if len(parts) > index and parts[index]:
            spec[key] = parts[index]
    return spec


def shelf_arg(text):
    """ID[:NAME]"""
    shelf_id, _, name = text.partition(":")
    try:
        return {"id": int(shelf_id), "name": name or None}
    except ValueError:
        raise argparse.ArgumentTypeError("shelf id must be an integer") from None


def parse_args(argv):
    parser = argparse.ArgumentParser(description="BookLore stand-in server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--profile", choices=NAMES, default="B")
    parser.add_argument("--tls-cert", help="PEM certificate (chain); HTTPS when given")
    parser.add_argument("--tls-key", help="PEM private key")
    parser.add_argument("--ko-user", default="kouser")
    parser.add_argument("--ko-password", default="kopass")
    parser.add_argument("--bl-user", default="bluser")
    parser.add_argument("--bl-password", default="blpass")
    parser.add_argument("--token-ttl", type=int, default=None,
                        help="access token lifetime, s (default: the profile's own)")
    parser.add_argument("--seed-delete", action="store_true",
                        help="implement the seed's DELETE /api/v1/books/{id}")
    parser.add_argument("--delay-ms", type=int, default=0, help="added to every API request")
    parser.add_argument("--book", type=book_arg, action="append", default=[],
                        metavar="ID:HASH[:TITLE[:TYPE[:ISBN13[:ISBN10]]]]")
    parser.add_argument("--shelf", type=shelf_arg, action="append", default=[],
                        metavar="ID[:NAME]")
    parser.add_argument("--idle-timeout", type=float, default=60.0,
                        help="close a connection idle this long, s")
    parser.add_argument("--log", help="request log file (no credential values)")
    args = parser.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        parser.error("--tls-cert and --tls-key go together")
    return args


def write_port_file(path, port):
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        handle.write("%d\n" % port)
    os.replace(temporary, path)  # readers never see a half-written file


def main(argv=None):
    args = parse_args(argv)
    log_file = open(args.log, "a", encoding="utf-8") if args.log else None
    app = App(args.profile, args.ko_user, args.ko_password, args.bl_user, args.bl_password,
              args.token_ttl, args.seed_delete, args.delay_ms, log_file)
    with app.lock:
        for spec in args.book:
            apply_book(app, spec)
    app.shelves = parse_shelves(args.shelf)
    app.remember_initial_config()

    if args.tls_cert:
        try:
            app.ssl_context = server_context(args.tls_cert, args.tls_key)
        except ControlError as error:
            print("standin_error %s" % error, file=sys.stderr)
            return 2
    server = StandinServer((args.host, args.port), app, args.idle_timeout)
    port = server.server_address[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    print("standin_listening url=%s://%s:%d profile=%s" % (
        "https" if app.ssl_context else "http", args.host, port, args.profile),
        file=sys.stderr, flush=True)

    import signal

    def stop(_signum, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()
        if log_file:
            log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
