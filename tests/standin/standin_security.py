"""Who may call what: the security layer of the five servers (server-contract.md §1.2).

The chain that matches a request runs its credential filters in order; then, in A, W and B only,
the JWT filter runs once more as a plain servlet filter (see standin_profiles.Profile).
"""

import re
import time

import standin_http as h
from standin_profiles import JWT_IGNORED

BOOK_ID_PATH = re.compile(r"/api/v1/books/[^/]+\Z")


def bearer_token(headers):
    """The token of `Authorization: Bearer <jwt>`; the prefix is case-sensitive."""
    authorization = headers.get("Authorization")
    if authorization is not None and authorization.startswith("Bearer "):
        return authorization[7:]
    return None


def authenticate(app, req):
    """None when the request may go on (req.auth set to "ko" or "bearer" when it proved who it
    is), else the security layer's own answer, which never reaches the exception handler."""
    profile = app.facts
    if app.seed_delete and req.method == "DELETE" and BOOK_ID_PATH.match(req.path):
        filters, public = ("ko", "jwt"), False  # the seed's server: KOReader headers or Bearer
    else:
        filters, public = profile.chain(req.method, req.path)
    headers = req.headers
    accounts = app.accounts
    if "ko" in filters and accounts.ko_valid(headers.get("x-auth-user"),
                                             headers.get("x-auth-key")):
        req.auth = "ko"
    token = bearer_token(headers)
    checked = token is not None and not req.path.startswith(JWT_IGNORED)
    now = time.time()
    if "jwt" in filters and checked:
        with app.lock:
            valid = accounts.verify(token, now, profile.clock_skew) is not None
        if valid:
            req.auth = "bearer"  # a valid Bearer replaces a KOReader principal
        elif profile.jwt == "strict":
            return h.Response(401)  # even on permitAll paths such as the login
    if req.auth is None and not public:
        return h.spring_error(profile.unauthenticated, req.path)
    if profile.servlet_jwt and checked and "jwt" not in filters:
        with app.lock:
            valid = accounts.verify(token, now, profile.clock_skew) is not None
        if not valid:
            return h.Response(401)  # good KOReader headers, stale Bearer: still 401
    return None
