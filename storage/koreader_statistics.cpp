#include "storage/koreader_statistics.hpp"

#include <sqlite3.h>

#include <system_error>
#include <utility>

namespace booklore::storage {
namespace {

using kind = statistics_error::kind;

// A writer (KOReader's insertDB, or a checkpoint) holds its lock for milliseconds; waiting a
// little longer than that is better than failing the import, waiting long would stall the
// daemon's thread.
constexpr int busy_timeout_ms = 2000;

// Visits ordered book by book, then by time. A usable md5 is the book's key (rows of `book`
// sharing it are one book); rows without one stay apart, keyed by their id. Column names as in
// koreader/koreader fc88887662c27fbef956a46d7772f2dde1658384
// plugins/statistics.koplugin/main.lua:405-416 and :464-479.
constexpr const char* visits_sql = R"sql(
SELECT CASE WHEN length(b.md5) = 32 AND lower(b.md5) NOT GLOB '*[^0-9a-f]*'
            THEN lower(b.md5) END AS hash,
       b.id, b.title, p.page, p.start_time, p.duration, p.total_pages
FROM page_stat_data AS p JOIN book AS b ON b.id = p.id_book
ORDER BY hash IS NULL, hash, CASE WHEN hash IS NULL THEN b.id END, p.start_time, p.page
)sql";

enum col { col_hash, col_book_id, col_title, col_page, col_start, col_duration, col_total };

std::string quoted(const std::filesystem::path& file) {
    return "\"" + file.string() + "\"";
}

}  // namespace

koreader_statistics::koreader_statistics(std::filesystem::path file, sqlite_connection conn,
                                         statement rows)
    : file_(std::move(file)), conn_(std::move(conn)), rows_(std::move(rows)) {}

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
    koreader_statistics reader(file, std::move(*conn), statement());
    if (auto ec = reader.conn_.exec("PRAGMA busy_timeout = " + std::to_string(busy_timeout_ms)))
        return reader.failed(ec);
    auto rows = reader.conn_.prepare(visits_sql);
    if (!rows)
        return reader.failed(rows.error());
    reader.rows_ = std::move(*rows);
    auto first = reader.rows_.step();
    if (!first)
        return reader.failed(first.error());
    reader.has_row_ = *first;
    reader.done_ = !*first;
    return reader;
}

koreader_statistics::result<std::optional<book_history>> koreader_statistics::next_book() {
    if (done_ || !has_row_)
        return std::optional<book_history>();
    book_history book;
    book.md5 = rows_.column_optional_text(col_hash);
    std::int64_t first_id = rows_.column_int64(col_book_id);
    std::int64_t title_id = first_id;
    book.title = rows_.column_text(col_title);
    for (;;) {
        book.visits.push_back(
            page_visit{rows_.column_int64(col_page), rows_.column_int64(col_start),
                       rows_.column_int64(col_duration), rows_.column_int64(col_total)});
        auto more = rows_.step();
        if (!more)
            return failed(more.error());
        if (!*more) {
            done_ = true;
            break;
        }
        auto hash = rows_.column_optional_text(col_hash);
        std::int64_t id = rows_.column_int64(col_book_id);
        if (hash != book.md5 || (!hash && id != first_id))
            break;  // this row starts the next book
        if (id > title_id) {
            title_id = id;
            book.title = rows_.column_text(col_title);
        }
    }
    has_row_ = !done_;
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
