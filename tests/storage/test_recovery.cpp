// Corrupt files, a full disk and failing fsync: the daemon keeps running and recovers.

#include "tests/storage/fault_vfs.hpp"
#include "tests/storage/helpers.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <random>
#include <sstream>

using namespace booklore::storage;
using namespace booklore::storage::test;

namespace {

/// Routes spdlog's default logger into a string for the test's lifetime.
class log_capture {
public:
    log_capture() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_st>(out_);
        auto logger = std::make_shared<spdlog::logger>("capture", sink);
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~log_capture() { spdlog::set_default_logger(previous_); }
    std::string text() const { return out_.str(); }

private:
    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> previous_;
};

std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 gen(seed);
    std::string s(n, '\0');
    for (auto& c : s)
        c = static_cast<char>(gen() & 0xff);
    return s;
}

/// A real queue file with enough rows to span many pages, closed cleanly.
void make_populated(const std::filesystem::path& path) {
    auto db = database::open(path);
    std::vector<ingest_item> items;
    for (int i = 0; i < 400; ++i) {
        session_record s =
            make_session(i, i % 7 ? std::optional<std::int64_t>(i % 7) : std::nullopt);
        s.book_title = std::string(200, static_cast<char>('a' + i % 26));
        items.emplace_back(std::move(s));
    }
    ok(db.enqueue(items));
    ok(db.checkpoint());
}

/// Checks the quarantine result: the three files moved together, a fresh database working.
void check_quarantined(const std::filesystem::path& path, const std::string& original,
                       const std::string& wal, const std::string& shm) {
    log_capture log;
    auto db = database::open(path);
    REQUIRE(db.quarantined_to());
    auto moved = *db.quarantined_to();
    CHECK(moved.parent_path() == path.parent_path());
    CHECK(moved.filename().string().rfind(path.filename().string() + ".corrupt-", 0) == 0);
    CHECK(moved.string().find(':') == std::string::npos);
    CHECK(read_file(moved) == original);
    auto moved_wal = moved;
    moved_wal += "-wal";
    auto moved_shm = moved;
    moved_shm += "-shm";
    if (!wal.empty())
        CHECK(read_file(moved_wal) == wal);
    if (!shm.empty())
        CHECK(read_file(moved_shm) == shm);
    CHECK(log.text().find("database_quarantined path=" + path.string() +
                          " moved_to=" + moved.string()) != std::string::npos);

    CHECK(ok(db.counts()).pending_sessions == 0);
    enqueue_one(db, make_session(1, 1, "after"));
    CHECK(ok(db.counts()).pending_sessions == 1);
    CHECK(query(db.raw_connection(), "PRAGMA integrity_check") == "ok");
}

}  // namespace

TEST_CASE("a file of random bytes is quarantined with its -wal and -shm") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    std::string garbage = random_bytes(16384, 1);
    std::string wal = random_bytes(4096, 2);
    std::string shm = random_bytes(32768, 3);
    write_file(path, garbage);
    write_file(dir.file("q.sqlite-wal"), wal);
    write_file(dir.file("q.sqlite-shm"), shm);
    check_quarantined(path, garbage, wal, shm);
    // No stray companion was left for the fresh file to pick up.
    auto names = files_starting_with(dir.path(), "q.sqlite.corrupt-");
    CHECK(names.size() == 3);
}

TEST_CASE("a text file at the database path is quarantined") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    std::string text = "this is not a database, but it is long enough to have a header....\n";
    write_file(path, text + text + text);
    check_quarantined(path, text + text + text, "", "");
}

TEST_CASE("a real database with a damaged page is quarantined") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    make_populated(path);
    std::string bytes = read_file(path);
    REQUIRE(bytes.size() > 4096 * 8);

    SECTION("a page overwritten in the middle") {
        bytes.replace(4096 * 3, 4096, random_bytes(4096, 4));
    }
    SECTION("the file truncated to half") {
        bytes.resize(bytes.size() / 2);
    }
    SECTION("the first page's b-tree header overwritten") {
        bytes.replace(100, 200, random_bytes(200, 5));
    }
    write_file(path, bytes);
    check_quarantined(path, bytes, "", "");
}

TEST_CASE("an empty file is simply a new database") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    write_file(path, "");
    auto db = database::open(path);
    CHECK(!db.quarantined_to());
    enqueue_one(db, make_session(1));
}

TEST_CASE("an unopenable path throws at start-up") {
    temp_dir dir;
    CHECK_THROWS_WITH(database::open(dir.file("missing-dir/q.sqlite")),
                      Catch::Contains("cannot open database"));
}

