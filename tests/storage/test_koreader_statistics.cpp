// Reading KOReader's statistics.sqlite3: books, visits, read-only, and files that are not it.

#include "storage/koreader_statistics.hpp"

#include "tests/storage/helpers.hpp"

#include <sqlite3.h>

#include <sys/stat.h>

using namespace booklore::storage;
using namespace booklore::storage::test;

namespace {

// The statistics plugin's own schema, as koreader/koreader
// fc88887662c27fbef956a46d7772f2dde1658384 plugins/statistics.koplugin/main.lua creates it:
// `book` at :464-479 with its unique index at :483, `page_stat_data` at :405-416 with its
// index at :419, the journal mode at :456-460 and user_version at :495 (20221111, :35).
constexpr const char* koreader_schema = R"sql(
CREATE TABLE IF NOT EXISTS book
    (
        id integer PRIMARY KEY autoincrement,
        title text,
        authors text,
        notes      integer,
        last_open  integer,
        highlights integer,
        pages      integer,
        series text,
        language text,
        md5 text,
        total_read_time  integer,
        total_read_pages integer
    );
CREATE UNIQUE INDEX IF NOT EXISTS book_title_authors_md5 ON book(title, authors, md5);
CREATE TABLE IF NOT EXISTS page_stat_data
    (
        id_book     integer,
        page        integer NOT NULL DEFAULT 0,
        start_time  integer NOT NULL DEFAULT 0,
        duration    integer NOT NULL DEFAULT 0,
        total_pages integer NOT NULL DEFAULT 0,
        UNIQUE (id_book, page, start_time),
        FOREIGN KEY(id_book) REFERENCES book(id)
    );
CREATE INDEX IF NOT EXISTS page_stat_data_start_time ON page_stat_data(start_time);
PRAGMA user_version=20221111;
)sql";

/// Builds a statistics file the way KOReader writes it (insertDB, main.lua:941-945).
class statistics_file {
public:
    statistics_file(const std::filesystem::path& file, const char* journal_mode) {
        conn_ = ok(sqlite_connection::open(file));
        exec(std::string("PRAGMA journal_mode=") + journal_mode);
        exec(koreader_schema);
    }

    std::int64_t book(const std::string& title, const std::string& authors,
                      std::optional<std::string> md5) {
        auto s = ok(conn_.prepare(
            "INSERT INTO book (title, authors, notes, last_open, highlights, pages, md5, "
            "total_read_time, total_read_pages) VALUES (?1, ?2, 0, 0, 0, 100, ?3, 0, 0)"));
        s.bind(1, title);
        s.bind(2, authors);
        s.bind(3, md5);
        REQUIRE(!s.run());
        return conn_.last_insert_rowid();
    }

    void visit(std::int64_t id_book, std::int64_t page, std::int64_t start, std::int64_t duration,
               std::int64_t total_pages) {
        auto s = ok(conn_.prepare("INSERT OR IGNORE INTO page_stat_data VALUES(?, ?, ?, ?, ?)"));
        s.bind(1, id_book);
        s.bind(2, page);
        s.bind(3, start);
        s.bind(4, duration);
        s.bind(5, total_pages);
        REQUIRE(!s.run());
    }

    void exec(const std::string& sql) {
        INFO(sql << ": " << last_error_detail());
        REQUIRE(!conn_.exec(sql));
    }

private:
    sqlite_connection conn_;
};

const std::string md5_a = "0123456789abcdef0123456789abcdef";
const std::string md5_b = "fedcba9876543210fedcba9876543210";

std::vector<book_history> read_all(const std::filesystem::path& file) {
    auto reader = koreader_statistics::open(file);
    INFO((reader ? std::string() : reader.error().message));
    REQUIRE(reader.has_value());
    std::vector<book_history> books;
    for (;;) {
        auto next = reader->next_book();
        INFO((next ? std::string() : next.error().message));
        REQUIRE(next.has_value());
        if (!*next)
            return books;
        books.push_back(std::move(**next));
    }
}

statistics_error open_error(const std::filesystem::path& file) {
    auto reader = koreader_statistics::open(file);
    REQUIRE(!reader.has_value());
    return reader.error();
}

