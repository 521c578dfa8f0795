// The queries the sync runs: batches, uploads, failures, id resolution, deletions.

#include "tests/storage/helpers.hpp"

using namespace booklore::storage;
using namespace booklore::storage::test;

namespace {

std::vector<std::int64_t> ids_of(const std::vector<pending_session>& rows) {
    std::vector<std::int64_t> ids;
    for (const auto& r : rows)
        ids.push_back(r.id);
    return ids;
}

}  // namespace

TEST_CASE("next_batch freezes membership and key until the batch is uploaded") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    for (int i = 1; i <= 5; ++i)
        enqueue_one(db, make_session(i, 10));
    enqueue_one(db, make_session(6, 20));  // id 6, another book

    auto first = ok(db.next_batch(10, 3, "key-A"));
    CHECK(ids_of(first) == std::vector<std::int64_t>{1, 2, 3});
    for (const auto& r : first)
        CHECK(r.batch_key == "key-A");

    // The upload failed: the same rows come back under the same key, whatever key is offered,
    // even with another limit and after more sessions arrived.
    std::vector<std::int64_t> failed = ids_of(first);
    ok(db.mark_failed(failed, "HTTP 500"));
    enqueue_one(db, make_session(7, 10));  // id 7
    auto retry = ok(db.next_batch(10, 10, "key-B"));
    CHECK(ids_of(retry) == std::vector<std::int64_t>{1, 2, 3});
    for (const auto& r : retry) {
        CHECK(r.batch_key == "key-A");
        CHECK(r.retry_count == 1);
        CHECK(r.last_error == "HTTP 500");
    }

    // Uploaded: the next batch takes the next rows with the new key.
    ok(db.mark_uploaded(failed));
    auto next = ok(db.next_batch(10, 10, "key-C"));
    CHECK(ids_of(next) == std::vector<std::int64_t>{4, 5, 7});
    for (const auto& r : next)
        CHECK(r.batch_key == "key-C");

    // Book 20 was never touched.
    auto other = ok(db.next_batch(20, 10, "key-D"));
    CHECK(ids_of(other) == std::vector<std::int64_t>{6});
    CHECK(other[0].batch_key == "key-D");

    std::vector<std::int64_t> rest{4, 5, 7, 6};
    ok(db.mark_uploaded(rest));
    CHECK(ok(db.next_batch(10, 10, "key-E")).empty());
    CHECK(ok(db.counts()).pending_sessions == 0);
    CHECK(ok(db.counts()).historical_sessions == 7);
}

TEST_CASE("mark_uploaded moves rows to historical_sessions keeping ids, in one go") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    session_record s = make_session(1, 10, "ev");
    s.file_path = "/b/1.epub";
    s.book_title = "One";
    enqueue_one(db, s);
    enqueue_one(db, make_session(2, 10));
    auto batch = ok(db.next_batch(10, 10, "k"));
    std::vector<std::int64_t> ids{1, 2, 99};  // an unknown id is ignored
    ok(db.mark_uploaded(ids));

    auto& c = db.raw_connection();
    CHECK(query_int(c, "SELECT count(*) FROM pending_sessions") == 0);
    CHECK(query(c, "SELECT group_concat(id) FROM historical_sessions ORDER BY id") == "1,2");
    CHECK(query(c,
                "SELECT event_id || '|' || book_id || '|' || book_hash || '|' || file_path || '|' "
                "|| book_title || '|' || duration_seconds || '|' || progress_delta || '|' || "
                "batch_key FROM historical_sessions WHERE id = 1") ==
          "ev|10|" + hash_of(1) + "|/b/1.epub|One|1800|2.5|k");
    std::string uploaded = query(c, "SELECT uploaded_at FROM historical_sessions WHERE id = 2");
    CHECK(uploaded.size() == 20);
    CHECK(uploaded.back() == 'Z');
    // Marking again is harmless.
    ok(db.mark_uploaded(ids));
    CHECK(query_int(c, "SELECT count(*) FROM historical_sessions") == 2);
}

