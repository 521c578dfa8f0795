"""Book endpoints of the stand-in: by-hash, the ISBN-bearing book lists, shelves, deletions
(server-contract.md §2.3-§2.7, §2.12).

The stand-in's user is not an admin, so every list holds only the books of its libraries
(`accessible`), as getBookDTOs does for non-admins (G:service/book/BookService.java:75-86).
"""

import standin_http as h
from standin_model import Malformed, as_integer
from standin_sessions import FORBIDDEN_BOOK

EXTENSIONS = {"PDF": "pdf", "EPUB": "epub", "CBX": "cbz", "FB2": "fb2", "MOBI": "mobi",
              "AZW3": "azw3", "AUDIOBOOK": "m4b"}


class Book:
    __slots__ = ("id", "hash", "initial_hash", "title", "book_type", "authors", "accessible",
                 "deleted", "shelves", "isbn10", "isbn13")

    def __init__(self, book_id, book_hash, title=None, book_type="EPUB"):
        self.id = book_id
        self.hash = book_hash
        self.initial_hash = book_hash
        self.title = title or "Book %d" % book_id
        self.book_type = book_type or "EPUB"
        self.authors = []
        self.accessible = True
        self.deleted = False
        self.shelves = set()
        self.isbn10 = None
        self.isbn13 = None

    def to_json(self):
        return {"id": self.id, "hash": self.hash, "initialHash": self.initial_hash,
                "title": self.title, "bookType": self.book_type, "authors": self.authors,
                "accessible": self.accessible, "deleted": self.deleted,
                "shelves": sorted(self.shelves), "isbn10": self.isbn10, "isbn13": self.isbn13}


def fuzzy_score(term, query):
    """Apache commons-text FuzzyScore: one point per query character found in order, two more
    when it follows the previous match directly."""
    term, query = term.lower(), query.lower()
    score, index, previous = 0, 0, None
    for char in query:
        while index < len(term):
            index += 1
            if term[index - 1] == char:
                score += 3 if previous == index - 2 else 1
                previous = index - 1
                break
    return score


def _clean_isbn(text):
    return "".join(c for c in text if c.isdigit() or c == "X")


def isbn_score(book, query):
    """W:service/book/BookService.java:561-590: 1.0 for an exact ISBN-13 or ISBN-10, else the
    best fuzzy score over the larger self-score."""
    wanted, isbn13, isbn10 = _clean_isbn(query), _clean_isbn(book.isbn13 or ""), \
        _clean_isbn(book.isbn10 or "")
    if wanted.lower() in (isbn13.lower(), isbn10.lower()):
        return 1.0
    if not isbn13 and not isbn10:
        return 0.0
    best = max(fuzzy_score(isbn13, wanted) if isbn13 else 0,
               fuzzy_score(isbn10, wanted) if isbn10 else 0)
    most = max(fuzzy_score(wanted, wanted), fuzzy_score(isbn13, isbn13) if isbn13 else 0,
               fuzzy_score(isbn10, isbn10) if isbn10 else 0)
    return best / most if most else 0.0


def exact_isbn_score(book, query):
    """B's JPQL: REPLACE(REPLACE(isbn, '-', ''), ' ', '') = the query without non-[0-9X]."""
    wanted = _clean_isbn(query).lower()
    stored = [isbn.replace("-", "").replace(" ", "").lower()
              for isbn in (book.isbn13, book.isbn10) if isbn is not None]  # NULL never equals
    return 1.0 if wanted in stored else 0.0