struct file_stamp {
    std::string bytes;
    timespec mtime{};
};

file_stamp stamp(const std::filesystem::path& file) {
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    return {read_file(file), st.st_mtim};
}

void same_stamp(const file_stamp& a, const file_stamp& b) {
    CHECK(a.bytes == b.bytes);
    CHECK(a.mtime.tv_sec == b.mtime.tv_sec);
    CHECK(a.mtime.tv_nsec == b.mtime.tv_nsec);
}

}  // namespace

TEST_CASE("statistics: books come with their visits in time order, grouped by md5") {
    temp_dir dir;
    auto file = dir.file("statistics.sqlite3");
    {
        statistics_file stats(file, "WAL");
        auto a = stats.book("Old title", "Author", md5_a);
        auto b = stats.book("Other", "Author", md5_b);
        auto none1 = stats.book("No hash 1", "Author", std::nullopt);
        auto none2 = stats.book("No hash 2", "Author", "not-a-hash");
        // Edited metadata: KOReader adds a row with the same md5 (main.lua:483 is unique on
        // title, authors and md5), upper-case here to check the case is ignored.
        auto a2 = stats.book("New title", "Author", "0123456789ABCDEF0123456789ABCDEF");
        stats.visit(a, 2, 2000, 30, 100);
        stats.visit(a2, 3, 3000, 40, 100);
        stats.visit(a, 1, 1000, 20, 100);
        stats.visit(b, 5, 500, 10, 50);
        stats.visit(none1, 1, 100, 10, 10);
        stats.visit(none2, 1, 200, 10, 10);
        stats.visit(none1, 2, 300, 10, 10);
        stats.visit(999, 1, 100, 10, 10);  // no book row: nothing to name it by
    }
    auto books = read_all(file);
    REQUIRE(books.size() == 4);
    CHECK(books[0].md5 == md5_a);
    CHECK(books[0].title == "New title");
    REQUIRE(books[0].visits.size() == 3);
    CHECK(books[0].visits[0].start_time == 1000);
    CHECK(books[0].visits[0].page == 1);
    CHECK(books[0].visits[1].start_time == 2000);
    CHECK(books[0].visits[2].start_time == 3000);
    CHECK(books[0].visits[2].duration == 40);
    CHECK(books[0].visits[2].total_pages == 100);
    CHECK(books[1].md5 == md5_b);
    CHECK(books[1].visits.size() == 1);
    // Rows without a usable md5 stay one book each.
    CHECK(!books[2].md5);
    CHECK(books[2].title == "No hash 1");
    CHECK(books[2].visits.size() == 2);
    CHECK(!books[3].md5);
    CHECK(books[3].title == "No hash 2");
    CHECK(books[3].visits.size() == 1);
}

TEST_CASE("statistics: an empty file has no books") {
    temp_dir dir;
    auto file = dir.file("statistics.sqlite3");
    { statistics_file stats(file, "TRUNCATE"); }
    CHECK(read_all(file).empty());
}

TEST_CASE("statistics: the file is read without being written, while KOReader has it open") {
    temp_dir dir;
    auto file = dir.file("statistics.sqlite3");
    const char* mode = GENERATE("WAL", "TRUNCATE");
    INFO("journal mode " << mode);
    statistics_file koreader(file, mode);
    auto a = koreader.book("Book", "Author", md5_a);
    koreader.visit(a, 1, 1000, 20, 100);
    if (std::string(mode) == "WAL")
        koreader.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    // KOReader in the middle of its next insertDB: not committed, so not seen.
    koreader.exec("BEGIN IMMEDIATE");
    koreader.visit(a, 2, 2000, 20, 100);
    auto before = stamp(file);

    auto books = read_all(file);
    REQUIRE(books.size() == 1);
    CHECK(books[0].visits.size() == 1);
    same_stamp(before, stamp(file));

    koreader.exec("COMMIT");
    books = read_all(file);
    REQUIRE(books.size() == 1);
    CHECK(books[0].visits.size() == 2);
}