TEST_CASE("mark_failed adds one per call and records the error") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    enqueue_one(db, make_session(1, 1));
    enqueue_one(db, make_session(2, 1));
    std::vector<std::int64_t> one{1};
    ok(db.mark_failed(one, "timeout"));
    auto rows = ok(db.list_sessions(10));
    CHECK(rows[0].retry_count == 1);
    CHECK(rows[0].last_error == "timeout");
    CHECK(rows[1].retry_count == 0);
    CHECK(!rows[1].last_error);
    ok(db.mark_failed(one, "HTTP 503"));
    rows = ok(db.list_sessions(10));
    CHECK(rows[0].retry_count == 2);
    CHECK(rows[0].last_error == "HTTP 503");
    ok(db.mark_failed({}, "nothing"));
}

TEST_CASE("resolving a hash sets the id on the cache and on pending rows") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    enqueue_one(db, make_session(1));      // 1: unresolved
    enqueue_one(db, make_session(1));      // 2: unresolved, same hash
    enqueue_one(db, make_session(2));      // 3: unresolved, other hash
    enqueue_one(db, make_session(1, 55));  // 4: already has an id
    session_record empty_hash = make_session(3);
    empty_hash.book_hash = "";
    enqueue_one(db, empty_hash);  // 5: legacy-style empty hash
    enqueue_one(db, book_sighting{"/b/1.epub", hash_of(1), std::nullopt, "One", std::nullopt});
    enqueue_one(db, deletion_record{std::nullopt, "/b/1.epub", hash_of(1), std::nullopt});

    CHECK(ok(db.unresolved_hashes()) == std::vector<std::string>{hash_of(1), hash_of(2)});
    // Row 4 names the book of hash 1; nothing names hash 2's.
    CHECK(ok(db.cached_book_id(hash_of(1))) == 55);
    CHECK(!ok(db.cached_book_id(hash_of(2))));
    CHECK(ok(db.books_ready()) == std::vector<std::int64_t>{55});

    ok(db.resolve_hash(hash_of(1), 42));
    CHECK(ok(db.cached_book_id(hash_of(1))) == 42);
    CHECK(ok(db.unresolved_hashes()) == std::vector<std::string>{hash_of(2)});
    auto rows = ok(db.list_sessions(10));
    CHECK(rows[0].book_id == 42);
    CHECK(rows[1].book_id == 42);
    CHECK(!rows[2].book_id);
    CHECK(rows[3].book_id == 55);  // kept
    CHECK(ok(db.list_deletions(10)).at(0).book_id == 42);
    CHECK(ok(db.books_ready()) == std::vector<std::int64_t>{42, 55});
    CHECK(ok(db.counts()).unresolved_sessions == 2);
    CHECK(!ok(db.cached_book_id("")));

    SECTION("forget_book_id makes the rows resolvable by hash again") {
        auto batch = ok(db.next_batch(42, 10, "k"));
        CHECK(batch.size() == 2);
        ok(db.forget_book_id(42));
        CHECK(ok(db.cached_book_id(hash_of(1))) == 55);  // only row 4 still names it
        CHECK(ok(db.unresolved_hashes()) == std::vector<std::string>{hash_of(1), hash_of(2)});
        rows = ok(db.list_sessions(10));
        CHECK(!rows[0].book_id);
        CHECK(!rows[0].batch_key);
        CHECK(rows[3].book_id == 55);
        CHECK(ok(db.books_ready()) == std::vector<std::int64_t>{55});
        // The cache row itself stays (path and hash are still true).
        CHECK(!ok(db.book_id_for("/b/1.epub", std::nullopt)));
    }
}

