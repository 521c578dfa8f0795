#pragma once

// KOReader's reading statistics (`statistics.sqlite3`), read without ever writing to it. The
// schema is the statistics plugin's, koreader/koreader fc88887662c27fbef956a46d7772f2dde1658384
// plugins/statistics.koplugin/main.lua: `book` at :464-479 (md5 is util.partialMD5 of the
// file, :596 and :835), `page_stat_data` at :405-416. insertDB (:945) stores one row per page
// visit: start_time in epoch seconds (os.time(), :917), duration in seconds (capped at the
// plugin's max_sec, :2613-2619), total_pages the page count of the layout the visit was read
// in. KOReader keeps the file in WAL mode where the device allows it, else TRUNCATE (:456-460).

#include "storage/sqlite.hpp"

#include <boost/system/result.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace booklore::storage {

/// One row of `page_stat_data`.
struct page_visit {
    std::int64_t page = 0;
    std::int64_t start_time = 0;   ///< epoch seconds
    std::int64_t duration = 0;     ///< seconds
    std::int64_t total_pages = 0;  ///< 0 when KOReader did not know it
};

/// A book and its visits. Rows of `book` that share an md5 (KOReader adds one when the title
/// or authors change) are one book here, because the hash is what the server knows.
struct book_history {
    /// `book.md5` lower-cased; nullopt when KOReader stored none that is 32 hex digits.
    std::optional<std::string> md5;
    /// The title of the newest `book` row with this md5.
    std::string title;
    std::vector<page_visit> visits;  ///< ordered by start_time
};

/// Why the file could not be read, with a message for the person who named it.
struct statistics_error {
    enum class kind {
        unreadable,      ///< missing, a directory, no permission, damaged, not SQLite
        not_statistics,  ///< SQLite, but without KOReader's tables
        busy,            ///< locked by a writer longer than we wait
    };
    kind what = kind::unreadable;
    std::string message;
};

/// A statistics file opened read-only, read one book at a time so that a large file never has
/// to fit in memory. Each book comes from its own short query (one snapshot per book): no lock
/// is held between two books, so KOReader can write meanwhile, also in rollback-journal mode.
class koreader_statistics {
public:
    template <typename T>
    using result = boost::system::result<T, statistics_error>;

    static result<koreader_statistics> open(const std::filesystem::path& file);

    /// The next book with its visits; nullopt after the last one.
    result<std::optional<book_history>> next_book();

private:
    /// The `book` rows that are one book here.
    struct book_rows {
        std::optional<std::string> md5;
        std::string title;
        std::vector<std::int64_t> ids;
    };

    koreader_statistics(std::filesystem::path file, sqlite_connection conn);
    statistics_error failed(const boost::system::error_code& ec) const;

    std::filesystem::path file_;
    sqlite_connection conn_;
    statement visits_;
    std::vector<book_rows> books_;  ///< as listed at open()
    std::size_t next_ = 0;
};

}  // namespace booklore::storage
