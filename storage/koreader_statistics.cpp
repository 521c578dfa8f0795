#include "storage/koreader_statistics.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <system_error>
#include <tuple>
#include <utility>

namespace booklore::storage {
namespace {

using kind = statistics_error::kind;

// A writer (KOReader's insertDB, or a checkpoint) holds its lock for milliseconds; waiting a
// little longer than that is better than failing the import, waiting long would stall the
// daemon's thread.
constexpr int busy_timeout_ms = 2000;

// Column names as in koreader/koreader fc88887662c27fbef956a46d7772f2dde1658384
// plugins/statistics.koplugin/main.lua:405-416 and :464-479. A usable md5 is the book's key
// (rows of `book` sharing it are one book, the newest row's title wins); rows without one stay
// apart. Books without visits are left out.
constexpr const char* books_sql = R"sql(
SELECT CASE WHEN length(md5) = 32 AND lower(md5) NOT GLOB '*[^0-9a-f]*'
            THEN lower(md5) END AS hash,
       id, title
FROM book WHERE EXISTS (SELECT 1 FROM page_stat_data WHERE id_book = book.id)
ORDER BY hash IS NULL, hash, id
)sql";

// The UNIQUE (id_book, page, start_time) index finds one book's rows: no sort of the whole
// table, which on a large file would hold the daemon's thread for a second.
constexpr const char* visits_sql =
    "SELECT page, start_time, duration, total_pages FROM page_stat_data WHERE id_book = ?1";

std::string quoted(const std::filesystem::path& file) {
    return "\"" + file.string() + "\"";
}

}  // namespace

koreader_statistics::koreader_statistics(std::filesystem::path file, sqlite_connection conn)
    : file_(std::move(file)), conn_(std::move(conn)) {}

koreader_statistics::result<koreader_statistics> koreader_statistics::open(
    const std::filesystem::path& file) {
    std::error_code fs_error;
    auto status = std::filesystem::status(file, fs_error);
    // Checked first only for a clearer message: SQLite's own answer below stays the authority.
    if (status.type() == std::filesystem::file_type::not_found)
        return statistics_error{kind::unreadable,
                                "there is no file " + quoted(file) +
                                    "; give the path of KOReader's statistics.sqlite3"};
    if (status.type() == std::filesystem::file_type::directory)
        return statistics_error{kind::unreadable, quoted(file) +
                                                      " is a folder; give the path of KOReader's "
                                                      "statistics.sqlite3 inside it"};

    auto conn = sqlite_connection::open_read_only(file);
    if (!conn)
        return statistics_error{kind::unreadable, "cannot open " + quoted(file) + " for reading (" +
                                                      last_error_detail() +
                                                      "); check that it exists and is readable"};
    koreader_statistics reader(file, std::move(*conn));
    if (auto ec = reader.conn_.exec("PRAGMA busy_timeout = " + std::to_string(busy_timeout_ms)))
        return reader.failed(ec);
    auto visits = reader.conn_.prepare(visits_sql);
    if (!visits)
        return reader.failed(visits.error());
    reader.visits_ = std::move(*visits);
    auto books = reader.conn_.prepare(books_sql);
    if (!books)
        return reader.failed(books.error());
    for (;;) {
        auto row = books->step();
        if (!row)
            return reader.failed(row.error());
        if (!*row)
            break;
        auto hash = books->column_optional_text(0);
        if (!hash || reader.books_.empty() || reader.books_.back().md5 != hash)
            reader.books_.push_back(book_rows{hash, {}, {}});
        reader.books_.back().title = books->column_text(2);
        reader.books_.back().ids.push_back(books->column_int64(1));
    }
    return reader;
}

koreader_statistics::result<std::optional<book_history>> koreader_statistics::next_book() {
    if (next_ == books_.size())
        return std::optional<book_history>();
    const book_rows& rows = books_[next_++];
    book_history book{rows.md5, rows.title, {}};
    for (std::int64_t id : rows.ids) {
        visits_.reset();
        visits_.bind(1, id);
        for (;;) {
            auto row = visits_.step();
            if (!row)
                return failed(row.error());
            if (!*row)
                break;
            book.visits.push_back(page_visit{visits_.column_int64(0), visits_.column_int64(1),
                                             visits_.column_int64(2), visits_.column_int64(3)});
        }
    }
    std::sort(book.visits.begin(), book.visits.end(), [](const auto& a, const auto& b) {
        return std::tie(a.start_time, a.page) < std::tie(b.start_time, b.page);
    });
    return std::optional<book_history>(std::move(book));
}

statistics_error koreader_statistics::failed(const boost::system::error_code& ec) const {
    const std::string& detail = last_error_detail();
    switch (primary_code(ec)) {
        case SQLITE_NOTADB:
            return {kind::unreadable, quoted(file_) +
                                          " is not an SQLite database; give the path of KOReader's "
                                          "statistics.sqlite3"};
        case SQLITE_CORRUPT:
            return {kind::unreadable, quoted(file_) + " is damaged (" + detail +
                                          "); KOReader's statistics cannot be read from it"};
        case SQLITE_ERROR:
            // A missing table or column: some other SQLite file, or one from a KOReader
            // older than the page_stat_data schema (2020).
            return {kind::not_statistics,
                    quoted(file_) + " does not hold KOReader's reading statistics (" + detail +
                        "); give the path of KOReader's statistics.sqlite3"};
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return {kind::busy, quoted(file_) +
                                    " is locked by another program (KOReader writing its "
                                    "statistics); try again in a moment"};
        case SQLITE_READONLY:
            // A hot journal that a read-only reader may not roll back.
            return {kind::busy, quoted(file_) +
                                    " has an unfinished write that only KOReader can "
                                    "complete; open KOReader once, then try again"};
        default:
            return {kind::unreadable, "cannot read " + quoted(file_) + " (" + detail + ")"};
    }
}

}  // namespace booklore::storage
