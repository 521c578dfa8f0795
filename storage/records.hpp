#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace booklore::storage {

/// A validated reading session as it is queued (INTERFACE.md `pending_sessions`).
struct session_record {
    std::optional<std::string> event_id;
    std::optional<std::int64_t> book_id;
    std::string book_hash;  ///< 32 lowercase hex characters
    std::optional<std::string> file_path;
    std::optional<std::string> book_title;
    std::string book_type;   ///< upper case, e.g. "EPUB"
    std::string start_time;  ///< YYYY-MM-DDTHH:MM:SSZ
    std::string end_time;    ///< YYYY-MM-DDTHH:MM:SSZ
    std::int64_t duration_seconds = 0;
    std::optional<double> start_progress;
    std::optional<double> end_progress;
    std::optional<std::string> start_location;
    std::optional<std::string> end_location;
    std::optional<std::string> isbn;  ///< 13 digits
};

/// A book deleted on the device, waiting to be reported to the server.
struct deletion_record {
    std::optional<std::string> event_id;
    std::string file_path;
    std::optional<std::string> book_hash;
    std::optional<std::int64_t> book_id;
};

/// A file the reader opened: remembered in `book_cache` so its id can be resolved later.
struct book_sighting {
    std::string file_path;
    std::string book_hash;
    std::optional<std::int64_t> book_id;
    std::optional<std::string> title;
    std::optional<std::string> isbn;  ///< 13 digits
};

/// Bookkeeping every queued row carries.
struct queue_state {
    std::int64_t id = 0;
    std::int64_t retry_count = 0;
    std::optional<std::string> last_error;
    std::string created_at;
};

struct pending_session : session_record, queue_state {
    /// Idempotency key of the batch this row was put in, fixed until the batch is uploaded.
    std::optional<std::string> batch_key;
    /// Set (epoch seconds of its request) when a request carrying it may have been stored
    /// without an answer (see database::set_in_doubt).
    std::optional<std::int64_t> in_doubt_since;
};

struct pending_deletion : deletion_record, queue_state {};

/// The answer to an enqueue: the row's id, and whether the event_id had been seen before.
struct enqueue_result {
    std::int64_t queue_id = 0;
    bool duplicate = false;
};

/// Row counts for `status`.
struct queue_counts {
    std::int64_t pending_sessions = 0;
    std::int64_t pending_deletions = 0;
    std::int64_t unresolved_sessions = 0;  ///< pending sessions with book_id NULL
    std::int64_t historical_sessions = 0;
};

}  // namespace booklore::storage
