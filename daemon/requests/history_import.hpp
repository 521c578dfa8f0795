#pragma once

// Reading history (INTERFACE.md "Reading history"): KOReader's page visits made into the
// sessions the daemon queues. Plain functions without I/O; the request handler reads the file
// and asks storage which sessions overlap ones it already holds.

#include "storage/koreader_statistics.hpp"
#include "storage/records.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace booklore::syncd {

/// Visits of one book belong to one session while the next starts at most this long after the
/// previous one ended.
inline constexpr std::int64_t history_gap_seconds = 300;

/// One book's sessions, in time order, and how many of its sessions cannot be queued.
struct history_sessions {
    std::vector<storage::session_record> sessions;
    /// Shorter than min_session_seconds, or of a book without a usable md5.
    std::int64_t skipped = 0;
};

/// Groups a book's visits (ordered by start time) into sessions: duration the sum of the
/// visits, times the first start and the last end, progress page / total_pages x 100 at the
/// first and the last visit, book_hash the md5, book_type as given (statistics.sqlite3 names
/// no file: the caller knows the type from a path the reader opened, else it is EPUB). Each
/// session carries history_event_id().
/// Visits without a start time or a duration are ignored, as KOReader itself never stores
/// them (statistics.koplugin/main.lua:938 at fc88887662c27fbef956a46d7772f2dde1658384).
history_sessions sessions_from_history(const storage::book_history& book,
                                       std::int64_t min_session_seconds,
                                       const std::string& book_type = "EPUB");

/// The event_id of an imported session, from the book's md5 and the session's start (epoch
/// seconds): importing the same history twice queues each session once.
std::string history_event_id(const std::string& md5, std::int64_t start_time);

}  // namespace booklore::syncd
