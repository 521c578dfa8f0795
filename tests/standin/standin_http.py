"""Request / response values and the response bodies BookLore (Spring) produces.

server-contract.md §1.1 (ErrorResponse), §1.2 (Spring's default 403 body, empty 401) and §1.4
(the Angular page that the SPA fallback serves for unknown GETs).
"""

import datetime
import http
import json

JSON = "application/json"

MALFORMED = "Request body is missing or malformed."
UNEXPECTED = "An unexpected error occurred."
DATA_CONFLICT = "A data conflict occurred. The operation could not be completed."
VALIDATION = "Validation error"
RATE_LIMITED = "Too many failed login attempts. Please try again later."

SPA_PAGE = (b'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            b'<title>BookLore</title>\n<base href="/">\n'
            b'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            b'<link rel="stylesheet" href="styles.css"></head>\n'
            b'<body>\n<app-root></app-root>\n'
            b'<script src="polyfills.js" type="module"></script>\n'
            b'<script src="main.js" type="module"></script>\n</body>\n</html>\n')

# What a reverse proxy (nginx) answers for a path it does not route: not the server's JSON.
PROXY_404 = (b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
             b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")

_DEFAULT_MESSAGES = {400: MALFORMED, 404: "Resource not found", 409: "Conflict",
                     429: "Too many requests", 500: UNEXPECTED}


class Request:
    """One API or control request as the handlers see it (the body is fully read)."""

    __slots__ = ("method", "path", "query", "headers", "body", "conn", "client_ip", "t",
                 "idempotency_key", "had_ko", "had_bearer", "auth", "batch", "note")

    def __init__(self, method, path, query, headers, body, conn, client_ip, t):
        self.method = method
        self.path = path
        self.query = query  # dict name -> list of values
        self.headers = headers  # case-insensitive .get()
        self.body = body
        self.conn = conn
        self.client_ip = client_ip
        self.t = t
        self.idempotency_key = headers.get("Idempotency-Key")
        self.had_ko = (headers.get("x-auth-user") is not None
                       or headers.get("x-auth-key") is not None)
        authorization = headers.get("Authorization")
        self.had_bearer = authorization is not None and authorization.startswith("Bearer ")
        self.auth = None  # "ko" | "bearer" once authenticated
        self.batch = None  # number of sessions in a batch body
        self.note = None  # extra fields for the endpoint's own record list


class Response:
    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status, body=b"", content_type=None, headers=None):
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or []


class Unexpected(Exception):
    """Anything the catch-all handler turns into 500 "An unexpected error occurred."."""


class ApiError(Exception):
    """An error the app answers with an ErrorResponse body."""

    def __init__(self, status, message, details=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def json_response(status, obj, headers=None):
    return Response(status, dumps(obj), JSON, headers)


def local_timestamp():
    """LocalDateTime.now(): server zone, no offset, nanosecond digits."""
    return datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S.%f") + "000"


def error_response(status, message, details=None, headers=None):
    body = {"status": status, "message": message, "timestamp": local_timestamp()}
    if details:
        body["details"] = details
    return json_response(status, body, headers)


def paged(content, page, size, total):
    """A Page serialised VIA_DTO (G:config/WebMvcConfig.java:23): content plus page metadata."""
    return {"content": content, "page": {"size": size, "number": page, "totalElements": total,
                                         "totalPages": (total + size - 1) // size}}


def spring_error(status, path):
    """Spring Boot's /error body: G's 401 (a live Grimmory answered
    {"timestamp":"2026-07-07T09:00:52.066Z","status":401,"error":"Unauthorized","path":...})
    and the default 403 entry point of the others."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] \
        + "Z"
    return json_response(status, {"timestamp": stamp, "status": status,
                                  "error": http.HTTPStatus(status).phrase, "path": path})


def html_page():
    return Response(200, SPA_PAGE, "text/html;charset=UTF-8")


def proxy_404():
    return Response(404, PROXY_404, "text/html")


def status_response(status, path, message=None, headers=None):
    """A contract-style answer for an arbitrary status (used by the fault switches)."""
    if status == 401:
        return Response(401, headers=headers)  # the JWT filter's empty 401
    if status == 403 and message is None:
        response = spring_error(403, path)
        response.headers = headers or []
        return response
    if message is None:
        try:
            message = _DEFAULT_MESSAGES.get(status) or http.HTTPStatus(status).phrase
        except ValueError:
            message = "Error"
    return error_response(status, message, headers=headers)


def reason_phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
