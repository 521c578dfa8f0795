"""Request-body parsing and validation for the stand-in, as Jackson 3 + Bean Validation do it.

server-contract.md §1.3 (parsing), §2.1 (single session) and §2.2 (batch). Parsing problems raise
Malformed (400 "Request body is missing or malformed."); storage limits raise DataConflict (400
"A data conflict occurred..."); validation problems come back as `details` strings.
"""

import calendar
import datetime
import json
import re
import time
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

BOOK_TYPES = frozenset(("PDF", "EPUB", "CBX", "FB2", "MOBI", "AZW3", "AUDIOBOOK"))

INSTANT_MAX_SECONDS = 31556889864403199  # java.time.Instant.MAX
DATETIME_MIN = -30610224000  # 1000-01-01T00:00:00Z, MariaDB DATETIME range
DATETIME_MAX = 253402300799  # 9999-12-31T23:59:59Z

_ISO_INSTANT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2})(?::(\d{2}))?)\Z", re.ASCII)
_CLOCK = re.compile(r"\d\d:\d\d:\d\dZ\Z", re.ASCII)
_INTEGER_TEXT = re.compile(r"[+-]?\d+\Z", re.ASCII)
_NUMBER_TEXT = re.compile(r"-?\d+(?:\.\d+)?\Z", re.ASCII)
_FLOAT_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)


class Malformed(Exception):
    """HttpMessageNotReadableException."""


class DataConflict(Exception):
    """DataIntegrityViolationException at INSERT."""


def _reject_constant(_name):
    raise Malformed()  # Jackson rejects NaN / Infinity by default


def load_json(body):
    if not body:
        raise Malformed()
    try:
        return json.loads(body.decode("utf-8"), parse_float=Decimal,
                          parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError):
        raise Malformed() from None


def as_integer(value, bits):
    """Long / Integer wrapper: floats truncate (ACCEPT_FLOAT_AS_INT), digit strings coerce."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Malformed()
    if isinstance(value, int):
        number = value
    elif isinstance(value, Decimal):
        number = int(value)
    elif isinstance(value, str):
        if value == "":
            return None
        if not _INTEGER_TEXT.match(value):
            raise Malformed()
        number = int(value)
    else:
        raise Malformed()
    if not -(1 << (bits - 1)) <= number < (1 << (bits - 1)):
        raise Malformed()
    return number


def as_float(value):
    if value is None:
        return None
    if isinstance(value, bool):
        raise Malformed()
    if isinstance(value, (int, Decimal)):
        return float(value)
    if isinstance(value, str):
        if value == "":
            return None
        if not _FLOAT_TEXT.match(value):
            raise Malformed()
        return float(value)
    raise Malformed()


def as_string(value):
    """String field: scalars are coerced to their text, containers are malformed."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    raise Malformed()


def as_book_type(value):
    """Enum by name, case-sensitive."""
    if value is None:
        return None
    if isinstance(value, str) and value in BOOK_TYPES:
        return value
    raise Malformed()


def _instant_from_number(number):
    if isinstance(number, int):
        seconds, nanos = number, 0
    else:
        try:
            seconds = int(number.to_integral_value(rounding=ROUND_FLOOR))
            nanos = int((number - seconds) * 1000000000)
        except (InvalidOperation, OverflowError):
            raise Malformed() from None
    if abs(seconds) > INSTANT_MAX_SECONDS:
        raise Malformed()
    return seconds, nanos


_DAY_CACHE = {}  # "YYYY-MM-DD" -> epoch seconds at midnight UTC
_TEXT_CACHE = {}  # epoch seconds -> "YYYY-MM-DDTHH:MM:SSZ"
_CACHE_LIMIT = 200000


def _canonical_instant(value):
    """Fast path for what the plugin sends, "2026-02-22T14:00:00Z"; None if not that shape."""
    day = _DAY_CACHE.get(value[:10])
    if day is None:
        match = _ISO_INSTANT.match(value)
        if not match or value[10] != "T":
            return None
        try:
            datetime.date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
        except ValueError:
            return None
        day = calendar.timegm((int(value[0:4]), int(value[5:7]), int(value[8:10]), 0, 0, 0))
        if len(_DAY_CACHE) < _CACHE_LIMIT:
            _DAY_CACHE[value[:10]] = day
    if value[10] != "T" or not _CLOCK.match(value, 11):
        return None
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    if hour > 23 or minute > 59 or second > 59:
        return None
    seconds = day + hour * 3600 + minute * 60 + second
    if len(_TEXT_CACHE) < _CACHE_LIMIT:
        _TEXT_CACHE[seconds] = value
    return seconds, 0


