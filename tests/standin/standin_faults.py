"""Fault switches of the stand-in: which API requests get a broken answer, and how.

A rule matches by method and path prefix and applies to the next `count` matching requests
(no count: until cleared). The first live matching rule wins. Counting is done under a lock so
concurrent requests never both consume the last use of a rule.
"""

import threading

EFFECT_KEYS = ("status", "html", "proxy_404", "retry_after", "drop_after_commit", "hang_ms",
               "close_before", "delay_ms")
RULE_KEYS = EFFECT_KEYS + ("path_prefix", "method", "count", "message", "rst")


class FaultError(ValueError):
    """A rule the control API refuses (unknown key, missing effect, wrong type)."""


def _number(spec, key, minimum=0):
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise FaultError("%s must be a number >= %s" % (key, minimum))
    return value


class FaultRule:
    __slots__ = ("path_prefix", "method", "remaining", "hits", "status", "message", "html",
                 "proxy_404",
                 "retry_after", "drop_after_commit", "rst", "hang_ms", "close_before", "delay_ms",
                 "name")

    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise FaultError("a fault rule is a JSON object")
        unknown = sorted(set(spec) - set(RULE_KEYS))
        if unknown:
            raise FaultError("unknown fault keys: " + ", ".join(unknown))
        effects = [key for key in EFFECT_KEYS if spec.get(key) not in (None, False, 0)]
        if not effects:
            raise FaultError("a fault rule needs one of: " + ", ".join(EFFECT_KEYS))
        self.path_prefix = spec.get("path_prefix") or ""
        self.method = (spec.get("method") or "").upper() or None
        count = _number(spec, "count", 1)
        self.remaining = None if count is None else int(count)
        self.hits = 0
        status = _number(spec, "status", 100)
        self.status = None if status is None else int(status)
        self.message = spec.get("message")
        self.html = bool(spec.get("html"))
        self.proxy_404 = bool(spec.get("proxy_404"))
        retry_after = spec.get("retry_after")
        if retry_after is not None and not isinstance(retry_after, (int, str)):
            raise FaultError("retry_after must be seconds (integer) or an HTTP-date string")
        self.retry_after = retry_after
        if retry_after is not None and self.status is None:
            self.status = 503
        self.drop_after_commit = bool(spec.get("drop_after_commit"))
        self.close_before = bool(spec.get("close_before"))
        self.rst = bool(spec.get("rst"))
        self.hang_ms = _number(spec, "hang_ms") or 0
        self.delay_ms = _number(spec, "delay_ms") or 0
        self.name = "+".join(effects)

    def matches(self, method, path):
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method is not None and self.method != method:
            return False
        return path.startswith(self.path_prefix)

    def replaces_reply(self):
        """True when the rule answers by itself, without doing the real work."""
        return self.html or self.proxy_404 or self.status is not None

    def to_json(self):
        return {"name": self.name, "path_prefix": self.path_prefix, "method": self.method,
                "remaining": self.remaining, "hits": self.hits, "status": self.status,
                "message": self.message, "html": self.html, "proxy_404": self.proxy_404,
                "retry_after": self.retry_after,
                "drop_after_commit": self.drop_after_commit, "close_before": self.close_before,
                "rst": self.rst, "hang_ms": self.hang_ms, "delay_ms": self.delay_ms}


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []

    def add(self, specs):
        """Validate all specs first, so a bad list adds nothing."""
        rules = [FaultRule(spec) for spec in (specs if isinstance(specs, list) else [specs])]
        with self._lock:
            self._rules.extend(rules)

    def clear(self):
        with self._lock:
            self._rules = []

    def take(self, method, path):
        """The rule for this request, with one use consumed; None when no rule applies."""
        if not self._rules:  # the common case stays lock-free
            return None
        with self._lock:
            for rule in self._rules:
                if rule.matches(method, path):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def to_json(self):
        with self._lock:
            return [rule.to_json() for rule in self._rules]
