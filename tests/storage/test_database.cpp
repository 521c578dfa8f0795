// Ingest, listing, settings and connection set-up of storage::database.

#include "config/utc_time.hpp"
#include "tests/storage/helpers.hpp"

#include <sqlite3.h>

#include <regex>

using namespace booklore::storage;
using namespace booklore::storage::test;

namespace {

bool is_iso_utc(const std::string& s) {
    static const std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)");
    return std::regex_match(s, iso);
}

}  // namespace

TEST_CASE("utc_now_iso has the stored time format") {
    CHECK(is_iso_utc(booklore::utc_now_iso()));
}

TEST_CASE("every connection runs WAL, synchronous=FULL and the other pragmas") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    auto& c = db.raw_connection();
    CHECK(query(c, "PRAGMA journal_mode") == "wal");
    CHECK(query_int(c, "PRAGMA synchronous") == 2);
    CHECK(query_int(c, "PRAGMA busy_timeout") == 5000);
    CHECK(query_int(c, "PRAGMA foreign_keys") == 1);
    CHECK(query_int(c, "PRAGMA temp_store") == 2);
    CHECK(query_int(c, "PRAGMA cache_size") == -512);
    CHECK(query_int(c, "PRAGMA journal_size_limit") == 262144);
    CHECK(query_int(c, "PRAGMA wal_autocheckpoint") == 64);
    CHECK(query_int(c, "PRAGMA user_version") == latest_schema_version);
    CHECK(!db.quarantined_to());
    CHECK(!db.legacy_import());
}

TEST_CASE("a session is stored with every field and read back") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    session_record s = make_session(7, 42, "ev-1");
    s.file_path = "/mnt/onboard/book.epub";
    s.book_title = "A Book";
    auto r = enqueue_one(db, s);
    CHECK(r.queue_id == 1);
    CHECK(!r.duplicate);

    auto rows = ok(db.list_sessions(100));
    REQUIRE(rows.size() == 1);
    const auto& p = rows[0];
    CHECK(p.id == 1);
    CHECK(p.event_id == "ev-1");
    CHECK(p.book_id == 42);
    CHECK(p.book_hash == hash_of(7));
    CHECK(p.file_path == "/mnt/onboard/book.epub");
    CHECK(p.book_title == "A Book");
    CHECK(p.book_type == "EPUB");
    CHECK(p.start_time == "2026-01-02T10:00:00Z");
    CHECK(p.end_time == "2026-01-02T10:30:00Z");
    CHECK(p.duration_seconds == 1800);
    CHECK(p.start_progress == 10.0);
    CHECK(p.end_progress == 12.5);
    CHECK(p.start_location == "10");
    CHECK(p.end_location == "14");
    CHECK(p.retry_count == 0);
    CHECK(!p.last_error);
    CHECK(is_iso_utc(p.created_at));
    CHECK(!p.batch_key);
    CHECK(query(db.raw_connection(), "SELECT progress_delta FROM pending_sessions") == "2.5");

    // The documented inspection command works on the file from another connection.
    auto other = sqlite_connection::open(dir.file("q.sqlite"));
    REQUIRE(other.has_value());
    CHECK(query(*other,
                "SELECT id || '|' || book_hash || '|' || duration_seconds || '|' || retry_count || "
                "'|' || created_at FROM pending_sessions") ==
          "1|" + hash_of(7) + "|1800|0|" + p.created_at);
}

TEST_CASE("optional session fields stay NULL, and so does progress_delta without both ends") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    session_record s = make_session(1);
    s.start_progress.reset();
    s.start_location.reset();
    s.end_location.reset();
    enqueue_one(db, s);
    auto p = ok(db.list_sessions(1)).at(0);
    CHECK(!p.book_id);
    CHECK(!p.event_id);
    CHECK(!p.file_path);
    CHECK(!p.start_progress);
    CHECK(p.end_progress == 12.5);
    CHECK(query(db.raw_connection(), "SELECT progress_delta FROM pending_sessions") == "<null>");
}

