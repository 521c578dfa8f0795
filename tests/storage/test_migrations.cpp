// Schema versions: fresh files, older versions, the KOReader plugin's file, newer files.

#include "tests/storage/helpers.hpp"

#include <sqlite3.h>

using namespace booklore::storage;
using namespace booklore::storage::test;

namespace {

sqlite_connection raw_open(const std::filesystem::path& file) {
    auto c = sqlite_connection::open(file);
    REQUIRE(c.has_value());
    return std::move(*c);
}

void exec(sqlite_connection& c, const std::string& sql) {
    auto ec = c.exec(sql);
    INFO(sql << ": " << last_error_detail());
    REQUIRE(!ec);
}

std::string query_plan(sqlite_connection& c, const std::string& sql) {
    auto s = c.prepare("EXPLAIN QUERY PLAN " + sql);
    REQUIRE(s.has_value());
    std::string plan;
    while (*s->step())
        plan += s->column_text(3) + "\n";
    return plan;
}

// The plugin's schema after its v21 (plugin-spec §1.3), with the columns that matter here.
constexpr const char* plugin_schema = R"sql(
PRAGMA journal_mode = TRUNCATE;
PRAGMA foreign_keys = ON;
CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER DEFAULT (strftime('%s','now')));
INSERT INTO schema_version (version) VALUES (1), (2), (3), (20), (21);
CREATE TABLE book_cache (
    id INTEGER PRIMARY KEY AUTOINCREMENT, file_path TEXT UNIQUE NOT NULL, file_hash TEXT NOT NULL,
    book_id INTEGER, title TEXT, author TEXT, last_accessed INTEGER,
    created_at INTEGER DEFAULT (strftime('%s','now')), updated_at INTEGER DEFAULT (strftime('%s','now')),
    isbn10 TEXT, isbn13 TEXT, hardcover_id INTEGER, tracking_enabled INTEGER DEFAULT 1);
CREATE INDEX idx_book_cache_file_path ON book_cache(file_path);
CREATE INDEX idx_book_cache_file_hash ON book_cache(file_hash);
CREATE INDEX idx_book_cache_book_id ON book_cache(book_id);
CREATE TABLE pending_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, book_id INTEGER, book_hash TEXT NOT NULL,
    book_type TEXT DEFAULT 'EPUB', start_time TEXT NOT NULL, end_time TEXT NOT NULL,
    duration_seconds INTEGER NOT NULL, start_progress REAL DEFAULT 0.0, end_progress REAL DEFAULT 0.0,
    progress_delta REAL DEFAULT 0.0, start_location TEXT DEFAULT '0', end_location TEXT DEFAULT '0',
    created_at INTEGER DEFAULT (strftime('%s','now')), retry_count INTEGER DEFAULT 0,
    last_retry_at INTEGER, book_title TEXT, koreader_book_id INTEGER);
CREATE INDEX idx_pending_sessions_book_hash ON pending_sessions(book_hash);
CREATE TABLE historical_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, koreader_book_id INTEGER NOT NULL,
    koreader_book_title TEXT NOT NULL, book_id INTEGER, book_hash TEXT, book_type TEXT DEFAULT 'EPUB',
    start_time TEXT NOT NULL, end_time TEXT NOT NULL, duration_seconds INTEGER NOT NULL,
    start_progress REAL, end_progress REAL, progress_delta REAL, start_location TEXT,
    end_location TEXT, created_at INTEGER DEFAULT (strftime('%s','now')),
    matched BOOLEAN DEFAULT 0, synced BOOLEAN DEFAULT 0,
    UNIQUE(koreader_book_id, start_time, end_time));
CREATE TABLE plugin_settings (key TEXT PRIMARY KEY, value TEXT, updated_at INTEGER);
CREATE TABLE pending_deletions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, file_hash TEXT NOT NULL, stem TEXT NOT NULL,
    book_id INTEGER, retry_count INTEGER DEFAULT 0, created_at INTEGER DEFAULT (strftime('%s','now')),
    UNIQUE(file_hash));
CREATE TABLE pending_ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    book_cache_id INTEGER NOT NULL UNIQUE REFERENCES book_cache(id) ON DELETE CASCADE,
    book_id INTEGER, rating INTEGER NOT NULL, retry_count INTEGER DEFAULT 0, last_retry_at INTEGER,
    created_at INTEGER DEFAULT (strftime('%s','now')));
)sql";

constexpr const char* plugin_rows = R"sql(
INSERT INTO book_cache (file_path, file_hash, book_id, title, updated_at) VALUES
    ('/mnt/onboard/a.epub', '0123456789ABCDEF0123456789abcdef', 31, 'Book A', 1700000000),
    ('/mnt/onboard/b.epub', '', NULL, 'Opened once', 1700000100),
    ('/mnt/onboard/c.pdf', 'ffffffffffffffffffffffffffffffff', NULL, 'Book C', NULL);
