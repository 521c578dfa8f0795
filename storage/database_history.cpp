// What the reading-history import asks of the queue: whether a session is already held, and
// where the reader keeps a book.

#include "storage/database.hpp"

#include "storage/rows.hpp"

#include <algorithm>
#include <map>
#include <utility>

namespace booklore::storage {

namespace {

/// A stored session's span. Stored times are all YYYY-MM-DDTHH:MM:SSZ, so comparing the text
/// compares the times.
using span_text = std::pair<std::string, std::string>;

/// Sessions of one book, sorted by start, with the latest end up to each one: "does any of
/// them overlap [start, end]" is then one binary search.
class book_spans {
public:
    explicit book_spans(std::vector<span_text> spans) : spans_(std::move(spans)) {
        std::sort(spans_.begin(), spans_.end());
        latest_end_.reserve(spans_.size());
        for (const auto& [start, end] : spans_)
            latest_end_.push_back(latest_end_.empty() ? end : std::max(latest_end_.back(), end));
    }

    /// Both ends count: a session that ends in the second another starts is the same reading.
    bool overlaps(const std::string& start, const std::string& end) const {
        auto after =
            std::upper_bound(spans_.begin(), spans_.end(), end,
                             [](const std::string& t, const span_text& s) { return t < s.first; });
        auto n = static_cast<std::size_t>(after - spans_.begin());
        return n > 0 && latest_end_[n - 1] >= start;
    }

private:
    std::vector<span_text> spans_;
    std::vector<std::string> latest_end_;
};

}  // namespace

result<std::optional<std::string>> database::file_path_for_hash(const std::string& book_hash) {
    return guarded("file_path_for_hash",
                   [&](sqlite_connection& c) -> result<std::optional<std::string>> {
                       auto s = c.prepare(
                           "SELECT file_path FROM book_cache WHERE book_hash = ?1 "
                           "ORDER BY updated_at DESC LIMIT 1");
                       if (!s)
                           return s.error();
                       s->bind(1, book_hash);
                       auto row = s->step();
                       if (!row)
                           return row.error();
                       return *row ? s->column_optional_text(0) : std::nullopt;
                   });
}

result<std::vector<bool>> database::overlaps_held(std::span<const session_record> sessions) {
    return guarded("overlaps_held", [&](sqlite_connection& c) -> result<std::vector<bool>> {
        std::vector<bool> out(sessions.size(), false);
        if (sessions.empty())
            return out;
        std::map<std::string_view, std::vector<std::size_t>> by_book;
        for (std::size_t i = 0; i < sessions.size(); ++i)
            by_book[sessions[i].book_hash].push_back(i);
        // One read of each book's sessions serves all its ranges: historical_sessions has no
        // index on the hash, so a query per range would scan it once per range.
        auto s = c.prepare(
            "SELECT start_time, end_time FROM pending_sessions WHERE book_hash = ?1 "
            "UNION ALL SELECT start_time, end_time FROM historical_sessions WHERE book_hash = ?1");
        if (!s)
            return s.error();
        for (const auto& [hash, indexes] : by_book) {
            s->reset();
            s->bind(1, hash);
            auto held = rows::collect<span_text>(*s, [](const statement& row) {
                return span_text{row.column_text(0), row.column_text(1)};
            });
            if (!held)
                return held.error();
            book_spans spans(std::move(*held));
            for (std::size_t i : indexes)
                out[i] = spans.overlaps(sessions[i].start_time, sessions[i].end_time);
        }
        return out;
    });
}

}  // namespace booklore::storage