def as_instant(value):
    """Instant as (epoch_seconds, nanos): ISO_INSTANT text, or a number of epoch seconds."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise Malformed()
    if isinstance(value, int):
        return _instant_from_number(value)
    if isinstance(value, Decimal):
        return _instant_from_number(value)
    if not isinstance(value, str):
        raise Malformed()
    if len(value) == 20 and value[19] == "Z":
        instant = _canonical_instant(value)
        if instant is not None:
            return instant
    if value == "":
        return None
    if _NUMBER_TEXT.match(value):
        return _instant_from_number(Decimal(value) if "." in value else int(value))
    match = _ISO_INSTANT.match(value)
    if not match:
        raise Malformed()
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    try:
        datetime.datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise Malformed() from None
    seconds = calendar.timegm((year, month, day, hour, minute, second))
    fraction = match.group(7)
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    if match.group(8):
        offset_h, offset_m = int(match.group(9)), int(match.group(10))
        offset_s = int(match.group(11) or 0)
        if offset_h > 18 or offset_m > 59 or offset_s > 59:
            raise Malformed()
        offset = offset_h * 3600 + offset_m * 60 + offset_s
        seconds -= offset if match.group(8) == "+" else -offset
    return seconds, nanos


def format_instant(instant):
    """Instant.toString(): fraction printed in groups of three digits, only when non-zero."""
    seconds, nanos = instant
    if not nanos:
        text = _TEXT_CACHE.get(seconds)
        if text is not None:
            return text
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if nanos:
        digits = "%09d" % nanos
        if nanos % 1000000 == 0:
            digits = digits[:3]
        elif nanos % 1000 == 0:
            digits = digits[:6]
        text += "." + digits
    return text + "Z"


def stored_instant(instant):
    """DATETIME storage: seconds precision; outside its range the INSERT fails."""
    if instant[0] < DATETIME_MIN or instant[0] > DATETIME_MAX:
        raise DataConflict()
    return format_instant((instant[0], 0))


class SessionFields:
    """One session's fields after Jackson, shared by the single request and batch items."""

    __slots__ = ("start", "end", "duration", "duration_formatted", "start_progress",
                 "end_progress", "progress_delta", "start_location", "end_location")

    def __init__(self, obj):
        if not isinstance(obj, dict):
            raise Malformed()
        self.start = as_instant(obj.get("startTime"))
        self.end = as_instant(obj.get("endTime"))
        self.duration = as_integer(obj.get("durationSeconds"), 32)
        self.duration_formatted = as_string(obj.get("durationFormatted"))
        self.start_progress = as_float(obj.get("startProgress"))
        self.end_progress = as_float(obj.get("endProgress"))
        self.progress_delta = as_float(obj.get("progressDelta"))
        self.start_location = as_string(obj.get("startLocation"))
        self.end_location = as_string(obj.get("endLocation"))

    def storage_values(self):
        """Column values as the DB keeps them; raises DataConflict like the INSERT would."""
        for text, limit in ((self.duration_formatted, 50), (self.start_location, 500),
                            (self.end_location, 500)):
            if text is not None and len(text) > limit:
                raise DataConflict()
        return (stored_instant(self.start), stored_instant(self.end), self.duration,
                self.duration_formatted, self.start_progress, self.end_progress,
                self.progress_delta, self.start_location, self.end_location)


class SingleRequest:
    """ReadingSessionRequest (§2.1)."""

    def __init__(self, obj):
        if not isinstance(obj, dict):
            raise Malformed()
        self.book_id = as_integer(obj.get("bookId"), 64)
        self.book_type = as_book_type(obj.get("bookType"))
        self.fields = SessionFields(obj)

    def validation_details(self):
        details = []
        for name, value in (("bookId", self.book_id), ("startTime", self.fields.start),
                            ("endTime", self.fields.end),
                            ("durationSeconds", self.fields.duration)):
            if value is None:
                details.append(name + ": must not be null")
        return details


class BatchRequest:
    """ReadingSessionBatchRequest (§2.2); `max_items` is 1000 in B and None in B0."""

    def __init__(self, obj):
        if not isinstance(obj, dict):
            raise Malformed()
        self.book_id = as_integer(obj.get("bookId"), 64)
        self.book_type = as_book_type(obj.get("bookType"))
        sessions = obj.get("sessions")
        if sessions is not None and not isinstance(sessions, list):
            raise Malformed()
        self.raw_count = None if sessions is None else len(sessions)
        self.items = None if sessions is None else [
            None if item is None else SessionFields(item) for item in sessions]

    def validation_details(self, max_items, location_limit):
        details = []
        if self.book_id is None:
            details.append("bookId: Book ID is required")
        if self.book_type is None:
            details.append("bookType: Book type is required")
        if not self.items:
            details.append("sessions: Sessions list cannot be empty")
            return details
        if max_items is not None and len(self.items) > max_items:
            details.append("sessions: Sessions list cannot exceed %d items" % max_items)
        for index, item in enumerate(self.items):
            if item is None:
                continue
            prefix = "sessions[%d]." % index
            if item.start is None:
                details.append(prefix + "startTime: Start time is required")
            if item.end is None:
                details.append(prefix + "endTime: End time is required")
            if item.duration is None:
                details.append(prefix + "durationSeconds: Duration is required")
            if location_limit:
                for name, text in (("startLocation", item.start_location),
                                   ("endLocation", item.end_location)):
                    if text is not None and len(text) > 500:
                        details.append("%s%s: %s location must not exceed 500 characters"
                                       % (prefix, name, name[:-8].capitalize()))
        return details