INSERT INTO pending_ratings (book_cache_id, rating) VALUES (1, 8);
-- created_at out of id order: the import follows created_at, like the plugin's queue.
INSERT INTO pending_sessions (book_id, book_hash, book_type, start_time, end_time, duration_seconds,
        start_progress, end_progress, progress_delta, start_location, end_location, created_at,
        retry_count, book_title) VALUES
    (31, '0123456789abcdef0123456789abcdef', 'epub', '2025-03-01T08:00:00Z', '2025-03-01T08:40:00Z',
        2400, 10.5, 20.25, 9.75, '12', '30', 1740816000, 2, 'Book A'),
    (NULL, 'ffffffffffffffffffffffffffffffff', 'PDF', '2025-02-01T08:00:00Z', '2025-02-01T08:10:00Z',
        600, 0.0, 5.0, 5.0, '0', '7', 1738397400, 0, 'Book C'),
    (NULL, '', 'EPUB', '2025-02-02T08:00:00Z', '2025-02-02T08:10:00Z', 600, 0.0, 1.0, 1.0, '0', '1',
        1738483800, 5, 'Unknown');
INSERT INTO historical_sessions (koreader_book_id, koreader_book_title, start_time, end_time,
        duration_seconds) VALUES (1, 'Old', '2024-01-01T00:00:00Z', '2024-01-01T01:00:00Z', 3600);
INSERT INTO pending_deletions (file_hash, stem, book_id) VALUES ('0123456789abcdef0123456789abcdef', 'a', 31);
INSERT INTO plugin_settings (key, value) VALUES ('manual_sync_only', 'true');
)sql";

}  // namespace

TEST_CASE("a fresh file gets the latest schema with the documented tables and columns") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    auto& c = db.raw_connection();
    CHECK(query_int(c, "PRAGMA user_version") == latest_schema_version);
    CHECK(query(c, "SELECT group_concat(name) FROM pragma_table_info('pending_sessions')") ==
          "id,event_id,book_id,book_hash,file_path,book_title,book_type,start_time,end_time,"
          "duration_seconds,start_progress,end_progress,progress_delta,start_location,end_location,"
          "retry_count,last_error,created_at,batch_key,in_doubt,isbn");
    CHECK(query(c, "SELECT group_concat(name) FROM pragma_table_info('historical_sessions')") ==
          "id,event_id,book_id,book_hash,file_path,book_title,book_type,start_time,end_time,"
          "duration_seconds,start_progress,end_progress,progress_delta,start_location,end_location,"
          "retry_count,last_error,created_at,uploaded_at,batch_key,isbn");
    CHECK(query(c, "SELECT group_concat(name) FROM pragma_table_info('pending_deletions')") ==
          "id,event_id,file_path,book_hash,book_id,retry_count,last_error,created_at");
    CHECK(query(c, "SELECT group_concat(name) FROM pragma_table_info('book_cache')") ==
          "file_path,book_hash,book_id,title,updated_at,isbn");
    CHECK(query_int(
              c, "SELECT count(*) FROM sqlite_schema WHERE name IN ('settings', 'event_ledger')") ==
          2);
    // The sync's lookups use indexes.
    CHECK(query_plan(c,
                     "SELECT id FROM pending_sessions WHERE book_id = 1 AND batch_key IS NULL "
                     "ORDER BY id LIMIT 100")
              .find("pending_sessions_by_book") != std::string::npos);
    CHECK(query_plan(c,
                     "SELECT batch_key FROM pending_sessions WHERE book_id = 1 AND batch_key "
                     "IS NOT NULL ORDER BY id LIMIT 1")
              .find("pending_sessions_by_") != std::string::npos);
    CHECK(query_plan(c, "SELECT book_id FROM book_cache WHERE book_hash = 'x'")
              .find("book_cache_by_hash") != std::string::npos);
    CHECK(query_plan(c, "UPDATE pending_sessions SET book_id = 1 WHERE book_hash = 'x'")
              .find("pending_sessions_by_hash") != std::string::npos);
}

