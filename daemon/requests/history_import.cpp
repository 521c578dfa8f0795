#include "daemon/requests/history_import.hpp"

#include "config/utc_time.hpp"

#include <algorithm>
#include <optional>

namespace booklore::syncd {
namespace {

/// Where a visit stands in the book, in percent; unknown when KOReader had no page count
/// (rows migrated from its oldest schema carry total_pages 0). A page past the count, seen
/// after a layout change, counts as the end.
std::optional<double> progress_at(const storage::page_visit& v) {
    if (v.total_pages <= 0)
        return std::nullopt;
    double percent = static_cast<double>(v.page) * 100.0 / static_cast<double>(v.total_pages);
    return std::clamp(percent, 0.0, 100.0);
}

/// A session being built from consecutive visits.
struct run {
    const storage::page_visit* first = nullptr;
    const storage::page_visit* last = nullptr;
    std::int64_t end = 0;  ///< the latest end of its visits
    std::int64_t duration = 0;
};

storage::session_record to_session(const storage::book_history& book, const run& r,
                                   const std::string& book_type) {
    storage::session_record s;
    s.event_id = history_event_id(*book.md5, r.first->start_time);
    s.book_hash = *book.md5;
    if (!book.title.empty())
        s.book_title = book.title;
    s.book_type = book_type;
    s.start_time = format_iso_utc(r.first->start_time);
    s.end_time = format_iso_utc(r.end);
    // Visits that overlap (two devices' statistics merged) cannot add up to more than the
    // span they cover, which is the bound a live session_end has too.
    s.duration_seconds = std::min(r.duration, r.end - r.first->start_time);
    s.start_progress = progress_at(*r.first);
    s.end_progress = progress_at(*r.last);
    s.start_location = std::to_string(r.first->page);
    s.end_location = std::to_string(r.last->page);
    return s;
}

}  // namespace

history_sessions sessions_from_history(const storage::book_history& book,
                                       std::int64_t min_session_seconds,
                                       const std::string& book_type) {
    history_sessions out;
    std::optional<run> current;
    auto close = [&] {
        if (!current)
            return;
        if (!book.md5 || current->duration < min_session_seconds)
            ++out.skipped;
        else
            out.sessions.push_back(to_session(book, *current, book_type));
        current.reset();
    };
    for (const auto& v : book.visits) {
        if (v.start_time <= 0 || v.duration <= 0 || v.start_time > max_epoch_seconds - v.duration)
            continue;
        if (current && v.start_time - current->end > history_gap_seconds)
            close();
        if (!current)
            current = run{&v, &v, v.start_time, 0};
        current->last = &v;
        current->end = std::max(current->end, v.start_time + v.duration);
        current->duration += v.duration;
    }
    close();
    return out;
}

std::string history_event_id(const std::string& md5, std::int64_t start_time) {
    return "history:" + md5 + ":" + std::to_string(start_time);
}

}  // namespace booklore::syncd