TEST_CASE("statistics: a writer that keeps its lock answers busy, not a wrong read") {
    temp_dir dir;
    auto file = dir.file("statistics.sqlite3");
    statistics_file koreader(file, "TRUNCATE");
    koreader.visit(koreader.book("Book", "Author", md5_a), 1, 1000, 20, 100);
    koreader.exec("PRAGMA locking_mode=EXCLUSIVE");
    koreader.exec("BEGIN EXCLUSIVE");
    auto e = open_error(file);
    CHECK(e.what == statistics_error::kind::busy);
    CHECK(e.message.find("try again") != std::string::npos);
}

TEST_CASE("statistics: files that are not KOReader's statistics are refused with a reason") {
    temp_dir dir;
    SECTION("missing: named, and not created") {
        auto file = dir.file("missing.sqlite3");
        auto e = open_error(file);
        CHECK(e.what == statistics_error::kind::unreadable);
        CHECK(e.message.find(file.string()) != std::string::npos);
        CHECK(e.message.find("there is no file") != std::string::npos);
        CHECK(!std::filesystem::exists(file));
        CHECK(files_starting_with(dir.path(), "missing").empty());
    }
    SECTION("a folder") {
        auto e = open_error(dir.path());
        CHECK(e.what == statistics_error::kind::unreadable);
        CHECK(e.message.find("is a folder") != std::string::npos);
    }
    SECTION("not SQLite") {
        auto file = dir.file("statistics.sqlite3");
        write_file(file, std::string(8192, 'x'));
        auto e = open_error(file);
        CHECK(e.what == statistics_error::kind::unreadable);
        CHECK(e.message.find("not an SQLite database") != std::string::npos);
        CHECK(read_file(file) == std::string(8192, 'x'));
    }
    SECTION("SQLite, but some other database") {
        auto file = dir.file("other.sqlite3");
        {
            auto c = ok(sqlite_connection::open(file));
            REQUIRE(!c.exec("CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT)"));
        }
        auto e = open_error(file);
        CHECK(e.what == statistics_error::kind::not_statistics);
        CHECK(e.message.find("does not hold KOReader's reading statistics") != std::string::npos);
        CHECK(e.message.find("page_stat_data") != std::string::npos);
    }
    SECTION("damaged") {
        auto file = dir.file("statistics.sqlite3");
        {
            statistics_file stats(file, "TRUNCATE");
            auto a = stats.book("Book", "Author", md5_a);
            stats.exec(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
                "INSERT INTO page_stat_data SELECT " +
                std::to_string(a) + ", i, 1000 + i * 10, 5, 2000 FROM n");
        }
        // Keep the header, overwrite the pages behind it.
        std::string bytes = read_file(file);
        REQUIRE(bytes.size() > 16384);
        for (std::size_t i = 4096; i < bytes.size(); ++i)
            bytes[i] = static_cast<char>(i * 7);
        write_file(file, bytes);
        auto reader = koreader_statistics::open(file);
        statistics_error e;
        if (!reader) {
            e = reader.error();
        } else {
            auto next = reader->next_book();
            REQUIRE(!next.has_value());
            e = next.error();
        }
        CHECK(e.what == statistics_error::kind::unreadable);
        CHECK(e.message.find(file.string() + "\" is damaged") != std::string::npos);
    }
}

TEST_CASE("open_read_only never creates or writes, whatever the file is called") {
    temp_dir dir;
    auto missing = dir.file("absent.sqlite3");
    auto none = sqlite_connection::open_read_only(missing);
    CHECK(!none.has_value());
    CHECK(!std::filesystem::exists(missing));

    // Characters that mean something in a URI stay part of the name.
    auto odd = dir.file("stats ?mode=rw#x%41.sqlite3");
    { statistics_file stats(odd, "WAL"); }
    auto before = stamp(odd);
    auto conn = ok(sqlite_connection::open_read_only(odd));
    CHECK(query_int(conn, "SELECT count(*) FROM book") == 0);
    auto ec = conn.exec("CREATE TABLE t (x)");
    CHECK(primary_code(ec) == SQLITE_READONLY);
    conn = sqlite_connection();
    same_stamp(before, stamp(odd));
    CHECK(!std::filesystem::exists(dir.file("stats ")));
}