TEST_CASE("a version 1 file migrates to the latest version with its data") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    {
        sqlite_connection c = raw_open(path);
        exec(c, "BEGIN");
        REQUIRE(!migrate(c, 0, 1));
        exec(c, "COMMIT");
        REQUIRE(query_int(c, "PRAGMA user_version") == 1);
        exec(
            c,
            "INSERT INTO pending_sessions (event_id, book_id, book_hash, book_type, start_time, "
            "end_time, duration_seconds, created_at) VALUES "
            "('ev-1', 7, '" +
                hash_of(1) +
                "', 'EPUB', '2026-01-01T00:00:00Z', "
                "'2026-01-01T00:10:00Z', 600, '2026-01-01T00:11:00Z'), "
                "(NULL, NULL, '" +
                hash_of(2) +
                "', 'PDF', '2026-01-01T01:00:00Z', "
                "'2026-01-01T01:10:00Z', 600, '2026-01-01T01:11:00Z');"
                "INSERT INTO historical_sessions (id, event_id, book_id, book_hash, book_type, "
                "start_time, end_time, duration_seconds, created_at, uploaded_at) VALUES "
                "(100, 'ev-old', 7, '" +
                hash_of(1) +
                "', 'EPUB', '2025-01-01T00:00:00Z', "
                "'2025-01-01T00:10:00Z', 600, '2025-01-01T00:11:00Z', '2025-01-01T00:12:00Z');"
                "INSERT INTO pending_deletions (event_id, file_path, created_at) VALUES "
                "('del-1', '/b/x.epub', '2026-01-01T00:00:00Z');"
                "INSERT INTO book_cache (file_path, book_hash, book_id, updated_at) VALUES "
                "('/b/y.epub', '" +
                hash_of(1) +
                "', 7, '2026-01-01T00:00:00Z');"
                "INSERT INTO settings (key, value, updated_at) VALUES ('manual_sync_only', 'true', "
                "'2026-01-01T00:00:00Z');");
    }
    auto db = database::open(path);
    auto& c = db.raw_connection();
    CHECK(query_int(c, "PRAGMA user_version") == latest_schema_version);
    auto rows = ok(db.list_sessions(10));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].event_id == "ev-1");
    CHECK(rows[0].book_id == 7);
    CHECK(!rows[0].batch_key);
    CHECK(!rows[0].in_doubt_since);  // version 3: nothing was in flight
    CHECK(!rows[0].isbn);
    CHECK(rows[1].book_type == "PDF");
    CHECK(ok(db.counts()).historical_sessions == 1);
    CHECK(ok(db.get_setting("manual_sync_only")) == "true");
    CHECK(ok(db.book_id_for("/b/y.epub", std::nullopt)) == 7);
    // The ledger was seeded from the event ids version 1 stored.
    auto dup = enqueue_one(db, make_session(1, 7, "ev-1"));
    CHECK(dup.duplicate);
    CHECK(dup.queue_id == 1);
    auto old = enqueue_one(db, make_session(1, 7, "ev-old"));
    CHECK(old.duplicate);
    CHECK(old.queue_id == 100);
    auto del = enqueue_one(db, deletion_record{"del-1", "/b/x.epub", std::nullopt, std::nullopt});
    CHECK(del.duplicate);
    CHECK(del.queue_id == 1);
    CHECK(ok(db.next_batch(7, 10, "k")).size() == 1);
    CHECK(query(c, "PRAGMA integrity_check") == "ok");
}

TEST_CASE("a migration that fails leaves the file at its old version") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    {
        sqlite_connection c = raw_open(path);
        exec(c, "BEGIN");
        REQUIRE(!migrate(c, 0, 1));
        exec(c, "COMMIT");
        // Step 2 creates this table; a clash makes it fail half-way.
        exec(c, "CREATE TABLE event_ledger (x)");
    }
    CHECK_THROWS_WITH(database::open(path), Catch::Contains("migration"));
    sqlite_connection c = raw_open(path);
    CHECK(query_int(c, "PRAGMA user_version") == 1);
    CHECK(query_int(c,
                    "SELECT count(*) FROM pragma_table_info('pending_sessions') WHERE name = "
                    "'batch_key'") == 0);
}

