"""Reading-session endpoints of the stand-in (server-contract.md §2.1, §2.2, §2.11).

No profile deduplicates (no Idempotency-Key, no unique key: G:resources/db/migration/
V78__Create_reading_sessions_table.sql:1-22): every accepted session is stored again, unless a
test turns on the stand-in's own `dedupe` switch.
"""

import time

import standin_http as h
from standin_model import BatchRequest, DataConflict, SingleRequest, format_instant

# Session tuple layout: (id, bookId, bookType, startTime, endTime, durationSeconds, ...).
SESSION_KEYS = ("id", "bookId", "bookType", "startTime", "endTime", "durationSeconds",
                "durationFormatted", "startProgress", "endProgress", "progressDelta",
                "startLocation", "endLocation", "via", "idempotency_key", "auth", "conn",
                "createdAt")
FORBIDDEN_BOOK = "You are not authorized to access this book."


def session_key(row):
    """What tells two stored sessions apart for a client: book, start, end, duration."""
    return row[1], row[3], row[4], row[5]


class SessionEndpoints:
    """Mixed into App: uses its lock, books, sessions, facts and helpers."""

    def _session_book(self, book_id):
        with self.lock:
            book = self.books.get(book_id)
        if book is None:  # findById also finds soft-deleted books
            raise h.ApiError(404, "Book not found with ID: %d" % book_id)
        if not book.accessible:
            # B: 404 like an unknown book; W: ApiError.FORBIDDEN (W:service/
            # ReadingSessionService.java:597-610); G, A, B0 check nothing.
            if self.facts.book_access == 404:
                raise h.ApiError(404, "Book not found with ID: %d" % book_id)
            if self.facts.book_access == 403:
                raise h.ApiError(403, FORBIDDEN_BOOK)
        return book

    def _store(self, book_type, rows, via, req):
        """INSERT: assigns ids and appends; with `dedupe` on, a session already stored is
        answered with its old id instead. Returns the ids."""
        created = time.strftime("%Y-%m-%dT%H:%M:%S")
        ids = []
        with self.lock:
            for book_id, values in rows:
                row = (self.next_session_id, book_id, book_type) + values + \
                      (via, req.idempotency_key, req.auth, req.conn, created)
                old = self.session_index.get(session_key(row)) if self.dedupe else None
                if old is not None:
                    self.deduplicated += 1
                    ids.append(old)
                    continue
                self.next_session_id += 1
                self.sessions.append(row)
                self.session_index.setdefault(session_key(row), row[0])
                ids.append(row[0])
        return ids

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
        if self.facts.name == "B0":
            return h.json_response(202, {"sessionId": session_id})
        return h.Response(202)  # G:controller/ReadingSessionController.java:33-37

    def post_batch(self, req):
        request = BatchRequest(self._json_body(req))
        req.batch = request.raw_count
        facts = self.facts
        details = request.validation_details(facts.batch_max, facts.batch_location_check)
        if details:
            raise h.ApiError(400, h.VALIDATION, details)
        if any(item is None for item in request.items):
            raise h.Unexpected()  # a null list element reaches the service loop: NPE
        self._linked_user(req)
        self._session_book(request.book_id)  # W: the 403 comes before the time check (:104-111)
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

    def _page_args(self, req):
        """page/size as G:controller/ReadingSessionController.java:48-49 takes them: defaults 0
        and 5, @Min(0), @Min(1) @Max(n) (W: 10000, W:...:49); B0 has no constraints and lets
        PageRequest.of reject bad values (B0:controller/ReadingSessionController.java:48-49)."""
        values = {}
        for name, default in (("page", "0"), ("size", "5")):
            text = req.query.get(name, [default])[0]
            try:
                values[name] = int(text)
            except ValueError:
                raise self.type_mismatch(name, text, "int") from None
        page, size = values["page"], values["size"]
        maximum = self.facts.sessions_max
        if self.facts.name == "B0":
            if page < 0:
                raise h.ApiError(400, "Page index must not be less than zero")
            if size < 1:
                raise h.ApiError(400, "Page size must not be less than one")
            return page, size
        details = []
        if page < 0:
            details.append("getReadingSessionsForBook.page: must be greater than or equal to 0")
        if size < 1:
            details.append("getReadingSessionsForBook.size: must be greater than or equal to 1")
        elif size > maximum:
            details.append("getReadingSessionsForBook.size: must be less than or equal to %d"
                           % maximum)
        if details:
            raise h.ApiError(400, h.VALIDATION, details)
        return page, size

    def get_book_sessions(self, req, book_text):
        book_id = self.path_long(book_text, "bookId", "Long")
        page, size = self._page_args(req)
        self._linked_user(req)  # W: KOReader headers work here too
        with self.lock:
            book = self.books.get(book_id)
            rows = [row for row in self.sessions if row[1] == book_id]
        if book is None:  # no library check on this GET in any profile
            raise h.ApiError(404, "Book not found with ID: %d" % book_id)
        # ORDER BY rs.startTime DESC (G:repository/ReadingSessionRepository.java:141); the
        # database breaks ties arbitrarily, the stand-in by id, newest first.
        rows.sort(key=lambda row: (row[3], row[0]), reverse=True)
        content = [{"id": r[0], "bookId": r[1], "bookTitle": book.title, "bookType": r[2],
                    "startTime": r[3], "endTime": r[4], "durationSeconds": r[5],
                    "startProgress": r[7], "endProgress": r[8], "progressDelta": r[9],
                    "startLocation": r[10], "endLocation": r[11], "createdAt": r[16]}
                   for r in rows[page * size:(page + 1) * size]]
        return h.json_response(200, h.paged(content, page, size, len(rows)))