class BookEndpoints:
    """Mixed into App: uses its lock, books, shelves, facts and helpers."""

    def book_dto(self, book, with_description):
        ext = EXTENSIONS.get(book.book_type, "epub")
        metadata = {"bookId": book.id, "title": book.title, "authors": list(book.authors)}
        for key in ("isbn13", "isbn10"):  # @JsonInclude(NON_NULL), G:model/dto/BookMetadata.java
            if getattr(book, key):
                metadata[key] = getattr(book, key)
        if with_description:
            metadata["description"] = "A book served by the BookLore stand-in."
        return {"id": book.id, "libraryId": 1, "libraryName": "Books",
                "primaryFile": {"id": 1000 + book.id, "bookId": book.id,
                                "fileName": "%s.%s" % (book.title, ext), "fileSubPath": "",
                                "isBook": True, "folderBased": False,
                                "bookType": book.book_type, "fileSizeKb": 512,
                                "extension": ext, "addedOn": "2026-01-01T00:00:00Z"},
                "metadata": metadata,
                "shelves": [{"id": s, "name": self.shelves.get(s, "Shelf %d" % s)}
                            for s in sorted(book.shelves)],
                "readStatus": "READING", "isPhysical": False, "alternativeFormats": [],
                "supplementaryFiles": []}

    def _listed_books(self):
        """The user's books, not deleted, by id; the caller holds the lock."""
        return [b for _, b in sorted(self.books.items()) if b.accessible and not b.deleted]

    # ------------------------------------------------------------ by-hash (W, B, B0)

    def _by_hash(self, req, book_hash, with_description):
        self._linked_user(req)
        wanted = book_hash.lower()
        with self.lock:
            matches = [b for b in self.books.values()
                       if not b.deleted and b.hash and b.hash.lower() == wanted]
        if len(matches) > 1:
            raise h.Unexpected()  # non-unique result
        # W:service/book/BookService.java:169-178: no match and no library access look alike.
        if not matches or not matches[0].accessible:
            raise h.ApiError(404, "Book with hash %s not found" % book_hash)
        with self.lock:
            return h.json_response(200, self.book_dto(matches[0], with_description))

    def get_by_hash_ko(self, req, book_hash):
        return self._by_hash(req, book_hash, True)

    def get_by_hash_v1(self, req, book_hash):
        return self._by_hash(req, book_hash, req.query.get("withDescription") == ["true"])

    # ------------------------------------------------------------ lists that carry ISBNs

    def get_books(self, req):
        """GET /api/v1/books: every book at once (G:controller/BookController.java:69-78)."""
        with_description = req.query.get("withDescription") == ["true"]
        with self.lock:
            return h.json_response(200, [self.book_dto(b, with_description)
                                         for b in self._listed_books()])

    def get_books_page(self, req):
        """G only: GET /api/v1/books/page, a Spring Pageable (G:controller/BookController.java
        :80-86): default size 20, capped at max-page-size 100 (G:resources/application.yaml:57),
        bad values fall back to the defaults."""
        page = _int_or(req.query.get("page", [""])[0], 0)
        size = _int_or(req.query.get("size", [""])[0], 20)
        page, size = max(page, 0), (20 if size < 1 else min(size, 100))
        with self.lock:
            books = self._listed_books()
            content = [self.book_dto(b, False) for b in books[page * size:(page + 1) * size]]
        return h.json_response(200, h.paged(content, page, size, len(books)))

    def get_app_books(self, req):
        """G only: GET /api/v1/app/books (G:app/controller/AppBookController.java:27-32),
        page size silently capped at 50, default 50 (G:app/service/AppBookService.java:55-56,
        :100-101), newest added first; ISBNs at the top level (G:app/dto/AppBookSummary.java
        :45-46), null fields left out."""
        page = max(_int_or(req.query.get("page", [""])[0], 0), 0)
        size = _int_or(req.query.get("size", [""])[0], 50)
        size = 50 if size < 1 else min(size, 50)
        with self.lock:
            books = self._listed_books()[::-1]
            content = []
            for b in books[page * size:(page + 1) * size]:
                item = {"id": b.id, "title": b.title, "authors": list(b.authors),
                        "libraryId": 1, "primaryFileId": 1000 + b.id,
                        "primaryFileType": b.book_type, "isPhysical": False}
                item.update({k: getattr(b, k) for k in ("isbn13", "isbn10") if getattr(b, k)})
                content.append(item)
        total = len(books)
        pages = (total + size - 1) // size
        return h.json_response(200, {"content": content, "page": page, "size": size,
                                     "totalElements": total, "totalPages": pages,
                                     "hasNext": page < pages - 1, "hasPrevious": page > 0})

    def get_books_search(self, req):
        """W, B, B0: GET /api/v1/books/search?title=&isbn=, answered without ISBNs. W and B0
        (W:controller/BookController.java:75-82, W:service/book/BookService.java:533-624): a
        fuzzy score, best first, at most 50; an exact ISBN scores 1.0. B: only books whose
        ISBN-13 or ISBN-10 (without '-' and ' ') equals the query, each 1.0. Title scoring is
        not modelled: without ISBN matches the answer is []."""
        isbn = req.query.get("isbn", [None])[0]
        if isbn is None and req.query.get("title") is None:
            raise h.ApiError(400, "At least one search parameter (title or isbn) must be provided")
        score = isbn_score if self.facts.book_search == "fuzzy" else exact_isbn_score
        with self.lock:
            scored = [(score(b, isbn) if isbn is not None else 0.0, b)
                      for b in self._listed_books()]
        results = [{"id": b.id, "title": b.title, "hash": b.hash, "matchScore": score}
                   for score, b in sorted(scored, key=lambda pair: -pair[0]) if score > 0.0]
        return h.json_response(200, results[:50] if score is isbn_score else results)

    def get_book(self, req, book_text):
        """@CheckBookAccess runs first: a book outside the user's libraries is a 403 in every
        profile (G:config/security/aspect/BookAccessAspect.java:46-62, A/W/B/B0 the same file
        :47-63). Its lookup skips soft-deleted books in G only (G:repository/BookRepository.java
        :38-40); the service's own lookup always does (:30-32)."""
        book_id = self.path_long(book_text, "bookId", "long")
        with self.lock:
            book = self.books.get(book_id)
            if book is None or (book.deleted and self.facts.name == "G"):
                raise h.ApiError(404, "Book not found with ID: %d" % book_id)
            if not book.accessible:
                raise h.ApiError(403, FORBIDDEN_BOOK)
            if book.deleted:
                raise h.ApiError(404, "Book not found with ID: %d" % book_id)
            return h.json_response(200, self.book_dto(book, False))

    # ------------------------------------------------------------ deletions and shelves

    def delete_book(self, req, book_text):
        if not self.seed_delete:
            raise h.Unexpected()  # matches GET /{bookId} with the wrong method
        book_id = self.path_long(book_text, "bookId", "long")
        req.note = {"bookId": book_id}
        with self.lock:
            known = book_id in self.books
        if not known:
            raise h.ApiError(404, "Book not found with ID: %d" % book_id)
        return h.json_response(200, {"id": book_id, "deleted": True})

    def delete_books_bulk(self, req):
        values = req.query.get("ids")
        if not values:
            raise h.Unexpected()  # MissingServletRequestParameterException
        ids = [self.path_long(part.strip(), "ids", "Set") for value in values
               for part in value.split(",") if part.strip()]
        req.note = {"ids": ids}
        if not ids:
            raise h.Unexpected()
        with self.lock:
            for book_id in ids:
                self.books.pop(book_id, None)  # files and rows are gone
        return h.json_response(200, {"deleted": ids, "failedFileDeletions": []})

    def post_shelves(self, req):
        body = self._json_body(req)
        if not isinstance(body, dict):
            raise Malformed()
        sets = {}
        for key in ("bookIds", "shelvesToAssign", "shelvesToUnassign"):
            value = body.get(key)
            if value is not None and not isinstance(value, list):
                raise Malformed()
            sets[key] = None if value is None else [as_integer(v, 64) for v in value]
        req.note = dict(sets)
        if any(value is None or None in value for value in sets.values()):
            raise h.Unexpected()  # containsAll(null) / findAllById(null)
        owned = self.shelves
        if not set(sets["shelvesToAssign"]) <= set(owned):
            raise h.ApiError(401, "Cannot assign shelves that do not belong to the user.")
        if not set(sets["shelvesToUnassign"]) <= set(owned):
            raise h.ApiError(401, "Cannot unassign shelves that do not belong to the user.")
        with self.lock:
            found = []
            for book_id in dict.fromkeys(sets["bookIds"]):
                book = self.books.get(book_id)
                if book is None or book.deleted:
                    continue
                book.shelves.difference_update(sets["shelvesToUnassign"])
                book.shelves.update(sets["shelvesToAssign"])
                found.append(book)
            return h.json_response(200, [self.book_dto(book, False) for book in found])

    def get_shelves(self, req):
        with self.lock:
            counts = {s: sum(1 for b in self.books.values() if s in b.shelves)
                      for s in self.shelves}
            shelves = [{"id": s, "name": name, "icon": "pi pi-book", "iconType": "PRIME_NG",
                        "userId": self.accounts.user_id, "publicShelf": False,
                        "bookCount": counts[s]} for s, name in sorted(self.shelves.items())]
        return h.json_response(200, shelves)


def _int_or(text, default):
    try:
        return int(text)
    except ValueError:
        return default
