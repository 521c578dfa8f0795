"""Account endpoints of the stand-in: KOReader auth check, login and refresh (server-contract.md
§2.8, §2.9), with the login rate limit of AuthRateLimitService.

Rate limit (G:config/security/service/AuthRateLimitService.java:18-28, :76-94; the same code in
A, W, B): 5 failures per IP and per trimmed, lower-cased user name (B0: per IP only) within 15
minutes of the first failure; checked before the password (G:config/security/service/
AuthenticationService.java:137-140), so while it holds even the right password gets 429.
"""

import time

import standin_http as h
from standin_model import Malformed, as_string

INVALID_CREDENTIALS = "Invalid credentials"


def _blank(text):
    return text is None or text.strip() == ""


class LoginEndpoints:
    """Mixed into App: uses its lock, accounts, facts and helpers."""

    def token_ttl(self):
        """Access-token lifetime: the configured one, else the profile's (G 2 h, else 10 h)."""
        ttl = self.accounts.token_ttl
        return self.facts.token_ttl if ttl is None else ttl

    def _limit_keys(self, req, username):
        keys = ["ip:" + req.client_ip]
        if self.facts.limit_by_user:
            keys.append("user:" + username.strip().lower())
        return keys

    def get_ko_auth(self, req):
        return h.json_response(200, {"username": self.accounts.ko_user})

    def post_ko_create(self, req):
        return h.json_response(403, {"error": "User registration via Koreader is disabled"})

    def post_login(self, req):
        req.note = {"kind": "login", "username": None, "ok": False, "result": "malformed"}
        body = self._json_body(req)
        if not isinstance(body, dict):
            raise Malformed()
        username = as_string(body.get("username"))
        password = as_string(body.get("password"))
        req.note.update(username=username, result="validation")
        details = []
        if _blank(username):
            details.append("username: Username must not be blank")
        if _blank(password):
            details.append("password: Password must not be blank")
        if details:
            raise h.ApiError(400, h.VALIDATION, details)
        now = time.time()
        acc = self.accounts
        keys = self._limit_keys(req, username)
        with self.lock:
            if any(acc.login_failures.blocked(key, now) for key in keys):
                req.note["result"] = "rate_limited"
                raise h.ApiError(429, h.RATE_LIMITED)
            if username != acc.bl_user or password != acc.bl_password:
                for key in keys:
                    acc.login_failures.fail(key, now)
                req.note["result"] = "invalid_credentials"
                raise h.ApiError(400, INVALID_CREDENTIALS)
            for key in keys:
                acc.login_failures.clear(key)
            ttl = self.token_ttl()
            tokens = {"accessToken": acc.access_token(now, ttl, self.issuer()),
                      "refreshToken": acc.refresh_token(now, self.issuer())}
        if self.facts.login_answer == "G":
            # AccessTokenDto (G:model/dto/AccessTokenDto.java:9-18): lifetime in seconds, and a
            # real boolean (G:config/security/service/AuthenticationService.java:205-212).
            tokens.update(expires=ttl, isDefaultPassword=False)
        else:
            # Map<String,String> (W:config/security/service/AuthenticationService.java:220-224)
            tokens["isDefaultPassword"] = "false"
        req.note.update(ok=True, result="ok")
        return h.json_response(200, tokens)

    def post_refresh(self, req):
        req.note = {"kind": "refresh", "ok": False, "result": "malformed"}
        body = self._json_body(req)
        if not isinstance(body, dict):
            raise Malformed()
        token = as_string(body.get("refreshToken"))
        if _blank(token):
            req.note["result"] = "validation"
            raise h.ApiError(400, h.VALIDATION, ["refreshToken: must not be blank"])
        now = time.time()
        acc = self.accounts
        key = "ip:" + req.client_ip
        with self.lock:
            if acc.refresh_failures.blocked(key, now):
                req.note["result"] = "rate_limited"
                raise h.ApiError(429, h.RATE_LIMITED)
            if not acc.use_refresh(token, now):
                acc.refresh_failures.fail(key, now)
                req.note["result"] = "invalid_credentials"
                # INVALID_CREDENTIALS.createException("Refresh token not found") formats
                # "Invalid credentials" with an unused argument: the detail never shows
                # (G:exception/ApiError.java:50, :87-90; G:...AuthenticationService.java:220-227).
                raise h.ApiError(400, INVALID_CREDENTIALS)
            ttl = self.token_ttl()
            tokens = {"accessToken": acc.access_token(now, ttl, self.issuer()),
                      "refreshToken": acc.refresh_token(now, self.issuer())}
        if self.facts.login_answer == "G":
            tokens["expires"] = ttl  # G:config/security/service/AuthenticationService.java:248-254
        req.note.update(ok=True, result="ok")
        return h.json_response(200, tokens)

    def issuer(self):
        return "booklore" if self.facts.name == "G" else None  # G:config/security/JwtUtils.java:36