TEST_CASE("a full database refuses the whole group, then recovers when space returns") {
    temp_dir dir;
    auto db = database::open(dir.file("q.sqlite"));
    enqueue_one(db, make_session(0, 1, "first"));
    auto& c = db.raw_connection();
    auto pages = query_int(c, "PRAGMA page_count");
    REQUIRE(query_int(c, "PRAGMA max_page_count = " + std::to_string(pages)) == pages);

    std::vector<ingest_item> items;
    for (int i = 1; i <= 60; ++i) {
        session_record s = make_session(i, 1, "ev-" + std::to_string(i));
        s.book_title = std::string(1500, 't');
        s.file_path = "/b/" + std::to_string(i) + ".epub";
        items.emplace_back(std::move(s));
    }
    auto full = db.enqueue(items);
    REQUIRE(!full.has_value());
    CHECK(is_storage_full(full.error()));
    CHECK(primary_code(full.error()) == SQLITE_FULL);
    CHECK(!db.raw_connection().in_transaction());
    auto n = ok(db.counts());
    CHECK(n.pending_sessions == 1);
    CHECK(query_int(db.raw_connection(), "SELECT count(*) FROM book_cache") == 0);
    CHECK(query_int(db.raw_connection(), "SELECT count(*) FROM event_ledger") == 1);
    CHECK(query(db.raw_connection(), "PRAGMA integrity_check") == "ok");

    // Still full: still refused, still nothing half-written.
    CHECK(is_storage_full(db.enqueue(items).error()));
    CHECK(ok(db.counts()).pending_sessions == 1);

    // Reads and the sync's deletes keep working while full.
    CHECK(ok(db.list_sessions(10)).size() == 1);

    // Space returns.
    query_int(db.raw_connection(), "PRAGMA max_page_count = 1000000");
    auto r = ok(db.enqueue(items));
    CHECK(r.size() == 60);
    CHECK(!r[0].duplicate);
    CHECK(ok(db.counts()).pending_sessions == 61);
    CHECK(query(db.raw_connection(), "PRAGMA integrity_check") == "ok");
}

TEST_CASE("after a failed fsync the connection is reopened and work goes on") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    fault_vfs vfs;
    log_capture log;
    auto db = database::open(path);
    enqueue_one(db, make_session(1, 1, "a"));
    int opens = vfs.main_db_opens();

    vfs.fail_syncs(1);
    auto failed = db.enqueue(std::vector<ingest_item>{make_session(2, 1, "b")});
    REQUIRE(!failed.has_value());
    CHECK(failed.error() == make_sqlite_error(SQLITE_IOERR_FSYNC));
    CHECK(primary_code(failed.error()) == SQLITE_IOERR);
    CHECK(!is_storage_full(failed.error()));
    CHECK(failed.error().category() == sqlite_category());
    CHECK(failed.error().message() == sqlite3_errstr(SQLITE_IOERR_FSYNC));
    CHECK(log.text().find("storage_error op=enqueue") != std::string::npos);

    // The next operation runs on a new connection. Whether the failed commit reached the disk
    // is unknowable (that is why clients resend with event ids); the event id makes it safe.
    auto again = enqueue_one(db, make_session(2, 1, "b"));
    CHECK(vfs.main_db_opens() == opens + 1);
    CHECK(log.text().find("database_reopened") != std::string::npos);
    auto n = ok(db.counts());
    CHECK(n.pending_sessions == 2);
    CHECK(again.queue_id == 2);
    enqueue_one(db, make_session(3, 1, "c"));
    CHECK(ok(db.counts()).pending_sessions == 3);
    CHECK(query(db.raw_connection(), "PRAGMA integrity_check") == "ok");
}

TEST_CASE("corruption found while running is handled like at open") {
    temp_dir dir;
    auto path = dir.file("q.sqlite");
    log_capture log;
    auto db = database::open(path);
    enqueue_one(db, make_session(1, 1));
    ok(db.checkpoint());  // everything in the main file, WAL empty
    // Damage page 2 (pending_sessions' root) behind SQLite's back, as a failing card would,
    // and drop the cached copy so the next read sees it.
    std::string bytes = read_file(path);
    REQUIRE(bytes.size() >= 4096 * 3);
    bytes.replace(4096, 4096, std::string(4096, '\x7f'));
    write_file(path, bytes);
    sqlite3_db_release_memory(db.raw_connection().native());

    auto failed = db.list_sessions(10);
    REQUIRE(!failed.has_value());
    CHECK(primary_code(failed.error()) == SQLITE_CORRUPT);
    CHECK(!db.quarantined_to());

    // The next operation checks the file like open() does, quarantines it, and goes on.
    CHECK(ok(db.counts()).pending_sessions == 0);
    REQUIRE(db.quarantined_to());
    CHECK(read_file(*db.quarantined_to()) == bytes);
    CHECK(log.text().find("database_quarantined") != std::string::npos);
    enqueue_one(db, make_session(2, 1));
    CHECK(ok(db.counts()).pending_sessions == 1);
}