TEST_CASE("a repeated event_id answers with the first queue id") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    auto first = enqueue_one(db, make_session(1, 5, "same"));
    enqueue_one(db, make_session(2, 5, "other"));
    auto again = enqueue_one(db, make_session(3, 9, "same"));
    CHECK(again.duplicate);
    CHECK(again.queue_id == first.queue_id);
    CHECK(ok(db.counts()).pending_sessions == 2);

    SECTION("sessions and deletions have separate key spaces") {
        deletion_record d{"same", "/books/x.epub", std::nullopt, std::nullopt};
        auto del = enqueue_one(db, d);
        CHECK(!del.duplicate);
        auto del_again = enqueue_one(db, d);
        CHECK(del_again.duplicate);
        CHECK(del_again.queue_id == del.queue_id);
        CHECK(ok(db.counts()).pending_deletions == 1);
    }
    SECTION("still a duplicate after the row was uploaded") {
        std::vector<std::int64_t> ids{first.queue_id};
        ok(db.mark_uploaded(ids));
        CHECK(ok(db.counts()).pending_sessions == 1);
        auto late = enqueue_one(db, make_session(1, 5, "same"));
        CHECK(late.duplicate);
        CHECK(late.queue_id == first.queue_id);
        CHECK(ok(db.counts()).pending_sessions == 1);
    }
    SECTION("still a duplicate after clear") {
        CHECK(ok(db.clear_sessions()) == 2);
        auto late = enqueue_one(db, make_session(1, 5, "same"));
        CHECK(late.duplicate);
        CHECK(late.queue_id == first.queue_id);
        CHECK(ok(db.counts()).pending_sessions == 0);
    }
    SECTION("twice in one group") {
        std::vector<ingest_item> items{make_session(4, 1, "pair"), make_session(4, 1, "pair")};
        auto r = ok(db.enqueue(items));
        REQUIRE(r.size() == 2);
        CHECK(!r[0].duplicate);
        CHECK(r[1].duplicate);
        CHECK(r[1].queue_id == r[0].queue_id);
    }
}

TEST_CASE("a group enqueue commits all items or none") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    enqueue_one(db, make_session(1));

    SECTION("all") {
        std::vector<ingest_item> items{
            make_session(2, 3, "a"),
            deletion_record{"b", "/books/gone.epub", hash_of(9), std::nullopt},
            book_sighting{"/books/seen.epub", hash_of(8), 77, "Seen", std::nullopt},
            make_session(3),
        };
        auto r = ok(db.enqueue(items));
        REQUIRE(r.size() == 4);
        CHECK(r[0].queue_id == 2);
        CHECK(r[1].queue_id == 1);
        CHECK(r[2].queue_id == 0);
        CHECK(!r[2].duplicate);
        CHECK(r[3].queue_id == 3);
        auto n = ok(db.counts());
        CHECK(n.pending_sessions == 3);
        CHECK(n.pending_deletions == 1);
        CHECK(ok(db.book_id_for("/books/seen.epub", std::nullopt)) == 77);
    }
    SECTION("none, when a later item fails") {
        std::vector<ingest_item> items{
            make_session(2, 3, "a"),
            book_sighting{"/books/seen.epub", hash_of(8), 77, "Seen", std::nullopt},
            deletion_record{"b", "", std::nullopt, std::nullopt},  // violates file_path <> ''
        };
        auto r = db.enqueue(items);
        REQUIRE(!r.has_value());
        CHECK(primary_code(r.error()) == SQLITE_CONSTRAINT);
        CHECK(!is_storage_full(r.error()));
        auto n = ok(db.counts());
        CHECK(n.pending_sessions == 1);
        CHECK(n.pending_deletions == 0);
        CHECK(!ok(db.book_id_for("/books/seen.epub", std::nullopt)));
        // The event id of the rolled-back item was not remembered either.
        CHECK(!enqueue_one(db, make_session(2, 3, "a")).duplicate);
        CHECK(!db.raw_connection().in_transaction());
    }
}

TEST_CASE("an empty group is a no-op") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    CHECK(ok(db.enqueue({})).empty());
}

TEST_CASE("counts, list ordering and limits") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    for (int i = 1; i <= 5; ++i)
        enqueue_one(db,
                    make_session(i, i % 2 ? std::optional<std::int64_t>(100 + i) : std::nullopt));
    enqueue_one(db, deletion_record{std::nullopt, "/b/1.epub", std::nullopt, std::nullopt});
    enqueue_one(db, deletion_record{std::nullopt, "/b/2.epub", hash_of(2), 7});

    auto n = ok(db.counts());
    CHECK(n.pending_sessions == 5);
    CHECK(n.pending_deletions == 2);
    CHECK(n.unresolved_sessions == 2);
    CHECK(n.historical_sessions == 0);

    auto sessions = ok(db.list_sessions(3));
    REQUIRE(sessions.size() == 3);
    CHECK(sessions[0].id == 1);
    CHECK(sessions[1].id == 2);
    CHECK(sessions[2].id == 3);
    CHECK(ok(db.list_sessions(100)).size() == 5);

    auto deletions = ok(db.list_deletions(100));
    REQUIRE(deletions.size() == 2);
    CHECK(deletions[0].file_path == "/b/1.epub");
    CHECK(!deletions[0].book_id);  // not resolved at enqueue
    CHECK(!deletions[0].book_hash);
    CHECK(deletions[1].book_id == 7);
    CHECK(deletions[1].book_hash == hash_of(2));
    CHECK(is_iso_utc(deletions[1].created_at));
    CHECK(ok(db.list_deletions(1)).size() == 1);
}