TEST_CASE("the KOReader plugin's database is taken over, not lost") {
    temp_dir dir;
    auto path = dir.file("booklore-sync.sqlite");
    {
        sqlite_connection c = raw_open(path);
        exec(c, plugin_schema);
        exec(c, plugin_rows);
    }
    auto db = database::open(path);
    REQUIRE(db.legacy_import());
    const auto& summary = *db.legacy_import();
    CHECK(summary.sessions_imported == 2);
    CHECK(summary.sessions_skipped == 1);  // empty hash and no id
    CHECK(summary.books_imported == 2);    // empty hash and no id skipped
    CHECK(summary.deletions_left == 1);
    CHECK(summary.renamed_tables.size() == 7);
    CHECK(!db.quarantined_to());
    CHECK(!db.moved_aside_to());

    auto& c = db.raw_connection();
    CHECK(query_int(c, "PRAGMA user_version") == latest_schema_version);
    CHECK(query(c, "PRAGMA journal_mode") == "wal");
    CHECK(query(c, "PRAGMA integrity_check") == "ok");
    CHECK(query_int(c, "SELECT count(*) FROM pragma_foreign_key_check") == 0);
    // Everything of the plugin's is still there under legacy_*.
    CHECK(query_int(c, "SELECT count(*) FROM legacy_pending_sessions") == 3);
    CHECK(query_int(c, "SELECT count(*) FROM legacy_historical_sessions") == 1);
    CHECK(query_int(c, "SELECT count(*) FROM legacy_pending_deletions") == 1);
    CHECK(query(c, "SELECT value FROM legacy_plugin_settings") == "true");
    CHECK(query_int(c, "SELECT max(version) FROM legacy_schema_version") == 21);
    CHECK(query(c, "SELECT sql FROM sqlite_schema WHERE name = 'legacy_pending_ratings'")
              .find("legacy_book_cache") != std::string::npos);

    // Sessions: oldest created_at first, times as ISO text, the plugin's fields carried over.
    auto rows = ok(db.list_sessions(10));
    REQUIRE(rows.size() == 2);
    CHECK(rows[0].book_hash == "ffffffffffffffffffffffffffffffff");
    CHECK(!rows[0].book_id);
    CHECK(rows[0].book_type == "PDF");
    CHECK(rows[0].created_at == "2025-02-01T08:10:00Z");
    CHECK(rows[0].book_title == "Book C");
    CHECK(rows[1].book_id == 31);
    CHECK(rows[1].book_type == "EPUB");
    CHECK(rows[1].start_time == "2025-03-01T08:00:00Z");
    CHECK(rows[1].end_time == "2025-03-01T08:40:00Z");
    CHECK(rows[1].duration_seconds == 2400);
    CHECK(rows[1].start_progress == 10.5);
    CHECK(rows[1].end_progress == 20.25);
    CHECK(rows[1].start_location == "12");
    CHECK(rows[1].end_location == "30");
    CHECK(rows[1].retry_count == 2);
    CHECK(rows[1].created_at == "2025-03-01T08:00:00Z");
    CHECK(!rows[1].event_id);
    CHECK(query(c, "SELECT progress_delta FROM pending_sessions WHERE book_id = 31") == "9.75");

    // Book cache: file_hash became book_hash (lower case), epoch updated_at became ISO.
    CHECK(ok(db.book_id_for("/mnt/onboard/a.epub", std::nullopt)) == 31);
    CHECK(ok(db.cached_book_id("0123456789abcdef0123456789abcdef")) == 31);
    CHECK(query(c, "SELECT updated_at FROM book_cache WHERE file_path = '/mnt/onboard/a.epub'") ==
          "2023-11-14T22:13:20Z");
    CHECK(query(c, "SELECT title FROM book_cache WHERE file_path = '/mnt/onboard/c.pdf'") ==
          "Book C");
    CHECK(query_int(c, "SELECT count(*) FROM book_cache WHERE file_path = '/mnt/onboard/b.epub'") ==
          0);

    // The queue works; new ids follow the imported ones.
    CHECK(enqueue_one(db, make_session(5)).queue_id == 3);

    // Opening again does not import twice.
    sqlite_connection other = raw_open(path);
    CHECK(query_int(other, "SELECT count(*) FROM pending_sessions") == 3);
}

TEST_CASE("a foreign file that cannot be imported is moved aside, not deleted") {
    temp_dir dir;
    auto path = dir.file("booklore-sync.sqlite");
    {
        sqlite_connection c = raw_open(path);
        exec(c, plugin_schema);
        exec(c, plugin_rows);
        // Renaming book_cache to legacy_book_cache will clash.
        exec(c, "CREATE TABLE legacy_book_cache (x)");
    }
    auto db = database::open(path);
    REQUIRE(db.moved_aside_to());
    CHECK(!db.legacy_import());
    CHECK(db.moved_aside_to()->filename().string().rfind("booklore-sync.sqlite.legacy-", 0) == 0);
    CHECK(ok(db.counts()).pending_sessions == 0);
    enqueue_one(db, make_session(1));

    sqlite_connection old = raw_open(*db.moved_aside_to());
    CHECK(query_int(old, "SELECT count(*) FROM pending_sessions") == 3);
    CHECK(query_int(old, "SELECT count(*) FROM book_cache") == 3);
}

TEST_CASE("a file from a newer version is refused and left alone") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    {
        auto db = database::open(path);
        enqueue_one(db, make_session(1));
        REQUIRE(!db.raw_connection().exec("PRAGMA user_version = 99"));
    }
    auto before = read_file(path);
    CHECK_THROWS_WITH(database::open(path), Catch::Contains("newer") && Catch::Contains("99"));
    CHECK(read_file(path) == before);
    CHECK(files_starting_with(dir.path(), "q.sqlite.").empty());
}
