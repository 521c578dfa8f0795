// overlaps_held: which sessions the queue already holds, queued or uploaded, for the import.

#include "tests/storage/helpers.hpp"

using namespace booklore::storage;
using namespace booklore::storage::test;

namespace {

session_record at(int book, const char* start, const char* end) {
    session_record s = make_session(book);
    s.start_time = start;
    s.end_time = end;
    return s;
}

}  // namespace

TEST_CASE("overlaps_held finds sessions of the same book that share a second, queued or uploaded") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    // Book 1: one uploaded session 10:00-10:30, one queued 12:00-12:10.
    auto uploaded = enqueue_one(db, at(1, "2026-01-02T10:00:00Z", "2026-01-02T10:30:00Z"));
    std::vector<std::int64_t> ids{uploaded.queue_id};
    ok(db.mark_uploaded(ids));
    enqueue_one(db, at(1, "2026-01-02T12:00:00Z", "2026-01-02T12:10:00Z"));
    // Book 2 read at the same time: another book's session never counts.
    enqueue_one(db, at(2, "2026-01-02T09:00:00Z", "2026-01-02T13:00:00Z"));

    std::vector<session_record> asked{
        at(1, "2026-01-02T09:00:00Z", "2026-01-02T09:59:59Z"),  // just before: free
        at(1, "2026-01-02T09:00:00Z", "2026-01-02T10:00:00Z"),  // touches the start
        at(1, "2026-01-02T10:10:00Z", "2026-01-02T10:20:00Z"),  // inside
        at(1, "2026-01-02T10:30:00Z", "2026-01-02T11:00:00Z"),  // touches the end
        at(1, "2026-01-02T10:30:01Z", "2026-01-02T11:59:59Z"),  // between the two: free
        at(1, "2026-01-02T08:00:00Z", "2026-01-02T23:00:00Z"),  // covers both
        at(1, "2026-01-02T12:05:00Z", "2026-01-02T12:06:00Z"),  // inside the queued one
        at(3, "2026-01-02T10:00:00Z", "2026-01-02T12:00:00Z"),  // a book with nothing held
    };
    auto held = ok(db.overlaps_held(asked));
    CHECK(held == std::vector<bool>{false, true, true, true, false, true, true, false});
    CHECK(ok(db.overlaps_held({})).empty());
}

TEST_CASE("file_path_for_hash names the file last opened with the hash") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    CHECK(!ok(db.file_path_for_hash(hash_of(1))));
    for (auto [path, n] : {std::pair{"/books/a.pdf", 1}, std::pair{"/books/b.epub", 2}}) {
        book_sighting seen;
        seen.file_path = path;
        seen.book_hash = hash_of(n);
        enqueue_one(db, seen);
    }
    CHECK(ok(db.file_path_for_hash(hash_of(1))) == "/books/a.pdf");
    CHECK(ok(db.file_path_for_hash(hash_of(2))) == "/books/b.epub");
}

TEST_CASE("overlaps_held sees a long session that began before a later short one") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    // Sorted by start, the long session comes first and the short one ends before the range:
    // only the latest end so far tells that the range is covered.
    enqueue_one(db, at(1, "2026-01-02T08:00:00Z", "2026-01-02T20:00:00Z"));
    enqueue_one(db, at(1, "2026-01-02T09:00:00Z", "2026-01-02T09:10:00Z"));
    std::vector<session_record> asked{at(1, "2026-01-02T15:00:00Z", "2026-01-02T15:30:00Z"),
                                      at(1, "2026-01-02T21:00:00Z", "2026-01-02T21:30:00Z")};
    CHECK(ok(db.overlaps_held(asked)) == std::vector<bool>{true, false});
}
