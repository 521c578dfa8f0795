"""Accounts of the BookLore stand-in: KOReader key check, HS256 JWTs, login rate limiting.

Mirrors server-contract.md §1.2 and §2.8. Nothing here logs or stores a password in clear
beyond the configured account itself; callers must never write tokens or keys anywhere.
"""

import base64
import hashlib
import hmac
import json
import os

REFRESH_TTL = 30 * 24 * 3600  # 30 days
RATE_LIMIT = 5  # failures before 429 (AuthRateLimitService)
RATE_WINDOW = 15 * 60  # Caffeine expireAfterWrite, counted from the first failure


def md5_hex(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FailureCounter:
    """Failed attempts per key (IP or user name) in a window opened by the first failure."""

    def __init__(self):
        self._entries = {}  # key -> [first_failure_time, count]
        self.tripped = False  # some key reached the limit since the last full clear

    def blocked(self, key, now):
        entry = self._entries.get(key)
        if entry is None:
            return False
        if now - entry[0] >= RATE_WINDOW:
            del self._entries[key]
            return False
        return entry[1] >= RATE_LIMIT

    def fail(self, key, now):
        entry = self._entries.get(key)
        if entry is None or now - entry[0] >= RATE_WINDOW:
            entry = self._entries[key] = [now, 0]
        entry[1] += 1
        self.tripped = self.tripped or entry[1] >= RATE_LIMIT

    def locked_keys(self, now):
        """Keys that a new attempt would find over the limit (the account is locked)."""
        return sorted(key for key in list(self._entries) if self.blocked(key, now))

    def clear(self, key=None):
        if key is None:
            self._entries.clear()
            self.tripped = False
        else:
            self._entries.pop(key, None)


class Accounts:
    """The one BookLore user (id 1), its linked KOReader account, and issued tokens.

    Not thread-safe by itself: the app calls it under its state lock.
    """

    def __init__(self, ko_user, ko_password, bl_user, bl_password, token_ttl=None):
        self.ko_user = ko_user
        self.ko_key = md5_hex(ko_password)
        self.bl_user = bl_user
        self.bl_password = bl_password
        self.user_id = 1
        self.token_ttl = token_ttl  # None: the profile's own lifetime
        self.ko_linked = True
        self._secret = os.urandom(32)
        self._refresh = {}  # refresh token -> revoked flag
        self.login_failures = FailureCounter()
        self.refresh_failures = FailureCounter()

    def set_ko_password(self, password):
        self.ko_key = md5_hex(password)

    def invalidate_tokens(self):
        """A new signing secret: every issued token now fails its signature check."""
        self._secret = os.urandom(32)
        self._refresh.clear()

    def ko_valid(self, user, key):
        """KoreaderAuthFilter: user lookup (case-insensitive collation), key equalsIgnoreCase."""
        if not user or not key:
            return False
        return user.lower() == self.ko_user.lower() and key.lower() == self.ko_key

    def _sign(self, claims):
        header = _b64url(b'{"alg":"HS256"}')
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
        signing_input = (header + "." + payload).encode("ascii")
        signature = hmac.new(self._secret, signing_input, hashlib.sha256).digest()
        return header + "." + payload + "." + _b64url(signature)

    def access_token(self, now, ttl, issuer=None):
        claims = {"sub": self.bl_user, "userId": self.user_id, "isDefaultPassword": False,
                  "iat": int(now), "exp": int(now + ttl)}
        if issuer:
            claims["iss"] = issuer
        return self._sign(claims)

    def refresh_token(self, now, issuer=None):
        # jti keeps two tokens issued in the same second distinct, so rotation is observable.
        claims = {"sub": self.bl_user, "userId": self.user_id, "iat": int(now),
                  "exp": int(now + REFRESH_TTL), "jti": _b64url(os.urandom(12))}
        if issuer:
            claims["iss"] = issuer
        token = self._sign(claims)
        self._refresh[token] = False
        return token

    def verify(self, token, now, skew=0):
        """Claims of a well-signed token for the current user that expired no more than `skew`
        seconds ago (Nimbus allows 60 s in G), else None."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        try:
            signature = _b64url_decode(parts[2])
            expected = hmac.new(self._secret, (parts[0] + "." + parts[1]).encode("ascii"),
                                hashlib.sha256).digest()
            if not hmac.compare_digest(signature, expected):
                return None
            claims = json.loads(_b64url_decode(parts[1]))
        except (ValueError, UnicodeError):
            return None
        if not isinstance(claims, dict):
            return None
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp + skew <= now:
            return None
        if claims.get("sub") != self.bl_user:
            return None  # "names a user that no longer exists"
        return claims

    def use_refresh(self, token, now):
        """Rotate a refresh token: True when it was known, unrevoked and valid (now revoked)."""
        if token not in self._refresh or self._refresh[token] or self.verify(token, now) is None:
            return False
        self._refresh[token] = True
        return True