TEST_CASE("book_id_for looks up the path first, then the hash") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    enqueue_one(db, book_sighting{"/b/a.epub", hash_of(1), 1, std::nullopt, std::nullopt});
    enqueue_one(db, book_sighting{"/b/b.epub", hash_of(2), 2, std::nullopt, std::nullopt});
    enqueue_one(db,
                book_sighting{"/b/c.epub", hash_of(3), std::nullopt, std::nullopt, std::nullopt});

    CHECK(ok(db.book_id_for("/b/a.epub", hash_of(2))) == 1);      // path wins
    CHECK(ok(db.book_id_for("/b/moved.epub", hash_of(2))) == 2);  // by hash
    CHECK(ok(db.book_id_for("/b/c.epub", hash_of(2))) == 2);      // path known, no id
    CHECK(!ok(db.book_id_for("/b/c.epub", hash_of(3))));
    CHECK(!ok(db.book_id_for("/b/none.epub", std::nullopt)));
    CHECK(!ok(db.book_id_for("/b/none.epub", std::string())));
}

TEST_CASE("deletions are listed, failed and removed") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    enqueue_one(db, deletion_record{std::nullopt, "/b/1.epub", std::nullopt, std::nullopt});
    enqueue_one(db, deletion_record{std::nullopt, "/b/2.epub", std::nullopt, 5});
    auto all = ok(db.deletions());
    REQUIRE(all.size() == 2);
    ok(db.mark_deletion_failed(all[0].id, "HTTP 502"));
    ok(db.remove_deletion(all[1].id));
    all = ok(db.deletions());
    REQUIRE(all.size() == 1);
    CHECK(all[0].file_path == "/b/1.epub");
    CHECK(all[0].retry_count == 1);
    CHECK(all[0].last_error == "HTTP 502");
    ok(db.remove_deletion(12345));
}

TEST_CASE("rows in doubt stay so until cleared, and reach historical_sessions with their isbn") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    auto s = make_session(1, 10);
    s.isbn = "9780441013593";
    enqueue_one(db, s);
    enqueue_one(db, make_session(2, 10));
    std::vector<std::int64_t> both{1, 2};
    ok(db.set_in_doubt(both, true));
    auto batch = ok(db.next_batch(10, 10, "k"));
    REQUIRE(batch.size() == 2);
    CHECK(batch[0].in_doubt_since > 1700000000);
    CHECK(batch[0].isbn == "9780441013593");
    // A failure does not settle the doubt: only the plan's clear does.
    ok(db.mark_failed(both, "no answer"));
    CHECK(ok(db.next_batch(10, 10, "k"))[1].in_doubt_since);
    std::vector<std::int64_t> second{2};
    ok(db.set_in_doubt(second, false));
    CHECK_FALSE(ok(db.next_batch(10, 10, "k"))[1].in_doubt_since);
    CHECK(ok(db.isbn_for_hash(s.book_hash)) == "9780441013593");
    std::vector<std::int64_t> first{1};
    ok(db.mark_uploaded(first));
    auto& c = db.raw_connection();
    CHECK(query(c, "SELECT isbn FROM historical_sessions WHERE id = 1") == "9780441013593");
    CHECK_FALSE(ok(db.isbn_for_hash(hash_of(99))));
}

TEST_CASE("a deletion waits while sessions of its book are queued") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    auto s = make_session(1, 10);
    s.file_path = "/b/one.epub";
    enqueue_one(db, s);
    pending_deletion by_id, by_hash, by_path, other;
    by_id.book_id = 10;
    by_id.file_path = "/elsewhere.epub";
    by_hash.book_hash = s.book_hash;
    by_hash.file_path = "/elsewhere.epub";
    by_path.file_path = "/b/one.epub";
    other.file_path = "/b/two.epub";
    other.book_id = 11;
    CHECK(ok(db.sessions_pending_for(by_id)));
    CHECK(ok(db.sessions_pending_for(by_hash)));
    CHECK(ok(db.sessions_pending_for(by_path)));
    CHECK_FALSE(ok(db.sessions_pending_for(other)));
    std::vector<std::int64_t> ids{1};
    ok(db.mark_uploaded(ids));
    CHECK_FALSE(ok(db.sessions_pending_for(by_id)));
}