TEST_CASE("clear_sessions deletes pending sessions only") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    for (int i = 1; i <= 3; ++i)
        enqueue_one(db, make_session(i, 1));
    enqueue_one(db, deletion_record{std::nullopt, "/b/1.epub", std::nullopt, std::nullopt});
    std::vector<std::int64_t> uploaded{1};
    ok(db.mark_uploaded(uploaded));
    CHECK(ok(db.clear_sessions()) == 2);
    auto n = ok(db.counts());
    CHECK(n.pending_sessions == 0);
    CHECK(n.historical_sessions == 1);
    CHECK(n.pending_deletions == 1);
    CHECK(ok(db.clear_sessions()) == 0);
    // Ids are never reused after a clear (AUTOINCREMENT).
    CHECK(enqueue_one(db, make_session(9)).queue_id == 4);
}

TEST_CASE("settings are stored as text by key") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    {
        auto db = database::open(path);
        CHECK(!ok(db.get_setting("manual_sync_only")));
        ok(db.put_setting("manual_sync_only", "true"));
        ok(db.put_setting("manual_sync_only", "false"));
        ok(db.put_setting("ask_before_enabling_wifi", "0123"));
    }
    auto db = database::open(path);
    CHECK(ok(db.get_setting("manual_sync_only")) == "false");
    // Stays text: the plugin turned "0123" into 123.
    CHECK(ok(db.get_setting("ask_before_enabling_wifi")) == "0123");
}

TEST_CASE("book_cache upserts keep the row and drop a stale id when the file changed") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    auto& c = db.raw_connection();
    enqueue_one(db, book_sighting{"/b/x.epub", hash_of(1), 11, "X", std::nullopt});
    auto rowid = query_int(c, "SELECT rowid FROM book_cache WHERE file_path = '/b/x.epub'");

    // The same file seen again without an id keeps the id it had.
    enqueue_one(db,
                book_sighting{"/b/x.epub", hash_of(1), std::nullopt, std::nullopt, std::nullopt});
    CHECK(ok(db.book_id_for("/b/x.epub", std::nullopt)) == 11);
    CHECK(query(c, "SELECT title FROM book_cache") == "X");
    CHECK(query_int(c, "SELECT rowid FROM book_cache WHERE file_path = '/b/x.epub'") == rowid);

    // A session naming the path updates the cache too.
    session_record s = make_session(1);
    s.file_path = "/b/x.epub";
    s.book_title = "X, 2nd edition";
    enqueue_one(db, s);
    CHECK(query(c, "SELECT title FROM book_cache") == "X, 2nd edition");
    CHECK(ok(db.book_id_for("/b/x.epub", std::nullopt)) == 11);

    // Another file at that path: the old id no longer applies.
    enqueue_one(db,
                book_sighting{"/b/x.epub", hash_of(2), std::nullopt, std::nullopt, std::nullopt});
    CHECK(!ok(db.book_id_for("/b/x.epub", std::nullopt)));
    CHECK(query(c, "SELECT book_hash FROM book_cache") == hash_of(2));
    CHECK(query_int(c, "SELECT count(*) FROM book_cache") == 1);
    CHECK(query_int(c, "SELECT rowid FROM book_cache WHERE file_path = '/b/x.epub'") == rowid);
}

TEST_CASE("data survives closing and reopening the file") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    {
        auto db = database::open(path);
        enqueue_one(db, make_session(1, 1, "e"));
    }
    auto db = database::open(path);
    CHECK(ok(db.counts()).pending_sessions == 1);
    CHECK(enqueue_one(db, make_session(1, 1, "e")).duplicate);
    ok(db.checkpoint());
    CHECK(query(db.raw_connection(), "PRAGMA integrity_check") == "ok");
}
